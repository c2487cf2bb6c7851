// Package testsupport holds what the tests of several packages share: a
// clock that moves only when told, and a log sink that concurrent writers
// (a bot's goroutines) may share. Only tests import it.
package testsupport

import (
	"strings"
	"sync"
	"time"
)

// Clock is a clock that moves only when told: expiries, revert windows
// and leases without waiting. Its Now is what the code under test is given
// as its clock. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// SyncBuffer is an io.Writer that keeps what is written, safe for
// concurrent writers: a logger's output, or a command's stderr, read by
// the test while the code under test still writes.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
