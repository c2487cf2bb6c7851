package approval_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cacheck/ca-check/approval"
)

// stall makes the tenant's writes of one policy wait until released, as a
// PATCH in flight when its process is killed; reached is closed when one
// is waiting.
type stall struct {
	policy  string
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

func (e *env) stall(policyID string) *stall {
	st := &stall{policy: policyID, reached: make(chan struct{}), release: make(chan struct{})}
	e.tenant.mu.Lock()
	e.tenant.hold = func(id string) {
		if id == st.policy {
			st.once.Do(func() { close(st.reached) })
			<-st.release
		}
	}
	e.tenant.mu.Unlock()
	e.t.Cleanup(st.free)
	return st
}

func (st *stall) wait(t testing.TB) {
	t.Helper()
	select {
	case <-st.reached:
	case <-time.After(5 * time.Second):
		t.Fatal("the write never started")
	}
}

func (st *stall) free() {
	select {
	case <-st.release:
	default:
		close(st.release)
	}
}

// asDead is a Service whose lease renewals all fail: a process killed
// while it works, whose lease lapses 30 s after it was last taken.
func asDead(c *approval.Config) {
	c.Holder, c.Renew, c.Store = "killed", time.Millisecond, noRenewals{c.Store}
}

type noRenewals struct{ approval.Store }

func (noRenewals) RenewLease(context.Context, string, approval.Lease) (bool, error) {
	return false, errors.New("the process is dead")
}

// quickRenew is a Service that renews every few milliseconds: a process
// alive while it works.
func quickRenew(c *approval.Config) { c.Holder, c.Renew = "alive", 5*time.Millisecond }

// A process killed in the middle of an apply, with a PATCH in flight, is
// reconciled by another process once its lease lapses, and not before:
// from the policies, with no write. The killed process's last PATCH may
// land all the same; the process writes nothing after it (its lease is no
// longer surely its own) and settles nothing. Retry then finds that write
// in place, and writes only the policy never written: each policy is
// written once.
func TestKilledMidApplyReconciled(t *testing.T) {
	e := newEnv(t)
	killed := e.service(asDead)
	r := e.open()
	if len(r.Plans) < 3 {
		t.Fatalf("the fixture should need 3 changes, has %d", len(r.Plans))
	}
	inFlight := e.stall(r.Plans[1].PolicyID)
	done := make(chan error, 1)
	go func() { done <- killed.Approve(context.Background(), r.ID, actor(approver)) }()
	inFlight.wait(t)

	other := e.service()
	ctx := context.Background()
	e.clock.Advance(29 * time.Second)
	other.Sweep(ctx)
	if got := e.state(r.ID); got.State != approval.StateApplying || got.Lease.Holder != "killed" {
		t.Fatalf("taken over before the lease lapsed: %s, lease %+v", got.State, got.Lease)
	}
	e.clock.Advance(2 * time.Second)
	other.Sweep(ctx)
	got := e.state(r.ID)
	if got.State != approval.StateFailed || got.Outcomes[0].Status != approval.OutcomeApplied || got.Count(approval.OutcomeFailed) != len(r.Plans)-1 {
		t.Fatalf("after the lease lapsed: %s, %+v", got.State, got.Outcomes)
	}
	if kinds := e.notes.thread(r.ID); !slices.Contains(kinds, approval.Reconciled) || !slices.Contains(kinds, approval.Settled) {
		t.Errorf("the thread was told %v", kinds)
	}
	if w, _ := e.tenant.counts(); len(w) != 1 {
		t.Errorf("writes before the in-flight PATCH lands: %v, want the first policy alone", w)
	}

	// The in-flight PATCH lands; the killed process goes no further.
	inFlight.free()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if after := e.state(r.ID); after.State != approval.StateFailed || after.Version != got.Version {
		t.Errorf("the killed process settled over the reconciliation: %s at version %d, want failed at %d", after.State, after.Version, got.Version)
	}
	if w, _ := e.tenant.counts(); w[r.Plans[2].PolicyID] != 0 {
		t.Errorf("the killed process wrote after its lease lapsed: %v", w)
	}
	if err := other.Retry(ctx, r.ID, actor(approver)); err != nil {
		t.Fatal(err)
	}
	if got := e.state(r.ID); got.State != approval.StateApplied {
		t.Errorf("after Retry: %s, %+v", got.State, got.Outcomes)
	}
	writes, _ := e.tenant.counts()
	for _, p := range r.Plans {
		if writes[p.PolicyID] != 1 {
			t.Errorf("policy %s written %d times", p.DisplayName, writes[p.PolicyID])
		}
	}
}

// A process alive, however long its apply takes, keeps its lease: another
// process's sweeps never take the request over, and it settles the request
// itself.
func TestLiveApplyNotTakenOver(t *testing.T) {
	e := newEnv(t)
	alive := e.service(quickRenew)
	r := e.open()
	slow := e.stall(r.Plans[1].PolicyID)
	done := make(chan error, 1)
	go func() { done <- alive.Approve(context.Background(), r.ID, actor(approver)) }()
	slow.wait(t)

	other := e.service()
	ctx := context.Background()
	for range 3 {
		e.clock.Advance(5 * time.Minute)
		// Wait for a renewal after the clock moved, as a live process's
		// would come within its interval.
		deadline := time.Now().Add(5 * time.Second)
		for !e.state(r.ID).Lease.Until.After(e.clock.Now()) {
			if time.Now().After(deadline) {
				t.Fatal("the live process did not renew its lease")
			}
			time.Sleep(time.Millisecond)
		}
		other.Sweep(ctx)
		if got := e.state(r.ID); got.State != approval.StateApplying || got.Lease.Holder != "alive" {
			t.Fatalf("a live process's request was taken over: %s, lease %+v", got.State, got.Lease)
		}
	}
	slow.free()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := e.state(r.ID)
	if got.State != approval.StateApplied || got.Lease != (approval.Lease{}) || got.ReportDue {
		t.Errorf("after the slow apply: %s, lease %+v, report due %v", got.State, got.Lease, got.ReportDue)
	}
	if slices.Contains(e.notes.thread(r.ID), approval.Reconciled) {
		t.Error("a live process's request was reconciled")
	}
}

// A process killed in the middle of a revert leaves the request reverting:
// a second Revert is told it is under way (a stranger is refused first).
// Once the lease lapses, and not before, another process returns it to
// applied and tells the thread; Revert then restores what was not restored
// yet, and each policy is reverted once.
func TestKilledMidRevert(t *testing.T) {
	e := newEnv(t)
	r := e.open()
	ctx := context.Background()
	if err := e.svc.Approve(ctx, r.ID, actor(approver)); err != nil {
		t.Fatal(err)
	}
	killed := e.service(asDead)
	inFlight := e.stall(r.Plans[1].PolicyID)
	done := make(chan error, 1)
	go func() { done <- killed.Revert(context.Background(), r.ID, actor(engineer)) }()
	inFlight.wait(t)

	other := e.service()
	if err := other.Revert(ctx, r.ID, actor(stranger)); !isRefused(err, approval.WhyNotReverter) {
		t.Errorf("a stranger's Revert during a revert = %v, want refused", err)
	}
	if err := other.Revert(ctx, r.ID, actor(approver)); !errors.Is(err, approval.ErrReverting) {
		t.Errorf("a second Revert = %v, want ErrReverting", err)
	}
	e.clock.Advance(29 * time.Second)
	other.Sweep(ctx)
	if got := e.state(r.ID); got.State != approval.StateReverting {
		t.Fatalf("returned to applied before the lease lapsed: %s", got.State)
	}
	e.clock.Advance(2 * time.Second)
	other.Sweep(ctx)
	if got := e.state(r.ID); got.State != approval.StateApplied || got.Count(approval.OutcomeApplied) != len(r.Plans) {
		t.Fatalf("after the lease lapsed: %s, %+v", got.State, got.Outcomes)
	}
	if _, ok := e.notes.last(r.ID, approval.RevertInterrupted); !ok || !slices.Contains(e.audit(r.ID), "revert_interrupted") {
		t.Errorf("the interruption was not told (thread %v) or audited (%v)", e.notes.thread(r.ID), e.audit(r.ID))
	}
	inFlight.free()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := e.state(r.ID); got.State != approval.StateApplied {
		t.Fatalf("the killed process settled its revert: %s", got.State)
	}
	if err := other.Revert(ctx, r.ID, actor(engineer)); err != nil {
		t.Fatal(err)
	}
	if got := e.state(r.ID); got.State != approval.StateReverted {
		t.Fatalf("after Revert again: %s, %+v", got.State, got.Outcomes)
	}
	_, reverts := e.tenant.counts()
	for _, p := range r.Plans {
		if reverts[p.PolicyID] != 1 || !e.tenant.exclusion(p.PolicyID).Equal(p.Before) {
			t.Errorf("policy %s reverted %d times", p.DisplayName, reverts[p.PolicyID])
		}
	}
}

// A process that settled an apply and died before telling it leaves the
// report due under its lease: once the lease lapses another process tells
// it, once; one settled more than a day before is not told.
func TestReportDueAfterCrash(t *testing.T) {
	for _, c := range []struct {
		name  string
		after time.Duration
		told  bool
	}{
		{"within the day", 31 * time.Second, true},
		{"a day late", 25 * time.Hour, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.open()
			ctx := context.Background()
			now := e.clock.Now()
			dead := &approval.Lease{Holder: "dead", Until: now.Add(30 * time.Second)}
			outcomes := approval.NewOutcomes(r.Plans)
			for i := range outcomes {
				outcomes[i].Status = approval.OutcomeApplied
			}
			for _, tr := range []approval.Transition{
				{From: approval.StatePending, To: approval.StateApproved, By: approver, At: now, Lease: dead},
				{From: approval.StateApproved, To: approval.StateApplying, By: approver, At: now, Lease: dead},
				{From: approval.StateApplying, To: approval.StateApplied, By: approver, At: now, Lease: dead, ReportDue: true, Outcomes: outcomes},
			} {
				if _, err := e.st.Transition(ctx, r.ID, tr); err != nil {
					t.Fatal(err)
				}
			}
			other := e.service()
			other.Sweep(ctx) // the lease holds
			e.clock.Advance(c.after)
			other.Sweep(ctx)
			other.Sweep(ctx)
			var settled []approval.Event
			for _, tl := range e.notes.told {
				if tl.Request.ID == r.ID && tl.Event.Kind == approval.Settled {
					settled = append(settled, tl.Event)
				}
			}
			if c.told && (len(settled) != 1 || settled[0].By != approver || !slices.Contains(e.notes.thread(r.ID), approval.ReportedLate)) {
				t.Errorf("told %+v; want the outcome once, approved by %s", settled, approver)
			}
			if !c.told && len(settled) != 0 {
				t.Errorf("told a day late: %+v", settled)
			}
			got := e.state(r.ID)
			if got.ReportDue || got.Lease != (approval.Lease{}) || slices.Contains(e.audit(r.ID), "reported") != c.told {
				t.Errorf("after the sweep: report due %v, lease %+v, audit %v", got.ReportDue, got.Lease, e.audit(r.ID))
			}
		})
	}
}
