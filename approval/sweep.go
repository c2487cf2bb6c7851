package approval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cacheck/ca-check/diagnose"
)

// staleAfter is how long a request may sit in approved or applying before
// the sweep takes it for interrupted by a crash and reconciles it. Applying
// a few policies takes seconds; the margin keeps one replica from
// reconciling what another is still applying.
const staleAfter = 5 * time.Minute

// reconcileGiveUp is how long reconciliation keeps trying to read the
// policies of a request left applying before it settles the request as
// failed without them.
const reconcileGiveUp = time.Hour

// Sweep does the periodic work of every process sharing the store; run it
// every minute or so. It closes the requests past their expiry, reconciles
// those a dead process left approved or applying, and reports what a dead
// process settled but did not report. Failures are logged and retried at
// the next sweep.
func (s *Service) Sweep(ctx context.Context) {
	if s.changer == nil {
		return
	}
	s.expire(ctx)
	s.reconcile(ctx)
	s.reportLate(ctx)
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

// reconcile settles the requests that a dead process left approved or
// applying.
func (s *Service) reconcile(ctx context.Context) {
	rs, err := s.store.Requests(ctx, StateApproved, StateApplying)
	if err != nil {
		if ctx.Err() == nil {
			s.storeFail(ctx, "requests to reconcile", err)
		}
		return
	}
	for _, r := range rs {
		if s.applying.has(r.ID) || s.now().Sub(r.UpdatedAt) < staleAfter {
			continue
		}
		if err := s.Reconcile(ctx, r); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "reconcile failed; will try again", "request", r.ID, "err", err)
		}
	}
}

// Reconcile settles r, read in approved or applying, as left by a process
// that died: it reads the policies, records which carry the planned
// exclusion (applied) and which do not (failed, for an approver to retry),
// and reports through the Notifier. Nothing is written to the tenant here:
// whether a PATCH landed is learnt from the policy itself. It settles only
// the round of applying it read: when the request changed since (another
// process settled it, and a retry is applying it again), it does nothing.
// When the policies cannot be read it returns the error and leaves the
// request for a later try, for an hour; then it settles what it could not
// check as failed.
func (s *Service) Reconcile(ctx context.Context, r Request) error {
	if r.State == StateApproved {
		r2, err := s.store.Transition(ctx, r.ID, Transition{From: StateApproved, To: StateApplying, At: s.now(), Version: r.Version})
		if errors.Is(err, ErrConflict) {
			return nil // another process took it
		}
		if err != nil {
			return err
		}
		r = r2
	}
	d, err := s.diag.Diagnose(ctx, r)
	unread := ""
	if err != nil {
		if s.now().Sub(r.UpdatedAt) < reconcileGiveUp {
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
	// The version read: r may be stale, and the request since settled by
	// another process and retried, applying again in a round of its own.
	settled, err := s.store.Transition(ctx, r.ID, Transition{
		From: StateApplying, To: final, At: s.now(), Version: r.Version,
		Outcomes: r.Outcomes, Detail: detail(map[string]any{"reconciled": true, "unread": unread, "outcomes": r.Outcomes, reportDue: true}),
	})
	if errors.Is(err, ErrConflict) {
		return nil
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "request reconciled", "request", settled.ID, "tenant", settled.TenantID, "state", string(settled.State))
	s.notify.Tell(ctx, settled, Event{Kind: Reconciled, Unread: unread})
	s.report(ctx, settled, settled.DecidedBy)
	s.reported(ctx, settled)
	return nil
}

// unreported returns the settling record of a request whose report is due
// and was never made, or nil.
func unreported(recs []AuditRecord) *AuditRecord {
	var settled *AuditRecord
	for i := range recs {
		r := &recs[i]
		switch {
		case r.From == StateApplying:
			var d map[string]any
			settled = nil
			if json.Unmarshal(r.Detail, &d) == nil && d[reportDue] == true {
				settled = r
			}
		case r.Action == actionReported:
			settled = nil
		}
	}
	return settled
}

// reportLate reports the settled requests a dead process did not: those
// settled more than staleAfter and less than reportWindow ago, which the
// store finds by their last change (every process sweeps every minute, and
// settled requests are kept for ever). A claim per settling makes one
// process report each.
func (s *Service) reportLate(ctx context.Context) {
	now := s.now()
	rs, err := s.store.RequestsChanged(ctx, now.Add(-reportWindow), now.Add(-staleAfter),
		StateApplied, StateFailed, StateSuperseded)
	if err != nil {
		if ctx.Err() == nil {
			s.storeFail(ctx, "requests to report", err)
		}
		return
	}
	for _, r := range rs {
		recs, err := s.store.RequestAudit(ctx, r.ID)
		if err != nil {
			s.storeFail(ctx, "request audit", err)
			continue
		}
		settled := unreported(recs)
		if settled == nil {
			continue
		}
		first, err := s.store.Claim(ctx, fmt.Sprintf("report:%s:%d", r.ID, settled.ID), s.now())
		if err != nil {
			s.storeFail(ctx, "claim report", err)
			continue
		}
		if !first {
			continue
		}
		by := settled.Actor
		if by == auditActor {
			by = r.DecidedBy
		}
		s.log.InfoContext(ctx, "late report", "request", r.ID, "tenant", r.TenantID, "state", string(r.State))
		s.notify.Tell(ctx, r, Event{Kind: ReportedLate})
		s.report(ctx, r, by)
		s.reported(ctx, r)
	}
}

// syncSet is a set of request IDs safe for concurrent use.
type syncSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (s *syncSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[string]bool{}
	}
	s.ids[id] = true
}

func (s *syncSet) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
}

func (s *syncSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}
