package approval

import (
	"context"
	"errors"
	"slices"
	"unicode/utf8"
)

// Actor is who acts on a request, as the front end authenticated them (the
// Slack adapter: from Slack's signed payload, never from a button's value).
type Actor struct {
	ID string
	// Admin is a ca-check admin of the partner: they may revert a change,
	// not decide one.
	Admin bool
	// Email returns the actor's email address, for VerifyApprovers; it is
	// called only then, and only for an approver.
	Email func(ctx context.Context) (string, error)
}

// MaxReason is the most characters of a rejection reason kept: it stays in
// the audit log for good and is shown in the thread.
const MaxReason = 500

// authorise checks that who may decide r (action: approve, reject or
// retry): one of the tenant's approvers, not its requester, and with
// VerifyApprovers an active admin of the tenant by their email. A refusal
// is logged and audited.
func (s *Service) authorise(ctx context.Context, r Request, who Actor, action string) error {
	refuse := func(why Why, email string) error {
		s.log.WarnContext(ctx, "decision refused", "request", r.ID, "user", who.ID, "action", action, "why", string(why))
		s.audit(ctx, "audit refusal", AuditRecord{
			RequestID: r.ID, TenantID: r.TenantID, Actor: orBot(who.ID), Action: "refused", At: s.now(),
			Detail: detail(map[string]string{"action": action, "why": string(why)}),
		})
		return &RefusedError{Request: r, User: who.ID, Action: action, Why: why, Email: email}
	}
	if who.ID == "" {
		return refuse(WhyNoUser, "")
	}
	if who.ID == r.RequestedBy {
		return refuse(WhyRequester, "")
	}
	approvers, err := s.store.Approvers(ctx, r.TenantID)
	if err != nil {
		s.storeFail(ctx, "approvers", err)
		return err
	}
	if !slices.Contains(approvers, who.ID) {
		return refuse(WhyNotApprover, "")
	}
	if s.verify {
		email := ""
		if who.Email != nil {
			if email, err = who.Email(ctx); err != nil {
				return err
			}
		}
		if email == "" {
			return refuse(WhyNoEmail, "")
		}
		ok, err := s.changer.IsApprover(ctx, r.TenantID, email)
		if err != nil {
			return err
		}
		if !ok {
			return refuse(WhyNoAdminRole, email)
		}
	}
	return nil
}

// orBot is the audit actor for a user ID that may be empty.
func orBot(user string) string {
	if user == "" {
		return auditActor
	}
	return user
}

// pendingFor loads a request that who may decide (action: approve or
// reject) and that is still pending.
func (s *Service) pendingFor(ctx context.Context, id string, who Actor, action string) (Request, error) {
	if s.changer == nil {
		return Request{}, ErrNotConfigured
	}
	r, err := s.load(ctx, id)
	if err != nil {
		return r, err
	}
	if r.State != StatePending {
		return r, &StateError{Request: r}
	}
	if err := s.authorise(ctx, r, who, action); err != nil {
		return r, err
	}
	return r, nil
}

// MayReject checks that who may reject the request now, before the front
// end asks them why: it is pending and they may decide it. It returns the
// request, and Reject's errors.
func (s *Service) MayReject(ctx context.Context, id string, who Actor) (Request, error) {
	return s.pendingFor(ctx, id, who, "reject")
}

// Approve is an approver's Approve: it authorises who, moves the request
// pending → approved as a compare-and-swap (of many clicks exactly one
// wins), closes the approvers' copies and applies every plan. What the
// apply did is told through the Notifier; Approve returns an error only
// when nothing was applied: ErrBadID, ErrNotFound, *StateError (decided
// already, or just now by another click), ErrExpired, *RefusedError, or
// what went wrong.
func (s *Service) Approve(ctx context.Context, id string, who Actor) error {
	r, err := s.pendingFor(ctx, id, who, "approve")
	if err != nil {
		return err
	}
	// Approved under this service's lease, renewed until the outcome is
	// told: if this process dies, another reconciles the request.
	r, err = s.store.Transition(ctx, r.ID, Transition{From: StatePending, To: StateApproved, By: who.ID, At: s.now(), Lease: s.until()})
	if err != nil {
		return s.lost(ctx, id, err)
	}
	l := s.hold(ctx, r)
	s.log.InfoContext(ctx, "request approved", "request", r.ID, "tenant", r.TenantID, "by", who.ID)
	s.closeCopies(ctx, r, Event{Kind: Approved, By: who.ID})
	s.apply(ctx, r, StateApproved, who.ID, l)
	return nil
}

// lost turns a compare-and-swap's error into what the caller is told: the
// request as it now is when another caller moved it first.
func (s *Service) lost(ctx context.Context, id string, err error) error {
	switch {
	case errors.Is(err, ErrExpired):
		return err
	case errors.Is(err, ErrConflict):
		if r, rerr := s.store.Request(ctx, id); rerr == nil {
			return &StateError{Request: r}
		}
		return err
	}
	s.storeFail(ctx, "transition", err)
	return err
}

// Reject is an approver's Reject, with an optional reason (cut to
// MaxReason characters): it authorises who, moves the request pending →
// rejected as a compare-and-swap, and tells the approvers' copies and the
// thread. Its errors are Approve's.
func (s *Service) Reject(ctx context.Context, id string, who Actor, reason string) error {
	if utf8.RuneCountInString(reason) > MaxReason {
		reason = string([]rune(reason)[:MaxReason-1]) + "…"
	}
	r, err := s.pendingFor(ctx, id, who, "reject")
	if err != nil {
		return err
	}
	r, err = s.store.Transition(ctx, r.ID, Transition{From: StatePending, To: StateRejected, By: who.ID, At: s.now(),
		Detail: detail(map[string]string{"reason": reason})})
	if err != nil {
		return s.lost(ctx, id, err)
	}
	s.log.InfoContext(ctx, "request rejected", "request", r.ID, "tenant", r.TenantID, "by", who.ID)
	s.closeCopies(ctx, r, Event{Kind: Rejected, By: who.ID, Reason: reason})
	s.notify.Tell(ctx, r, Event{Kind: Rejected, By: who.ID, Reason: reason})
	return nil
}

// Retry is an approver's Retry after a partial failure: it applies the
// policies that failed, and only those. Its errors are Approve's; a
// *StateError also when another Retry won.
func (s *Service) Retry(ctx context.Context, id string, who Actor) error {
	if s.changer == nil {
		return ErrNotConfigured
	}
	r, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if r.State != StateFailed {
		return &StateError{Request: r}
	}
	if err := s.authorise(ctx, r, who, "retry"); err != nil {
		return err
	}
	if !s.apply(ctx, r, StateFailed, who.ID, nil) {
		return s.lost(ctx, id, ErrConflict)
	}
	return nil
}
