package sink

import (
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/subject"
)

// Per-event strings and headers of Publish, built once rather than per event.

// newReusedMsg is the message Publish refills for every event; the values
// set here are the same for all of them.
func newReusedMsg(source, stream string) nats.Msg {
	h := nats.Header{}
	for _, k := range []string{jetstream.MsgIDHeader, "ce-id", "ce-type", "ce-time", "ce-subject"} {
		h[k] = make([]string, 1)
	}
	h["ce-specversion"] = []string{"1.0"}
	h["ce-source"] = []string{"/ficus/" + source}
	h["content-type"] = []string{"application/json"}
	h[jetstream.ExpectedStreamHeader] = []string{stream}
	return nats.Msg{Header: h, Data: make([]byte, 0, 1024)}
}

// ceType is "io.ficus.cdc." + op.Name(), without a concatenation per event.
func ceType(op capture.Op) string {
	switch op {
	case capture.OpCreate:
		return "io.ficus.cdc.create"
	case capture.OpUpdate:
		return "io.ficus.cdc.update"
	case capture.OpDelete:
		return "io.ficus.cdc.delete"
	case capture.OpRead:
		return "io.ficus.cdc.read"
	}
	return "io.ficus.cdc." + op.Name()
}

// tableNames are the per-table strings of Publish, built once per table.
type tableNames struct{ subject, ceSubject string }

type tableKey struct{ schema, table string }

func (s *Sink) table(schema, table string) tableNames {
	k := tableKey{schema, table}
	if t, ok := s.tables[k]; ok {
		return t
	}
	t := tableNames{
		subject:   subject.Table(s.cfg.SubjectPrefix, s.cfg.Source, schema, table, s.cfg.Subjects[schema+"."+table]),
		ceSubject: schema + "." + table,
	}
	if strings.ContainsFunc(t.ceSubject, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		// A header value cannot hold a line break: such names (legal in
		// PostgreSQL when quoted) go in their subject-token form.
		t.ceSubject = subject.Token(schema) + "." + subject.Token(table)
	}
	if len(s.tables) > 10000 {
		clear(s.tables) // bound memory for sources with ever-new table names
	}
	s.tables[k] = t
	return t
}
