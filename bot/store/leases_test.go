package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cacheck/ca-check/approval"
)

// A request at work is leased to its process: only that holder settles it
// and renews the lease; once the lease lapses, Lapsed finds the request and
// one other process takes it over (the first holder then can neither renew
// nor settle); a report due is cleared by its holder alone.
func TestLeases(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		r := newRequest(t, s)
		p1 := approval.Lease{Holder: "P1", Until: t0.Add(30 * time.Second)}
		got, err := s.Transition(ctx, r.ID, approval.Transition{From: approval.StatePending, To: approval.StateApproved, By: "UADMIN", At: t0, Lease: &p1})
		if err != nil || got.Lease != (approval.Lease{Holder: "P1", Until: us(p1.Until)}) {
			t.Fatalf("approved with a lease: %+v, %v", got.Lease, err)
		}
		lapsedIDs := func(at time.Time) []string {
			rs, err := s.Lapsed(ctx, at)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range rs {
				ids = append(ids, r.ID)
			}
			return ids
		}
		if ids := lapsedIDs(t0.Add(29 * time.Second)); len(ids) != 0 {
			t.Errorf("lapsed before its expiry: %v", ids)
		}
		// P1 renews while it works; nobody else can.
		if held, err := s.RenewLease(ctx, r.ID, approval.Lease{Holder: "P1", Until: t0.Add(40 * time.Second)}); err != nil || !held {
			t.Errorf("P1 renews: %v, %v", held, err)
		}
		if held, err := s.RenewLease(ctx, r.ID, approval.Lease{Holder: "P2", Until: t0.Add(time.Hour)}); err != nil || held {
			t.Errorf("P2 renews P1's lease: %v, %v", held, err)
		}
		if _, err := s.TakeLease(ctx, r.ID, 2, approval.Lease{Holder: "P2", Until: t0.Add(time.Minute)}, t0.Add(35*time.Second)); !errors.Is(err, ErrConflict) {
			t.Errorf("P2 takes a lease that has not lapsed: %v, want ErrConflict", err)
		}
		if ids := lapsedIDs(t0.Add(40 * time.Second)); !slices.Equal(ids, []string{r.ID}) {
			t.Errorf("lapsed at the renewed expiry: %v", ids)
		}
		// P1 is gone: P2 takes over, at the version it read.
		if _, err := s.TakeLease(ctx, r.ID, 1, approval.Lease{Holder: "P2", Until: t0.Add(time.Minute)}, t0.Add(40*time.Second)); !errors.Is(err, ErrConflict) {
			t.Errorf("TakeLease at an old version: %v, want ErrConflict", err)
		}
		got, err = s.TakeLease(ctx, r.ID, 2, approval.Lease{Holder: "P2", Until: t0.Add(time.Minute)}, t0.Add(40*time.Second))
		if err != nil || got.Lease.Holder != "P2" || got.Version != 2 || got.State != approval.StateApproved {
			t.Fatalf("P2 takes the lapsed lease: %+v, %v", got, err)
		}
		if held, _ := s.RenewLease(ctx, r.ID, approval.Lease{Holder: "P1", Until: t0.Add(time.Hour)}); held {
			t.Error("P1 renewed the lease P2 took")
		}
		p1late := approval.Lease{Holder: "P1", Until: t0.Add(time.Hour)}
		if _, err := s.Transition(ctx, r.ID, approval.Transition{From: approval.StateApproved, To: approval.StateApplying, At: t0, Holder: "P1", Lease: &p1late}); !errors.Is(err, ErrConflict) {
			t.Errorf("P1 moves the request P2 holds: %v, want ErrConflict", err)
		}
		p2 := approval.Lease{Holder: "P2", Until: t0.Add(2 * time.Minute)}
		if _, err := s.Transition(ctx, r.ID, approval.Transition{From: approval.StateApproved, To: approval.StateApplying, At: t0.Add(time.Minute), Holder: "P2", Lease: &p2}); err != nil {
			t.Fatal(err)
		}
		// Settled with its report due, still leased to P2 until it tells.
		got, err = s.Transition(ctx, r.ID, approval.Transition{From: approval.StateApplying, To: approval.StateApplied, At: t0.Add(time.Minute), Holder: "P2", Lease: &p2, ReportDue: true})
		if err != nil || !got.ReportDue || got.Lease.Holder != "P2" || !got.AppliedAt.Equal(us(t0.Add(time.Minute))) {
			t.Fatalf("settled: %+v, %v", got, err)
		}
		if err := s.Reported(ctx, r.ID, "P1", nil); !errors.Is(err, ErrConflict) {
			t.Errorf("P1 reports what P2 holds: %v, want ErrConflict", err)
		}
		rec := approval.AuditRecord{RequestID: r.ID, TenantID: r.TenantID, Actor: "ca-check", Action: "reported", At: t0.Add(time.Minute)}
		if err := s.Reported(ctx, r.ID, "P2", &rec); err != nil {
			t.Fatal(err)
		}
		got, _ = s.Request(ctx, r.ID)
		if got.ReportDue || got.Lease != (approval.Lease{}) {
			t.Errorf("after the report: due %v, lease %+v", got.ReportDue, got.Lease)
		}
		if err := s.Reported(ctx, r.ID, "P2", &rec); !errors.Is(err, ErrConflict) {
			t.Errorf("reported twice: %v, want ErrConflict", err)
		}
		if recs, _ := s.RequestAudit(ctx, r.ID); recs[len(recs)-1].Action != "reported" || countActions(recs, "reported") != 1 {
			t.Errorf("audit %+v", recs)
		}
		if ids := lapsedIDs(t0.Add(time.Hour)); len(ids) != 0 {
			t.Errorf("lapsed after the report: %v", ids)
		}
		if _, err := s.TakeLease(ctx, "ffffffffffffffffffffffffffffffff", 1, p2, t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("TakeLease of no request: %v, want ErrNotFound", err)
		}
	})
}

func countActions(recs []approval.AuditRecord, action string) int {
	n := 0
	for _, r := range recs {
		if r.Action == action {
			n++
		}
	}
	return n
}

// Of 20 processes taking a lapsed lease at once, on two stores, one gets it.
func TestTakeLeaseRace(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		stores := []*Store{openStore(t, dsn), openStore(t, dsn)}
		r := newRequest(t, stores[0])
		walk(t, stores[0], r.ID, approval.StateApplying) // leased until 30 s after minute 2
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			won  []string
			errs []error
		)
		for i := range 20 {
			wg.Go(func() {
				holder := fmt.Sprintf("P%02d", i)
				_, err := stores[i%2].TakeLease(ctx, r.ID, 3, approval.Lease{Holder: holder, Until: t0.Add(time.Hour + 30*time.Second)}, t0.Add(time.Hour))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won = append(won, holder)
				case !errors.Is(err, ErrConflict):
					errs = append(errs, err)
				}
			})
		}
		wg.Wait()
		if len(won) != 1 || len(errs) != 0 {
			t.Errorf("won by %v; errors %v", won, errs)
		}
	})
}

// The sweep's look for lapsed leases searches the lease index, and the
// older ca-check's requests by state and last change, however many
// requests were ever settled (see BenchmarkLapsed).
func TestLapsedUsesIndex(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "ca-check.db"))
	for _, q := range []string{
		`SELECT ` + requestColumns + ` FROM requests WHERE lease_until IS NOT NULL AND lease_until <= ?`,
		`SELECT ` + requestColumns + ` FROM requests WHERE lease_until IS NULL AND state IN ('approved', 'applying') AND updated_at <= ?`,
	} {
		rows, err := s.db.QueryContext(context.Background(), `EXPLAIN QUERY PLAN `+q, 0)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if !slices.ContainsFunc(plan, func(d string) bool {
			return strings.Contains(d, "USING INDEX requests_lease_until") || strings.Contains(d, "USING INDEX requests_state_updated_at")
		}) {
			t.Errorf("query plan %q of %s searches no index", plan, q[len(q)-60:])
		}
	}
}
