package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// proxyBench holds one run's settings and the children it started.
type proxyBench struct {
	wrk      wrkOpts
	warmup   time.Duration
	backend  string
	outDir   string
	ficusBin string
	baseline string
	ficusEnv []string
	profile  string
	tmp      string
	self     string
	stdout   io.Writer
	children []*child
	adminURL string
	// shadowBefore is the shadow route's figures after the warm-up of
	// the ficus-shadow-on row, so the table shows the timed run's share.
	shadowBefore shadowStats
	// shadowPace is the share of the ficus-shadow-off row's req/s both
	// shadow rows are then also measured at (0: not paced); pacedRate is
	// that rate once known.
	shadowPace, pacedRate float64
	// skipped says which reference rows did not run ("haproxy not installed").
	skipped []string
}

// row is one line of the result table.
type row struct {
	Name   string    `json:"name"`
	What   string    `json:"what"`
	Result wrkResult `json:"result"`
	// CPUus is the proxy's CPU time (user+system, with its child
	// processes) per request during the timed run, in µs; 0 for "direct".
	CPUus    float64 `json:"cpu_us_per_req"`
	RPSRatio float64 `json:"rps_vs_nginx"`
	P99Ratio float64 `json:"p99_vs_nginx"`
	// The same against the other reference proxies; absent when that
	// reference did not run.
	RPSvsHAProxy float64 `json:"rps_vs_haproxy,omitempty"`
	P99vsHAProxy float64 `json:"p99_vs_haproxy,omitempty"`
	RPSvsCaddy   float64 `json:"rps_vs_caddy,omitempty"`
	P99vsCaddy   float64 `json:"p99_vs_caddy,omitempty"`
	Note         string  `json:"note,omitempty"`
	// Shadow is GET /api/shadow/{route} after the run, minus the warm-up
	// (ficus-shadow-on only).
	Shadow *shadowStats `json:"shadow,omitempty"`
	// Record is the recorder's counters after the run (ficus-record-on).
	Record map[string]float64 `json:"record,omitempty"`
	// Paced is a second measurement at a fixed offered rate (shadow rows).
	Paced *pacedResult `json:"paced,omitempty"`
}

const benchPath = "/api/orders/42?view=full"

func proxyBenchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	b := &proxyBench{stdout: stdout}
	fs.DurationVar(&b.wrk.duration, "d", 10*time.Second, "wrk duration per measurement")
	fs.DurationVar(&b.warmup, "warmup", 2*time.Second, "wrk warm-up before each measurement")
	fs.IntVar(&b.wrk.conns, "c", 64, "wrk connections")
	fs.IntVar(&b.wrk.threads, "t", 2, "wrk threads")
	fs.StringVar(&b.backend, "backend", "nginx", "backend: nginx (static 1 KiB JSON from memory) or go (net/http child)")
	fs.StringVar(&b.outDir, "out", "bench-results", "directory for the JSON results (and profiles)")
	fs.StringVar(&b.ficusBin, "ficus", "", "ficus binary [go build ./cmd/ficus into a temp dir]")
	env := fs.String("ficus-env", "", "extra environment for ficus, comma-separated (e.g. GOGC=200)")
	fs.StringVar(&b.profile, "profile", "", "profile this ficus row (ficus-1, ficus-20, ficus-shadow-off, ficus-shadow-on): CPU + allocs into -out; its figures are then not comparable")
	fs.StringVar(&b.baseline, "baseline", "", "another ficus binary (e.g. an older commit) measured as rows base-1 and base-20 in the same run")
	fs.Float64Var(&b.shadowPace, "shadow-pace", 0.5, "also measure the shadow rows at this share of ficus-shadow-off's req/s, for latency at equal load (0: off)")
	only := fs.String("only", "", "comma-separated rows to run [all]: direct,nginx,haproxy,caddy,refproxy,ficus-1,ficus-20,ficus-shadow-off,ficus-shadow-on,ficus-record-on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *env != "" {
		b.ficusEnv = strings.Split(*env, ",")
	}
	if b.backend != "nginx" && b.backend != "go" {
		return fmt.Errorf("-backend must be nginx or go, got %q", b.backend)
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found (run deploy/install-deps.sh bench as root, or apt-get install wrk)")
	}
	var err error
	if b.self, err = os.Executable(); err != nil {
		return fmt.Errorf("own executable: %w", err)
	}
	if b.tmp, err = os.MkdirTemp("", "ficusbench-"); err != nil {
		return err
	}
	_ = os.Chmod(b.tmp, 0o755)
	defer os.RemoveAll(b.tmp)
	defer b.stopAll()
	return b.run(ctx, *only)
}

func (b *proxyBench) stopAll() {
	for i := len(b.children) - 1; i >= 0; i-- {
		b.children[i].stop()
	}
	b.children = nil
}

// stopFrom stops the children started since there were n.
func (b *proxyBench) stopFrom(n int) {
	for _, c := range b.children[n:] {
		c.stop()
	}
	b.children = b.children[:n]
}

func (b *proxyBench) start(c *child, err error) (*child, error) {
	if err == nil {
		b.children = append(b.children, c)
	}
	return c, err
}

func (b *proxyBench) run(ctx context.Context, only string) error {
	want := func(name string) bool {
		return only == "" || strings.HasPrefix(name, "base-") || strings.Contains(","+only+",", ","+name+",")
	}
	if b.ficusBin == "" && (want("ficus-1") || want("ficus-20") || want(shadowOff) || want(shadowOn) || want(recordOn)) {
		b.ficusBin = filepath.Join(b.tmp, "ficus")
		fmt.Fprintln(b.stdout, "building ficus …")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.ficusBin, "./cmd/ficus")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/ficus: %w", err)
		}
	}
	script, err := writeWrkScript(b.tmp, benchPath, 1000)
	if err != nil {
		return err
	}
	b.wrk.script = script
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	legacy, newSide := "http://"+addr(ports[0]), "http://"+addr(ports[1])
	if err := b.startBackend(ctx, ports); err != nil {
		return err
	}
	fmt.Fprintf(b.stdout, "machine: %d CPUs, %s; wrk -t%d -c%d -d%s (warm-up %s); backend: %s, 1 KiB JSON\n",
		runtime.NumCPU(), runtime.Version(), b.wrk.threads, b.wrk.conns, b.wrk.duration, b.warmup, b.backend)

	type rowSpec struct {
		name, what string
		start      func(ctx context.Context) (string, error)
	}
	specs := []rowSpec{
		{"direct", "wrk → backend", func(context.Context) (string, error) { return legacy, nil }},
		{"nginx", "nginx proxy_pass, upstream keepalive 64", func(ctx context.Context) (string, error) { return b.startNginxProxy(ctx, addr(ports[0])) }},
		{"haproxy", "HAProxy http mode, http-reuse always, no log", func(ctx context.Context) (string, error) { return b.startHAProxy(ctx, addr(ports[0])) }},
		{"caddy", "Caddy reverse_proxy, upstream keep-alive 64, no log", func(ctx context.Context) (string, error) { return b.startCaddy(ctx, addr(ports[0])) }},
		{"refproxy", "httputil.ReverseProxy, tuned transport, buffer pool", func(ctx context.Context) (string, error) { return b.startRefProxy(ctx, legacy) }},
		{"ficus-1", "ficus, 1 route, weight 0", func(ctx context.Context) (string, error) {
			return b.startFicus(ctx, b.ficusBin, "ficus-1", legacy, newSide, 1, "")
		}},
		{"ficus-20", "ficus, 20 routes, 50 % sticky (cookie) split", func(ctx context.Context) (string, error) {
			return b.startFicus(ctx, b.ficusBin, "ficus-20", legacy, newSide, 20, "")
		}},
		// Back to back, so the on/off ratios compare like with like.
		{shadowOff, "ficus, 1 route, weight 0, shadow disabled", func(ctx context.Context) (string, error) {
			return b.startFicus(ctx, b.ficusBin, shadowOff, legacy, newSide, 1, "")
		}},
		{shadowOn, "ficus, same route, shadow to identical 2nd backend", func(ctx context.Context) (string, error) {
			return b.startFicus(ctx, b.ficusBin, shadowOn, legacy, newSide, 1, shadowKeys)
		}},
		{recordOn, "ficus, same route, every exchange recorded to FICUS_TRAFFIC", func(ctx context.Context) (string, error) {
			return b.startFicus(ctx, b.ficusBin, recordOn, legacy, newSide, 1, recordKeys)
		}},
	}
	if b.baseline != "" {
		specs = append(specs,
			rowSpec{"base-1", "-baseline binary, 1 route, weight 0", func(ctx context.Context) (string, error) {
				return b.startFicus(ctx, b.baseline, "base-1", legacy, newSide, 1, "")
			}},
			rowSpec{"base-20", "-baseline binary, 20 routes, 50 % sticky split", func(ctx context.Context) (string, error) {
				return b.startFicus(ctx, b.baseline, "base-20", legacy, newSide, 20, "")
			}})
	}
	var rows []row
	for _, s := range specs {
		if !want(s.name) {
			continue
		}
		n := len(b.children)
		base, err := s.start(ctx)
		if errors.Is(err, errNotInstalled) {
			fmt.Fprintf(b.stdout, "  %-16s skipped: %v (deploy/install-deps.sh bench installs it)\n", s.name, err)
			b.skipped = append(b.skipped, err.Error())
			b.stopFrom(n)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		r := row{Name: s.name, What: s.what}
		r.Result, r.CPUus, r.Note, err = b.measure(ctx, s.name, base, b.children[n:])
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if strings.HasSuffix(s.name, "-20") {
			r.Note = strings.TrimSpace(r.Note + " " + b.splitNote(ctx))
		}
		if s.name == recordOn {
			r.Record = b.recordStats(ctx)
		}
		if s.name == shadowOn {
			st, err := b.shadowAfter(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			r.Shadow = &st
		}
		fmt.Fprintf(b.stdout, "  %-16s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  %5.1f µs CPU/req %s\n",
			r.Name, r.Result.ReqPerSec, r.Result.P50ms, r.Result.P99ms, r.CPUus, r.Note)
		if err := b.paced(ctx, &r, base); err != nil {
			return fmt.Errorf("%s paced: %w", s.name, err)
		}
		rows = append(rows, r)
		// Stop this row's proxy so it does not compete with the next row.
		b.stopFrom(n)
	}
	ratios(rows)
	printTable(b.stdout, rows, b.skipped)
	return b.writeJSON(rows)
}

// measure warms up, then runs the timed wrk, optionally profiling ficus.
func (b *proxyBench) measure(ctx context.Context, name, base string, procs []*child) (wrkResult, float64, string, error) {
	url := base + benchPath
	warm := b.wrk
	warm.duration = b.warmup
	if b.warmup > 0 {
		if _, err := runWrk(ctx, warm, url); err != nil {
			return wrkResult{}, 0, "", fmt.Errorf("warm-up: %w", err)
		}
	}
	if name == shadowOn {
		if err := b.shadowWarm(ctx); err != nil {
			return wrkResult{}, 0, "", err
		}
	}
	var note string
	profDone := make(chan error, 1)
	if b.profile == name {
		note = "(profiled)"
		go func() { profDone <- b.takeProfiles(ctx, name) }()
	} else {
		profDone <- nil
	}
	cpu := startCPU(procs)
	r, err := runWrk(ctx, b.wrk, url)
	cpuUs := cpu.perRequest(r.Requests)
	if perr := <-profDone; perr != nil && err == nil {
		err = perr
	}
	if err == nil && (r.Non2xx > 0 || r.SocketErrors > 0) {
		note += fmt.Sprintf(" [%d non-2xx, %d socket errors]", r.Non2xx, r.SocketErrors)
	}
	return r, cpuUs, note, err
}

func (b *proxyBench) startBackend(ctx context.Context, ports []int) error {
	var c *child
	var err error
	if b.backend == "nginx" {
		c, err = b.start(startNginx("backend nginx", filepath.Join(b.tmp, "nginx-backend"), nginxBackendConf(filepath.Join(b.tmp, "nginx-backend"), ports)))
	} else {
		c, err = b.start(startChild("go backend", filepath.Join(b.tmp, "backend.log"), nil, b.self, "backend",
			"-listen", addr(ports[0])+","+addr(ports[1])))
	}
	if err != nil {
		return err
	}
	for _, p := range ports {
		if err := waitHTTP(ctx, c, "http://"+addr(p)+"/"); err != nil {
			return err
		}
	}
	return nil
}

func (b *proxyBench) startNginxProxy(ctx context.Context, upstream string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(b.tmp, "nginx-proxy")
	c, err := b.start(startNginx("nginx proxy", dir, nginxProxyConf(dir, port, upstream)))
	if err != nil {
		return "", err
	}
	base := "http://" + addr(port)
	return base, waitHTTP(ctx, c, base+"/")
}

func (b *proxyBench) startRefProxy(ctx context.Context, target string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	c, err := b.start(startChild("refproxy", filepath.Join(b.tmp, "refproxy.log"), nil, b.self, "refproxy",
		"-listen", addr(port), "-target", target))
	if err != nil {
		return "", err
	}
	base := "http://" + addr(port)
	return base, waitHTTP(ctx, c, base+"/")
}

func (b *proxyBench) writeJSON(rows []row) error {
	if err := os.MkdirAll(b.outDir, 0o755); err != nil {
		return fmt.Errorf("results dir: %w", err)
	}
	doc := map[string]any{
		"time":      time.Now().UTC().Format(time.RFC3339),
		"cpus":      runtime.NumCPU(),
		"go":        runtime.Version(),
		"wrk":       fmt.Sprintf("-t%d -c%d -d%s --latency (warm-up %s)", b.wrk.threads, b.wrk.conns, b.wrk.duration, b.warmup),
		"backend":   b.backend,
		"path":      benchPath,
		"ficus_env": b.ficusEnv,
		"baseline":  b.baseline,
		"rows":      rows,
		"skipped":   append([]string{}, b.skipped...),
		"goals_note": "ficus-1 >= 0.5 x nginx req/s; ficus p99 <= 2 x nginx p99; ficus-20 >= 0.9 x ficus-1 req/s; " +
			"ficus-shadow-on >= 0.6 x ficus-shadow-off req/s, p99 <= 1.1 x ficus-shadow-off p99",
	}
	buf, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(b.outDir, "proxy-"+time.Now().Format("20060102-150405")+".json")
	if err := os.WriteFile(path, append(buf, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	fmt.Fprintf(b.stdout, "results: %s\n", path)
	return nil
}

// refProxies are the reference proxies every row is compared with, in the
// order of the table's ratio columns; short names the p99 column.
var refProxies = []struct{ name, short string }{{"nginx", "ng"}, {"haproxy", "hap"}, {"caddy", "cad"}}

// vs returns the row's req/s and p99 ratio fields against reference ref.
func (r *row) vs(ref string) (rps, p99 *float64) {
	switch ref {
	case "nginx":
		return &r.RPSRatio, &r.P99Ratio
	case "haproxy":
		return &r.RPSvsHAProxy, &r.P99vsHAProxy
	case "caddy":
		return &r.RPSvsCaddy, &r.P99vsCaddy
	}
	panic("ficusbench: unknown reference proxy " + ref)
}

func findRow(rows []row, name string) *row {
	for i := range rows {
		if rows[i].Name == name {
			return &rows[i]
		}
	}
	return nil
}

// ratios fills each reference proxy's ratios when that reference ran.
func ratios(rows []row) {
	for _, rp := range refProxies {
		ref := findRow(rows, rp.name)
		if ref == nil || ref.Result.ReqPerSec == 0 || ref.Result.P99ms == 0 {
			continue
		}
		for i := range rows {
			rps, p99 := rows[i].vs(rp.name)
			*rps = rows[i].Result.ReqPerSec / ref.Result.ReqPerSec
			*p99 = rows[i].Result.P99ms / ref.Result.P99ms
		}
	}
}

// printTable prints the rows with their ratios to each reference proxy
// ("–" where that reference did not run), ficus-1 against each reference on
// one line, and the skipped rows.
func printTable(w io.Writer, rows []row, skipped []string) {
	ran := map[string]bool{}
	for _, r := range rows {
		ran[r.Name] = true
	}
	ratio := func(v float64, ref string) string {
		if !ran[ref] {
			return "–"
		}
		return fmt.Sprintf("%.2f", v)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| %-16s | %-51s | %8s | %8s | %8s |", "row", "what", "req/s", "p50 ms", "p99 ms")
	rule := "|" + strings.Repeat("-", 18) + "|" + strings.Repeat("-", 53) + strings.Repeat("|"+strings.Repeat("-", 10), 3+2*len(refProxies))
	for _, rp := range refProxies {
		fmt.Fprintf(w, " %8s | %8s |", "÷"+rp.name, "p99÷"+rp.short)
	}
	fmt.Fprintf(w, " %10s |\n%s|%s|\n", "CPU µs/req", rule, strings.Repeat("-", 12))
	for i := range rows {
		r := &rows[i]
		fmt.Fprintf(w, "| %-16s | %-51s | %8.0f | %8.2f | %8.2f |", r.Name, r.What, r.Result.ReqPerSec, r.Result.P50ms, r.Result.P99ms)
		for _, rp := range refProxies {
			rps, p99 := r.vs(rp.name)
			fmt.Fprintf(w, " %8s | %8s |", ratio(*rps, rp.name), ratio(*p99, rp.name))
		}
		fmt.Fprintf(w, " %10.1f |\n", r.CPUus)
	}
	f1 := findRow(rows, "ficus-1")
	if f1 != nil {
		var vs []string
		for _, rp := range refProxies {
			if ran[rp.name] {
				rps, p99 := f1.vs(rp.name)
				vs = append(vs, fmt.Sprintf("vs %s: req/s %.2f, p99 %.2f", rp.name, *rps, *p99))
			}
		}
		if len(vs) > 0 {
			fmt.Fprintf(w, "\nficus-1 %s\n", strings.Join(vs, "; "))
		}
	}
	for _, r := range rows {
		if r.Name == "ficus-20" && f1 != nil && f1.Result.ReqPerSec > 0 {
			fmt.Fprintf(w, "\nficus-20 ÷ ficus-1 req/s: %.2f  %s\n", r.Result.ReqPerSec/f1.Result.ReqPerSec, r.Note)
		}
	}
	for _, s := range skipped {
		fmt.Fprintf(w, "skipped: %s (deploy/install-deps.sh bench installs it)\n", s)
	}
	printShadow(w, rows)
	printRecord(w, rows)
}
