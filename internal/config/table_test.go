package config

import (
	"strings"
	"testing"
)

func TestParseTable(t *testing.T) {
	for _, tc := range []struct{ in, schema, table, problem string }{
		{"public.orders", "public", "orders", ""},
		{"public.Weird Table", "public", "Weird Table", ""},
		{"public.a.b", "public", "a.b", ""}, // split at the first dot
		{`"public"."a.b"`, "public", "a.b", ""},
		{`"My Schema".t`, "My Schema", "t", ""},
		{`public."say ""hi"""`, "public", `say "hi"`, ""},
		{"shop.order-lines", "shop", "order-lines", ""},
		{"public.Größe$", "public", "Größe$", ""},
		{`public.a"b`, "public", `a"b`, ""}, // a quote inside an unquoted part is a character
		{"orders", "", "", "expected"},
		{".orders", "", "", "expected"},
		{"public.", "", "", "expected"},
		{`"public"orders`, "", "", "expected"},
		{`"public".`, "", "", "expected"},
		{`public."a.b`, "", "", "expected"},
		{`public."a"b`, "", "", "expected"},
		{`"my.schema".t`, "", "", "schema name holding a dot"},
	} {
		schema, table, problem := ParseTable(tc.in)
		if schema != tc.schema || table != tc.table || !strings.Contains(problem, tc.problem) || (tc.problem == "") != (problem == "") {
			t.Errorf("ParseTable(%q) = %q, %q, %q; want %q, %q, %q", tc.in, schema, table, problem, tc.schema, tc.table, tc.problem)
		}
	}
}

// A tables entry dumps (Redacted) in a form that loads back as the same entry.
func TestTableDumpReloads(t *testing.T) {
	for _, tc := range []Table{
		{Table: "public.orders"},
		{Table: "public.Weird Table", Subject: "weird_table"},
		{Table: "public.a.b"},
		{Table: `public."quoted"`},
		{Table: `public.a"b`},
	} {
		v, err := tc.MarshalYAML()
		if err != nil {
			t.Fatal(err)
		}
		spelled, ok := v.(string)
		if !ok {
			spelled = v.(tableMapping).Table
		}
		schema, table, problem := ParseTable(spelled)
		if problem != "" || schema+"."+table != tc.Table {
			t.Errorf("%q dumps as %q, which reads back as %q.%q (%s)", tc.Table, spelled, schema, table, problem)
		}
		if ok == (tc.Subject != "") {
			t.Errorf("%+v dumps as %#v: want the mapping form exactly when there is a subject", tc, v)
		}
	}
}

func TestSourceSubject(t *testing.T) {
	s := Source{Name: "shop", Tables: []Table{{Table: "public.orders"}, {Table: "public.Weird Table", Subject: "weird_table"}}}
	for _, tc := range []struct{ schema, table, want string }{
		{"public", "orders", "ficus.cdc.shop.public.orders"},
		{"public", "Weird Table", "ficus.cdc.shop.public.weird_table"},
		{"public", "Other Table", "ficus.cdc.shop.public.Other%20Table"},
	} {
		if got := s.Subject("ficus.cdc", tc.schema, tc.table); got != tc.want {
			t.Errorf("Subject(%q, %q) = %q, want %q", tc.schema, tc.table, got, tc.want)
		}
	}
}
