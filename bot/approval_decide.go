package bot

import (
	"context"
	"errors"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/diagnose"
)

// errSlackUser is Slack failing to say who a user is (users.info), when
// their email is needed to check their admin role.
var errSlackUser = errors.New("users.info failed")

// actor is who clicked, for the approval service: the user comes from
// Slack's signed payload, never from a button's value; their email is read
// from Slack only when the service checks admin roles.
func (b *Bot) actor(user string) approval.Actor {
	return approval.Actor{
		ID:    user,
		Admin: b.cfg.isBotAdmin(user),
		Email: func(ctx context.Context) (string, error) {
			u, err := b.api.GetUserInfoContext(ctx, user)
			if err != nil {
				b.apiError(ctx, "users.info", err)
				return "", fmt.Errorf("%w: %w", errSlackUser, err)
			}
			return u.Profile.Email, nil
		},
	}
}

// service is the approval service; ErrNotConfigured without one.
func (b *Bot) service() (*approval.Service, error) {
	if b.approvals == nil {
		return nil, approval.ErrNotConfigured
	}
	return b.approvals, nil
}

// decisionText says why an approval action (Approve, Reject, Retry,
// Revert) did nothing.
func decisionText(ctx context.Context, err error) string {
	var (
		state   *approval.StateError
		refused *approval.RefusedError
		window  *approval.WindowError
	)
	switch {
	case errors.Is(err, approval.ErrBadID):
		return ":warning: That does not name an approval request."
	case errors.Is(err, approval.ErrNotFound):
		return ":mag: I have no such approval request."
	case errors.Is(err, approval.ErrNotConfigured):
		return ":construction: Approvals are not configured in this ca-check."
	case errors.As(err, &state):
		return stateText(state.Request)
	case errors.Is(err, approval.ErrExpired):
		return ":alarm_clock: This request expired without a decision. Ask again from a fresh diagnosis."
	case errors.Is(err, approval.ErrConflict):
		return ":information_source: Someone else decided this request just now."
	case errors.As(err, &refused):
		return refusedText(refused)
	case errors.Is(err, errSlackUser):
		return ":warning: I could not check who you are with Slack; please try again."
	case errors.As(err, &window):
		return ":alarm_clock: The revert window of this change ended " + slackDate(window.Until) + ". Change the policy in the Entra admin center instead."
	case errors.Is(err, approval.ErrReverting):
		return ":information_source: This change is already being reverted; see the thread."
	}
	return userMessage(ctx, err)
}

// refusedText says why the service refused a decision.
func refusedText(e *approval.RefusedError) string {
	t := tenantLabel(e.Request.Tenant())
	switch e.Why {
	case approval.WhyNoUser:
		return ":no_entry_sign: I cannot tell who clicked."
	case approval.WhyRequester:
		return ":no_entry_sign: You asked for this change, so you cannot approve or reject it yourself: another approver of " + t + " must decide."
	case approval.WhyNoEmail:
		return ":no_entry_sign: Slack shows me no email address for you, so I cannot check your admin role in " + t + "."
	case approval.WhyNoAdminRole:
		return fmt.Sprintf(":no_entry_sign: %s is not an active Global, Security or Conditional Access Administrator in %s, so you cannot decide this request.",
			diagnose.EscapeMrkdwn(e.Email), t)
	case approval.WhyNotReverter:
		return ":no_entry_sign: Only the requester, the approvers of " + t + " or a ca-check admin can revert this change."
	}
	return ":no_entry_sign: Only the approvers of " + t + " can decide this request, and you are not one. A ca-check admin manages them with `/ca-check approvers`."
}

// approve is the Approve click.
func (b *Bot) approve(ctx context.Context, c click, id string) {
	svc, err := b.service()
	if err == nil {
		err = svc.Approve(ctx, id, b.actor(c.user))
	}
	if err != nil {
		b.say(ctx, c.dst(), decisionText(ctx, err))
	}
}

// retry is the Retry click after a partial failure: an approver applies
// the policies that failed, and only those.
func (b *Bot) retry(ctx context.Context, c click, id string) {
	svc, err := b.service()
	if err == nil {
		err = svc.Retry(ctx, id, b.actor(c.user))
	}
	if err != nil {
		b.say(ctx, c.dst(), decisionText(ctx, err))
	}
}

// openReject is the Reject click: the service checks who may decide, then
// a modal asks for an optional reason; the rejection happens when it is
// submitted.
func (b *Bot) openReject(ctx context.Context, c click, id string) {
	svc, err := b.service()
	var r approval.Request
	if err == nil {
		r, err = svc.MayReject(ctx, id, b.actor(c.user))
	}
	if err != nil {
		b.say(ctx, c.dst(), decisionText(ctx, err))
		return
	}
	if _, err := b.api.OpenViewContext(ctx, c.triggerID, rejectView(r)); err != nil {
		b.apiError(ctx, "views.open", err)
		b.say(ctx, c.dst(), ":warning: Slack did not open the rejection form (it allows 3 seconds); click *Reject* again.")
	}
}

// reject is the Reject modal's submission; what went wrong goes to the
// user's DM with the bot, as a modal has no channel to answer in.
func (b *Bot) reject(ctx context.Context, user, id, reason string) {
	svc, err := b.service()
	if err == nil {
		err = svc.Reject(ctx, id, b.actor(user), reason)
	}
	if err != nil {
		b.dm(ctx, user, decisionText(ctx, err))
	}
}

// revert is the Revert click and /ca-check revert.
func (b *Bot) revert(ctx context.Context, dst destination, user, id string) {
	svc, err := b.service()
	if err == nil {
		err = svc.Revert(ctx, id, b.actor(user))
	}
	if state, ok := errors.AsType[*approval.StateError](err); ok {
		b.say(ctx, dst, stateText(state.Request)+" Only an applied request can be reverted.")
		return
	}
	if err != nil {
		b.say(ctx, dst, decisionText(ctx, err))
	}
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
