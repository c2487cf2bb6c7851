package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
)

// requestApproval turns a diagnosis into an approval request and sends it to
// the tenant's approvers.
func (b *Bot) requestApproval(ctx context.Context, c click, value string) {
	if b.changer == nil {
		b.whisper(ctx, c.dst(), message{
			Text:   "Approvals are not configured in this ca-check; use the guide.",
			Blocks: sections(":construction: Approvals are not configured in this ca-check. Click *Show guide* and send the steps to the customer's admin; *Re-check* confirms the fix once they have made it."),
		})
		return
	}
	rec, d, errs, ok := b.record(ctx, c, value)
	if !ok {
		return
	}
	var plans []diagnose.Plan
	for _, r := range d.Blocking() {
		if r.Plan != nil && !r.Plan.NoChange {
			plans = append(plans, *r.Plan)
		}
	}
	t := tenantOf(d)
	if t.ID == "" {
		t = diagnose.Tenant{ID: rec.TenantID, DisplayName: rec.TenantName}
	}
	if len(plans) == 0 || t.ID == "" {
		b.say(ctx, c.dst(), ":white_check_mark: Nothing to approve: no blocking policy needs a change.")
		return
	}
	// A second click on the same answer points at the open request rather
	// than asking the approvers twice. Requests past their expiry are closed
	// first (as the sweep would), so that they neither block a new one nor
	// stay pending beside it.
	b.expire(ctx)
	open, err := b.store.PendingFor(ctx, t.ID)
	if err != nil {
		b.storeError(ctx, "pending requests", err)
		b.say(ctx, c.dst(), userMessage(ctx, err))
		return
	}
	for _, r := range open {
		if r.DiagnosisID == rec.ID && r.ExpiresAt.After(b.now()) {
			b.say(ctx, c.dst(), fmt.Sprintf(":hourglass_flowing_sand: Approval for this diagnosis was already requested by %s (request `%s`); it is waiting for the customer's admin.", userRef(r.RequestedBy), shortID(r.ID)))
			return
		}
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

// openRequest stores a new request for plans and sends it to the tenant's
// approvers; problems are told to dst. It returns the request's ID, "" when
// none was made.
func (b *Bot) openRequest(ctx context.Context, dst destination, draft approval.Request, plans []diagnose.Plan) string {
	approvers, err := b.store.Approvers(ctx, draft.TenantID)
	if err != nil {
		b.storeError(ctx, "approvers", err)
		b.say(ctx, dst, userMessage(ctx, err))
		return ""
	}
	t := diagnose.Tenant{ID: draft.TenantID, DisplayName: draft.TenantName}
	others := slices.DeleteFunc(slices.Clone(approvers), func(u string) bool { return u == draft.RequestedBy })
	if len(others) == 0 {
		why := "has no approvers"
		if len(approvers) > 0 {
			why = "has no approver besides you, and nobody may approve their own request"
		}
		b.say(ctx, dst, fmt.Sprintf(":no_entry_sign: %s %s. A ca-check admin adds the customer's admins with `/ca-check approvers %s add @user`; until then, *Show guide* has the steps to send them.",
			tenantLabel(t), why, diagnose.EscapeMrkdwn(draft.TenantID)))
		return ""
	}
	id, err := approval.NewID()
	if err != nil {
		b.storeError(ctx, "new request ID", err)
		b.say(ctx, dst, userMessage(ctx, err))
		return ""
	}
	now := b.now()
	draft.ID, draft.State, draft.Plans = id, approval.StatePending, plans
	draft.CreatedAt, draft.ExpiresAt = now, now.Add(b.cfg.approvalTTL())
	draft.Outcomes = approval.NewOutcomes(plans)
	switch err := b.store.CreateRequest(ctx, draft); {
	case errors.Is(err, store.ErrConflict):
		// Another click (or replica) asked first: the store keeps one
		// pending request per diagnosis.
		b.say(ctx, dst, ":hourglass_flowing_sand: Approval for this diagnosis was just requested by someone else; it is waiting for the customer's admin.")
		return ""
	case err != nil:
		b.storeError(ctx, "create request", err)
		b.say(ctx, dst, userMessage(ctx, err))
		return ""
	}
	a := draft
	b.logger(ctx).Info("approval requested", "request", id, "tenant", draft.TenantID, "by", draft.RequestedBy, "policies", len(plans), "approvers", len(others))

	reached := make([]notice, 0, len(others))
	for _, u := range others {
		reached = append(reached, b.notify(ctx, a, u))
	}
	b.deliver(ctx, destination{Channel: a.ChannelID, ThreadTS: a.ThreadTS}, message{
		Text:   fallbackMrkdwn(waitingText(a, reached)),
		Blocks: sections(waitingText(a, reached)),
	})
	return id
}

// How a request reached an approver.
const (
	viaDM        = "dm"
	viaEphemeral = "ephemeral"
	viaNone      = "none"
)

// notice is a request message sent to an approver; the ones sent by DM are
// updated when the request is decided. Kept in the audit log (action
// "notified"), so that any replica can find them.
type notice struct {
	User    string `json:"user"`
	Via     string `json:"via"`
	Channel string `json:"channel,omitempty"`
	TS      string `json:"ts,omitempty"`
	Error   string `json:"error,omitempty"` // Slack's error code for the DM
}

// notify sends the request to one approver: by DM, or, where Slack refuses
// the DM (Slack Connect users of another organisation often cannot be
// DMed), by ephemeral messages in the tenant's linked channel. A request in
// several parts goes out part by part, stopping at the first refusal, so
// the buttons (under the last part) never arrive without every plan above
// them.
func (b *Bot) notify(ctx context.Context, a approval.Request, user string) notice {
	msgs := requestMessages(a, "")
	n := notice{User: user, Via: viaDM}
	ch, _, _, err := b.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
	if err == nil {
		var ts string
		for i, msg := range msgs {
			if _, ts, err = b.api.PostMessageContext(ctx, ch.ID, slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(msg.Blocks...)); err != nil {
				b.apiError(ctx, "chat.postMessage", err)
				if i > 0 {
					// Earlier parts arrived without buttons; the
					// ephemeral copy below is the whole request.
					b.logger(ctx).Warn("approval request DM cut short", "request", a.ID, "user", user, "parts_sent", i, "parts", len(msgs))
				}
				break
			}
		}
		if err == nil {
			n.Channel, n.TS = ch.ID, ts
		}
	} else {
		b.apiError(ctx, "conversations.open", err)
	}
	if err != nil {
		n.Error = slackErrorCode(err)
		n.Via, n.Channel = viaEphemeral, b.linkedChannel(ctx, a.TenantID, a.ChannelID)
		for _, msg := range msgs {
			if _, perr := b.api.PostEphemeralContext(ctx, n.Channel, user, slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(msg.Blocks...)); perr != nil {
				b.apiError(ctx, "chat.postEphemeral", perr)
				n.Via, n.Channel = viaNone, ""
				break
			}
		}
	}
	if err := b.store.AppendAudit(ctx, approval.AuditRecord{
		RequestID: a.ID, TenantID: a.TenantID, Actor: auditActor, Action: "notified", At: b.now(), Detail: auditDetail(n),
	}); err != nil {
		b.storeError(ctx, "audit notice", err)
	}
	// Another approver may have decided while this DM was on its way, after
	// the DMs were closed: close this one too.
	if n.Via == viaDM {
		if now, err := b.store.Request(ctx, a.ID); err == nil && now.State != approval.StatePending {
			b.closeNotice(ctx, n, lastPart(requestMessages(now, stateText(now))))
		}
	}
	return n
}

// lastPart is the part of a request that carries its buttons, or its status
// once decided: the message a notice points at.
func lastPart(msgs []message) message { return msgs[len(msgs)-1] }

// closeNotice replaces the message n points at with msg.
func (b *Bot) closeNotice(ctx context.Context, n notice, msg message) {
	if _, _, _, err := b.api.UpdateMessageContext(ctx, n.Channel, n.TS, slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(msg.Blocks...)); err != nil {
		b.apiError(ctx, "chat.update", err)
	}
}

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

// notices returns the DMs sent about a request.
func (b *Bot) notices(ctx context.Context, id string) []notice {
	recs, err := b.store.RequestAudit(ctx, id)
	if err != nil {
		b.storeError(ctx, "request audit", err)
		return nil
	}
	var out []notice
	for _, r := range recs {
		var n notice
		if r.Action == "notified" && json.Unmarshal(r.Detail, &n) == nil && n.Via == viaDM && n.TS != "" {
			out = append(out, n)
		}
	}
	return out
}

// closeNotices replaces the buttons of every DM about the request with its
// final status, so that an old message cannot be used to decide again (the
// store refuses that anyway).
func (b *Bot) closeNotices(ctx context.Context, a approval.Request, status string, extra ...slack.Block) {
	msg := lastPart(requestMessages(a, status, extra...))
	for _, n := range b.notices(ctx, a.ID) {
		b.closeNotice(ctx, n, msg)
	}
}

// thread posts text in the request's thread.
func (b *Bot) thread(ctx context.Context, a approval.Request, msg message) {
	b.deliver(ctx, destination{Channel: a.ChannelID, ThreadTS: a.ThreadTS}, msg)
}

func (b *Bot) threadText(ctx context.Context, a approval.Request, text string) {
	b.thread(ctx, a, message{Text: fallbackMrkdwn(text), Blocks: sections(text)})
}
