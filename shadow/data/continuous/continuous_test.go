package continuous

import (
	"fmt"
	"testing"
	"time"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// TestCanonicalEventValues: the same logical value, as the MariaDB and the
// PostgreSQL capture encode it in their events (docs/capture-*.md), has one
// canonical text, which is also what reconcile computes in SQL (see
// shadow/data/reconcile TestTypes for the SQL side of the same texts).
func TestCanonicalEventValues(t *testing.T) {
	cases := []struct {
		name        string
		kind        canon.Kind
		mariadb, pg string // raw JSON values in the envelopes
		want        string
		equal       bool
	}{
		{"decimal trailing zeros", canon.KindDecimal, `"12.50"`, `"12.5"`, "12.5", true},
		{"decimal vs integer", canon.KindDecimal, `"7.00"`, `7`, "7", true},
		{"decimal differs", canon.KindDecimal, `"12.50"`, `"12.501"`, "12.5", false},
		{"datetime vs timestamptz", canon.KindTimestamp, `"2024-03-01T10:00:00.123456"`, `"2024-03-01T10:00:00.123456Z"`, "2024-03-01 10:00:00.123456", true},
		{"datetime(0) vs timestamp", canon.KindTimestamp, `"2024-03-01T10:00:00"`, `"2024-03-01 10:00:00"`, "2024-03-01 10:00:00.000000", true},
		{"timestamp utc vs pg zone-less", canon.KindTimestamp, `"2024-03-01T10:00:00.500000Z"`, `"2024-03-01 10:00:00.5"`, "2024-03-01 10:00:00.500000", true},
		{"trimmed fractions (docs/capture-types.md)", canon.KindTimestamp, `"2024-03-01T10:00:00.5Z"`, `"2024-03-01T10:00:00.5"`, "2024-03-01 10:00:00.500000", true},
		{"whole second, no fraction", canon.KindTimestamp, `"2024-03-01T10:00:00Z"`, `"2024-03-01T10:00:00"`, "2024-03-01 10:00:00.000000", true},
		{"decimal_handling number", canon.KindDecimal, `12.50`, `"12.5"`, "12.5", true},
		{"money as decimal", canon.KindDecimal, `"-1234.50"`, `"-1234.5"`, "-1234.5", true},
		{"bit strings", canon.KindText, `"0000000101"`, `"0000000101"`, "0000000101", true},
		{"hstore object vs json text", canon.KindText, `{"a":"1"}`, `{"a":"1"}`, `{"a":"1"}`, true},
		{"one microsecond apart", canon.KindTimestamp, `"2024-03-01T10:00:00.000001"`, `"2024-03-01T10:00:00Z"`, "2024-03-01 10:00:00.000001", false},
		{"json structural", canon.KindJSON, `{"b":1,"a":[1,2.50]}`, `{"a": [1, 2.5], "b": 1}`, `{"a":[1,2.5],"b":1}`, true},
		{"json as text", canon.KindJSON, `"{\"a\": 1}"`, `{"a":1}`, `{"a":1}`, true},
		{"json differs", canon.KindJSON, `{"a":1}`, `{"a":2}`, `{"a":1}`, false},
		{"enum vs text", canon.KindText, `"PAID"`, `"PAID"`, "PAID", true},
		{"tinyint(1) vs boolean", canon.KindBool, `1`, `true`, "1", true},
		{"big integer as string", canon.KindInteger, `"9007199254740993"`, `"9007199254740993"`, "9007199254740993", true},
		{"date", canon.KindDate, `"2024-02-29"`, `"2024-02-29"`, "2024-02-29", true},
		{"null vs empty", canon.KindText, `null`, `""`, "NULL", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := canonical(c.kind, []byte(c.mariadb))
			if err != nil {
				t.Fatal(err)
			}
			n, err := canonical(c.kind, []byte(c.pg))
			if err != nil {
				t.Fatal(err)
			}
			if l.String() != c.want {
				t.Errorf("legacy %q, want %q", l, c.want)
			}
			if (l == n) != c.equal {
				t.Errorf("legacy %q, new %q: equal %v, want %v", l, n, l == n, c.equal)
			}
		})
	}
}

func TestDecodeAppliesRules(t *testing.T) {
	side := &Side{Key: "id", Columns: []string{"status", "amount"},
		Rules: []canon.Rule{{Map: map[string]string{"NEW": "created"}}, {Scale: "100"}}}
	kinds := []canon.Kind{canon.KindText, canon.KindDecimal}
	ev := `{"op":"u","before":null,"after":{"id":7,"status":"NEW","amount":"12.34","other":1},"key":{"id":7},"source":{"ts_ms":1700000000000}}`
	c, err := decode([]byte(ev), side, kinds, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.key != "7" || c.deleted || c.atMs != 1700000000000 || c.values[0].Text != "created" || c.values[1].Text != "1234" {
		t.Errorf("decoded %+v", c)
	}
	del := `{"op":"d","before":{"id":"9007199254740993","status":"NEW","amount":"1"},"after":null,"key":{"id":"9007199254740993"},"source":{"ts_ms":1}}`
	if c, err = decode([]byte(del), side, kinds, nil); err != nil || !c.deleted || c.key != "9007199254740993" {
		t.Errorf("delete decoded %+v, %v", c, err)
	}
	moved := `{"op":"u","before":{"id":5,"status":"NEW","amount":"1"},"after":{"id":6,"status":"NEW","amount":"1"},"key":{"id":6},"source":{"ts_ms":1}}`
	if c, err = decode([]byte(moved), side, kinds, nil); err != nil || c.key != "6" || c.movedFrom == nil || *c.movedFrom != "5" {
		t.Errorf("key change decoded %+v, %v", c, err)
	}
	if c, err := decode([]byte(`{"op":"t","key":null,"source":{"ts_ms":7}}`), side, kinds, nil); err != nil || !c.truncate || c.atMs != 7 {
		t.Errorf("truncate decoded %+v, %v", c, err)
	}
	if _, err := decode([]byte(`{"op":"m","source":{}}`), side, kinds, nil); err != errSkip {
		t.Errorf("unknown op: %v, want errSkip", err)
	}
	if _, err := decode([]byte(`{"op":"c","after":{"status":"x"},"key":{}}`), side, kinds, nil); err == nil {
		t.Error("an event without the key column must be refused")
	}
}

func TestVerdict(t *testing.T) {
	v := func(s ...string) []*string {
		out := make([]*string, len(s))
		for i := range s {
			out[i] = &s[i]
		}
		return out
	}
	present := func(vals ...string) sideState { return sideState{Seen: true, Values: v(vals...)} }
	deleted := sideState{Seen: true, Deleted: true}
	cases := []struct {
		name string
		l, n sideState
		want string
		cols string
	}{
		{"equal", present("a", "1"), present("a", "1"), statusMatch, "[]"},
		{"never on new", present("a", "1"), sideState{}, KindMissingInNew, "[]"},
		{"never on legacy", sideState{}, present("a"), KindMissingInLegacy, "[]"},
		{"deleted in new only", present("a"), deleted, KindDeletedOneSide, "[]"},
		{"deleted in legacy only", deleted, present("a"), KindDeletedOneSide, "[]"},
		{"deleted on both", deleted, deleted, statusMatch, "[]"},
		{"deleted before new saw it", deleted, sideState{}, statusMatch, "[]"},
		{"second column differs", present("a", "1"), present("a", "2"), KindDiffers, "[1]"},
		{"null vs value", sideState{Seen: true, Values: []*string{nil}}, present(""), KindDiffers, "[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, cols := verdict(&keyState{Legacy: c.l, New: c.n})
			if got != c.want || fmt.Sprint(append([]int{}, cols...)) != c.cols {
				t.Errorf("verdict %s %v, want %s %s", got, cols, c.want, c.cols)
			}
		})
	}
}

func TestPendingSetIsBoundedAndOrdered(t *testing.T) {
	p := newPendingSet(3)
	t0 := time.Unix(1000, 0)
	for i, k := range []Key{"1", "2", "3"} {
		if !p.add(k, t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("add %s refused", k)
		}
	}
	if p.add("4", t0) {
		t.Error("a fourth key was accepted by a set of 3")
	}
	p.remove("2")
	if got := p.due(t0.Add(1500 * time.Millisecond)); fmt.Sprint(got) != "[1]" {
		t.Errorf("due at +1.5s: %v, want [1] (2 was removed)", got)
	}
	if !p.add("5", t0.Add(5*time.Second)) {
		t.Error("room freed by due and remove was not reused")
	}
	if got := p.due(t0.Add(time.Hour)); fmt.Sprint(got) != "[3 5]" || p.len() != 0 {
		t.Errorf("due at +1h: %v (len %d), want [3 5]", got, p.len())
	}
}

func TestDecodeTupleKey(t *testing.T) {
	side := &Side{KeyColumns: []string{"id", "line"}, Columns: []string{"v"}}
	keyKinds := []canon.Kind{canon.KindUUID, canon.KindInteger}
	kinds := []canon.Kind{canon.KindText}
	cases := []struct {
		name, ev, want, moved string
	}{
		{"uuid text upper case", `{"op":"c","after":{"id":"0CC175B9-C0F1-B6A8-31C3-99E269772661","line":7,"v":"x"},"source":{}}`,
			`["0cc175b9-c0f1-b6a8-31c3-99e269772661","7"]`, ""},
		{"binary(16) as base64", `{"op":"c","after":{"id":"DMF1ucDxtqgxw5niaXcmYQ==","line":"007","v":"x"},"source":{}}`,
			`["0cc175b9-c0f1-b6a8-31c3-99e269772661","7"]`, ""},
		{"key change", `{"op":"u","before":{"id":"0cc175b9-c0f1-b6a8-31c3-99e269772661","line":6,"v":"x"},"after":{"id":"0cc175b9-c0f1-b6a8-31c3-99e269772661","line":7,"v":"x"},"source":{}}`,
			`["0cc175b9-c0f1-b6a8-31c3-99e269772661","7"]`, `["0cc175b9-c0f1-b6a8-31c3-99e269772661","6"]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch, err := decode([]byte(c.ev), side, kinds, keyKinds)
			if err != nil || string(ch.key) != c.want {
				t.Fatalf("key %s, %v; want %s", ch.key, err, c.want)
			}
			if got := ""; ch.movedFrom != nil {
				got = string(*ch.movedFrom)
				if got != c.moved {
					t.Errorf("moved from %s, want %s", got, c.moved)
				}
			} else if c.moved != "" {
				t.Errorf("not moved, want from %s", c.moved)
			}
			name := ch.key.bucketKey()
			if back, ok := keyOfBucket(name); !ok || back != ch.key {
				t.Errorf("bucket key %q reads back as %q", name, back)
			}
		})
	}
	if _, err := decode([]byte(`{"op":"c","after":{"id":null,"line":1,"v":"x"},"source":{}}`), side, kinds, keyKinds); err == nil {
		t.Error("a NULL key column must be refused")
	}
	if _, err := decode([]byte(`{"op":"c","after":{"id":"not-a-uuid","line":1,"v":"x"},"source":{}}`), side, kinds, keyKinds); err == nil {
		t.Error("a key that is not a UUID must be refused")
	}
}
