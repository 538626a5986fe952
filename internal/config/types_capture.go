package config

import (
	"strings"
	"time"
)

// Capture configures change data capture into JetStream.
type Capture struct {
	// SubjectPrefix is the first tokens of every CDC subject. It must be a
	// valid NATS subject: dot-separated non-empty tokens without spaces,
	// '*' or '>'. Default: ficus.cdc.
	SubjectPrefix string `yaml:"subject_prefix"`
	// Stream configures the JetStream stream created for each source.
	Stream Stream `yaml:"stream"`
	// Standby configures the lease that lets two or more capture processes
	// with the same sources run as a hot standby.
	Standby Standby `yaml:"standby"`
	// MaskSecret keys the hash mask of capture.sources[].tables[].columns
	// (HMAC-SHA256); a secret, written "${FICUS_MASK_SECRET}", at least 16
	// characters. Required when a column is masked with hash. Every
	// process whose streams are joined must use the same secret.
	MaskSecret Secret `yaml:"mask_secret,omitempty"`
	// Sources are the databases to capture from.
	Sources []Source `yaml:"sources,omitempty"`
}

// Stream configures the JetStream streams holding change events.
type Stream struct {
	// Replicas is the number of stream replicas, 1 to 5. Default: 1.
	Replicas int `yaml:"replicas"`
	// MaxAge discards events older than this duration; 0 keeps them
	// forever. Default: 0.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxBytes caps the stream size in bytes (an integer or a size such as
	// "512MB" or "1GiB"); -1 means unlimited. Default: -1.
	MaxBytes int64 `yaml:"max_bytes"`
	// DuplicateWindow is the JetStream de-duplication window; it must be at
	// least 10m so that a restarted capture does not publish an event twice,
	// and no longer than MaxAge when MaxAge is set. Default: 10m.
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
}

// Standby configures the per-source lease of capture processes: every
// process capturing a source takes part; the one holding the source's lease
// streams it, the others wait and take over when it stops renewing.
type Standby struct {
	// LeaseTTL is how long a holder that stopped renewing (killed, cut off
	// from NATS) keeps a source: a standby takes over between LeaseTTL and
	// 1.25 × LeaseTTL after the last renewal, and the holder itself stops
	// streaming at LeaseTTL/2. Between 1s and 5m. Default: 5s.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
}

// Bounds and default of capture.standby.lease_ttl.
const (
	MinLeaseTTL     = time.Second
	MaxLeaseTTL     = 5 * time.Minute
	DefaultLeaseTTL = 5 * time.Second
)

// MinDuplicateWindow is the smallest accepted capture.stream.duplicate_window.
const MinDuplicateWindow = 10 * time.Minute

// SourceType is "postgres" or "mysql".
type SourceType string

// Source types.
const (
	SourcePostgres SourceType = "postgres"
	SourceMySQL    SourceType = "mysql"
)

// SnapshotMode says whether existing rows are published before streaming.
type SnapshotMode string

// Snapshot modes.
const (
	// SnapshotInitial publishes the existing rows once, before streaming
	// changes, when the source has no saved position yet.
	SnapshotInitial SnapshotMode = "initial"
	// SnapshotNever streams only changes made from now on.
	SnapshotNever SnapshotMode = "never"
)

// Source is one database to capture changes from.
type Source struct {
	// Name identifies the source in subjects, stream names and metrics.
	// Required, unique, matching [a-z0-9_-]+.
	Name string `yaml:"name"`
	// Type is postgres or mysql. Required.
	Type SourceType `yaml:"type"`
	// DSN is the connection string; a secret, usually ${SOME_VAR}.
	// postgres: a postgres:// or postgresql:// URL. mysql: the
	// go-sql-driver form user:password@tcp(host:port)/db. Required.
	// The password is masked whenever the config is printed.
	DSN DSN `yaml:"dsn"`
	// Tables limits capture to these tables, each "schema.table" (for mysql
	// the schema is the database), optionally with a subject override (see
	// Table). Empty captures every table.
	Tables []Table `yaml:"tables,omitempty"`
	// Slot is the logical replication slot name (postgres only), matching
	// [a-z0-9_]{1,63}. Default: ficus_<name> with '-' replaced by '_'.
	// Use SlotName for the effective value.
	Slot string `yaml:"slot,omitempty"`
	// Publication is the publication name (postgres only), same rules and
	// default as Slot. Use PublicationName for the effective value.
	Publication string `yaml:"publication,omitempty"`
	// Snapshot is initial or never. Default: initial.
	Snapshot SnapshotMode `yaml:"snapshot"`
	// ServerID is the replica server id ficus announces to MySQL (mysql
	// only). Required for mysql, 1 to 4294967295, unique among mysql
	// sources and distinct from every real replica's server_id.
	ServerID uint32 `yaml:"server_id,omitempty"`
	// Transforms names plugins (from plugins) applied to this source's
	// events in batches, in order, before they are published. Optional.
	Transforms []string `yaml:"transforms,omitempty"`
	// DecimalHandling is how decimals (numeric, money, DECIMAL) are
	// published: string (default, exact) or number (JSON numbers, which
	// consumers parsing doubles read with about 15 significant digits).
	DecimalHandling DecimalHandling `yaml:"decimal_handling,omitempty"`
	// Tinyint1Handling is how TINYINT(1), which BOOLEAN is, is published
	// (mysql only): number (default) or boolean.
	Tinyint1Handling Tinyint1Handling `yaml:"tinyint1_handling,omitempty"`
	// SignalTable is the table ficus writes backfill watermarks to
	// (`ficus capture backfill`, capture/backfill), "schema.table" or a
	// bare name (postgres: in schema public; mysql: in the DSN's
	// database). ficus creates it on the first backfill; it is never
	// captured. Default: ficus_signal. Use SignalTableName.
	SignalTable string `yaml:"signal_table,omitempty"`
}

// SignalTableName returns the backfill signal table: SignalTable, or its
// default.
func (s Source) SignalTableName() string {
	if s.SignalTable != "" {
		return s.SignalTable
	}
	return "ficus_signal"
}

// DecimalHandling is capture.sources[].decimal_handling.
type DecimalHandling string

// Decimal handling modes.
const (
	DecimalString DecimalHandling = "string"
	DecimalNumber DecimalHandling = "number"
)

// Tinyint1Handling is capture.sources[].tinyint1_handling.
type Tinyint1Handling string

// TINYINT(1) handling modes.
const (
	Tinyint1Number  Tinyint1Handling = "number"
	Tinyint1Boolean Tinyint1Handling = "boolean"
)

// SlotName returns the replication slot to use: Slot, or its default.
func (s Source) SlotName() string {
	if s.Slot != "" {
		return s.Slot
	}
	return defaultPGName(s.Name)
}

// PublicationName returns the publication to use: Publication, or its
// default.
func (s Source) PublicationName() string {
	if s.Publication != "" {
		return s.Publication
	}
	return defaultPGName(s.Name)
}

// StreamName returns the JetStream stream name for the source.
func (s Source) StreamName() string { return StreamName(s) }

// StreamName returns the JetStream stream name for src: "FICUS_CDC_" and the
// upper-cased source name with every character outside [A-Z0-9_] replaced
// by '_'.
func StreamName(src Source) string {
	return "FICUS_CDC_" + strings.Map(func(r rune) rune {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '_' {
			return r
		}
		return '_'
	}, strings.ToUpper(src.Name))
}

// SplitTable splits Table.Table, or any other "schema.table" without
// quotes, at its first dot.
func SplitTable(t string) (schema, table string) {
	schema, table, _ = strings.Cut(t, ".")
	return schema, table
}

// defaultPGName is "ficus_" + name with '-' replaced by '_'; names are
// validated as [a-z0-9_-]+ so the result is a valid slot name when short
// enough (validation checks the length).
func defaultPGName(name string) string {
	return "ficus_" + strings.ReplaceAll(name, "-", "_")
}

func defaultCapture() Capture {
	return Capture{
		SubjectPrefix: "ficus.cdc",
		Stream: Stream{
			Replicas:        1,
			MaxBytes:        -1,
			DuplicateWindow: MinDuplicateWindow,
		},
		Standby: Standby{LeaseTTL: DefaultLeaseTTL},
	}
}

func defaultSource() Source {
	return Source{Snapshot: SnapshotInitial}
}
