// Command testplugin is the identity transform with failure switches, for
// the supervisor tests and the plugin benchmark:
//
//	TEST_PLUGIN_PROTOCOL=n    handshake with protocol version n
//	TEST_PLUGIN_HANG_ONCE=f   if file f exists, remove it and hang in Transform
//	TEST_PLUGIN_CRASH_ONCE=f  if file f exists, remove it and exit in Transform
package main

import (
	"context"
	"os"
	"strconv"

	plugin "github.com/hashicorp/go-plugin"

	"github.com/ficus-migrate/ficus/plugins/internal/wire"
)

type identity struct{}

func (identity) Transform(ctx context.Context, _ string, batch []wire.Event) ([]wire.Event, error) {
	if once("TEST_PLUGIN_HANG_ONCE") {
		select {} // never answers: the host's timeout must fire
	}
	if once("TEST_PLUGIN_CRASH_ONCE") {
		os.Exit(3)
	}
	return batch, nil
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
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake(uint(version)),
		Plugins:         wire.Set(identity{}, nil),
		GRPCServer:      wire.NewServer,
	})
}
