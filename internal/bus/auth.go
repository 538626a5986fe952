package bus

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/nats-io/nats-server/v2/server"
)

// The embedded server always requires authentication: with no users configured
// (nats.embedded.auth), ficus generates a user and password on first start and keeps
// them in CredentialsFile under the store directory. A user and password rather than
// a token because configured users are user/password (or nkey) entries too: ficus
// connects the same way in both cases, and nats-server cannot mix a token with users.

// CredentialsFile is the file, inside nats.embedded.store_dir, that holds the
// generated credentials as JSON ({"user": …, "password": …}), mode 0600.
const CredentialsFile = "ficus-nats-credentials.json"

// GeneratedUser is the user name of the generated credentials.
const GeneratedUser = "ficus"

// passwordBytes is the entropy of a generated password (256 bits).
const passwordBytes = 32

// Credentials are a NATS user and its password. They are secret: String and
// GoString hide the password, so a %v in a log line cannot leak it.
type Credentials struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

func (c Credentials) String() string { return c.User + ":REDACTED" }

// GoString hides the password from %#v too.
func (c Credentials) GoString() string { return strconv.Quote(c.String()) }

// LoadOrCreateCredentials returns the generated credentials kept in storeDir,
// generating them (and creating storeDir) when the file does not exist yet. A file
// that others may read (mode beyond 0600), that cannot be read, or that does not
// hold credentials is an error: ficus refuses to run with credentials that may
// have leaked, or to replace ones that scripts already use.
func LoadOrCreateCredentials(storeDir string) (Credentials, error) {
	path := filepath.Join(storeDir, CredentialsFile)
	c, err := readCredentials(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return c, err
	}
	if err := os.MkdirAll(storeDir, 0o750); err != nil {
		return Credentials{}, fmt.Errorf("nats.embedded.store_dir %q: %w", storeDir, err)
	}
	fresh, err := newCredentials()
	if err != nil {
		return Credentials{}, err
	}
	switch err := writeNew(path, fresh); {
	case errors.Is(err, fs.ErrExist):
		// Another process (`ficus nats-url` in a start script, a second ficus on
		// the same store) created it first: use theirs.
		return readCredentials(path)
	case err != nil:
		return Credentials{}, err
	}
	return fresh, nil
}

// ReadCredentials returns the generated credentials kept in storeDir without ever
// creating them: for clients of a ficus that should already be running.
func ReadCredentials(storeDir string) (Credentials, error) {
	path := filepath.Join(storeDir, CredentialsFile)
	c, err := readCredentials(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, fmt.Errorf("nats.embedded.store_dir: no credentials file %s: has ficus started with this config "+
			"(or run `ficus nats-url`)?", path)
	}
	return c, err
}

func readCredentials(path string) (Credentials, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Credentials{}, err
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("nats.embedded.store_dir: cannot read the NATS credentials file: %w "+
			"(run ficus as the user that owns it)", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Credentials{}, fmt.Errorf("nats.embedded.store_dir: credentials file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return Credentials{}, fmt.Errorf("nats.embedded.store_dir: credentials file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return Credentials{}, fmt.Errorf("nats.embedded.store_dir: credentials file %s has mode %04o: others may have "+
			"read the password; ficus uses it only when readable by its owner alone (chmod 600 %s, or delete it to "+
			"generate new credentials)", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return Credentials{}, fmt.Errorf("nats.embedded.store_dir: cannot read the NATS credentials file %s: %w", path, err)
	}
	var c Credentials
	// The decoder's message could quote the file's content: say only where.
	if json.Unmarshal(data, &c) != nil || c.User == "" || c.Password == "" {
		return Credentials{}, fmt.Errorf("nats.embedded.store_dir: credentials file %s does not hold "+
			`{"user": …, "password": …} (delete it to generate new credentials)`, path)
	}
	return c, nil
}

func newCredentials() (Credentials, error) {
	b := make([]byte, passwordBytes)
	if _, err := rand.Read(b); err != nil {
		return Credentials{}, fmt.Errorf("generate NATS credentials: %w", err)
	}
	// base64url needs no escaping in a URL's userinfo.
	return Credentials{User: GeneratedUser, Password: base64.RawURLEncoding.EncodeToString(b)}, nil
}

// writeNew writes c to path only if path does not exist (fs.ErrExist otherwise),
// so that two processes starting at once agree on one password: the file is
// written whole under a temporary name, then hard-linked into place, which fails
// if the name is taken. Readers never see a partly written file.
func writeNew(path string, c Credentials) error {
	dir := filepath.Dir(path)
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode NATS credentials: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".ficus-nats-credentials-*") // mode 0600
	if err != nil {
		return fmt.Errorf("nats.embedded.store_dir: write the NATS credentials: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("nats.embedded.store_dir: write the NATS credentials: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fs.ErrExist
		}
		return fmt.Errorf("nats.embedded.store_dir: write the NATS credentials: %w", err)
	}
	// The name must survive a crash, or the next start would generate other ones.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close() // a directory opened only to sync it
	}
	return nil
}

// selfCredentials are the credentials ficus connects to its embedded server
// with: the configured user marked as ficus's (else the first), or the
// generated ones.
func selfCredentials(cfg EmbeddedConfig, storeDir string, create bool) (Credentials, error) {
	if len(cfg.Users) == 0 {
		if create {
			return LoadOrCreateCredentials(storeDir)
		}
		return ReadCredentials(storeDir)
	}
	u := cfg.Users[0]
	for _, m := range cfg.Users {
		if m.Ficus {
			u = m
			break
		}
	}
	if u.Name == "" || u.Password == "" {
		return Credentials{}, errors.New("nats.embedded.auth.users: the user ficus connects as (the one marked " +
			"ficus: true, else the first) needs a user name and a password")
	}
	return Credentials{User: u.Name, Password: u.Password}, nil
}

// serverAuth sets the users the embedded server accepts: the configured ones, or
// the single generated user. Without a user, nats-server would accept anyone.
func serverAuth(opts *server.Options, cfg EmbeddedConfig, self Credentials) {
	if len(cfg.Users) == 0 {
		opts.Users = []*server.User{{Username: self.User, Password: self.Password}}
		return
	}
	for _, u := range cfg.Users {
		perms := u.permissions()
		if u.NKey != "" {
			opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: u.NKey, Permissions: perms})
			continue
		}
		opts.Users = append(opts.Users, &server.User{Username: u.Name, Password: u.Password, Permissions: perms})
	}
}

// permissions maps the allow lists to nats-server's: a nil list leaves that
// direction unrestricted, an empty one forbids it.
func (u User) permissions() *server.Permissions {
	if u.Publish == nil && u.Subscribe == nil {
		return nil
	}
	allow := func(subjects []string) *server.SubjectPermission {
		switch {
		case subjects == nil:
			return nil
		case len(subjects) == 0:
			return &server.SubjectPermission{Deny: []string{">"}}
		}
		return &server.SubjectPermission{Allow: subjects}
	}
	return &server.Permissions{Publish: allow(u.Publish), Subscribe: allow(u.Subscribe)}
}

// EmbeddedURL is the URL, credentials included, with which a client on this
// machine reaches the embedded server that cfg describes: nats://USER:PASSWORD@HOST:PORT
// (tls:// with TLS), properly escaped, as nats.go and the nats CLI take it. A listen
// host of "all interfaces" becomes the loopback address. It creates the generated
// credentials when they do not exist yet, exactly as the server's first start
// would, so the two always agree. The URL is a secret: never log it.
func EmbeddedURL(cfg EmbeddedConfig) (string, error) {
	host, port, err := clientAddr(cfg.Listen)
	if err != nil {
		return "", err
	}
	c, err := selfCredentials(cfg, storeDirOf(cfg), true)
	if err != nil {
		return "", err
	}
	return credentialURL(cfg.TLS.Cert != "", net.JoinHostPort(host, strconv.Itoa(port)), c), nil
}

// EmbeddedClientConfig is the Config of a client, in another process on this
// machine, of the running embedded server that cfg describes (`ficus report`): its
// address, and the credentials and TLS trust ficus's own connection uses. It never
// creates credentials.
func EmbeddedClientConfig(cfg EmbeddedConfig) (Config, error) {
	host, port, err := clientAddr(cfg.Listen)
	if err != nil {
		return Config{}, err
	}
	c, err := selfCredentials(cfg, storeDirOf(cfg), false)
	if err != nil {
		return Config{}, err
	}
	self := &selfAuth{creds: c}
	if cfg.TLS.Cert != "" {
		if self.tls, err = selfTLS(cfg.TLS); err != nil {
			return Config{}, err
		}
	}
	u := url.URL{Scheme: "nats", Host: net.JoinHostPort(host, strconv.Itoa(port))}
	if self.tls != nil {
		u.Scheme = "tls"
	}
	return Config{URLs: []string{u.String()}, self: self}, nil
}

func credentialURL(tls bool, hostport string, c Credentials) string {
	u := url.URL{Scheme: "nats", User: url.UserPassword(c.User, c.Password), Host: hostport}
	if tls {
		u.Scheme = "tls"
	}
	return u.String()
}

// clientAddr is where a local client connects for a listen address.
func clientAddr(listen string) (string, int, error) {
	if listen == "" {
		listen = DefaultListen
	}
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("nats.embedded.listen %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port > 65535 {
		return "", 0, fmt.Errorf("nats.embedded.listen %q: bad port", listen)
	}
	if port <= 0 {
		return "", 0, fmt.Errorf("nats.embedded.listen %s picks a free port at every start, so no client can know it: "+
			"set a fixed port", listen)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return host, port, nil
}

func storeDirOf(cfg EmbeddedConfig) string {
	if cfg.StoreDir == "" {
		return DefaultStoreDir
	}
	return cfg.StoreDir
}
