package approval

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cacheck/ca-check/diagnose"
)

// State is where a request is in the state machine of DESIGN.md
// "Approvals".
type State string

// The states. Pending is the only one a request is created in; rejected,
// expired, superseded and reverted are final. In approved, applying and
// reverting a process is at work on the request, and holds its lease.
const (
	StatePending    State = "pending"    // waiting for an approver
	StateApproved   State = "approved"   // an approver clicked Approve; not yet applied
	StateApplying   State = "applying"   // the PATCHes are in flight
	StateApplied    State = "applied"    // every policy was changed and read back
	StateReverting  State = "reverting"  // the reverting PATCHes are in flight
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
	StateApplied:  {StateReverting},
	// Back to applied when some policy could not be restored, or the
	// reverting process died: Revert may be tried again.
	StateReverting: {StateReverted, StateApplied},
	StateFailed:    {StateApplying}, // retry the policies that failed
}

// Valid reports whether s is one of the states above.
func (s State) Valid() bool {
	switch s {
	case StatePending, StateApproved, StateApplying, StateApplied, StateFailed,
		StateRejected, StateExpired, StateSuperseded, StateReverting, StateReverted:
		return true
	}
	return false
}

// Working reports whether a process is at work on a request in s, under a
// lease: approved, applying, reverting.
func (s State) Working() bool {
	return s == StateApproved || s == StateApplying || s == StateReverting
}

// Allowed reports whether from → to is a transition of the state machine:
// pending → approved | rejected | expired | superseded; approved → applying;
// applying → applied | failed | superseded; applied → reverting; reverting
// → reverted | applied; failed → applying.
func Allowed(from, to State) bool {
	return slices.Contains(transitions[from], to)
}

// Request is an approval request: a plan to change a tenant's policies,
// waiting for or past a customer admin's decision.
type Request struct {
	ID          string // 128-bit random, hex (NewID): it travels in button values
	TenantID    string
	TenantName  string
	DiagnosisID int64  // the diagnosis it came from; 0 for none
	RequestedBy string // the front end's user ID of the engineer (Slack: U…)
	ChannelID   string // where to report
	ThreadTS    string
	Reason      string // the error or reason shown to the approvers
	// Plans are the changes the approvers are shown and Approve applies,
	// in the order shown. Set at creation, never changed.
	Plans []diagnose.Plan
	// Outcomes are what happened to each plan's policy, one per plan in
	// the same order; all OutcomePending until an apply.
	Outcomes  []Outcome
	State     State
	DecidedBy string // who approved or rejected it
	CreatedAt time.Time
	ExpiresAt time.Time
	UpdatedAt time.Time // the last transition
	AppliedAt time.Time // when it last became applied (from applying); the revert window starts there
	Version   int64     // 1 at creation, bumped by every transition
	// Lease is who is at work on the request (approved, applying,
	// reverting, or reporting its outcome), until when; zero when nobody
	// is. A lease that lapsed is the mark of a process that died.
	Lease Lease
	// ReportDue is set when an apply settled and its outcome has not been
	// told yet: the lease holder tells it, or whoever takes the lease
	// over once it lapses.
	ReportDue bool
}

// Lease is a process's hold on a request while it works on it: Holder
// identifies the process, and the hold lasts until Until unless renewed.
type Lease struct {
	Holder string
	Until  time.Time
}

// Tenant is the request's customer tenant, for messages.
func (r Request) Tenant() diagnose.Tenant {
	return diagnose.Tenant{ID: r.TenantID, DisplayName: r.TenantName}
}

// Count is how many of the request's policies have one of the statuses.
func (r Request) Count(statuses ...OutcomeStatus) int {
	n := 0
	for _, o := range r.Outcomes {
		if slices.Contains(statuses, o.Status) {
			n++
		}
	}
	return n
}

// Names lists the display names of the policies with one of the statuses,
// in the order of the plans.
func (r Request) Names(statuses ...OutcomeStatus) []string {
	var out []string
	for _, o := range r.Outcomes {
		if slices.Contains(statuses, o.Status) {
			out = append(out, o.DisplayName)
		}
	}
	return out
}

// OutcomeStatus is what happened to one policy of a request.
type OutcomeStatus string

// The outcome statuses.
const (
	OutcomePending      OutcomeStatus = "pending"       // not tried yet
	OutcomeApplied      OutcomeStatus = "applied"       // written and read back
	OutcomeUnchanged    OutcomeStatus = "unchanged"     // nothing had to be written
	OutcomeChanged      OutcomeStatus = "changed"       // changed since the plan: not written, re-planned
	OutcomeFailed       OutcomeStatus = "failed"        // the write failed; Retry tries it again
	OutcomeReverted     OutcomeStatus = "reverted"      // the write was undone
	OutcomeRevertFailed OutcomeStatus = "revert_failed" // the undo was refused or failed
)

// Outcome is what happened to one policy of a request. Its JSON is what the
// store keeps and the audit log shows.
type Outcome struct {
	PolicyID    string           `json:"policyId"`
	DisplayName string           `json:"displayName"`
	Status      OutcomeStatus    `json:"status"`
	Change      *diagnose.Change `json:"change,omitempty"`
	// Error is the sentence shown for a failure (already user-facing).
	Error string `json:"error,omitempty"`
	// Replanned is set when the policy changed since the plan and still
	// blocks: a new request with a fresh plan replaces this part.
	Replanned bool `json:"replanned,omitempty"`
	// Note says why a changed policy was not re-planned.
	Note string `json:"note,omitempty"`
	// Reverted is the change a revert made.
	Reverted *diagnose.Change `json:"reverted,omitempty"`
}

// Done reports whether the policy needs no more writing: a retry applies
// only the policies not done.
func (o Outcome) Done() bool {
	switch o.Status {
	case OutcomeApplied, OutcomeUnchanged, OutcomeChanged, OutcomeReverted, OutcomeRevertFailed:
		return true
	}
	return false
}

// NewOutcomes is the outcomes of plans not tried yet.
func NewOutcomes(plans []diagnose.Plan) []Outcome {
	os := make([]Outcome, len(plans))
	for i, p := range plans {
		os[i] = Outcome{PolicyID: p.PolicyID, DisplayName: p.DisplayName, Status: OutcomePending}
	}
	return os
}

// Transition is one move of a request through the state machine, as a
// Store makes it.
type Transition struct {
	From, To State
	By       string    // who caused it; "" for ca-check itself
	At       time.Time // zero means now
	Outcomes []Outcome // replaces Request.Outcomes when not nil
	Reason   string    // replaces Request.Reason when not ""
	Detail   []byte    // the audit record's JSON: before/after, Graph request IDs
	// Action is the audit record's action; "" for To.
	Action string
	// Version, when not 0, makes the swap also require the request to be
	// at this version: a caller settling what it started (an apply, a
	// reconciliation of a request it read) must not settle a later round
	// that left the request in the same state (a retry's applying).
	Version int64
	// Holder, when not "", makes the swap also require that this holder
	// has the request's lease: a process that lost its lease to another
	// (it was taken for dead) must not settle what the other now owns.
	Holder string
	// Lease is the request's lease after the swap: required into a
	// working state (see State.Working) and with ReportDue, nil otherwise
	// (the lease is then released).
	Lease *Lease
	// ReportDue marks the outcome as still to be told (Request.ReportDue).
	ReportDue bool
}

// AuditRecord is one entry of the append-only audit log: who did what to
// which request, when, and the before and after.
type AuditRecord struct {
	ID        int64  // assigned by the store
	RequestID string // "" for an event about no request
	TenantID  string
	Actor     string // the user's ID, or "ca-check" for ca-check itself
	Action    string // the new state for a transition, "requested", or an event ("notified", "refused", …)
	From, To  State  // "" when the event is no transition
	At        time.Time
	Detail    []byte // JSON: before/after, Graph request IDs
}

// Errors a Store returns, told apart with errors.Is.
var (
	// ErrNotFound: no request (or other row) with that key.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a compare-and-swap lost; another caller (a double
	// click, a retried delivery, another replica) changed the request
	// first. Re-read it and report it as it now is; do not act.
	ErrConflict = errors.New("request changed")
	// ErrIllegalTransition: the state machine has no such edge. A bug in
	// the caller, never a race.
	ErrIllegalTransition = errors.New("illegal state transition")
	// ErrExpired: an approval of a request whose ExpiresAt has passed.
	ErrExpired = errors.New("request expired")
)

// NewID returns a new request ID: 128 random bits in hex, so that a button
// value cannot be guessed.
func NewID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("approval: new request ID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// ValidID reports whether s has NewID's form, before anything is looked up
// with it.
func ValidID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
