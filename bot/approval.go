package bot

import (
	"context"
	"log/slog"
	"time"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/diagnose"
)

// Approvals are the approval package's; this side is Slack (DESIGN.md
// "Approvals"), in the order a request travels:
//
//	approval_request.go  Request approval: a diagnosis's plans → approval.Service.Open
//	approval_decide.go   Approve, Reject, Retry and Revert clicks → the service, its refusals in Slack words
//	approval_notify.go   the approval.Notifier: the approvers' DMs, the thread
//	approval_admin.go    /ca-check approvers, audit
//	approval_blocks.go   the messages

// WithApprovals enables approvals: requests are kept in st, and c writes
// the approved fixes (graphclient.Client implements both sides the bot
// needs). Without it, Request approval, Revert, /ca-check approvers and
// /ca-check audit say approvals are not configured.
func WithApprovals(c approval.Changer, st approval.Store) Option {
	return func(b *Bot) { b.changer, b.approvalStore = c, st }
}

// WithApprovalSweep sets how often expired requests are closed, what a
// dead process left taken over, and old diagnoses pruned (default 10 s);
// for tests.
func WithApprovalSweep(every time.Duration) Option { return func(b *Bot) { b.sweepEvery = every } }

// newApprovals builds the approval service over the bot's Slack.
func (b *Bot) newApprovals() (*approval.Service, error) {
	return approval.New(approval.Config{
		Store:           b.approvalStore,
		Changer:         b.changer,
		Diagnoser:       rediagnoser{b},
		Notifier:        notifier{b},
		TTL:             b.cfg.approvalTTL(),
		RevertWindow:    b.cfg.revertWindow(),
		VerifyApprovers: b.cfg.ApproverVerify == VerifyGraph,
		Now:             b.now,
		Log:             slog.New(requestIDHandler{b.log.Handler()}),
		StoreFailed:     b.storeError,
	})
}

// rediagnoser reads a request's tenant again for the service, with the
// scenario of the diagnosis it came from.
type rediagnoser struct{ b *Bot }

func (r rediagnoser) Diagnose(ctx context.Context, req approval.Request) (*diagnose.Diagnosis, error) {
	var sc diagnose.Scenario
	if req.DiagnosisID > 0 {
		if rec, err := r.b.store.Diagnosis(ctx, req.DiagnosisID); err == nil {
			if d, _, err := loadResult(rec); err == nil {
				sc = d.Scenario
			}
		}
	}
	return r.b.diag.Diagnose(ctx, req.TenantID, sc)
}

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

// auditActor is the audit actor of what ca-check does on its own.
const auditActor = "ca-check"

// shortID is how a request is named to people: enough to find it in the
// audit, too little to act on (buttons carry the whole ID).
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
