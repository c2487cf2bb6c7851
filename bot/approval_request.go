package bot

import (
	"context"
	"errors"
	"fmt"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/diagnose"
)

// notConfiguredText is the answer to Request approval when approvals are
// not configured.
const notConfiguredText = ":construction: Approvals are not configured in this ca-check. Click *Show guide* and send the steps to the customer's admin; *Re-check* confirms the fix once they have made it."

func notConfigured() message {
	return message{Text: "Approvals are not configured in this ca-check; use the guide.", Blocks: sections(notConfiguredText)}
}

// requestApproval turns a diagnosis into an approval request and sends it to
// the tenant's approvers.
func (b *Bot) requestApproval(ctx context.Context, c click, value string) {
	if b.approvals == nil || !b.approvals.Configured() {
		b.whisper(ctx, c.dst(), notConfigured())
		return
	}
	rec, d, errs, ok := b.record(ctx, c, value)
	if !ok {
		return
	}
	plans := diagnose.PlansToApprove(d)
	t := tenantOf(d)
	if t.ID == "" {
		t = diagnose.Tenant{ID: rec.TenantID, DisplayName: rec.TenantName}
	}
	if len(plans) == 0 || t.ID == "" {
		b.say(ctx, c.dst(), ":white_check_mark: Nothing to approve: no blocking policy needs a change.")
		return
	}
	reason := diagnose.Headline(d)
	if len(errs) > 0 {
		reason = fmt.Sprintf("AADSTS%d: %s", errs[0].Code, reason)
	}
	draft := approval.Request{
		TenantID: t.ID, TenantName: nameOf(t), DiagnosisID: rec.ID, RequestedBy: c.user,
		ChannelID: c.channel, ThreadTS: c.threadTS, Reason: reason,
	}
	b.openRequest(ctx, c.dst(), draft, plans)
}

func nameOf(t diagnose.Tenant) string {
	if t.DisplayName != "" {
		return t.DisplayName
	}
	return t.DefaultDomain
}

// openRequest asks the tenant's approvers to approve plans, for the
// requester, channel and thread of draft (its tenant, diagnosis and reason
// too): the service stores the request, DMs the approvers and tells the
// thread. Why no request was made is told to dst. It returns the request's
// ID, "" when none was made.
func (b *Bot) openRequest(ctx context.Context, dst destination, draft approval.Request, plans []diagnose.Plan) string {
	if b.approvals == nil || !b.approvals.Configured() {
		b.whisper(ctx, dst, notConfigured())
		return ""
	}
	draft.Plans = plans
	r, err := b.approvals.Open(ctx, draft)
	if err != nil {
		b.say(ctx, dst, openError(ctx, draft, err))
		return ""
	}
	return r.ID
}

// openError says why a request for draft was not opened.
func openError(ctx context.Context, draft approval.Request, err error) string {
	var pending *approval.PendingError
	var none *approval.NoApproversError
	switch {
	case errors.As(err, &pending):
		return fmt.Sprintf(":hourglass_flowing_sand: Approval for this diagnosis was already requested by %s (request `%s`); it is waiting for the customer's admin.",
			userRef(pending.Request.RequestedBy), shortID(pending.Request.ID))
	case errors.Is(err, approval.ErrJustRequested):
		return ":hourglass_flowing_sand: Approval for this diagnosis was just requested by someone else; it is waiting for the customer's admin."
	case errors.As(err, &none):
		why := "has no approvers"
		if none.OnlyRequester {
			why = "has no approver besides you, and nobody may approve their own request"
		}
		return fmt.Sprintf(":no_entry_sign: %s %s. A ca-check admin adds the customer's admins with `/ca-check approvers %s add @user`; until then, *Show guide* has the steps to send them.",
			tenantLabel(draft.Tenant()), why, diagnose.EscapeMrkdwn(draft.TenantID))
	case errors.Is(err, approval.ErrNotConfigured):
		return notConfiguredText
	}
	return userMessage(ctx, err)
}
