package scan

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// token is a JWT-shaped bearer token naming tenant, as Entra's do.
func token(tenant string) string {
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	return enc(map[string]string{"alg": "none"}) + "." + enc(map[string]string{"tid": tenant}) + ".x"
}

// arrival is a request as the server saw it.
type arrival struct {
	tenant, path string
	at           time.Time
}

// limitServer answers after delay; answer, when set, picks the status
// (and headers) of each request. It records arrivals and the most tenants
// it saw with a request in progress at once.
type limitServer struct {
	*httptest.Server
	delay  time.Duration
	answer func(n int, tenant string, w http.ResponseWriter) int

	mu       sync.Mutex
	arrivals []arrival
	active   map[string]int
	peak     int
}

func newLimitServer(t *testing.T, delay time.Duration) *limitServer {
	s := &limitServer{delay: delay, active: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant := bearerTenant(r.Header.Get("Authorization"))
		s.mu.Lock()
		n := len(s.arrivals)
		s.arrivals = append(s.arrivals, arrival{tenant, r.URL.Path, time.Now()})
		s.active[tenant]++
		s.peak = max(s.peak, len(s.active))
		s.mu.Unlock()
		time.Sleep(s.delay)
		status := 200
		if s.answer != nil {
			status = s.answer(n, tenant, w)
		}
		s.mu.Lock()
		if s.active[tenant]--; s.active[tenant] == 0 {
			delete(s.active, tenant)
		}
		s.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, "{}")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *limitServer) of(tenant string) []arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []arrival
	for _, a := range s.arrivals {
		if a.tenant == tenant {
			out = append(out, a)
		}
	}
	return out
}

// send GETs path as tenant through the limiter, as one run when ctx has one.
func send(t *testing.T, ctx context.Context, hc *http.Client, base, tenant, path string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token(tenant))
	res, err := hc.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

const (
	policiesPath  = "/v1.0/identity/conditionalAccess/policies"
	locationsPath = "/v1.0/identity/conditionalAccess/namedLocations"
	otherPath     = "/v1.0/policies/crossTenantAccessPolicy/default"
	signInsPath   = "/v1.0/auditLogs/signIns"
)

// Each tenant's Conditional Access reads are spaced by the window; other
// reads and other tenants are not held back by them.
func TestLimiterPolicyReads(t *testing.T) {
	srv := newLimitServer(t, 0)
	l := NewLimiter(Limits{Concurrency: 10, PolicyWindow: 400 * time.Millisecond})
	hc := &http.Client{Transport: l.Transport(nil)}
	var wg sync.WaitGroup
	start := time.Now()
	for _, p := range []string{policiesPath, locationsPath, policiesPath} {
		wg.Go(func() { send(t, t.Context(), hc, srv.URL, "a", p) })
	}
	wg.Go(func() { send(t, t.Context(), hc, srv.URL, "a", otherPath) })
	wg.Go(func() { send(t, t.Context(), hc, srv.URL, "b", policiesPath) })
	wg.Wait()
	var ca []time.Time
	var other time.Time
	for _, a := range srv.of("a") {
		if a.path == otherPath {
			other = a.at
			continue
		}
		ca = append(ca, a.at)
	}
	if len(ca) != 3 {
		t.Fatalf("%d policy reads of a arrived", len(ca))
	}
	for i := 1; i < len(ca); i++ {
		if gap := ca[i].Sub(ca[i-1]); gap < 390*time.Millisecond {
			t.Errorf("a's policy reads %d and %d %v apart, want ≥ 400 ms", i-1, i, gap)
		}
	}
	// Neither waited for a's second turn.
	if !other.Before(ca[1]) {
		t.Errorf("a's other read (%v) waited for its policy-read turn (%v)", other.Sub(start), ca[1].Sub(start))
	}
	if b := srv.of("b"); len(b) != 1 || !b[0].at.Before(ca[1]) {
		t.Errorf("b's policy read held back by a's limit: %v", b)
	}
}

// A 429 holds its tenant back (for Retry-After, or a jittered backoff
// without it), and no other tenant.
func TestLimiterBackoff(t *testing.T) {
	for _, tt := range []struct {
		name, retryAfter string
		min              time.Duration
	}{
		{"no Retry-After", "", 300 * time.Millisecond}, // Backoff 600 ms, jitter in its upper half
		{"Retry-After", "0.6", 600 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newLimitServer(t, 0)
			srv.answer = func(n int, tenant string, w http.ResponseWriter) int {
				if n == 0 {
					if tt.retryAfter != "" {
						w.Header().Set("Retry-After", tt.retryAfter)
					}
					return 429
				}
				return 200
			}
			l := NewLimiter(Limits{Concurrency: 10, Backoff: 600 * time.Millisecond})
			hc := &http.Client{Transport: l.Transport(nil)}
			if got := send(t, t.Context(), hc, srv.URL, "a", otherPath); got != 429 {
				t.Fatalf("first answer %d", got)
			}
			throttledAt := time.Now()
			var wg sync.WaitGroup
			wg.Go(func() { send(t, t.Context(), hc, srv.URL, "a", otherPath) })
			wg.Go(func() { send(t, t.Context(), hc, srv.URL, "b", otherPath) })
			wg.Wait()
			a, b := srv.of("a"), srv.of("b")
			if d := a[1].at.Sub(throttledAt); d < tt.min {
				t.Errorf("a's next request after %v, want ≥ %v", d, tt.min)
			}
			if !b[0].at.Before(a[1].at) {
				t.Errorf("b held back by a's 429 (b after %v, a after %v)", b[0].at.Sub(throttledAt), a[1].at.Sub(throttledAt))
			}
		})
	}
}

// At most Concurrency tenants have a request in flight; a tenant waiting
// for its policy-read turn holds no slot.
func TestLimiterSlots(t *testing.T) {
	srv := newLimitServer(t, 40*time.Millisecond)
	l := NewLimiter(Limits{Concurrency: 2, PolicyWindow: 400 * time.Millisecond})
	hc := &http.Client{Transport: l.Transport(nil)}
	var wg sync.WaitGroup
	tenants := []string{"t1", "t2", "t3", "t4", "t5", "t6"}
	for _, tn := range tenants {
		wg.Go(func() {
			ctx := l.Attach(t.Context(), tn)
			// A wave of three reads, as a diagnosis sends.
			var w sync.WaitGroup
			for _, p := range []string{otherPath, otherPath, policiesPath} {
				w.Go(func() { send(t, ctx, hc, srv.URL, tn, p) })
			}
			w.Wait()
		})
	}
	// a waits 400 ms for its second policy read, slot-free.
	var aDone, othersDone time.Time
	wg.Go(func() {
		ctx := l.Attach(t.Context(), "a")
		send(t, ctx, hc, srv.URL, "a", policiesPath)
		send(t, ctx, hc, srv.URL, "a", locationsPath)
		aDone = time.Now()
	})
	wg.Wait()
	for _, tn := range tenants {
		if at := srv.of(tn); len(at) != 3 {
			t.Errorf("%s: %d requests", tn, len(at))
		} else if at[2].at.After(othersDone) {
			othersDone = at[2].at
		}
	}
	if srv.peak > 2 {
		t.Errorf("%d tenants in flight at once, want ≤ 2", srv.peak)
	}
	if !othersDone.Before(aDone) {
		t.Errorf("the other tenants waited for a's policy-read turn")
	}
}

// Sign-in log reads keep the per-app limit across tenants.
func TestLimiterSignInsAcrossTenants(t *testing.T) {
	srv := newLimitServer(t, 0)
	l := NewLimiter(Limits{Concurrency: 10, AllSignInReads: 3, SignInReads: 1, SignInWindow: 500 * time.Millisecond})
	hc := &http.Client{Transport: l.Transport(nil)}
	start := time.Now()
	var wg sync.WaitGroup
	for _, tn := range []string{"a", "b", "c", "d", "e", "f", "a"} {
		wg.Go(func() { send(t, t.Context(), hc, srv.URL, tn, signInsPath) })
	}
	wg.Wait()
	early := 0
	for _, a := range srv.arrivals {
		if a.at.Sub(start) < 400*time.Millisecond {
			early++
		}
	}
	if len(srv.arrivals) != 7 || early > 3 {
		t.Errorf("%d of %d sign-in reads in the first window, want ≤ 3", early, len(srv.arrivals))
	}
	if a := srv.of("a"); len(a) != 2 || a[1].at.Sub(a[0].at) < 490*time.Millisecond {
		t.Errorf("a's two sign-in reads: %v", a)
	}
}

func TestBearerTenant(t *testing.T) {
	for in, want := range map[string]string{"Bearer " + token("ABC"): "abc", "": "", "Bearer x.y": "", "Basic " + token("a"): "", "Bearer a.!!.c": ""} {
		if got := bearerTenant(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// A 429 to a request a tenant's run makes in the partner tenant (its GDAP
// access assignments) holds back that run's tenant, not every run that
// reads the partner tenant.
func TestLimiterPartnerThrottle(t *testing.T) {
	srv := newLimitServer(t, 0)
	srv.answer = func(n int, tenant string, w http.ResponseWriter) int {
		if n == 0 {
			return 429
		}
		return 200
	}
	l := NewLimiter(Limits{Concurrency: 10, Backoff: 600 * time.Millisecond})
	hc := &http.Client{Transport: l.Transport(nil)}
	x, y := l.Attach(t.Context(), "x"), l.Attach(t.Context(), "y")
	if got := send(t, x, hc, srv.URL, "partner", otherPath); got != 429 {
		t.Fatalf("first answer %d", got)
	}
	throttledAt := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() { send(t, y, hc, srv.URL, "partner", otherPath) })
	wg.Go(func() { send(t, x, hc, srv.URL, "x", otherPath) })
	wg.Wait()
	p, xs := srv.of("partner"), srv.of("x")
	if !p[1].at.Before(xs[0].at) {
		t.Errorf("y's partner read (after %v) held back by x's 429 (x after %v)", p[1].at.Sub(throttledAt), xs[0].at.Sub(throttledAt))
	}
	if d := xs[0].at.Sub(throttledAt); d < 300*time.Millisecond {
		t.Errorf("x's next read after %v, want ≥ 300 ms", d)
	}
}

// A freed slot goes to the oldest run waiting, whatever the order they
// began waiting in, and a run that gives up leaves the queue.
func TestSlotsOldestFirst(t *testing.T) {
	s := &slots{free: 1}
	ctx := t.Context()
	first, older, newer, quitter := s.next(), s.next(), s.next(), s.next()
	if err := s.acquire(ctx, first); err != nil {
		t.Fatal(err)
	}
	got := make(chan uint64, 3)
	wait := func(seq uint64) {
		if err := s.acquire(ctx, seq); err == nil {
			got <- seq
		}
	}
	waiting := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			s.mu.Lock()
			got := len(s.waiting)
			s.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d waiting, want %d", got, n)
			}
		}
	}
	qctx, quit := context.WithCancel(ctx)
	go wait(newer)
	waiting(1)
	go func() { s.acquire(qctx, quitter) }()
	waiting(2)
	go wait(older)
	waiting(3)
	quit()
	waiting(2)
	s.release(0)
	if g := <-got; g != older {
		t.Errorf("first grant to run %d, want the older %d", g, older)
	}
	s.release(0)
	if g := <-got; g != newer {
		t.Errorf("second grant to run %d, want %d", g, newer)
	}
	s.release(0)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.free != 1 || len(s.waiting) != 0 {
		t.Errorf("free %d, %d waiting; want 1 free and none waiting", s.free, len(s.waiting))
	}
}
