package postgres

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

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

// Decimal handling modes (capture.sources[].decimal_handling).
const (
	DecimalString = "string"
	DecimalNumber = "number"
)

// Config configures one PostgreSQL source. Zero values take the defaults noted.
type Config struct {
	Name        string   // [a-z0-9_-]+, required
	DSN         string   // required; a role with REPLICATION (or superuser)
	Tables      []string // "schema.table"; empty = all tables (publication FOR ALL TABLES)
	Slot        string   // default ficus_<name>
	Publication string   // default ficus_<name>
	Snapshot    string   // initial (default) | never
	// DecimalHandling is how numeric and money are published: string
	// (default, exact) or number (JSON numbers; a consumer parsing them as
	// doubles loses digits beyond about 15).
	DecimalHandling string

	SubjectPrefix string // default ficus.cdc
	Stream        sink.StreamConfig
	NATS          *nats.Conn // required; owned by the caller
	// CheckpointBucket is the KV bucket holding snapshot state (default ficus_checkpoints).
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
	// Backfill, when set, runs backfills while streaming (capture/backfill);
	// SignalTable is where their watermarks are written
	// (capture.sources[].signal_table; "schema.table" or a name in public,
	// default public.ficus_signal). ficus creates it on the first backfill.
	Backfill    *backfill.Manager
	SignalTable string

	SnapshotChunkSize int           // rows per keyset page (default 5000)
	StatusInterval    time.Duration // standby status updates (default 1s: a short replay after a crash)
	HeartbeatInterval time.Duration // pg_logical_emit_message on idle DBs (default 30s; <0 disables)
	RetryMin          time.Duration // Run backoff (default 500ms)
	RetryMax          time.Duration // (default 30s)

	Logger     *slog.Logger
	Registerer prometheus.Registerer // metrics; nil = not registered
}

var nameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)

func (c *Config) setDefaults() error {
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("source name %q: must match [a-z0-9_-]+", c.Name)
	}
	if c.DSN == "" {
		return fmt.Errorf("source %q: dsn is required", c.Name)
	}
	if c.NATS == nil {
		return fmt.Errorf("source %q: NATS connection is required", c.Name)
	}
	ident := strings.ReplaceAll(c.Name, "-", "_")
	if c.Slot == "" {
		c.Slot = "ficus_" + ident
	}
	if c.Publication == "" {
		c.Publication = "ficus_" + ident
	}
	if !slotRE.MatchString(c.Slot) {
		return fmt.Errorf("source %q: slot name %q must match [a-z0-9_]{1,63}", c.Name, c.Slot)
	}
	switch c.Snapshot {
	case "":
		c.Snapshot = SnapshotInitial
	case SnapshotInitial, SnapshotNever:
	default:
		return fmt.Errorf("source %q: snapshot %q: want initial or never", c.Name, c.Snapshot)
	}
	switch c.DecimalHandling {
	case "":
		c.DecimalHandling = DecimalString
	case DecimalString, DecimalNumber:
	default:
		return fmt.Errorf("source %q: decimal_handling %q: want string or number", c.Name, c.DecimalHandling)
	}
	for _, t := range c.Tables {
		if _, _, err := splitTable(t); err != nil {
			return fmt.Errorf("source %q: %w", c.Name, err)
		}
	}
	if c.SignalTable == "" {
		c.SignalTable = backfill.DefaultSignalTable
	}
	if !strings.Contains(c.SignalTable, ".") {
		c.SignalTable = "public." + c.SignalTable
	}
	if _, _, err := splitTable(c.SignalTable); err != nil {
		return fmt.Errorf("source %q: signal_table: %w", c.Name, err)
	}
	if slices.Contains(c.Tables, c.SignalTable) {
		return fmt.Errorf("source %q: signal_table %s is also a captured table", c.Name, c.SignalTable)
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
	if c.StatusInterval <= 0 {
		c.StatusInterval = time.Second
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 30 * time.Second
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
	return nil
}

// Slot names are limited by PostgreSQL to lower case letters, digits and _.
var slotRE = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// splitTable splits a Tables entry at its first dot: the schema never
// holds a dot (the config refuses one), the table may ("public.a.b").
func splitTable(t string) (schema, table string, err error) {
	schema, table, ok := strings.Cut(t, ".")
	if !ok || schema == "" || table == "" {
		return "", "", errors.New("table " + fmt.Sprintf("%q", t) + ": want schema.table")
	}
	return schema, table, nil
}
