package canon

import (
	"slices"
	"strings"
	"testing"
)

func TestCompareKeys(t *testing.T) {
	cases := []struct {
		name  string
		kinds []Kind
		a, b  Key
		want  int
	}{
		{"integers by value", []Kind{KindInteger}, Key{"9"}, Key{"10"}, -1},
		{"negative integers", []Kind{KindInteger}, Key{"-10"}, Key{"-9"}, -1},
		{"decimals by value", []Kind{KindDecimal}, Key{"1.5"}, Key{"1.25"}, 1},
		{"text by bytes: upper case first", []Kind{KindText}, Key{"B"}, Key{"a"}, -1},
		{"text: a and A differ", []Kind{KindText}, Key{"a"}, Key{"A"}, 1},
		{"text: accents after ASCII", []Kind{KindText}, Key{"é"}, Key{"z"}, 1},
		{"composite: first column decides", []Kind{KindInteger, KindInteger}, Key{"2", "-1"}, Key{"10", "-5"}, -1},
		{"composite: second column", []Kind{KindInteger, KindInteger}, Key{"2", "-5"}, Key{"2", "-1"}, -1},
		{"equal", []Kind{KindUUID, KindText}, Key{"0cc175b9-c0f1-b6a8-31c3-99e269772661", "x"}, Key{"0cc175b9-c0f1-b6a8-31c3-99e269772661", "x"}, 0},
		{"timestamps in time order", []Kind{KindTimestamp}, Key{"2024-01-01 09:00:00.000000"}, Key{"2024-01-01 10:00:00.000000"}, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := CompareKeys(c.kinds, c.a, c.b)
			if (got < 0) != (c.want < 0) || (got > 0) != (c.want > 0) {
				t.Errorf("CompareKeys(%v, %v) = %d, want sign of %d", c.a, c.b, got, c.want)
			}
			if back := CompareKeys(c.kinds, c.b, c.a); (back < 0) != (c.want > 0) {
				t.Errorf("not antisymmetric: %d", back)
			}
		})
	}
}

func TestKeyJSON(t *testing.T) {
	for _, k := range []Key{{"1"}, {"a\"b", "c,d"}, {"(x, y)", ""}, {"é", "\x1f"}} {
		back, err := ParseKeyJSON(k.JSON())
		if err != nil || !slices.Equal(back, k) {
			t.Errorf("%q: JSON %s reads back as %q, %v", []string(k), k.JSON(), back, err)
		}
	}
	for _, bad := range []string{"", "[]", "7", `{"a":1}`, `[1]`} {
		if _, err := ParseKeyJSON(bad); err == nil {
			t.Errorf("ParseKeyJSON(%q) accepted", bad)
		}
	}
}

func TestCanonicalKeyKinds(t *testing.T) {
	const u = "0cc175b9-c0f1-b6a8-31c3-99e269772661"
	raw := []byte{0x0c, 0xc1, 0x75, 0xb9, 0xc0, 0xf1, 0xb6, 0xa8, 0x31, 0xc3, 0x99, 0xe2, 0x69, 0x77, 0x26, 0x61}
	cases := []struct {
		kind Kind
		in   any
		want string
	}{
		{KindUUID, u, u},
		{KindUUID, strings.ToUpper(u), u},
		{KindUUID, strings.ReplaceAll(u, "-", ""), u},
		{KindUUID, raw, u},
		{KindUUID, "DMF1ucDxtqgxw5niaXcmYQ==", u}, // base64, as capture events carry BINARY(16)
		{KindBinary, raw[:3], "0cc175"},
		{KindBinary, "AP8Q", "00ff10"},
	}
	for _, c := range cases {
		v, err := Canonical(c.kind, c.in)
		if err != nil || v.Text != c.want {
			t.Errorf("Canonical(%s, %v) = %q, %v; want %q", c.kind, c.in, v.Text, err, c.want)
		}
	}
	for _, bad := range []any{"0cc175b9-c0f1-b6a8-31c3-99e26977266", "0cc175b9c0f1-b6a8-31c3-99e2697726612", "zzzzzzzz-c0f1-b6a8-31c3-99e269772661", []byte{1, 2}} {
		if v, err := Canonical(KindUUID, bad); err == nil {
			t.Errorf("Canonical(uuid, %v) = %q, want an error", bad, v.Text)
		}
	}
	if err := KeyKind(KindJSON); err == nil {
		t.Error("a JSON key column was accepted")
	}
}

func TestKeySQLParameters(t *testing.T) {
	cols := []KeyColumn{{Name: "order_id", Kind: KindInteger, DataType: "bigint"}, {Name: "k", Kind: KindText, DataType: "text"}}
	pg, err := NewKeySQL(Postgres, cols)
	if err != nil {
		t.Fatal(err)
	}
	p := NewParams(Postgres)
	got := pg.Compare(p, ">", Key{"7", "a'b"}) + " AND " + pg.Compare(p, "<=", Key{"9", "z"})
	want := `("order_id", ("k"::text) COLLATE "C") > ($1::text::bigint, $2::text) AND ("order_id", ("k"::text) COLLATE "C") <= ($3::text::bigint, $4::text)`
	if got != want || !slices.Equal(p.Args, []any{"7", "a'b", "9", "z"}) {
		t.Errorf("postgres:\n got %s %v\nwant %s", got, p.Args, want)
	}
	my, err := NewKeySQL(MySQL, []KeyColumn{{Name: "id", Kind: KindUUID, DataType: "binary"}})
	if err != nil {
		t.Fatal(err)
	}
	p = NewParams(MySQL)
	if got := my.Compare(p, "<=", Key{"0cc175b9-c0f1-b6a8-31c3-99e269772661"}); got != "`id` <= UNHEX(REPLACE(?, '-', ''))" || len(p.Args) != 1 {
		t.Errorf("mysql binary uuid: %s %v", got, p.Args)
	}
	if _, err := NewKeySQL(MySQL, []KeyColumn{{Name: "b", Kind: KindBool}}); err == nil {
		t.Error("a bool key column was accepted")
	}
}

// FuzzKeyText checks that any text read as a UUID, binary or key never
// panics, and that what is accepted is canonical: reading it again gives
// it back.
func FuzzKeyText(f *testing.F) {
	for _, s := range []string{"0cc175b9-c0f1-b6a8-31c3-99e269772661", "DMF1ucDxtqgxw5niaXcmYQ==", `["a","1"]`, "", "AP8Q"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := Canonical(KindUUID, s); err == nil {
			if again, err := Canonical(KindUUID, v.Text); err != nil || again != v {
				t.Errorf("uuid %q -> %q -> %q, %v", s, v.Text, again.Text, err)
			}
		}
		_, _ = Canonical(KindBinary, s)
		if k, err := ParseKeyJSON(s); err == nil {
			if back, err := ParseKeyJSON(k.JSON()); err != nil || !slices.Equal(back, k) {
				t.Errorf("key %q -> %s -> %q, %v", s, k.JSON(), back, err)
			}
		}
	})
}

func TestKeySQLMariaDBLeadingColumn(t *testing.T) {
	k, err := NewKeySQL(MySQL, []KeyColumn{{Name: "a", Kind: KindInteger, DataType: "bigint"}, {Name: "b", Kind: KindText, DataType: "varchar"}})
	if err != nil {
		t.Fatal(err)
	}
	p := NewParams(MySQL)
	got := k.Compare(p, ">", Key{"7", "x"})
	want := "(`a` >= CAST(? AS DECIMAL(65,0)) AND (`a`, CAST(CONVERT(`b` USING utf8mb4) AS BINARY)) > (CAST(? AS DECIMAL(65,0)), CAST(? AS BINARY)))"
	if got != want || !slices.Equal(p.Args, []any{"7", "7", "x"}) {
		t.Errorf("got %s %v\nwant %s", got, p.Args, want)
	}
}

// TestKeySQLOtherOwnTypes: a key column whose own type does not order as
// the pair's kind (an integer kept as text on one side, a timestamp as
// text) is ordered by a numeric cast or by its canonical text's bytes.
func TestKeySQLOtherOwnTypes(t *testing.T) {
	cases := []struct {
		e    Engine
		col  KeyColumn
		want string
	}{
		{Postgres, KeyColumn{Name: "k", Kind: KindInteger, DataType: "text"}, `("k")::numeric > $1::text::numeric`},
		{Postgres, KeyColumn{Name: "k", Kind: KindInteger, DataType: "integer"}, `"k" > $1::text::bigint`},
		{Postgres, KeyColumn{Name: "k", Kind: KindTimestamp, DataType: "text"}, `(to_char("k", 'YYYY-MM-DD HH24:MI:SS.US')) COLLATE "C" > $1::text`},
		{Postgres, KeyColumn{Name: "k", Kind: KindBinary, DataType: "bytea"}, `"k" > decode($1::text, 'hex')`},
		{MySQL, KeyColumn{Name: "k", Kind: KindInteger, DataType: "varchar"}, "CAST(`k` AS DECIMAL(65,30)) > CAST(? AS DECIMAL(65,30))"},
		{MySQL, KeyColumn{Name: "k", Kind: KindTimestamp, DataType: "datetime"}, "`k` > CAST(? AS DATETIME(6))"},
		{MySQL, KeyColumn{Name: "k", Kind: KindBinary, DataType: "varbinary"}, "`k` > UNHEX(?)"},
		{MySQL, KeyColumn{Name: "k", Kind: KindUUID, DataType: "char"}, "CAST(CASE WHEN LENGTH(`k`) = 16"},
	}
	for _, c := range cases {
		k, err := NewKeySQL(c.e, []KeyColumn{c.col})
		if err != nil {
			t.Fatal(err)
		}
		if got := k.Compare(NewParams(c.e), ">", Key{"1"}); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s %+v: %s, want %s…", c.e, c.col, got, c.want)
		}
	}
}

// TestKeySQLOwnOrder: a MariaDB text or UUID text column whose side set
// OwnOrder is ordered by the column itself against a plain parameter (so
// an index on it serves, and Indexed says so), as is a PostgreSQL text or
// varchar column (not char(n), whose text cast trims); the key texts stay
// canonical.
func TestKeySQLOwnOrder(t *testing.T) {
	cases := []struct {
		e       Engine
		col     KeyColumn
		compare string
		indexed bool
	}{
		{MySQL, KeyColumn{Name: "k", Kind: KindText, DataType: "varchar"}, "CAST(CONVERT(`k` USING utf8mb4) AS BINARY) > CAST(? AS BINARY)", false},
		{MySQL, KeyColumn{Name: "k", Kind: KindText, DataType: "varchar", OwnOrder: true}, "`k` > ?", true},
		{MySQL, KeyColumn{Name: "id", Kind: KindUUID, DataType: "char", OwnOrder: true}, "`id` > ?", true},
		{MySQL, KeyColumn{Name: "id", Kind: KindUUID, DataType: "binary", OwnOrder: true}, "`id` > UNHEX(REPLACE(?, '-', ''))", true},
		{Postgres, KeyColumn{Name: "k", Kind: KindText, DataType: "text", OwnOrder: true}, `"k" > $1::text`, true},
		{Postgres, KeyColumn{Name: "k", Kind: KindText, DataType: "character varying", OwnOrder: true}, `"k" > $1::text`, true},
		{Postgres, KeyColumn{Name: "k", Kind: KindText, DataType: "character", OwnOrder: true}, `("k"::text) COLLATE "C" > $1::text`, false},
		{Postgres, KeyColumn{Name: "k", Kind: KindUUID, DataType: "text", OwnOrder: true}, `(lower("k"::text)) COLLATE "C" > $1::text`, false},
	}
	for _, c := range cases {
		k, err := NewKeySQL(c.e, []KeyColumn{c.col})
		if err != nil {
			t.Fatal(err)
		}
		if got := k.Compare(NewParams(c.e), ">", Key{"x"}); got != c.compare || k.Indexed() != c.indexed {
			t.Errorf("%s %+v: %s indexed %v, want %s %v", c.e, c.col, got, k.Indexed(), c.compare, c.indexed)
		}
		plain, _ := NewKeySQL(c.e, []KeyColumn{{Name: c.col.Name, Kind: c.col.Kind, DataType: c.col.DataType}})
		if !slices.Equal(k.Texts(), plain.Texts()) || !slices.Equal(k.HashTexts(), plain.HashTexts()) {
			t.Errorf("%s %+v: OwnOrder changed the key texts", c.e, c.col)
		}
	}
	k, err := NewKeySQL(MySQL, []KeyColumn{{Name: "a", Kind: KindInteger, DataType: "int"}, {Name: "id", Kind: KindUUID, DataType: "char"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.WithOwnOrder([]bool{true}); err == nil {
		t.Error("WithOwnOrder took one flag for two columns")
	}
	own, err := k.WithOwnOrder([]bool{false, true})
	if err != nil {
		t.Fatal(err)
	}
	if !own.Indexed() || k.Indexed() || !slices.Equal(own.Orders(), []string{"`a`", "`id`"}) || !slices.Equal(own.Kinds(), []Kind{KindInteger, KindUUID}) {
		t.Errorf("WithOwnOrder: orders %q indexed %v (before %v)", own.Orders(), own.Indexed(), k.Indexed())
	}
}

// TestKeySQLCheck: a key read through a UUID text column's own order must
// be a canonical UUID text; any other column, or a column not ordered by
// itself, takes any text.
func TestKeySQLCheck(t *testing.T) {
	own, _ := NewKeySQL(MySQL, []KeyColumn{{Name: "a", Kind: KindText, DataType: "varchar", OwnOrder: true}, {Name: "id", Kind: KindUUID, DataType: "char", OwnOrder: true}})
	plain, _ := NewKeySQL(MySQL, []KeyColumn{{Name: "a", Kind: KindText, DataType: "varchar"}, {Name: "id", Kind: KindUUID, DataType: "char"}})
	good := "0cc175b9-c0f1-b6a8-31c3-99e269772661"
	for _, c := range []struct {
		id string
		ok bool
	}{
		{good, true},
		{strings.ToUpper(good), false},
		{strings.ReplaceAll(good, "-", ""), false},
		{good[:35] + "g", false},
		{"0cc175b9c-0f1-b6a8-31c3-99e269772661", false},
		{"not a uuid", false},
		{"", false},
	} {
		if err := own.Check(Key{"any text", c.id}); (err == nil) != c.ok {
			t.Errorf("own order, %q: %v", c.id, err)
		} else if err != nil && strings.Contains(err.Error(), c.id) && c.id != "" {
			t.Errorf("the error quotes the value: %v", err)
		}
		if err := plain.Check(Key{"any text", c.id}); err != nil {
			t.Errorf("canonical text order, %q: %v", c.id, err)
		}
	}
}
