package subject

import (
	"strings"
	"testing"
)

func TestToken(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"orders", "orders"},
		{"Order_Items-2", "Order_Items-2"},
		{"Weird Table", "Weird%20Table"},
		{"MixedCase", "MixedCase"},
		{"a.b", "a%2Eb"},
		{"price$", "price%24"},
		{"100%", "100%25"},
		{"naïve", "na%C3%AFve"},
		{"顧客", "%E9%A1%A7%E5%AE%A2"},
		{"*", "%2A"},
		{">", "%3E"},
		{"tab\there", "tab%09here"},
		{"", "%"},
	} {
		got := Token(tc.name)
		if got != tc.want {
			t.Errorf("Token(%q) = %q, want %q", tc.name, got, tc.want)
		}
		if !ValidToken(got) {
			t.Errorf("Token(%q) = %q is not a valid subject token", tc.name, got)
		}
		back, err := Decode(got)
		if err != nil || back != tc.name {
			t.Errorf("Decode(%q) = %q, %v; want %q", got, back, err, tc.name)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tok := range []string{
		"",           // empty
		"a%2",        // truncated
		"a%",         // truncated
		"a%2e",       // lower-case hex: not Token's output
		"a%41",       // 'A' is written as itself
		"a%5F",       // '_' likewise
		"a b",        // space must be encoded
		"a$b",        // '$' must be encoded
		"na\u00efve", // non-ASCII must be encoded
		"%%20",
		"%G0",
	} {
		if got, err := Decode(tok); err == nil {
			t.Errorf("Decode(%q) = %q, want an error", tok, got)
		}
	}
}

func TestValidToken(t *testing.T) {
	for tok, want := range map[string]bool{
		"weird_table": true, "Weird%20Table": true, "a-b": true, "$x": true,
		"": false, "a.b": false, "*": false, ">": false, "a b": false, "a\tb": false, "é": false, "a\x7f": false,
	} {
		if got := ValidToken(tok); got != want {
			t.Errorf("ValidToken(%q) = %v, want %v", tok, got, want)
		}
	}
}

func TestTable(t *testing.T) {
	for _, tc := range []struct{ schema, table, override, want string }{
		{"public", "orders", "", "ficus.cdc.shop.public.orders"},
		{"public", "Weird Table", "", "ficus.cdc.shop.public.Weird%20Table"},
		{"My Schema", "t", "", "ficus.cdc.shop.My%20Schema.t"},
		{"public", "Weird Table", "weird_table", "ficus.cdc.shop.public.weird_table"},
	} {
		if got := Table("ficus.cdc", "shop", tc.schema, tc.table, tc.override); got != tc.want {
			t.Errorf("Table(%q, %q, %q) = %q, want %q", tc.schema, tc.table, tc.override, got, tc.want)
		}
	}
}

// FuzzToken: every name maps to a valid token that decodes back to it, and
// every token that decodes is the token of what it decodes to (one token
// per name).
func FuzzToken(f *testing.F) {
	for _, s := range []string{"", "orders", "Weird Table", "a.b", "100%", "naïve", "%", "%25", "a%2e", "\xff\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := Token(s)
		if !ValidToken(tok) {
			t.Fatalf("Token(%q) = %q: not a valid subject token", s, tok)
		}
		if strings.ContainsAny(tok, ".*> ") {
			t.Fatalf("Token(%q) = %q holds a subject separator or wildcard", s, tok)
		}
		back, err := Decode(tok)
		if err != nil || back != s {
			t.Fatalf("Decode(Token(%q)) = %q, %v", s, back, err)
		}
		if name, err := Decode(s); err == nil && Token(name) != s {
			t.Fatalf("Decode(%q) = %q, but Token of that is %q", s, name, Token(name))
		}
	})
}
