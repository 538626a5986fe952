package capture

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// refRow and refEnvelope are the reflection-based encoding the hand-written
// encoder replaced: its output must stay byte for byte identical.
type refRow []Field

func (r refRow) MarshalJSON() ([]byte, error) {
	if r == nil {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range r {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.Name)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.Value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

type refEnvelope struct {
	Op     Op         `json:"op"`
	Before refRow     `json:"before"`
	After  refRow     `json:"after"`
	Key    refRow     `json:"key"`
	Source SourceMeta `json:"source"`
	TsMs   int64      `json:"ts_ms"`
}

func refEncode(c *Change) ([]byte, error) {
	return json.Marshal(refEnvelope{Op: c.Op, Before: refRow(c.Before), After: refRow(c.After), Key: refRow(c.Key),
		Source: c.Source, TsMs: c.Time.UnixMilli()})
}

func TestEnvelopeMatchesEncodingJSON(t *testing.T) {
	values := []struct {
		name string
		v    any
		bad  bool // both encoders must refuse it
	}{
		{"nil", nil, false},
		{"bools", []any{true, false}, false},
		{"plain string", "hello world", false},
		{"html and quotes", `<a href="x">&amp;</a> \ back`, false},
		{"controls", "a\x00b\x01\x1f\b\f\n\r\t\x7f", false},
		{"unicode", "héllo wörld ✓ 日本 😀", false},
		{"line separators", "a\u2028b\u2029c", false},
		{"invalid utf8", "ok\xffbad\xc3(end\xe2\x82", false},
		{"empty string", "", false},
		{"numbers", []any{json.Number("0"), json.Number("-12"), json.Number("3.25"), json.Number("1e-7"), json.Number("-0.5E+10")}, false},
		{"empty number", json.Number(""), false},
		{"bad number", json.Number("12abc"), true},
		{"bad number dot", json.Number("1."), true},
		{"bad number leading zero", json.Number("012"), true},
		{"raw json", json.RawMessage(`{"k": [1, 2, {"s": "a b\t<c> & \"q\" \\"}], "e": {}, "n": null}`), false},
		{"raw json whitespace", json.RawMessage(" \n\t[ 1 ,\r\n 2 ] "), false},
		{"raw json separators", json.RawMessage(`"x` + "\u2028\u2029" + `y"`), false},
		{"raw nil", json.RawMessage(nil), false},
		{"raw invalid", json.RawMessage(`{"a":`), true},
		{"nested arrays", []any{[]any{"a", nil, json.Number("1")}, []any{}, "z"}, false},
		{"nil array", []any(nil), false},
		{"fallback int", 42, false},
		{"fallback float", 1.5, false},
		{"fallback time", time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC), false},
		{"unencodable", func() {}, true},
	}
	for _, tc := range values {
		t.Run(tc.name, func(t *testing.T) {
			c := &Change{Op: OpCreate,
				After:  Row{{Name: "id", Value: json.Number("7")}, {Name: "col<&>\u2028", Value: tc.v}},
				Key:    Row{{Name: "id", Value: json.Number("7")}},
				Source: SourceMeta{Connector: "postgresql", Name: "n", Schema: "public", Table: "t"},
				Time:   time.UnixMilli(1700000000123)}
			want, wantErr := refEncode(c)
			got, err := c.Envelope()
			if tc.bad {
				if err == nil || wantErr == nil {
					t.Fatalf("want both to fail: hand-written err=%v, encoding/json err=%v, got %s", err, wantErr, got)
				}
				return
			}
			if err != nil || wantErr != nil {
				t.Fatalf("hand-written err=%v, encoding/json err=%v", err, wantErr)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("envelope differs from encoding/json:\n got %s\nwant %s", got, want)
			}
			rowJSON, err := json.Marshal(c.After)
			wantRow, _ := json.Marshal(refRow(c.After))
			if err != nil || !bytes.Equal(rowJSON, wantRow) {
				t.Errorf("Row via json.Marshal: %s (err %v), want %s", rowJSON, err, wantRow)
			}
		})
	}
}

// TestSourceMetaMatchesTags fails when a field is added to SourceMeta
// without teaching the hand-written encoder about it.
func TestSourceMetaMatchesTags(t *testing.T) {
	rt := reflect.TypeFor[SourceMeta]()
	// Every field set, no field set, and each field set alone.
	cases := []SourceMeta{fill(-1), {}}
	for i := 0; i < rt.NumField(); i++ {
		cases = append(cases, fill(i))
	}
	for _, s := range cases {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.appendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("source block differs from its json tags:\n got %s\nwant %s", got, want)
		}
	}
}

// fill sets field i (every field for -1) of a SourceMeta to a non-zero value.
func fill(i int) SourceMeta {
	var s SourceMeta
	v := reflect.ValueOf(&s).Elem()
	for j := 0; j < v.NumField(); j++ {
		if i >= 0 && j != i {
			continue
		}
		f := v.Field(j)
		switch f.Kind() {
		case reflect.String:
			f.SetString("v<" + v.Type().Field(j).Name + ">")
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f.SetInt(int64(-j - 1))
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(uint64(j + 1))
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"a", "b&"}))
		default:
			panic("SourceMeta field of unhandled kind " + f.Kind().String() + ": extend fill")
		}
	}
	return s
}

// TestStringsMatchEncodingJSON throws random bytes, biased towards the
// characters that need escaping, at both encoders.
func TestStringsMatchEncodingJSON(t *testing.T) {
	alphabet := []string{"a", "Z", " ", "\"", "\\", "<", ">", "&", "\x00", "\x1f", "\x7f", "\n", "é", "\u2028", "\u2029",
		"😀", "\xff", "\xe2\x80", "\xe2", "\xc3", "{", "}", "[", "]", ":", ","}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		var b []byte
		for n := rng.IntN(12); n > 0; n-- {
			b = append(b, alphabet[rng.IntN(len(alphabet))]...)
		}
		s := string(b)
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("string %q:\n got %s\nwant %s", s, got, want)
		}
		// The same bytes as a JSON string literal inside raw JSON.
		raw := json.RawMessage(`[` + string(want) + `, ` + string(appendString(nil, s)) + ` ]`)
		wantRaw, err1 := json.Marshal(raw)
		gotRaw, err2 := appendCompact(nil, raw)
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(gotRaw, wantRaw) {
			t.Fatalf("raw %s:\n got %s (%v)\nwant %s (%v)", raw, gotRaw, err2, wantRaw, err1)
		}
	}
}

func BenchmarkEnvelope(b *testing.B) {
	c := &Change{Op: OpCreate,
		After: Row{{Name: "id", Value: json.Number("123456")}, {Name: "customer_id", Value: json.Number("4242")},
			{Name: "amount", Value: "1234.56"}, {Name: "status", Value: "shipped"},
			{Name: "payload", Value: json.RawMessage(`{"qty": 3, "sku": "SKU-1234", "gift": false, "note": "202cb962ac59075b964b07152d234b70", "tags": ["web", "promo-3"]}`)},
			{Name: "created_at", Value: "2024-01-12T13:46:40.000000Z"}},
		Key: Row{{Name: "id", Value: json.Number("123456")}},
		Source: SourceMeta{Connector: "postgresql", Name: "bench", DB: "ficus", Schema: "public", Table: "orders",
			LSN: "0/16B3748", TxID: 1234, CommitLSN: "0/16B3800", TsMs: 1700000000000},
		Time: time.UnixMilli(1700000000123)}
	b.Run("hand-written", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Envelope(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := refEncode(c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
