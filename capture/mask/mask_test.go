package mask

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ficus-migrate/ficus/capture"
)

var secret = []byte("0123456789abcdef-test")

func hmacHex(s string) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Spec
		bad  bool
	}{
		{in: "hash", want: Spec{Kind: Hash}},
		{in: "null", want: Spec{Kind: Null}},
		{in: "keep_last:4", want: Spec{Kind: KeepLast, N: 4}},
		{in: "keep_last:0", want: Spec{Kind: KeepLast}},
		{in: "keep_last:", bad: true},
		{in: "keep_last:-1", bad: true},
		{in: "keep_last:99999999", bad: true},
		{in: "keep_last:4x", bad: true},
		{in: "Hash", bad: true},
		{in: "sha256", bad: true},
		{in: "", bad: true},
	} {
		got, err := Parse(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, bad %v", tc.in, got, err, tc.want, tc.bad)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("Parse(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
		in   any
		want any
	}{
		{"hash string", Spec{Kind: Hash}, "ann@example.com", hmacHex("ann@example.com")},
		{"hash number text", Spec{Kind: Hash}, json.Number("42"), hmacHex("42")},
		{"hash bool", Spec{Kind: Hash}, true, hmacHex("true")},
		{"hash json compacted", Spec{Kind: Hash}, json.RawMessage(`{"a": [1, 2]}`), hmacHex(`{"a":[1,2]}`)},
		{"hash null stays null", Spec{Kind: Hash}, nil, nil},
		{"keep_last ascii", Spec{Kind: KeepLast, N: 4}, "4111111111111111", "************1111"},
		{"keep_last unicode", Spec{Kind: KeepLast, N: 2}, "Zoë Ångström 日本", "*************日本"},
		{"keep_last unicode tail", Spec{Kind: KeepLast, N: 3}, "naïve→ö", "****e→ö"},
		{"keep_last shorter than N", Spec{Kind: KeepLast, N: 10}, "short", "short"},
		{"keep_last zero", Spec{Kind: KeepLast}, "abc", "***"},
		{"keep_last number", Spec{Kind: KeepLast, N: 2}, json.Number("12345"), "***45"},
		{"keep_last null", Spec{Kind: KeepLast, N: 2}, nil, nil},
		{"null", Spec{Kind: Null}, "x", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.spec.Value(tc.in, secret)
			if got != tc.want {
				t.Errorf("%v.Value(%#v) = %#v, want %#v", tc.spec, tc.in, got, tc.want)
			}
		})
	}
}

func TestHashDependsOnSecret(t *testing.T) {
	a := Spec{Kind: Hash}.Value("same", secret)
	b := Spec{Kind: Hash}.Value("same", []byte("another-secret-0123"))
	if a == b {
		t.Fatal("two secrets give the same hash")
	}
}

func TestNewRefuses(t *testing.T) {
	for name, cfg := range map[string]Config{
		"hash without secret": {Tables: map[string]Table{"public.t": {Mask: map[string]Spec{"email": {Kind: Hash}}}}},
		"excluded and masked": {Secret: secret, Tables: map[string]Table{"public.t": {
			Exclude: []string{"email"}, Mask: map[string]Spec{"email": {Kind: Null}}}}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	m, err := New(Config{Tables: map[string]Table{"public.t": {}}})
	if err != nil || m != nil {
		t.Errorf("no rules: got %v, %v; want a nil Masker", m, err)
	}
	if err := m.Apply(&capture.Change{}); err != nil {
		t.Errorf("nil Masker: %v", err)
	}
}

func row(kv ...any) capture.Row {
	var r capture.Row
	for i := 0; i < len(kv); i += 2 {
		r = append(r, capture.Field{Name: kv[i].(string), Value: kv[i+1]})
	}
	return r
}

func TestApply(t *testing.T) {
	m, err := New(Config{Secret: secret, Tables: map[string]Table{"public.customers": {
		Exclude: []string{"ssn"},
		Mask:    map[string]Spec{"email": {Kind: Hash}, "card": {Kind: KeepLast, N: 4}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	before := row("email", "old@example.com", "ssn", "078-05-1120", "card", "4111111111111111", "name", "Ann")
	after := row("email", "new@example.com", "ssn", "078-05-1120", "card", "4111111111111111", "name", "Ann")
	key := row("email", "old@example.com")
	c := &capture.Change{Op: capture.OpUpdate, Before: before, After: after, Key: key, ID: "pg:0/16B3748:1",
		Source: capture.SourceMeta{Schema: "public", Table: "customers"}}
	if err := m.Apply(c); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Before, row("email", hmacHex("old@example.com"), "card", "************1111", "name", "Ann"); !same(got, want) {
		t.Errorf("before = %v, want %v", got, want)
	}
	if got, want := c.After, row("email", hmacHex("new@example.com"), "card", "************1111", "name", "Ann"); !same(got, want) {
		t.Errorf("after = %v, want %v", got, want)
	}
	if got, want := c.Key, row("email", hmacHex("old@example.com")); !same(got, want) {
		t.Errorf("key = %v, want %v", got, want)
	}
	if c.ID != "pg:0/16B3748:1" {
		t.Errorf("a streamed change's id changed: %s", c.ID)
	}
	if v, _ := before.Get("ssn"); v != "078-05-1120" {
		t.Error("Apply edited the reader's row in place")
	}
	other := &capture.Change{After: row("ssn", "x"), Source: capture.SourceMeta{Schema: "public", Table: "orders"}}
	if err := m.Apply(other); err != nil || !same(other.After, row("ssn", "x")) {
		t.Errorf("a table without rules changed: %v %v", other.After, err)
	}
}

// TestApplySnapshotID: a snapshot row's id carries a digest of the key and
// of the row; with a masked key both are derived again from the masked
// values, so the id is the same for equal masked rows and never a digest
// of the clear value.
func TestApplySnapshotID(t *testing.T) {
	m, err := New(Config{Secret: secret, Tables: map[string]Table{"public.customers": {
		Exclude: []string{"ssn"}, Mask: map[string]Spec{"email": {Kind: Hash}}}}})
	if err != nil {
		t.Fatal(err)
	}
	snap := func(email, ssn string) *capture.Change {
		after := row("email", email, "ssn", ssn)
		key := row("email", email)
		id, err := capture.SnapshotID("src", "public.customers", key, after, true, 0)
		if err != nil {
			t.Fatal(err)
		}
		return &capture.Change{Op: capture.OpRead, After: after, Key: key, ID: id,
			Source: capture.SourceMeta{Schema: "public", Table: "customers", Snapshot: true}}
	}
	a, b := snap("ann@example.com", "1"), snap("ann@example.com", "2")
	clearID := a.ID
	for _, c := range []*capture.Change{a, b} {
		if err := m.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	want, err := capture.SnapshotID("src", "public.customers", a.Key, a.After, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != want || a.ID == clearID {
		t.Errorf("masked snapshot id %s, want %s (clear %s)", a.ID, want, clearID)
	}
	if a.ID != b.ID {
		t.Errorf("rows equal after masking got ids %s and %s", a.ID, b.ID)
	}
	if !strings.HasPrefix(a.ID, "src:snap:public.customers:") {
		t.Errorf("id %s lost its prefix", a.ID)
	}
}

func same(a, b capture.Row) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// FuzzParse: Parse never panics, and what it accepts spells back the same.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"hash", "null", "keep_last:4", "keep_last:", "keep_last:-0", "keep_last:65537"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(spec.String())
		if err != nil || again != spec {
			t.Fatalf("%q parses as %+v, which spells %q and reads back as %+v, %v", s, spec, spec.String(), again, err)
		}
		_ = spec.Value("x", secret)
	})
}

func TestExcluded(t *testing.T) {
	m, err := New(Config{Tables: map[string]Table{"s.t": {Exclude: []string{"ssn"}, Mask: map[string]Spec{"name": {Kind: Null}}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		m             *Masker
		table, column string
		want          bool
	}{
		{m, "s.t", "ssn", true},
		{m, "s.t", "name", false}, // masked, not left out
		{m, "s.t", "id", false},
		{m, "s.other", "ssn", false},
		{nil, "s.t", "ssn", false},
	} {
		if got := c.m.Excluded(c.table, c.column); got != c.want {
			t.Errorf("Excluded(%s, %s) = %v, want %v", c.table, c.column, got, c.want)
		}
	}
}
