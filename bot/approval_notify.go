package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/diagnose"
)

// notifier is the approval service's Notifier in Slack: requests go to the
// approvers by DM (or, where Slack refuses, privately in the tenant's
// linked channel), outcomes to the engineer's thread.
type notifier struct{ b *Bot }

// Ask sends the request to one approver: by DM, or, where Slack refuses
// the DM (Slack Connect users of another organisation often cannot be
// DMed), by ephemeral messages in the tenant's linked channel. A request
// in several parts goes out part by part, stopping at the first refusal,
// so the buttons (under the last part) never arrive without every plan
// above them.
func (n notifier) Ask(ctx context.Context, r approval.Request, user string) approval.Notice {
	b := n.b
	msgs := requestMessages(r, b.partnerName(ctx), "")
	nt := approval.Notice{User: user, Via: approval.ViaDirect}
	ch, _, _, err := b.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
	if err == nil {
		var ts string
		for i, msg := range msgs {
			if _, ts, err = b.api.PostMessageContext(ctx, ch.ID, slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(msg.Blocks...)); err != nil {
				b.apiError(ctx, "chat.postMessage", err)
				if i > 0 {
					// Earlier parts arrived without buttons; the
					// ephemeral copy below is the whole request.
					b.logger(ctx).Warn("approval request DM cut short", "request", r.ID, "user", user, "parts_sent", i, "parts", len(msgs))
				}
				break
			}
		}
		if err == nil {
			nt.Channel, nt.TS = ch.ID, ts
		}
	} else {
		b.apiError(ctx, "conversations.open", err)
	}
	if err != nil {
		nt.Error = slackErrorCode(err)
		nt.Via, nt.Channel = approval.ViaChannel, b.linkedChannel(ctx, r.TenantID, r.ChannelID)
		for _, msg := range msgs {
			if _, perr := b.api.PostEphemeralContext(ctx, nt.Channel, user, slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(msg.Blocks...)); perr != nil {
				b.apiError(ctx, "chat.postEphemeral", perr)
				nt.Via, nt.Channel = approval.ViaNone, ""
				break
			}
		}
	}
	return nt
}

// Close replaces the buttons of the approvers' DMs with the request's
// status: the last part of each, which carries them.
func (n notifier) Close(ctx context.Context, r approval.Request, copies []approval.Notice, e approval.Event) {
	status, extra := statusOf(r, e)
	msg := lastPart(requestMessages(r, n.b.partnerName(ctx), status, extra...))
	for _, c := range copies {
		if _, _, _, err := n.b.api.UpdateMessageContext(ctx, c.Channel, c.TS, slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(msg.Blocks...)); err != nil {
			n.b.apiError(ctx, "chat.update", err)
		}
	}
}

// Tell posts the event in the request's thread.
func (n notifier) Tell(ctx context.Context, r approval.Request, e approval.Event) {
	var msg message
	switch e.Kind {
	case approval.Settled:
		msg = resultMessage(r, e.By, n.b.partnerName(ctx), e.RevertUntil)
	case approval.Failed:
		msg = mrkdwnMessage(openError(ctx, r, e.Err))
	default:
		msg = mrkdwnMessage(threadText(r, e, n.b.partnerName(ctx)))
	}
	n.b.deliver(ctx, destination{Channel: r.ChannelID, ThreadTS: r.ThreadTS}, msg)
}

func mrkdwnMessage(text string) message {
	return message{Text: fallbackMrkdwn(text), Blocks: sections(text)}
}

// lastPart is the part of a request that carries its buttons, or its status
// once decided: the message a notice points at.
func lastPart(msgs []message) message { return msgs[len(msgs)-1] }

// linkedChannel is the channel linked to the tenant, where an approver who
// cannot be DMed gets the request; else the channel the request came from.
func (b *Bot) linkedChannel(ctx context.Context, tenantID, otherwise string) string {
	links, err := b.store.Links(ctx)
	if err != nil {
		b.storeError(ctx, "links", err)
		return otherwise
	}
	for _, l := range links {
		if strings.EqualFold(l.TenantID, tenantID) {
			return l.ChannelID
		}
	}
	return otherwise
}

// statusOf is what replaces the buttons of an approver's copy after e,
// with the buttons that still make sense (Retry after a failure).
func statusOf(r approval.Request, e approval.Event) (string, []slack.Block) {
	switch e.Kind {
	case approval.Approved:
		return ":gear: Approved by " + userRef(e.By) + "; applying…", nil
	case approval.Rejected:
		return ":no_entry: Rejected by " + userRef(e.By) + ".", nil
	case approval.Expired:
		return ":alarm_clock: Expired without a decision; nothing was changed.", nil
	case approval.Reverted:
		return ":leftwards_arrow_with_hook: Applied, then reverted by " + userRef(e.By) + ".", nil
	case approval.Settled:
		switch r.State {
		case approval.StateApplied:
			return fmt.Sprintf(":white_check_mark: Approved by %s and applied: %s.", userRef(r.DecidedBy), boldNames(r.Names(approval.OutcomeApplied, approval.OutcomeUnchanged))), nil
		case approval.StateSuperseded:
			status := ":arrows_counterclockwise: Approved by " + userRef(r.DecidedBy) + ", but the policies changed since the plan: nothing was written."
			if slices.ContainsFunc(r.Outcomes, func(o approval.Outcome) bool { return o.Replanned }) {
				status += " A new request follows."
			}
			return status, nil
		case approval.StateFailed:
			return fmt.Sprintf(":warning: Approved by %s. Applied: %s. *Failed:* %s.", userRef(r.DecidedBy),
					orNone(boldNames(r.Names(approval.OutcomeApplied, approval.OutcomeUnchanged))), boldNames(r.Names(approval.OutcomeFailed))),
				[]slack.Block{slack.NewActionBlock("retry-"+r.ID, button(actionRetry, r.ID, "Retry the failed policies").WithStyle(slack.StylePrimary))}
		}
	}
	return stateText(r), nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// threadText is what the thread is told of e, besides an apply's report
// (resultMessage) and a failure.
func threadText(r approval.Request, e approval.Event, partnerName string) string {
	t := tenantLabel(r.Tenant())
	switch e.Kind {
	case approval.Requested:
		return waitingText(r, e.Notices)
	case approval.Rejected:
		text := fmt.Sprintf(":no_entry: %s rejected the request to change %d %s in %s; nothing was changed.",
			userRef(e.By), len(r.Plans), plural(len(r.Plans), "policy", "policies"), t)
		if e.Reason != "" {
			text += "\n*Reason:* " + truncateMrkdwn(diagnose.EscapeMrkdwn(e.Reason), 1000)
		}
		return text
	case approval.Expired:
		return fmt.Sprintf(":alarm_clock: The request to change %d %s in %s (`%s`) expired without a decision; nothing was changed. %s, click *Request approval* on a fresh diagnosis to ask again.",
			len(r.Plans), plural(len(r.Plans), "policy", "policies"), t, shortID(r.ID), userRef(r.RequestedBy))
	case approval.Reconciled:
		if e.Unread != "" {
			return fmt.Sprintf(":recycle: ca-check was interrupted while applying request `%s`, and since then I could not read the policies of %s to see what happened: %s",
				shortID(r.ID), t, diagnose.EscapeMrkdwn(e.Unread))
		}
		return fmt.Sprintf(":recycle: ca-check was interrupted while applying request `%s`; I read the policies of %s again to see what happened.", shortID(r.ID), t)
	case approval.ReportedLate:
		return fmt.Sprintf(":recycle: ca-check stopped before it reported request `%s` in %s; here is how it went.", shortID(r.ID), t)
	case approval.Reverted:
		return revertText(r, e.By, partnerName)
	case approval.RevertInterrupted:
		return fmt.Sprintf(":recycle: ca-check was interrupted while reverting request `%s` in %s, and changes nothing more. *Revert* again (`/ca-check revert %s`) restores what it had not restored yet.",
			shortID(r.ID), t, r.ID)
	}
	return stateText(r)
}

// partnerNamer is a Diagnoser that can name the partner's organization;
// graphclient reads it once from the partner tenant.
type partnerNamer interface {
	PartnerName(ctx context.Context) (string, error)
}

// partnerName is the partner organization's display name, for what a
// customer admin reads; "" when Graph cannot say (the text then gives the
// partner's tenant ID alone).
func (b *Bot) partnerName(ctx context.Context) string {
	pn, ok := b.diag.(partnerNamer)
	if !ok {
		return ""
	}
	name, err := pn.PartnerName(ctx)
	if err != nil {
		b.logger(ctx).Warn("the partner organization's name could not be read", "code", diagnose.ErrorCode(err), "err", err)
		return ""
	}
	return name
}
