package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ficus-migrate/ficus/internal/bus"
)

// `ficus nats-url` prints exactly one line, the URL a client needs, or fails
// saying why; it never prints anything else on stdout.
func TestNATSURLCommand(t *testing.T) {
	store := filepath.Join(t.TempDir(), "nats")
	t.Setenv("NATSURL_TEST_PW", "p@ss/w:rd")
	for _, tc := range []struct {
		name, yaml string
		args       []string
		code       int
		want       string // stdout, or what stderr must contain when code != 0
	}{
		{name: "outside server", yaml: "nats: {url: 'nats://u:${NATSURL_TEST_PW}@10.0.0.1:4222'}", want: "nats://u:p@ss/w:rd@10.0.0.1:4222\n"},
		{name: "outside cluster", yaml: "nats: {url: [nats://a:4222, 'tls://b:4223']}", want: "nats://a:4222,tls://b:4223\n"},
		{name: "configured user", yaml: "nats: {embedded: {listen: '0.0.0.0:14222', auth: {users: [{user: me, password: '${NATSURL_TEST_PW}'}]}}}",
			want: "nats://me:p%40ss%2Fw%3Ard@127.0.0.1:14222\n"},
		{name: "generated", yaml: fmt.Sprintf("nats: {embedded: {listen: '127.0.0.1:14222', store_dir: %q}}", store), want: "nats://ficus:"},
		{name: "random port", yaml: "nats: {embedded: {listen: '127.0.0.1:0'}}", code: 1, want: "set a fixed port"},
		{name: "bad config", yaml: "nats: {embedded: {lisen: x}}", code: 1, want: "unknown key"},
		{name: "extra argument", yaml: "", args: []string{"extra"}, code: 2, want: `unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "ficus.yaml")
			if err := os.WriteFile(cfg, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := realMain(context.Background(), append([]string{"nats-url", "-c", cfg}, tc.args...), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.code, stderr.String())
			}
			if tc.code != 0 {
				if stdout.Len() > 0 || !strings.Contains(stderr.String(), tc.want) {
					t.Errorf("stdout %q, stderr %q; want nothing and %q", stdout.String(), stderr.String(), tc.want)
				}
				return
			}
			if !strings.HasPrefix(stdout.String(), tc.want) || strings.Count(stdout.String(), "\n") != 1 || stderr.Len() > 0 {
				t.Errorf("stdout %q, stderr %q; want one line starting %q", stdout.String(), stderr.String(), tc.want)
			}
		})
	}
	// The generated case created the credentials, readable by their owner only.
	st, err := os.Stat(filepath.Join(store, bus.CredentialsFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", err, st)
	}
}
