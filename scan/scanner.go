package scan

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cacheck/ca-check/diagnose"
)

// Lister lists the partner's GDAP relationships, every status;
// graphclient.Client implements it.
type Lister interface {
	Customers(ctx context.Context) ([]diagnose.Relationship, error)
}

// Diagnoser diagnoses one customer for a scan; graphclient.Client
// implements it. rels are the tenant's GDAP relationships (from Lister),
// so that they are not read again. Errors are *diagnose.Error: a code
// (EUNAVAILABLE is worth retrying) and the sentence to show.
type Diagnoser interface {
	ScanTenant(ctx context.Context, tenantID string, rels []diagnose.Relationship, signIns bool) (*diagnose.Diagnosis, error)
}

// Resolver finds a tenant given by verified domain (for --tenants);
// graphclient.Client implements it.
type Resolver interface {
	ResolveTenant(ctx context.Context, query string) (diagnose.Tenant, error)
}

// Graph is all a Scanner needs of Microsoft Graph.
type Graph interface {
	Lister
	Diagnoser
	Resolver
	PartnerTenantID() string
}

// Scanner scans the partner's customers.
type Scanner struct {
	Graph Graph
	// Limiter, when set, is the one whose Transport carries Graph's
	// requests: each tenant's attempt is attached to it, to share a slot.
	Limiter *Limiter
	// Attempts is how often a tenant is tried when Graph is unavailable or
	// throttles (default 3); the last failure becomes its error.
	Attempts int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Retry is the wait before attempt n+1 (default: 2 s doubled each
	// time, jittered); tests shorten it.
	Retry func(n int) time.Duration
}

func (s *Scanner) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Scanner) attempts() int { return max(s.Attempts, 1) }

// DefaultAttempts is how often a tenant is tried by default.
const DefaultAttempts = 3

func (s *Scanner) retryWait(n int) time.Duration {
	if s.Retry != nil {
		return s.Retry(n)
	}
	return RetryBackoff(n)
}

// RetryBackoff is the default wait before a tenant's attempt n+1: 2 s
// doubled with each attempt, up to 2 minutes, with jitter in its upper
// half so that tenants throttled together do not come back together.
func RetryBackoff(n int) time.Duration {
	d := min(2*time.Second<<min(max(n-1, 0), 10), 2*time.Minute)
	return d/2 + rand.N(d/2+1)
}

// Targets picks what to scan from the partner's GDAP relationships: every
// customer with an active relationship, or, when only is not empty, the
// tenants it names (tenant ID, customer name as in the GDAP list, or a
// verified domain, resolved through res), each once. A listed tenant
// without an active relationship is scanned too: its entry will say why it
// cannot be read. An entry of only that names no tenant is an EINVALID
// error naming it.
func Targets(ctx context.Context, rels []diagnose.Relationship, only []string, res Resolver, now time.Time) ([]Target, error) {
	byTenant := map[string][]diagnose.Relationship{}
	var order []string
	for _, r := range rels {
		id := strings.ToLower(r.CustomerTenantID)
		if id == "" {
			continue
		}
		if _, ok := byTenant[id]; !ok {
			order = append(order, id)
		}
		byTenant[id] = append(byTenant[id], r)
	}
	target := func(id string) Target {
		t := Target{Tenant: Tenant{ID: id}, Relationships: byTenant[id]}
		if best := t.Best(now); best != nil {
			t.Tenant.DisplayName = best.CustomerName
		}
		if t.Relationships == nil {
			t.Relationships = []diagnose.Relationship{}
		}
		return t
	}
	var out []Target
	seen := map[string]bool{}
	add := func(t Target) {
		if !seen[t.Tenant.ID] {
			seen[t.Tenant.ID] = true
			out = append(out, t)
		}
	}
	if len(only) == 0 {
		for _, id := range order {
			if t := target(id); t.Best(now).Active(now) {
				add(t)
			}
		}
		return out, nil
	}
	var unknown []string
	for _, q := range only {
		q = strings.TrimSpace(q)
		switch {
		case q == "":
			continue
		case isGUID(q):
			add(target(strings.ToLower(q)))
			continue
		}
		var exact, partial []string
		for _, id := range order {
			name := target(id).Tenant.DisplayName
			switch {
			case strings.EqualFold(name, q):
				exact = append(exact, id)
			case strings.Contains(strings.ToLower(name), strings.ToLower(q)):
				partial = append(partial, id)
			}
		}
		switch {
		case len(exact) == 1:
			add(target(exact[0]))
			continue
		case len(exact) == 0 && len(partial) == 1:
			add(target(partial[0]))
			continue
		case len(exact) > 1 || len(partial) > 1:
			return nil, diagnose.Errorf(diagnose.EINVALID, "--tenants: %q matches %d customers; give the tenant ID", q, max(len(exact), len(partial)))
		}
		if strings.Contains(q, ".") && res != nil {
			t, err := res.ResolveTenant(ctx, q)
			if err == nil {
				tt := target(strings.ToLower(t.ID))
				tt.Tenant.DefaultDomain = t.DefaultDomain
				if tt.Tenant.DisplayName == "" {
					tt.Tenant.DisplayName = t.DisplayName
				}
				add(tt)
				continue
			}
			if diagnose.ErrorCode(err) != diagnose.ENOTFOUND {
				return nil, err
			}
		}
		unknown = append(unknown, q)
	}
	if len(unknown) > 0 {
		return nil, diagnose.Errorf(diagnose.EINVALID, "--tenants: no customer is named like %s; give tenant IDs, verified domains or names as 'ca-check tenants' lists them", quoteList(unknown))
	}
	return out, nil
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// isGUID reports whether s is a GUID in its usual 8-4-4-4-12 form.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}

// Target is a tenant to scan, with its GDAP relationships from the
// partner's list (a River job carries it as is).
type Target struct {
	Tenant        Tenant                  `json:"tenant"`
	Relationships []diagnose.Relationship `json:"relationships"`
}

// Best is the tenant's best relationship: active first, then the latest
// end; nil when it has none.
func (t Target) Best(now time.Time) *diagnose.Relationship {
	if len(t.Relationships) == 0 {
		return nil
	}
	rels := slices.Clone(t.Relationships)
	slices.SortStableFunc(rels, func(a, b diagnose.Relationship) int {
		if a.Active(now) != b.Active(now) {
			if a.Active(now) {
				return -1
			}
			return 1
		}
		return b.EndDateTime.Compare(a.EndDateTime)
	})
	return &rels[0]
}

// ErrTransient wraps a tenant's failure that another attempt may cure
// (Graph unavailable or throttling).
var ErrTransient = errors.New("scan: transient failure")

// Tenant makes one attempt at t. It always returns t's entry, with the
// verdict or the error; the error it returns as well, wrapping
// ErrTransient, means another attempt may do better (the entry is the one
// to keep when no attempt is left). A tenant without an active GDAP
// relationship is not read: the partner's staff cannot sign in there at all.
func (s *Scanner) Tenant(ctx context.Context, t Target, signIns bool) (TenantResult, error) {
	now := s.now()
	best := t.Best(now)
	if !best.Active(now) {
		return FromError(t, noRelationship(t, best), now), nil
	}
	if s.Limiter != nil {
		ctx = s.Limiter.Attach(ctx, t.Tenant.ID)
	}
	d, err := s.Graph.ScanTenant(ctx, t.Tenant.ID, t.Relationships, signIns)
	if err != nil {
		r := FromError(t, err, now)
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		if diagnose.ErrorCode(err) == diagnose.EUNAVAILABLE {
			return r, fmt.Errorf("%w: %w", ErrTransient, err)
		}
		return r, nil
	}
	return FromDiagnosis(t, d, now), nil
}

// noRelationship says why a tenant without an active GDAP relationship
// is not read, in the words of diagnose's GDAP lines.
func noRelationship(t Target, best *diagnose.Relationship) error {
	if best == nil {
		return diagnose.Errorf(diagnose.ENOTFOUND, "the partner has no GDAP relationship with tenant %s, so its staff cannot sign in there; create one in Partner Center", t.Tenant.ID)
	}
	end := ""
	if !best.EndDateTime.IsZero() {
		end = " (ended " + best.EndDateTime.UTC().Format(time.DateOnly) + ")"
	}
	status := best.Status
	if status == "active" {
		status = "past its end"
	}
	return diagnose.Errorf(diagnose.ENOTFOUND, "no active GDAP relationship with tenant %s; the latest, %q, is %s%s: renew it in Partner Center, or the partner's staff cannot sign in there at all", t.Tenant.ID, best.DisplayName, status, end)
}

// Options are a scan's choices.
type Options struct {
	// Tenants limits the scan to these (IDs, names or domains); empty
	// scans every active GDAP customer.
	Tenants []string
	// SignIns reads each tenant's sign-in log to confirm blocks.
	SignIns bool
	// Workers is how many tenants are in progress at once (default
	// 2 × the Limiter's concurrency, or 8): more than the slots, so that
	// tenants waiting for their limits leave the slots to others.
	Workers int
	// Progress, when set, is called after each tenant with the count done
	// and the total, from one goroutine at a time.
	Progress func(done, total int)
}

// Run scans in process: lists the customers, then runs the tenants on a
// bounded pool, each tried up to Attempts times. Only a failure on the
// partner's side (listing the customers) fails it; every tenant has its
// entry in the report.
func (s *Scanner) Run(ctx context.Context, o Options) (*Report, error) {
	start := s.now()
	rels, err := s.Graph.Customers(ctx)
	if err != nil {
		return nil, err
	}
	targets, err := Targets(ctx, rels, o.Tenants, s.Graph, start)
	if err != nil {
		return nil, err
	}
	workers := o.Workers
	if workers <= 0 {
		workers = 8
		if s.Limiter != nil {
			workers = 2 * s.Limiter.Limits().Concurrency
		}
	}
	results := make([]TenantResult, len(targets))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
	)
	next := make(chan int)
	for range min(workers, len(targets)) {
		wg.Go(func() {
			for i := range next {
				results[i] = s.tenantWithRetries(ctx, targets[i], o.SignIns)
				if o.Progress != nil {
					mu.Lock()
					done++
					o.Progress(done, len(targets))
					mu.Unlock()
				}
			}
		})
	}
	for i := range targets {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return NewReport(s.Graph.PartnerTenantID(), start, results), nil
}

// tenantWithRetries tries t until it gives a final answer or no attempt is
// left, waiting between attempts (holding no slot).
func (s *Scanner) tenantWithRetries(ctx context.Context, t Target, signIns bool) TenantResult {
	for n := 1; ; n++ {
		r, err := s.Tenant(ctx, t, signIns)
		if err == nil || n >= s.attempts() || ctx.Err() != nil {
			return r
		}
		if sleep(ctx, s.retryWait(n)) != nil {
			return r
		}
	}
}
