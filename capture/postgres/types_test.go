package postgres

import (
	"encoding/json"
	"testing"
)

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// typeCases is the value mapping contract: PostgreSQL type, SQL literal, and
// the exact JSON published for it, by the snapshot and by the stream alike
// (TestConformance/Types).
var typeCases = []struct {
	typ, literal, want string
}{
	{"boolean", "true", `true`},
	{"boolean", "false", `false`},
	{"smallint", "-32768", `-32768`},
	{"integer", "2147483647", `2147483647`},
	{"bigint", "9007199254740992", `9007199254740992`},
	{"bigint", "-9007199254740992", `-9007199254740992`},
	{"bigint", "9007199254740993", `"9007199254740993"`},
	{"bigint", "-9223372036854775808", `"-9223372036854775808"`},
	{"numeric", "12345678901234567890.000100", `"12345678901234567890.000100"`},
	{"numeric(5,2)", "-1.5", `"-1.50"`},
	{"numeric", "'NaN'", `"NaN"`},
	{"real", "1.5", `1.5`},
	{"double precision", "0.1", `0.1`},
	{"double precision", "1e100", `1e+100`},
	{"double precision", "'NaN'", `"NaN"`},
	{"double precision", "'Infinity'", `"Infinity"`},
	{"real", "'-Infinity'", `"-Infinity"`},
	{"timestamptz", "'2024-01-02 03:04:05.123456+02'", `"2024-01-02T01:04:05.123456Z"`},
	{"timestamptz", "'2024-01-02 03:04:05+00'", `"2024-01-02T03:04:05.000000Z"`},
	{"timestamptz", "'infinity'", `"infinity"`},
	{"timestamp", "'2024-01-02 03:04:05.5'", `"2024-01-02 03:04:05.5"`},
	{"date", "'2024-02-29'", `"2024-02-29"`},
	{"time", "'13:14:15.000001'", `"13:14:15.000001"`},
	{"interval", "'1 year 2 months 3 days 04:05:06'", `"P1Y2M3DT4H5M6S"`},
	{"uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
	{"inet", "'192.168.0.1/24'", `"192.168.0.1/24"`},
	{"mood", "'happy'", `"happy"`},
	{"text", `'he said "hi" é'`, `"he said \"hi\" é"`},
	{"char(3)", "'ab'", `"ab "`},
	{"json", `'{"a": [1, 2]}'`, `{"a":[1,2]}`},
	{"jsonb", `'{"b": 1, "a": "x"}'`, `{"a":"x","b":1}`},
	{"bytea", `'\x00ff10'`, `"AP8Q"`},
	{"integer[]", "'{1,2,NULL}'", `[1,2,null]`},
	{"integer[]", "'{{1,2},{3,4}}'", `[[1,2],[3,4]]`},
	{"text[]", `'{"a b","NULL",c,"q\"x"}'`, `["a b","NULL","c","q\"x"]`},
	{"bigint[]", "'{1,9007199254740993}'", `[1,"9007199254740993"]`},
	{"numeric[]", "'{1.5,NaN}'", `["1.5","NaN"]`},
	{"boolean[]", "'{t,f}'", `[true,false]`},
	{"jsonb[]", `ARRAY['{"a": 1}'::jsonb]`, `[{"a":1}]`},
	{"mood[]", "'{happy,sad}'", `["happy","sad"]`},
	{"timestamptz[]", "'{\"2024-01-02 03:04:05+01\"}'", `["2024-01-02T02:04:05.000000Z"]`},
	{"posint", "7", `7`},
	{"text", "NULL", `null`},
}

func TestConvertArrayText(t *testing.T) {
	conv := newConverter()
	for _, c := range []struct {
		oid  uint32
		in   string
		want string
		err  bool
	}{
		{1007, "{}", `[]`, false},
		{1007, "[0:1]={5,6}", `[5,6]`, false},
		{1009, `{"\\",""}`, `["\\",""]`, false},
		{1009, `{null,NULL}`, `[null,null]`, false},
		{1007, "{1,2", "", true},
		{1009, `{"abc`, "", true},
		{1007, "1,2}", "", true},
		{oidInt8, "x", "", true},
		{oidJSON, "{", "", true},
		{oidBytea, "abc", "", true},
	} {
		v, err := conv.convert(c.oid, []byte(c.in))
		if c.err {
			if err == nil {
				t.Errorf("%d %q: no error, got %v", c.oid, c.in, v)
			}
			continue
		}
		if err != nil {
			t.Errorf("%d %q: %v", c.oid, c.in, err)
			continue
		}
		if got := mustJSON(t, v); got != c.want {
			t.Errorf("%d %q: got %s, want %s", c.oid, c.in, got, c.want)
		}
	}
}
