package mysql

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"

	b8 "github.com/ficus-migrate/ficus/capture/mysql/internal/binlog8"
)

func mustDecimal(t *testing.T, lit string, precision, scale int) []byte {
	t.Helper()
	b, err := b8.DecimalValue(lit, precision, scale)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	d, err := b8.JSONDocument(v)
	if err != nil {
		t.Fatal(err)
	}
	return b8.JSONValue(d)
}

// TestMySQL8Values decodes single MySQL 8.0 row values, encoded as the
// server does, through go-mysql and the stream's column conversion: the
// published JSON of each type at its edges.
func TestMySQL8Values(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes: a 2-byte JSON string length
	cases := []struct {
		name  string
		col   b8.Column
		value []byte
		want  string
	}{
		{"bigint unsigned max", b8.LongLong("c", true), b8.Uint64Value(math.MaxUint64), `"18446744073709551615"`},
		{"bigint unsigned 2^53", b8.LongLong("c", true), b8.Uint64Value(1 << 53), `9007199254740992`},
		{"bigint unsigned 2^53+1", b8.LongLong("c", true), b8.Uint64Value(1<<53 + 1), `"9007199254740993"`},
		{"bigint min", b8.LongLong("c", false), b8.Uint64Value(1 << 63), `"-9223372036854775808"`},
		{"bigint -1", b8.LongLong("c", false), b8.Uint64Value(math.MaxUint64), `-1`},
		{"int min", b8.Long("c"), b8.Int32Value(math.MinInt32), `-2147483648`},
		{"decimal(65,30)", b8.NewDecimal("c", 65, 30),
			mustDecimal(t, "-12345678901234567890123456789012345.123456789012345678901234567890", 65, 30),
			`"-12345678901234567890123456789012345.123456789012345678901234567890"`},
		{"decimal(5,2)", b8.NewDecimal("c", 5, 2), mustDecimal(t, "-1.5", 5, 2), `"-1.50"`},
		{"decimal(10,0)", b8.NewDecimal("c", 10, 0), mustDecimal(t, "42", 10, 0), `"42"`},
		{"decimal(20,6) zero", b8.NewDecimal("c", 20, 6), mustDecimal(t, "0", 20, 6), `"0.000000"`},
		{"decimal(18,9)", b8.NewDecimal("c", 18, 9), mustDecimal(t, "999999999.000000001", 18, 9), `"999999999.000000001"`},
		{"datetime", b8.Datetime2("c", 0), b8.Datetime2Value(2024, 1, 2, 3, 4, 5, 0, 0), `"2024-01-02T03:04:05"`},
		{"datetime(1)", b8.Datetime2("c", 1), b8.Datetime2Value(2024, 1, 2, 3, 4, 5, 500000, 1), `"2024-01-02T03:04:05.5"`},
		{"datetime(3)", b8.Datetime2("c", 3), b8.Datetime2Value(9999, 12, 31, 23, 59, 59, 999000, 3), `"9999-12-31T23:59:59.999"`},
		{"datetime(6)", b8.Datetime2("c", 6), b8.Datetime2Value(1000, 1, 1, 0, 0, 0, 1, 6), `"1000-01-01T00:00:00.000001"`},
		{"datetime zero", b8.Datetime2("c", 0), b8.Datetime2Value(0, 0, 0, 0, 0, 0, 0, 0), `null`},
		{"timestamp", b8.Timestamp2("c", 0), b8.Timestamp2Value(t0, 0, 0), `"2024-02-29T13:14:15Z"`},
		{"timestamp(6)", b8.Timestamp2("c", 6), b8.Timestamp2Value(1, 1, 6), `"1970-01-01T00:00:01.000001Z"`},
		{"timestamp(4)", b8.Timestamp2("c", 4), b8.Timestamp2Value(2147483647, 999900, 4), `"2038-01-19T03:14:07.9999Z"`},
		{"timestamp zero", b8.Timestamp2("c", 2), b8.Timestamp2Value(0, 0, 2), `null`},
		{"enum", b8.EnumCol("c", "a", "b"), b8.EnumValue(2), `"b"`},
		{"enum invalid (0)", b8.EnumCol("c", "a", "b"), b8.EnumValue(0), `""`},
		{"set empty", b8.SetCol("c", "x", "y", "z"), b8.SetValue(0), `[]`},
		{"set all", b8.SetCol("c", "x", "y", "z"), b8.SetValue(7), `["x","y","z"]`},
		{"varchar 1-byte length", b8.Varchar("c", 255, 255), b8.VarcharValue("𝄞 \"q\" <&>", 255), `"𝄞 \"q\" \u003c\u0026\u003e"`},
		{"varchar 2-byte length", b8.Varchar("c", 1024, 255), b8.VarcharValue(long, 1024), `"` + long + `"`},
		{"text utf8mb4", b8.Blob("c", 2, 255), b8.BlobValue([]byte("😀"), 2), `"😀"`},
		{"tinyblob", b8.Blob("c", 1, 63), b8.BlobValue([]byte{0, 1, 2}, 1), `"AAEC"`},
		{"longblob", b8.Blob("c", 4, 63), b8.BlobValue([]byte{0xff}, 4), `"/w=="`},
		{"varbinary", b8.Varchar("c", 16, 63), b8.VarcharValue("\x00\x01", 16), `"AAE="`},
		{"json int16 scalar", b8.JSONCol("c"), mustJSON(t, int64(-5)), `-5`},
		{"json true scalar", b8.JSONCol("c"), mustJSON(t, true), `true`},
		{"json null scalar", b8.JSONCol("c"), mustJSON(t, nil), `null`},
		{"json long string", b8.JSONCol("c"), mustJSON(t, long), `"` + long + `"`},
		{"json numbers", b8.JSONCol("c"), mustJSON(t, []any{int64(math.MinInt64), uint64(math.MaxUint64), 1e100, -0.25, int64(70000)}),
			`[-9223372036854775808,18446744073709551615,1e+100,-0.25,70000]`},
		{"json keys", b8.JSONCol("c"), mustJSON(t, b8.Object{"bb": int64(1), "a": b8.Object{}, "ab": []any{}}),
			`{"a":{},"ab":[],"bb":1}`},
	}
	var cfg replication.BinlogSyncerConfig
	setDecoding(&cfg)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl := b8.Table{ID: 1, Schema: "shop", Name: "v", Columns: []b8.Column{c.col}}
			p := replication.NewBinlogParser()
			p.SetFlavor(FlavorMySQL)
			p.SetVerifyChecksum(true)
			p.SetUseDecimal(cfg.UseDecimal)
			p.SetParseTime(cfg.ParseTime)
			p.SetTimestampStringLocation(cfg.TimestampStringLocation)
			var last *replication.BinlogEvent
			for _, e := range []b8.Event{
				fixtureFDE(0),
				{Type: b8.TableMapEvent, Timestamp: t0, ServerID: 1, Body: tbl.TableMap()},
				{Type: b8.WriteRowsEventV2, Timestamp: t0, ServerID: 1, Body: b8.Rows(1, b8.FlagStmtEnd, 1, false, [][]byte{c.value})},
			} {
				ev, err := p.Parse(b8.Encode(e, 1000))
				if err != nil {
					t.Fatalf("go-mysql rejects %d: %v", e.Type, err)
				}
				last = ev
			}
			rows := last.Event.(*replication.RowsEvent)
			cols, err := tableMapColumns(rows.Table, nil, nil, valueOpts{})
			if err != nil {
				t.Fatal(err)
			}
			ti := &tableInfo{cols: cols}
			row, err := ti.row(rows.Rows[0])
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(row[0].Value)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}
