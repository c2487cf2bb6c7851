package approval

import (
	"context"
	"errors"
)

// Approvers returns who may decide the tenant's requests, sorted.
func (s *Service) Approvers(ctx context.Context, tenantID string) ([]string, error) {
	ids, err := s.store.Approvers(ctx, tenantID)
	if err != nil {
		s.storeFail(ctx, "approvers", err)
	}
	return ids, err
}

// AddApprover lets user decide the tenant's requests, with an audit
// record naming by. Who may manage approvers is the front end's to check
// (the partner's ca-check admins), as is that user is a person who can
// click.
func (s *Service) AddApprover(ctx context.Context, tenantID, user, by string) error {
	if err := s.store.AddApprover(ctx, tenantID, user, by, s.now()); err != nil {
		s.storeFail(ctx, "approvers", err)
		return err
	}
	s.approverChanged(ctx, tenantID, user, by, "add")
	return nil
}

// RemoveApprover withdraws user's right to decide the tenant's requests,
// with an audit record naming by; ErrNotFound when they had none.
func (s *Service) RemoveApprover(ctx context.Context, tenantID, user, by string) error {
	if err := s.store.RemoveApprover(ctx, tenantID, user); err != nil {
		if !errors.Is(err, ErrNotFound) {
			s.storeFail(ctx, "approvers", err)
		}
		return err
	}
	s.approverChanged(ctx, tenantID, user, by, "remove")
	return nil
}

func (s *Service) approverChanged(ctx context.Context, tenantID, user, by, verb string) {
	s.audit(ctx, "audit approver", AuditRecord{TenantID: tenantID, Actor: by, Action: "approver_" + verb, At: s.now(),
		Detail: detail(map[string]string{"approver": user})})
	s.log.InfoContext(ctx, "approvers changed", "tenant", tenantID, "verb", verb, "approver", user, "by", by)
}

// Audit returns up to limit of the tenant's audit records, newest first.
// Who may read them is the front end's to check (the partner's ca-check
// admins and the tenant's approvers).
func (s *Service) Audit(ctx context.Context, tenantID string, limit int) ([]AuditRecord, error) {
	recs, err := s.store.Audit(ctx, tenantID, limit)
	if err != nil {
		s.storeFail(ctx, "audit", err)
	}
	return recs, err
}
