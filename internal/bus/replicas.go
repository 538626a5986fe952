package bus

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// JetStream API error codes (nats-server's errors.json).
const (
	codeInsufficientResources jetstream.ErrorCode = 10023
	codeReplicasNotSupported  jetstream.ErrorCode = 10074
)

// LacksResources reports whether JetStream refused for want of resources,
// as a cluster smaller than the replicas asked for (or still forming) does.
func LacksResources(err error) bool { return isAPIError(err, codeInsufficientResources) }

// ReplicasRefused reports whether JetStream cannot hold the replicas asked
// for: a single server refuses replicas, a cluster smaller than the count
// lacks resources.
func ReplicasRefused(err error) bool {
	return isAPIError(err, codeReplicasNotSupported) || LacksResources(err)
}

func isAPIError(err error, code jetstream.ErrorCode) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == code
}

// CreateOrUpdateStream creates or updates sc with three replicas where NATS
// is a cluster that can hold them (its records then survive the loss of a
// node), else with one.
func CreateOrUpdateStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) error {
	sc.Replicas = 3
	_, err := js.CreateOrUpdateStream(ctx, sc)
	if ReplicasRefused(err) {
		sc.Replicas = 1
		_, err = js.CreateOrUpdateStream(ctx, sc)
	}
	return err
}
