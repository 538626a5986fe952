// Package record writes shadow mismatches to the JetStream stream
// FICUS_SHADOW, one JSON Mismatch per message on ficus.shadow.<route>, with
// secrets redacted before anything leaves the process.
package record

import (
	"net/http"
	"time"

	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
)

// Stream and subjects of the mismatch records.
const (
	StreamName    = "FICUS_SHADOW"
	SubjectPrefix = "ficus.shadow."
)

// Subject is the subject a route's mismatches are published on.
func Subject(route string) string { return SubjectPrefix + route }

// Mismatch is one shadowed request whose answers differed for real. It is
// the JSON document stored on FICUS_SHADOW and read by `ficus report`.
type Mismatch struct {
	Time time.Time `json:"time"`
	// Instance identifies the ficus process (random per start) and Started
	// is when it started: Counts are running totals of that process.
	Instance string    `json:"instance"`
	Started  time.Time `json:"started"`
	Route    string    `json:"route"`
	Method   string    `json:"method"`
	// Path is the client's path and query, secret parameters redacted.
	Path string `json:"path"`
	// Served is the side that answered the client: "legacy" or "new".
	Served        string      `json:"served"`
	RequestHeader http.Header `json:"request_header,omitempty"`
	// RequestBody is the mirrored request body (capped, redacted).
	RequestBody string `json:"request_body,omitempty"`
	Legacy      Answer `json:"legacy"`
	New         Answer `json:"new"`
	// Diffs are the real differences; Noise the differences that legacy
	// also shows against itself often enough to be noise.
	Diffs     []diff.Diff `json:"diffs"`
	Noise     []diff.Diff `json:"noise,omitempty"`
	Signature string      `json:"signature"`
	Counts    Counts      `json:"counts"`
	// Redaction says how secrets were written down: Hashed ("hmac-sha256",
	// see shadow/redact) or, in records of ficus versions before it, empty
	// (Recheck redacts those again when they are read).
	Redaction string `json:"redaction,omitempty"`
}

// Answer is one side's answer as recorded.
type Answer struct {
	Status int         `json:"status"`
	Header http.Header `json:"header,omitempty"`
	// Body is the start of the body (capped, redacted); BodyTruncated says
	// whether it was cut. Size is the full body size in bytes.
	Body          string  `json:"body,omitempty"`
	BodyTruncated bool    `json:"body_truncated,omitempty"`
	Size          int64   `json:"size"`
	LatencyMS     float64 `json:"latency_ms"`
}

// Counts are the route's running totals in the recording process when the
// record was written; `ficus report` derives the share of traffic from them.
type Counts struct {
	Compared   uint64 `json:"compared"`
	Matched    uint64 `json:"matched"`
	Mismatched uint64 `json:"mismatched"`
}
