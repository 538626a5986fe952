// Package sdk is what a Go plugin for ficus imports: plain interfaces and one
// Serve call. The gRPC protocol behind it (plugins/proto/plugin.proto) is
// hidden; a plugin in another language implements that file instead.
//
//	func main() {
//		sdk.Serve(sdk.Plugins{Transformer: mapper{}})
//	}
//
// A plugin implements any of three interfaces: Transformer (capture
// transforms), Comparator (HTTP answers of shadowed routes) and
// RowComparator (rows of a compare_data entry; RowComparatorFunc turns a
// function into one).
//
// ficus runs the executable as a child process, sends it whole batches and
// supervises it: a call that fails, crashes the process or exceeds its
// timeout is retried (after a restart), so implementations must be
// deterministic. Anything the plugin writes to stderr ends up in ficus's log.
package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"

	plugin "github.com/hashicorp/go-plugin"

	"github.com/ficus-migrate/ficus/plugins/api"
	"github.com/ficus-migrate/ficus/plugins/internal/wire"
)

// The types a plugin works with; see their documentation in plugins/api
// (they are the same types, under these names).
type (
	// Event is one captured change event.
	Event = api.Event
	// Transformer rewrites batches of change events.
	Transformer = api.Transformer
	// Answer is one HTTP answer.
	Answer = api.Answer
	// Pair is one mirrored request with both answers.
	Pair = api.Pair
	// Result is a comparator's outcome for one pair.
	Result = api.Result
	// Verdict says what ficus does with a compared pair.
	Verdict = api.Verdict
	// Comparator normalizes or judges batches of answer pairs.
	Comparator = api.Comparator
	// Value is one canonical column value (Null for SQL NULL).
	Value = api.Value
	// RowPair is one key whose rows ficus found different.
	RowPair = api.RowPair
	// Judgement is a row comparator's answer for one RowPair.
	Judgement = api.Judgement
	// RowComparator judges batches of differing rows of compare_data
	// entries.
	RowComparator = api.RowComparator
)

// RowComparatorFunc is a function serving as a RowComparator.
type RowComparatorFunc func(ctx context.Context, comparison string, legacyColumns, newColumns []string, pairs []RowPair) ([]Judgement, error)

// CompareRows calls f.
func (f RowComparatorFunc) CompareRows(ctx context.Context, comparison string, legacyColumns, newColumns []string,
	pairs []RowPair) ([]Judgement, error) {
	return f(ctx, comparison, legacyColumns, newColumns, pairs)
}

// Verdicts.
const (
	VerdictDiff      = api.VerdictDiff
	VerdictEqual     = api.VerdictEqual
	VerdictDifferent = api.VerdictDifferent
)

// ProtocolVersion is the plugin protocol version this SDK speaks.
const ProtocolVersion = wire.ProtocolVersion

// Plugins lists what a plugin implements; leave the others nil (ficus
// then gets UNIMPLEMENTED for them, and refuses at start a configuration
// that needs them).
type Plugins struct {
	// Transformer serves capture.sources[].transforms.
	Transformer Transformer
	// Comparator serves proxy.routes[].compare.plugin.
	Comparator Comparator
	// RowComparator serves compare_data[].plugin. It is asked only about
	// keys whose canonical values differ after the entry's rules, never
	// with an empty batch.
	RowComparator RowComparator
}

// Serve serves p to ficus and returns when ficus stops the plugin. Run by
// hand (without ficus), it prints a short explanation and exits 1.
func Serve(p Plugins) {
	if p.Transformer == nil && p.Comparator == nil && p.RowComparator == nil {
		fmt.Fprintln(os.Stderr, "ficus plugin: sdk.Serve needs a Transformer, a Comparator or a RowComparator")
		os.Exit(1)
	}
	if os.Getenv("GOGC") == "" {
		// A plugin holds little live data and allocates a whole batch per
		// call, so at the default GOGC it collects every few batches:
		// measured with ficusbench plugins, GOGC=400 cuts the plugin's CPU
		// per event by more than half for a few MB of memory.
		debug.SetGCPercent(400)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake(wire.ProtocolVersion),
		Plugins:         wire.Set(wire.Impls{Transformer: p.Transformer, Comparator: p.Comparator, RowComparator: p.RowComparator}),
		GRPCServer:      wire.NewServer,
	})
}

// Envelope is the decoded JSON payload of an Event. Rows keep the column
// values as raw JSON so a transform changes only what it means to.
type Envelope struct {
	Op     string          `json:"op"`
	Before Row             `json:"before"`
	After  Row             `json:"after"`
	Key    Row             `json:"key"`
	Source json.RawMessage `json:"source"`
	TsMs   int64           `json:"ts_ms"`
}

// Row is one row image: column name to JSON value. Encoding sorts the column
// names, so the same row always encodes to the same bytes.
type Row map[string]json.RawMessage

// Decode parses e.Data.
func Decode(e Event) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(e.Data, &env); err != nil {
		return Envelope{}, fmt.Errorf("event %s: decode envelope: %w", e.ID, err)
	}
	return env, nil
}

// Encode sets e.Data to env's JSON.
func Encode(e *Event, env Envelope) error {
	b, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("event %s: encode envelope: %w", e.ID, err)
	}
	e.Data = b
	return nil
}
