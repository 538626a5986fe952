package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ficus-migrate/ficus/internal/bus"
	"github.com/ficus-migrate/ficus/internal/config"
)

const natsURLHelp = `Usage: ficus nats-url [-c FILE]

Prints the URL of the NATS server ficus uses, credentials included, on one line and
nothing else, for scripts and tools:

  nats --server "$(ficus nats-url -c ficus.yaml)" stream ls

With the embedded server (no nats.url): nats://USER:PASSWORD@HOST:PORT, or tls://… with
nats.embedded.tls (the nats CLI then also needs --tlsca). The user is the one ficus
connects as: from nats.embedded.auth, else the credentials ficus generates in
nats.embedded.store_dir. Those are created here when missing, as the first start of
ficus would create them, so a script may run this before 'ficus run'; run it as the
user ficus runs as (the file is readable by its owner only). A listen address on all
interfaces is printed as the loopback address; port 0 has no URL to print.
With nats.url: those URLs, comma-separated, as written.

The output is a secret: do not log it.

Config keys read: nats.url, nats.embedded.listen, nats.embedded.store_dir,
nats.embedded.auth, nats.embedded.tls
`

func natsURLCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("nats-url", natsURLHelp, stderr)
	path := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("nats-url: unexpected argument %q", fs.Arg(0))}
	}
	cfg, err := config.Load(*path, os.LookupEnv)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	u, err := natsURL(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, u)
	return nil
}

// natsURL is the URL, credentials included, of the NATS server of cfg: what
// `ficus nats-url` prints, and how the demo and the tests reach the server.
func natsURL(cfg *config.Config) (string, error) {
	if !cfg.NATS.UseEmbedded() {
		urls := make([]string, len(cfg.NATS.URLs))
		for i, u := range cfg.NATS.URLs {
			urls[i] = u.Reveal()
		}
		return strings.Join(urls, ","), nil
	}
	return bus.EmbeddedURL(embeddedConfig(cfg.NATS.Embedded))
}

// embeddedConfig is the embedded server's part of the bus configuration.
func embeddedConfig(e config.Embedded) bus.EmbeddedConfig {
	bc := bus.EmbeddedConfig{
		Listen:       e.Listen,
		StoreDir:     e.StoreDir,
		SyncInterval: e.SyncInterval,
		SyncAlways:   e.SyncAlways,
		TLS:          bus.ServerTLS{Cert: e.TLS.Cert, Key: e.TLS.Key, CA: e.TLS.CA},
	}
	for _, u := range e.Auth.Users {
		bu := bus.User{Name: u.User, Password: u.Password.Reveal(), NKey: u.NKey, Ficus: u.Ficus}
		if p := u.Permissions; p != nil {
			bu.Publish, bu.Subscribe = p.Publish, p.Subscribe
		}
		bc.Users = append(bc.Users, bu)
	}
	return bc
}
