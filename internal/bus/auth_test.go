package bus

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// The embedded server turns away a client without credentials, or with wrong
// ones, before it can touch JetStream; ficus's own credentials get in.
func TestEmbeddedRefusesUnauthenticated(t *testing.T) {
	b := openEmbedded(t, EmbeddedConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "ficus_routes"}); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(b.ClientURL(), "nats://")
	for _, tc := range []struct{ name, url string }{
		{"no credentials", "nats://" + addr},
		{"wrong password", "nats://ficus:guess@" + addr},
		{"unknown user", "nats://admin:admin@" + addr},
		{"token", "nats://sometoken@" + addr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := nats.Connect(tc.url, nats.NoReconnect())
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Errorf("err = %v, want an authorization violation", err)
			}
		})
	}
	nc, err := nats.Connect(b.ClientURLWithCredentials())
	if err != nil {
		t.Fatalf("with ficus's credentials: %v", err)
	}
	nc.Close()
}

// The generated credentials: 0600, 256 bits of randomness, the same after a
// restart and for EmbeddedURL, and never in ClientURL.
func TestGeneratedCredentialsFile(t *testing.T) {
	store := t.TempDir()
	b := openEmbedded(t, EmbeddedConfig{StoreDir: store})
	path := filepath.Join(store, CredentialsFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", st.Mode().Perm())
	}
	first, err := ReadCredentials(store)
	if err != nil {
		t.Fatal(err)
	}
	if first.User != GeneratedUser || len(first.Password) < 43 {
		t.Errorf("credentials %q with a %d-character password, want user %q and 43 characters (32 bytes)",
			first, len(first.Password), GeneratedUser)
	}
	if strings.Contains(b.ClientURL(), first.Password) || strings.Contains(first.String()+first.GoString(), first.Password) {
		t.Error("the password shows in ClientURL or Credentials.String")
	}
	addr := strings.TrimPrefix(b.ClientURL(), "nats://")
	ctx := context.Background()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	again := openEmbedded(t, EmbeddedConfig{StoreDir: store, Listen: addr})
	u, err := url.Parse(again.ClientURLWithCredentials())
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := u.User.Password(); pw != first.Password {
		t.Error("the password changed across a restart")
	}
	viaHelper, err := EmbeddedURL(EmbeddedConfig{StoreDir: store, Listen: addr})
	if err != nil || viaHelper != again.ClientURLWithCredentials() {
		t.Errorf("EmbeddedURL = %q, %v; want the running server's URL", viaHelper, err)
	}
	nc, err := nats.Connect(viaHelper)
	if err != nil {
		t.Fatalf("connect with EmbeddedURL: %v", err)
	}
	nc.Close()
}

// A credentials file others may have read, or that cannot be read, stops the
// start with a message naming the file and the fix.
func TestBadCredentialsFileRefusesToStart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(path string) error
		want  []string
	}{
		{"group and world readable", func(p string) error { return os.WriteFile(p, []byte(`{"user":"ficus","password":"x"}`), 0o644) },
			[]string{CredentialsFile, "mode 0644", "chmod 600"}},
		{"group readable", func(p string) error { return os.WriteFile(p, []byte(`{"user":"ficus","password":"x"}`), 0o640) },
			[]string{"mode 0640"}},
		{"not a file", func(p string) error { return os.Mkdir(p, 0o700) }, []string{"not a regular file"}},
		{"garbage", func(p string) error { return os.WriteFile(p, []byte("s3cret-garbage"), 0o600) },
			[]string{"does not hold", "delete it"}},
		{"no password", func(p string) error { return os.WriteFile(p, []byte(`{"user":"ficus"}`), 0o600) },
			[]string{"does not hold"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := t.TempDir()
			path := filepath.Join(store, CredentialsFile)
			if err := tc.setup(path); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := Open(ctx, Config{Embedded: EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: store}})
			if err == nil {
				b.Close(ctx)
				t.Fatal("started")
			}
			for _, w := range append(tc.want, "nats.embedded.store_dir") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the file's content: %v", err)
			}
			if _, err := EmbeddedURL(EmbeddedConfig{Listen: "127.0.0.1:4222", StoreDir: store}); err == nil {
				t.Error("EmbeddedURL accepted the file")
			}
		})
	}
}

// Processes starting at once on one store agree on one password.
func TestCredentialsCreatedOnce(t *testing.T) {
	store := filepath.Join(t.TempDir(), "not", "yet")
	var wg sync.WaitGroup
	got := make([]Credentials, 8)
	errs := make([]error, len(got))
	for i := range got {
		wg.Go(func() { got[i], errs[i] = LoadOrCreateCredentials(store) })
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i] != got[0] {
			t.Fatalf("call %d: %q, %v; call 0: %q", i, got[i], errs[i], got[0])
		}
	}
	left, _ := filepath.Glob(filepath.Join(store, ".ficus-nats-credentials-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestEmbeddedURL(t *testing.T) {
	odd := "p@ss:w/rd?%#&+ é"
	users := []User{{Name: "reader", Password: "r"}, {Name: "fi cus", Password: odd, Ficus: true}}
	for _, tc := range []struct {
		name     string
		cfg      EmbeddedConfig
		want     string // URL without user info
		user, pw string
		err      string
	}{
		{"loopback", EmbeddedConfig{Listen: "127.0.0.1:4222"}, "nats://127.0.0.1:4222", GeneratedUser, "", ""},
		{"all interfaces", EmbeddedConfig{Listen: "0.0.0.0:14222"}, "nats://127.0.0.1:14222", GeneratedUser, "", ""},
		{"all IPv6 interfaces", EmbeddedConfig{Listen: "[::]:4222"}, "nats://[::1]:4222", GeneratedUser, "", ""},
		{"no host", EmbeddedConfig{Listen: ":4222"}, "nats://127.0.0.1:4222", GeneratedUser, "", ""},
		{"TLS", EmbeddedConfig{Listen: "127.0.0.1:4222", TLS: ServerTLS{Cert: "c", Key: "k"}}, "tls://127.0.0.1:4222", GeneratedUser, "", ""},
		{"configured user, escaped", EmbeddedConfig{Listen: "127.0.0.1:4222", Users: users}, "nats://127.0.0.1:4222", "fi cus", odd, ""},
		{"first user by default", EmbeddedConfig{Listen: "127.0.0.1:4222", Users: users[:1]}, "nats://127.0.0.1:4222", "reader", "r", ""},
		{"nkey user for ficus", EmbeddedConfig{Listen: "127.0.0.1:4222", Users: []User{{NKey: "UABC"}}}, "", "", "", "needs a user name and a password"},
		{"random port", EmbeddedConfig{Listen: "127.0.0.1:0"}, "", "", "", "set a fixed port"},
		{"random port -1", EmbeddedConfig{Listen: "127.0.0.1:-1"}, "", "", "", "set a fixed port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.StoreDir = t.TempDir()
			got, err := EmbeddedURL(tc.cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(got)
			if err != nil {
				t.Fatalf("%q does not parse: %v", got, err)
			}
			pw, _ := u.User.Password()
			if tc.pw == "" {
				c, _ := ReadCredentials(tc.cfg.StoreDir)
				tc.pw = c.Password
			}
			if u.User.Username() != tc.user || pw != tc.pw {
				t.Errorf("user info %q, want user %q and the password", u.User, tc.user)
			}
			u.User = nil
			if u.String() != tc.want {
				t.Errorf("URL %s, want %s", u, tc.want)
			}
		})
	}
}

// Configured users replace the generated ones, each with its permissions: a
// reader subscribes to its subjects and cannot write the bucket; an nkey user
// logs in by signing.
func TestConfiguredUsersAndPermissions(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	store := t.TempDir()
	b := openEmbedded(t, EmbeddedConfig{StoreDir: store, Users: []User{
		{Name: "reader", Password: "reader-pw", Subscribe: []string{"ficus.cdc.>"}, Publish: []string{"_INBOX.>"}},
		{Name: "ficus", Password: "ficus-pw", Ficus: true},
		{NKey: pub, Subscribe: []string{"ficus.cdc.>"}, Publish: []string{}},
	}})
	if _, err := os.Stat(filepath.Join(store, CredentialsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("credentials were generated although users are configured: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := b.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "ficus_routes"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "route.orders", []byte("legacy")); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(b.ClientURL(), "nats://")

	violations := make(chan error, 10)
	reader, err := nats.Connect("nats://reader:reader-pw@"+addr, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		violations <- err
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	sub, err := reader.SubscribeSync("ficus.cdc.shop.orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := reader.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := b.Conn.Publish("ficus.cdc.shop.orders", []byte("change")); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != "change" {
		t.Fatalf("reader on its subject: %v %v", m, err)
	}
	if err := reader.Publish("$KV.ficus_routes.route.orders", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if err := reader.Flush(); err != nil {
		t.Fatal(err)
	}
	expectViolation(t, violations, "Publish")
	if _, err := reader.SubscribeSync("$KV.ficus_routes.>"); err != nil {
		t.Fatal(err)
	}
	if err := reader.Flush(); err != nil {
		t.Fatal(err)
	}
	expectViolation(t, violations, "Subscription")
	if e, err := kv.Get(ctx, "route.orders"); err != nil || string(e.Value()) != "legacy" {
		t.Fatalf("route.orders after the reader's attempt: %v %v", e, err)
	}

	signer, err := nats.Connect("nats://"+addr, nats.Nkey(pub, kp.Sign))
	if err != nil {
		t.Fatalf("nkey user: %v", err)
	}
	signer.Close()
	other, _ := nkeys.CreateUser()
	otherPub, _ := other.PublicKey()
	if nc, err := nats.Connect("nats://"+addr, nats.Nkey(otherPub, other.Sign)); err == nil {
		nc.Close()
		t.Error("an unknown nkey got in")
	}
}

func expectViolation(t *testing.T, violations chan error, kind string) {
	t.Helper()
	select {
	case err := <-violations:
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), kind) {
			t.Errorf("async error %v, want a %s permissions violation", err, kind)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("no %s permissions violation reported", kind)
	}
}
