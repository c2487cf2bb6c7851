package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// State is where an approval request is in the state machine of DESIGN.md
// "Approvals".
type State string

// The states. Pending is the only one a request is created in; rejected,
// expired, superseded and reverted are final.
const (
	StatePending    State = "pending"    // waiting for an approver
	StateApproved   State = "approved"   // an approver clicked Approve; not yet applied
	StateApplying   State = "applying"   // the PATCHes are in flight
	StateApplied    State = "applied"    // every policy was changed and read back
	StateFailed     State = "failed"     // some policy could not be changed; may be retried
	StateRejected   State = "rejected"   // an approver clicked Reject
	StateExpired    State = "expired"    // nobody decided before ExpiresAt
	StateSuperseded State = "superseded" // a newer request replaced it (the policy changed before it was applied)
	StateReverted   State = "reverted"   // the applied change was undone
)

// transitions is the state machine: from → the states it may move to.
var transitions = map[State][]State{
	StatePending:  {StateApproved, StateRejected, StateExpired, StateSuperseded},
	StateApproved: {StateApplying},
	// A policy that changed since the plan is not written; when nothing
	// else was, the request is replaced by a new one with a fresh plan.
	StateApplying: {StateApplied, StateFailed, StateSuperseded},
	StateApplied:  {StateReverted},
	StateFailed:   {StateApplying}, // retry the policies that failed
}

// Valid reports whether s is one of the states above.
func (s State) Valid() bool {
	switch s {
	case StatePending, StateApproved, StateApplying, StateApplied, StateFailed,
		StateRejected, StateExpired, StateSuperseded, StateReverted:
		return true
	}
	return false
}

// Allowed reports whether from → to is a transition of the state machine:
// pending → approved | rejected | expired | superseded; approved → applying;
// applying → applied | failed | superseded; applied → reverted; failed →
// applying.
func Allowed(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Request is an approval request: a plan to change a tenant's policies,
// waiting for or past a customer admin's decision.
type Request struct {
	ID          string // 128-bit random, hex (NewRequestID): it travels in Slack button values
	TenantID    string
	TenantName  string
	DiagnosisID int64  // the diagnosis it came from; 0 for none
	RequestedBy string // Slack user ID of the engineer
	ChannelID   string // where to report
	ThreadTS    string
	State       State
	Plans       []byte // JSON of []diagnose.Plan, opaque here
	Result      []byte // JSON of per-policy apply results, opaque here (updated on transitions)
	Reason      string // the error or reason shown to the admin
	CreatedAt   time.Time
	ExpiresAt   time.Time
	UpdatedAt   time.Time
	DecidedBy   string // Slack user ID of who approved or rejected it
	Version     int64  // 1 at creation, bumped by every transition
}

// NewRequestID returns a new request ID: 128 random bits in hex, so that a
// button value cannot be guessed.
func NewRequestID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("store: new request ID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// validRequestID reports whether id has NewRequestID's form.
func validRequestID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// CreateRequest stores a new request, in state pending, with its audit record
// "requested". r.ID must come from NewRequestID; r.CreatedAt defaults to now
// and r.ExpiresAt must follow it. UpdatedAt, DecidedBy and Version are set
// here.
func (s *Store) CreateRequest(ctx context.Context, r Request) error {
	if !validRequestID(r.ID) {
		return fmt.Errorf("%w: request ID %q is not 32 lowercase hex digits (use NewRequestID)", ErrInvalid, r.ID)
	}
	if r.State != StatePending {
		return fmt.Errorf("%w: a new request must be %s, not %q", ErrInvalid, StatePending, r.State)
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
	if err := checkJSON("plans", r.Plans); err != nil {
		return err
	}
	if err := checkJSON("result", r.Result); err != nil {
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
			string(StatePending), r.Plans, nullBytes(r.Result), r.Reason,
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
		return s.appendAudit(ctx, tx, AuditRecord{
			RequestID: r.ID, TenantID: r.TenantID, Actor: r.RequestedBy, Action: "requested",
			To: StatePending, At: created,
		})
	})
}

const requestColumns = `id, tenant_id, tenant_name, diagnosis_id, requested_by, channel_id, thread_ts,
	state, plans, result, reason, created_at, expires_at, updated_at, decided_by, version`

func scanRequest(row interface{ Scan(...any) error }) (Request, error) {
	var (
		r           Request
		diagnosisID sql.NullInt64
		state       string
	)
	err := row.Scan(&r.ID, &r.TenantID, &r.TenantName, &diagnosisID, &r.RequestedBy, &r.ChannelID, &r.ThreadTS,
		&state, &r.Plans, &r.Result, &r.Reason,
		timeScanner{&r.CreatedAt}, timeScanner{&r.ExpiresAt}, timeScanner{&r.UpdatedAt}, &r.DecidedBy, &r.Version)
	r.DiagnosisID = diagnosisID.Int64
	r.State = State(state)
	return r, err
}

func (s *Store) queryRequests(ctx context.Context, q querier, query string, args ...any) ([]Request, error) {
	rows, err := q.QueryContext(ctx, s.d.rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rs []Request
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
func (s *Store) Request(ctx context.Context, id string) (Request, error) {
	if err := required("request ID", id); err != nil {
		return Request{}, err
	}
	r, err := scanRequest(s.rdb.QueryRowContext(ctx, s.d.rebind(`SELECT `+requestColumns+` FROM requests WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, fmt.Errorf("request %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Request{}, fmt.Errorf("store: request %s: %w", id, err)
	}
	return r, nil
}

// Transition is one move of a request through the state machine.
type Transition struct {
	From, To State
	By       string    // Slack user ID of who caused it; "" for the bot itself
	At       time.Time // zero means now
	Result   []byte    // replaces Request.Result when not nil
	Reason   string    // replaces Request.Reason when not ""
	Detail   []byte    // the audit record's JSON: before/after, Graph request IDs
	// Version, when not 0, makes the swap also require the request to be
	// at this version: a caller settling what it started (an apply, a
	// reconciliation of a request it read) must not settle a later round
	// that left the request in the same state (a retry's applying).
	Version int64
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
// In the same transaction it bumps Version, sets UpdatedAt to t.At, records
// t.By as DecidedBy on a decision (a move out of pending), replaces Result and
// Reason when given, and appends the audit record (action t.To, actor t.By or
// "ca-check"). It returns the request as it now is.
func (s *Store) Transition(ctx context.Context, id string, t Transition) (Request, error) {
	if err := required("request ID", id); err != nil {
		return Request{}, err
	}
	for _, st := range []State{t.From, t.To} {
		if !st.Valid() {
			return Request{}, fmt.Errorf("%w: unknown state %q", ErrInvalid, st)
		}
	}
	if !Allowed(t.From, t.To) {
		return Request{}, fmt.Errorf("%w: %s → %s", ErrIllegalTransition, t.From, t.To)
	}
	if t.Version < 0 {
		return Request{}, fmt.Errorf("%w: version %d is negative", ErrInvalid, t.Version)
	}
	if err := checkJSON("result", t.Result); err != nil {
		return Request{}, err
	}
	if err := checkJSON("audit detail", t.Detail); err != nil {
		return Request{}, err
	}
	at, err := normTime(t.At, "transition time", true)
	if err != nil {
		return Request{}, err
	}

	set := []string{"state = ?", "version = version + 1", "updated_at = ?"}
	args := []any{string(t.To), s.d.timeArg(at)}
	if t.From == StatePending && t.By != "" {
		set = append(set, "decided_by = ?")
		args = append(args, t.By)
	}
	if t.Result != nil {
		set = append(set, "result = ?")
		args = append(args, nullBytes(t.Result))
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
	if t.To == StateApproved {
		// An approval counts only before the deadline, whether or not the
		// expiry sweep has run yet.
		where += " AND expires_at > ?"
		args = append(args, s.d.timeArg(at))
	}
	query := `UPDATE requests SET ` + strings.Join(set, ", ") + ` WHERE ` + where + ` RETURNING ` + requestColumns

	var r Request
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		rs, err := s.queryRequests(ctx, tx, query, args...)
		if err != nil {
			return fmt.Errorf("store: transition request %s: %w", id, err)
		}
		if len(rs) == 0 {
			return s.whyNoTransition(ctx, tx, id, t, at)
		}
		r = rs[0]
		actor := t.By
		if actor == "" {
			actor = botActor
		}
		return s.appendAudit(ctx, tx, AuditRecord{
			RequestID: id, TenantID: r.TenantID, Actor: actor, Action: string(t.To),
			From: t.From, To: t.To, At: at, Detail: t.Detail,
		})
	})
	if err != nil {
		return Request{}, err
	}
	return r, nil
}

// botActor is the audit actor of what the bot does on its own: expiry, and
// transitions without a user.
const botActor = "ca-check"

// whyNoTransition explains a compare-and-swap that changed nothing.
func (s *Store) whyNoTransition(ctx context.Context, tx *sql.Tx, id string, t Transition, at time.Time) error {
	var (
		state   string
		expires time.Time
		version int64
	)
	err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT state, expires_at, version FROM requests WHERE id = ?`), id).
		Scan(&state, timeScanner{&expires}, &version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("request %q: %w", id, ErrNotFound)
	case err != nil:
		return fmt.Errorf("store: transition request %s: %w", id, err)
	case State(state) != t.From:
		return fmt.Errorf("request %s is %s, not %s: %w", id, state, t.From, ErrConflict)
	case t.Version != 0 && version != t.Version:
		return fmt.Errorf("request %s is at version %d, not %d: %w", id, version, t.Version, ErrConflict)
	case t.To == StateApproved && !at.Before(expires):
		return fmt.Errorf("request %s expired at %v: %w", id, expires.Format(time.RFC3339), ErrExpired)
	}
	// Unreachable while the UPDATE and this SELECT agree; a conflict is the safe answer.
	return fmt.Errorf("request %s did not change: %w", id, ErrConflict)
}

// Requests returns the requests in any of the given states (all requests when
// none is given), oldest first: for expiry sweeps and for reconciling after a
// crash (requests left approved or applying).
func (s *Store) Requests(ctx context.Context, states ...State) ([]Request, error) {
	query := `SELECT ` + requestColumns + ` FROM requests WHERE 1 = 1`
	in, args, err := stateIn(states)
	if err != nil {
		return nil, err
	}
	rs, err := s.queryRequests(ctx, s.rdb, query+in+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: requests: %w", err)
	}
	return rs, nil
}

// RequestsChanged returns the requests in any of the given states (in any
// state when none is given) whose last transition (UpdatedAt) is at or
// after since and before until, oldest change first: what a periodic sweep
// looks at again, without reading every request ever settled.
func (s *Store) RequestsChanged(ctx context.Context, since, until time.Time, states ...State) ([]Request, error) {
	from, err := normTime(since, "since", false)
	if err != nil {
		return nil, err
	}
	to, err := normTime(until, "until", false)
	if err != nil {
		return nil, err
	}
	if !from.Before(to) {
		return nil, fmt.Errorf("%w: the window %v to %v is empty", ErrInvalid, from, to)
	}
	in, args, err := stateIn(states)
	if err != nil {
		return nil, err
	}
	query := `SELECT ` + requestColumns + ` FROM requests WHERE updated_at >= ? AND updated_at < ?` + in + ` ORDER BY updated_at, id`
	rs, err := s.queryRequests(ctx, s.rdb, query, append([]any{s.d.timeArg(from), s.d.timeArg(to)}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("store: requests changed: %w", err)
	}
	return rs, nil
}

// stateIn is the condition " AND state IN (?, …)" for states, with its
// arguments; "" for no states.
func stateIn(states []State) (string, []any, error) {
	if len(states) == 0 {
		return "", nil, nil
	}
	marks, args, err := stateList(states)
	if err != nil {
		return "", nil, err
	}
	return ` AND state IN (` + marks + `)`, args, nil
}

// stateList is "?, ?, …" for states, with its arguments.
func stateList(states []State) (string, []any, error) {
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
func (s *Store) PendingFor(ctx context.Context, tenantID string) ([]Request, error) {
	if err := required("tenant ID", tenantID); err != nil {
		return nil, err
	}
	rs, err := s.queryRequests(ctx, s.rdb, `SELECT `+requestColumns+` FROM requests WHERE tenant_id = ? AND state = ? ORDER BY created_at, id`,
		tenantID, string(StatePending))
	if err != nil {
		return nil, fmt.Errorf("store: pending requests for tenant %s: %w", tenantID, err)
	}
	return rs, nil
}

// ExpireRequests moves every pending request whose ExpiresAt is at or before
// now to expired, with an audit record each, and returns them. Replicas may
// sweep at once: each request is expired, and returned, by exactly one.
func (s *Store) ExpireRequests(ctx context.Context, now time.Time) ([]Request, error) {
	at, err := normTime(now, "expiry time", true)
	if err != nil {
		return nil, err
	}
	var rs []Request
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		rs, err = s.queryRequests(ctx, tx, `
			UPDATE requests SET state = ?, version = version + 1, updated_at = ?
			WHERE state = ? AND expires_at <= ?
			RETURNING `+requestColumns,
			string(StateExpired), s.d.timeArg(at), string(StatePending), s.d.timeArg(at))
		if err != nil {
			return fmt.Errorf("store: expire requests: %w", err)
		}
		for _, r := range rs {
			err := s.appendAudit(ctx, tx, AuditRecord{
				RequestID: r.ID, TenantID: r.TenantID, Actor: botActor, Action: string(StateExpired),
				From: StatePending, To: StateExpired, At: at,
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
