package bot

import (
	"context"
	"encoding/json"
	"time"

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
