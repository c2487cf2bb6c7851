package approval

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/cacheck/ca-check/diagnose"
)

// applyTimeout bounds one apply or revert: a few policies, each a read, a
// PATCH and a read-back, with the Graph client's own retries.
const applyTimeout = 2 * time.Minute

// apply moves the request from (approved, or failed for a retry) to
// applying as a compare-and-swap, so exactly one caller writes; then it
// applies every policy not done yet, records the outcomes with the final
// state, and reports through the Notifier. l is the service's lease on
// the approved request (nil from failed, which has none: the swap takes
// it). It reports false when another caller won the swap.
func (s *Service) apply(ctx context.Context, r Request, from State, by string, l *lease) bool {
	// Once the first write may have started, finish and record it even if
	// the caller's context ends (shutdown): an interrupted apply is left to
	// reconciliation, a finished one should not be.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), applyTimeout)
	defer cancel()
	t := Transition{From: from, To: StateApplying, By: by, At: s.now(), Lease: s.until()}
	if l != nil {
		t.Holder = s.holder
	}
	r2, err := s.store.Transition(ctx, r.ID, t)
	switch {
	case errors.Is(err, ErrConflict):
		if l != nil {
			l.release()
		}
		return false // another click or process is applying it
	case err != nil:
		s.storeFail(ctx, "transition", err)
		s.notify.Tell(ctx, r, Event{Kind: Failed, Err: err})
		if l != nil {
			l.letGo(ctx) // approved: the sweep takes it over
		}
		return true
	}
	if l == nil {
		l = s.hold(ctx, r2)
	} else {
		l.renewed(r2.Lease.Until)
	}
	defer l.release()
	// The outcomes as of the swap, not as read before it: a retry that
	// raced with another must not redo what that one applied.
	r = r2

	var changed, retried []string
	for i, p := range r.Plans {
		o := &r.Outcomes[i]
		if o.Done() {
			continue // a retry writes only what failed
		}
		if !l.held() {
			// Taken for dead (stalled longer than the lease): whoever
			// took the request over reconciles it from the policies.
			return true
		}
		if o.Status == OutcomeFailed {
			// A failed write may have landed all the same (Graph applied
			// the PATCH but its answer or the read-back was lost): then
			// the retry finds the policy "changed", by ca-check itself.
			retried = append(retried, o.PolicyID)
		}
		ch, err := s.changer.Apply(ctx, r.TenantID, p)
		switch {
		case err == nil:
			o.Status, o.Change, o.Error = OutcomeApplied, &ch, ""
			if ch.NoChange {
				o.Status = OutcomeUnchanged
			}
		case diagnose.ErrorCode(err) == diagnose.ECONFLICT:
			o.Status, o.Error = OutcomeChanged, diagnose.ErrorMessage(err)
			changed = append(changed, o.PolicyID)
		default:
			o.Status, o.Error = OutcomeFailed, diagnose.ErrorMessage(err)
			if ch.PolicyID != "" {
				o.Change = &ch // a PATCH sent but not read back still has its request-id
			}
		}
		s.log.InfoContext(ctx, "policy write", "request", r.ID, "tenant", r.TenantID, "policy", p.PolicyID, "outcome", string(o.Status))
	}

	var fresh []diagnose.Plan
	if len(changed) > 0 {
		fresh = s.replan(ctx, &r, changed, retried)
	}

	final := StateApplied
	switch {
	case r.Count(OutcomeFailed) > 0:
		final = StateFailed
	case r.Count(OutcomeApplied, OutcomeUnchanged) == 0:
		final = StateSuperseded
	}
	// Only this round of applying: if the sweep took it for interrupted
	// and a retry started another, that one settles its own.
	// The lease stays until the outcome is told.
	settled, err := s.store.Transition(ctx, r.ID, Transition{
		From: StateApplying, To: final, By: by, At: s.now(), Version: r.Version, Holder: s.holder,
		Lease: s.until(), ReportDue: true,
		Outcomes: r.Outcomes, Detail: detail(map[string]any{"outcomes": r.Outcomes, reportDue: true}),
	})
	if err != nil {
		// The writes happened; the sweep reconciles the request from the
		// policies themselves, at once.
		if !errors.Is(err, ErrConflict) {
			s.storeFail(ctx, "transition", err)
			l.letGo(ctx)
		}
		return true
	}
	s.report(ctx, settled, by)
	l.release()
	s.reported(ctx, settled)
	if len(fresh) > 0 {
		next, err := s.Open(ctx, Request{
			TenantID: r.TenantID, TenantName: r.TenantName, DiagnosisID: r.DiagnosisID, RequestedBy: r.RequestedBy,
			ChannelID: r.ChannelID, ThreadTS: r.ThreadTS, Reason: r.Reason, Plans: fresh,
		})
		switch {
		case err == nil:
			s.audit(ctx, "audit replan", AuditRecord{
				RequestID: r.ID, TenantID: r.TenantID, Actor: auditActor, Action: "replanned", At: s.now(),
				Detail: detail(map[string]any{"newRequest": next.ID, "policies": changed}),
			})
		default:
			s.notify.Tell(ctx, r, Event{Kind: Failed, Err: err})
		}
	}
	return true
}

// replan diagnoses the tenant again for the policies that changed since the
// plan and returns fresh plans for those still blocking; the others'
// outcomes say why nothing more is needed. A policy in retried (its write
// failed before) that now carries exactly the planned exclusion is
// ca-check's own write that landed: it is applied, and revertible as such.
func (s *Service) replan(ctx context.Context, r *Request, ids, retried []string) []diagnose.Plan {
	d, err := s.diag.Diagnose(ctx, *r)
	if err != nil {
		for i := range r.Outcomes {
			if slices.Contains(ids, r.Outcomes[i].PolicyID) {
				r.Outcomes[i].Note = "I could not re-plan it: " + diagnose.ErrorMessage(err)
			}
		}
		return nil
	}
	var plans []diagnose.Plan
	for i := range r.Outcomes {
		o := &r.Outcomes[i]
		if !slices.Contains(ids, o.PolicyID) {
			continue
		}
		idx, current := find(d, o.PolicyID)
		switch p := r.Plans[i]; {
		case idx >= 0 && slices.Contains(retried, o.PolicyID) && current.Equal(p.After):
			o.Status, o.Error, o.Note = OutcomeApplied, "", ""
			o.Change = &diagnose.Change{PolicyID: p.PolicyID, DisplayName: p.DisplayName, Before: p.Before, After: current,
				Effect: d.Policies[idx].Effect, RequestIDs: requestIDsOf(o.Change)}
		case idx < 0:
			o.Note = "it no longer exists"
		case d.Policies[idx].Plan == nil || d.Policies[idx].Plan.NoChange:
			o.Note = "it no longer blocks the partner's service provider users, so nothing more is needed"
		default:
			plans = append(plans, *d.Policies[idx].Plan)
			o.Replanned = true
		}
	}
	return plans
}

// find returns the index of the policy in d (-1 when it is gone) and its
// exclusion as read.
func find(d *diagnose.Diagnosis, policyID string) (int, *diagnose.GuestsOrExternalUsers) {
	idx := slices.IndexFunc(d.Policies, func(pr diagnose.PolicyResult) bool { return strings.EqualFold(pr.ID, policyID) })
	if idx >= 0 && d.Policies[idx].Policy != nil && d.Policies[idx].Policy.Conditions.Users != nil {
		return idx, d.Policies[idx].Policy.Conditions.Users.ExcludeGuestsOrExternalUsers
	}
	return idx, nil
}

// requestIDsOf keeps the Graph request IDs of an earlier attempt's write.
func requestIDsOf(ch *diagnose.Change) []string {
	if ch == nil {
		return nil
	}
	return ch.RequestIDs
}

// report tells the thread and the approvers' copies how the apply went.
func (s *Service) report(ctx context.Context, r Request, by string) {
	e := Event{Kind: Settled, By: by}
	if r.Count(OutcomeApplied) > 0 {
		e.RevertUntil = appliedAt(r).Add(s.window)
	}
	s.notify.Tell(ctx, r, e)
	s.closeCopies(ctx, r, e)
}

// appliedAt is where the revert window of an applied request starts.
func appliedAt(r Request) time.Time {
	if r.AppliedAt.IsZero() {
		return r.UpdatedAt
	}
	return r.AppliedAt
}

// A settled apply is reported in two steps a crash can separate: the
// settling transition, which leaves the report due (and says so in its
// audit detail, reportDue) under the settler's lease, and the report, then
// Reported with its audit record "reported". Once the lease lapses, the
// sweep tells what a dead process settled and did not, for up to
// reportWindow after the settling.
const (
	reportDue      = "reportDue"
	actionReported = "reported"
	reportWindow   = 24 * time.Hour
)

// reported records that the request's outcome was told, and releases its
// lease.
func (s *Service) reported(ctx context.Context, r Request) {
	rec := AuditRecord{RequestID: r.ID, TenantID: r.TenantID, Actor: auditActor, Action: actionReported, At: s.now()}
	if err := s.store.Reported(ctx, r.ID, s.holder, &rec); err != nil {
		if errors.Is(err, ErrConflict) {
			// Taken over meanwhile: the other process tells it too.
			s.log.WarnContext(ctx, "lease lost before the report was recorded", "request", r.ID, "holder", s.holder)
			return
		}
		s.storeFail(ctx, "audit report", err)
	}
}
