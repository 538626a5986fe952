package postgres

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
)

func TestAppendLSNMatchesPglogrepl(t *testing.T) {
	for _, l := range []pglogrepl.LSN{0, 1, 0x16B3748, 0xFFFFFFFF, 0x1_00000000, 0xABCDEF01_23456789, ^pglogrepl.LSN(0)} {
		if got, want := string(appendLSN(nil, l)), l.String(); got != want {
			t.Errorf("appendLSN(%d) = %s, want %s", uint64(l), got, want)
		}
	}
}

// TestFastTimestamptzMatchesParse compares the fast path with the general
// one on PostgreSQL's own output forms, and checks it declines the others.
func TestFastTimestamptzMatchesParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		ts := time.Unix(rng.Int64N(253402300799), 0).UTC() // years 1970-9999
		us := rng.IntN(1_000_000)
		var s string
		switch i % 3 {
		case 0:
			s = ts.Format("2006-01-02 15:04:05") + "+00"
		default:
			// PostgreSQL drops trailing zeros of the fraction.
			s = ts.Add(time.Duration(us)*time.Microsecond).Format("2006-01-02 15:04:05.999999") + "+00"
		}
		got, ok := fastTimestamptz([]byte(s))
		if !ok {
			t.Fatalf("%q: fast path declined", s)
		}
		if want := timestamptz(s); got != want {
			t.Fatalf("%q: fast %q, general %q", s, got, want)
		}
	}
	for _, s := range []string{"infinity", "-infinity", "2024-01-01 00:00:00+05:30", "2024-01-01 00:00:00+01",
		"0044-03-15 12:00:00+00 BC", "12024-01-01 00:00:00+00", "2024-01-01 00:00:00.+00", "2024-01-01 00:00:00.1234567+00",
		"2024-13-01 00:00:00+00", "2024-01-01T00:00:00+00", "2024-01-01 24:00:00+00", "", "+00"} {
		if v, ok := fastTimestamptz([]byte(s)); ok {
			t.Errorf("%q: fast path accepted it as %q", s, v)
		}
	}
}

func TestDecodeRowMessages(t *testing.T) {
	text := func(s string) []byte {
		b := []byte{'t', 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[1:], uint32(len(s)))
		return append(b, s...)
	}
	tuple := func(cols ...[]byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(len(cols)))
		for _, c := range cols {
			b = append(b, c...)
		}
		return b
	}
	rel := []byte{0, 0, 0x40, 0x01}
	insert := append(append(append([]byte{'I'}, rel...), 'N'), tuple(text("1"), []byte{'n'}, []byte{'u'}, text("héllo"))...)
	update := append(append(append(append(append([]byte{'U'}, rel...), 'O'), tuple(text("1"), text("old"))...), 'N'), tuple(text("1"), text("new"))...)
	del := append(append(append([]byte{'D'}, rel...), 'K'), tuple(text("7"), []byte{'n'})...)

	var m rowMsg
	if err := m.decode(insert); err != nil {
		t.Fatal(err)
	}
	if m.relID != 0x4001 || m.oldKind != 0 || !m.hasNew || len(m.new) != 4 || string(m.new[3].data) != "héllo" ||
		m.new[1].kind != 'n' || m.new[2].kind != 'u' {
		t.Errorf("insert decoded as %+v", m)
	}
	if err := m.decode(update); err != nil {
		t.Fatal(err)
	}
	if m.oldKind != 'O' || string(m.old[1].data) != "old" || string(m.new[1].data) != "new" {
		t.Errorf("update decoded as %+v", m)
	}
	if err := m.decode(del); err != nil {
		t.Fatal(err)
	}
	if m.oldKind != 'K' || m.hasNew || string(m.old[0].data) != "7" {
		t.Errorf("delete decoded as %+v", m)
	}
	// Every truncation and a wrong length must be an error, never a panic.
	for _, msg := range [][]byte{insert, update, del} {
		for n := 1; n < len(msg); n++ {
			if err := m.decode(msg[:n]); err == nil {
				t.Errorf("%c message cut to %d bytes: no error", msg[0], n)
			}
		}
	}
	bad := append([]byte(nil), insert...)
	bad[len(bad)-len("héllo")-1] = 0xFF // length byte of the last column
	if err := m.decode(bad); err == nil {
		t.Error("oversized column length: no error")
	}
	if err := m.decode(append(append([]byte(nil), insert...), 0)); err == nil {
		t.Error("trailing byte: no error")
	}
}
