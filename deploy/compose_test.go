package deploy_test

import (
	"strings"
	"testing"
)

const composeFile = "compose/docker-compose.yml"

// loadCompose parses the compose file and interpolates it as docker compose
// would with an empty shell environment (every ${VAR:-default} at its default).
func loadCompose(t *testing.T) map[string]any {
	t.Helper()
	docs, err := decodeDocs(readFile(t, composeFile))
	if err != nil || len(docs) != 1 {
		t.Fatalf("%s: %v (%d documents)", composeFile, err, len(docs))
	}
	return interpolate(docs[0], map[string]string{}).(map[string]any)
}

func TestCompose(t *testing.T) {
	expectProblems(t, checkCompose("compose", loadCompose(t), realNATSParser(t)), "")
}

func TestComposeInterpolation(t *testing.T) {
	env := map[string]string{"SET": "x", "EMPTY": ""}
	cases := []struct{ in, want string }{
		{"${SET}", "x"},
		{"${UNSET}", ""},
		{"${UNSET:-d}", "d"},
		{"${EMPTY:-d}", "d"},
		{"${EMPTY-d}", ""},
		{"${UNSET-d}", "d"},
		{"a$$b", "a$b"},
		{"$SET/y", "x/y"},
		{"127.0.0.1:${PORT:-8080}:8080", "127.0.0.1:8080:8080"},
	}
	for _, tc := range cases {
		if got := interpolate(tc.in, env); got != tc.want {
			t.Errorf("interpolate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestComposeCheckCatches breaks the compose file one way at a time.
func TestComposeCheckCatches(t *testing.T) {
	svc := func(doc map[string]any, name string) map[string]any {
		s := mapOf(dig(doc, "services", name))
		if s == nil {
			t.Fatalf("no service %s", name)
		}
		return s
	}
	replaceArg := func(doc map[string]any, name, old, new string) {
		cmd := list(svc(doc, name)["command"])
		for i, a := range cmd {
			if str(a) == old {
				cmd[i] = new
				return
			}
		}
		t.Fatalf("%s: no argument %q", name, old)
	}
	cases := []struct {
		name  string
		edit  func(doc map[string]any)
		wants string
	}{
		{"wal_level", func(d map[string]any) { replaceArg(d, "postgres", "wal_level=logical", "wal_level=replica") }, "wal_level=logical"},
		{"row metadata", func(d map[string]any) {
			replaceArg(d, "mariadb", "--binlog-row-metadata=FULL", "--binlog-row-metadata=MINIMAL")
		}, `--binlog_row_metadata is "MINIMAL"`},
		{"statement binlog", func(d map[string]any) { replaceArg(d, "mariadb", "--binlog-format=ROW", "--binlog-format=STATEMENT") }, "binlog_format"},
		{"server_id clash", func(d map[string]any) { replaceArg(d, "mariadb", "--server-id=1", "--server-id=4001") }, "server_id 4001 is the database's own"},
		{"admin port not published", func(d map[string]any) { svc(d, "ficus")["ports"] = []any{"127.0.0.1:8080:8080"} }, "admin.listen port 9901 is not published"},
		{"published on every interface", func(d map[string]any) { list(svc(d, "postgres")["ports"])[0] = "15432:5432" }, "publish on 127.0.0.1 only"},
		{"config not mounted", func(d map[string]any) { svc(d, "ficus")["volumes"] = []any{} }, "/etc/ficus/ficus.yaml is not mounted"},
		{"missing bind source", func(d map[string]any) {
			svc(d, "nats-1")["volumes"] = []any{"./nats-missing.conf:/etc/nats/nats.conf:ro", "nats1data:/data"}
		}, "the file does not exist"},
		{"token not in environment", func(d map[string]any) { delete(mapOf(svc(d, "ficus")["environment"]), "FICUS_ADMIN_TOKEN") }, "environment variable FICUS_ADMIN_TOKEN is not set"},
		{"postgres password differs", func(d map[string]any) { mapOf(svc(d, "postgres")["environment"])["POSTGRES_PASSWORD"] = "other" }, "DSN user/password differ"},
		{"mariadb database differs", func(d map[string]any) { mapOf(svc(d, "mariadb")["environment"])["MARIADB_DATABASE"] = "other" }, `creates "other"`},
		{"no depends_on database", func(d map[string]any) { delete(mapOf(svc(d, "ficus")["depends_on"]), "mariadb") }, "depends_on lacks mariadb"},
		{"two nats servers", func(d map[string]any) { delete(mapOf(d["services"]), "nats-3") }, "cluster routes"},
		{"nats without volume", func(d map[string]any) {
			svc(d, "nats-2")["volumes"] = []any{"./nats.conf:/etc/nats/nats.conf:ro"}
		}, "not on the persistent volume"},
		{"nats name clash", func(d map[string]any) { mapOf(svc(d, "nats-2")["environment"])["NATS_NAME"] = "nats-1" }, `server_name "nats-1"`},
		{"shop on another database", func(d map[string]any) {
			replaceArg(d, "shop", "ficus:trial-mysql-password@tcp(mariadb:3306)/shop", "ficus:trial-mysql-password@tcp(mariadb:3306)/other")
		}, `shop: demo-app shop: DSN database "other"`},
		{"orders port not published", func(d map[string]any) { svc(d, "orders")["ports"] = []any{} }, "demo-app orders: --listen 0.0.0.0:4000: port 4000 is not published"},
		{"orders without its database", func(d map[string]any) { delete(mapOf(svc(d, "orders")["depends_on"]), "postgres") }, "demo-app orders: depends_on lacks postgres"},
		{"ficus with another NATS password", func(d map[string]any) {
			mapOf(svc(d, "ficus")["environment"])["FICUS_NATS_PASSWORD"] = "other"
		}, "its user and password are not a user of the NATS servers"},
		{"nats monitoring published", func(d map[string]any) {
			svc(d, "nats-2")["ports"] = []any{"127.0.0.1:8222:8222"}
		}, "nats-2: publishes the monitoring port 8222"},
		{"nats env file missing", func(d map[string]any) { svc(d, "nats-3")["env_file"] = []any{"missing.env"} }, "nats-3: env_file missing.env"},
		{"nats certificates not mounted", func(d map[string]any) {
			svc(d, "nats-3")["volumes"] = []any{"./nats.conf:/etc/nats/nats.conf:ro", "nats3data:/data"}
		}, "nats-3: /etc/nats/certs/nats.crt (nats.conf) is not on any mounted volume"},
		{"ficus without the NATS CA", func(d map[string]any) {
			svc(d, "ficus")["volumes"] = []any{"./ficus.yaml:/etc/ficus/ficus.yaml:ro"}
		}, "nats.tls.ca /etc/ficus-nats/ca.crt is not mounted"},
		{"bad legacy URL", func(d map[string]any) { mapOf(svc(d, "ficus")["environment"])["LEGACY_URL"] = "legacy:3000" }, "proxy.legacy"},
	}
	t.Run("unbroken", func(t *testing.T) {
		expectProblems(t, checkCompose("compose", loadCompose(t), realNATSParser(t)), "")
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := loadCompose(t)
			tc.edit(doc)
			got := checkCompose("compose", doc, realNATSParser(t))
			expectProblems(t, got, tc.wants)
			if testing.Verbose() {
				t.Log(strings.Join(got, "\n"))
			}
		})
	}
}
