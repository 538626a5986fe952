// Package recording writes sampled exchanges of the proxy's routes to the
// JetStream stream FICUS_TRAFFIC, one JSON Exchange per message on
// ficus.traffic.<route>, redacted by the shadow rules before anything
// leaves the process, for `ficus replay` (package replay) to send again.
//
// The Recorder is an upstream hook like the shadow mirror: it tees bounded
// copies of the request and of the answer the client gets, queues them
// (bounded in items and bytes: a full queue drops and counts, never blocks
// a client) and redacts, encodes and publishes them on its own goroutine.
package recording

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/bus"
)

// Stream and subjects of the recorded exchanges.
const (
	StreamName    = "FICUS_TRAFFIC"
	SubjectPrefix = "ficus.traffic."
)

// Subject is the subject a route's exchanges are published on.
func Subject(route string) string { return SubjectPrefix + route }

// SummaryPrefix starts the subjects, on the same stream, of the summaries
// `ficus replay` publishes after a replay from the stream (the dashboard
// shows each route's last).
const SummaryPrefix = "ficus.replay."

// SummarySubject is the subject of a route's replay summaries.
func SummarySubject(route string) string { return SummaryPrefix + route }

// Hashed is Exchange.Redaction: secrets are hashed by shadow/redact with
// the installation's key (the value record.Hashed has for shadow records).
const Hashed = "hmac-sha256"

// Exchange is one recorded request and the answer the client got. It is
// the JSON document stored on FICUS_TRAFFIC and in `ficus replay export`
// files.
type Exchange struct {
	// Time is when the request reached the proxy.
	Time time.Time `json:"time"`
	// Instance identifies the recording ficus process; Seq orders its
	// records (1, 2, ...) as the requests arrived.
	Instance string `json:"instance"`
	Seq      uint64 `json:"seq"`
	Route    string `json:"route"`
	Method   string `json:"method"`
	// Path is the client's path and query, secret parameters redacted.
	Path string `json:"path"`
	// Served is the side that answered: "legacy" or "new".
	Served string `json:"served"`
	// Sticky is the keyed hash of the route's sticky value (a user), empty
	// without one: replay keeps one user's requests in order by it.
	Sticky        string      `json:"sticky,omitempty"`
	RequestHeader http.Header `json:"request_header,omitempty"`
	RequestBody   Body        `json:"request_body,omitzero"`
	Answer        Answer      `json:"answer"`
	Redaction     string      `json:"redaction"`
}

// Answer is the recorded answer.
type Answer struct {
	Status int         `json:"status"`
	Header http.Header `json:"header,omitempty"`
	Body   Body        `json:"body,omitzero"`
	// Size is the full body size in bytes; SHA256 the hex digest of the
	// full body as it was sent (compared when Body is truncated).
	Size      int64   `json:"size"`
	SHA256    string  `json:"sha256,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
}

// Body is a recorded body: text as it is, other bytes in base64.
type Body struct {
	Text      string `json:"text,omitempty"`
	Base64    string `json:"base64,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
}

func textBody(s string, truncated bool) Body {
	if utf8.ValidString(s) {
		return Body{Text: s, Truncated: truncated}
	}
	return Body{Base64: base64.StdEncoding.EncodeToString([]byte(s)), Truncated: truncated}
}

// Bytes returns the body's bytes.
func (b Body) Bytes() []byte {
	if b.Base64 != "" {
		if raw, err := base64.StdEncoding.DecodeString(b.Base64); err == nil {
			return raw
		}
	}
	return []byte(b.Text)
}

// Unsafe reports whether the method may change state on the server: such
// requests are replayed only when writes are allowed.
func Unsafe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// EnsureStream creates FICUS_TRAFFIC or updates its limits, with three
// replicas where NATS is a cluster that can hold them, else with one.
// maxAge 0 keeps records forever; maxBytes <= 0 sets no size cap.
func EnsureStream(ctx context.Context, js jetstream.JetStream, maxAge time.Duration, maxBytes int64) error {
	if maxBytes <= 0 {
		maxBytes = -1
	}
	sc := jetstream.StreamConfig{
		Name:     StreamName,
		Subjects: []string{SubjectPrefix + ">", SummaryPrefix + ">"},
		Storage:  jetstream.FileStorage,
		MaxAge:   maxAge,
		MaxBytes: maxBytes,
		Discard:  jetstream.DiscardOld,
	}
	if err := bus.CreateOrUpdateStream(ctx, js, sc); err != nil {
		return fmt.Errorf("create or update stream %s: %w", StreamName, err)
	}
	return nil
}
