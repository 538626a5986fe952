package mysql

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/sink"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

// parseMySQL8 reads the fixture binlogs with one go-mysql parser, as the
// syncer reads a dump: flavour mysql, CRC32 verified, the stream's value
// decoding settings.
func parseMySQL8(t *testing.T) (events []*replication.BinlogEvent, files []string) {
	t.Helper()
	var cfg replication.BinlogSyncerConfig
	setDecoding(&cfg)
	p := replication.NewBinlogParser()
	p.SetFlavor(FlavorMySQL)
	p.SetVerifyChecksum(true)
	p.SetUseDecimal(cfg.UseDecimal)
	p.SetParseTime(cfg.ParseTime)
	p.SetTimestampStringLocation(cfg.TimestampStringLocation)
	for _, name := range []string{"binlog.000001", "binlog.000002"} {
		err := p.ParseFile(filepath.Join(mysql8Dir, name), 0, func(ev *replication.BinlogEvent) error {
			events = append(events, ev)
			files = append(files, name)
			return nil
		})
		if err != nil {
			t.Fatalf("go-mysql rejects %s: %v", name, err)
		}
	}
	return events, files
}

// mysql8Streamer is the live stream's decoder without the server: the
// Source is never run, the sink is real (JetStream on a throwaway server).
func mysql8Streamer(ctx context.Context, t *testing.T) (*streamer, jetstream.JetStream) {
	t.Helper()
	nc := testenv.MustStartNATS(t).Connect(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	src, err := New(Config{Name: "legacy", DSN: "ficus:s3cret@tcp(127.0.0.1:1)/shop", ServerID: 4242,
		NATS: nc, Tables: []string{"shop.items"}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sink.New(ctx, sink.Config{Conn: nc, Source: "legacy", Metrics: src.metrics, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	gtids, err := newGTIDSet(FlavorMySQL, fixtureStart)
	if err != nil {
		t.Fatal(err)
	}
	st := &streamer{s: src, srv: server{flavor: FlavorMySQL, version: "8.0.36", gtid: true, serverID: 1},
		sink: pub, gtids: gtids, tables: map[uint64]*tableInfo{}, jsonCols: map[string]map[string]bool{}}
	return st, pub.JetStream()
}

const (
	uuidA = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	uuidB = "4e11fa47-71ca-11e1-9e33-c80aa9429562"
)

// TestMySQL8Binlog pushes the MySQL 8.0 fixture events through the stream's
// event handler and checks the checkpoints after every event and the
// published messages (exactly, against mysql8/stream.golden).
func TestMySQL8Binlog(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, files := parseMySQL8(t)
	st, js := mysql8Streamer(ctx, t)

	// A dump starts with an artificial ROTATE naming the file it reads.
	start := &replication.BinlogEvent{
		Header: &replication.EventHeader{EventType: replication.ROTATE_EVENT, ServerID: 1, Flags: 0x20},
		Event:  &replication.RotateEvent{Position: 4, NextLogName: []byte("binlog.000001")},
	}
	if err := st.handle(ctx, start); err != nil {
		t.Fatal(err)
	}

	wantCheckpoints := []Position{
		{Flavor: FlavorMySQL, File: "binlog.000001", GTID: uuidA + ":1-42," + uuidB + ":1-6"},
		{Flavor: FlavorMySQL, File: "binlog.000001", GTID: uuidA + ":1-43," + uuidB + ":1-6"},
		{Flavor: FlavorMySQL, File: "binlog.000001", GTID: uuidA + ":1-44," + uuidB + ":1-6"},
		{Flavor: FlavorMySQL, File: "binlog.000001", GTID: uuidA + ":1-44," + uuidB + ":1-7"},
		{Flavor: FlavorMySQL, File: "binlog.000002", GTID: uuidA + ":1-45," + uuidB + ":1-7"},
	}
	var transcript strings.Builder
	var durable capture.Position
	var gtidEv *replication.GTIDEvent
	var gtidStart uint32
	ended := 0
	for i, ev := range events {
		h := ev.Header
		if err := st.handle(ctx, ev); err != nil {
			t.Fatalf("event %d (%s at %s:%d): %v", i, h.EventType, files[i], h.LogPos-h.EventSize, err)
		}
		if err := st.sink.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got := st.sink.Durable()
		endsTx := false
		switch e := ev.Event.(type) {
		case *replication.GTIDEvent:
			gtidEv, gtidStart = e, h.LogPos-h.EventSize
		case *replication.XIDEvent:
			endsTx = true
		case *replication.QueryEvent:
			endsTx = string(e.Query) != "BEGIN"
		case *replication.PreviousGTIDsEvent:
			// The server's own executed set at the file's start is what
			// the stream tracked up to there.
			if durable != nil && e.GTIDSets != durable.(Position).GTID {
				t.Errorf("%s: previous GTIDs %s, tracked %s", files[i], e.GTIDSets, durable.(Position).GTID)
			}
		}
		if endsTx {
			if gtidEv == nil || uint64(h.LogPos-gtidStart) != gtidEv.TransactionLength {
				t.Errorf("%s:%d: transaction length %v, want %d", files[i], h.LogPos, gtidEv, h.LogPos-gtidStart)
			}
			if ended >= len(wantCheckpoints) {
				t.Fatalf("unexpected transaction end at %s:%d", files[i], h.LogPos)
			}
			want := wantCheckpoints[ended]
			want.Pos = h.LogPos
			ended++
			if got != want {
				t.Errorf("after %s at %s:%d checkpoint %v, want %v", h.EventType, files[i], h.LogPos, got, want)
			}
			b, err := want.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if back, err := ParsePosition(b); err != nil || back != want {
				t.Errorf("checkpoint round trip %s: %v, %v", b, back, err)
			}
		} else if got != durable {
			t.Errorf("%s inside a transaction at %s:%d moved the checkpoint to %v", h.EventType, files[i], h.LogPos, got)
		}
		durable = got
		fmt.Fprintf(&transcript, "%s:%d-%d server %d %s%s\n  checkpoint %v\n",
			files[i], h.LogPos-h.EventSize, h.LogPos, h.ServerID, h.EventType, describe(ev.Event), got)
	}
	if ended != len(wantCheckpoints) {
		t.Errorf("%d transactions ended, want %d", ended, len(wantCheckpoints))
	}

	msgs := readStream(ctx, t, js, 7)
	wantIDs := []string{"legacy:" + uuidA + ":42:0", "legacy:" + uuidA + ":43:0", "legacy:" + uuidA + ":43:1",
		"legacy:" + uuidA + ":44:0", "legacy:" + uuidA + ":44:1", "legacy:" + uuidB + ":7:0", "legacy:" + uuidA + ":45:0"}
	wantTypes := []string{"ddl", "create", "create", "update", "delete", "create", "delete"}
	for i, m := range msgs {
		if id := m.Header.Get(jetstream.MsgIDHeader); i < len(wantIDs) && id != wantIDs[i] {
			t.Errorf("message %d id %s, want %s", i, id, wantIDs[i])
		}
		if typ := m.Header.Get("ce-type"); i < len(wantTypes) && typ != "io.ficus.cdc."+wantTypes[i] {
			t.Errorf("message %d type %s, want %s", i, typ, wantTypes[i])
		}
		fmt.Fprintf(&transcript, "\n%s %s %s\n%s\n", m.Subject, m.Header.Get(jetstream.MsgIDHeader),
			m.Header.Get("ce-type"), processedAt.ReplaceAll(m.Data, []byte("}")))
	}
	golden(t, filepath.Join(mysql8Dir, "stream.golden"), transcript.String())
}

// processedAt is the envelope's last field, when ficus handled the change.
var processedAt = regexp.MustCompile(`,"ts_ms":[0-9]+}$`)

func readStream(ctx context.Context, t *testing.T, js jetstream.JetStream, n int) []*jetstream.RawStreamMsg {
	t.Helper()
	s, err := js.Stream(ctx, sink.StreamName("legacy"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(n) {
		t.Errorf("stream holds %d messages, want %d", info.State.Msgs, n)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

// describe is what go-mysql decoded from an event, for the transcript.
func describe(e replication.Event) string {
	switch e := e.(type) {
	case *replication.FormatDescriptionEvent:
		return fmt.Sprintf(" v%d %q checksum %d, %d post-header lengths", e.Version, e.ServerVersion,
			e.ChecksumAlgorithm, len(e.EventTypeHeaderLengths))
	case *replication.PreviousGTIDsEvent:
		return " " + e.GTIDSets
	case *replication.GTIDEvent:
		return fmt.Sprintf(" %s flags %d last_committed %d sequence %d commit %d/%d length %d version %d/%d",
			mysqlGTID(e.SID, e.Tag.String(), e.GNO), e.CommitFlag, e.LastCommitted, e.SequenceNumber,
			e.ImmediateCommitTimestamp, e.OriginalCommitTimestamp, e.TransactionLength,
			e.ImmediateServerVersion, e.OriginalServerVersion)
	case *replication.QueryEvent:
		return fmt.Sprintf(" schema %s status %x\n  %s", e.Schema, e.StatusVars, e.Query)
	case *replication.TableMapEvent:
		return fmt.Sprintf(" %d %s.%s columns %v\n  unsigned %v collations %v enums %v sets %v pk %v visible %v",
			e.TableID, e.Schema, e.Table, e.ColumnNameString(), e.UnsignedMap(), e.CollationMap(),
			e.EnumStrValueMap(), e.SetStrValueMap(), e.PrimaryKey, e.VisibilityMap())
	case *replication.RowsEvent:
		return fmt.Sprintf(" table %d flags %d rows %v", e.TableID, e.Flags, e.Rows)
	case *replication.XIDEvent:
		return fmt.Sprintf(" xid %d", e.XID)
	case *replication.RotateEvent:
		return fmt.Sprintf(" %s:%d", e.NextLogName, e.Position)
	}
	return fmt.Sprintf(" %T", e)
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to generate)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update and review the diff):\n%s", path, got)
	}
}
