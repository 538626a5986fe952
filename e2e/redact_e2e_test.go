package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
	"github.com/ficus-migrate/ficus/shadow/redact"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
)

const redactConfig = `
log: {level: debug}
nats: {embedded: {listen: %q, store_dir: %q}}
admin: {listen: %q}
proxy:
  listen: %q
  legacy: %q
  routes:
    - name: shop
      new: %q
      shadow: {enabled: true, unsafe_methods: true, timeout: 1s}
      compare: {headers: [Set-Cookie]}
shadow:
  workers: 2
  redact: {json_keys: [iban]}
`

// Secure by default, as users run it: requests carrying every kind of secret
// go through the real binary's shadow path; neither the FICUS_SHADOW messages,
// nor `ficus report` in any format, nor the debug logs hold one; the hashes
// are keyed with the key ficus generated into its data directory. Every
// secret value contains "s3cret".
func TestShadowRedactionEndToEnd(t *testing.T) {
	t.Parallel()
	side := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Set-Cookie", "sid=s3cret-sid-"+name)
			if r.URL.Path == "/login" {
				w.Header().Set("Content-Type", "text/plain")
				fmt.Fprintf(w, "welcome\npassword=s3cret-hunter-%s\n", name)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token":"s3cret-token-%s","card":{"cvv":"s3cret-cvv-%s","pin":"s3cret-pin"},"iban":"s3cret-iban-%s"}`, name, name, name)
		}))
	}
	legacy, newSvc := side("legacy"), side("new")
	defer legacy.Close()
	defer newSvc.Close()
	natsAddr, adminAddr, proxyAddr, storeDir := freeAddr(t), freeAddr(t), freeAddr(t), t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(redactConfig, natsAddr, storeDir, adminAddr, proxyAddr, legacy.URL, newSvc.URL))
	logs := &testenv.LogBuffer{}
	proc := startFicus(t, buildFicus(t), logs, "run", "-c", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs:\n%s", tail(logs.String(), 8000))
		}
	})
	waitAdminReady(t, adminAddr, "", proc.exited)

	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("password", "s3cret-multipart-pw")
	_ = mw.Close()
	requests := []struct{ path, ct, body string }{
		{"/orders?id=7&key=s3cret-qkey&sig=s3cret-qsig&code=s3cret-qcode&token=s3cret-qtoken", "application/json",
			`{"order":{"payment":{"pwd":"s3cret-pwd","pin":"s3cret-pin","otp":"s3cret-otp","cvv":"s3cret-cvv"}}}`},
		{"/login", "application/x-www-form-urlencoded", "user=bob&password=s3cret-form-pw"},
		{"/upload", mw.FormDataContentType(), mp.String()},
	}
	for _, r := range requests {
		req, _ := http.NewRequest(http.MethodPost, "http://"+proxyAddr+r.path, strings.NewReader(r.body))
		req.Header = http.Header{
			"Content-Type": {r.ct}, "X-Api-Key": {"s3cret-api-key"}, "X-Auth-Token": {"s3cret-auth-token"},
			"X-Csrf-Token": {"s3cret-csrf"}, "Authorization": {"Bearer s3cret-bearer"}, "Cookie": {"sid=s3cret-cookie"},
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	// The raw messages, as anyone allowed to read the stream gets them.
	nc, err := nats.Connect(natsURLOf(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var raw [][]byte
	for deadline := time.Now().Add(15 * time.Second); len(raw) < len(requests) && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		raw = nil
		cons, err := js.OrderedConsumer(ctx, record.StreamName, jetstream.OrderedConsumerConfig{})
		if err != nil {
			continue // the stream is created at start, in the background if need be
		}
		for {
			msg, err := cons.Next(jetstream.FetchMaxWait(300 * time.Millisecond))
			if err != nil {
				break
			}
			raw = append(raw, msg.Data())
		}
	}
	if len(raw) != len(requests) {
		t.Fatalf("%d records on %s, want %d", len(raw), record.StreamName, len(requests))
	}
	for _, b := range raw {
		if bytes.Contains(b, []byte("3cret")) {
			t.Errorf("a secret is in a record:\n%s", b)
		}
	}

	// The key ficus generated, private to it, is the one the hashes use.
	keyFile := filepath.Join(storeDir, redact.KeyFile)
	st, err := os.Stat(keyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v (mode %v), want mode 0600", keyFile, err, st.Mode())
	}
	hexKey, _ := os.ReadFile(keyFile)
	key, _ := hex.DecodeString(strings.TrimSpace(string(hexKey)))
	red, err := redact.New(redact.Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}

	want := map[string][]string{
		// The query, a configured JSON key, and the diff line both hashed.
		"text": {"key=" + red.Mark("s3cret-qkey"), "$.iban", "body:line:2"},
		"json": {red.Mark("s3cret-iban-legacy"), red.Mark("s3cret-iban-new"), "password=" + red.Mark("s3cret-hunter-legacy")},
		"html": {red.Mark("s3cret-token-new"), red.Mark("sid=s3cret-sid-legacy")},
	}
	for _, format := range []string{"text", "json", "html"} {
		var out bytes.Buffer
		if code := runFicus(context.Background(), t, &out, &out, "report", "-c", cfg, "--format", format); code != 0 {
			t.Fatalf("report %s: exit %d: %s", format, code, out.String())
		}
		if strings.Contains(out.String(), "3cret") {
			t.Errorf("report %s holds a secret:\n%s", format, out.String())
		}
		for _, w := range want[format] {
			if !strings.Contains(out.String(), w) {
				t.Errorf("report %s lacks %q:\n%s", format, w, out.String())
			}
		}
	}
	if strings.Contains(logs.String(), "3cret") {
		t.Errorf("a secret is in the logs:\n%s", logs.String())
	}
}
