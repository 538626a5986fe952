package routestate

import (
	"context"
	"time"

	"github.com/ficus-migrate/ficus/internal/lease"
)

// Lease is one process's claim on the controller of one route, kept in the
// bucket under lease.<route>; see package internal/lease.
type Lease = lease.Lease

// NewLease prepares a lease on route for holder (a process instance id).
func (s *Store) NewLease(route, holder string, ttl time.Duration) *Lease {
	return lease.New(s.kv, leasePrefix+route, holder, ttl)
}

// LeaseHolder returns who holds a route's lease ("" when free or unknown).
func (s *Store) LeaseHolder(ctx context.Context, route string) string {
	return lease.Holder(ctx, s.kv, leasePrefix+route)
}
