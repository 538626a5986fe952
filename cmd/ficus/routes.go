package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ficus-migrate/ficus/internal/admin/client"
	"github.com/ficus-migrate/ficus/internal/config"
	"github.com/ficus-migrate/ficus/proxy"
	"github.com/ficus-migrate/ficus/proxy/rollout"
)

const routesHelp = `Usage: ficus routes list [-c FILE] [--admin URL]
       ficus routes set NAME --weight N [-c FILE] [--admin URL]
       ficus routes promote|rollback|pause|resume NAME [-c FILE] [--admin URL]
       ficus routes approve NAME [-c FILE] [--admin URL]

Talks to a running ficus through its admin API (GET /api/routes, GET /api/rollout,
PUT /api/routes/NAME, POST /api/routes/NAME/ACTION). Weights and rollout state live in
the NATS bucket ficus_routes, so a change made through one ficus reaches every ficus
sharing that NATS within a second. set, promote, rollback and pause are operator
actions: the rollout controller leaves the route alone until resume.
approve lets a route waiting at a step of rollout.approve_at go on: the controller
sets the step at its next tick (list shows which routes wait, and since when); a
route that does not wait is an error.
The admin address and token come from the config file (admin.listen, admin.token), or
from --admin and the FICUS_ADMIN_TOKEN environment variable.

Config keys read: admin.listen, admin.token
`

func routesCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("routes", routesHelp, stderr)
	path := configFlag(fs)
	adminURL := fs.String("admin", "", "admin API base URL, e.g. http://127.0.0.1:9901 (default: from admin.listen)")
	weight := fs.Float64("weight", -1, "new weight in percent (routes set)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("routes: want a subcommand: list or set")}
	}
	base, token, err := adminEndpoint(*path, *adminURL)
	if err != nil {
		return err
	}
	c := routesClient{api: client.New(client.Config{BaseURL: base, Token: token, Timeout: 10 * time.Second})}
	switch pos[0] {
	case "list":
		return c.list(ctx, stdout)
	case "set":
		if len(pos) != 2 || *weight < 0 {
			return &exitError{code: 2, err: errors.New("usage: ficus routes set NAME --weight N")}
		}
		return c.setWeight(ctx, pos[1], *weight, stdout)
	case "promote", "rollback", "pause", "resume", "approve":
		if len(pos) != 2 {
			return &exitError{code: 2, err: fmt.Errorf("usage: ficus routes %s NAME", pos[0])}
		}
		return c.action(ctx, pos[1], pos[0], stdout)
	default:
		return &exitError{code: 2, err: fmt.Errorf("routes: unknown subcommand %q (want list, set, promote, rollback, pause, resume or approve)", pos[0])}
	}
}

// parseInterspersed lets flags follow positional arguments (`routes set NAME --weight 40`),
// which the flag package alone does not.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// adminEndpoint finds the admin API from --admin or the config file; a missing
// config file is fine when --admin is given.
func adminEndpoint(path, override string) (base, token string, err error) {
	token = os.Getenv("FICUS_ADMIN_TOKEN")
	if override != "" {
		return strings.TrimRight(override, "/"), token, nil
	}
	cfg, err := config.Load(path, os.LookupEnv)
	if err != nil {
		return "", "", fmt.Errorf("find the admin API (or pass --admin URL): %w", err)
	}
	if t := cfg.Admin.Token.Reveal(); t != "" {
		token = t
	}
	return "http://" + dialAddr(cfg.Admin.Listen), token, nil
}

// dialAddr turns a listen address into one to connect to: a listener on
// every interface (0.0.0.0, [::], :port) is reached on loopback, a name the
// admin listener answers as, whereas "0.0.0.0" in the Host header is not.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch ip := net.ParseIP(host); {
	case host == "" || (ip != nil && ip.IsUnspecified() && ip.To4() != nil):
		return net.JoinHostPort("127.0.0.1", port)
	case ip != nil && ip.IsUnspecified():
		return net.JoinHostPort("::1", port)
	}
	return listen
}

// routesClient runs the subcommands against one ficus's admin API.
type routesClient struct{ api *client.Client }

func (c routesClient) list(ctx context.Context, w io.Writer) error {
	routes, err := c.api.Routes(ctx)
	if err != nil {
		return err
	}
	// The shared state adds the rollout columns; an older ficus without
	// GET /api/rollout still gets its table.
	states, _ := c.api.Rollout(ctx)
	byName := map[string]rollout.StateView{}
	for _, s := range states {
		byName[s.Name] = s
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tWEIGHT\tSTICKY\tNEW\tROLLOUT\tREASON")
	for _, r := range routes {
		st := byName[r.Name]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, strconv.FormatFloat(r.Weight, 'f', -1, 64), r.Sticky, r.New,
			describeRollout(st), st.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return listGates(w, routes, byName)
}

// listGates prints a line per rollout gate, as of the route's last
// published decision; nothing when no route has gates.
func listGates(w io.Writer, routes []proxy.RouteInfo, byName map[string]rollout.StateView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := false
	for _, r := range routes {
		st := byName[r.Name]
		for _, g := range st.Gates {
			if !header {
				fmt.Fprintln(tw, "\nROUTE\tGATE\tKIND\tVERDICT\tVALUE\tTHRESHOLD\tAT\tREASON")
				header = true
			}
			verdict := string(g.Verdict)
			if g.DryRun {
				verdict += " (dry_run)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, g.Name, g.Kind, verdict,
				strconv.FormatFloat(g.Value, 'g', -1, 64), g.Threshold, st.GatesAt.Format(time.RFC3339), g.Reason)
		}
	}
	return tw.Flush()
}

// describeRollout is the ROLLOUT column: phase, step and whether an operator holds it.
func describeRollout(v rollout.StateView) string {
	if v.Name == "" {
		return "-"
	}
	s := string(v.Phase)
	if s == "" {
		s = "none"
	}
	if v.Plan != nil && v.Step >= 0 {
		s += fmt.Sprintf(" %d/%d", v.Step+1, len(v.Plan.Steps))
	}
	if v.Manual {
		s += " (manual)"
	}
	switch {
	case v.Waiting():
		s += fmt.Sprintf(", awaiting approval of %s since %s (%s)", strconv.FormatFloat(v.AwaitingApproval, 'f', -1, 64),
			v.AwaitingSince.Format(time.RFC3339), time.Since(v.AwaitingSince).Round(time.Second))
	case v.AwaitingApproval > 0:
		s += fmt.Sprintf(", %s approved by %s, to be set", strconv.FormatFloat(v.AwaitingApproval, 'f', -1, 64), v.ApprovedBy)
	}
	return s
}

func (c routesClient) action(ctx context.Context, name, act string, w io.Writer) error {
	call := func(ctx context.Context, name string) (rollout.StateView, error) { return c.api.Act(ctx, name, act) }
	if act == rollout.ActApprove {
		call = c.api.Approve
	}
	v, err := call(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %s, weight %s\n", v.Name, describeRollout(v), strconv.FormatFloat(v.Weight, 'f', -1, 64))
	return nil
}

func (c routesClient) setWeight(ctx context.Context, name string, weight float64, w io.Writer) error {
	v, err := c.api.SetWeight(ctx, name, weight)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: weight %s\n", v.Name, strconv.FormatFloat(v.Weight, 'f', -1, 64))
	return nil
}
