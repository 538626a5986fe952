package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/admin/client"
	"github.com/ficus-migrate/ficus/internal/bus"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

// natsChildEnv makes the test binary, re-executed by TestMain, act as a
// separate NATS client of the URL in it (see natsChild).
const natsChildEnv = "FICUS_TEST_NATS_CHILD_URL"

// natsChild puts a key into the bucket ficus_routes through the URL in
// natsChildEnv and reads it back, as a script handed `ficus nats-url` would.
func natsChild() int {
	nc, err := nats.Connect(os.Getenv(natsChildEnv), nats.Name("nats-url child"))
	if err != nil {
		fmt.Println("connect:", err)
		return 1
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, "ficus_routes")
	if err == nil {
		_, err = kv.Put(ctx, "probe.nats-url", []byte("from-child"))
	}
	var e jetstream.KeyValueEntry
	if err == nil {
		e, err = kv.Get(ctx, "probe.nats-url")
	}
	if err != nil {
		fmt.Println("kv:", err)
		return 1
	}
	fmt.Printf("got %s\n", e.Value())
	return 0
}

const natsAuthConfig = `
log: {level: debug}
nats: {embedded: {listen: %q, store_dir: %q}}
admin: {listen: %q, token: %q}
proxy:
  listen: %q
  legacy: %q
  routes:
    - name: orders
      match: {path_prefix: /api/orders}
      new: %q
      weight: 0
      shadow: {enabled: true}
`

// The embedded NATS of `ficus run` admits only its credentials: a client
// without them can neither write route.orders in ficus_routes nor read
// FICUS_SHADOW. The URL `ficus nats-url` prints works from another process,
// the credentials file is 0600 and the same after a restart, and the
// password shows in no log line, validate output or admin API answer.
func TestEmbeddedNATSRequiresCredentials(t *testing.T) {
	t.Parallel()
	legacy, newSvc := backend("legacy"), backend("new") // differing answers: a shadow mismatch
	defer legacy.Close()
	defer newSvc.Close()
	bin := buildFicus(t)
	natsAddr, adminAddr, proxyAddr, store := freeAddr(t), freeAddr(t), freeAddr(t), t.TempDir()
	const token = "natsauth-admin-token"
	cfg := writeConfig(t, fmt.Sprintf(natsAuthConfig, natsAddr, store, adminAddr, token, proxyAddr, legacy.URL, newSvc.URL))
	logs := &testenv.LogBuffer{}
	proc := startFicus(t, bin, logs, "run", "-c", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs:\n%s", tail(logs.String(), 8000))
		}
	})
	waitAdminReady(t, adminAddr, token, proc.exited)
	if resp, err := http.Get("http://" + proxyAddr + "/api/orders/1"); err == nil {
		resp.Body.Close()
	}

	printed := natsURLOf(t, cfg)
	u, err := url.Parse(printed)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	if u.Scheme != "nats" || u.User.Username() != bus.GeneratedUser || u.Host != natsAddr || len(password) < 43 {
		t.Fatalf("nats-url printed %s://%s:…@%s (%d-character password)", u.Scheme, u.User.Username(), u.Host, len(password))
	}

	// With the credentials: the bucket and the shadow record are there.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := nats.Connect(printed)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, "ficus_routes")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "route.orders"); err != nil {
		t.Fatalf("route.orders: %v", err)
	}
	waitShadowRecord(ctx, t, js)

	// Without them, or with a wrong password, the server turns the client away.
	for _, bad := range []string{"nats://" + natsAddr, "nats://ficus:wrong@" + natsAddr, "nats://" + password + "@" + natsAddr} {
		if nc, err := nats.Connect(bad, nats.NoReconnect()); err == nil || !errors.Is(err, nats.ErrAuthorization) {
			if nc != nil {
				nc.Close()
			}
			t.Errorf("connect without ficus's credentials: %v, want an authorization violation", err)
		}
	}

	// A separate process with the printed URL puts and gets a key.
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), natsChildEnv+"="+printed)
	out, err := child.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "got from-child" {
		t.Fatalf("child process: %v: %s", err, out)
	}
	if e, err := kv.Get(ctx, "probe.nats-url"); err != nil || string(e.Value()) != "from-child" {
		t.Fatalf("the child's key: %v %v", e, err)
	}

	st, err := os.Stat(filepath.Join(store, bus.CredentialsFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, mode %v", err, st.Mode())
	}
	checkNoPassword(t, bin, cfg, adminAddr, token, password, logs)

	// A restart keeps the credentials.
	nc.Close()
	if err := proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-proc.exited; err != nil {
		t.Fatalf("exit: %v", err)
	}
	proc.exited <- nil
	proc = startFicus(t, bin, logs, "run", "-c", cfg)
	waitAdminReady(t, adminAddr, token, proc.exited)
	if again := natsURLOf(t, cfg); again != printed {
		t.Error("nats-url printed another URL after a restart")
	}
	nc, err = nats.Connect(printed)
	if err != nil {
		t.Fatalf("the first URL after a restart: %v", err)
	}
	nc.Close()
	checkNoPassword(t, bin, cfg, adminAddr, token, password, logs)
}

func waitShadowRecord(ctx context.Context, t *testing.T, js jetstream.JetStream) {
	t.Helper()
	for {
		if s, err := js.Stream(ctx, "FICUS_SHADOW"); err == nil {
			if info, err := s.Info(ctx); err == nil && info.State.Msgs > 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("no shadow record on FICUS_SHADOW")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkNoPassword looks for the password in the logs (debug level), in what
// `ficus validate` prints and in the admin API's answers.
func checkNoPassword(t *testing.T, bin, cfg, adminAddr, token, password string, logs *testenv.LogBuffer) {
	t.Helper()
	seen := map[string]string{"logs": logs.String()}
	out, _ := exec.Command(bin, "validate", "-c", cfg).CombinedOutput()
	seen["ficus validate"] = string(out)
	api := adminAPI(adminAddr, token)
	for _, path := range []string{"/readyz", "/metrics", "/api/routes", "/api/rollout", "/api/shadow/orders", "/"} {
		body, err := api.GetText(t.Context(), path)
		var se *client.StatusError
		if errors.As(err, &se) {
			body, err = se.Body, nil // a refusal's reason must not name it either
		}
		if err != nil {
			t.Fatal(err)
		}
		seen["admin "+path] = body
	}
	for where, text := range seen {
		if strings.Contains(text, password) {
			t.Errorf("the NATS password shows in %s", where)
		}
	}
	if !strings.Contains(seen["logs"], "generated credentials in") {
		t.Errorf("the log does not say where the credentials are")
	}
}

const natsUsersConfig = `
nats:
  embedded:
    listen: %q
    store_dir: %q
    auth:
      users:
        - {user: reader, password: "${E2E_READER_PW}", permissions: {subscribe: ["ficus.cdc.>"], publish: ["_INBOX.>"]}}
        - {user: ficus, password: "${E2E_NATS_PW}", ficus: true}
    tls: {cert: %q, key: %q}
admin: {listen: %q}
proxy:
  listen: %q
  legacy: %q
  routes:
    - {name: orders, match: {path_prefix: /api/orders}, new: %q, weight: 0}
`

// nats.embedded.auth and .tls in a real `ficus run`: ficus connects as its
// marked user over TLS, `ficus nats-url` prints that user's tls:// URL, and a
// reader may subscribe to its subjects but not write the bucket.
func TestEmbeddedNATSConfiguredUsersAndTLS(t *testing.T) {
	legacy, newSvc := backend("legacy"), backend("new")
	defer legacy.Close()
	defer newSvc.Close()
	t.Setenv("E2E_READER_PW", "reader-s3cret")
	t.Setenv("E2E_NATS_PW", "ficus-s3cret/:@?")
	certFile, keyFile, trust := selfSignedCert(t, "nats.e2e.test")
	natsAddr, adminAddr, proxyAddr, store := freeAddr(t), freeAddr(t), freeAddr(t), t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(natsUsersConfig, natsAddr, store, certFile, keyFile, adminAddr, proxyAddr, legacy.URL, newSvc.URL))
	bin := buildFicus(t)
	logs := &testenv.LogBuffer{}
	proc := startFicus(t, bin, logs, "run", "-c", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ficus logs:\n%s", tail(logs.String(), 8000))
		}
	})
	waitAdminReady(t, adminAddr, "", proc.exited)

	printed := natsURLOf(t, cfg)
	u, err := url.Parse(printed)
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := u.User.Password(); u.Scheme != "tls" || u.User.Username() != "ficus" || pw != "ficus-s3cret/:@?" {
		t.Fatalf("nats-url printed %s://%s:…@%s, want ficus's tls:// URL", u.Scheme, u.User.Username(), u.Host)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, err := nats.Connect(printed, nats.Secure(trust))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, "ficus_routes")
	if err != nil {
		t.Fatal(err)
	}
	before, err := kv.Get(ctx, "route.orders")
	if err != nil {
		t.Fatal(err)
	}

	violations := make(chan error, 4)
	reader, err := nats.Connect("tls://reader:reader-s3cret@"+natsAddr, nats.Secure(trust),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	defer reader.Close()
	sub, err := reader.SubscribeSync("ficus.cdc.shop.orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := reader.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("ficus.cdc.shop.orders", []byte("change")); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != "change" {
		t.Fatalf("reader on its subject: %v", err)
	}
	if err := reader.Publish("$KV.ficus_routes.route.orders", []byte(`{"weight":100}`)); err != nil {
		t.Fatal(err)
	}
	_ = reader.Flush() // the server answers the violation on the error handler, read below
	select {
	case err := <-violations:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("reader's write: %v, want a permissions violation", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the reader's write to ficus_routes was not refused")
	}
	if after, err := kv.Get(ctx, "route.orders"); err != nil || after.Revision() != before.Revision() {
		t.Errorf("route.orders changed: %v", err)
	}
	if nc, err := nats.Connect("tls://"+natsAddr, nats.Secure(trust), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Error("a client without credentials got in")
	}
	if _, err := os.Stat(filepath.Join(store, bus.CredentialsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("credentials generated although users are configured: %v", err)
	}
	for _, pw := range []string{"reader-s3cret", "ficus-s3cret"} {
		if strings.Contains(logs.String(), pw) {
			t.Errorf("a password shows in the logs")
		}
	}
}
