package deploy_test

import (
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/ficus-migrate/ficus/internal/config"
)

// composeVar is compose's interpolation syntax: $$, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, $VAR.
var composeVar = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolate does what docker compose does to every string of the file
// before using it, with env as the shell environment.
func interpolate(v any, env map[string]string) any {
	switch x := v.(type) {
	case string:
		return composeVar.ReplaceAllStringFunc(x, func(m string) string {
			if m == "$$" {
				return "$"
			}
			g := composeVar.FindStringSubmatch(m)
			name, op, arg := g[1], g[2], g[3]
			if name == "" {
				name = g[4]
			}
			val, set := env[name]
			switch op {
			case ":-":
				if val == "" {
					return arg
				}
			case "-":
				if !set {
					return arg
				}
			}
			return val
		})
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = interpolate(e, env)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = interpolate(e, env)
		}
		return out
	}
	return v
}

// composeService is one service of a compose file, normalised.
type composeService struct {
	name    string
	m       map[string]any
	image   string            // base name of the image
	command []string          // as written (list or space-separated string)
	env     map[string]string // environment
	binds   map[string]string // container path -> host path (relative to the compose file)
	volumes map[string]string // container path -> named volume
	ports   []composePort
}

type composePort struct {
	hostIP    string
	published string
	target    int
}

func parseService(name string, m map[string]any) composeService {
	s := composeService{name: name, m: m, image: imageName(str(m["image"])), env: map[string]string{},
		binds: map[string]string{}, volumes: map[string]string{}}
	if l, ok := m["command"].([]any); ok {
		s.command = strs(l)
	} else {
		s.command = strings.Fields(str(m["command"]))
	}
	switch e := m["environment"].(type) {
	case map[string]any:
		for k, v := range e {
			s.env[k] = str(v)
		}
	case []any:
		for _, kv := range strs(e) {
			k, v, _ := strings.Cut(kv, "=")
			s.env[k] = v
		}
	}
	for _, v := range list(m["volumes"]) {
		var src, dst string
		if vm, ok := v.(map[string]any); ok {
			src, dst = str(vm["source"]), str(vm["target"])
		} else {
			parts := strings.Split(str(v), ":")
			if len(parts) >= 2 {
				src, dst = parts[0], parts[1]
			}
		}
		if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
			s.binds[dst] = src
		} else if src != "" {
			s.volumes[dst] = src
		}
	}
	for _, p := range list(m["ports"]) {
		var cp composePort
		if pm, ok := p.(map[string]any); ok {
			cp.hostIP, cp.published = str(pm["host_ip"]), str(pm["published"])
			cp.target, _ = strconv.Atoi(str(pm["target"]))
		} else {
			parts := strings.Split(str(p), ":")
			cp.target, _ = strconv.Atoi(strings.Split(parts[len(parts)-1], "/")[0])
			if len(parts) >= 2 {
				cp.published = parts[len(parts)-2]
			}
			if len(parts) == 3 {
				cp.hostIP = parts[0]
			}
		}
		s.ports = append(s.ports, cp)
	}
	return s
}

// readEnvFiles adds the variables of the service's env_file(s) to its
// environment; environment: entries win, as in docker compose.
func readEnvFiles(dir string, s composeService) problems {
	var p problems
	files := strs(s.m["env_file"])
	if f, ok := s.m["env_file"].(string); ok {
		files = []string{f}
	}
	explicit := map[string]bool{}
	for k := range s.env {
		explicit[k] = true
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			p.addf("%s: env_file %s: %v", s.name, f, err)
			continue
		}
		for k, v := range parseEnvFile(data) {
			if !explicit[k] {
				s.env[k] = v
			}
		}
	}
	return p
}

// mountPoints are the container paths of the service's volumes and binds.
func (s composeService) mountPoints() []string {
	var out []string
	for dst := range s.binds {
		out = append(out, dst)
	}
	for dst := range s.volumes {
		out = append(out, dst)
	}
	return out
}

// mounted reports whether file is on one of the service's volumes or binds.
func (s composeService) mounted(file string) bool { return onMount(file, s.mountPoints()) }

func (s composeService) publishes(port int) bool {
	for _, p := range s.ports {
		if p.target == port {
			return true
		}
	}
	return false
}

// flags turns --a-b=c / --a_b=c arguments into a_b -> c.
func (s composeService) flags() map[string]string {
	out := map[string]string{}
	for _, a := range s.command {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		out[strings.ReplaceAll(k, "-", "_")] = v
	}
	return out
}

func (s composeService) dependsOn(name string) bool {
	switch d := s.m["depends_on"].(type) {
	case []any:
		for _, x := range strs(d) {
			if x == name {
				return true
			}
		}
	case map[string]any:
		_, ok := d[name]
		return ok
	}
	return false
}

// checkCompose checks a compose file (already interpolated) found in dir.
func checkCompose(dir string, doc map[string]any, parse natsParser) problems {
	var p problems
	var all []composeService
	byName := map[string]composeService{}
	for name, m := range mapOf(doc["services"]) {
		s := parseService(name, mapOf(m))
		p = append(p, readEnvFiles(dir, s)...)
		all = append(all, s)
		byName[name] = s
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	var ficus, nats, pgs, marias, apps []composeService
	for _, s := range all {
		for dst, src := range s.binds {
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(src))); err != nil {
				p.addf("%s: bind mount %s -> %s: the file does not exist", s.name, src, dst)
			}
		}
		for _, pt := range s.ports {
			if pt.hostIP != "127.0.0.1" {
				p.addf("%s: port %d is published on %q: publish on 127.0.0.1 only", s.name, pt.target, pt.hostIP)
			}
		}
		isFicusImage := s.image == "ficus" || strings.HasSuffix(str(dig(s.m, "build", "dockerfile")), "Dockerfile")
		switch {
		case isFicusImage && len(s.command) > 0 && s.command[0] == "demo-app":
			apps = append(apps, s)
		case isFicusImage:
			ficus = append(ficus, s)
		case strings.HasPrefix(s.image, "nats"):
			nats = append(nats, s)
		case s.image == "postgres":
			pgs = append(pgs, s)
			if !contains(s.command, "wal_level=logical") {
				p.addf("%s: PostgreSQL must run with -c wal_level=logical for capture, command is %v", s.name, s.command)
			}
		case s.image == "mariadb" || s.image == "mysql":
			marias = append(marias, s)
			f := s.flags()
			if _, ok := f["log_bin"]; !ok {
				p.addf("%s: --log-bin is not set", s.name)
			}
			for k, want := range map[string]string{"binlog_format": "ROW", "binlog_row_image": "FULL", "binlog_row_metadata": "FULL"} {
				if !strings.EqualFold(f[k], want) {
					p.addf("%s: --%s is %q, capture needs %s", s.name, k, f[k], want)
				}
			}
			if f["server_id"] == "" {
				p.addf("%s: --server-id is not set (a binlog needs one)", s.name)
			}
		}
	}
	if len(ficus) != 1 || len(pgs) != 1 || len(marias) != 1 {
		p.addf("want one ficus, one PostgreSQL and one MariaDB service, found %d, %d and %d", len(ficus), len(pgs), len(marias))
		return p
	}

	var members []natsMember
	for _, s := range nats {
		file := configArg(s.command)
		src, ok := s.binds[file]
		if !ok {
			p.addf("%s: nats config %q is not bind-mounted", s.name, file)
			continue
		}
		conf, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(src)))
		if err != nil {
			p.addf("%s: %v", s.name, err)
			continue
		}
		dataDir := ""
		for dst, v := range s.volumes {
			if !strings.Contains(v, "cert") {
				dataDir = dst
			}
		}
		members = append(members, natsMember{name: s.name, host: s.name, env: s.env, dataDir: dataDir,
			mounts: s.mountPoints(), conf: string(conf)})
	}
	natsPort := 0
	var auth natsAuth
	if len(members) > 0 {
		var np problems
		np, natsPort, auth = checkNATSCluster("compose", members, parse)
		p = append(p, np...)
	} else {
		p.addf("no NATS service")
	}
	for _, s := range nats {
		if auth.monitor != 0 && s.publishes(auth.monitor) {
			p.addf("%s: publishes the monitoring port %d, which has no authentication", s.name, auth.monitor)
		}
	}
	p = append(p, checkComposeFicus(dir, ficus[0], byName, pgs[0], marias[0], natsPort, auth)...)
	for _, a := range apps {
		p = append(p, checkDemoApp(a, pgs[0], marias[0])...)
	}
	return p
}

// checkDemoApp checks a `ficus demo-app shop|orders` service: its --dsn
// reaches the database service with that service's credentials, and its
// --listen port is where it is published.
func checkDemoApp(s composeService, pg, maria composeService) problems {
	var p problems
	args := map[string]string{}
	for i := 2; i+1 < len(s.command); i += 2 {
		args[strings.TrimPrefix(s.command[i], "--")] = s.command[i+1]
	}
	where := s.name + ": demo-app " + s.command[1]
	dsn := args["dsn"]
	switch s.command[1] {
	case "orders":
		u, err := url.Parse(dsn)
		if err != nil {
			p.addf("%s: --dsn: %v", where, err)
			return p
		}
		pass, _ := u.User.Password()
		checkDB(&p, where, s, pg, u.Hostname(), portOr(u.Port(), "5432"), "5432", u.User.Username(), pass,
			strings.TrimPrefix(u.Path, "/"), pg.env["POSTGRES_USER"], pg.env["POSTGRES_PASSWORD"], pg.env["POSTGRES_DB"])
	case "shop":
		m := mysqlDSN.FindStringSubmatch(dsn)
		if m == nil {
			p.addf("%s: --dsn is not user:pass@tcp(host:port)/db", where)
			return p
		}
		checkDB(&p, where, s, maria, m[3], portOr(m[4], "3306"), "3306", m[1], m[2], m[5],
			maria.env["MARIADB_USER"], maria.env["MARIADB_PASSWORD"], maria.env["MARIADB_DATABASE"])
	default:
		p.addf("%s: unknown demo app (want shop or orders)", where)
	}
	if _, port := listenPort(args["listen"]); !s.publishes(port) {
		p.addf("%s: --listen %s: port %d is not published", where, args["listen"], port)
	}
	return p
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func checkComposeFicus(dir string, s composeService, byName map[string]composeService, pg, maria composeService,
	natsPort int, auth natsAuth) problems {
	var p problems
	if ctx := str(dig(s.m, "build", "context")); ctx != "" {
		df := str(dig(s.m, "build", "dockerfile"))
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(ctx), filepath.FromSlash(df))); err != nil {
			p.addf("%s: build: %v", s.name, err)
		}
	}
	args := s.command
	if len(args) == 0 {
		args = []string{"run"}
	}
	file := configArg(args)
	if file == "" {
		file = "/etc/ficus/ficus.yaml"
	}
	src, ok := s.binds[file]
	if !ok {
		p.addf("%s: %s is not mounted", s.name, file)
		return p
	}
	text, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(src)))
	if err != nil {
		p.addf("%s: %v", s.name, err)
		return p
	}
	cfg, err := loadFicus(path.Join(dir, src), text, s.env)
	if err != nil {
		p.addf("%s: ficus validate: %v", s.name, err)
		return p
	}
	p = append(p, checkFicusNATSAuth(s.name, cfg, auth, s.mounted)...)
	listeners := [][2]string{{"admin.listen", cfg.Admin.Listen}}
	if cfg.Proxy.Enabled() {
		listeners = append(listeners, [2]string{"proxy.listen", cfg.Proxy.Listen})
	}
	for _, l := range listeners {
		h, port := listenPort(l[1])
		if !wildcard(h) {
			p.addf("%s: %s %s binds %s inside the container: the published port cannot reach it", s.name, l[0], l[1], h)
		}
		if !s.publishes(port) {
			p.addf("%s: %s port %d is not published", s.name, l[0], port)
		}
	}
	var urls []string
	for _, u := range cfg.NATS.URLs {
		urls = append(urls, u.Reveal())
	}
	hosts, err := natsURLHosts(urls)
	if err != nil {
		p.addf("%s: %v", s.name, err)
	}
	if len(hosts) == 0 {
		p.addf("%s: nats.url is empty: ficus would run its embedded server instead of the cluster", s.name)
	}
	for _, hp := range hosts {
		n, ok := byName[hp[0]]
		if !ok || !strings.HasPrefix(n.image, "nats") || hp[1] != strconv.Itoa(natsPort) {
			p.addf("%s: nats.url %s:%s is not the client port (%d) of a NATS service", s.name, hp[0], hp[1], natsPort)
		}
		if ok && !s.dependsOn(hp[0]) {
			p.addf("%s: depends_on lacks %s", s.name, hp[0])
		}
	}
	for _, src := range cfg.Capture.Sources {
		where := s.name + ": capture source " + src.Name
		switch src.Type {
		case config.SourcePostgres:
			u, err := url.Parse(src.DSN.Reveal())
			if err != nil {
				p.addf("%s: %v", where, err)
				continue
			}
			pass, _ := u.User.Password()
			checkDB(&p, where, s, pg, u.Hostname(), portOr(u.Port(), "5432"), "5432",
				u.User.Username(), pass, strings.TrimPrefix(u.Path, "/"),
				pg.env["POSTGRES_USER"], pg.env["POSTGRES_PASSWORD"], pg.env["POSTGRES_DB"])
		case config.SourceMySQL:
			m := mysqlDSN.FindStringSubmatch(src.DSN.Reveal())
			if m == nil {
				p.addf("%s: DSN is not user:pass@tcp(host:port)/db", where)
				continue
			}
			user, pass := maria.env["MARIADB_USER"], maria.env["MARIADB_PASSWORD"]
			if m[1] == "root" {
				user, pass = "root", maria.env["MARIADB_ROOT_PASSWORD"]
			}
			checkDB(&p, where, s, maria, m[3], portOr(m[4], "3306"), "3306", m[1], m[2], m[5],
				user, pass, maria.env["MARIADB_DATABASE"])
			if strconv.FormatUint(uint64(src.ServerID), 10) == maria.flags()["server_id"] {
				p.addf("%s: server_id %d is the database's own --server-id", where, src.ServerID)
			}
		}
	}
	return p
}

var mysqlDSN = regexp.MustCompile(`^([^:@]*):([^@]*)@tcp\(([^:)]+)(?::(\d+))?\)/([^?]*)`)

func portOr(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

// checkDB checks that a DSN reaches a database service of the file with the
// credentials and database that service is created with.
func checkDB(p *problems, where string, ficus, db composeService, host, port, wantPort, user, pass, name, wantUser, wantPass, wantName string) {
	if host != db.name || port != wantPort {
		p.addf("%s: DSN reaches %s, want service %s", where, net.JoinHostPort(host, port), net.JoinHostPort(db.name, wantPort))
	}
	if user != wantUser || pass != wantPass {
		p.addf("%s: DSN user/password differ from the ones %s is created with", where, db.name)
	}
	if name != wantName {
		p.addf("%s: DSN database %q, %s creates %q", where, name, db.name, wantName)
	}
	if !ficus.dependsOn(db.name) {
		p.addf("%s: depends_on lacks %s", where, db.name)
	}
}
