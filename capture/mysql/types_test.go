package mysql

import (
	"testing"

	"github.com/ficus-migrate/ficus/capture"
	"github.com/ficus-migrate/ficus/capture/capturetest"
)

// typeCases is the value mapping contract (docs/capture-types.md): column
// type, SQL literal (inserted with sql_mode=” and time_zone='+02:00'), and
// the exact JSON published for it, by the snapshot and by the stream alike
// (TestConformance/Types, which also checks the whole row against
// testdata/capture/mysql/types.golden).
var typeCases = []struct {
	typ, literal, want string
}{
	{"tinyint", "-128", `-128`},
	{"tinyint unsigned", "255", `255`},
	{"tinyint(1)", "1", `1`},
	{"boolean", "true", `1`},
	{"smallint", "-32768", `-32768`},
	{"smallint unsigned", "65535", `65535`},
	{"mediumint", "-8388608", `-8388608`},
	{"mediumint unsigned", "16777215", `16777215`},
	{"int", "-2147483648", `-2147483648`},
	{"int unsigned", "4294967295", `4294967295`},
	{"bigint", "9007199254740992", `9007199254740992`},
	{"bigint", "-9007199254740993", `"-9007199254740993"`},
	{"bigint", "-9223372036854775808", `"-9223372036854775808"`},
	{"bigint unsigned", "9007199254740993", `"9007199254740993"`},
	{"bigint unsigned", "18446744073709551615", `"18446744073709551615"`},
	{"decimal(20,6)", "12345678901234.000100", `"12345678901234.000100"`},
	{"decimal(5,2)", "-1.5", `"-1.50"`},
	{"decimal(10,0)", "42", `"42"`},
	{"decimal(65,30)", "-12345678901234567890123456789012345.123456789012345678901234567890", `"-12345678901234567890123456789012345.123456789012345678901234567890"`},
	{"float", "3.1415927", `3.1415927`},
	{"float", "1.1", `1.1`},
	{"double", "0.1", `0.1`},
	{"double", "1e100", `1e+100`},
	{"double", "-2.5e-300", `-2.5e-300`},
	{"bit(1)", "b'1'", `"1"`},
	{"bit(10)", "b'1000000001'", `"1000000001"`},
	{"bit(10)", "b'101'", `"0000000101"`},
	{"bit(64)", "b'1111111111111111111111111111111111111111111111111111111111111111'", `"1111111111111111111111111111111111111111111111111111111111111111"`},
	{"year", "2024", `2024`},
	{"date", "'2024-02-29'", `"2024-02-29"`},
	{"date", "'0000-00-00'", `null`},
	{"date", "'2024-00-10'", `null`},
	{"time", "'13:14:15'", `"13:14:15"`},
	{"time(6)", "'-12:34:56.000001'", `"-12:34:56.000001"`},
	{"time(3)", "'838:59:59.5'", `"838:59:59.5"`},
	{"datetime", "'2024-01-02 03:04:05'", `"2024-01-02T03:04:05"`},
	{"datetime(6)", "'2024-01-02 03:04:05.123456'", `"2024-01-02T03:04:05.123456"`},
	{"datetime(3)", "'2024-01-02 03:04:05'", `"2024-01-02T03:04:05"`},
	{"datetime(3)", "'2024-01-02 03:04:05.120'", `"2024-01-02T03:04:05.12"`},
	{"datetime", "'0000-00-00 00:00:00'", `null`},
	{"timestamp(6)", "'2024-01-02 03:04:05.5'", `"2024-01-02T01:04:05.5Z"`},
	{"timestamp(3)", "'2024-01-02 03:04:05.001'", `"2024-01-02T01:04:05.001Z"`},
	{"timestamp", "'2024-07-01 00:00:00'", `"2024-06-30T22:00:00Z"`},
	{"timestamp", "'0000-00-00 00:00:00'", `null`},
	{"char(3)", "'ab'", `"ab"`},
	{"varchar(20)", "'é 😀 \"q\"'", `"é 😀 \"q\""`},
	{"text", "'ünïcödé 𝄞'", `"ünïcödé 𝄞"`},
	{"char(4) character set latin1", "'é€'", `"é€"`},
	{"varchar(10) character set latin1", "'Größe ‰'", `"Größe ‰"`},
	{"text character set latin1", "'ñ “q”'", `"ñ “q”"`},
	{"longtext", "'{\"not\": \"json\"}'", `"{\"not\": \"json\"}"`},
	{"binary(4)", "x'0102'", `"AQIAAA=="`},
	{"varbinary(4)", "x'00ff10'", `"AP8Q"`},
	{"blob", "x'00ff10'", `"AP8Q"`},
	{"json", `'{"a": [1, 2.50, "x"], "b": null}'`, `{"a":[1,2.50,"x"],"b":null}`},
	{"json", `'"str"'`, `"str"`},
	{"enum('a','b','c')", "'b'", `"b"`},
	{"set('x','y','z')", "'x,z'", `["x","z"]`},
	{"set('x','y','z')", "''", `[]`},
	{"point", "ST_GeomFromText('POINT(1 2)')", `"AQEAAAAAAAAAAADwPwAAAAAAAABA"`}, // WKB: SRID 0
	{"geometry", "ST_GeomFromText('LINESTRING(0 0, 1 1)', 4326)", ``},
	{"int", "NULL", `null`},
}

// TestValueHandling: with decimal_handling: number and tinyint1_handling:
// boolean, DECIMAL is a JSON number and TINYINT(1) a boolean (snapshot and
// stream alike; the stream learns TINYINT(1) from the catalog).
func TestValueHandling(t *testing.T) {
	t.Parallel()
	hs := conformance
	hs.NewSource = func(h *harness, tables ...string) (capture.Source, error) {
		cfg := config(h)
		cfg.Tables, cfg.DecimalHandling, cfg.Tinyint1Handling = tables, DecimalNumber, Tinyint1Boolean
		return New(cfg)
	}
	hs.Types.Golden = ""
	hs.Types.Cases = append([]capturetest.TypeCase{
		{Type: "tinyint(1)", Literal: "2", Want: `true`},
		{Type: "tinyint(1)", Literal: "-1", Want: `true`},
		{Type: "tinyint(1) unsigned", Literal: "0", Want: `false`},
		{Type: "tinyint(2)", Literal: "1", Want: `1`},
		{Type: "tinyint", Literal: "1", Want: `1`},
		{Type: "decimal(65,30)", Literal: "-12345678901234567890123456789012345.123456789012345678901234567890",
			Want: `-12345678901234567890123456789012345.123456789012345678901234567890`},
	}, capturetest.CrossTypeCases("mysql", capturetest.CrossCasesNumbers)...)
	capturetest.RunTypes(t, hs)
}
