package scan

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits are the Graph limits a scan keeps to. The zero value of a field
// means its default, which is Graph's documented limit.
type Limits struct {
	// Concurrency is how many tenants may have a Graph request in flight
	// (sent, not yet answered) at once (default 8). A tenant waiting for
	// its limits, its backoff or the SDK's retry delay holds no slot, and
	// a freed slot goes to the tenant that started first.
	Concurrency int
	// PolicyReads Conditional Access reads per tenant in any PolicyWindow
	// (default 1 per 1.1 s: Graph allows about one a second per tenant,
	// shared with every other app; the margin keeps a read that arrives
	// early from being refused).
	PolicyReads  int
	PolicyWindow time.Duration
	// SignInReads sign-in log reads per tenant in any SignInWindow
	// (default 5 per 10 s), and AllSignInReads across all tenants
	// (default 122 per 10 s): Graph's limits per app.
	SignInReads    int
	AllSignInReads int
	SignInWindow   time.Duration
	// Backoff is the first per-tenant pause after a 429 without
	// Retry-After (default 500 ms); it doubles with each 429 in a row, up
	// to a minute, with jitter in its upper half.
	Backoff time.Duration
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.Concurrency, 8)
	def(&l.PolicyReads, 1)
	defDur(&l.PolicyWindow, 1100*time.Millisecond)
	def(&l.SignInReads, 5)
	def(&l.AllSignInReads, 122)
	defDur(&l.SignInWindow, 10*time.Second)
	defDur(&l.Backoff, 500*time.Millisecond)
	return l
}

// maxBackoff bounds a tenant's pause after 429s without Retry-After.
const maxBackoff = time.Minute

// Limiter paces a scan's Graph requests: its Transport wraps the HTTP
// transport beneath the Graph SDK (graphclient.WithHTTPClient), where
// every attempt, the SDK's retries included, passes. It is safe for
// concurrent use; one Limiter serves every scan of a process, so that two
// scans at once share the limits as Graph does.
type Limiter struct {
	lim   Limits
	slots *slots
	now   func() time.Time

	mu        sync.Mutex
	tenants   map[string]*tenantLimits // by tenant ID, lower case
	allSignIn window
}

// tenantLimits is one tenant's state.
type tenantLimits struct {
	policy, signIn window
	// notBefore holds the tenant's requests back after a 429.
	notBefore time.Time
	throttles int // 429s in a row
}

// NewLimiter returns a Limiter for lim (zero fields take their defaults).
func NewLimiter(lim Limits) *Limiter {
	lim = lim.withDefaults()
	return &Limiter{lim: lim, slots: &slots{free: lim.Concurrency}, now: time.Now,
		tenants: map[string]*tenantLimits{}, allSignIn: window{n: lim.AllSignInReads, per: lim.SignInWindow}}
}

// SlotTime is the time the slots have been held so far, summed over them:
// the time tenants had requests in flight. Over the concurrency it is the
// least wall time those requests could have taken.
func (l *Limiter) SlotTime() time.Duration {
	l.slots.mu.Lock()
	defer l.slots.mu.Unlock()
	return l.slots.busy
}

// Limits returns the limits in force, defaults filled in.
func (l *Limiter) Limits() Limits { return l.lim }

// window admits at most n events in any interval of length per: times
// holds the last n admissions, oldest first.
type window struct {
	n     int
	per   time.Duration
	times []time.Time
}

// next is the earliest time from at on when one more event is admitted.
func (w *window) next(at time.Time) time.Time {
	if len(w.times) < w.n {
		return at
	}
	return maxTime(at, w.times[len(w.times)-w.n].Add(w.per))
}

// admit records an event at t (from next).
func (w *window) admit(t time.Time) {
	// Kept in order: a turn taken for later (behind the global sign-in
	// limit) may precede one taken now.
	i, _ := slices.BinarySearchFunc(w.times, t, time.Time.Compare)
	w.times = slices.Insert(w.times, i, t)
	if len(w.times) > w.n {
		w.times = append(w.times[:0], w.times[len(w.times)-w.n:]...)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// kind is what a request reads, for its limits.
type kind int

const (
	otherRead kind = iota
	policyRead
	signInRead
)

func kindOf(path string) kind {
	switch {
	case strings.Contains(path, "/identity/conditionalAccess/"):
		return policyRead
	case strings.Contains(path, "/auditLogs/signIns"):
		return signInRead
	}
	return otherRead
}

func (l *Limiter) tenant(id string) *tenantLimits {
	t := l.tenants[id]
	if t == nil {
		t = &tenantLimits{policy: window{n: l.lim.PolicyReads, per: l.lim.PolicyWindow}, signIn: window{n: l.lim.SignInReads, per: l.lim.SignInWindow}}
		l.tenants[id] = t
	}
	return t
}

// wait returns when a request of kind k to tenant may be sent, having
// recorded it against tenant's limits; a 429's backoff is held's (the
// tenant being scanned).
func (l *Limiter) wait(ctx context.Context, tenant, held string, k kind) error {
	for {
		l.mu.Lock()
		t, h := l.tenant(tenant), l.tenant(held)
		now := l.now()
		at := maxTime(now, h.notBefore)
		if !at.After(now) {
			// Not held back: take the limits' turn.
			switch k {
			case policyRead:
				at = t.policy.next(now)
				t.policy.admit(at)
			case signInRead:
				at = maxTime(t.signIn.next(now), l.allSignIn.next(now))
				t.signIn.admit(at)
				l.allSignIn.admit(at)
			}
			if !at.After(now) {
				l.mu.Unlock()
				return nil
			}
			l.mu.Unlock()
			if err := sleep(ctx, at.Sub(now)); err != nil {
				return err
			}
			// The turn is ours, unless a 429 came meanwhile.
			l.mu.Lock()
			holding := l.now().Before(h.notBefore)
			l.mu.Unlock()
			if !holding {
				return nil
			}
			continue
		}
		l.mu.Unlock()
		if err := sleep(ctx, at.Sub(now)); err != nil {
			return err
		}
	}
}

// observe learns from an answer of tenant's: a 429 (or 503) holds the
// tenant back, for Retry-After when Graph says, else for a backoff that
// doubles with each one in a row, with jitter; anything else resets it.
func (l *Limiter) observe(tenant string, res *http.Response) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.tenant(tenant)
	if res.StatusCode != http.StatusTooManyRequests && res.StatusCode != http.StatusServiceUnavailable {
		t.throttles = 0
		return
	}
	t.throttles++
	d, ok := retryAfter(res.Header.Get("Retry-After"))
	if !ok {
		d = min(l.lim.Backoff<<min(t.throttles-1, 16), maxBackoff)
		d = d/2 + rand.N(d/2+1)
	}
	t.notBefore = maxTime(t.notBefore, l.now().Add(d))
}

// retryAfter reads Retry-After in seconds (Graph sends no dates).
func retryAfter(v string) (time.Duration, bool) {
	s, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if v == "" || err != nil || s < 0 {
		return 0, false
	}
	return time.Duration(s * float64(time.Second)), true
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Transport returns next (http.DefaultTransport when nil) wrapped in the
// limits. An *http.Transport is cloned with enough idle connections per
// host for the concurrency.
func (l *Limiter) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if t, ok := next.(*http.Transport); ok {
		t = t.Clone()
		t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, 4*l.lim.Concurrency)
		next = t
	}
	return &limitTransport{l: l, next: next}
}

type limitTransport struct {
	l    *Limiter
	next http.RoundTripper
}

func (lt *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	// Graph requests carry the tenant in their token; token requests to
	// Entra ID carry none and are limited by the slot alone.
	tenant := bearerTenant(req.Header.Get("Authorization"))
	r, _ := ctx.Value(runKey{}).(*run)
	// A 429 holds back the tenant being scanned: a request it makes in the
	// partner tenant (its GDAP access assignments) is its own, and a 429
	// there must not hold back every other customer's.
	held := tenant
	if r != nil && r.tenant != "" {
		held = r.tenant
	}
	if tenant != "" {
		if err := lt.l.wait(ctx, tenant, held, kindOf(req.URL.Path)); err != nil {
			closeBody(req)
			return nil, err
		}
	}
	if r != nil {
		if err := r.enter(ctx); err != nil {
			closeBody(req)
			return nil, err
		}
	}
	res, err := lt.next.RoundTrip(req)
	if tenant != "" && err == nil {
		lt.l.observe(held, res)
	}
	if r != nil {
		// Graph has answered: the slot is free for another tenant while
		// this one reads its (small) answer.
		r.leave()
	}
	return res, err
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// run is one tenant's attempt: it holds a slot of the Limiter while at
// least one of its requests is in flight.
type run struct {
	tenant   string // lower case; "" when not known
	seq      uint64 // order of Attach: older runs get free slots first
	slots    *slots
	mu       sync.Mutex
	inflight int
	since    time.Time // when the slot was taken
}

type runKey struct{}

// Attach returns ctx carrying a new run of the limiter for tenant (its
// ID): the requests sent with it share one slot, and a 429 to any of them
// holds back tenant's.
func (l *Limiter) Attach(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, runKey{}, &run{tenant: strings.ToLower(tenant), seq: l.slots.next(), slots: l.slots})
}

func (r *run) enter(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inflight == 0 {
		if err := r.slots.acquire(ctx, r.seq); err != nil {
			return err
		}
		r.since = time.Now()
	}
	r.inflight++
	return nil
}

func (r *run) leave() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight--
	if r.inflight == 0 {
		r.slots.release(time.Since(r.since))
	}
}

// slots is a counting semaphore that grants a freed slot to the oldest
// run waiting: a tenant under way finishes before new ones start, so that
// few are in progress at once and the last ones are not kept waiting.
type slots struct {
	mu      sync.Mutex
	free    int
	seq     uint64
	waiting []*slotWaiter // ordered by seq
	busy    time.Duration // slot time used, summed over the slots
}

type slotWaiter struct {
	seq     uint64
	granted chan struct{}
}

func (s *slots) next() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return s.seq
}

func (s *slots) acquire(ctx context.Context, seq uint64) error {
	s.mu.Lock()
	if s.free > 0 && len(s.waiting) == 0 {
		s.free--
		s.mu.Unlock()
		return nil
	}
	w := &slotWaiter{seq: seq, granted: make(chan struct{})}
	i, _ := slices.BinarySearchFunc(s.waiting, seq, func(w *slotWaiter, seq uint64) int { return cmp.Compare(w.seq, seq) })
	s.waiting = slices.Insert(s.waiting, i, w)
	s.mu.Unlock()
	select {
	case <-w.granted:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		if i := slices.Index(s.waiting, w); i >= 0 {
			s.waiting = slices.Delete(s.waiting, i, i+1)
			return ctx.Err()
		}
		// Granted meanwhile: pass it on.
		s.releaseLocked()
		return ctx.Err()
	}
}

// release frees a slot held for d.
func (s *slots) release(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy += d
	s.releaseLocked()
}

func (s *slots) releaseLocked() {
	if len(s.waiting) == 0 {
		s.free++
		return
	}
	w := s.waiting[0]
	s.waiting = s.waiting[1:]
	close(w.granted)
}

// bearerTenant reads the tid claim of a bearer token, lower case, or "".
// The token is not verified: it only keys the limits.
func bearerTenant(auth string) string {
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return ""
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		TID string `json:"tid"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return strings.ToLower(claims.TID)
}
