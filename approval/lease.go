package approval

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"
)

// Recovery by lease: the process at work on a request (approving and
// applying it, reverting it, telling how it went) holds its lease in the
// store, and renews it while it works. A process that dies stops renewing;
// once its lease lapses, any process's Sweep (the restarted one, another
// replica) takes the request over: it reconciles an interrupted apply from
// the policies, returns an interrupted revert to applied, and tells an
// untold outcome. A lease still renewed is never taken: its holder is
// alive.
const (
	// DefaultLease is how long a lease lasts unless renewed: the longest a
	// dead process's request waits before another takes it over (plus up
	// to a sweep's interval).
	DefaultLease = 30 * time.Second
	// DefaultRenew is how often a working process renews its leases:
	// often enough that two renewals can fail in a row (a slow database)
	// before the lease lapses under a live process.
	DefaultRenew = 10 * time.Second
)

// newHolder names a process for its leases.
func newHolder() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "ca-check-" + hex.EncodeToString(b[:])
}

// lease is the service's hold on one request while it works on it: it
// renews the lease in the background until released, and says when it
// may be lost: another process took it, or it was not renewed in time (a
// stall longer than the lease, a database unreachable that long), so that
// another may have. Work stops then, as it would in a dead process.
type lease struct {
	s     *Service
	id    string
	lost  atomic.Bool
	until atomic.Int64 // the expiry of the last renewal, Unix nanoseconds

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// until is the expiry of a lease taken or renewed now.
func (s *Service) until() *Lease {
	return &Lease{Holder: s.holder, Until: s.now().Add(s.leaseFor)}
}

// hold starts renewing the service's lease on request r, which the caller
// has just taken (with a transition or TakeLease).
func (s *Service) hold(ctx context.Context, r Request) *lease {
	l := &lease{s: s, id: r.ID, stop: make(chan struct{}), done: make(chan struct{})}
	l.until.Store(r.Lease.Until.UnixNano())
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer close(l.done)
		t := time.NewTicker(s.renewEvery)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
			}
			next := s.until()
			held, err := s.store.RenewLease(ctx, l.id, *next)
			switch {
			case err == nil && held:
				l.until.Store(next.Until.UnixNano())
			case err != nil:
				// Try again at the next tick: the lease outlasts a
				// missed renewal or two.
				s.storeFail(ctx, "renew lease", err)
			case !held:
				l.lost.Store(true)
				s.log.WarnContext(ctx, "lease lost: another process took the request over", "request", l.id, "holder", s.holder)
				return
			}
		}
	}()
	return l
}

// held reports whether the lease is still surely the service's: not taken
// over, and renewed until after now. Work stops when it is not.
func (l *lease) held() bool {
	return !l.lost.Load() && l.s.now().Before(time.Unix(0, l.until.Load()))
}

// renewed records a renewal the caller made (a transition that set the
// lease).
func (l *lease) renewed(until time.Time) { l.until.Store(until.UnixNano()) }

// release stops renewing (the lease lapses at its expiry unless a
// transition or Reported released it already). Call it before the
// transition or Reported that releases the lease: a renewal after it
// would find the lease gone, as if taken over.
func (l *lease) release() {
	l.once.Do(func() { close(l.stop) })
	<-l.done
}

// letGo releases the lease and makes it lapse now, so that the next sweep
// (of any process) takes the request over without waiting out the lease.
func (l *lease) letGo(ctx context.Context) {
	l.release()
	if _, err := l.s.store.RenewLease(ctx, l.id, Lease{Holder: l.s.holder, Until: l.s.now()}); err != nil {
		l.s.storeFail(ctx, "release lease", err)
	}
}
