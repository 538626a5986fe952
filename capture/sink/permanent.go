package sink

import (
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture"
)

// JetStream error codes of a publish (or of creating the source's stream)
// that the same request gets again however often it is retried.
const (
	jsMessageExceedsMaximum = 10054 // the stream's max_msg_size
	jsStreamNotMatch        = 10060 // the subject is stored by another stream
	jsSubjectOverlap        = 10065 // another stream already holds the source's subjects
)

// classify marks err permanent when retrying cannot help: the same event
// (it is published again from the same durable position, byte for byte) would
// fail the same way forever, stalling every table of the source behind it.
// Such an error stops the source instead, so that it shows on /readyz, GET
// /api/capture and ficus_capture_failed rather than as a silent retry loop.
//
// Everything else stays transient: a timeout, a lost connection, "no
// responders" (JetStream restarting or electing a leader; the stream is
// created again when the source restarts), a full or failing store.
func classify(err error) error {
	if err == nil || capture.IsPermanent(err) {
		return err
	}
	if errors.Is(err, nats.ErrBadSubject) || errors.Is(err, nats.ErrMaxPayload) {
		return capture.Permanent(err)
	}
	var api *jetstream.APIError
	if !errors.As(err, &api) {
		var jse jetstream.JetStreamError
		if errors.As(err, &jse) {
			api = jse.APIError()
		}
	}
	if api != nil {
		switch api.ErrorCode {
		case jsMessageExceedsMaximum, jsStreamNotMatch, jsSubjectOverlap:
			return capture.Permanent(err)
		}
	}
	return err
}

// tableOf is " (table schema.table)" for an error message, or "" for a
// message that is not a row change.
func tableOf(c *capture.Change) string {
	if c == nil || c.Source.Table == "" {
		return ""
	}
	return " (table " + c.Source.Schema + "." + c.Source.Table + ")"
}
