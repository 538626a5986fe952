// Command testplugin is the identity transform and a case-blind row
// comparator with failure switches, for the supervisor tests and the plugin
// benchmark:
//
//	TEST_PLUGIN_PROTOCOL=n    handshake with protocol version n
//	TEST_PLUGIN_HANG_ONCE=f   if file f exists, remove it and hang in the call
//	TEST_PLUGIN_CRASH_ONCE=f  if file f exists, remove it and exit in the call
//	TEST_PLUGIN_ROWS_DELAY=d  sleep d (a Go duration) in every CompareRows
//
// The row comparator calls two rows equal when their values are equal
// ignoring case (NULL equals only NULL); otherwise it names the differing
// columns, with the reason "<comparison> <key>: batch of <n>" so that tests
// see which batch carried a pair.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	plugin "github.com/hashicorp/go-plugin"

	"github.com/ficus-migrate/ficus/plugins/internal/wire"
)

type identity struct{}

func (identity) Transform(ctx context.Context, _ string, batch []wire.Event) ([]wire.Event, error) {
	failureSwitches()
	return batch, nil
}

type caseBlind struct{ delay time.Duration }

func (c caseBlind) CompareRows(ctx context.Context, comparison string, _, _ []string, pairs []wire.RowPair) ([]wire.Judgement, error) {
	failureSwitches()
	time.Sleep(c.delay)
	out := make([]wire.Judgement, len(pairs))
	for i, p := range pairs {
		var cols []int
		for j := range p.Legacy {
			l, n := p.Legacy[j], p.New[j]
			if l.Null != n.Null || !strings.EqualFold(l.Text, n.Text) {
				cols = append(cols, j)
			}
		}
		if len(cols) == 0 {
			out[i].Equal = true
			continue
		}
		out[i] = wire.Judgement{Columns: cols, Reason: fmt.Sprintf("%s %s: batch of %d", comparison, p.Key, len(pairs))}
	}
	return out, nil
}

func failureSwitches() {
	if once("TEST_PLUGIN_HANG_ONCE") {
		select {} // never answers: the host's timeout must fire
	}
	if once("TEST_PLUGIN_CRASH_ONCE") {
		os.Exit(3)
	}
}

func once(env string) bool {
	f := os.Getenv(env)
	return f != "" && os.Remove(f) == nil
}

func main() {
	version := wire.ProtocolVersion
	if v, err := strconv.Atoi(os.Getenv("TEST_PLUGIN_PROTOCOL")); err == nil {
		version = v
	}
	delay, _ := time.ParseDuration(os.Getenv("TEST_PLUGIN_ROWS_DELAY"))
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake(uint(version)),
		Plugins:         wire.Set(wire.Impls{Transformer: identity{}, RowComparator: caseBlind{delay: delay}}),
		GRPCServer:      wire.NewServer,
	})
}
