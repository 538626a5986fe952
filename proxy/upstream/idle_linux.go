//go:build linux

package upstream

import (
	"net"
	"syscall"
	"unsafe"
)

// idleState looks, without blocking and without consuming anything, at
// whether an idle keep-alive connection has something to say. An idle
// HTTP/1.1 connection must be silent: a byte is a response nobody asked for
// (it would be read as the answer to the next request, possibly another
// client's) and EOF means the backend closed it. "" means clean.
func idleState(c net.Conn) string {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return ""
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return DiscardError
	}
	var (
		n     uintptr
		errno syscall.Errno
		b     [1]byte
	)
	err = raw.Read(func(fd uintptr) bool {
		// recv(MSG_PEEK|MSG_DONTWAIT) directly: syscall.Recvfrom would
		// allocate a sockaddr on every reuse of a connection.
		n, _, errno = syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		return true // never park: this is a check, not a read
	})
	switch {
	case err != nil:
		return DiscardError
	case errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK:
		return ""
	case errno == syscall.EINTR:
		return "" // nothing was consumed; the exchange itself will tell
	case errno != 0:
		return DiscardError
	case n == 0:
		return DiscardClosed
	}
	return DiscardUnsolicited
}
