package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// unit is a parsed systemd unit file: section -> key -> values in order.
type unit map[string]map[string][]string

func parseUnit(data []byte) unit {
	u := unit{}
	sec := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			sec = line[1 : len(line)-1]
			if u[sec] == nil {
				u[sec] = map[string][]string{}
			}
		default:
			k, v, _ := strings.Cut(line, "=")
			if u[sec] == nil {
				u[sec] = map[string][]string{}
			}
			u[sec][strings.TrimSpace(k)] = append(u[sec][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

func (u unit) last(sec, key string) (string, bool) {
	vs := u[sec][key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// parseEnvFile reads KEY=VALUE lines as systemd's EnvironmentFile= does
// (comments and blank lines skipped; quotes not used here).
func parseEnvFile(data []byte) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			env[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return env
}

// unitRequirements are the keys a VM install relies on: start after the
// network, restart on failure, secrets from a file, and the hardening.
var unitRequirements = []struct {
	section, key string
	want         func(string) bool
	says         string
	multi        bool // a list key that may be given on several lines: check them all together
}{
	{"Unit", "Description", nonEmpty, "a description", false},
	{"Unit", "After", has("network-online.target"), "network-online.target", false},
	{"Unit", "Wants", has("network-online.target"), "network-online.target", false},
	{"Service", "ExecStart", func(v string) bool {
		f := strings.Fields(v)
		return len(f) > 1 && path.Base(f[0]) == "ficus" && f[1] == "run"
	}, "ficus run -c FILE", false},
	{"Service", "EnvironmentFile", func(v string) bool {
		return strings.HasPrefix(v, "/")
	}, "an absolute path that must exist (no '-' prefix)", false},
	{"Service", "Restart", eq("on-failure"), "on-failure", false},
	{"Service", "User", func(v string) bool { return v != "" && v != "root" && v != "0" }, "a user that is not root", false},
	{"Service", "NoNewPrivileges", eq("yes"), "yes", false},
	{"Service", "ProtectSystem", eq("strict"), "strict", false},
	{"Service", "ProtectHome", eq("yes"), "yes", false},
	{"Service", "PrivateTmp", eq("yes"), "yes", false},
	{"Service", "PrivateDevices", eq("yes"), "yes", false},
	{"Service", "CapabilityBoundingSet", eq(""), "empty (no capabilities)", false},
	{"Service", "RestrictAddressFamilies", has("AF_INET"), "a list with AF_INET", true},
	{"Service", "SystemCallFilter", has("@system-service"), "@system-service", true},
	{"Service", "StateDirectory", nonEmpty, "the writable state directory", false},
	{"Service", "TimeoutStopSec", nonEmpty, "a stop timeout", false},
	{"Install", "WantedBy", has("multi-user.target"), "multi-user.target", false},
}

func nonEmpty(v string) bool        { return v != "" }
func eq(s string) func(string) bool { return func(v string) bool { return v == s } }
func has(s string) func(string) bool {
	return func(v string) bool { return contains(strings.Fields(v), s) }
}

// checkUnit checks the unit's keys and that the config it runs fits it:
// loadable with the EnvironmentFile's variables, JetStream store inside the
// only writable directory, no privileged port without the capability.
func checkUnit(u unit, configs map[string][]byte, env map[string]string) problems {
	var p problems
	for _, r := range unitRequirements {
		got, ok := u.last(r.section, r.key)
		if r.multi {
			got = strings.Join(u[r.section][r.key], " ")
		}
		if !ok {
			p.addf("[%s] %s is missing, want %s", r.section, r.key, r.says)
		} else if !r.want(got) {
			p.addf("[%s] %s=%s, want %s", r.section, r.key, got, r.says)
		}
	}
	start, _ := u.last("Service", "ExecStart")
	file := configArg(strings.Fields(start))
	text, ok := configs[file]
	if !ok {
		p.addf("[Service] ExecStart reads %q: no example config installs there", file)
		return p
	}
	cfg, err := loadFicus("systemd/"+path.Base(file), text, env)
	if err != nil {
		p.addf("ficus validate with the EnvironmentFile's variables: %v", err)
		return p
	}
	state, _ := u.last("Service", "StateDirectory")
	writable := []string{}
	for _, d := range strings.Fields(state) {
		writable = append(writable, "/var/lib/"+d)
	}
	for _, d := range u["Service"]["ReadWritePaths"] {
		writable = append(writable, strings.Fields(d)...)
	}
	if cfg.NATS.UseEmbedded() {
		sd := cfg.NATS.Embedded.StoreDir
		wd, _ := u.last("Service", "WorkingDirectory")
		if !filepath.IsAbs(sd) {
			sd = filepath.Join(wd, sd)
		}
		inside := false
		for _, w := range writable {
			if strings.HasPrefix(filepath.Clean(sd)+"/", filepath.Clean(w)+"/") {
				inside = true
			}
		}
		if !inside {
			p.addf("nats.embedded.store_dir %s is read-only under ProtectSystem=strict: put it under %v", sd, writable)
		}
	}
	ambient, _ := u.last("Service", "AmbientCapabilities")
	for _, l := range []string{cfg.Admin.Listen, cfg.Proxy.Listen} {
		if _, port := listenPort(l); port > 0 && port < 1024 && !strings.Contains(ambient, "CAP_NET_BIND_SERVICE") {
			p.addf("listen %s: port below 1024 needs AmbientCapabilities=CAP_NET_BIND_SERVICE", l)
		}
	}
	return p
}

// systemdConfigs maps where the unit's install instructions put each example
// file to the file in this folder.
func systemdConfigs(t *testing.T) (map[string][]byte, map[string]string) {
	return map[string][]byte{"/etc/ficus/ficus.yaml": readFile(t, "systemd/ficus.yaml")},
		parseEnvFile(readFile(t, "systemd/ficus.env.example"))
}

func TestSystemdUnit(t *testing.T) {
	raw := readFile(t, "systemd/ficus.service")
	u := parseUnit(raw)
	configs, env := systemdConfigs(t)
	expectProblems(t, checkUnit(u, configs, env), "")
	if ef, _ := u.last("Service", "EnvironmentFile"); ef != "/etc/ficus/ficus.env" {
		t.Errorf("EnvironmentFile=%s, the example file's header says /etc/ficus/ficus.env", ef)
	}
}

func TestSystemdCheckCatches(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(u unit, configs map[string][]byte, env map[string]string)
		wants string
	}{
		{"restart always", func(u unit, _ map[string][]byte, _ map[string]string) { u["Service"]["Restart"] = []string{"always"} }, "Restart=always"},
		{"no environment file", func(u unit, _ map[string][]byte, _ map[string]string) { delete(u["Service"], "EnvironmentFile") }, "EnvironmentFile is missing"},
		{"runs as root", func(u unit, _ map[string][]byte, _ map[string]string) { u["Service"]["User"] = []string{"root"} }, "User=root"},
		{"no hardening", func(u unit, _ map[string][]byte, _ map[string]string) { delete(u["Service"], "ProtectSystem") }, "ProtectSystem is missing"},
		{"no syscall allow-list", func(u unit, _ map[string][]byte, _ map[string]string) {
			u["Service"]["SystemCallFilter"] = []string{"~@privileged @resources"}
		}, "want @system-service"},
		{"secret missing from env file", func(_ unit, _ map[string][]byte, env map[string]string) { delete(env, "LEGACY_PG_DSN") }, "environment variable LEGACY_PG_DSN is not set"},
		{"store outside state dir", func(_ unit, c map[string][]byte, _ map[string]string) {
			c["/etc/ficus/ficus.yaml"] = bytes.Replace(c["/etc/ficus/ficus.yaml"], []byte("/var/lib/ficus/nats"), []byte("/opt/ficus/nats"), 1)
		}, "read-only under ProtectSystem=strict"},
		{"privileged port", func(_ unit, c map[string][]byte, _ map[string]string) {
			c["/etc/ficus/ficus.yaml"] = bytes.Replace(c["/etc/ficus/ficus.yaml"], []byte("0.0.0.0:8080"), []byte("0.0.0.0:80"), 1)
		}, "CAP_NET_BIND_SERVICE"},
		{"other config path", func(u unit, _ map[string][]byte, _ map[string]string) {
			u["Service"]["ExecStart"] = []string{"/usr/local/bin/ficus run -c /srv/ficus.yaml"}
		}, `reads "/srv/ficus.yaml"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := parseUnit(readFile(t, "systemd/ficus.service"))
			configs, env := systemdConfigs(t)
			tc.edit(u, configs, env)
			expectProblems(t, checkUnit(u, configs, env), tc.wants)
		})
	}
}

// TestSystemdAnalyzeVerify runs systemd's own unit checker on the unit, with
// the ficus binary path pointed at an executable that exists here; any
// warning (unknown key, bad value) fails the test.
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not on PATH")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, old, new string
		wantClean      bool
	}{
		{"shipped unit", "", "", true},
		{"unknown key is caught", "ProtectHome=yes", "ProtectHomee=yes", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			unitText := strings.ReplaceAll(string(readFile(t, "systemd/ficus.service")), "/usr/local/bin/ficus", self)
			if tc.old != "" {
				unitText = strings.Replace(unitText, tc.old, tc.new, 1)
			}
			f := filepath.Join(t.TempDir(), "ficus.service")
			if err := os.WriteFile(f, []byte(unitText), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, sa, "verify", f).CombinedOutput()
			clean := err == nil && len(bytes.TrimSpace(out)) == 0
			if clean != tc.wantClean {
				t.Fatalf("systemd-analyze verify: clean=%v, want %v: %v\n%s", clean, tc.wantClean, err, out)
			}
		})
	}
}
