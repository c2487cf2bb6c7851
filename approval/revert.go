package approval

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cacheck/ca-check/diagnose"
)

// mayRevert checks that who may revert r: its requester, one of the
// tenant's approvers, or a ca-check admin. Reverting restores what the
// customer had, so it needs less than approving.
func (s *Service) mayRevert(ctx context.Context, r Request, who Actor) (bool, error) {
	if who.ID == "" {
		return false, nil
	}
	if who.ID == r.RequestedBy || who.Admin {
		return true, nil
	}
	approvers, err := s.store.Approvers(ctx, r.TenantID)
	if err != nil {
		s.storeFail(ctx, "approvers", err)
		return false, err
	}
	return slices.Contains(approvers, who.ID), nil
}

// Revert restores the before-image of every policy the request changed,
// within the revert window, and only where the exclusion is still the one
// ca-check wrote (the Changer refuses otherwise); the thread is told how it
// went. It returns an error when nothing was tried: ErrBadID, ErrNotFound,
// *StateError (the request is not applied), *RefusedError, *WindowError,
// ErrReverting (another revert is running), or what went wrong.
func (s *Service) Revert(ctx context.Context, id string, who Actor) error {
	if s.changer == nil {
		return ErrNotConfigured
	}
	r, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if r.State != StateApplied {
		return &StateError{Request: r}
	}
	switch ok, err := s.mayRevert(ctx, r, who); {
	case err != nil:
		return err
	case !ok:
		s.audit(ctx, "audit refusal", AuditRecord{RequestID: r.ID, TenantID: r.TenantID, Actor: orBot(who.ID), Action: "refused", At: s.now(),
			Detail: detail(map[string]string{"action": "revert", "why": string(WhyNotReverter)})})
		return &RefusedError{Request: r, User: who.ID, Action: "revert", Why: WhyNotReverter}
	}
	if until := r.UpdatedAt.Add(s.window); !s.now().Before(until) {
		return &WindowError{Until: until}
	}
	// One revert attempt at a time: concurrent clicks would otherwise each
	// read ca-check's write and each PATCH. An attempt that failed, or
	// whose process died (its "reverting" record is older than an apply
	// can take), does not block the next: Revert finds what it already
	// restored in place and writes only the rest.
	recs, err := s.store.RequestAudit(ctx, r.ID)
	if err != nil {
		s.storeFail(ctx, "request audit", err)
		return err
	}
	attempt, running := revertAttempts(recs, s.now())
	first := false
	if !running {
		// The attempt's claim and its record of intent (what it is about
		// to change, before any write) are one transaction: a claim
		// without its record would hold the change with nothing to show
		// it was taken, and nothing that ever ages. A claim without a
		// record from an older ca-check is taken over once as old as a
		// dead attempt.
		var intent []map[string]any
		for _, o := range r.Outcomes {
			if o.Status == OutcomeApplied && o.Change != nil {
				intent = append(intent, map[string]any{"policyId": o.PolicyID, "before": o.Change.Before, "wrote": o.Change.After})
			}
		}
		first, err = s.store.ClaimAudited(ctx, fmt.Sprintf("revert:%s:%d", r.ID, attempt), s.now().Add(-staleAfter),
			AuditRecord{RequestID: r.ID, TenantID: r.TenantID, Actor: who.ID, Action: actionReverting, At: s.now(),
				Detail: detail(map[string]any{"policies": intent})})
		if err != nil {
			s.storeFail(ctx, "claim revert", err)
			return err
		}
	}
	if !first {
		return ErrReverting
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), applyTimeout)
	defer cancel()
	for i := range r.Outcomes {
		o := &r.Outcomes[i]
		if o.Status != OutcomeApplied || o.Change == nil {
			continue
		}
		ch, err := s.changer.Revert(ctx, r.TenantID, o.PolicyID, o.Change.Before, o.Change.After)
		if err != nil {
			o.Status, o.Error = OutcomeRevertFailed, diagnose.ErrorMessage(err)
		} else {
			o.Status, o.Reverted, o.Error = OutcomeReverted, &ch, ""
		}
		s.log.InfoContext(ctx, "policy revert", "request", r.ID, "tenant", r.TenantID, "policy", o.PolicyID, "outcome", string(o.Status))
	}
	d := detail(map[string]any{"outcomes": r.Outcomes})
	if r.Count(OutcomeRevertFailed) == 0 {
		reverted, err := s.store.Transition(ctx, r.ID, Transition{From: StateApplied, To: StateReverted, By: who.ID, At: s.now(),
			Outcomes: r.Outcomes, Detail: d})
		if err != nil {
			s.storeFail(ctx, "transition", err)
		} else {
			r = reverted
		}
		s.closeCopies(ctx, r, Event{Kind: Reverted, By: who.ID})
	} else {
		s.audit(ctx, "audit revert", AuditRecord{RequestID: r.ID, TenantID: r.TenantID, Actor: who.ID, Action: actionRevertFailed, At: s.now(), Detail: d})
	}
	s.notify.Tell(ctx, r, Event{Kind: Reverted, By: who.ID})
	return nil
}

// Audit actions of a revert attempt besides the transition to reverted.
const (
	actionReverting    = "reverting"     // an attempt starts: the policies it will restore
	actionRevertFailed = "revert_failed" // it ended with some policies not restored
)

// revertAttempts counts the revert attempts recorded in a request's audit
// and reports whether the last one may still be running: it has not ended
// (reverted, revert_failed) and is younger than staleAfter, past which its
// process is taken for dead, as for an interrupted apply.
func revertAttempts(recs []AuditRecord, now time.Time) (n int, running bool) {
	var last *AuditRecord
	for i := range recs {
		switch recs[i].Action {
		case actionReverting:
			n++
			last = &recs[i]
		case string(StateReverted), actionRevertFailed:
			last = nil
		}
	}
	return n, last != nil && now.Sub(last.At) < staleAfter
}
