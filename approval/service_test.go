package approval_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/diagnose"
)

// Open asks every approver of the tenant but the requester, tells the
// thread how each was reached, and keeps the request pending with every
// plan not tried yet.
func TestOpen(t *testing.T) {
	e := newEnv(t)
	e.notes.refuse[approver2] = true
	r := e.open()
	if !approval.ValidID(r.ID) || r.State != approval.StatePending || r.Version != 1 || !r.ExpiresAt.Equal(e.clock.Now().Add(24*time.Hour)) {
		t.Errorf("opened %+v", r)
	}
	if got := e.notes.asked; !slices.Equal(got, []string{approver, approver2}) {
		t.Errorf("asked %v; want both customer admins, not the requester", got)
	}
	req, ok := e.notes.last(r.ID, approval.Requested)
	if !ok || len(req.Event.Notices) != 2 || req.Event.Notices[1].Via != approval.ViaNone {
		t.Errorf("the thread was told %+v", req.Event)
	}
	stored := e.state(r.ID)
	if len(stored.Plans) != len(r.Plans) || stored.Count(approval.OutcomePending) != len(r.Plans) {
		t.Errorf("stored %d plans, %d pending outcomes", len(stored.Plans), stored.Count(approval.OutcomePending))
	}
	if got := e.audit(r.ID); !slices.Equal(got, []string{"requested"}) {
		t.Errorf("audit %v", got)
	}
	// A second request for the same diagnosis points at the first.
	_, err := e.svc.Open(context.Background(), e.draft())
	if p, ok := errors.AsType[*approval.PendingError](err); !ok || p.Request.ID != r.ID {
		t.Errorf("second Open = %v, want the pending request", err)
	}
}

// Without an approver besides the requester nothing is opened or sent.
func TestOpenNoApprovers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, u := range []string{approver, approver2} {
		if err := e.st.RemoveApprover(ctx, contosoID, u); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.svc.Open(ctx, e.draft())
	if n, ok := errors.AsType[*approval.NoApproversError](err); !ok || !n.OnlyRequester {
		t.Errorf("Open = %v, want NoApproversError (only the requester)", err)
	}
	if len(e.notes.asked) != 0 {
		t.Errorf("asked %v", e.notes.asked)
	}
	if rs, _ := e.st.PendingFor(ctx, contosoID); len(rs) != 0 {
		t.Errorf("%d requests stored", len(rs))
	}
}

// Ten requests for one diagnosis at once: one is opened, the others are
// told it was just requested, or point at it.
func TestOpenConcurrent(t *testing.T) {
	e := newEnv(t)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		opened int
	)
	for range 10 {
		wg.Go(func() {
			_, err := e.svc.Open(context.Background(), e.draft())
			_, pending := errors.AsType[*approval.PendingError](err)
			switch {
			case err == nil:
				mu.Lock()
				opened++
				mu.Unlock()
			case !pending && !errors.Is(err, approval.ErrJustRequested):
				t.Errorf("Open: %v", err)
			}
		})
	}
	wg.Wait()
	if opened != 1 || len(e.notes.asked) != 2 {
		t.Errorf("%d requests opened, %d approvers asked; want 1 and 2", opened, len(e.notes.asked))
	}
}

// Approve writes each policy once, settles the request applied, reports in
// the thread and closes the approvers' copies; a late click changes
// nothing.
func TestApprove(t *testing.T) {
	e := newEnv(t)
	r := e.open()
	if err := e.svc.Approve(context.Background(), r.ID, actor(approver)); err != nil {
		t.Fatal(err)
	}
	got := e.state(r.ID)
	if got.State != approval.StateApplied || got.DecidedBy != approver || got.Count(approval.OutcomeApplied) != len(r.Plans) {
		t.Fatalf("after Approve: %s by %s, outcomes %+v", got.State, got.DecidedBy, got.Outcomes)
	}
	writes, _ := e.tenant.counts()
	for _, p := range r.Plans {
		if writes[p.PolicyID] != 1 || !e.tenant.exclusion(p.PolicyID).Equal(p.After) {
			t.Errorf("policy %s written %d times", p.DisplayName, writes[p.PolicyID])
		}
	}
	if want := []string{"requested", "approved", "applying", "applied", "reported"}; !slices.Equal(e.audit(r.ID), want) {
		t.Errorf("audit %v, want %v", e.audit(r.ID), want)
	}
	settled, ok := e.notes.last(r.ID, approval.Settled)
	if !ok || settled.Event.By != approver || !settled.Event.RevertUntil.Equal(got.UpdatedAt.Add(7*24*time.Hour)) || settled.Request.State != approval.StateApplied {
		t.Errorf("the thread was told %+v", settled)
	}
	// Both copies were closed twice: approved (applying…), then settled.
	var kinds []approval.EventKind
	for _, c := range e.notes.closed {
		if len(c.Copies) != 2 {
			t.Errorf("closed %d copies, want 2", len(c.Copies))
		}
		kinds = append(kinds, c.Event.Kind)
	}
	if !slices.Equal(kinds, []approval.EventKind{approval.Approved, approval.Settled}) {
		t.Errorf("copies closed with %v", kinds)
	}
	// An old message cannot decide again.
	err := e.svc.Approve(context.Background(), r.ID, actor(approver2))
	if s, ok := errors.AsType[*approval.StateError](err); !ok || s.Request.State != approval.StateApplied {
		t.Errorf("a late Approve = %v, want the request as applied", err)
	}
	if w, _ := e.tenant.counts(); w[r.Plans[0].PolicyID] != 1 {
		t.Errorf("a late click wrote again: %v", w)
	}
}

// Only the tenant's approvers decide, never the requester; with
// VerifyApprovers, only one whose email is an admin of the tenant. Every
// refusal is audited, writes nothing, and leaves the request pending.
func TestDecisionRefused(t *testing.T) {
	verify := func(c *approval.Config) { c.VerifyApprovers = true }
	email := func(addr string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { return addr, nil }
	}
	cases := []struct {
		name   string
		verify bool
		who    approval.Actor
		reject bool
		why    approval.Why
	}{
		{"nobody", false, approval.Actor{}, false, approval.WhyNoUser},
		{"self-approval", false, actor(engineer), false, approval.WhyRequester},
		{"self-rejection", false, actor(engineer), true, approval.WhyRequester},
		{"stranger", false, actor(stranger), false, approval.WhyNotApprover},
		{"a ca-check admin is no approver", false, approval.Actor{ID: admin, Admin: true}, false, approval.WhyNotApprover},
		{"approver of another tenant", false, actor(otherAdm), false, approval.WhyNotApprover},
		{"approver of another tenant rejecting", false, actor(otherAdm), true, approval.WhyNotApprover},
		{"no email", true, approval.Actor{ID: approver, Email: email("")}, false, approval.WhyNoEmail},
		{"no admin role", true, approval.Actor{ID: approver, Email: email("helpdesk@contoso.example")}, false, approval.WhyNoAdminRole},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mods []func(*approval.Config)
			if c.verify {
				mods = append(mods, verify)
			}
			e := newEnv(t, mods...)
			r := e.open()
			var err error
			if c.reject {
				err = e.svc.Reject(context.Background(), r.ID, c.who, "no")
			} else {
				err = e.svc.Approve(context.Background(), r.ID, c.who)
			}
			if ref, ok := errors.AsType[*approval.RefusedError](err); !ok || ref.Why != c.why {
				t.Fatalf("got %v, want refused: %s", err, c.why)
			}
			if got := e.state(r.ID); got.State != approval.StatePending {
				t.Errorf("state %s after a refusal", got.State)
			}
			if w, _ := e.tenant.counts(); len(w) != 0 {
				t.Errorf("a refused decision wrote %v", w)
			}
			if got := e.audit(r.ID); !slices.Contains(got, "refused") {
				t.Errorf("no audit record of the refusal: %v", got)
			}
		})
	}
	t.Run("admin role", func(t *testing.T) {
		e := newEnv(t, verify)
		e.tenant.admins["ca.admin@contoso.example"] = true
		r := e.open()
		if err := e.svc.Approve(context.Background(), r.ID, approval.Actor{ID: approver, Email: email("ca.admin@contoso.example")}); err != nil {
			t.Fatal(err)
		}
		if got := e.state(r.ID); got.State != approval.StateApplied {
			t.Errorf("state %s", got.State)
		}
	})
}

// What names no request, or no request known, is told apart.
func TestUnknownRequest(t *testing.T) {
	e := newEnv(t)
	for id, want := range map[string]error{
		"x' OR 1=1":                        approval.ErrBadID,
		"ffffffffffffffffffffffffffffffff": approval.ErrNotFound,
	} {
		if err := e.svc.Approve(context.Background(), id, actor(approver)); !errors.Is(err, want) {
			t.Errorf("Approve(%q) = %v, want %v", id, err, want)
		}
		if err := e.svc.Revert(context.Background(), id, actor(engineer)); !errors.Is(err, want) {
			t.Errorf("Revert(%q) = %v, want %v", id, err, want)
		}
	}
}

// Fifty approvals at once, from two approvers: one wins, one write per
// policy, the others see the request as it now is.
func TestApproveConcurrent(t *testing.T) {
	e := newEnv(t)
	r := e.open()
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range 50 {
		who := approver
		if i%2 == 1 {
			who = approver2
		}
		wg.Go(func() { errs[i] = e.svc.Approve(context.Background(), r.ID, actor(who)) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else if _, ok := errors.AsType[*approval.StateError](err); !ok && !errors.Is(err, approval.ErrConflict) {
			t.Errorf("a losing click: %v", err)
		}
	}
	writes, _ := e.tenant.counts()
	for p, n := range writes {
		if n != 1 {
			t.Errorf("policy %s written %d times by 50 clicks", p, n)
		}
	}
	if won != 1 || len(writes) != len(r.Plans) {
		t.Errorf("%d clicks won, %d policies written", won, len(writes))
	}
}

// An approval at or after the expiry is refused, whether or not the sweep
// has run; the sweep then closes the request and tells its thread.
func TestExpiry(t *testing.T) {
	e := newEnv(t)
	r := e.open()
	e.clock.Advance(24 * time.Hour)
	if err := e.svc.Approve(context.Background(), r.ID, actor(approver)); !errors.Is(err, approval.ErrExpired) {
		t.Errorf("Approve at the expiry = %v, want ErrExpired", err)
	}
	e.svc.Sweep(context.Background())
	if got := e.state(r.ID); got.State != approval.StateExpired {
		t.Errorf("state %s after the sweep", got.State)
	}
	if _, ok := e.notes.last(r.ID, approval.Expired); !ok {
		t.Error("the thread was not told")
	}
	if w, _ := e.tenant.counts(); len(w) != 0 {
		t.Errorf("wrote %v", w)
	}
}

// Reject closes the request with its reason, cut to MaxReason characters,
// and writes nothing.
func TestReject(t *testing.T) {
	e := newEnv(t)
	r := e.open()
	if _, err := e.svc.MayReject(context.Background(), r.ID, actor(approver)); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Reject(context.Background(), r.ID, actor(approver), strings.Repeat("é", 3000)); err != nil {
		t.Fatal(err)
	}
	got := e.state(r.ID)
	rej, ok := e.notes.last(r.ID, approval.Rejected)
	if got.State != approval.StateRejected || got.DecidedBy != approver || !ok || utf8.RuneCountInString(rej.Event.Reason) != approval.MaxReason {
		t.Errorf("after Reject: %s by %s; the thread was told a reason of %d characters", got.State, got.DecidedBy, utf8.RuneCountInString(rej.Event.Reason))
	}
	if _, err := e.svc.MayReject(context.Background(), r.ID, actor(approver2)); err == nil {
		t.Error("a rejected request may be rejected again")
	}
	if w, _ := e.tenant.counts(); len(w) != 0 {
		t.Errorf("a rejection wrote %v", w)
	}
}

// A policy changed since the plan is not written: the others are, and it
// gets a fresh plan in a new request.
func TestPolicyChanged(t *testing.T) {
	e := newEnv(t)
	r := e.open()
	changed := r.Plans[0]
	e.tenant.set(changed.PolicyID, &diagnose.GuestsOrExternalUsers{GuestOrExternalUserTypes: "internalGuest",
		ExternalTenants: &diagnose.ExternalTenants{MembershipKind: diagnose.MembershipAll}})
	if err := e.svc.Approve(context.Background(), r.ID, actor(approver)); err != nil {
		t.Fatal(err)
	}
	got := e.state(r.ID)
	if got.State != approval.StateApplied || got.Outcomes[0].Status != approval.OutcomeChanged || !got.Outcomes[0].Replanned {
		t.Errorf("after Approve: %s, %+v", got.State, got.Outcomes[0])
	}
	if w, _ := e.tenant.counts(); w[changed.PolicyID] != 0 || len(w) != len(r.Plans)-1 {
		t.Errorf("writes %v", w)
	}
	pending, err := e.st.PendingFor(context.Background(), contosoID)
	if err != nil || len(pending) != 1 {
		t.Fatalf("%d new requests, %v", len(pending), err)
	}
	fresh := pending[0]
	if len(fresh.Plans) != 1 || fresh.Plans[0].PolicyID != changed.PolicyID || !fresh.Plans[0].After.HasType("internalGuest") || fresh.RequestedBy != engineer {
		t.Errorf("the new request: %+v", fresh)
	}
	if !slices.Contains(e.audit(r.ID), "replanned") {
		t.Errorf("audit %v", e.audit(r.ID))
	}
}

// Some policies fail: the request is failed, and Retry writes only those,
// once however many approvers click it.
func TestRetry(t *testing.T) {
	e := newEnv(t)
	r := e.open()
	bad := r.Plans[len(r.Plans)-1]
	e.tenant.fail[bad.PolicyID] = diagnose.Errorf(diagnose.EUNAVAILABLE, "Microsoft Graph answered 503")
	if err := e.svc.Approve(context.Background(), r.ID, actor(approver)); err != nil {
		t.Fatal(err)
	}
	if got := e.state(r.ID); got.State != approval.StateFailed || got.Count(approval.OutcomeFailed) != 1 {
		t.Fatalf("after a failure: %s, %+v", got.State, got.Outcomes)
	}
	if err := e.svc.Retry(context.Background(), r.ID, actor(engineer)); err == nil {
		t.Error("the requester retried")
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { _ = e.svc.Retry(context.Background(), r.ID, actor(approver)) })
	}
	wg.Wait()
	if got := e.state(r.ID); got.State != approval.StateApplied {
		t.Errorf("after Retry: %s", got.State)
	}
	writes, _ := e.tenant.counts()
	for _, p := range r.Plans {
		if writes[p.PolicyID] != 1 {
			t.Errorf("policy %s written %d times; a retry writes only what failed", p.DisplayName, writes[p.PolicyID])
		}
	}
}

// Revert restores each policy once, for the requester, an approver or a
// ca-check admin, within the window; a stranger is refused and audited.
func TestRevert(t *testing.T) {
	e := newEnv(t)
	r := e.open()
	if err := e.svc.Approve(context.Background(), r.ID, actor(approver)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.svc.Revert(ctx, r.ID, actor(stranger)); !isRefused(err, approval.WhyNotReverter) {
		t.Errorf("a stranger's Revert = %v", err)
	}
	if err := e.svc.Revert(ctx, r.ID, approval.Actor{ID: admin, Admin: true}); err != nil {
		t.Fatal(err)
	}
	got := e.state(r.ID)
	if got.State != approval.StateReverted || got.Count(approval.OutcomeReverted) != len(r.Plans) {
		t.Errorf("after Revert: %s, %+v", got.State, got.Outcomes)
	}
	_, reverts := e.tenant.counts()
	for _, p := range r.Plans {
		if reverts[p.PolicyID] != 1 || !e.tenant.exclusion(p.PolicyID).Equal(p.Before) {
			t.Errorf("policy %s reverted %d times", p.DisplayName, reverts[p.PolicyID])
		}
	}
	if _, ok := errors.AsType[*approval.StateError](e.svc.Revert(ctx, r.ID, actor(engineer))); !ok {
		t.Error("a reverted request was reverted again")
	}
	if !slices.Contains(e.audit(r.ID), "refused") {
		t.Errorf("the stranger's refusal is not audited: %v", e.audit(r.ID))
	}
}

// After the window, Revert is refused and writes nothing.
func TestRevertWindow(t *testing.T) {
	e := newEnv(t)
	r := e.open()
	if err := e.svc.Approve(context.Background(), r.ID, actor(approver)); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(8 * 24 * time.Hour)
	if _, ok := errors.AsType[*approval.WindowError](e.svc.Revert(context.Background(), r.ID, actor(engineer))); !ok {
		t.Error("reverted after the window")
	}
	if _, rv := e.tenant.counts(); len(rv) != 0 {
		t.Errorf("reverted %v", rv)
	}
}

func isRefused(err error, why approval.Why) bool {
	r, ok := errors.AsType[*approval.RefusedError](err)
	return ok && r.Why == why
}

// A crash while applying: the request stays applying under the dead
// process's lease; once the lease lapses (not before), another Service on
// the same store reads the policies, settles it from them without
// writing, and Retry writes only the rest.
func TestReconcileAfterCrash(t *testing.T) {
	e := newEnv(t)
	r := e.open()
	ctx := context.Background()
	now := e.clock.Now()
	dead := &approval.Lease{Holder: "dead", Until: now.Add(30 * time.Second)}
	for _, tr := range []approval.Transition{
		{From: approval.StatePending, To: approval.StateApproved, By: approver, At: now, Lease: dead},
		{From: approval.StateApproved, To: approval.StateApplying, By: approver, At: now, Lease: dead},
	} {
		if _, err := e.st.Transition(ctx, r.ID, tr); err != nil {
			t.Fatal(err)
		}
	}
	// The dead process wrote the first policy.
	e.tenant.set(r.Plans[0].PolicyID, r.Plans[0].After)
	other := e.service()
	e.clock.Advance(29 * time.Second)
	other.Sweep(ctx)
	if got := e.state(r.ID); got.State != approval.StateApplying || len(e.notes.thread(r.ID)) != 1 {
		t.Fatalf("reconciled before the lease lapsed: %s, thread told %v", got.State, e.notes.thread(r.ID))
	}
	e.clock.Advance(time.Second)
	other.Sweep(ctx)
	got := e.state(r.ID)
	if got.State != approval.StateFailed || got.Outcomes[0].Status != approval.OutcomeApplied || got.Count(approval.OutcomeFailed) != len(r.Plans)-1 {
		t.Fatalf("after reconciling: %s, %+v", got.State, got.Outcomes)
	}
	if w, _ := e.tenant.counts(); len(w) != 0 {
		t.Errorf("reconciliation wrote %v", w)
	}
	if kinds := e.notes.thread(r.ID); !slices.Equal(kinds[len(kinds)-2:], []approval.EventKind{approval.Reconciled, approval.Settled}) {
		t.Errorf("the thread was told %v", kinds)
	}
	if err := e.svc.Retry(ctx, r.ID, actor(approver)); err != nil {
		t.Fatal(err)
	}
	if w, _ := e.tenant.counts(); w[r.Plans[0].PolicyID] != 0 || len(w) != len(r.Plans)-1 {
		t.Errorf("the retry after reconciling wrote %v", w)
	}
}

// A reconciliation settles the round of applying it read, never a later
// one: here another process reconciled the crashed apply first, an
// approver clicked Retry, and the retry is writing when the slow
// reconciliation, working from its stale read, tries to settle the
// request.
func TestReconcileStaleRead(t *testing.T) {
	e := newEnv(t)
	r := e.open()
	ctx := context.Background()
	now := e.clock.Now()
	// Leases that have all lapsed by now: only the version tells the
	// rounds apart.
	lapsed := &approval.Lease{Holder: "dead", Until: now}
	for _, tr := range []approval.Transition{
		{From: approval.StatePending, To: approval.StateApproved, By: approver, At: now, Lease: lapsed},
		{From: approval.StateApproved, To: approval.StateApplying, By: approver, At: now, Lease: lapsed},
	} {
		if _, err := e.st.Transition(ctx, r.ID, tr); err != nil {
			t.Fatal(err)
		}
	}
	stale := e.state(r.ID) // what the slow process read: applying, the crashed round
	for _, tr := range []approval.Transition{
		{From: approval.StateApplying, To: approval.StateFailed, At: now},                              // the other process's reconciliation
		{From: approval.StateFailed, To: approval.StateApplying, By: approver, At: now, Lease: lapsed}, // Retry, writing now
	} {
		if _, err := e.st.Transition(ctx, r.ID, tr); err != nil {
			t.Fatal(err)
		}
	}
	retry := e.state(r.ID)
	if err := e.svc.Reconcile(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if got := e.state(r.ID); got.State != approval.StateApplying || got.Version != retry.Version {
		t.Errorf("the stale reconciliation settled the retry's round: %s at version %d, want applying at %d", got.State, got.Version, retry.Version)
	}
}

// BenchmarkOpenApprove is one whole approval through the service alone, on
// SQLite with no Slack: Open (stored, two approvers asked, thread told),
// Approve (authorised, leased, every policy applied, settled, reported).
func BenchmarkOpenApprove(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	for b.Loop() {
		e.tenant.mu.Lock()
		clear(e.tenant.excl)
		e.tenant.mu.Unlock()
		r := e.open()
		if err := e.svc.Approve(ctx, r.ID, actor(approver)); err != nil {
			b.Fatal(err)
		}
	}
}
