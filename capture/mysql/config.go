package mysql

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/backfill"
	"github.com/ficus-migrate/ficus/capture/mask"
	"github.com/ficus-migrate/ficus/capture/sink"
)

// Snapshot modes.
const (
	SnapshotInitial = "initial"
	SnapshotNever   = "never"
)

// Value handling modes (capture.sources[].decimal_handling and
// tinyint1_handling).
const (
	DecimalString   = "string"
	DecimalNumber   = "number"
	Tinyint1Number  = "number"
	Tinyint1Boolean = "boolean"
)

// Config configures one MySQL/MariaDB source. Zero values take the defaults noted.
type Config struct {
	Name     string   // [a-z0-9_-]+, required
	DSN      string   // user:pass@tcp(host:port)/db, required; db is required
	ServerID uint32   // replica server id announced to the server, required, unique among replicas
	Tables   []string // "db.table"; empty = every table of the DSN's database
	Snapshot string   // initial (default) | never

	SubjectPrefix string // default ficus.cdc
	Stream        sink.StreamConfig
	NATS          *nats.Conn // required; owned by the caller
	// CheckpointBucket is the KV bucket holding the position (default ficus_checkpoints).
	CheckpointBucket string
	MaxPending       int           // in-flight publishes (default 4096)
	AckTimeout       time.Duration // per publish (default 10s)
	// ConfirmDelay: see jetstream.Config.ConfirmDelay.
	ConfirmDelay time.Duration
	// Transform rewrites events in batches before they are published
	// (capture.sources[].transforms); nil publishes them as captured.
	Transform sink.Transformer
	// Confirmed, when set, is kept up to date with the last position
	// confirmed (the admin API shows it); optional.
	Confirmed *capture.Confirmed
	// Subjects overrides the subject token of some tables, by their Tables
	// entry (capture.sources[].tables[].subject); see sink.Config.Subjects.
	Subjects map[string]string
	// Mask leaves out and masks columns before anything is published
	// (capture.sources[].tables[].columns); nil publishes rows whole.
	Mask *mask.Masker
	// DecimalHandling is how DECIMAL is published: string (default, exact)
	// or number (JSON numbers; a consumer parsing them as doubles loses
	// digits beyond about 15).
	DecimalHandling string
	// Tinyint1Handling is how TINYINT(1) (BOOLEAN) is published: number
	// (default, the stored value) or boolean (0 false, anything else true).
	Tinyint1Handling string
	// Backfill, when set, runs backfills while streaming (capture/backfill);
	// SignalTable is where their watermarks are written
	// (capture.sources[].signal_table; "db.table" or a name in the DSN's
	// database, default ficus_signal). ficus creates it on the first
	// backfill.
	Backfill    *backfill.Manager
	SignalTable string

	SnapshotChunkSize  int           // rows per keyset page (default 5000)
	CheckpointInterval time.Duration // how often the durable position is saved (default 1s)
	HeartbeatPeriod    time.Duration // binlog heartbeat from the server when idle (default 5s)
	RetryMin           time.Duration // Run backoff (default 500ms)
	RetryMax           time.Duration // (default 30s)

	Logger     *slog.Logger
	Registerer prometheus.Registerer // metrics; nil = not registered
}

var nameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)

// conn is the parsed DSN. The password is kept out of every message.
type conn struct {
	sql      *driver.Config
	host     string
	port     uint16
	database string
}

func (c *Config) setDefaults() (*conn, error) {
	if !nameRE.MatchString(c.Name) {
		return nil, fmt.Errorf("source name %q: must match [a-z0-9_-]+", c.Name)
	}
	if c.DSN == "" {
		return nil, fmt.Errorf("source %q: dsn is required", c.Name)
	}
	if c.NATS == nil {
		return nil, fmt.Errorf("source %q: NATS connection is required", c.Name)
	}
	if c.ServerID == 0 {
		return nil, fmt.Errorf("source %q: server_id is required (1 to 4294967295, unique among the server's replicas)", c.Name)
	}
	cn, err := parseDSN(c.DSN)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", c.Name, err)
	}
	switch c.Snapshot {
	case "":
		c.Snapshot = SnapshotInitial
	case SnapshotInitial, SnapshotNever:
	default:
		return nil, fmt.Errorf("source %q: snapshot %q: want initial or never", c.Name, c.Snapshot)
	}
	switch c.DecimalHandling {
	case "":
		c.DecimalHandling = DecimalString
	case DecimalString, DecimalNumber:
	default:
		return nil, fmt.Errorf("source %q: decimal_handling %q: want string or number", c.Name, c.DecimalHandling)
	}
	switch c.Tinyint1Handling {
	case "":
		c.Tinyint1Handling = Tinyint1Number
	case Tinyint1Number, Tinyint1Boolean:
	default:
		return nil, fmt.Errorf("source %q: tinyint1_handling %q: want number or boolean", c.Name, c.Tinyint1Handling)
	}
	for _, t := range c.Tables {
		if _, _, err := splitTable(t); err != nil {
			return nil, fmt.Errorf("source %q: %w", c.Name, err)
		}
	}
	if c.SignalTable == "" {
		c.SignalTable = backfill.DefaultSignalTable
	}
	if !strings.Contains(c.SignalTable, ".") {
		c.SignalTable = cn.database + "." + c.SignalTable
	}
	if slices.Contains(c.Tables, c.SignalTable) {
		return nil, fmt.Errorf("source %q: signal_table %s is also a captured table", c.Name, c.SignalTable)
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = sink.DefaultSubjectPrefix
	}
	if c.CheckpointBucket == "" {
		c.CheckpointBucket = sink.DefaultCheckpointStore
	}
	if c.SnapshotChunkSize <= 0 {
		c.SnapshotChunkSize = 5000
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = time.Second
	}
	if c.HeartbeatPeriod <= 0 {
		c.HeartbeatPeriod = 5 * time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 500 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return cn, nil
}

func parseDSN(dsn string) (*conn, error) {
	dc, err := driver.ParseDSN(dsn)
	if err != nil {
		// The parse error may quote the DSN, password included: do not wrap it.
		return nil, errors.New("invalid dsn: want user:password@tcp(host:port)/database")
	}
	if dc.Net != "tcp" {
		return nil, fmt.Errorf("dsn: protocol %q: want tcp(host:port), the binlog connection needs TCP", dc.Net)
	}
	if dc.DBName == "" {
		return nil, errors.New("dsn: a database is required (user:password@tcp(host:port)/database)")
	}
	host, portStr, err := net.SplitHostPort(dc.Addr)
	if err != nil {
		host, portStr = dc.Addr, "3306"
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("dsn: port %q: %w", portStr, err)
	}
	// Text values in one format whatever the server's defaults: UTC
	// timestamps, utf8mb4 text, no driver-side conversion.
	dc.ParseTime = false
	dc.InterpolateParams = true
	if dc.Params == nil {
		dc.Params = map[string]string{}
	}
	dc.Params["time_zone"] = "'+00:00'"
	dc.Collation = "utf8mb4_general_ci"
	return &conn{sql: dc, host: host, port: uint16(port), database: dc.DBName}, nil
}

// splitTable splits a Tables entry at its first dot: the schema never
// holds a dot (the config refuses one), the table may ("public.a.b").
func splitTable(t string) (db, table string, err error) {
	db, table, ok := strings.Cut(t, ".")
	if !ok || db == "" || table == "" {
		return "", "", fmt.Errorf("table %q: want db.table", t)
	}
	return db, table, nil
}
