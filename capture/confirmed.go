package capture

import "sync/atomic"

// Confirmed is the last position a source confirmed to its database (a
// PostgreSQL slot's confirmed_flush_lsn) or saved as its checkpoint (MySQL):
// where a restart, or a standby taking over, resumes. The admin API reads it
// while the source's goroutine sets it. A nil *Confirmed ignores Set.
type Confirmed struct {
	v atomic.Pointer[string]
}

// Set records p.
func (c *Confirmed) Set(p Position) {
	if c == nil || p == nil {
		return
	}
	s := p.String()
	c.v.Store(&s)
}

// Get returns the last position set, "" before any.
func (c *Confirmed) Get() string {
	if c == nil {
		return ""
	}
	if p := c.v.Load(); p != nil {
		return *p
	}
	return ""
}
