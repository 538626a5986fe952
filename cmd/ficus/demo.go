package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/cmd/ficus/config"
)

const demoHelp = `Usage: ficus demo [--keep] [--data DIR] [-v]

Starts ficus on embedded defaults — NATS with JetStream and the admin listener — on
the default ports, or on free ports when those are taken, proves the pieces work
(a JetStream publish and read-back through the listener outside tools use, /readyz,
/metrics) and prints how to connect. With --keep it stays up until Ctrl-C.

Config keys read: none (the demo builds its own config from the defaults).
`

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", demoHelp, stderr)
	keep := fs.Bool("keep", false, "keep running until Ctrl-C")
	dataDir := fs.String("data", "", "data directory (default: a temporary one, removed at the end)")
	verbose := fs.Bool("v", false, "show ficus's own log lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "ficus-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	cfg := config.Default()
	cfg.NATS.Embedded.StoreDir = dir + "/nats"
	cfg.NATS.Embedded.Listen = freeOr(cfg.NATS.Embedded.Listen)
	cfg.Admin.Listen = freeOr(cfg.Admin.Listen)

	logOut := io.Discard
	if *verbose {
		logOut = stderr
	}
	log := slog.New(slog.NewTextHandler(logOut, nil))

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(runCtx, cfg, parts{}, log) }()

	admin := "http://" + cfg.Admin.Listen
	natsURL := "nats://" + cfg.NATS.Embedded.Listen
	if err := waitReady(ctx, admin+"/readyz", done); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ficus demo: embedded NATS JetStream on %s, admin on %s (data in %s)\n", natsURL, admin, dir)
	if err := demoRoundTrip(ctx, natsURL, stdout); err != nil {
		cancel()
		<-done
		return err
	}
	if err := demoMetrics(ctx, admin, stdout); err != nil {
		cancel()
		<-done
		return err
	}
	fmt.Fprintf(stdout, "\nConnect:\n  nats --server %s stream ls\n  curl %s/readyz\n  curl %s/metrics\n", natsURL, admin, admin)
	if *keep {
		fmt.Fprintln(stdout, "\nRunning until Ctrl-C …")
		<-ctx.Done()
	} else {
		fmt.Fprintln(stdout, "\n(`ficus demo --keep`, or `make demo DEMO_ARGS=--keep`, keeps it running to try these.)")
	}
	cancel()
	if err := <-done; err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ficus demo: stopped cleanly.")
	return nil
}

// freeOr keeps the default address when it is free, else picks a free port on the same host.
func freeOr(addr string) string {
	l, err := net.Listen("tcp", addr)
	if err == nil {
		l.Close()
		return addr
	}
	host, _, _ := net.SplitHostPort(addr)
	l, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return addr
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(ctx context.Context, url string, done <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			if err == nil {
				err = errors.New("stopped before it was ready")
			}
			return fmt.Errorf("ficus did not start: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("ficus was not ready at %s within 30s", url)
}

// demoRoundTrip publishes and reads back an event through the embedded listener,
// as an outside consumer would.
func demoRoundTrip(ctx context.Context, url string, w io.Writer) error {
	nc, err := nats.Connect(url, nats.Name("ficus-demo"))
	if err != nil {
		return fmt.Errorf("connect to the embedded NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "FICUS_DEMO", Subjects: []string{"ficus.demo.>"}})
	if err != nil {
		return fmt.Errorf("create stream FICUS_DEMO: %w", err)
	}
	ack, err := js.Publish(ctx, "ficus.demo.hello", []byte(`{"hello":"from ficus"}`), jetstream.WithMsgID("demo-hello"))
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	msg, err := st.GetMsg(ctx, ack.Sequence)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	fmt.Fprintf(w, "  JetStream: published to %s, stream %s seq %d, read back %s\n", msg.Subject, ack.Stream, ack.Sequence, msg.Data)
	return nil
}

func demoMetrics(ctx context.Context, admin string, w io.Writer) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	n := strings.Count(string(body), "\n# TYPE ")
	fmt.Fprintf(w, "  admin: /readyz 200, /metrics serves %d metric families\n", n+1)
	return nil
}
