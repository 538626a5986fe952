//go:build !linux

package upstream

import "net"

// idleState has no portable non-blocking peek; elsewhere only bytes
// already buffered are caught (see Conns.Get).
func idleState(net.Conn) string { return "" }
