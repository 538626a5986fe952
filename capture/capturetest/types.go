package capturetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CrossCase is one logical value written to both engines, each in its own
// type, and the one JSON both readers must publish for it
// (docs/capture-types.md, "Same value, same JSON").
type CrossCase struct {
	Name              string
	PGType, PGLiteral string
	MyType, MyLiteral string // MariaDB/MySQL literals are inserted with time_zone '+02:00'
	Want              string
}

// CrossCases are the values both readers publish byte for byte alike. Each
// reader's Types scenario runs them against its real database, so the
// PostgreSQL and the MariaDB reader are held to the same Want.
var CrossCases = []CrossCase{
	{"smallint", "smallint", "-32768", "smallint", "-32768", `-32768`},
	{"bigint beyond 2^53", "bigint", "9007199254740993", "bigint", "9007199254740993", `"9007199254740993"`},
	{"decimal scale 2", "numeric(5,2)", "-1.5", "decimal(5,2)", "-1.5", `"-1.50"`},
	{"decimal 38,10", "numeric(38,10)", "1234567890123456789012345678.0123456789",
		"decimal(38,10)", "1234567890123456789012345678.0123456789", `"1234567890123456789012345678.0123456789"`},
	{"money as decimal", "money", "'-1234.5'", "decimal(12,2)", "-1234.5", `"-1234.50"`},
	{"double", "double precision", "0.1", "double", "0.1", `0.1`},
	{"double exponent", "double precision", "1e100", "double", "1e100", `1e+100`},
	{"float", "real", "1.5", "float", "1.5", `1.5`},
	{"text", "text", `'é 😀 "q"'`, "varchar(20)", `'é 😀 "q"'`, `"é 😀 \"q\""`},
	{"binary", "bytea", `'\x00ff10'`, "varbinary(4)", "x'00ff10'", `"AP8Q"`},
	{"uuid", "uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "char(36)", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
		`"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
	{"date", "date", "'2024-02-29'", "date", "'2024-02-29'", `"2024-02-29"`},
	{"time fraction", "time(3)", "'13:14:15.5'", "time(3)", "'13:14:15.5'", `"13:14:15.5"`},
	{"time whole", "time", "'13:14:15'", "time(6)", "'13:14:15'", `"13:14:15"`},
	{"timestamp fraction", "timestamp(3)", "'2024-01-02 03:04:05.120'", "datetime(3)", "'2024-01-02 03:04:05.120'",
		`"2024-01-02T03:04:05.12"`},
	{"timestamp micro", "timestamp", "'2024-01-02 03:04:05.000001'", "datetime(6)", "'2024-01-02 03:04:05.000001'",
		`"2024-01-02T03:04:05.000001"`},
	{"timestamp whole", "timestamp(6)", "'2024-01-02 03:04:05'", "datetime", "'2024-01-02 03:04:05'", `"2024-01-02T03:04:05"`},
	{"instant", "timestamptz", "'2024-01-02 03:04:05.5+00'", "timestamp(6)", "'2024-01-02 05:04:05.5'", `"2024-01-02T03:04:05.5Z"`},
	{"instant whole", "timestamptz(0)", "'2024-07-01 00:00:00+02'", "timestamp", "'2024-07-01 00:00:00'", `"2024-06-30T22:00:00Z"`},
	{"bit string", "bit(10)", "B'1000000001'", "bit(10)", "b'1000000001'", `"1000000001"`},
	{"bit(1)", "bit(1)", "B'1'", "bit(1)", "b'1'", `"1"`},
	{"enum", "mood", "'happy'", "enum('happy','sad')", "'happy'", `"happy"`},
	{"set as array", "text[]", "'{x,z}'", "set('x','y','z')", "'x,z'", `["x","z"]`},
	{"json text kept", "json", `'{"a": [1, 2.50], "b": "x"}'`, "json", `'{"a": [1, 2.50], "b": "x"}'`, `{"a":[1,2.50],"b":"x"}`},
	{"null", "integer", "NULL", "int", "NULL", `null`},
}

// CrossCasesNumbers are cross-engine cases under decimal_handling: number
// and (MySQL) tinyint1_handling: boolean.
var CrossCasesNumbers = []CrossCase{
	{"boolean", "boolean", "true", "boolean", "true", `true`},
	{"boolean false", "boolean", "false", "tinyint(1)", "0", `false`},
	{"decimal as number", "numeric(5,2)", "-1.5", "decimal(5,2)", "-1.5", `-1.50`},
	{"decimal 38,10 as number", "numeric(38,10)", "1234567890123456789012345678.0123456789",
		"decimal(38,10)", "1234567890123456789012345678.0123456789", `1234567890123456789012345678.0123456789`},
	{"money as number", "money", "'-1234.5'", "decimal(12,2)", "-1234.5", `-1234.50`},
	{"zero", "numeric(3,0)", "0", "decimal(3,0)", "0", `0`},
}

// CrossTypeCases returns cross-engine cases (CrossCases or
// CrossCasesNumbers) for a reader's connector ("postgresql" takes the
// PostgreSQL side, anything else the MySQL side).
func CrossTypeCases(connector string, cases []CrossCase) []TypeCase {
	out := make([]TypeCase, len(cases))
	for i, c := range cases {
		out[i] = TypeCase{Type: c.MyType, Literal: c.MyLiteral, Want: c.Want}
		if connector == "postgresql" {
			out[i] = TypeCase{Type: c.PGType, Literal: c.PGLiteral, Want: c.Want}
		}
	}
	return out
}

// RunTypes runs only the Types scenario of hs (for a reader configured
// differently, e.g. with other value handling settings).
func RunTypes[D DB](t *testing.T, hs Harness[D]) { types(New(t, hs)) }

// golden renders the published row of the Types scenario one column per
// line, "type | literal => json", in case order.
func golden(cases []TypeCase, row json.RawMessage) ([]byte, error) {
	var after map[string]json.RawMessage
	if err := json.Unmarshal(row, &after); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("# One row with every case of the value mapping (docs/capture-types.md):\n")
	b.WriteString("# column type | SQL literal => published JSON. Regenerate with go test -run TestConformance/Types -update.\n")
	for i, c := range cases {
		v, ok := after[fmt.Sprintf("c%d", i)]
		if !ok {
			return nil, fmt.Errorf("column c%d (%s) missing from the row", i, c.Type)
		}
		fmt.Fprintf(&b, "%s | %s => %s\n", c.Type, strings.ReplaceAll(c.Literal, "\n", `\n`), v)
	}
	return b.Bytes(), nil
}

// checkGolden compares the row with the golden file, or rewrites it.
func checkGolden(path string, update bool, cases []TypeCase, row json.RawMessage) error {
	got, err := golden(cases, row)
	if err != nil {
		return err
	}
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("row differs from %s (run with -update to accept):\n%s", path, lineDiff(string(want), string(got)))
	}
	return nil
}

// lineDiff lists the lines that differ, by position.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d\n  want %s\n  got  %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}
