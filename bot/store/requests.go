package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cacheck/ca-check/approval"
)

// CreateRequest stores a new request, in state pending, with its audit record
// "requested". r.ID must come from approval.NewID; r.CreatedAt defaults to
// now and r.ExpiresAt must follow it; r.Outcomes, when given, has one
// outcome per plan (none means every plan pending). UpdatedAt, DecidedBy
// and Version are set here. A second pending request for the same
// diagnosis is refused with ErrConflict.
func (s *Store) CreateRequest(ctx context.Context, r approval.Request) error {
	if !approval.ValidID(r.ID) {
		return fmt.Errorf("%w: request ID %q is not 32 lowercase hex digits (use approval.NewID)", ErrInvalid, r.ID)
	}
	if r.State != approval.StatePending {
		return fmt.Errorf("%w: a new request must be %s, not %q", ErrInvalid, approval.StatePending, r.State)
	}
	if err := required("tenant ID", r.TenantID); err != nil {
		return err
	}
	if err := required("requester", r.RequestedBy); err != nil {
		return err
	}
	if len(r.Plans) == 0 {
		return fmt.Errorf("%w: request %s has no plans", ErrInvalid, r.ID)
	}
	if r.Outcomes == nil {
		r.Outcomes = approval.NewOutcomes(r.Plans)
	}
	if len(r.Outcomes) != len(r.Plans) {
		return fmt.Errorf("%w: request %s has %d outcomes for %d plans", ErrInvalid, r.ID, len(r.Outcomes), len(r.Plans))
	}
	plans, err := json.Marshal(r.Plans)
	if err != nil {
		return fmt.Errorf("%w: plans of request %s: %v", ErrInvalid, r.ID, err)
	}
	result, err := encodeOutcomes(r.Outcomes)
	if err != nil {
		return err
	}
	if r.DecidedBy != "" {
		return fmt.Errorf("%w: a new request cannot be decided already (DecidedBy %q)", ErrInvalid, r.DecidedBy)
	}
	if r.DiagnosisID < 0 {
		return fmt.Errorf("%w: diagnosis ID %d is negative", ErrInvalid, r.DiagnosisID)
	}
	created, err := normTime(r.CreatedAt, "CreatedAt", true)
	if err != nil {
		return err
	}
	expires, err := normTime(r.ExpiresAt, "ExpiresAt", false)
	if err != nil {
		return err
	}
	if !expires.After(created) {
		return fmt.Errorf("%w: ExpiresAt %v is not after CreatedAt %v", ErrInvalid, expires, created)
	}
	var diagnosisID any
	if r.DiagnosisID > 0 {
		diagnosisID = r.DiagnosisID
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if r.DiagnosisID > 0 {
			// Checked here rather than left to the foreign key, for a message
			// that says what is wrong in either dialect.
			var one int
			err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT 1 FROM diagnoses WHERE id = ?`), r.DiagnosisID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: request %s points at diagnosis %d, which does not exist", ErrInvalid, r.ID, r.DiagnosisID)
			}
			if err != nil {
				return fmt.Errorf("store: create request %s: %w", r.ID, err)
			}
		}
		res, err := tx.ExecContext(ctx, s.d.rebind(`
			INSERT INTO requests (id, tenant_id, tenant_name, diagnosis_id, requested_by, channel_id, thread_ts,
				state, plans, result, reason, created_at, expires_at, updated_at, decided_by, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', 1)
			ON CONFLICT (id) DO NOTHING`),
			r.ID, r.TenantID, r.TenantName, diagnosisID, r.RequestedBy, r.ChannelID, r.ThreadTS,
			string(approval.StatePending), plans, nullBytes(result), r.Reason,
			s.d.timeArg(created), s.d.timeArg(expires), s.d.timeArg(created))
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: diagnosis %d already has a pending request", ErrConflict, r.DiagnosisID)
		}
		if err != nil {
			return fmt.Errorf("store: create request %s: %w", r.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: create request %s: %w", r.ID, err)
		} else if n == 0 {
			return fmt.Errorf("%w: request %s already exists", ErrConflict, r.ID)
		}
		return s.appendAudit(ctx, tx, approval.AuditRecord{
			RequestID: r.ID, TenantID: r.TenantID, Actor: r.RequestedBy, Action: "requested",
			To: approval.StatePending, At: created,
		})
	})
}

const requestColumns = `id, tenant_id, tenant_name, diagnosis_id, requested_by, channel_id, thread_ts,
	state, plans, result, reason, created_at, expires_at, updated_at, decided_by, version,
	applied_at, lease_holder, lease_until, report_due`

func scanRequest(row interface{ Scan(...any) error }) (approval.Request, error) {
	var (
		r             approval.Request
		diagnosisID   sql.NullInt64
		state         string
		plans, result []byte
	)
	err := row.Scan(&r.ID, &r.TenantID, &r.TenantName, &diagnosisID, &r.RequestedBy, &r.ChannelID, &r.ThreadTS,
		&state, &plans, &result, &r.Reason,
		timeScanner{&r.CreatedAt}, timeScanner{&r.ExpiresAt}, timeScanner{&r.UpdatedAt}, &r.DecidedBy, &r.Version,
		timeScanner{&r.AppliedAt}, &r.Lease.Holder, timeScanner{&r.Lease.Until}, &r.ReportDue)
	if err != nil {
		return r, err
	}
	r.DiagnosisID = diagnosisID.Int64
	r.State = approval.State(state)
	if err := json.Unmarshal(plans, &r.Plans); err != nil {
		return r, fmt.Errorf("plans of request %s: %w", r.ID, err)
	}
	if len(result) > 0 {
		if err := json.Unmarshal(result, &r.Outcomes); err != nil {
			return r, fmt.Errorf("outcomes of request %s: %w", r.ID, err)
		}
	}
	// A request stored without outcomes (or by a ca-check that wrote
	// another shape) has tried nothing yet.
	if len(r.Outcomes) != len(r.Plans) {
		r.Outcomes = approval.NewOutcomes(r.Plans)
	}
	return r, nil
}

// encodeOutcomes is the JSON kept in the result column.
func encodeOutcomes(os []approval.Outcome) ([]byte, error) {
	raw, err := json.Marshal(os)
	if err != nil {
		return nil, fmt.Errorf("%w: outcomes: %v", ErrInvalid, err)
	}
	return raw, nil
}

func (s *Store) queryRequests(ctx context.Context, q querier, query string, args ...any) ([]approval.Request, error) {
	rows, err := q.QueryContext(ctx, s.d.rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rs []approval.Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Request returns the request with the given ID; ErrNotFound if none.
func (s *Store) Request(ctx context.Context, id string) (approval.Request, error) {
	if err := required("request ID", id); err != nil {
		return approval.Request{}, err
	}
	r, err := scanRequest(s.rdb.QueryRowContext(ctx, s.d.rebind(`SELECT `+requestColumns+` FROM requests WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return approval.Request{}, fmt.Errorf("request %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return approval.Request{}, fmt.Errorf("store: request %s: %w", id, err)
	}
	return r, nil
}

// Transition moves request id from t.From to t.To, as a compare-and-swap: it
// succeeds only if the request is still in t.From (and at t.Version, when
// given), so of several callers racing for the same move exactly one wins,
// and the others get ErrConflict (re-read the request to see what
// happened). It returns ErrNotFound when no
// such request exists, ErrIllegalTransition when the state machine has no
// t.From → t.To (a bug, not a race), and ErrExpired when approving a request
// at or after its ExpiresAt.
//
// With t.Holder it also requires that holder to have the request's lease,
// and returns ErrConflict when another process took it over.
//
// In the same transaction it bumps Version, sets UpdatedAt to t.At (and
// AppliedAt, on applying → applied), records t.By as DecidedBy on a
// decision (a move out of pending), replaces Outcomes and Reason when
// given, sets the lease to t.Lease (releases it without one) and ReportDue
// to t.ReportDue, and appends the audit record (action t.Action or t.To,
// actor t.By or "ca-check"). A lease is required into a working state and
// with ReportDue, and refused otherwise. It returns the request as it now
// is.
func (s *Store) Transition(ctx context.Context, id string, t approval.Transition) (approval.Request, error) {
	if err := required("request ID", id); err != nil {
		return approval.Request{}, err
	}
	for _, st := range []approval.State{t.From, t.To} {
		if !st.Valid() {
			return approval.Request{}, fmt.Errorf("%w: unknown state %q", ErrInvalid, st)
		}
	}
	if !approval.Allowed(t.From, t.To) {
		return approval.Request{}, fmt.Errorf("%w: %s → %s", ErrIllegalTransition, t.From, t.To)
	}
	if t.Version < 0 {
		return approval.Request{}, fmt.Errorf("%w: version %d is negative", ErrInvalid, t.Version)
	}
	leased := t.To.Working() || t.ReportDue
	switch {
	case leased && (t.Lease == nil || strings.TrimSpace(t.Lease.Holder) == "" || t.Lease.Until.IsZero()):
		return approval.Request{}, fmt.Errorf("%w: %s → %s needs a lease with its holder and expiry", ErrInvalid, t.From, t.To)
	case !leased && t.Lease != nil:
		return approval.Request{}, fmt.Errorf("%w: a request %s with no report due holds no lease", ErrInvalid, t.To)
	}
	var result []byte
	if t.Outcomes != nil {
		var err error
		if result, err = encodeOutcomes(t.Outcomes); err != nil {
			return approval.Request{}, err
		}
	}
	if err := checkJSON("audit detail", t.Detail); err != nil {
		return approval.Request{}, err
	}
	at, err := normTime(t.At, "transition time", true)
	if err != nil {
		return approval.Request{}, err
	}

	set := []string{"state = ?", "version = version + 1", "updated_at = ?", "lease_holder = ?", "lease_until = ?", "report_due = ?"}
	args := []any{string(t.To), s.d.timeArg(at), "", nil, t.ReportDue}
	if t.Lease != nil {
		until, err := normTime(t.Lease.Until, "lease expiry", false)
		if err != nil {
			return approval.Request{}, err
		}
		args[2], args[3] = t.Lease.Holder, s.d.timeArg(until)
	}
	if t.From == approval.StateApplying && t.To == approval.StateApplied {
		set = append(set, "applied_at = ?")
		args = append(args, s.d.timeArg(at))
	}
	if t.From == approval.StatePending && t.By != "" {
		set = append(set, "decided_by = ?")
		args = append(args, t.By)
	}
	if result != nil {
		set = append(set, "result = ?")
		args = append(args, result)
	}
	if t.Reason != "" {
		set = append(set, "reason = ?")
		args = append(args, t.Reason)
	}
	where := "id = ? AND state = ?"
	args = append(args, id, string(t.From))
	if t.Version != 0 {
		where += " AND version = ?"
		args = append(args, t.Version)
	}
	if t.Holder != "" {
		where += " AND lease_holder = ?"
		args = append(args, t.Holder)
	}
	if t.To == approval.StateApproved {
		// An approval counts only before the deadline, whether or not the
		// expiry sweep has run yet.
		where += " AND expires_at > ?"
		args = append(args, s.d.timeArg(at))
	}
	query := `UPDATE requests SET ` + strings.Join(set, ", ") + ` WHERE ` + where + ` RETURNING ` + requestColumns

	var r approval.Request
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		rs, err := s.queryRequests(ctx, tx, query, args...)
		if err != nil {
			return fmt.Errorf("store: transition request %s: %w", id, err)
		}
		if len(rs) == 0 {
			return s.whyNoTransition(ctx, tx, id, t, at)
		}
		r = rs[0]
		actor, action := t.By, t.Action
		if actor == "" {
			actor = botActor
		}
		if action == "" {
			action = string(t.To)
		}
		return s.appendAudit(ctx, tx, approval.AuditRecord{
			RequestID: id, TenantID: r.TenantID, Actor: actor, Action: action,
			From: t.From, To: t.To, At: at, Detail: t.Detail,
		})
	})
	if err != nil {
		return approval.Request{}, err
	}
	return r, nil
}

// botActor is the audit actor of what the bot does on its own: expiry, and
// transitions without a user.
const botActor = "ca-check"

// whyNoTransition explains a compare-and-swap that changed nothing.
func (s *Store) whyNoTransition(ctx context.Context, tx *sql.Tx, id string, t approval.Transition, at time.Time) error {
	var (
		state, holder string
		expires       time.Time
		version       int64
	)
	err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT state, expires_at, version, lease_holder FROM requests WHERE id = ?`), id).
		Scan(&state, timeScanner{&expires}, &version, &holder)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("request %q: %w", id, ErrNotFound)
	case err != nil:
		return fmt.Errorf("store: transition request %s: %w", id, err)
	case approval.State(state) != t.From:
		return fmt.Errorf("request %s is %s, not %s: %w", id, state, t.From, ErrConflict)
	case t.Version != 0 && version != t.Version:
		return fmt.Errorf("request %s is at version %d, not %d: %w", id, version, t.Version, ErrConflict)
	case t.Holder != "" && holder != t.Holder:
		return fmt.Errorf("request %s is held by %q, not %q: %w", id, holder, t.Holder, ErrConflict)
	case t.To == approval.StateApproved && !at.Before(expires):
		return fmt.Errorf("request %s expired at %v: %w", id, expires.Format(time.RFC3339), ErrExpired)
	}
	// Unreachable while the UPDATE and this SELECT agree; a conflict is the safe answer.
	return fmt.Errorf("request %s did not change: %w", id, ErrConflict)
}

// stateList is "?, ?, …" for states, with its arguments.
func stateList(states []approval.State) (string, []any, error) {
	args := make([]any, len(states))
	for i, st := range states {
		if !st.Valid() {
			return "", nil, fmt.Errorf("%w: unknown state %q", ErrInvalid, st)
		}
		args[i] = string(st)
	}
	return placeholders(len(states)), args, nil
}

// placeholders is n comma-separated ?.
func placeholders(n int) string {
	if n == 0 {
		return ""
	}
	return strings.Repeat(", ?", n)[2:]
}

// PendingFor returns the tenant's pending requests, oldest first. A request
// past its ExpiresAt stays pending until ExpireRequests runs; check ExpiresAt
// before offering it to an approver.
func (s *Store) PendingFor(ctx context.Context, tenantID string) ([]approval.Request, error) {
	if err := required("tenant ID", tenantID); err != nil {
		return nil, err
	}
	rs, err := s.queryRequests(ctx, s.rdb, `SELECT `+requestColumns+` FROM requests WHERE tenant_id = ? AND state = ? ORDER BY created_at, id`,
		tenantID, string(approval.StatePending))
	if err != nil {
		return nil, fmt.Errorf("store: pending requests for tenant %s: %w", tenantID, err)
	}
	return rs, nil
}

// ExpireRequests moves every pending request whose ExpiresAt is at or before
// now to expired, with an audit record each, and returns them. Replicas may
// sweep at once: each request is expired, and returned, by exactly one.
func (s *Store) ExpireRequests(ctx context.Context, now time.Time) ([]approval.Request, error) {
	at, err := normTime(now, "expiry time", true)
	if err != nil {
		return nil, err
	}
	var rs []approval.Request
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		rs, err = s.queryRequests(ctx, tx, `
			UPDATE requests SET state = ?, version = version + 1, updated_at = ?
			WHERE state = ? AND expires_at <= ?
			RETURNING `+requestColumns,
			string(approval.StateExpired), s.d.timeArg(at), string(approval.StatePending), s.d.timeArg(at))
		if err != nil {
			return fmt.Errorf("store: expire requests: %w", err)
		}
		for _, r := range rs {
			err := s.appendAudit(ctx, tx, approval.AuditRecord{
				RequestID: r.ID, TenantID: r.TenantID, Actor: botActor, Action: string(approval.StateExpired),
				From: approval.StatePending, To: approval.StateExpired, At: at,
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rs, nil
}
