package store

import (
	"context"
	"fmt"
	"time"
)

// AddApprover lets the Slack user approve requests for the tenant. Adding an
// approver twice is not an error; the first addition is kept.
func (s *Store) AddApprover(ctx context.Context, tenantID, slackUserID, addedBy string, now time.Time) error {
	if err := required("tenant ID", tenantID); err != nil {
		return err
	}
	if err := required("approver's Slack user ID", slackUserID); err != nil {
		return err
	}
	at, err := normTime(now, "time added", true)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.d.rebind(`
		INSERT INTO approvers (tenant_id, slack_user_id, added_by, added_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant_id, slack_user_id) DO NOTHING`),
		tenantID, slackUserID, addedBy, s.d.timeArg(at))
	if err != nil {
		return fmt.Errorf("store: add approver %s for tenant %s: %w", slackUserID, tenantID, err)
	}
	return nil
}

// RemoveApprover withdraws the user's approval right for the tenant;
// ErrNotFound if they had none.
func (s *Store) RemoveApprover(ctx context.Context, tenantID, slackUserID string) error {
	if err := required("tenant ID", tenantID); err != nil {
		return err
	}
	if err := required("approver's Slack user ID", slackUserID); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, s.d.rebind(`DELETE FROM approvers WHERE tenant_id = ? AND slack_user_id = ?`), tenantID, slackUserID)
	if err != nil {
		return fmt.Errorf("store: remove approver %s for tenant %s: %w", slackUserID, tenantID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: remove approver %s for tenant %s: %w", slackUserID, tenantID, err)
	}
	if n == 0 {
		return fmt.Errorf("%s is not an approver for tenant %s: %w", slackUserID, tenantID, ErrNotFound)
	}
	return nil
}

// Approvers returns the Slack user IDs that may approve requests for the
// tenant, sorted.
func (s *Store) Approvers(ctx context.Context, tenantID string) ([]string, error) {
	if err := required("tenant ID", tenantID); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, s.d.rebind(`SELECT slack_user_id FROM approvers WHERE tenant_id = ? ORDER BY slack_user_id`), tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: approvers for tenant %s: %w", tenantID, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: approvers for tenant %s: %w", tenantID, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: approvers for tenant %s: %w", tenantID, err)
	}
	return ids, nil
}
