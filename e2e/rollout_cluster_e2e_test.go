package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/internal/testenv"
)

// The same scenarios against a 3-node NATS cluster (nats-server processes,
// JetStream replicas 3); the node leading the ficus_routes bucket is
// killed with SIGKILL mid-rollout, right after the route's lease holder.
func TestRolloutFleetNATSCluster(t *testing.T) {
	t.Parallel()
	c := testenv.MustStartNATSCluster(t, 3)
	nc := c.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var perNode []*nats.Conn
	for i := range 3 {
		perNode = append(perNode, c.ConnectNode(t, i))
	}
	runRolloutScenarios(t, c.URLs, perNode, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, "KV_ficus_routes")
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Config.Replicas != 3 || info.Cluster == nil {
			t.Fatalf("bucket ficus_routes has %d replicas (cluster %+v), want 3", info.Config.Replicas, info.Cluster)
		}
		for i := range 3 {
			if info.Cluster.Leader == testenv.NATSClusterNodeName(i) {
				c.Kill(t, i)
				return
			}
		}
		t.Fatalf("bucket leader %q is no node of the cluster", info.Cluster.Leader)
	})
}
