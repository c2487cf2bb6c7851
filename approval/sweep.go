package approval

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cacheck/ca-check/diagnose"
)

// reconcileGiveUp is how long reconciliation keeps trying to read the
// policies of a request left applying before it settles the request as
// failed without them.
const reconcileGiveUp = time.Hour

// Sweep does the periodic work of every process sharing the store; run it
// every few seconds (the bot: every 10). It closes the requests past their
// expiry, and takes over what a dead process left, once its lease lapsed:
// it reconciles an interrupted apply (Reconcile), returns an interrupted
// revert to applied, and tells an outcome settled but not told. Failures
// are logged and retried at the next sweep.
func (s *Service) Sweep(ctx context.Context) {
	if s.changer == nil {
		return
	}
	s.expire(ctx)
	rs, err := s.store.Lapsed(ctx, s.now())
	if err != nil {
		if ctx.Err() == nil {
			s.storeFail(ctx, "lapsed requests", err)
		}
		return
	}
	for _, r := range rs {
		var err error
		switch {
		case r.State == StateApproved || r.State == StateApplying:
			err = s.Reconcile(ctx, r)
		case r.State == StateReverting:
			err = s.revertInterrupted(ctx, r)
		case r.ReportDue:
			err = s.reportLate(ctx, r)
		}
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "taking over a lapsed request failed; will try again", "request", r.ID, "state", string(r.State), "err", err)
		}
	}
}

// expire closes every pending request past its deadline and tells its
// thread and its approvers. The store hands each expired request to exactly
// one caller.
func (s *Service) expire(ctx context.Context) {
	rs, err := s.store.ExpireRequests(ctx, s.now())
	if err != nil {
		if ctx.Err() == nil {
			s.storeFail(ctx, "expire requests", err)
		}
		return
	}
	for _, r := range rs {
		s.log.InfoContext(ctx, "request expired", "request", r.ID, "tenant", r.TenantID)
		s.closeCopies(ctx, r, Event{Kind: Expired})
		s.notify.Tell(ctx, r, Event{Kind: Expired})
	}
}

// Reconcile settles r, read in approved or applying with its lease lapsed
// (as Store.Lapsed returns it), as left by a process that died: it takes
// the lease, reads the policies, records which carry the planned exclusion
// (applied) and which do not (failed, for an approver to retry), and
// reports through the Notifier. Nothing is written to the tenant here:
// whether a PATCH landed is learnt from the policy itself. It does nothing
// when the request changed since r was read (another process settled it,
// and a retry may be applying it again) or its lease is held (its process
// is alive). When the policies cannot be read it returns the error and
// leaves the request to the next sweep, for an hour; then it settles what
// it could not check as failed.
func (s *Service) Reconcile(ctx context.Context, r Request) error {
	r, err := s.store.TakeLease(ctx, r.ID, r.Version, *s.until(), s.now())
	if errors.Is(err, ErrConflict) {
		return nil // changed, or another process took it
	}
	if err != nil {
		return err
	}
	l := s.hold(ctx, r)
	defer l.release()
	if r.State == StateApproved {
		r2, err := s.store.Transition(ctx, r.ID, Transition{From: StateApproved, To: StateApplying, At: s.now(), Version: r.Version,
			Holder: s.holder, Lease: s.until()})
		if errors.Is(err, ErrConflict) {
			return nil
		}
		if err != nil {
			l.letGo(ctx)
			return err
		}
		r = r2
		l.renewed(r.Lease.Until)
	}
	d, err := s.diag.Diagnose(ctx, r)
	unread := ""
	if err != nil {
		if s.now().Sub(r.UpdatedAt) < reconcileGiveUp {
			l.letGo(ctx) // for the next sweep, of any process
			return fmt.Errorf("read the policies: %w", err)
		}
		// Left applying it would stay so for ever, with no Retry button:
		// settle it as failed. Retry re-reads each policy before writing,
		// so what landed before the crash is not written again.
		unread = diagnose.ErrorMessage(err)
	}
	for i, p := range r.Plans {
		o := &r.Outcomes[i]
		if o.Done() {
			continue
		}
		if unread != "" {
			o.Status, o.Error = OutcomeFailed, "ca-check was interrupted and could not read the policy since to see whether it was changed"
			continue
		}
		idx, current := find(d, p.PolicyID)
		switch {
		case idx < 0:
			o.Status, o.Error = OutcomeFailed, "the policy no longer exists"
		case current.Equal(p.After):
			o.Status, o.Error = OutcomeApplied, ""
			o.Change = &diagnose.Change{PolicyID: p.PolicyID, DisplayName: p.DisplayName, Before: p.Before, After: current, Effect: d.Policies[idx].Effect}
		default:
			o.Status, o.Error = OutcomeFailed, "ca-check stopped before this policy was changed"
		}
	}
	final := StateApplied
	if r.Count(OutcomeFailed) > 0 {
		final = StateFailed
	}
	settled, err := s.store.Transition(ctx, r.ID, Transition{
		From: StateApplying, To: final, At: s.now(), Version: r.Version, Holder: s.holder, Lease: s.until(), ReportDue: true,
		Outcomes: r.Outcomes, Detail: detail(map[string]any{"reconciled": true, "unread": unread, "outcomes": r.Outcomes, reportDue: true}),
	})
	if errors.Is(err, ErrConflict) {
		return nil
	}
	if err != nil {
		l.letGo(ctx)
		return err
	}
	s.log.InfoContext(ctx, "request reconciled", "request", settled.ID, "tenant", settled.TenantID, "state", string(settled.State))
	s.notify.Tell(ctx, settled, Event{Kind: Reconciled, Unread: unread})
	s.report(ctx, settled, settled.DecidedBy)
	l.release()
	s.reported(ctx, settled)
	return nil
}

// revertInterrupted returns a request whose reverting process died to
// applied, so that Revert can be tried again (it finds what that process
// restored in place), and tells the thread.
func (s *Service) revertInterrupted(ctx context.Context, r Request) error {
	r, err := s.store.TakeLease(ctx, r.ID, r.Version, *s.until(), s.now())
	if errors.Is(err, ErrConflict) {
		return nil
	}
	if err != nil {
		return err
	}
	r, err = s.store.Transition(ctx, r.ID, Transition{From: StateReverting, To: StateApplied, At: s.now(), Version: r.Version, Holder: s.holder,
		Action: actionRevertInterrupted, Detail: detail(map[string]string{"why": "ca-check was interrupted while reverting"})})
	if errors.Is(err, ErrConflict) {
		return nil
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "interrupted revert", "request", r.ID, "tenant", r.TenantID)
	s.notify.Tell(ctx, r, Event{Kind: RevertInterrupted})
	return nil
}

// reportLate tells the outcome of a request that a dead process settled
// and did not tell, unless it was settled more than reportWindow ago: its
// thread has moved on.
func (s *Service) reportLate(ctx context.Context, r Request) error {
	r, err := s.store.TakeLease(ctx, r.ID, r.Version, *s.until(), s.now())
	if errors.Is(err, ErrConflict) {
		return nil
	}
	if err != nil {
		return err
	}
	if s.now().Sub(r.UpdatedAt) >= reportWindow {
		s.log.InfoContext(ctx, "outcome left untold: settled more than a day ago", "request", r.ID, "tenant", r.TenantID, "state", string(r.State))
		return s.store.Reported(ctx, r.ID, s.holder, nil)
	}
	l := s.hold(ctx, r)
	defer l.release()
	// Who settled it: who approved or retried it; who approved it when
	// ca-check did (a reconciliation).
	by := auditActor
	if recs, err := s.store.RequestAudit(ctx, r.ID); err == nil {
		for _, rec := range recs {
			if rec.From == StateApplying {
				by = rec.Actor
			}
		}
	} else {
		s.storeFail(ctx, "request audit", err)
	}
	if by == auditActor {
		by = r.DecidedBy
	}
	s.log.InfoContext(ctx, "late report", "request", r.ID, "tenant", r.TenantID, "state", string(r.State))
	s.notify.Tell(ctx, r, Event{Kind: ReportedLate})
	s.report(ctx, r, by)
	l.release()
	s.reported(ctx, r)
	return nil
}
