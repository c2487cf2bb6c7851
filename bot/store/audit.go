package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cacheck/ca-check/approval"
)

// AppendAudit records an event that is not a transition (a DM sent, a
// fallback used). a.At defaults to now; a.ID is ignored.
func (s *Store) AppendAudit(ctx context.Context, a approval.AuditRecord) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.checkAuditRequest(ctx, tx, a.RequestID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a)
	})
}

// checkAuditRequest refuses an audit record about a request that does not
// exist, with a message the foreign key's error would not give.
func (s *Store) checkAuditRequest(ctx context.Context, tx *sql.Tx, requestID string) error {
	if requestID == "" {
		return nil
	}
	var one int
	err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT 1 FROM requests WHERE id = ?`), requestID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: audit record for request %q, which does not exist", ErrInvalid, requestID)
	}
	if err != nil {
		return fmt.Errorf("store: append audit: %w", err)
	}
	return nil
}

// appendAudit validates a and inserts it in tx.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, a approval.AuditRecord) error {
	if err := required("audit tenant ID", a.TenantID); err != nil {
		return err
	}
	if err := required("audit actor", a.Actor); err != nil {
		return err
	}
	if err := required("audit action", a.Action); err != nil {
		return err
	}
	for _, st := range []approval.State{a.From, a.To} {
		if st != "" && !st.Valid() {
			return fmt.Errorf("%w: unknown state %q in audit record", ErrInvalid, st)
		}
	}
	if err := checkJSON("audit detail", a.Detail); err != nil {
		return err
	}
	at, err := normTime(a.At, "audit time", true)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.d.rebind(`
		INSERT INTO audit_log (request_id, tenant_id, actor, action, from_state, to_state, occurred_at, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		nullString(a.RequestID), a.TenantID, a.Actor, a.Action, string(a.From), string(a.To), s.d.timeArg(at), nullBytes(a.Detail))
	if err != nil {
		return fmt.Errorf("store: append audit: %w", err)
	}
	return nil
}

// Audit returns up to limit of the tenant's audit records, newest first.
func (s *Store) Audit(ctx context.Context, tenantID string, limit int) ([]approval.AuditRecord, error) {
	if err := required("tenant ID", tenantID); err != nil {
		return nil, err
	}
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, s.d.rebind(`
		SELECT id, request_id, tenant_id, actor, action, from_state, to_state, occurred_at, detail
		FROM audit_log WHERE tenant_id = ? ORDER BY occurred_at DESC, id DESC LIMIT ?`), tenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit for tenant %s: %w", tenantID, err)
	}
	defer rows.Close()
	var as []approval.AuditRecord
	for rows.Next() {
		a, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("store: audit for tenant %s: %w", tenantID, err)
		}
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: audit for tenant %s: %w", tenantID, err)
	}
	return as, nil
}

// RequestAudit returns the audit records of one request, oldest first: its
// history, and the messages sent about it (the approvers' DMs, to update
// when it is decided).
func (s *Store) RequestAudit(ctx context.Context, requestID string) ([]approval.AuditRecord, error) {
	if err := required("request ID", requestID); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, s.d.rebind(`
		SELECT id, request_id, tenant_id, actor, action, from_state, to_state, occurred_at, detail
		FROM audit_log WHERE request_id = ? ORDER BY id`), requestID)
	if err != nil {
		return nil, fmt.Errorf("store: audit for request %s: %w", requestID, err)
	}
	defer rows.Close()
	var as []approval.AuditRecord
	for rows.Next() {
		a, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("store: audit for request %s: %w", requestID, err)
		}
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: audit for request %s: %w", requestID, err)
	}
	return as, nil
}

func scanAudit(row interface{ Scan(...any) error }) (approval.AuditRecord, error) {
	var (
		a         approval.AuditRecord
		requestID sql.NullString
		from, to  string
	)
	err := row.Scan(&a.ID, &requestID, &a.TenantID, &a.Actor, &a.Action, &from, &to, timeScanner{&a.At}, &a.Detail)
	a.RequestID, a.From, a.To = requestID.String, approval.State(from), approval.State(to)
	return a, err
}
