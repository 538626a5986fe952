package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/ficus-migrate/ficus/internal/bus"
	"github.com/ficus-migrate/ficus/internal/config"
	"github.com/ficus-migrate/ficus/shadow/report"
)

const reportHelp = `Usage: ficus report [-c FILE] [--route R] [--since 1h] [--format text|json|html] [--nats URL]

Reads the shadow mismatch records from the JetStream stream FICUS_SHADOW and groups
them by signature (the set of differing paths), most frequent first, with counts,
the share of compared traffic and one example each. html is one self-contained
page with a bar chart of the match rate per route; it is written to stdout.

A data section follows: the findings of the data comparisons (compare_data) on the
JetStream stream FICUS_DATA in the same window, per comparison, counted by kind, with
every key whose last finding is not yet resolved.

Every ficus process also publishes, every few seconds, its count of the route's
comparisons by the set of paths they differ in; the report judges them all with the
newest noise knowledge, as GET /api/shadow/{route} does: a comparison counted as a
mismatch before its differing fields were known to be noise is matched once they
are, and its record leaves the groups. Counts are exact for ficus processes started
inside the window, otherwise counted from their first count in the window on (a
lower bound). Without such counts (older ficus versions) the share of traffic is
derived from the running counters in the records, from the window's first mismatch
on (a lower bound of the traffic, so shares are upper bounds).

NATS is reached at --nats (a URL with credentials, as 'ficus nats-url' prints), else
nats.url, else the embedded server of a running ficus (nats.embedded.listen, with the
credentials it uses); a missing config file is fine with --nats.

Config keys read: nats.url, nats.credentials, nats.tls.*, nats.name, nats.embedded.*
`

func reportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report", reportHelp, stderr)
	path := configFlag(fs)
	route := fs.String("route", "", "only this route (default: all)")
	since := fs.String("since", "1h", "records newer than this duration, or since an RFC 3339 time")
	format := fs.String("format", "text", "text, json or html")
	natsURL := fs.String("nats", "", "NATS URL (default: from the config file)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("report: unexpected argument %q", fs.Arg(0))}
	}
	now := time.Now().UTC()
	from, err := parseSince(*since, now)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	render := map[string]func(report.Report, io.Writer) error{
		"text": report.Report.Text, "json": report.Report.JSON, "html": report.Report.HTML,
	}[*format]
	if render == nil {
		return &exitError{code: 2, err: fmt.Errorf("report: --format must be text, json or html, got %q", *format)}
	}
	bc, err := reportBus(*path, *natsURL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	b, err := bus.Open(ctx, bc)
	if err != nil {
		return err
	}
	// The report only reads, so a failed close loses nothing.
	defer func() { _ = closeBus(b) }()
	recs, err := report.Read(ctx, b.JS, *route, from)
	if err != nil {
		return err
	}
	tallies, err := report.ReadTallies(ctx, b.JS, *route, from)
	if err != nil {
		return err
	}
	rep := report.BuildTallied(recs, tallies, from, now)
	// The data comparisons' findings (compare_data) in the same window.
	findings, err := report.ReadData(ctx, b.JS, from)
	if err != nil {
		return err
	}
	rep.Data = report.BuildData(findings)
	return render(rep, stdout)
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("report: --since wants a duration such as 1h or an RFC 3339 time, got %q", s)
}

// reportBus is the NATS client configuration of the report: it always
// connects to a server, never starts the embedded one.
func reportBus(path, override string) (bus.Config, error) {
	quiet := slog.New(slog.DiscardHandler)
	cfg, err := config.Load(path, os.LookupEnv)
	if err != nil {
		if override == "" {
			return bus.Config{}, fmt.Errorf("find NATS (or pass --nats URL): %w", err)
		}
		return bus.Config{URLs: []string{override}, Name: "ficus-report", Logger: quiet}, nil
	}
	bc := busConfig(cfg, quiet)
	switch {
	case override != "":
		bc.URLs = []string{override}
	case len(bc.URLs) == 0:
		// A running ficus's embedded server, with the credentials it uses.
		ec, err := bus.EmbeddedClientConfig(bc.Embedded)
		if err != nil {
			return bus.Config{}, fmt.Errorf("find NATS (or pass --nats URL): %w", err)
		}
		ec.Name, ec.Logger = bc.Name, quiet
		return ec, nil
	}
	return bc, nil
}
