package approval

import (
	"context"
	"errors"
	"slices"

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
// went. The request is reverting meanwhile, under this service's lease:
// one revert at a time, and one interrupted by a crash returns to applied
// once its lease lapses. A policy a failed or interrupted attempt already
// restored is found so and not written again. Revert returns an error when
// nothing was tried: ErrBadID, ErrNotFound, *StateError (the request is not
// applied), *RefusedError, *WindowError, ErrReverting (another revert is
// running), or what went wrong.
func (s *Service) Revert(ctx context.Context, id string, who Actor) error {
	if s.changer == nil {
		return ErrNotConfigured
	}
	r, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if r.State != StateApplied && r.State != StateReverting {
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
	if until := appliedAt(r).Add(s.window); !s.now().Before(until) {
		return &WindowError{Until: until}
	}
	if r.State == StateReverting {
		return ErrReverting
	}
	// The swap to reverting is the attempt's claim, and its audit record
	// the intent (what it is about to change, before any write), in one
	// transaction.
	var intent []map[string]any
	for _, o := range r.Outcomes {
		if o.Status == OutcomeApplied && o.Change != nil {
			intent = append(intent, map[string]any{"policyId": o.PolicyID, "before": o.Change.Before, "wrote": o.Change.After})
		}
	}
	r, err = s.store.Transition(ctx, r.ID, Transition{From: StateApplied, To: StateReverting, By: who.ID, At: s.now(), Version: r.Version,
		Lease: s.until(), Detail: detail(map[string]any{"policies": intent})})
	if err != nil {
		err = s.lost(ctx, id, err)
		if st, ok := errors.AsType[*StateError](err); ok && st.Request.State == StateReverting {
			return ErrReverting
		}
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), applyTimeout)
	defer cancel()
	l := s.hold(ctx, r)
	defer l.release()
	for i := range r.Outcomes {
		o := &r.Outcomes[i]
		if o.Status != OutcomeApplied || o.Change == nil {
			continue
		}
		if !l.held() {
			return nil // taken for dead: the sweep returns it to applied
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
	l.release() // the transition below releases the lease
	if r.Count(OutcomeRevertFailed) == 0 {
		reverted, err := s.store.Transition(ctx, r.ID, Transition{From: StateReverting, To: StateReverted, By: who.ID, At: s.now(),
			Holder: s.holder, Outcomes: r.Outcomes, Detail: d})
		if err != nil {
			s.storeFail(ctx, "transition", err)
		} else {
			r = reverted
		}
		s.closeCopies(ctx, r, Event{Kind: Reverted, By: who.ID})
	} else if _, err := s.store.Transition(ctx, r.ID, Transition{From: StateReverting, To: StateApplied, By: who.ID, At: s.now(),
		Holder: s.holder, Action: actionRevertFailed, Detail: d}); err != nil {
		// Applied again, with the outcomes of the apply: the next attempt
		// tries every policy, and finds those restored here in place.
		s.storeFail(ctx, "transition", err)
	}
	s.notify.Tell(ctx, r, Event{Kind: Reverted, By: who.ID})
	return nil
}

// Audit actions of a revert besides the transitions to reverting and
// reverted.
const (
	actionRevertFailed      = "revert_failed"      // it ended with some policies not restored
	actionRevertInterrupted = "revert_interrupted" // its process died; the sweep returned it to applied
)
