// Package config defines the ficus configuration file (ficus.yaml) and its
// strict loader.
//
// The doc comments on the types in this file are the user documentation of
// every key: docs/config.md is written from them. The loader walks the YAML
// node tree itself (instead of using yaml.v3's decoder) so that every problem
// is reported with file, line, column and a dotted key path, and so that all
// problems are reported at once.
package config

import (
	"log/slog"
	"time"
)

// Config is the whole ficus.yaml file. Use Load or LoadBytes to obtain one;
// the zero value is not valid (Default returns the all-defaults config).
type Config struct {
	// Log configures ficus' own log output.
	Log Log `yaml:"log"`
	// NATS says how ficus reaches NATS JetStream, or how it runs its embedded
	// NATS server when no URL is given.
	NATS NATS `yaml:"nats"`
	// Admin is the admin HTTP listener (metrics, health, control).
	Admin Admin `yaml:"admin"`
	// Proxy is the HTTP proxy that diverts routes from the legacy system to
	// the new one. The whole section is optional; see Proxy.Enabled.
	Proxy Proxy `yaml:"proxy"`
	// Capture is change data capture from databases into JetStream.
	Capture Capture `yaml:"capture"`
	// Shadow configures the worker pool and the records of shadow traffic
	// (routes opt in with proxy.routes[].shadow).
	Shadow Shadow `yaml:"shadow"`
	// CompareData are the dual-run data comparisons between a legacy and a
	// new table (see CompareData).
	CompareData []CompareData `yaml:"compare_data,omitempty"`
	// Plugins are the executables ficus runs for custom transforms and
	// comparators (see Plugin).
	Plugins []Plugin `yaml:"plugins,omitempty"`
	// DataDir is the directory of ficus's own local files, created if
	// missing: route-state.json, the route state (weights, rollout phase,
	// manual flags) this process last applied, rewritten atomically on every
	// change. A process that starts while NATS is unreachable serves from it
	// instead of the config file's weights. Give each process its own.
	// Default: ./ficus-data.
	DataDir string `yaml:"data_dir"`

	// file is the path the config was loaded from, kept so that later
	// operations (reload, relative paths in messages) can refer to it.
	file string
	// warnings are what Warnings returns.
	warnings Errors
}

// Path returns the file name the config was loaded from, exactly as it was
// given to Load or LoadBytes. It is empty for Default().
func (c *Config) Path() string { return c.file }

// LogLevel is one of "debug", "info", "warn", "error".
type LogLevel string

// Log levels.
const (
	LevelDebug LogLevel = "debug"
	LevelInfo  LogLevel = "info"
	LevelWarn  LogLevel = "warn"
	LevelError LogLevel = "error"
)

// Slog returns the slog level for l; unknown values map to slog.LevelInfo.
func (l LogLevel) Slog() slog.Level {
	switch l {
	case LevelDebug:
		return slog.LevelDebug
	case LevelWarn:
		return slog.LevelWarn
	case LevelError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// LogFormat is "text" or "json".
type LogFormat string

// Log formats.
const (
	FormatText LogFormat = "text"
	FormatJSON LogFormat = "json"
)

// Log configures logging.
type Log struct {
	// Level is the minimum level logged: debug, info, warn or error.
	// Default: info.
	Level LogLevel `yaml:"level"`
	// Format is the log line format: text (logfmt-like) or json.
	// Default: text.
	Format LogFormat `yaml:"format"`
}

// NATS configures the NATS connection.
type NATS struct {
	// URL is the NATS server URL, or several of them: either a string
	// (comma-separated URLs allowed) or a list of strings. Schemes nats://,
	// tls://, ws:// and wss:// are accepted; a bare host:port means nats://.
	// Empty (the default) runs an embedded NATS server instead, see Embedded.
	// Passwords inside URLs are masked whenever the config is printed.
	URLs []DSN `yaml:"url,omitempty"`
	// Credentials is the path of a NATS .creds file (JWT + nkey seed) used to
	// authenticate. Optional.
	Credentials string `yaml:"credentials,omitempty"`
	// TLS configures TLS towards the NATS server. Optional.
	TLS TLS `yaml:"tls,omitempty"`
	// Name is the NATS connection name shown in server monitoring.
	// Default: ficus.
	Name string `yaml:"name"`
	// Embedded configures the embedded NATS server, used only when URL is
	// empty.
	Embedded Embedded `yaml:"embedded"`
}

// UseEmbedded reports whether ficus should run its embedded NATS server,
// which it does when no URL is configured.
func (n NATS) UseEmbedded() bool { return len(n.URLs) == 0 }

// TLS holds the paths of PEM files for a TLS client.
type TLS struct {
	// CA is the path of a PEM bundle of CAs to trust instead of the system
	// pool. Optional.
	CA string `yaml:"ca,omitempty"`
	// Cert is the path of the PEM client certificate; requires Key.
	Cert string `yaml:"cert,omitempty"`
	// Key is the path of the PEM client private key; requires Cert.
	Key string `yaml:"key,omitempty"`
}

// Embedded configures the embedded NATS server with JetStream.
type Embedded struct {
	// Listen is the host:port the embedded server's client port binds to.
	// Port 0 or -1 picks a free port. Default: 127.0.0.1:4222.
	Listen string `yaml:"listen"`
	// StoreDir is the JetStream storage directory, created if missing.
	// Default: ./ficus-data/nats.
	StoreDir string `yaml:"store_dir"`
	// SyncInterval is how often JetStream fsyncs its files, a duration such
	// as "2m". The YAML key sync_interval also accepts the word "always"
	// (fsync after every write), which sets SyncAlways instead.
	// Default: 1s (see docs/capture-postgres.md, "Durability": ficus confirms a
	// database position only after JetStream has fsynced it, so a short
	// interval keeps confirmation, and the database's retained WAL, close behind).
	SyncInterval time.Duration `yaml:"-"`
	// SyncAlways is true when sync_interval is "always".
	SyncAlways bool `yaml:"-"`
	// Auth replaces the generated credentials with configured users and
	// permissions (see EmbeddedAuth). The server always requires one of them.
	Auth EmbeddedAuth `yaml:"auth,omitempty"`
	// TLS serves TLS on the client port (see EmbeddedTLS). Optional.
	TLS EmbeddedTLS `yaml:"tls,omitempty"`
}

// Admin configures the admin HTTP listener.
type Admin struct {
	// Listen is the host:port of the admin HTTP server. Port 0 picks a free
	// port. Default: 127.0.0.1:9901.
	Listen string `yaml:"listen"`
	// Token, when set, is the bearer token required by the admin API. It is
	// a secret: write it as ${FICUS_ADMIN_TOKEN} rather than in the file.
	// It is never printed. It is required when Listen is not loopback
	// (127.0.0.0/8, ::1 or localhost): without it anyone who reaches the
	// listener could change routes. An empty expansion counts as no token.
	Token Secret `yaml:"token,omitempty"`
	// AllowedHosts are further names the admin listener answers as, each a
	// host (any port) or host:port: the name of an ingress or DNS alias in
	// front of it. Requests whose Host header is none of these, the listen
	// address, localhost, 127.0.0.1 or [::1] are refused (DNS rebinding).
	AllowedHosts []string `yaml:"allowed_hosts,omitempty"`
}

// Default returns the configuration of an empty file: every default applied.
func Default() *Config {
	return &Config{
		Log:     Log{Level: LevelInfo, Format: FormatText},
		DataDir: "./ficus-data",
		NATS: NATS{
			Name: "ficus",
			Embedded: Embedded{
				Listen:       "127.0.0.1:4222",
				StoreDir:     "./ficus-data/nats",
				SyncInterval: time.Second,
			},
		},
		Admin:   Admin{Listen: "127.0.0.1:9901"},
		Proxy:   defaultProxy(),
		Capture: defaultCapture(),
		Shadow:  defaultShadow(),
	}
}
