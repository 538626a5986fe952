package postgres

import (
	"encoding/json"
	"testing"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/capturetest"
)

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// typeCases is the value mapping contract (docs/capture-types.md):
// PostgreSQL type, SQL literal, and the exact JSON published for it, by the
// snapshot and by the stream alike (TestConformance/Types). Cases with an
// empty want are held by the golden file alone
// (testdata/capture/postgres/types.golden), which records the whole row.
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
	{"oid", "4294967295", `4294967295`},
	{"numeric", "12345678901234567890.000100", `"12345678901234567890.000100"`},
	{"numeric(5,2)", "-1.5", `"-1.50"`},
	{"numeric(38,10)", "-1234567890123456789012345678.0123456789", `"-1234567890123456789012345678.0123456789"`},
	{"numeric", "'NaN'", `"NaN"`},
	{"money", "12.34", `"12.34"`},
	{"money", "'-1234567.8'", `"-1234567.80"`},
	{"money", "0", `"0.00"`},
	{"money[]", "'{1.5,-2}'", `["1.50","-2.00"]`},
	{"real", "1.5", `1.5`},
	{"real", "'NaN'", `"NaN"`},
	{"real", "'-Infinity'", `"-Infinity"`},
	{"double precision", "0.1", `0.1`},
	{"double precision", "1e100", `1e+100`},
	{"double precision", "'NaN'", `"NaN"`},
	{"double precision", "'Infinity'", `"Infinity"`},
	{"text", `'he said "hi" é'`, `"he said \"hi\" é"`},
	{"varchar(10)", "'a b'", `"a b"`},
	{"char(3)", "'ab'", `"ab "`},
	{"bytea", `'\x00ff10'`, `"AP8Q"`},
	{"date", "'2024-02-29'", `"2024-02-29"`},
	{"date", "'infinity'", `"infinity"`},
	{"time", "'13:14:15.000001'", `"13:14:15.000001"`},
	{"time(3)", "'13:14:15.100'", `"13:14:15.1"`},
	{"timetz", "'13:14:15.5+02'", `"13:14:15.5+02"`},
	{"timestamp", "'2024-01-02 03:04:05.5'", `"2024-01-02T03:04:05.5"`},
	{"timestamp(6)", "'2024-01-02 03:04:05.123456'", `"2024-01-02T03:04:05.123456"`},
	{"timestamp(3)", "'2024-01-02 03:04:05'", `"2024-01-02T03:04:05"`},
	{"timestamp", "'0044-03-15 12:00:00 BC'", `"0044-03-15 12:00:00 BC"`},
	{"timestamp", "'-infinity'", `"-infinity"`},
	{"timestamptz", "'2024-01-02 03:04:05.123456+02'", `"2024-01-02T01:04:05.123456Z"`},
	{"timestamptz", "'2024-01-02 03:04:05.120+00'", `"2024-01-02T03:04:05.12Z"`},
	{"timestamptz", "'2024-01-02 03:04:05+00'", `"2024-01-02T03:04:05Z"`},
	{"timestamptz", "'infinity'", `"infinity"`},
	{"interval", "'1 year 2 months 3 days 04:05:06'", `"P1Y2M3DT4H5M6S"`},
	{"interval", "'-1.5 seconds'", `"PT-1.5S"`},
	{"uuid", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
	{"json", `'{"a": [1, 2.50], "a": 1e2}'`, `{"a":[1,2.50],"a":1e2}`},
	{"json", `'"str"'`, `"str"`},
	{"jsonb", `'{"b": 1, "a": [1, 2.50]}'`, `{"a":[1,2.50],"b":1}`},
	{"xml", `'<a x="1">t &amp; u</a>'`, `"\u003ca x=\"1\"\u003et \u0026amp; u\u003c/a\u003e"`},
	{"inet", "'192.168.0.1/24'", `"192.168.0.1/24"`},
	{"cidr", "'10.0.0.0/8'", `"10.0.0.0/8"`},
	{"macaddr", "'08:00:2B:01:02:03'", `"08:00:2b:01:02:03"`},
	{"bit(10)", "B'1000000001'", `"1000000001"`},
	{"varbit(8)", "B'101'", `"101"`},
	{"int4range", "'[1,10)'", `"[1,10)"`},
	{"tstzrange", "'[2024-01-01 00:00+00,2024-02-01 00:00+00)'", `"[\"2024-01-01 00:00:00+00\",\"2024-02-01 00:00:00+00\")"`},
	{"point", "'(1.5,2)'", `"(1.5,2)"`},
	{"tsvector", "'a fat cat'", `"'a' 'cat' 'fat'"`},
	{"mood", "'happy'", `"happy"`},
	{"posint", "7", `7`},
	{"pair", "ROW(1, 'x y')", `"(1,\"x y\")"`},
	{"hstore", `'a=>1, "b c"=>NULL, "q\"x"=>"é"'`, `{"a":"1","b c":null,"q\"x":"é"}`},
	{"hstore", "''", `{}`},
	{"integer[]", "'{1,2,NULL}'", `[1,2,null]`},
	{"integer[]", "'{{1,2},{3,4}}'", `[[1,2],[3,4]]`},
	{"integer[]", "'{{{1},{2}},{{3},{4}}}'", `[[[1],[2]],[[3],[4]]]`},
	{"text[]", `'{"a b","NULL",c,"q\"x"}'`, `["a b","NULL","c","q\"x"]`},
	{"bigint[]", "'{1,9007199254740993}'", `[1,"9007199254740993"]`},
	{"numeric[]", "'{1.5,NaN}'", `["1.5","NaN"]`},
	{"boolean[]", "'{t,f}'", `[true,false]`},
	{"jsonb[]", `ARRAY['{"a": 1}'::jsonb]`, `[{"a":1}]`},
	{"mood[]", "'{happy,sad}'", `["happy","sad"]`},
	{"timestamp[]", "'{\"2024-01-02 03:04:05.5\"}'", `["2024-01-02T03:04:05.5"]`},
	{"timestamptz[]", "'{\"2024-01-02 03:04:05+01\"}'", `["2024-01-02T02:04:05Z"]`},
	{"hstore[]", `ARRAY['a=>1'::hstore]`, `[{"a":"1"}]`},
	{"text", "NULL", `null`},
}

func TestConvertArrayText(t *testing.T) {
	conv := newConverter(false)
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

// TestDecimalNumbers: with decimal_handling: number, numeric and money are
// JSON numbers with their digits as stored; NaN stays a string.
func TestDecimalNumbers(t *testing.T) {
	t.Parallel()
	hs := conformance
	hs.NewSource = func(h *harness, tables ...string) (capture.Source, error) {
		cfg := config(h)
		cfg.Tables, cfg.DecimalHandling = tables, DecimalNumber
		return New(cfg)
	}
	hs.Types.Golden = ""
	hs.Types.Cases = append([]capturetest.TypeCase{
		{Type: "numeric", Literal: "'NaN'", Want: `"NaN"`},
		{Type: "numeric", Literal: "'-0.000100'", Want: `-0.000100`},
		{Type: "numeric[]", Literal: "'{1.5,NaN}'", Want: `[1.5,"NaN"]`},
		{Type: "bigint", Literal: "9007199254740993", Want: `"9007199254740993"`},
	}, capturetest.CrossTypeCases("postgresql", capturetest.CrossCasesNumbers)...)
	capturetest.RunTypes(t, hs)
}

// TestMoneyUnderGermanLocale: money is published as a decimal whatever the
// database's lc_monetary says (PostgreSQL prints money per that setting, here
// "1.234,50 €"), in the snapshot and in the stream.
func TestMoneyUnderGermanLocale(t *testing.T) {
	t.Parallel()
	hs := conformance
	hs.Types.Golden = ""
	hs.Types.Setup = []string{
		// deploy/install-deps.sh makes the locale; the server refuses it otherwise.
		`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET lc_monetary = %L', current_database(), 'de_DE.UTF-8'); END $$`,
		// Proof that the setting changes money's text on this server.
		`SET lc_monetary = 'de_DE.UTF-8'`,
		`DO $$ BEGIN IF 1234.5::money::text <> '1.234,50 €' THEN
			RAISE EXCEPTION 'lc_monetary de_DE gives %', 1234.5::money::text; END IF; END $$`,
	}
	hs.Types.Cases = []capturetest.TypeCase{
		{Type: "money", Literal: "1234.5", Want: `"1234.50"`},
		{Type: "money", Literal: "-0.01", Want: `"-0.01"`},
		{Type: "money", Literal: "-92233720368547758.08", Want: `"-92233720368547758.08"`},
		{Type: "money[]", Literal: "ARRAY[1.5, 2]::money[]", Want: `["1.50","2.00"]`},
	}
	capturetest.RunTypes(t, hs)
}
