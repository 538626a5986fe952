package reconcile

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// literalCases are values every quoting must carry unchanged.
var literalCases = []string{
	"", "plain", "O'Brien", `back\slash`, `\'`, "''", `\\'';`, "a\x00b", "\x00", "\n\r\t", "\x1a", "\x7f",
	"é 日本 🎉", "'; DROP TABLE t; --", `\x41`, `\u0041`, "$$", "E'x'", "%_", "\u2028\u2029", "\uFEFF", "`\"",
	strings.Repeat("'", 10), "trailing \\",
}

// decodeLiteral reads back what sqlLiteral wrote, as the server would, for
// the forms sqlLiteral uses: 'plain', E'escaped' and _utf8mb4 X'hex'. It
// fails on anything else, such as a quote that ends the literal early.
func decodeLiteral(lit string) (string, error) {
	switch {
	case strings.HasPrefix(lit, "_utf8mb4 X'") && strings.HasSuffix(lit, "'"):
		b, err := hex.DecodeString(lit[len("_utf8mb4 X'") : len(lit)-1])
		return string(b), err
	case strings.HasPrefix(lit, "'") && strings.HasSuffix(lit, "'") && len(lit) >= 2:
		s := lit[1 : len(lit)-1]
		if !plain(s) {
			return "", fmt.Errorf("plain literal with special characters: %q", lit)
		}
		return s, nil
	case strings.HasPrefix(lit, "E'") && strings.HasSuffix(lit, "'") && len(lit) >= 3:
		s := lit[2 : len(lit)-1]
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c == '\'' {
				return "", fmt.Errorf("unescaped quote at %d in %q", i, lit)
			}
			if c >= 0x80 {
				return "", fmt.Errorf("non-ASCII byte in %q", lit)
			}
			if c != '\\' {
				b.WriteByte(c)
				continue
			}
			if i+1 >= len(s) {
				return "", fmt.Errorf("trailing backslash in %q", lit)
			}
			i++
			var width int
			switch s[i] {
			case '\\', '\'':
				b.WriteByte(s[i])
				continue
			case 'x':
				width = 2
			case 'u':
				width = 4
			case 'U':
				width = 8
			default:
				return "", fmt.Errorf("unknown escape in %q", lit)
			}
			if i+width >= len(s) {
				return "", fmt.Errorf("short escape in %q", lit)
			}
			n, err := strconv.ParseUint(s[i+1:i+1+width], 16, 32)
			if err != nil {
				return "", err
			}
			b.WriteRune(rune(n))
			i += width
		}
		return b.String(), nil
	}
	return "", fmt.Errorf("not a literal sqlLiteral writes: %q", lit)
}

func TestSQLLiteral(t *testing.T) {
	for _, e := range []canon.Engine{canon.Postgres, canon.MySQL} {
		for _, s := range literalCases {
			lit, err := sqlLiteral(e, canon.Value{Text: s})
			if e == canon.Postgres && strings.ContainsRune(s, 0) {
				if !errors.Is(err, errNUL) {
					t.Errorf("%s %q: %q, %v; want errNUL", e, s, lit, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s %q: %v", e, s, err)
			}
			if got, err := decodeLiteral(lit); err != nil || got != s {
				t.Errorf("%s %q: literal %s reads back as %q (%v)", e, s, lit, got, err)
			}
		}
		if lit, err := sqlLiteral(e, canon.Value{Null: true}); lit != "NULL" || err != nil {
			t.Errorf("%s NULL: %q, %v", e, lit, err)
		}
		if _, err := sqlLiteral(e, canon.Value{Text: "\xff\xfe"}); !errors.Is(err, errNotUTF8) {
			t.Errorf("%s invalid UTF-8: %v, want errNotUTF8", e, err)
		}
	}
}

// FuzzSQLLiteral: whatever the text, the literal reads back as exactly it,
// or the value is refused (never a literal that ends early).
func FuzzSQLLiteral(f *testing.F) {
	for _, s := range literalCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, e := range []canon.Engine{canon.Postgres, canon.MySQL} {
			lit, err := sqlLiteral(e, canon.Value{Text: s})
			if err != nil {
				if utf8.ValidString(s) && !(e == canon.Postgres && strings.ContainsRune(s, 0)) {
					t.Fatalf("%s %q refused: %v", e, s, err)
				}
				continue
			}
			if got, err := decodeLiteral(lit); err != nil || got != s {
				t.Fatalf("%s %q: literal %s reads back as %q (%v)", e, s, lit, got, err)
			}
		}
	})
}

// testRepairLiterals has the real servers read every literal back, under
// the settings that change how literals are read: PostgreSQL with
// standard_conforming_strings on and off, MariaDB with its default
// sql_mode and with NO_BACKSLASH_ESCAPES and ANSI_QUOTES.
func testRepairLiterals(t *testing.T, my *testenv.MariaDB, pg *testenv.Postgres) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pc := pg.Conn(t)
	mdb := my.DB(t)
	mc, err := mdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	for _, mode := range []struct{ pg, my string }{
		{"SET standard_conforming_strings = on", "SET sql_mode = DEFAULT"},
		{"SET standard_conforming_strings = off", "SET sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES'"},
	} {
		if _, err := pc.Exec(ctx, mode.pg); err != nil {
			t.Fatal(err)
		}
		if _, err := mc.ExecContext(ctx, mode.my); err != nil {
			t.Fatal(err)
		}
		for _, s := range literalCases {
			if lit, err := sqlLiteral(canon.Postgres, canon.Value{Text: s}); err == nil {
				var got string
				if err := pc.QueryRow(ctx, "SELECT "+lit+"::text").Scan(&got); err != nil || got != s {
					t.Errorf("PostgreSQL (%s): %s read back as %q, want %q (%v)", mode.pg, lit, got, s, err)
				}
			}
			lit, err := sqlLiteral(canon.MySQL, canon.Value{Text: s})
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			if err := mc.QueryRowContext(ctx, "SELECT "+lit).Scan(&got); err != nil || string(got) != s {
				t.Errorf("MariaDB (%s): %s read back as %q, want %q (%v)", mode.my, lit, got, s, err)
			}
		}
	}
}

func TestRepairSQL(t *testing.T) {
	res := &Result{Differences: []Difference{
		{Key: 1, Kind: MissingInNew, LegacyRow: []canon.Value{{Text: "it's"}, {Null: true}}},
		{Key: 2, Kind: Differs, Columns: []ColumnDiff{{Legacy: "a", New: "b", LegacyVal: canon.Value{Text: "x"}}}},
		{Key: 3, Kind: MissingInLegacy},
		{Key: 4, Kind: Differs, Columns: []ColumnDiff{{Legacy: "a", New: "b", LegacyVal: canon.Value{Text: "nul\x00"}}}},
	}}
	tbl := Table{Name: "public.t", Key: "id", Columns: []string{"b", "c"}}
	var pgOut, myOut strings.Builder
	if err := res.RepairSQL(&pgOut, "orders", canon.Postgres, tbl); err != nil {
		t.Fatal(err)
	}
	if err := res.RepairSQL(&myOut, "orders", canon.MySQL, tbl); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		out  string
		want []string
	}{
		{pgOut.String(), []string{
			"SET TIME ZONE 'UTC';\nBEGIN;\n",
			`INSERT INTO "public"."t" ("id", "b", "c") VALUES (1, E'it\'s', NULL);`,
			`UPDATE "public"."t" SET "b" = 'x' WHERE "id" = 2;`,
			`DELETE FROM "public"."t" WHERE "id" = 3;`,
			"COMMIT;\n-- 1 key(s) could not be written faithfully and were left out:\n" +
				`-- key 4 (differs): not written: column "b": the value holds a NUL byte, which PostgreSQL text cannot hold`,
		}},
		{myOut.String(), []string{
			"SET time_zone = '+00:00';\nSTART TRANSACTION;\n",
			"INSERT INTO `public`.`t` (`id`, `b`, `c`) VALUES (1, _utf8mb4 X'69742773', NULL);",
			"UPDATE `public`.`t` SET `b` = 'x' WHERE `id` = 2;",
			"DELETE FROM `public`.`t` WHERE `id` = 3;",
			"UPDATE `public`.`t` SET `b` = _utf8mb4 X'6E756C00' WHERE `id` = 4;\nCOMMIT;\n",
		}},
	} {
		for _, w := range c.want {
			if !strings.Contains(c.out, w) {
				t.Errorf("repair SQL lacks %q:\n%s", w, c.out)
			}
		}
	}
}

func TestRepairSQLTupleKey(t *testing.T) {
	res := &Result{KeyKinds: []canon.Kind{canon.KindText, canon.KindBinary}, Differences: []Difference{
		{Tuple: canon.Key{"O'Neil", "00ff"}, Kind: MissingInNew, LegacyRow: []canon.Value{{Text: "O'Neil"}, {Text: "7"}}},
		{Tuple: canon.Key{"a", "01"}, Kind: Differs, Columns: []ColumnDiff{{Legacy: "v", New: "v", LegacyVal: canon.Value{Text: "7"}}}},
		{Tuple: canon.Key{"b", "02"}, Kind: MissingInLegacy},
		{Tuple: canon.Key{"*/ x", "zz"}, Kind: MissingInLegacy},
	}}
	tbl := Table{Name: "public.t", KeyColumns: []string{"name", "tag"}, Columns: []string{"name", "v"}}
	for _, c := range []struct {
		e    canon.Engine
		want []string
	}{
		{canon.Postgres, []string{
			`INSERT INTO "public"."t" ("name", "tag", "v") VALUES (E'O\'Neil', decode('00ff', 'hex'), '7');`,
			`UPDATE "public"."t" SET "v" = '7' WHERE "name" = 'a' AND "tag" = decode('01', 'hex');`,
			`DELETE FROM "public"."t" WHERE "name" = 'b' AND "tag" = decode('02', 'hex');`,
			`-- key "[\"*/ x\",\"zz\"]" (missing_in_legacy): not written: key column "tag": not hex`,
		}},
		{canon.MySQL, []string{
			"INSERT INTO `public`.`t` (`name`, `tag`, `v`) VALUES (_utf8mb4 X'4F274E65696C', X'00ff', '7');",
			"DELETE FROM `public`.`t` WHERE `name` = 'b' AND `tag` = X'02';",
		}},
	} {
		var out strings.Builder
		if err := res.RepairSQL(&out, "cmp", c.e, tbl); err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s repair SQL lacks %q:\n%s", c.e, w, out.String())
			}
		}
	}
}

// TestRepairSQLUUIDIntoBinary: a UUID key repaired into a binary(16) key
// column is written as its 16 bytes (the text would match no row); into a
// uuid or char(36) column as its text.
func TestRepairSQLUUIDIntoBinary(t *testing.T) {
	const id = "0f8fad5b-d9cb-469f-a165-70867728950e"
	tbl := Table{Name: "shop.t", KeyColumns: []string{"id"}, Columns: []string{"v"}}
	for _, c := range []struct {
		name  string
		e     canon.Engine
		types []string
		want  string
	}{
		{"binary(16)", canon.MySQL, []string{"binary"}, "DELETE FROM `shop`.`t` WHERE `id` = X'0f8fad5bd9cb469fa16570867728950e';"},
		{"bytea", canon.Postgres, []string{"bytea"}, `DELETE FROM "shop"."t" WHERE "id" = decode('0f8fad5bd9cb469fa16570867728950e', 'hex');`},
		{"char(36)", canon.MySQL, []string{"char"}, "DELETE FROM `shop`.`t` WHERE `id` = '" + id + "';"},
		{"uuid", canon.Postgres, []string{"uuid"}, `DELETE FROM "shop"."t" WHERE "id" = '` + id + `';`},
		{"not a uuid", canon.MySQL, []string{"binary"}, `not written: key column "id": not a UUID`},
	} {
		t.Run(c.name, func(t *testing.T) {
			key := id
			if c.name == "not a uuid" {
				key = "zz"
			}
			res := &Result{KeyKinds: []canon.Kind{canon.KindUUID}, NewKeyTypes: c.types,
				Differences: []Difference{{Tuple: canon.Key{key}, Kind: MissingInLegacy}}}
			var out strings.Builder
			if err := res.RepairSQL(&out, "cmp", c.e, tbl); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), c.want) {
				t.Errorf("repair SQL lacks %q:\n%s", c.want, out.String())
			}
		})
	}
}
