package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
)

// The approval flow (DESIGN.md "Approvals"), in the order a request travels:
//
//	approval_request.go  Request approval: create the request, DM the approvers
//	approval_decide.go   Approve / Reject clicks: who may decide, the CAS
//	approval_apply.go    apply, read back, report; retry and revert
//	approval_sweep.go    expiry, and reconciling requests a crash interrupted
//	approval_admin.go    /ca-check approvers, audit, revert
//	approval_blocks.go   the messages

// Changer writes approved fixes into a customer tenant and checks approvers;
// graphclient.Client implements it. Errors carry a diagnose code: ECONFLICT
// means the policy changed since the plan (or since the bot's own write, for
// a revert) and nothing was written.
type Changer interface {
	// Apply re-reads the policy, refuses when it changed since the plan,
	// writes plan.After, reads the policy back and re-evaluates it.
	Apply(ctx context.Context, tenantID string, plan diagnose.Plan) (diagnose.Change, error)
	// Revert restores before, only while the policy still has wrote.
	Revert(ctx context.Context, tenantID, policyID string, before, wrote *diagnose.GuestsOrExternalUsers) (diagnose.Change, error)
	// IsApprover reports whether emailOrUPN is an active Global, Security
	// or Conditional Access Administrator of the tenant.
	IsApprover(ctx context.Context, tenantID, emailOrUPN string) (bool, error)
}

// WithChanger enables approvals: without it, Request approval says they are
// not configured.
func WithChanger(c Changer) Option { return func(b *Bot) { b.changer = c } }

// WithApprovalSweep sets how often expired requests are closed,
// interrupted ones reconciled and old diagnoses pruned (default a minute);
// for tests.
func WithApprovalSweep(every time.Duration) Option { return func(b *Bot) { b.sweepEvery = every } }

// Action IDs of the approval buttons; their values are request IDs and
// nothing else.
const (
	actionApprove = "approve_request"
	actionReject  = "reject_request"
	actionRetry   = "retry_request"
	actionRevert  = "revert_request"
	// viewReject is the callback ID of the Reject modal; its
	// private_metadata is the request ID.
	viewReject = "reject_request"
	// The reason input of the Reject modal.
	blockReason  = "reason"
	actionReason = "reason_input"
)

// auditActor is the audit actor of what the bot does on its own.
const auditActor = "ca-check"

// staleAfter is how long a request may sit in approved or applying before
// the sweep takes it for interrupted by a crash and reconciles it. Applying
// a few policies takes seconds; the margin keeps one replica from
// reconciling what another is still applying.
const staleAfter = 5 * time.Minute

// Policy outcomes in a request's result.
const (
	outPending      = "pending"       // not tried yet
	outApplied      = "applied"       // written and read back
	outUnchanged    = "unchanged"     // nothing had to be written
	outChanged      = "changed"       // changed since the plan: not written, re-planned
	outFailed       = "failed"        // the write failed; Retry tries it again
	outReverted     = "reverted"      // the bot's write was undone
	outRevertFailed = "revert_failed" // the undo was refused or failed
)

// outcome is what happened to one policy of a request; a request's Result
// is the JSON of its outcomes, in the order of its plans.
type outcome struct {
	PolicyID    string           `json:"policyId"`
	DisplayName string           `json:"displayName"`
	Status      string           `json:"status"`
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

func (o outcome) done() bool {
	switch o.Status {
	case outApplied, outUnchanged, outChanged, outReverted, outRevertFailed:
		return true
	}
	return false
}

// approval is a request decoded: its plans and their outcomes.
type approval struct {
	store.Request
	plans    []diagnose.Plan
	outcomes []outcome
}

func decodeApproval(r store.Request) (approval, error) {
	a := approval{Request: r}
	if err := json.Unmarshal(r.Plans, &a.plans); err != nil {
		return a, fmt.Errorf("decode plans of request %s: %w", r.ID, err)
	}
	if len(r.Result) > 0 {
		if err := json.Unmarshal(r.Result, &a.outcomes); err != nil {
			return a, fmt.Errorf("decode result of request %s: %w", r.ID, err)
		}
	}
	if len(a.outcomes) != len(a.plans) {
		a.outcomes = make([]outcome, len(a.plans))
		for i, p := range a.plans {
			a.outcomes[i] = outcome{PolicyID: p.PolicyID, DisplayName: p.DisplayName, Status: outPending}
		}
	}
	return a, nil
}

func (a approval) tenant() diagnose.Tenant {
	return diagnose.Tenant{ID: a.TenantID, DisplayName: a.TenantName}
}

func (a approval) count(statuses ...string) int {
	n := 0
	for _, o := range a.outcomes {
		if slices.Contains(statuses, o.Status) {
			n++
		}
	}
	return n
}

func (a approval) names(statuses ...string) []string {
	var out []string
	for _, o := range a.outcomes {
		if slices.Contains(statuses, o.Status) {
			out = append(out, o.DisplayName)
		}
	}
	return out
}

func encodeOutcomes(os []outcome) []byte {
	raw, _ := json.Marshal(os) // plain data: cannot fail
	return raw
}

// auditDetail is the JSON of an audit record: what changed, with Graph's
// request IDs.
func auditDetail(v any) []byte {
	raw, _ := json.Marshal(v)
	return raw
}

// shortID is how a request is named to people: enough to find it in the
// audit, too little to act on (buttons carry the whole ID).
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// validRequestID reports whether s looks like store.NewRequestID's output,
// before anything is looked up with it.
func validRequestID(s string) bool {
	if len(s) != 32 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}
