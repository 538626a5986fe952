package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/traffic/recording"
)

const replayConfig = `
nats: {embedded: {listen: %q, store_dir: %q}}
admin: {listen: %q}
proxy:
  listen: %q
  legacy: %q
  routes:
    - name: items
      match: {path_prefix: /items}
      new: http://127.0.0.1:9
      record: {enabled: true, sample: 1.0, methods: [GET], max_age: 1h, max_bytes: 64MiB, max_per_second: 0}
`

// itemsBackend answers GET /items/{n} with the item, a random id and a
// timestamp (noise), only to the bearer token want; plant, if set, changes
// some answers: items 0 and 1 of each hundred get another price, item 2
// loses its name (3 %).
func itemsBackend(t *testing.T, want string, plant bool) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+want {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/items/"))
		v := map[string]any{"id": rand.Uint64(), "ts": time.Now().UnixNano(), "item": n, "name": fmt.Sprint("item-", n), "price": 10 * n}
		switch {
		case plant && n%100 < 2:
			v["price"] = 10*n + 1
		case plant && n%100 == 2:
			delete(v, "name")
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestRecordReplay records the 2,000 GETs of a route through the
// real binary (every one: max_per_second 0) from a noisy legacy, secrets in the Authorization header and in a query
// parameter, and replays them with the real binary: (e) not one secret
// byte is on FICUS_TRAFFIC; (a) against an equal service, noise learnt
// from a second legacy, every answer matches and the exit code is 0, the
// staging token coming from --header and the environment only; (b) against
// a service with 3 % planted differences exactly those two signatures come
// out, exit code 1, in the JUnit file too; (f) the export, replayed from
// the file with the ficus process gone, gives the same report.
func TestRecordReplay(t *testing.T) {
	t.Parallel()
	const n = 2000
	legacy := itemsBackend(t, "s3cret-prod-token", false)
	natsAddr, adminAddr, proxyAddr, storeDir := freeAddr(t), freeAddr(t), freeAddr(t), t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(replayConfig, natsAddr, storeDir, adminAddr, proxyAddr, legacy))
	logs := &testenv.LogBuffer{}
	proc := startFicus(t, buildFicus(t), logs, "run", "-c", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs:\n%s", tail(logs.String(), 8000))
		}
	})
	waitAdminReady(t, adminAddr, "", proc.exited)
	for i := range n {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/items/%d?api_token=s3cret-q-%d&v=2", proxyAddr, i, i), nil)
		req.Header.Set("Authorization", "Bearer s3cret-prod-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET through the proxy: %s", resp.Status)
		}
	}

	// (e) The raw messages of the stream hold no secret.
	nc, err := nats.Connect(natsURLOf(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var raw [][]byte
	for deadline := time.Now().Add(15 * time.Second); len(raw) < n && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		raw = nil
		cons, err := js.OrderedConsumer(ctx, recording.StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{recording.Subject("items")}})
		if err != nil {
			continue
		}
		for {
			msg, err := cons.Next(jetstream.FetchMaxWait(300 * time.Millisecond))
			if err != nil {
				break
			}
			raw = append(raw, msg.Data())
		}
	}
	if len(raw) != n {
		t.Fatalf("%d exchanges on %s, want %d", len(raw), recording.StreamName, n)
	}
	for _, b := range raw {
		if bytes.Contains(b, []byte("3cret")) {
			t.Fatalf("a secret is in a recorded exchange:\n%s", b)
		}
	}

	legacy2 := itemsBackend(t, "staging-token", false)
	env := []string{"STAGING_TOKEN=staging-token"}
	replay := func(args ...string) (int, string) {
		t.Helper()
		all := append([]string{"replay", "-c", cfg, "--route", "items", "--header", "Authorization: Bearer ${STAGING_TOKEN}",
			"--noise-from", legacy2}, args...)
		return runFicusEnv(ctx, t, env, all...)
	}

	// (a) An equal service: everything matches once the noise is known.
	if code, out := replay("--to", itemsBackend(t, "staging-token", false)); code != 0 || !strings.Contains(out, fmt.Sprint(n, " matched")) {
		t.Fatalf("equal service: exit %d:\n%s", code, out)
	}

	// (b) 3 % planted: exactly those signatures, exit 1, JUnit listing them.
	planted := itemsBackend(t, "staging-token", true)
	junit := filepath.Join(t.TempDir(), "replay.xml")
	code, out := replay("--to", planted, "--format", "json", "--junit", junit)
	fromStream := summaryOf(t, out)
	if code != 1 || fromStream.Mismatched != 3*n/100 || !slices.Equal(fromStream.Signatures, []string{"$.price", "$.name"}) {
		t.Fatalf("planted: exit %d, summary %+v; want 1, %d mismatched in $.price and $.name:\n%s", code, fromStream, 3*n/100, out)
	}
	xml, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`name="signature $.price"`, `name="signature $.name"`, `failures="3"`, fmt.Sprintf("%d requests differ", 2*n/100)} {
		if !bytes.Contains(xml, []byte(want)) {
			t.Errorf("JUnit file lacks %s:\n%s", want, xml)
		}
	}

	// The dashboard's recordings panel: the route's exchanges and this last replay.
	var figs []struct {
		Route      string `json:"route"`
		Count      int    `json:"count"`
		LastReplay *struct {
			Passed     bool `json:"passed"`
			Mismatched int  `json:"mismatched"`
		} `json:"last_replay"`
	}
	if err := adminAPI(adminAddr, "").Get(ctx, "/api/recordings", &figs); err != nil {
		t.Fatal(err)
	}
	if len(figs) != 1 || figs[0].Count != n || figs[0].LastReplay == nil || figs[0].LastReplay.Passed || figs[0].LastReplay.Mismatched != 3*n/100 {
		t.Errorf("GET /api/recordings: %+v", figs)
	}

	// (f) Export, stop ficus (and its NATS), replay the file: the same report.
	var export, stderr bytes.Buffer
	if code := runFicus(ctx, t, &export, &stderr, "replay", "export", "-c", cfg, "--route", "items"); code != 0 ||
		strings.Count(export.String(), "\n") != n {
		t.Fatalf("export: exit %d, %d lines: %s", code, strings.Count(export.String(), "\n"), stderr.String())
	}
	file := filepath.Join(t.TempDir(), "items.jsonl")
	if err := os.WriteFile(file, export.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	proc.kill()
	code, out = replay("--to", planted, "--format", "json", "--from", file)
	fromFile := summaryOf(t, out)
	if code != 1 || fromFile.Mismatched != fromStream.Mismatched || !slices.Equal(fromFile.Signatures, fromStream.Signatures) {
		t.Errorf("from the file: exit %d, %+v; from the stream %+v", code, fromFile, fromStream)
	}
}

type replaySummary struct {
	Replayed, Matched, Mismatched int
	Signatures                    []string
}

func summaryOf(t *testing.T, out string) replaySummary {
	t.Helper()
	var doc struct {
		Summary replaySummary `json:"summary"`
	}
	start := strings.Index(out, "{")
	if start < 0 {
		t.Fatalf("replay output holds no JSON document:\n%s", out)
	}
	if err := json.Unmarshal([]byte(out[start:]), &doc); err != nil {
		t.Fatalf("replay output is no JSON document (%v):\n%s", err, out)
	}
	return doc.Summary
}

// runFicusEnv is runFicus with variables added to the environment, its
// stdout and stderr returned together.
func runFicusEnv(ctx context.Context, t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, buildFicus(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok && ee.Exited() {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatalf("ficus %s: %v", strings.Join(args, " "), err)
	}
	return 0, out.String()
}
