package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/capture/mask"
)

func TestLoadMinimal(t *testing.T) {
	path := filepath.Join(testdataDir, "minimal.yaml")
	c, err := Load(path, lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Path() != path {
		t.Errorf("Path() = %q, want %q", c.Path(), path)
	}
	want := Default()
	want.file = path
	if !reflect.DeepEqual(c, want) {
		t.Errorf("minimal.yaml differs from the defaults:\n%s\nwant:\n%s", c.Redacted(), want.Redacted())
	}
	if c.Proxy.Enabled() || len(c.Capture.Sources) != 0 || !c.NATS.UseEmbedded() {
		t.Errorf("minimal: proxy enabled %v, %d sources, embedded NATS %v",
			c.Proxy.Enabled(), len(c.Capture.Sources), c.NATS.UseEmbedded())
	}
}

func TestDefaults(t *testing.T) {
	for _, data := range []string{"", "\n# only a comment\n", "~\n", "log:\nproxy: ~\ncapture: {}\n"} {
		c, err := LoadBytes("empty.yaml", []byte(data), lookup(nil))
		if err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		checks := []struct {
			name      string
			got, want any
		}{
			{"log.level", c.Log.Level, LevelInfo},
			{"log.format", c.Log.Format, FormatText},
			{"nats.url", len(c.NATS.URLs), 0},
			{"nats.name", c.NATS.Name, "ficus"},
			{"nats.embedded.listen", c.NATS.Embedded.Listen, "127.0.0.1:4222"},
			{"nats.embedded.store_dir", c.NATS.Embedded.StoreDir, "./ficus-data/nats"},
			{"nats.embedded.sync_interval", c.NATS.Embedded.SyncInterval, time.Second},
			{"nats.embedded.sync_always", c.NATS.Embedded.SyncAlways, false},
			{"admin.listen", c.Admin.Listen, "127.0.0.1:9901"},
			{"admin.token", c.Admin.Token, Secret("")},
			{"proxy.enabled", c.Proxy.Enabled(), false},
			{"proxy.mode", c.Proxy.Mode, ModeReverse},
			{"proxy.served_by_header", c.Proxy.ServedByHeader, true},
			{"proxy.max_header_bytes", c.Proxy.MaxHeaderBytes, int64(1048576)},
			{"proxy.timeouts", c.Proxy.Timeouts, ProxyTimeouts{Timeouts{5 * time.Second, 30 * time.Second, 90 * time.Second},
				ClientLimits{10 * time.Second, 60 * time.Second, 75 * time.Second, 1 << 20}}},
			{"proxy.max_request_body_bytes", c.Proxy.MaxRequestBodyBytes, int64(-1)},
			{"proxy.request_buffer_bytes", c.Proxy.RequestBufferBytes, int64(64 << 10)},
			{"capture.subject_prefix", c.Capture.SubjectPrefix, "ficus.cdc"},
			{"shadow", c.Shadow, Shadow{Workers: 64, Queue: 10000, RecordBodyBytes: 16384, MaxAge: 168 * time.Hour}},
			{"capture.stream", c.Capture.Stream, Stream{Replicas: 1, MaxAge: 0, MaxBytes: -1, DuplicateWindow: 10 * time.Minute}},
		}
		for _, ck := range checks {
			if !reflect.DeepEqual(ck.got, ck.want) {
				t.Errorf("%q: %s = %v, want %v", data, ck.name, ck.got, ck.want)
			}
		}
	}
}

func TestLoadFull(t *testing.T) {
	path := filepath.Join(testdataDir, "full.yaml")
	c, err := Load(path, lookup(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	r0 := c.Proxy.Routes[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"log", c.Log, Log{Level: LevelDebug, Format: FormatJSON}},
		{"nats.url", c.NATS.URLs, []DSN{"nats://127.0.0.1:4222", "nats://127.0.0.1:4223"}},
		{"nats.credentials", c.NATS.Credentials, "/etc/ficus/nats.creds"},
		{"nats.tls", c.NATS.TLS, TLS{CA: "/etc/ficus/nats-ca.pem", Cert: "/etc/ficus/nats-client.pem", Key: "/etc/ficus/nats-client.key"}},
		{"nats.name", c.NATS.Name, "ficus-shop"},
		{"nats.embedded", c.NATS.Embedded, Embedded{Listen: "127.0.0.1:14222", StoreDir: "/var/lib/ficus/nats", SyncAlways: true,
			Auth: EmbeddedAuth{Users: []NATSUser{
				{User: "ficus", Password: "s3cret-nats", Ficus: true},
				{User: "reader", Password: "s3cret-reader", Permissions: &NATSPermissions{Publish: []string{"_INBOX.>"}, Subscribe: []string{"shop.cdc.>"}}},
				{NKey: "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4", Permissions: &NATSPermissions{Publish: []string{}, Subscribe: []string{"ficus.shadow.*", "shop.cdc.>"}}},
			}},
			TLS: EmbeddedTLS{Cert: "/etc/ficus/nats-server.pem", Key: "/etc/ficus/nats-server.key", CA: "/etc/ficus/nats-clients-ca.pem"}}},
		{"nats.use_embedded", c.NATS.UseEmbedded(), false},
		{"admin", c.Admin, Admin{Listen: "127.0.0.1:9902", Token: "s3cret-token",
			AllowedHosts: []string{"ficus.shop.example", "ficus-admin.internal:9902"}}},
		{"proxy.listen", c.Proxy.Listen, "127.0.0.1:8081"},
		{"proxy.mode", c.Proxy.Mode, ModeForward},
		{"proxy.legacy", c.Proxy.Legacy, "http://127.0.0.1:3000"},
		{"proxy.served_by_header", c.Proxy.ServedByHeader, false},
		{"proxy.max_header_bytes", c.Proxy.MaxHeaderBytes, int64(64 << 10)},
		{"proxy.timeouts", c.Proxy.Timeouts, ProxyTimeouts{Timeouts{2 * time.Second, 15 * time.Second, time.Minute},
			ClientLimits{5 * time.Second, 30 * time.Second, 2 * time.Minute, 64 << 10}}},
		{"proxy.max_request_body_bytes", c.Proxy.MaxRequestBodyBytes, int64(10 << 20)},
		{"proxy.request_buffer_bytes", c.Proxy.RequestBufferBytes, int64(32 << 10)},
		{"proxy.mitm", c.Proxy.MITM, MITM{CACert: "/etc/ficus/mitm-ca.pem", CAKey: "/etc/ficus/mitm-ca.key",
			Hosts: []string{"shop.example", "*.api.example", "legacy.internal:8443"}}},
		{"routes", len(c.Proxy.Routes), 3},
		{"route 0", r0, Route{
			Name: "orders-read",
			Match: Match{PathPrefix: "/api/orders", Methods: []string{"GET", "HEAD"}, Host: "shop.example",
				Headers: map[string]string{"X-Tenant": "acme"}},
			New: "http://127.0.0.1:4000", Weight: 25, Sticky: Sticky{StickyHeader, "X-User-Id"},
			PinNew: []string{"tenant-7", "tenant-9"}, StripPrefix: "/api", AddPrefix: "/v2",
			// response_header overridden, the rest inherited from proxy.timeouts
			Timeouts: Timeouts{2 * time.Second, 5 * time.Second, time.Minute},
			Shadow:   RouteShadow{Sample: 0.5, UnsafeMethods: true, MaxBodyBytes: 256 << 10, Timeout: 1500 * time.Millisecond},
			Compare: Compare{
				Ignore:    []string{"$.meta.request_id", "$.items[*].updated_at", "header:Date", "header:X-Request-Id"},
				Headers:   []string{"Content-Type", "Cache-Control"},
				Unordered: []string{"$.items"}, NumericTolerance: 0.000001,
			},
			Noise: Noise{SecondLegacy: "http://127.0.0.1:3001", Sample: 0.2, MinSamples: 50, RelativeThreshold: 3, AbsoluteThreshold: 0.02},
			Record: RouteRecord{Sample: 0.25, MaxBodyBytes: 128 << 10, Methods: []string{"GET", "POST"},
				MaxAge: 48 * time.Hour, MaxBytes: 512 << 20, MaxPerSecond: 1000},
		}},
		{"route 1 record defaults", c.Proxy.Routes[1].Record, RouteRecord{Sample: 0.05, MaxBodyBytes: 256 << 10,
			Methods: []string{"GET", "HEAD"}, MaxAge: 168 * time.Hour, MaxBytes: 1 << 30, MaxPerSecond: 1000}},
		{"route 1 shadow defaults", c.Proxy.Routes[1].Shadow, RouteShadow{Sample: 1, MaxBodyBytes: 1 << 20, Timeout: 2 * time.Second}},
		{"route 1 noise defaults", c.Proxy.Routes[1].Noise, Noise{Sample: 0.1, MinSamples: 20, RelativeThreshold: 2, AbsoluteThreshold: 0.01}},
		{"shadow", c.Shadow, Shadow{Workers: 16, Queue: 2000, RedactHeaders: []string{"X-Api-Key", "X-Session"}, RecordBodyBytes: 8 << 10, MaxAge: 72 * time.Hour}},
		{"route 1 regex", c.Proxy.Routes[1].Match.PathRegex, `^/invoices/[0-9]+\.pdf$`},
		{"route 1 weight", c.Proxy.Routes[1].Weight, 12.5},
		{"route 1 sticky", c.Proxy.Routes[1].Sticky, Sticky{StickyCookie, "session"}},
		{"route 1 timeouts", c.Proxy.Routes[1].Timeouts, c.Proxy.Timeouts.Timeouts},
		{"route 2 path", c.Proxy.Routes[2].Match.Path, "/search"},
		{"route 2 sticky", c.Proxy.Routes[2].Sticky.String(), "query:user"},
		{"capture.subject_prefix", c.Capture.SubjectPrefix, "shop.cdc"},
		{"capture.stream", c.Capture.Stream, Stream{Replicas: 3, MaxAge: 168 * time.Hour, MaxBytes: 512e6, DuplicateWindow: 20 * time.Minute}},
		{"source 0", c.Capture.Sources[0], Source{Name: "legacy-pg", Type: SourcePostgres, DSN: DSN(testEnv["LEGACY_PG_DSN"]),
			Tables: []Table{{Table: "public.orders"}, {Table: "public.Order Lines", Subject: "order_lines"}}, Slot: "ficus_orders", Publication: "ficus_orders_pub",
			Snapshot: SnapshotNever, SignalTable: "ficus.signal"}},
		{"source 1", c.Capture.Sources[1], Source{Name: "legacy_mysql", Type: SourceMySQL, DSN: DSN(testEnv["LEGACY_MYSQL_DSN"]),
			Tables: []Table{{Table: "shop.customers", Columns: Columns{Exclude: []string{"ssn"}, Mask: ColumnMasks{
				{"email", mask.Spec{Kind: mask.Hash}}, {"card_number", mask.Spec{Kind: mask.KeepLast, N: 4}}, {"phone", mask.Spec{Kind: mask.Null}}}}}},
			Snapshot: SnapshotInitial, ServerID: 4001}},
		{"capture.mask_secret", c.Capture.MaskSecret.Reveal(), "s3cret-mask-0123456789"},
		{"source 0 slot", c.Capture.Sources[0].SlotName(), "ficus_orders"},
		{"source 0 stream", c.Capture.Sources[0].StreamName(), "FICUS_CDC_LEGACY_PG"},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v\nwant %#v", ck.name, ck.got, ck.want)
		}
	}
}

func TestLoadUnreadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	_, err := Load(path, nil)
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("got %v (%T), want one Errors entry", err, err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) = false for %v", err)
	}
	if want := path + ": cannot read config: no such file or directory"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

// TestLoadUsesProcessEnv checks the nil env default (os.LookupEnv).
func TestLoadUsesProcessEnv(t *testing.T) {
	t.Setenv("FICUS_TEST_LEVEL", "warn")
	c, err := LoadBytes("env.yaml", []byte("log:\n  level: ${FICUS_TEST_LEVEL}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Level != LevelWarn {
		t.Errorf("level = %q, want warn", c.Log.Level)
	}
}

func TestValues(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		got  func(*Config) any
		want any
	}{
		{"sync interval duration", "nats: {embedded: {sync_interval: 1h30m}}", nil,
			func(c *Config) any { return c.NATS.Embedded.SyncInterval }, 90 * time.Minute},
		{"nats url comma list", "nats: {url: 'nats://a:4222, b:4223'}", nil,
			func(c *Config) any { return c.NATS.URLs }, []DSN{"nats://a:4222", "nats://b:4223"}},
		{"nats url empty string is embedded", "nats: {url: ''}", nil,
			func(c *Config) any { return c.NATS.UseEmbedded() }, true},
		{"proxy enabled by routes gets default listen",
			"proxy: {legacy: 'http://l', routes: [{name: a, new: 'http://n'}]}", nil,
			func(c *Config) any { return c.Proxy.Listen }, DefaultProxyListen},
		{"proxy enabled by listen alone", "proxy: {listen: '127.0.0.1:0', legacy: 'http://l'}", nil,
			func(c *Config) any { return c.Proxy.Enabled() }, true},
		{"forward mode needs no legacy", "proxy: {listen: '127.0.0.1:0', mode: forward}", nil,
			func(c *Config) any { return c.Proxy.Legacy }, ""},
		{"forward allow rules", "proxy: {listen: '127.0.0.1:0', mode: forward, forward: {allow: [{host: '*.example.com', ports: [80, 443]}, {host: legacy.internal}, {host: '::1', ports: [18080]}]}}", nil,
			func(c *Config) any { return c.Proxy.Forward.Allow }, []AllowRule{
				{Host: "*.example.com", Ports: []int{80, 443}}, {Host: "legacy.internal"}, {Host: "::1", Ports: []int{18080}}}},
		{"weight decimal", "proxy: {legacy: 'http://l', routes: [{name: a, new: 'http://n', weight: 0.25}]}", nil,
			func(c *Config) any { return c.Proxy.Routes[0].Weight }, 0.25},
		{"sticky default none", "proxy: {legacy: 'http://l', routes: [{name: a, new: 'http://n'}]}", nil,
			func(c *Config) any { return c.Proxy.Routes[0].Sticky }, Sticky{Kind: StickyNone}},
		{"empty optional strings are unset", "proxy: {legacy: 'http://l', routes: [{name: a, new: 'http://n', strip_prefix: '', match: {path: '', path_regex: ''}}]}", nil,
			func(c *Config) any { return c.Proxy.Routes[0].Match }, Match{}},
		{"size units", "capture: {stream: {max_bytes: 1GiB}}", nil,
			func(c *Config) any { return c.Capture.Stream.MaxBytes }, int64(1 << 30)},
		{"standby lease ttl", "capture: {standby: {lease_ttl: 3s}}", nil,
			func(c *Config) any { return c.Capture.Standby.LeaseTTL }, 3 * time.Second},
		{"standby lease ttl default", "capture: {standby: {}}", nil,
			func(c *Config) any { return c.Capture.Standby.LeaseTTL }, DefaultLeaseTTL},
		{"size unlimited", "capture: {stream: {max_bytes: -1}}", nil,
			func(c *Config) any { return c.Capture.Stream.MaxBytes }, int64(-1)},
		{"env default", "log: {level: '${LVL:-debug}'}", nil,
			func(c *Config) any { return c.Log.Level }, LevelDebug},
		{"env default when empty", "log: {level: '${LVL:-error}'}", map[string]string{"LVL": ""},
			func(c *Config) any { return c.Log.Level }, LevelError},
		{"env in a list item", "proxy: {legacy: 'http://l', routes: [{name: a, new: 'http://n', sticky: 'header:X', pin_new: ['${T}']}]}",
			map[string]string{"T": "tenant-1"},
			func(c *Config) any { return c.Proxy.Routes[0].PinNew }, []string{"tenant-1"}},
		{"dollar escape", "nats: {name: 'a$$b$c'}", nil,
			func(c *Config) any { return c.NATS.Name }, "a$b$c"},
		{"integer server id from env", "capture: {sources: [{name: m, type: mysql, dsn: 'u:p@tcp(h:3306)/d', server_id: '${ID}'}]}",
			map[string]string{"ID": "4294967295"},
			func(c *Config) any { return c.Capture.Sources[0].ServerID }, uint32(4294967295)},
		{"default slot and publication", "capture: {sources: [{name: eu-shop, type: postgres, dsn: 'postgres://u@h/d'}]}", nil,
			func(c *Config) any {
				s := c.Capture.Sources[0]
				return []string{s.SlotName(), s.PublicationName(), StreamName(s), string(s.Snapshot)}
			}, []string{"ficus_eu_shop", "ficus_eu_shop", "FICUS_CDC_EU_SHOP", "initial"}},
		{"merge key", "proxy:\n  legacy: http://l\n  routes:\n    - &r {name: a, new: 'http://n', weight: 5}\n    - {<<: *r, name: b}\n", nil,
			func(c *Config) any { return c.Proxy.Routes[1] }, Route{Name: "b", New: "http://n", Weight: 5,
				Sticky: Sticky{Kind: StickyNone}, Timeouts: DefaultTimeouts(), Shadow: defaultRouteShadow(), Noise: defaultNoise(), Record: defaultRouteRecord()}},
		{"header match", "proxy: {legacy: 'http://l', routes: [{name: a, new: 'http://n', match: {headers: {X-A: '', X-B: '1'}}}]}", nil,
			func(c *Config) any { return c.Proxy.Routes[0].Match.Headers }, map[string]string{"X-A": "", "X-B": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadBytes("t.yaml", []byte(tt.yaml), lookup(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

// TestRejected covers problems the golden files do not, by message.
func TestRejected(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"empty list item", "capture: {sources: [{name: a, type: postgres, dsn: 'postgres://u@h/d', tables: [~]}]}",
			"capture.sources[0].tables[0]: must not be empty"},
		{"empty store dir", "nats: {embedded: {store_dir: ''}}", "nats.embedded.store_dir: must not be empty"},
		{"mysql dsn without tcp", "capture: {sources: [{name: m, type: mysql, dsn: 'u:p@unix(/s)/d', server_id: 1}]}",
			"capture.sources[0].dsn: expected a DSN such as user:pass@tcp(host:3306)/db (the network must be tcp)"},
		{"duplicate window over max age", "capture: {stream: {max_age: 15m, duplicate_window: 20m}}",
			"capture.stream.duplicate_window: duplicate_window (20m) must not exceed max_age (15m)"},
		{"standby lease ttl too short", "capture:\n  standby:\n    lease_ttl: 500ms\n",
			`t.yaml:3:5: capture.standby.lease_ttl: must be at least 1s, got "500ms"`},
		{"standby lease ttl too long", "capture: {standby: {lease_ttl: 1h}}",
			"capture.standby.lease_ttl: must be at most 5m (a standby waits this long after a crash), got 1h"},
		{"standby lease ttl without unit", "capture: {standby: {lease_ttl: 5}}",
			"capture.standby.lease_ttl: expected a duration"},
		{"standby unknown key", "capture: {standby: {ttl: 5s}}", "capture.standby.ttl: unknown key"},
		{"mitm hosts without ca", "proxy: {mode: forward, listen: '127.0.0.1:0', mitm: {hosts: [a.example]}}",
			"proxy.mitm.hosts: requires ca_cert and ca_key"},
		{"mitm without hosts", "proxy: {mode: forward, listen: '127.0.0.1:0', mitm: {ca_cert: c, ca_key: k}}",
			"proxy.mitm.hosts: required when ca_cert is set: list the hosts to intercept"},
		{"forward allow in reverse mode", "proxy: {legacy: 'http://l', forward: {allow: [{host: a.example}]}}",
			"proxy.forward: only valid in forward mode (proxy.mode: forward)"},
		{"forward allow rule without host", "proxy: {mode: forward, forward: {allow: [{ports: [80]}]}}",
			"proxy.forward.allow[0].host: required"},
		{"forward allow bad host", "proxy: {mode: forward, forward: {allow: [{host: 'a.example:443'}]}}",
			"proxy.forward.allow[0].host: expected a host name, an IP address (without brackets or port), *.domain or *"},
		{"forward allow bad port", "proxy: {mode: forward, forward: {allow: [{host: a.example, ports: [0]}]}}",
			"proxy.forward.allow[0].ports[0]:"},
		{"forward unknown key", "proxy: {mode: forward, forward: {allow: [{host: a.example, port: 80}]}}",
			"proxy.forward.allow[0].port: unknown key"},
		{"second document", "log: {}\n---\n", "t.yaml:2:1: yaml: only one document is allowed, found a second one"},
		{"alias bomb", aliasBomb(), "document too large"},
		{"long source name", "capture: {sources: [{name: " + strings.Repeat("a", 60) + ", type: postgres, dsn: 'postgres://u@h/d'}]}",
			"too long to derive slot and publication names"},
		{"same slot twice on one database", "capture: {sources: [{name: a, type: postgres, dsn: 'postgres://u@h/d', slot: s}, {name: b, type: postgres, dsn: 'postgres://v@h/d', slot: s}]}",
			`capture.sources[1].slot: slot "s" is also used by capture.sources[0] on the same database`},
		{"decimal handling unknown", "capture: {sources: [{name: a, type: postgres, dsn: 'postgres://u@h/d', decimal_handling: float}]}",
			`t.yaml:1:72: capture.sources[0].decimal_handling: must be one of string, number, got "float"`},
		{"tinyint1 handling on postgres", "capture: {sources: [{name: a, type: postgres, dsn: 'postgres://u@h/d', tinyint1_handling: boolean}]}",
			"capture.sources[0].tinyint1_handling: only valid for mysql sources (this source is postgres)"},
		{"tinyint1 handling unknown", "capture: {sources: [{name: m, type: mysql, dsn: 'u:p@tcp(h:3306)/d', server_id: 1, tinyint1_handling: bool}]}",
			`capture.sources[0].tinyint1_handling: must be one of number, boolean, got "bool"`},
		{"signal table with a quote", "capture: {sources: [{name: a, type: postgres, dsn: 'postgres://u@h/d', signal_table: 'x\"y'}]}",
			"capture.sources[0].signal_table: expected a table name"},
		{"signal table also captured", "capture: {sources: [{name: a, type: postgres, dsn: 'postgres://u@h/d', tables: [public.s], signal_table: public.s}]}",
			"capture.sources[0].signal_table: public.s is also in tables"},
		{"secret not echoed on bad expansion", "admin: {token: 'abc${bad name}'}",
			`admin.token: invalid variable name in "${...}"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadBytes("t.yaml", []byte(tt.yaml), lookup(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

// aliasBomb nests merge keys so that naive expansion would visit 10^8
// mappings.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("a0: &a0 {level: info}\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d {<<: [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]}\n")
	}
	b.WriteString("log: *a8\n")
	return b.String()
}

// TestDocsCoverEveryKey keeps docs/config.md in step with the Go types:
// every yaml key of the schema must appear there in backquotes.
func TestDocsCoverEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{"sync_interval": true}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct {
			return
		}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			keys[name] = true
			walk(f.Type)
		}
	}
	walk(reflect.TypeOf(Config{}))
	if len(keys) < 40 {
		t.Fatalf("found only %d keys; is the walk broken?", len(keys))
	}
	for k := range keys {
		if !strings.Contains(string(doc), "`"+k+"`") && !strings.Contains(string(doc), "."+k+"`") && !strings.Contains(string(doc), "`"+k+".") {
			t.Errorf("docs/config.md does not document key %q", k)
		}
	}
}
