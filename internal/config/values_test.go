package config

import (
	"math"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1048576", 1048576, true},
		{"-1", -1, true},
		{"512MB", 512e6, true},
		{"512 MB", 512e6, true},
		{"1GiB", 1 << 30, true},
		{"1gib", 1 << 30, true},
		{"64KiB", 64 << 10, true},
		{"2TB", 2e12, true},
		{"10B", 10, true},
		{"8388607TiB", 8388607 << 40, true},
		{"8388608TiB", 0, false},
		{"1.5GiB", 0, false},
		{"12XB", 0, false},
		{"MB", 0, false},
		{"", 0, false},
		{" 1", 0, false},
		{"9223372036854775808", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if v, err := parseSize("9223372036854775807"); err != nil || v != math.MaxInt64 {
		t.Errorf("max int64: %d, %v", v, err)
	}
}

func TestChecks(t *testing.T) {
	tests := []struct {
		name  string
		check func(string) string
		in    string
		ok    bool
	}{
		{"listen", listenCheck(false), "127.0.0.1:8080", true},
		{"listen", listenCheck(false), ":8080", true},
		{"listen", listenCheck(false), "[::1]:0", true},
		{"listen", listenCheck(false), "localhost:9901", true},
		{"listen", listenCheck(false), "127.0.0.1", false},
		{"listen", listenCheck(false), "127.0.0.1:-1", false},
		{"listen", listenCheck(true), "127.0.0.1:-1", true},
		{"listen", listenCheck(false), "127.0.0.1:65536", false},
		{"listen", listenCheck(false), "127.0.0.1:08080", false},
		{"listen", listenCheck(false), "bad host:80", false},
		{"http url", checkHTTPURL, "http://127.0.0.1:4000", true},
		{"http url", checkHTTPURL, "https://new.example/base/path", true},
		{"http url", checkHTTPURL, "http://[::1]:4000", true},
		{"http url", checkHTTPURL, "http://127.0.0.1:0", false},
		{"http url", checkHTTPURL, "http:///path", false},
		{"http url", checkHTTPURL, "http://h/#frag", false},
		{"http url", checkHTTPURL, "127.0.0.1:4000", false},
		{"nats url", checkNATSURL, "nats://127.0.0.1:4222", true},
		{"nats url", checkNATSURL, "tls://user:pw@nats.example:4222", true},
		{"nats url", checkNATSURL, "wss://nats.example", true},
		{"nats url", checkNATSURL, "127.0.0.1:4222", true},
		{"nats url", checkNATSURL, "http://127.0.0.1:4222", false},
		{"nats url", checkNATSURL, "", false},
		{"method", checkMethod, "GET", true},
		{"method", checkMethod, "PROPFIND", true},
		{"method", checkMethod, "get", false},
		{"method", checkMethod, "GE T", false},
		{"host", checkHostMatch, "shop.example", true},
		{"host", checkHostMatch, "shop.example:8443", true},
		{"host", checkHostMatch, "::1", true},
		{"host", checkHostMatch, "[::1]:443", true},
		{"host", checkHostMatch, "shop.example:0", false},
		{"host", checkHostMatch, "http://shop.example", false},
		{"mitm host", checkMITMHost, "*.shop.example", true},
		{"mitm host", checkMITMHost, "*", false},
		{"subject", checkSubject, "ficus.cdc", true},
		{"subject", checkSubject, "ficus", true},
		{"subject", checkSubject, "ficus.>", false},
		{"subject", checkSubject, "fi cus", false},
		{"subject", checkSubject, ".ficus", false},
		{"table", checkTable, "public.orders", true},
		{"table", checkTable, "public.orders.v2", true},
		{"table", checkTable, "orders", false},
		{"pg dsn", checkPostgresDSN, "postgres://u:p@h:5432/db?sslmode=disable", true},
		{"pg dsn", checkPostgresDSN, "postgresql://u@/db?host=/tmp", true},
		{"pg dsn", checkPostgresDSN, "host=h dbname=db", false},
		{"pg dsn", checkPostgresDSN, "postgres://u@h", false},
		{"mysql dsn", checkMySQLDSN, "u:p@tcp(h:3306)/db", true},
		{"mysql dsn", checkMySQLDSN, "u:p@tcp(h:3306)/db?parseTime=true", true},
		{"mysql dsn", checkMySQLDSN, "u:p@tcp(h:3306", false},
		{"mysql dsn", checkMySQLDSN, "/db", false},
		{"mysql dsn", checkMySQLDSN, "u:p@tcp(h:3306)/db?parseTime=maybe", false},
	}
	for _, tt := range tests {
		if msg := tt.check(tt.in); (msg == "") != tt.ok {
			t.Errorf("%s check of %q = %q, want ok=%v", tt.name, tt.in, msg, tt.ok)
		}
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"listen", "mode", "legacy", "routes", "timeouts"}
	tests := []struct {
		key, want string
	}{
		{"lisen", "listen"},
		{"Listen", "listen"},
		{"listne", "listen"},
		{"route", "routes"},
		{"timeout", "timeouts"},
		{"mod", "mode"},
		{"weight", ""},
		{"l", ""},
	}
	for _, tt := range tests {
		got, _ := suggest(tt.key, known)
		if got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}
