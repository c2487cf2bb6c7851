package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
)

// loadApproval reads the request a button or command names, telling the
// clicker when it cannot.
func (b *Bot) loadApproval(ctx context.Context, dst destination, id string) (approval.Request, bool) {
	if !approval.ValidID(id) {
		b.say(ctx, dst, ":warning: That does not name an approval request.")
		return approval.Request{}, false
	}
	a, err := b.store.Request(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		b.say(ctx, dst, ":mag: I have no such approval request.")
		return approval.Request{}, false
	}
	if err != nil {
		b.storeError(ctx, "request", err)
		b.say(ctx, dst, userMessage(ctx, err))
		return approval.Request{}, false
	}
	return a, true
}

// mayDecide checks that user may approve, reject or retry the request: one
// of the tenant's approvers, not its requester, and with
// CACHECK_APPROVER_VERIFY=graph an active admin of the tenant by their Slack
// email. user comes from Slack's signed payload. A refusal is audited and
// its sentence returned.
func (b *Bot) mayDecide(ctx context.Context, a approval.Request, user, action string) (string, bool) {
	refuse := func(why, text string) (string, bool) {
		b.logger(ctx).Warn("decision refused", "request", a.ID, "user", user, "action", action, "why", why)
		if err := b.store.AppendAudit(ctx, approval.AuditRecord{
			RequestID: a.ID, TenantID: a.TenantID, Actor: user, Action: "refused", At: b.now(),
			Detail: auditDetail(map[string]string{"action": action, "why": why}),
		}); err != nil {
			b.storeError(ctx, "audit refusal", err)
		}
		return text, false
	}
	if user == "" {
		return refuse("no user", ":no_entry_sign: I cannot tell who clicked.")
	}
	if user == a.RequestedBy {
		return refuse("requester", ":no_entry_sign: You asked for this change, so you cannot approve or reject it yourself: another approver of "+tenantLabel(a.Tenant())+" must decide.")
	}
	approvers, err := b.store.Approvers(ctx, a.TenantID)
	if err != nil {
		b.storeError(ctx, "approvers", err)
		return userMessage(ctx, err), false
	}
	if !slices.Contains(approvers, user) {
		return refuse("not an approver", ":no_entry_sign: Only the approvers of "+tenantLabel(a.Tenant())+" can decide this request, and you are not one. A ca-check admin manages them with `/ca-check approvers`.")
	}
	if b.cfg.ApproverVerify == VerifyGraph {
		u, err := b.api.GetUserInfoContext(ctx, user)
		if err != nil {
			b.apiError(ctx, "users.info", err)
			return ":warning: I could not check who you are with Slack; please try again.", false
		}
		if u.Profile.Email == "" {
			return refuse("no email", ":no_entry_sign: Slack shows me no email address for you, so I cannot check your admin role in "+tenantLabel(a.Tenant())+".")
		}
		ok, err := b.changer.IsApprover(ctx, a.TenantID, u.Profile.Email)
		if err != nil {
			return userMessage(ctx, err), false
		}
		if !ok {
			return refuse("no admin role", fmt.Sprintf(":no_entry_sign: %s is not an active Global, Security or Conditional Access Administrator in %s, so you cannot decide this request.",
				diagnose.EscapeMrkdwn(u.Profile.Email), tenantLabel(a.Tenant())))
		}
	}
	return "", true
}

// stateText says where a request is, for a click that came too late.
func stateText(a approval.Request) string {
	by := ""
	if a.DecidedBy != "" {
		by = " by " + userRef(a.DecidedBy)
	}
	switch a.State {
	case approval.StatePending:
		return ":hourglass_flowing_sand: This request is still waiting for a decision."
	case approval.StateApproved, approval.StateApplying:
		return ":gear: This request was approved" + by + " and is being applied."
	case approval.StateApplied:
		return ":white_check_mark: This request was approved" + by + " and applied."
	case approval.StateFailed:
		return ":warning: This request was approved" + by + "; some policies failed (see the thread)."
	case approval.StateRejected:
		return ":no_entry: This request was rejected" + by + "."
	case approval.StateExpired:
		return ":alarm_clock: This request expired without a decision. Ask again from a fresh diagnosis."
	case approval.StateSuperseded:
		return ":arrows_counterclockwise: This request was replaced by a newer one: a policy changed since the plan."
	case approval.StateReverted:
		return ":leftwards_arrow_with_hook: This request was applied and later reverted."
	}
	return "This request is " + string(a.State) + "."
}

// pendingFor loads a request that user may decide (action: approve or
// reject) and that is still pending; otherwise it says why at dst.
func (b *Bot) pendingFor(ctx context.Context, dst destination, user, id, action string) (approval.Request, bool) {
	a, ok := b.loadApproval(ctx, dst, id)
	if !ok {
		return a, false
	}
	if a.State != approval.StatePending {
		b.say(ctx, dst, stateText(a))
		return a, false
	}
	if text, ok := b.mayDecide(ctx, a, user, action); !ok {
		b.say(ctx, dst, text)
		return a, false
	}
	return a, true
}

// approve is the Approve click: authorise, move pending → approved as a
// compare-and-swap (of many clicks exactly one wins), then apply.
func (b *Bot) approve(ctx context.Context, c click, id string) {
	dst := c.dst()
	a, ok := b.pendingFor(ctx, dst, c.user, id, "approve")
	if !ok {
		return
	}
	r, err := b.store.Transition(ctx, a.ID, approval.Transition{From: approval.StatePending, To: approval.StateApproved, By: c.user, At: b.now()})
	if !b.transitioned(ctx, dst, a.ID, err) {
		return
	}
	a = r
	b.logger(ctx).Info("request approved", "request", a.ID, "tenant", a.TenantID, "by", c.user)
	b.closeNotices(ctx, a, ":gear: Approved by "+userRef(c.user)+"; applying…")
	b.apply(ctx, a, approval.StateApproved, c.user)
}

// transitioned handles a compare-and-swap's error: a lost race or an expiry
// is told to the clicker with the request's current state.
func (b *Bot) transitioned(ctx context.Context, dst destination, id string, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, store.ErrExpired):
		b.say(ctx, dst, ":alarm_clock: This request expired without a decision. Ask again from a fresh diagnosis.")
	case errors.Is(err, store.ErrConflict):
		if a, err := b.store.Request(ctx, id); err == nil {
			b.say(ctx, dst, stateText(a))
			return false
		}
		b.say(ctx, dst, ":information_source: Someone else decided this request just now.")
	default:
		b.storeError(ctx, "transition", err)
		b.say(ctx, dst, userMessage(ctx, err))
	}
	return false
}

// openReject is the Reject click: authorise, then ask for an optional
// reason in a modal; the rejection happens when it is submitted.
func (b *Bot) openReject(ctx context.Context, c click, id string) {
	dst := c.dst()
	a, ok := b.pendingFor(ctx, dst, c.user, id, "reject")
	if !ok {
		return
	}
	if _, err := b.api.OpenViewContext(ctx, c.triggerID, rejectView(a)); err != nil {
		b.apiError(ctx, "views.open", err)
		b.say(ctx, dst, ":warning: Slack did not open the rejection form (it allows 3 seconds); click *Reject* again.")
	}
}

// reject is the Reject modal's submission.
func (b *Bot) reject(ctx context.Context, user, id, reason string) {
	// The form's limit, on this side too: the reason is kept in the audit
	// log for good.
	reason = truncateRunes(reason, maxReason)
	a, err := b.requestFor(ctx, id)
	if err != nil {
		b.dm(ctx, user, userMessage(ctx, err))
		return
	}
	if a.State != approval.StatePending {
		b.dm(ctx, user, stateText(a))
		return
	}
	if text, ok := b.mayDecide(ctx, a, user, "reject"); !ok {
		b.dm(ctx, user, text)
		return
	}
	r, err := b.store.Transition(ctx, a.ID, approval.Transition{From: approval.StatePending, To: approval.StateRejected, By: user, At: b.now(),
		Detail: auditDetail(map[string]string{"reason": reason})})
	if err != nil {
		switch {
		case errors.Is(err, store.ErrConflict):
			if a2, err := b.requestFor(ctx, id); err == nil {
				b.dm(ctx, user, stateText(a2))
			}
		default:
			b.storeError(ctx, "transition", err)
			b.dm(ctx, user, userMessage(ctx, err))
		}
		return
	}
	a = r
	b.logger(ctx).Info("request rejected", "request", a.ID, "tenant", a.TenantID, "by", user)
	text := fmt.Sprintf(":no_entry: %s rejected the request to change %d %s in %s; nothing was changed.",
		userRef(user), len(a.Plans), plural(len(a.Plans), "policy", "policies"), tenantLabel(a.Tenant()))
	if reason != "" {
		text += "\n*Reason:* " + truncateMrkdwn(diagnose.EscapeMrkdwn(reason), 1000)
	}
	b.closeNotices(ctx, a, ":no_entry: Rejected by "+userRef(user)+".")
	b.threadText(ctx, a, text)
}

// requestFor reads and decodes a request.
func (b *Bot) requestFor(ctx context.Context, id string) (approval.Request, error) {
	if !approval.ValidID(id) {
		return approval.Request{}, diagnose.Errorf(diagnose.EINVALID, "that does not name an approval request")
	}
	r, err := b.store.Request(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return approval.Request{}, diagnose.Errorf(diagnose.ENOTFOUND, "I have no such approval request")
	}
	if err != nil {
		return approval.Request{}, err
	}
	return r, nil
}

// dm tells user something in their DM with the bot, for answers with no
// channel to go to (a modal's submission).
func (b *Bot) dm(ctx context.Context, user, text string) {
	ch, _, _, err := b.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
	if err != nil {
		b.apiError(ctx, "conversations.open", err)
		return
	}
	b.deliver(ctx, destination{Channel: ch.ID}, message{Text: fallbackMrkdwn(text), Blocks: sections(text)})
}

// retry is the Retry click after a partial failure: an approver applies the
// policies that failed, and only those.
func (b *Bot) retry(ctx context.Context, c click, id string) {
	dst := c.dst()
	a, ok := b.loadApproval(ctx, dst, id)
	if !ok {
		return
	}
	if a.State != approval.StateFailed {
		b.say(ctx, dst, stateText(a))
		return
	}
	if text, ok := b.mayDecide(ctx, a, c.user, "retry"); !ok {
		b.say(ctx, dst, text)
		return
	}
	if !b.apply(ctx, a, approval.StateFailed, c.user) {
		b.transitioned(ctx, dst, a.ID, store.ErrConflict)
	}
}
