package canon

import (
	"encoding/json"
	"testing"
	"time"
)

func TestCanonical(t *testing.T) {
	zone := time.FixedZone("+02", 2*3600)
	cases := []struct {
		name string
		kind Kind
		in   any
		want string
	}{
		{"nil is NULL", KindText, nil, "NULL"},
		{"empty text is not NULL", KindText, "", ""},
		{"decimal trailing zeros", KindDecimal, "12.500", "12.5"},
		{"decimal integer text", KindDecimal, "1200", "1200"},
		{"decimal negative zero", KindDecimal, "-0.00", "0"},
		{"decimal small", KindDecimal, "-0.05", "-0.05"},
		{"decimal from json.Number", KindDecimal, json.Number("7.10"), "7.1"},
		{"integer from int64", KindInteger, int64(-42), "-42"},
		{"integer leading zeros", KindInteger, "007", "7"},
		{"timestamp from time in a zone", KindTimestamp, time.Date(2024, 3, 1, 12, 0, 0, 123456000, zone), "2024-03-01 10:00:00.123456"},
		{"timestamp RFC 3339", KindTimestamp, "2024-03-01T12:00:00.5+02:00", "2024-03-01 10:00:00.500000"},
		{"timestamp zone-less is UTC", KindTimestamp, "2024-03-01 10:00:00", "2024-03-01 10:00:00.000000"},
		{"timestamp nanoseconds truncated", KindTimestamp, "2024-03-01T10:00:00.1234567Z", "2024-03-01 10:00:00.123456"},
		{"timestamp pg offset hours", KindTimestamp, "2024-03-01 12:00:00+02", "2024-03-01 10:00:00.000000"},
		{"date", KindDate, "2024-02-29", "2024-02-29"},
		{"bool word", KindBool, "true", "1"},
		{"bool go", KindBool, false, "0"},
		{"bool tinyint 2", KindBool, "2", "1"},
		{"json key order", KindJSON, `{"b":1,"a":{"d":[1,2.50],"c":null}}`, `{"a":{"c":null,"d":[1,2.5]},"b":1}`},
		{"json string escapes kept", KindJSON, `{"a":"x\"y"}`, `{"a":"x\"y"}`},
		{"text kept as is", KindText, []byte("Straße"), "Straße"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := Canonical(c.kind, c.in)
			if err != nil {
				t.Fatal(err)
			}
			if v.String() != c.want {
				t.Errorf("Canonical(%s, %#v) = %q, want %q", c.kind, c.in, v, c.want)
			}
		})
	}
}

func TestCanonicalRefuses(t *testing.T) {
	for _, c := range []struct {
		kind Kind
		in   any
	}{
		{KindDecimal, "12,5"}, {KindDecimal, "1e3"}, {KindTimestamp, "yesterday"}, {KindBool, "maybe"},
		{KindJSON, `{"a":`}, {KindJSON, `{} {}`}, {KindText, struct{}{}},
	} {
		if v, err := Canonical(c.kind, c.in); err == nil {
			t.Errorf("Canonical(%s, %#v) = %q, want an error", c.kind, c.in, v)
		}
	}
}

func TestApply(t *testing.T) {
	cases := []struct {
		rule Rule
		in   Value
		want string
	}{
		{Rule{Scale: "100"}, Value{Text: "12.34"}, "1234"},
		{Rule{Scale: "0.01"}, Value{Text: "1234"}, "12.34"},
		{Rule{Scale: "100"}, Value{Null: true}, "NULL"},
		{Rule{Map: map[string]string{"NEW": "created"}}, Value{Text: "NEW"}, "created"},
		{Rule{Map: map[string]string{"NEW": "created"}}, Value{Text: "new"}, "new"},
		{Rule{Scale: "10", Map: map[string]string{"10": "ten"}}, Value{Text: "1.0"}, "ten"},
	}
	for _, c := range cases {
		got, err := Apply(c.rule, c.in)
		if err != nil || got.String() != c.want {
			t.Errorf("Apply(%+v, %v) = %q, %v; want %q", c.rule, c.in, got, err, c.want)
		}
	}
}

func TestKinds(t *testing.T) {
	cases := []struct {
		legacy, new string
		rule        Rule
		want        Kind
	}{
		{"decimal", "numeric", Rule{}, KindDecimal},
		{"int", "numeric", Rule{}, KindDecimal},
		{"decimal", "bigint", Rule{Scale: "100"}, KindDecimal},
		{"varchar", "bigint", Rule{Scale: "100"}, KindDecimal},
		{"tinyint", "boolean", Rule{}, KindBool},
		{"longtext", "jsonb", Rule{}, KindJSON},
		{"datetime", "timestamp with time zone", Rule{}, KindTimestamp},
		{"enum", "USER-DEFINED", Rule{}, KindText},
		{"double", "double precision", Rule{}, KindText},
	}
	for _, c := range cases {
		got := c.rule.Kind(Unify(KindOf(MySQL, c.legacy), KindOf(Postgres, c.new)))
		if got != c.want {
			t.Errorf("%s vs %s (%+v): %s, want %s", c.legacy, c.new, c.rule, got, c.want)
		}
	}
}
