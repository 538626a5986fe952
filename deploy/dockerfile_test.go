package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// dockerInstr is one Dockerfile instruction, continuation lines joined.
type dockerInstr struct{ cmd, args string }

// dockerStage is one FROM ... stage.
type dockerStage struct {
	from, name string
	instrs     []dockerInstr
}

func parseDockerfile(data string) []dockerStage {
	var stages []dockerStage
	var cur string
	flush := func(line string) {
		line = strings.TrimSpace(line)
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		cmd = strings.ToUpper(cmd)
		args = strings.TrimSpace(args)
		if cmd == "FROM" {
			f := strings.Fields(args)
			st := dockerStage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) > 0 {
			stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, dockerInstr{cmd, args})
		}
	}
	for _, l := range strings.Split(data, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "#") {
			continue
		}
		if strings.HasSuffix(t, "\\") {
			cur += strings.TrimSuffix(t, "\\") + " "
			continue
		}
		flush(cur + t)
		cur = ""
	}
	flush(cur)
	return stages
}

func (s dockerStage) all(cmd string) []string {
	var out []string
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// execForm reads ["a", "b"] (JSON array form) or a shell-form line.
func execForm(args string) []string {
	args = strings.TrimSpace(args)
	if !strings.HasPrefix(args, "[") {
		return strings.Fields(args)
	}
	var out []string
	for _, m := range regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(args, -1) {
		out = append(out, m[1])
	}
	return out
}

var goDirective = regexp.MustCompile(`(?m)^go (\d+\.\d+)`)

// checkDockerfile checks the image: a static build of ./cmd/ficus with the
// module's Go version, a distroless or scratch final stage, a non-root user,
// and a default command reading the config path the manifests mount.
func checkDockerfile(data, goMod, mountedConfig string) problems {
	var p problems
	stages := parseDockerfile(data)
	if len(stages) < 2 {
		p.addf("want a multi-stage build, found %d stage(s)", len(stages))
		return p
	}
	build, final := stages[0], stages[len(stages)-1]
	if m := goDirective.FindStringSubmatch(goMod); m != nil && !strings.Contains(build.from, "golang:"+m[1]) {
		p.addf("build stage FROM %s: want golang:%s (go.mod's go version)", build.from, m[1])
	}
	var goBuild string
	for _, r := range build.all("RUN") {
		if strings.Contains(r, "go build") {
			goBuild = r
		}
	}
	switch {
	case goBuild == "":
		p.addf("build stage: no RUN with go build")
	case !strings.Contains(goBuild, "CGO_ENABLED=0"):
		p.addf("build stage: go build without CGO_ENABLED=0 is not a static binary")
	case !strings.Contains(goBuild, "./cmd/ficus"):
		p.addf("build stage: go build does not build ./cmd/ficus")
	}
	if !strings.Contains(final.from, "distroless/static") && final.from != "scratch" {
		p.addf("final stage FROM %s: want a distroless static (or scratch) image", final.from)
	}
	users := final.all("USER")
	if len(users) == 0 {
		p.addf("final stage: no USER (it would run as root)")
	} else if u, _, _ := strings.Cut(users[len(users)-1], ":"); u == "root" || u == "0" {
		p.addf("final stage: USER %s is root", users[len(users)-1])
	}
	bin := ""
	for _, c := range final.all("COPY") {
		f := strings.Fields(c)
		if strings.Contains(c, "--from="+build.name) && len(f) >= 2 && strings.HasSuffix(f[len(f)-2], "/ficus") {
			bin = f[len(f)-1]
		}
	}
	var entry, cmd []string
	if e := final.all("ENTRYPOINT"); len(e) > 0 {
		entry = execForm(e[len(e)-1])
	}
	if c := final.all("CMD"); len(c) > 0 {
		cmd = execForm(c[len(c)-1])
	}
	if bin == "" || len(entry) == 0 || entry[0] != bin {
		p.addf("ENTRYPOINT %v does not run the binary copied from the build stage (%q)", entry, bin)
	}
	if got := configArg(cmd); got != mountedConfig {
		p.addf("CMD %v reads %q, the manifests mount the config at %s", cmd, got, mountedConfig)
	}
	return p
}

func TestDockerfile(t *testing.T) {
	goMod := string(readFile(t, "../go.mod"))
	data := string(readFile(t, "Dockerfile"))
	expectProblems(t, checkDockerfile(data, goMod, "/etc/ficus/ficus.yaml"), "")
	if st, err := os.Stat(filepath.Join("..", "cmd", "ficus", "main.go")); err != nil || st.IsDir() {
		t.Errorf("the Dockerfile builds ./cmd/ficus: %v", err)
	}
	// The final stage's EXPOSE lists the ports of the shipped compose config.
	final := parseDockerfile(data)
	exposed := strings.Fields(strings.Join(final[len(final)-1].all("EXPOSE"), " "))
	for _, port := range []int{8080, 9901} {
		if !contains(exposed, strconv.Itoa(port)) {
			t.Errorf("EXPOSE %v lacks %d", exposed, port)
		}
	}
}

func TestDockerfileCheckCatches(t *testing.T) {
	goMod := string(readFile(t, "../go.mod"))
	good := string(readFile(t, "Dockerfile"))
	cases := []struct{ name, old, new, wants string }{
		{"cgo on", "CGO_ENABLED=0 ", "", "without CGO_ENABLED=0"},
		{"root", "USER 65532:65532", "USER root", "USER root is root"},
		{"no user", "USER 65532:65532", "", "no USER"},
		{"fat final image", "FROM gcr.io/distroless/static-debian12:nonroot", "FROM debian:12", "want a distroless static"},
		{"other go", "golang:1.26-bookworm", "golang:1.22-bookworm", "go.mod's go version"},
		{"entrypoint elsewhere", `ENTRYPOINT ["/usr/local/bin/ficus"]`, `ENTRYPOINT ["/ficus"]`, "does not run the binary"},
		{"config path", `"/etc/ficus/ficus.yaml"]`, `"/config/ficus.yaml"]`, `reads "/config/ficus.yaml"`},
		{"single stage", "FROM gcr.io/distroless/static-debian12:nonroot", "", "multi-stage"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("Dockerfile has no %q", tc.old)
			}
			expectProblems(t, checkDockerfile(strings.Replace(good, tc.old, tc.new, 1), goMod, "/etc/ficus/ficus.yaml"), tc.wants)
		})
	}
}
