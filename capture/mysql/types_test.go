package mysql

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// typeCases is the value mapping contract (docs/capture-mysql.md): column
// type, SQL literal (inserted with sql_mode=” and time_zone='+02:00'), and
// the exact JSON published for it, by the snapshot and by the stream alike.
var typeCases = []struct {
	typ, literal, want string
}{
	{"tinyint", "-128", `-128`},
	{"tinyint unsigned", "255", `255`},
	{"smallint", "-32768", `-32768`},
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
	{"bit(1)", "b'1'", `1`},
	{"bit(10)", "b'1000000001'", `513`},
	{"bit(64)", "b'1111111111111111111111111111111111111111111111111111111111111111'", `"18446744073709551615"`},
	{"year", "2024", `2024`},
	{"date", "'2024-02-29'", `"2024-02-29"`},
	{"date", "'0000-00-00'", `null`},
	{"date", "'2024-00-10'", `null`},
	{"time", "'13:14:15'", `"13:14:15"`},
	{"time(6)", "'-12:34:56.000001'", `"-12:34:56.000001"`},
	{"time(3)", "'838:59:59.5'", `"838:59:59.500"`},
	{"datetime", "'2024-01-02 03:04:05'", `"2024-01-02T03:04:05"`},
	{"datetime(6)", "'2024-01-02 03:04:05.123456'", `"2024-01-02T03:04:05.123456"`},
	{"datetime(3)", "'2024-01-02 03:04:05'", `"2024-01-02T03:04:05.000"`},
	{"datetime", "'0000-00-00 00:00:00'", `null`},
	{"timestamp(6)", "'2024-01-02 03:04:05.5'", `"2024-01-02T01:04:05.500000Z"`},
	{"timestamp", "'2024-07-01 00:00:00'", `"2024-06-30T22:00:00Z"`},
	{"timestamp", "'0000-00-00 00:00:00'", `null`},
	{"char(3)", "'ab'", `"ab"`},
	{"varchar(20)", "'é 😀 \"q\"'", `"é 😀 \"q\""`},
	{"text", "'ünïcödé 𝄞'", `"ünïcödé 𝄞"`},
	{"longtext", "'{\"not\": \"json\"}'", `"{\"not\": \"json\"}"`},
	{"binary(4)", "x'0102'", `"AQIAAA=="`},
	{"varbinary(4)", "x'00ff10'", `"AP8Q"`},
	{"blob", "x'00ff10'", `"AP8Q"`},
	{"json", `'{"a": [1, 2.5, "x"], "b": null}'`, `{"a":[1,2.5,"x"],"b":null}`},
	{"json", `'"str"'`, `"str"`},
	{"enum('a','b','c')", "'b'", `"b"`},
	{"set('x','y','z')", "'x,z'", `["x","z"]`},
	{"set('x','y','z')", "''", `[]`},
	{"point", "ST_GeomFromText('POINT(1 2)')", `"AAAAAAEBAAAAAAAAAAAA8D8AAAAAAAAAQA=="`},
	{"int", "NULL", `null`},
}

func TestTypes(t *testing.T) {
	h := newHarness(t)
	cols := []string{"id int PRIMARY KEY"}
	vals := []string{}
	for i, c := range typeCases {
		cols = append(cols, fmt.Sprintf("c%d %s NULL", i, c.typ))
		vals = append(vals, c.literal)
	}
	h.db.Exec(t, "CREATE TABLE types ("+strings.Join(cols, ", ")+") DEFAULT CHARSET=utf8mb4")
	insert := func(id int) {
		h.db.Exec(t, fmt.Sprintf("SET STATEMENT sql_mode='', time_zone='+02:00' FOR INSERT INTO types VALUES (%d, %s)", id, strings.Join(vals, ", ")))
	}
	insert(1)
	h.start(h.config())
	insert(2)
	ev := h.events(2, 30*time.Second)
	for _, e := range ev {
		var after map[string]json.RawMessage
		if err := json.Unmarshal(e.Fields["after"], &after); err != nil {
			t.Fatal(err)
		}
		for i, c := range typeCases {
			if got := string(after[fmt.Sprintf("c%d", i)]); got != c.want {
				t.Errorf("%s (op %s) %s = %s, want %s", c.typ, e.op(), c.literal, got, c.want)
			}
		}
	}
	if ev[0].op() != "r" || ev[1].op() != "c" {
		t.Errorf("ops %s, %s; want r, c", ev[0].op(), ev[1].op())
	}
	// The update's before image decodes the same way.
	h.db.Exec(t, "UPDATE types SET id = 3 WHERE id = 2")
	u := h.events(1, 30*time.Second)[0]
	if string(u.Fields["before"]) != string(ev[1].Fields["after"]) {
		t.Errorf("update before %s\n want %s", u.Fields["before"], ev[1].Fields["after"])
	}
}
