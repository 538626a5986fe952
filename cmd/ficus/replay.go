package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/bus"
	"github.com/ficus-migrate/ficus/internal/config"
	"github.com/ficus-migrate/ficus/shadow/redact"
	"github.com/ficus-migrate/ficus/shadow/report"
	"github.com/ficus-migrate/ficus/shadow/traffic/noise"
	"github.com/ficus-migrate/ficus/shadow/traffic/recording"
	"github.com/ficus-migrate/ficus/shadow/traffic/replay"
)

const replayHelp = `Usage: ficus replay --route R --to URL [--since 24h] [--limit N] [--rate 200/s | --speed 2x]
         [--concurrency 16] [--header 'Authorization: Bearer ${TOKEN}'] [--noise-from URL2]
         [--allow-writes] [--min-match 0.99] [--format text|json|junit] [--junit FILE]
         [--from file.jsonl] [-c FILE] [--nats URL]
       ficus replay export --route R [--since 24h] [--limit N] [-c FILE] [--nats URL] > file.jsonl

Sends the exchanges recorded for route R (proxy.routes[].record, on the JetStream
stream FICUS_TRAFFIC, or in a file written by 'ficus replay export' with --from) to
URL, and compares each answer with the recorded legacy answer by the route's compare:
rules and the noise known for it: what the route's shadow learnt (its tallies on
FICUS_SHADOW) and, with --noise-from, what a second legacy instance sent the same
requests teaches. The output is 'ficus report's grouping of the differences; the exit
code is 0 when the match rate is at least --min-match, 1 when it is not.

Secrets were redacted when recorded: a header whose recorded value is redacted is not
sent unless --header gives it (${VAR} in a value is read from the environment).
Requests with unsafe methods (POST, PUT, ...) are sent only with --allow-writes, and
then one user's (the route's sticky key) in recorded order.

A replay from the stream publishes its summary on FICUS_TRAFFIC (subject
ficus.replay.<route>) for the dashboard.

Config keys read: proxy.routes[] (strip_prefix, add_prefix, compare, noise),
shadow.redact (the key: set shadow.redact.key to compare redacted fields), nats.*
`

// replayFlags are the flags replay and replay export share.
type replayFlags struct {
	path, route, since, natsURL, from *string
	limit                             *int
}

func addReplayFlags(fs *flag.FlagSet) replayFlags {
	return replayFlags{
		path:    configFlag(fs),
		route:   fs.String("route", "", "the route replayed (required)"),
		since:   fs.String("since", "", "exchanges recorded in this last duration, or since an RFC 3339 time [24h from NATS, all of a --from file]"),
		natsURL: fs.String("nats", "", "NATS URL (default: from the config file)"),
		from:    fs.String("from", "", "read the exchanges from this file ('ficus replay export') instead of NATS"),
		limit:   fs.Int("limit", 0, "replay at most this many exchanges (0: all)"),
	}
}

func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "export" {
		return replayExportCmd(ctx, args[1:], stdout, stderr)
	}
	fs := newFlags("replay", replayHelp, stderr)
	rf := addReplayFlags(fs)
	to := fs.String("to", "", "base URL the requests are sent to (required)")
	noiseFrom := fs.String("noise-from", "", "a second legacy instance, sent every request too, to learn the noise")
	rate := fs.String("rate", "", "at most this many requests a second, such as 200/s")
	speed := fs.String("speed", "", "at this multiple of the recorded pace, such as 2x")
	concurrency := fs.Int("concurrency", 16, "requests in flight")
	allowWrites := fs.Bool("allow-writes", false, "also replay unsafe methods, in recorded order per sticky key")
	minMatch := fs.Float64("min-match", 0.99, "lowest match rate that passes (exit code 0)")
	format := fs.String("format", "text", "text, json or junit")
	junitFile := fs.String("junit", "", "also write JUnit XML to this file")
	var headers headerFlags
	fs.Var(&headers, "header", "'Name: value' set on every request (repeatable; ${VAR} from the environment)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	usageErr := func(format string, a ...any) error {
		return &exitError{code: 2, err: fmt.Errorf("replay: "+format, a...)}
	}
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q", fs.Arg(0))
	case *rf.route == "" || *to == "":
		return usageErr("--route and --to are required")
	case *rate != "" && *speed != "":
		return usageErr("give --rate or --speed, not both")
	case *format != "text" && *format != "json" && *format != "junit":
		return usageErr("--format must be text, json or junit, got %q", *format)
	case !(*minMatch >= 0 && *minMatch <= 1):
		return usageErr("--min-match must be between 0 and 1")
	}
	cfg := replay.Config{Route: *rf.route, Concurrency: *concurrency, AllowWrites: *allowWrites}
	var err error
	if cfg.To, err = httpURL("--to", *to); err != nil {
		return usageErr("%v", err)
	}
	if *noiseFrom != "" {
		if cfg.NoiseFrom, err = httpURL("--noise-from", *noiseFrom); err != nil {
			return usageErr("%v", err)
		}
	}
	if *rate != "" {
		if cfg.Pace.Rate, err = replay.ParseRate(*rate); err != nil {
			return usageErr("--%v", err)
		}
	}
	if *speed != "" {
		if cfg.Pace.Speed, err = replay.ParseSpeed(*speed); err != nil {
			return usageErr("--%v", err)
		}
	}
	if cfg.Header, err = replay.ParseHeaders(headers, os.LookupEnv); err != nil {
		return usageErr("%v", err)
	}
	if err := routeReplayConfig(&cfg, *rf.path, *rf.from != "" || *rf.natsURL != "", stderr); err != nil {
		return err
	}
	src, err := openReplaySource(ctx, rf)
	if err != nil {
		return err
	}
	defer src.close()
	if src.js != nil {
		tallies, err := report.ReadTallies(ctx, src.js, cfg.Route, time.Time{})
		if err != nil {
			return err
		}
		cfg.KnownNoise = replay.NoiseOfTallies(tallies)
	}
	res, err := replay.Run(ctx, cfg, src.xs)
	if err != nil {
		return err
	}
	render := map[string]func(io.Writer, float64) error{"text": res.Text, "json": res.JSON, "junit": res.JUnit}[*format]
	if err := render(stdout, *minMatch); err != nil {
		return err
	}
	if *junitFile != "" {
		if err := writeOutput(*junitFile, func(w io.Writer) error { return res.JUnit(w, *minMatch) }); err != nil {
			return err
		}
	}
	sum := res.Summary(*minMatch)
	if src.js != nil {
		// For the dashboard; the replay's verdict does not depend on it.
		if data, err := json.Marshal(sum); err == nil {
			if _, err := src.js.Publish(ctx, recording.SummarySubject(cfg.Route), data); err != nil {
				fmt.Fprintf(stderr, "ficus replay: summary not published for the dashboard: %v\n", err)
			}
		}
	}
	if !sum.Passed {
		return &exitError{code: 1}
	}
	return nil
}

func replayExportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("replay export", replayHelp, stderr)
	rf := addReplayFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *rf.route == "" || *rf.from != "" {
		return &exitError{code: 2, err: errors.New("replay export: --route is required; it reads NATS (no --from) and writes JSON lines to stdout")}
	}
	src, err := openReplaySource(ctx, rf)
	if err != nil {
		return err
	}
	defer src.close()
	return recording.WriteJSONL(stdout, src.xs)
}

// replaySource is where the exchanges came from: NATS (js set) or a file.
type replaySource struct {
	xs    []recording.Exchange
	js    jetstream.JetStream
	close func()
}

func openReplaySource(ctx context.Context, rf replayFlags) (*replaySource, error) {
	var from time.Time
	if since := *rf.since; since != "" || *rf.from == "" {
		if since == "" {
			since = "24h"
		}
		var err error
		if from, err = parseSince(since, time.Now().UTC()); err != nil {
			return nil, &exitError{code: 2, err: err}
		}
	}
	if *rf.from != "" {
		f, err := os.Open(*rf.from)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		xs, err := recording.ReadJSONL(f, *rf.route, from, *rf.limit)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", *rf.from, err)
		}
		return &replaySource{xs: xs, close: func() {}}, nil
	}
	bc, err := reportBus(*rf.path, *rf.natsURL)
	if err != nil {
		return nil, err
	}
	bctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	b, err := bus.Open(bctx, bc)
	if err != nil {
		return nil, err
	}
	xs, err := recording.Read(bctx, b.JS, *rf.route, from, *rf.limit)
	if err != nil {
		_ = closeBus(b)
		return nil, err
	}
	return &replaySource{xs: xs, js: b.JS, close: func() { _ = closeBus(b) }}, nil
}

// routeReplayConfig fills cfg from the route's config: its rewrite, its
// compare rules and noise settings, the redaction key and rules. Without
// a config file (a fixture replayed in CI) that is allowed when the
// exchanges come from elsewhere (--from, --nats): answers are then
// compared by the default rules.
func routeReplayConfig(cfg *replay.Config, path string, optional bool, stderr io.Writer) error {
	if _, err := os.Stat(path); optional && errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "ficus replay: no config file %s: default compare rules and no redaction key (redacted fields of the answers will differ)\n", path)
		return nil
	}
	c, err := config.Load(path, os.LookupEnv) // a broken file is an error even where none is needed
	if err != nil {
		return err
	}
	var rt *config.Route
	for i := range c.Proxy.Routes {
		if c.Proxy.Routes[i].Name == cfg.Route {
			rt = &c.Proxy.Routes[i]
		}
	}
	if rt == nil {
		return &exitError{code: 2, err: fmt.Errorf("replay: %s has no route %q", path, cfg.Route)}
	}
	cfg.StripPrefix, cfg.AddPrefix = rt.StripPrefix, rt.AddPrefix
	cfg.Rules = rt.CompareRules()
	cfg.Noise = noise.Config{MinSamples: rt.Noise.MinSamples, RelativeThreshold: rt.Noise.RelativeThreshold,
		AbsoluteThreshold: rt.Noise.AbsoluteThreshold}
	cfg.Redact = c.Shadow.RedactRules()
	if k := c.Shadow.Redact.Key.Reveal(); k != "" {
		cfg.RedactKey = []byte(k)
	} else if c.NATS.UseEmbedded() {
		if cfg.RedactKey, err = redact.LoadKey(c.NATS.Embedded.StoreDir); err != nil {
			return err
		}
	}
	if cfg.RedactKey == nil {
		fmt.Fprintln(stderr, "ficus replay: no redaction key (shadow.redact.key): redacted fields of the answers will differ")
	}
	return nil
}

// headerFlags collects repeated --header flags.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

func httpURL(flagName, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s wants an http(s) URL, got %q", flagName, s)
	}
	return u, nil
}

func writeOutput(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
