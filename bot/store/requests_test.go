package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/diagnose"
)

// onePlan is the plans of a request in these tests.
var onePlan = []diagnose.Plan{{PolicyID: "p1"}}

// leased gives a transition into a working state the lease it needs: a
// test process's, for 30 s from the transition.
func leased(tr approval.Transition) approval.Transition {
	if tr.To.Working() && tr.Lease == nil {
		at := tr.At
		if at.IsZero() {
			at = t0
		}
		tr.Lease = &approval.Lease{Holder: "P1", Until: at.Add(30 * time.Second)}
	}
	return tr
}

var allStates = []approval.State{
	approval.StatePending, approval.StateApproved, approval.StateApplying, approval.StateApplied, approval.StateFailed,
	approval.StateRejected, approval.StateExpired, approval.StateSuperseded, approval.StateReverting, approval.StateReverted,
}

// newRequest creates a pending request for tenant-a, created at t0 and
// expiring a day later, changed by the mods.
func newRequest(t *testing.T, s *Store, mods ...func(*approval.Request)) approval.Request {
	t.Helper()
	id, err := approval.NewID()
	if err != nil {
		t.Fatal(err)
	}
	r := approval.Request{
		ID: id, TenantID: "tenant-a", TenantName: "Contoso", RequestedBy: "UENG",
		ChannelID: "C1", ThreadTS: "1700000000.000100", State: approval.StatePending,
		Plans:     onePlan,
		CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour),
	}
	for _, mod := range mods {
		mod(&r)
	}
	if err := s.CreateRequest(context.Background(), r); err != nil {
		t.Fatalf("CreateRequest: %v", err)
	}
	return r
}

// pathTo is how a pending request reaches each state.
var pathTo = map[approval.State][]approval.State{
	approval.StatePending:    {},
	approval.StateApproved:   {approval.StateApproved},
	approval.StateApplying:   {approval.StateApproved, approval.StateApplying},
	approval.StateApplied:    {approval.StateApproved, approval.StateApplying, approval.StateApplied},
	approval.StateFailed:     {approval.StateApproved, approval.StateApplying, approval.StateFailed},
	approval.StateRejected:   {approval.StateRejected},
	approval.StateExpired:    {approval.StateExpired},
	approval.StateSuperseded: {approval.StateSuperseded},
	approval.StateReverting:  {approval.StateApproved, approval.StateApplying, approval.StateApplied, approval.StateReverting},
	approval.StateReverted:   {approval.StateApproved, approval.StateApplying, approval.StateApplied, approval.StateReverting, approval.StateReverted},
}

// walk moves a pending request to state.
func walk(t *testing.T, s *Store, id string, state approval.State) {
	t.Helper()
	from := approval.StatePending
	for i, to := range pathTo[state] {
		if _, err := s.Transition(context.Background(), id, leased(approval.Transition{From: from, To: to, By: "UADMIN", At: t0.Add(time.Duration(i+1) * time.Minute)})); err != nil {
			t.Fatalf("walk to %s: %s → %s: %v", state, from, to, err)
		}
		from = to
	}
}

// TestTransitionPairs tries every from → to on a request that is in from:
// the legal ones succeed, the others are refused with ErrIllegalTransition and
// change nothing.
func TestTransitionPairs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, from := range allStates {
			for _, to := range allStates {
				t.Run(fmt.Sprintf("%s→%s", from, to), func(t *testing.T) {
					r := newRequest(t, s)
					walk(t, s, r.ID, from)
					before, err := s.Request(ctx, r.ID)
					if err != nil {
						t.Fatal(err)
					}
					got, err := s.Transition(ctx, r.ID, leased(approval.Transition{From: from, To: to, By: "UADMIN", At: t0.Add(time.Hour)}))
					if approval.Allowed(from, to) {
						if err != nil {
							t.Fatalf("legal transition: %v", err)
						}
						if got.State != to || got.Version != before.Version+1 {
							t.Errorf("after transition: state %s version %d, want %s %d", got.State, got.Version, to, before.Version+1)
						}
						return
					}
					if !errors.Is(err, ErrIllegalTransition) || errors.Is(err, ErrConflict) {
						t.Fatalf("illegal transition: err = %v, want ErrIllegalTransition", err)
					}
					after, err := s.Request(ctx, r.ID)
					if err != nil {
						t.Fatal(err)
					}
					if after.State != from || after.Version != before.Version || !after.UpdatedAt.Equal(before.UpdatedAt) {
						t.Errorf("refused transition changed the request: %+v", after)
					}
				})
			}
		}
	})
}

func TestRequestLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		diagID, err := s.SaveDiagnosis(ctx, DiagnosisRecord{TenantID: "tenant-a", Verdict: "blocked", CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		r := newRequest(t, s, func(r *approval.Request) { r.DiagnosisID = diagID })

		got, err := s.Request(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := r
		want.CreatedAt, want.ExpiresAt, want.UpdatedAt, want.Version = us(t0), us(r.ExpiresAt), us(t0), 1
		want.Outcomes = approval.NewOutcomes(r.Plans) // every plan pending
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Request =\n%+v, want\n%+v", got, want)
		}

		step := func(from, to approval.State, by string, at time.Duration, tr approval.Transition) approval.Request {
			t.Helper()
			tr.From, tr.To, tr.By, tr.At = from, to, by, t0.Add(at)
			got, err := s.Transition(ctx, r.ID, leased(tr))
			if err != nil {
				t.Fatalf("%s → %s: %v", from, to, err)
			}
			return got
		}
		got = step(approval.StatePending, approval.StateApproved, "UADMIN", time.Minute, approval.Transition{Detail: []byte(`{"approver":"UADMIN"}`)})
		if got.DecidedBy != "UADMIN" || got.Version != 2 || !got.UpdatedAt.Equal(us(t0.Add(time.Minute))) {
			t.Errorf("after approval: %+v", got)
		}
		step(approval.StateApproved, approval.StateApplying, "", 2*time.Minute, approval.Transition{})
		got = step(approval.StateApplying, approval.StateFailed, "", 3*time.Minute, approval.Transition{
			Outcomes: []approval.Outcome{{PolicyID: "p1", Status: approval.OutcomeFailed, Error: "403 Forbidden"}}, Reason: "Graph refused the PATCH of p1",
		})
		if fmt.Sprint(got.Outcomes) != "[{p1  failed <nil> 403 Forbidden false  <nil>}]" || got.Reason != "Graph refused the PATCH of p1" {
			t.Errorf("after failure: outcomes %v, reason %q", got.Outcomes, got.Reason)
		}
		step(approval.StateFailed, approval.StateApplying, "UADMIN", 4*time.Minute, approval.Transition{})
		got = step(approval.StateApplying, approval.StateApplied, "", 5*time.Minute, approval.Transition{Outcomes: []approval.Outcome{{PolicyID: "p1", Status: approval.OutcomeApplied}}})
		if got.DecidedBy != "UADMIN" || len(got.Outcomes) != 1 || got.Outcomes[0].Status != approval.OutcomeApplied || got.Reason != "Graph refused the PATCH of p1" {
			t.Errorf("after applied: decided by %q, outcomes %v, reason %q", got.DecidedBy, got.Outcomes, got.Reason)
		}
		if !got.AppliedAt.Equal(us(t0.Add(5 * time.Minute))) {
			t.Errorf("applied at %v, want the transition's time", got.AppliedAt)
		}
		step(approval.StateApplied, approval.StateReverting, "UOTHER", 6*time.Minute, approval.Transition{Detail: []byte(`{"policies":[]}`)})
		got = step(approval.StateReverting, approval.StateReverted, "UOTHER", 7*time.Minute, approval.Transition{Detail: []byte(`{"before":{}}`)})
		if got.Version != 8 || got.DecidedBy != "UADMIN" || !got.AppliedAt.Equal(us(t0.Add(5*time.Minute))) || got.Lease != (approval.Lease{}) {
			t.Errorf("after revert: version %d, decided by %q, applied at %v, lease %+v; want 8, UADMIN, minute 5, none", got.Version, got.DecidedBy, got.AppliedAt, got.Lease)
		}

		audit, err := s.Audit(ctx, "tenant-a", 100)
		if err != nil {
			t.Fatal(err)
		}
		wantAudit := []struct {
			actor, action string
			from, to      approval.State
		}{
			{"UOTHER", "reverted", approval.StateReverting, approval.StateReverted},
			{"UOTHER", "reverting", approval.StateApplied, approval.StateReverting},
			{"ca-check", "applied", approval.StateApplying, approval.StateApplied},
			{"UADMIN", "applying", approval.StateFailed, approval.StateApplying},
			{"ca-check", "failed", approval.StateApplying, approval.StateFailed},
			{"ca-check", "applying", approval.StateApproved, approval.StateApplying},
			{"UADMIN", "approved", approval.StatePending, approval.StateApproved},
			{"UENG", "requested", "", approval.StatePending},
		}
		if len(audit) != len(wantAudit) {
			t.Fatalf("Audit has %d records, want %d: %+v", len(audit), len(wantAudit), audit)
		}
		for i, w := range wantAudit {
			a := audit[i]
			if a.RequestID != r.ID || a.TenantID != "tenant-a" || a.Actor != w.actor || a.Action != w.action || a.From != w.from || a.To != w.to {
				t.Errorf("audit[%d] = %+v, want %+v", i, a, w)
			}
		}
		if string(audit[0].Detail) != `{"before":{}}` || string(audit[6].Detail) != `{"approver":"UADMIN"}` || audit[2].Detail != nil {
			t.Errorf("audit details: %q, %q, %q", audit[0].Detail, audit[6].Detail, audit[2].Detail)
		}
		if !audit[7].At.Equal(us(t0)) || !audit[0].At.Equal(us(t0.Add(7*time.Minute))) {
			t.Errorf("audit times: %v, %v", audit[7].At, audit[0].At)
		}
		if short, _ := s.Audit(ctx, "tenant-a", 2); len(short) != 2 || short[0].ID != audit[0].ID {
			t.Errorf("Audit(limit 2) = %+v", short)
		}
	})
}

func TestTransitionConflicts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.Transition(ctx, "00000000000000000000000000000000", leased(approval.Transition{From: approval.StatePending, To: approval.StateApproved, At: t0})); !errors.Is(err, ErrNotFound) {
			t.Errorf("Transition of an unknown request = %v, want ErrNotFound", err)
		}
		r := newRequest(t, s)
		if _, err := s.Transition(ctx, r.ID, leased(approval.Transition{From: approval.StateApproved, To: approval.StateApplying, At: t0})); !errors.Is(err, ErrConflict) {
			t.Errorf("Transition from a state the request is not in = %v, want ErrConflict", err)
		}
		// Approving at or after ExpiresAt fails even before the sweep ran;
		// rejecting still works.
		if _, err := s.Transition(ctx, r.ID, leased(approval.Transition{From: approval.StatePending, To: approval.StateApproved, By: "UADMIN", At: r.ExpiresAt})); !errors.Is(err, ErrExpired) {
			t.Errorf("approval at ExpiresAt = %v, want ErrExpired", err)
		}
		if got, _ := s.Request(ctx, r.ID); got.State != approval.StatePending || got.Version != 1 {
			t.Errorf("a refused approval changed the request: %+v", got)
		}
		if _, err := s.Transition(ctx, r.ID, leased(approval.Transition{From: approval.StatePending, To: approval.StateRejected, By: "UADMIN", At: r.ExpiresAt.Add(time.Hour)})); err != nil {
			t.Errorf("rejection after ExpiresAt: %v", err)
		}
		if err := s.CreateRequest(ctx, r); !errors.Is(err, ErrConflict) {
			t.Errorf("CreateRequest with an existing ID = %v, want ErrConflict", err)
		}
		if got, _ := s.Request(ctx, r.ID); got.State != approval.StateRejected {
			t.Errorf("re-creating a request changed it: %+v", got)
		}
	})
}

// TestTransitionRace: of 50 concurrent approvals of one request, exactly one
// wins, and only it leaves an audit record.
func TestTransitionRace(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		stores := []*Store{openStore(t, dsn)}
		t.Run("one store", func(t *testing.T) { raceApprovals(t, stores) })
		stores = append(stores, openStore(t, dsn))
		t.Run("two replicas", func(t *testing.T) { raceApprovals(t, stores) })
	})
}

func raceApprovals(t *testing.T, stores []*Store) {
	const n = 50
	ctx := context.Background()
	r := newRequest(t, stores[0])
	var (
		wg        sync.WaitGroup
		start     = make(chan struct{})
		errs      = make([]error, n)
		approvers = make([]string, n)
	)
	for i := range n {
		approvers[i] = fmt.Sprintf("U%02d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = stores[i%len(stores)].Transition(ctx, r.ID, leased(approval.Transition{
				From: approval.StatePending, To: approval.StateApproved, By: approvers[i], At: t0.Add(time.Minute),
			}))
		}()
	}
	close(start)
	wg.Wait()
	winner := ""
	for i, err := range errs {
		switch {
		case err == nil:
			if winner != "" {
				t.Errorf("both %s and %s approved", winner, approvers[i])
			}
			winner = approvers[i]
		case !errors.Is(err, ErrConflict):
			t.Errorf("approval %d: %v, want ErrConflict", i, err)
		}
	}
	if winner == "" {
		t.Fatal("no approval succeeded")
	}
	got, err := stores[len(stores)-1].Request(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != approval.StateApproved || got.DecidedBy != winner || got.Version != 2 {
		t.Errorf("after the race: state %s, decided by %s, version %d; want approved, %s, 2", got.State, got.DecidedBy, got.Version, winner)
	}
	audit, err := stores[0].Audit(ctx, r.TenantID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	approvals := 0
	for _, a := range audit {
		if a.RequestID == r.ID && a.To == approval.StateApproved {
			approvals++
			if a.Actor != winner {
				t.Errorf("audit names %s, the winner was %s", a.Actor, winner)
			}
		}
	}
	if approvals != 1 {
		t.Errorf("%d audit records of the approval, want 1", approvals)
	}
}

// TestClaimRace: of 50 concurrent claims of one key, exactly one is first.
func TestClaimRace(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		stores := []*Store{openStore(t, dsn), openStore(t, dsn)}
		for _, replicas := range []int{1, 2} {
			t.Run(fmt.Sprintf("%d stores", replicas), func(t *testing.T) {
				const n = 50
				key := fmt.Sprintf("Ev%d", replicas)
				var (
					wg     sync.WaitGroup
					start  = make(chan struct{})
					mu     sync.Mutex
					firsts int
				)
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						first, err := stores[i%replicas].Claim(context.Background(), key, t0)
						if err != nil {
							t.Errorf("Claim: %v", err)
						}
						if first {
							mu.Lock()
							firsts++
							mu.Unlock()
						}
					}()
				}
				close(start)
				wg.Wait()
				if firsts != 1 {
					t.Errorf("%d claims were first, want 1", firsts)
				}
			})
		}
	})
}

// TestReplicas: two Stores on one database see each other's writes.
func TestReplicas(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		a, b := openStore(t, dsn), openStore(t, dsn)
		if err := a.LinkChannel(ctx, Link{ChannelID: "C1", TenantID: "tenant-a", LinkedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if l, err := b.ChannelLink(ctx, "C1"); err != nil || l.TenantID != "tenant-a" {
			t.Errorf("replica b: ChannelLink = %+v, %v", l, err)
		}
		if first, err := a.Claim(ctx, "Ev1", t0); err != nil || !first {
			t.Fatalf("replica a: Claim = %v, %v", first, err)
		}
		if first, err := b.Claim(ctx, "Ev1", t0); err != nil || first {
			t.Errorf("replica b: Claim of a's key = %v, %v; want false", first, err)
		}
		r := newRequest(t, a)
		if _, err := b.Transition(ctx, r.ID, leased(approval.Transition{From: approval.StatePending, To: approval.StateApproved, By: "UADMIN", At: t0.Add(time.Minute)})); err != nil {
			t.Fatalf("replica b approves a's request: %v", err)
		}
		if _, err := a.Transition(ctx, r.ID, leased(approval.Transition{From: approval.StatePending, To: approval.StateApproved, By: "UADMIN", At: t0.Add(time.Minute)})); !errors.Is(err, ErrConflict) {
			t.Errorf("replica a approves again = %v, want ErrConflict", err)
		}
		if got, err := a.Request(ctx, r.ID); err != nil || got.State != approval.StateApproved {
			t.Errorf("replica a reads %+v, %v", got, err)
		}
	})
}

func TestExpireRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := t0.Add(2 * time.Hour)
		past := newRequest(t, s, func(r *approval.Request) { r.ExpiresAt = t0.Add(time.Hour) })
		atNow := newRequest(t, s, func(r *approval.Request) { r.ExpiresAt = now })
		future := newRequest(t, s, func(r *approval.Request) { r.ExpiresAt = now.Add(time.Microsecond) })
		approved := newRequest(t, s, func(r *approval.Request) { r.ExpiresAt = t0.Add(time.Hour) })
		walk(t, s, approved.ID, approval.StateApproved)
		other := newRequest(t, s, func(r *approval.Request) { r.TenantID = "tenant-b"; r.ExpiresAt = t0.Add(time.Hour) })

		expired, err := s.ExpireRequests(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		got := make(map[string]approval.Request)
		for _, r := range expired {
			got[r.ID] = r
		}
		if len(expired) != 3 || got[past.ID].State != approval.StateExpired || got[atNow.ID].State != approval.StateExpired || got[other.ID].State != approval.StateExpired {
			t.Fatalf("ExpireRequests returned %+v; want past, atNow and other, expired", expired)
		}
		if got[past.ID].Version != 2 || !got[past.ID].UpdatedAt.Equal(us(now)) {
			t.Errorf("expired request: version %d, updated %v", got[past.ID].Version, got[past.ID].UpdatedAt)
		}
		for id, want := range map[string]approval.State{future.ID: approval.StatePending, approved.ID: approval.StateApproved} {
			if r, _ := s.Request(ctx, id); r.State != want {
				t.Errorf("request %s is %s, want %s", id, r.State, want)
			}
		}
		pending, err := s.PendingFor(ctx, "tenant-a")
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != 1 || pending[0].ID != future.ID {
			t.Errorf("PendingFor = %+v, want only %s", pending, future.ID)
		}
		again, err := s.ExpireRequests(ctx, now)
		if err != nil || len(again) != 0 {
			t.Errorf("second sweep = %+v, %v; want none", again, err)
		}
		audit, _ := s.Audit(ctx, "tenant-b", 10)
		if len(audit) != 2 || audit[0].Action != "expired" || audit[0].Actor != "ca-check" || audit[0].From != approval.StatePending || audit[0].To != approval.StateExpired {
			t.Errorf("tenant-b audit = %+v", audit)
		}
		if _, err := s.Transition(ctx, past.ID, leased(approval.Transition{From: approval.StatePending, To: approval.StateApproved, By: "UADMIN", At: t0})); !errors.Is(err, ErrConflict) {
			t.Errorf("approving an expired request = %v, want ErrConflict", err)
		}
	})
}

// TestExpireRace: replicas sweeping at once expire each request once.
func TestExpireRace(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		stores := []*Store{openStore(t, dsn), openStore(t, dsn)}
		for range 10 {
			newRequest(t, stores[0], func(r *approval.Request) { r.ExpiresAt = t0.Add(time.Hour) })
		}
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			total int
		)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rs, err := stores[i%2].ExpireRequests(context.Background(), t0.Add(2*time.Hour))
				if err != nil {
					t.Errorf("ExpireRequests: %v", err)
				}
				mu.Lock()
				total += len(rs)
				mu.Unlock()
			}()
		}
		wg.Wait()
		if total != 10 {
			t.Errorf("sweeps expired %d requests in all, want 10", total)
		}
		audit, _ := stores[1].Audit(context.Background(), "tenant-a", 100)
		if len(audit) != 20 {
			t.Errorf("%d audit records, want 10 requested + 10 expired", len(audit))
		}
	})
}

func TestAppendAudit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		r := newRequest(t, s)
		events := []approval.AuditRecord{
			{RequestID: r.ID, TenantID: "tenant-a", Actor: "ca-check", Action: "dm_sent", At: t0.Add(time.Minute), Detail: []byte(`{"to":"UADMIN"}`)},
			{TenantID: "tenant-a", Actor: "UADMIN", Action: "approver_added", At: t0.Add(2 * time.Minute)},
			{TenantID: "tenant-b", Actor: "UADMIN", Action: "approver_added", At: t0.Add(3 * time.Minute)},
		}
		for _, a := range events {
			if err := s.AppendAudit(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AppendAudit(ctx, approval.AuditRecord{RequestID: "ffffffffffffffffffffffffffffffff", TenantID: "tenant-a", Actor: "x", Action: "dm_sent"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("AppendAudit for an unknown request = %v, want ErrInvalid", err)
		}
		got, err := s.Audit(ctx, "tenant-a", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].Action != "approver_added" || got[0].RequestID != "" || got[1].Action != "dm_sent" ||
			string(got[1].Detail) != `{"to":"UADMIN"}` || got[2].Action != "requested" {
			t.Errorf("Audit = %+v", got)
		}
	})
}

// RequestAudit is one request's history, oldest first, without the
// tenant's other records.
func TestRequestAudit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		r := newRequest(t, s)
		other := newRequest(t, s)
		if err := s.AppendAudit(ctx, approval.AuditRecord{RequestID: r.ID, TenantID: "tenant-a", Actor: "ca-check", Action: "notified", At: t0.Add(time.Second), Detail: []byte(`{"user":"UADMIN"}`)}); err != nil {
			t.Fatal(err)
		}
		walk(t, s, r.ID, approval.StateApplying)
		if _, err := s.Transition(ctx, r.ID, leased(approval.Transition{From: approval.StateApplying, To: approval.StateSuperseded, At: t0.Add(time.Hour)})); err != nil {
			t.Fatalf("applying → superseded: %v", err)
		}
		got, err := s.RequestAudit(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, a := range got {
			if a.RequestID != r.ID {
				t.Errorf("record of request %s in the history of %s", a.RequestID, r.ID)
			}
			actions = append(actions, a.Action)
		}
		if want := []string{"requested", "notified", "approved", "applying", "superseded"}; !slices.Equal(actions, want) {
			t.Errorf("RequestAudit actions = %v, want %v", actions, want)
		}
		if got[1].Actor != "ca-check" || string(got[1].Detail) != `{"user":"UADMIN"}` || got[4].Actor != "ca-check" || got[4].From != approval.StateApplying {
			t.Errorf("records = %+v", got)
		}
		if got, err := s.RequestAudit(ctx, other.ID); err != nil || len(got) != 1 {
			t.Errorf("RequestAudit(other) = %d records, %v", len(got), err)
		}
		if _, err := s.RequestAudit(ctx, ""); !errors.Is(err, ErrInvalid) {
			t.Errorf("RequestAudit(\"\") = %v, want ErrInvalid", err)
		}
	})
}

// TestAuditAppendOnly: the schema itself refuses to change or delete audit
// records, whoever connects.
func TestAuditAppendOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		newRequest(t, s)
		for _, q := range []string{
			`UPDATE audit_log SET actor = 'mallory'`,
			`DELETE FROM audit_log`,
		} {
			if _, err := s.db.ExecContext(ctx, q); err == nil {
				t.Errorf("%s succeeded", q)
			}
		}
		got, err := s.Audit(ctx, "tenant-a", 10)
		if err != nil || len(got) != 1 || got[0].Actor != "UENG" {
			t.Errorf("audit after tampering = %+v, %v", got, err)
		}
	})
}

// TestTransitionVersion: a swap that names a version succeeds only at that
// version, so whoever settles an applying request settles the round it
// read, not a later round (a retry) that left the request in the same state.
func TestTransitionVersion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		r := newRequest(t, s)
		walk(t, s, r.ID, approval.StateApplying) // version 3
		// Settled by one caller, then retried: applying again, version 5.
		if _, err := s.Transition(ctx, r.ID, leased(approval.Transition{From: approval.StateApplying, To: approval.StateFailed, At: t0.Add(time.Hour)})); err != nil {
			t.Fatal(err)
		}
		again, err := s.Transition(ctx, r.ID, leased(approval.Transition{From: approval.StateFailed, To: approval.StateApplying, By: "UADMIN", At: t0.Add(time.Hour)}))
		if err != nil {
			t.Fatal(err)
		}
		before, _ := s.RequestAudit(ctx, r.ID)
		stale := []approval.Outcome{{PolicyID: "p1", Status: approval.OutcomeApplied}}
		cases := []struct {
			name    string
			version int64
			want    error
		}{
			{"the round read earlier", 3, ErrConflict},
			{"a version never reached", again.Version + 1, ErrConflict},
			{"negative", -1, ErrInvalid},
		}
		for _, c := range cases {
			_, err := s.Transition(ctx, r.ID, leased(approval.Transition{From: approval.StateApplying, To: approval.StateApplied, At: t0.Add(2 * time.Hour), Version: c.version, Outcomes: stale}))
			if !errors.Is(err, c.want) {
				t.Errorf("%s: approval.Transition at version %d = %v, want %v", c.name, c.version, err, c.want)
			}
		}
		if got, _ := s.Request(ctx, r.ID); got.State != approval.StateApplying || got.Version != again.Version || got.Outcomes[0].Status == approval.OutcomeApplied {
			t.Errorf("a refused swap changed the request: %+v", got)
		}
		if after, _ := s.RequestAudit(ctx, r.ID); len(after) != len(before) {
			t.Errorf("a refused swap left %d audit records", len(after)-len(before))
		}
		got, err := s.Transition(ctx, r.ID, leased(approval.Transition{From: approval.StateApplying, To: approval.StateApplied, At: t0.Add(2 * time.Hour), Version: again.Version}))
		if err != nil || got.State != approval.StateApplied || got.Version != again.Version+1 {
			t.Errorf("Transition at the current version = %+v, %v", got, err)
		}
	})
}

// TestApproveExpireRace: approvals clicked just before the deadline race
// the expiry sweeps of two replicas; each request ends approved or expired,
// never both, and whoever lost is told (ErrConflict, or not returned).
func TestApproveExpireRace(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		stores := []*Store{openStore(t, dsn), openStore(t, dsn)}
		deadline := t0.Add(time.Hour)
		var ids []string
		for range 20 {
			ids = append(ids, newRequest(t, stores[0], func(r *approval.Request) { r.ExpiresAt = deadline }).ID)
		}
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			approved = map[string]int{}
			expired  = map[string]int{}
		)
		for i, id := range ids {
			wg.Go(func() {
				_, err := stores[i%2].Transition(context.Background(), id, leased(approval.Transition{From: approval.StatePending, To: approval.StateApproved, By: "UADMIN", At: deadline.Add(-time.Microsecond)}))
				switch {
				case err == nil:
					mu.Lock()
					approved[id]++
					mu.Unlock()
				case !errors.Is(err, ErrConflict):
					t.Errorf("approval: %v", err)
				}
			})
		}
		for i := range 4 {
			wg.Go(func() {
				rs, err := stores[i%2].ExpireRequests(context.Background(), deadline)
				if err != nil {
					t.Errorf("ExpireRequests: %v", err)
				}
				mu.Lock()
				for _, r := range rs {
					expired[r.ID]++
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		for _, id := range ids {
			r, err := stores[1].Request(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			a, e := approved[id], expired[id]
			want := map[approval.State]bool{approval.StateApproved: a == 1 && e == 0, approval.StateExpired: a == 0 && e == 1}
			if !want[r.State] {
				t.Errorf("request is %s, approved %d times and expired %d times", r.State, a, e)
			}
		}
	})
}

// Ten concurrent requests for one diagnosis, across two replicas: one is
// created, the others are refused with ErrConflict; once it is decided, a
// new request for the diagnosis may be made.
func TestOnePendingRequestPerDiagnosis(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		stores := []*Store{openStore(t, dsn), openStore(t, dsn)}
		diag, err := stores[0].SaveDiagnosis(ctx, DiagnosisRecord{TenantID: "tenant-a", Verdict: "blocked"})
		if err != nil {
			t.Fatal(err)
		}
		const n = 10
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			ids   = make([]string, n)
			errs  = make([]error, n)
		)
		for i := range n {
			id, err := approval.NewID()
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = id
			wg.Go(func() {
				<-start
				errs[i] = stores[i%2].CreateRequest(ctx, approval.Request{
					ID: ids[i], TenantID: "tenant-a", DiagnosisID: diag, RequestedBy: fmt.Sprintf("U%02d", i),
					ChannelID: "C1", State: approval.StatePending, Plans: onePlan, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
				})
			})
		}
		close(start)
		wg.Wait()
		winner := ""
		for i, err := range errs {
			switch {
			case err == nil && winner == "":
				winner = ids[i]
			case err == nil:
				t.Errorf("two pending requests for one diagnosis: %s and %s", winner, ids[i])
			case !errors.Is(err, ErrConflict):
				t.Errorf("CreateRequest: %v, want ErrConflict", err)
			}
		}
		if winner == "" {
			t.Fatal("no request was created")
		}
		if _, err := stores[0].Transition(ctx, winner, leased(approval.Transition{From: approval.StatePending, To: approval.StateRejected, By: "UADMIN", At: t0.Add(time.Minute)})); err != nil {
			t.Fatal(err)
		}
		newRequest(t, stores[1], func(r *approval.Request) { r.DiagnosisID = diag })
		// Requests that name no diagnosis are not limited.
		newRequest(t, stores[0])
		newRequest(t, stores[0])
	})
}
