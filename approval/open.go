package approval

import (
	"context"
	"errors"
	"slices"
)

// Open asks the tenant's approvers to approve draft.Plans: it stores a new
// pending request (its ID, state, times and outcomes are set here; the
// rest comes from draft), sends it to every approver but the requester,
// and tells the thread who it waits for. It returns the request, or:
// *PendingError when draft's diagnosis already has a request waiting,
// ErrJustRequested when another caller opened one a moment ago,
// *NoApproversError, ErrNotConfigured, or what went wrong.
func (s *Service) Open(ctx context.Context, draft Request) (Request, error) {
	if s.changer == nil {
		return Request{}, ErrNotConfigured
	}
	if draft.DiagnosisID > 0 {
		// A second click on the same answer points at the open request
		// rather than asking the approvers twice. Requests past their
		// expiry are closed first (as the sweep would), so that they
		// neither block a new one nor stay pending beside it.
		s.expire(ctx)
		open, err := s.store.PendingFor(ctx, draft.TenantID)
		if err != nil {
			s.storeFail(ctx, "pending requests", err)
			return Request{}, err
		}
		for _, r := range open {
			if r.DiagnosisID == draft.DiagnosisID && r.ExpiresAt.After(s.now()) {
				return Request{}, &PendingError{Request: r}
			}
		}
	}
	approvers, err := s.store.Approvers(ctx, draft.TenantID)
	if err != nil {
		s.storeFail(ctx, "approvers", err)
		return Request{}, err
	}
	others := slices.DeleteFunc(slices.Clone(approvers), func(u string) bool { return u == draft.RequestedBy })
	if len(others) == 0 {
		return Request{}, &NoApproversError{TenantID: draft.TenantID, OnlyRequester: len(approvers) > 0}
	}
	r := draft
	if r.ID, err = NewID(); err != nil {
		return Request{}, err
	}
	now := s.now()
	r.State, r.Outcomes, r.DecidedBy, r.Version = StatePending, NewOutcomes(r.Plans), "", 0
	r.CreatedAt, r.ExpiresAt, r.UpdatedAt = now, now.Add(s.ttl), now
	switch err := s.store.CreateRequest(ctx, r); {
	case errors.Is(err, ErrConflict):
		// Another click (or replica) asked first: the store keeps one
		// pending request per diagnosis.
		return Request{}, ErrJustRequested
	case err != nil:
		s.storeFail(ctx, "create request", err)
		return Request{}, err
	}
	r.Version = 1
	s.log.InfoContext(ctx, "approval requested", "request", r.ID, "tenant", r.TenantID, "by", r.RequestedBy, "policies", len(r.Plans), "approvers", len(others))

	reached := make([]Notice, 0, len(others))
	for _, u := range others {
		reached = append(reached, s.ask(ctx, r, u))
	}
	s.notify.Tell(ctx, r, Event{Kind: Requested, Notices: reached})
	return r, nil
}

// ask sends the request to one approver and records how it reached them.
func (s *Service) ask(ctx context.Context, r Request, user string) Notice {
	n := s.notify.Ask(ctx, r, user)
	s.audit(ctx, "audit notice", AuditRecord{
		RequestID: r.ID, TenantID: r.TenantID, Actor: auditActor, Action: "notified", At: s.now(), Detail: detail(n),
	})
	// Another approver may have decided while this copy was on its way,
	// after the copies were closed: close this one too.
	if n.Via == ViaDirect && n.TS != "" {
		if now, err := s.store.Request(ctx, r.ID); err == nil && now.State != StatePending {
			s.notify.Close(ctx, now, []Notice{n}, Event{Kind: Shown})
		}
	}
	return n
}
