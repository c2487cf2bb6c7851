package bot

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
)

// maxQueryLen bounds a tenant query: a GUID, a domain (253) or a customer's
// name. Longer text without an error code in it is not a question we read.
const maxQueryLen = 256

// ackMessage is the immediate answer to a slash command (Slack shows it to
// the user alone); nil acknowledges with an empty 200.
type ackMessage struct {
	ResponseType string        `json:"response_type,omitempty"`
	Text         string        `json:"text"`
	Blocks       []slack.Block `json:"blocks,omitempty"`
}

// slackLinkRE matches the links Slack makes of what people type (the
// manifest's should_escape, and every message event): "contoso.com" arrives as
// <http://contoso.com|contoso.com>. User and channel mentions (<@U…>, <#C…>)
// are left alone: the approvers command reads them.
var slackLinkRE = regexp.MustCompile(`<((?:https?|mailto):[^<>|]*)(?:\|([^<>]*))?>`)

// unlinkText turns Slack's links back into the text that was typed.
func unlinkText(s string) string {
	return slackLinkRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := slackLinkRE.FindStringSubmatch(m)
		if sub[2] != "" {
			return sub[2]
		}
		return sub[1]
	})
}

func ephemeral(text string) *ackMessage {
	return &ackMessage{ResponseType: slack.ResponseTypeEphemeral, Text: text}
}

// command handles /ca-check. It returns within Slack's 3 seconds: it parses,
// queues the work, and acknowledges; the answer comes from the worker.
func (b *Bot) command(ctx context.Context, cmd slack.SlashCommand) *ackMessage {
	text := strings.TrimSpace(unlinkText(cmd.Text))
	word, rest, _ := strings.Cut(text, " ")
	dst := destination{Channel: cmd.ChannelID, User: cmd.UserID, ResponseURL: cmd.ResponseURL, Private: true}
	log := b.logger(ctx)

	word = strings.ToLower(word)
	switch word {
	case "", "help", "-h", "--help", "?":
		b.m.commands.WithLabelValues("help").Inc()
		return helpAck()
	// The audit and revert decide who may themselves: ca-check admins, the
	// tenant's approvers (often customer admins of another workspace) and,
	// for a revert, its requester.
	case "audit":
		b.m.commands.WithLabelValues("audit").Inc()
		query := strings.TrimSpace(rest)
		if len(query) > maxQueryLen {
			return ephemeral(":warning: That is too long for a tenant.")
		}
		return b.queue(ctx, "audit", func(ctx context.Context) { b.audit(ctx, dst, query) }, "Reading the audit log…")
	case "revert":
		b.m.commands.WithLabelValues("revert").Inc()
		id := strings.TrimSpace(rest)
		if b.changer == nil {
			return ephemeral(":construction: Approvals are not configured in this ca-check, so there is nothing to revert.")
		}
		return b.queue(ctx, "revert", func(ctx context.Context) { b.revert(ctx, dst, dst.User, id) }, "Reverting…")
	}
	// Everything else is about customers: only the partner's own people may
	// ask. The payload alone refuses another organization's user at once;
	// users.info and the engineer group decide in the worker.
	who := asker{User: cmd.UserID, Team: cmd.TeamID, Enterprise: cmd.EnterpriseID}
	if why := b.foreign(who); why != "" {
		b.m.commands.WithLabelValues("refused").Inc()
		b.refused(ctx, refusal{asker: who, Channel: cmd.ChannelID, Path: "command", Why: why})
		return ephemeral(refusalText(why))
	}
	queue := func(name string, fn func(context.Context), ack string) *ackMessage {
		return b.queue(ctx, name, b.asEngineer(who, dst, "command", false, fn), ack)
	}

	switch word {
	case "link":
		b.m.commands.WithLabelValues("link").Inc()
		query := strings.TrimSpace(rest)
		if len(query) > maxQueryLen {
			return ephemeral(":warning: That is too long for a tenant. Type `/ca-check link contoso.com` (a domain, a tenant ID, or the customer's name).")
		}
		return queue("link", func(ctx context.Context) { b.link(ctx, dst, query) },
			ackText(query == "", "Looking up this channel's link…", "Linking this channel to *"+diagnose.EscapeMrkdwn(query)+"*…"))
	case "unlink":
		b.m.commands.WithLabelValues("unlink").Inc()
		return queue("unlink", func(ctx context.Context) { b.unlink(ctx, dst) }, "Unlinking this channel…")
	case "approvers":
		b.m.commands.WithLabelValues("approvers").Inc()
		args := strings.Fields(rest)
		return queue("approvers", func(ctx context.Context) { b.approvers(ctx, dst, args) }, "Looking up the approvers…")
	}

	if errs := diagnose.ParseErrors(text); len(errs) > 0 {
		b.m.commands.WithLabelValues("paste").Inc()
		log.Info("slash command", "kind", "paste", "text_len", len(text), "codes", codesOf(errs))
		return queue("paste", func(ctx context.Context) { b.answer(ctx, dst, question{Errors: errs}) },
			fmt.Sprintf("Reading the %s you pasted…", plural(len(errs), "error", fmt.Sprintf("%d errors", len(errs)))))
	}
	if len(text) > maxQueryLen || strings.Count(text, "\n") > 0 {
		b.m.commands.WithLabelValues("usage").Inc()
		return ephemeral(":thinking_face: I found no AADSTS error code in that, and it is too long to be a tenant. Paste the whole error message (it contains `AADSTS` and a number), or type `/ca-check contoso.com`.")
	}
	b.m.commands.WithLabelValues("diagnose").Inc()
	log.Info("slash command", "kind", "diagnose", "text_len", len(text))
	return queue("diagnose", func(ctx context.Context) { b.answer(ctx, dst, question{Query: text}) },
		"Checking *"+diagnose.EscapeMrkdwn(text)+"*…")
}

func ackText(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// queue hands fn to the worker pool and returns the ack saying so, or, when
// the pool is full, an ack saying to retry.
func (b *Bot) queue(ctx context.Context, name string, fn func(context.Context), ack string) *ackMessage {
	if !b.pool.submit(ctx, name, fn) {
		b.logger(ctx).Warn("work queue full", "job", name)
		return ephemeral(":hourglass: I'm busy with other checks right now. Please try again in a minute.")
	}
	return ephemeral(ack)
}

func helpAck() *ackMessage {
	text := "*ca-check* finds the Conditional Access policies that block your GDAP (service provider) staff in a customer tenant, and how to unblock them.\n" +
		"• `/ca-check contoso.com` — check a customer: a verified domain, a tenant ID, or the customer's name from your GDAP relationships\n" +
		"• `/ca-check <pasted error>` — paste a sign-in error (AADSTS53003 and friends); I read the code, the correlation ID and the tenant from it\n" +
		"• `/ca-check link contoso.com` — link this channel to a customer, so checks and pastes here default to it; `/ca-check link` shows the link\n" +
		"• `/ca-check unlink` — remove this channel's link\n" +
		"• `/ca-check approvers contoso.com list|add @user|remove @user` — who approves changes in a customer tenant (ca-check admins)\n" +
		"• `/ca-check audit contoso.com` — every approval request and change in a customer tenant\n" +
		"• `/ca-check revert <request ID>` — undo an applied change, within the revert window\n" +
		"• `/ca-check help` — this list\n" +
		"You can also paste an error into any thread in a channel I'm in, or mention me with it; I answer in the thread."
	return &ackMessage{ResponseType: slack.ResponseTypeEphemeral, Text: text}
}

// link links dst.Channel to the tenant query names, or shows the link when
// query is empty.
func (b *Bot) link(ctx context.Context, dst destination, query string) {
	if query == "" {
		l, err := b.store.ChannelLink(ctx, dst.Channel)
		switch {
		case errors.Is(err, store.ErrNotFound):
			b.say(ctx, dst, "This channel is not linked to a customer. Link it with `/ca-check link contoso.com`.")
		case err != nil:
			b.storeError(ctx, "channel link", err)
			b.say(ctx, dst, userMessage(ctx, err))
		default:
			b.say(ctx, dst, fmt.Sprintf("This channel is linked to *%s* by %s, %s.", tenantLabel(diagnose.Tenant{ID: l.TenantID, DisplayName: l.TenantName}), userRef(l.LinkedBy), slackDate(l.LinkedAt)))
		}
		return
	}
	if msg, ok := b.mayLink(ctx, dst.User); !ok {
		b.say(ctx, dst, msg)
		return
	}
	t, err := b.diag.ResolveTenant(ctx, query)
	if err != nil {
		b.say(ctx, dst, userMessage(ctx, err))
		return
	}
	name := t.DisplayName
	if name == "" {
		name = t.DefaultDomain
	}
	if err := b.store.LinkChannel(ctx, store.Link{ChannelID: dst.Channel, TenantID: t.ID, TenantName: name, LinkedBy: dst.User, LinkedAt: b.now()}); err != nil {
		b.storeError(ctx, "link channel", err)
		b.say(ctx, dst, userMessage(ctx, err))
		return
	}
	b.logger(ctx).Info("channel linked", "channel", dst.Channel, "tenant", t.ID, "by", dst.User)
	// Everyone in the channel should know which customer it now answers for.
	pub := dst
	pub.Private = false
	b.deliver(ctx, pub, message{
		Text:   fallback("This channel is now linked to " + plainLabel(t)),
		Blocks: sections(fmt.Sprintf(":link: %s linked this channel to *%s* (`%s`). Checks and pasted errors here now default to it; `/ca-check unlink` undoes this.", userRef(dst.User), tenantLabel(t), diagnose.EscapeMrkdwn(t.ID))),
	})
}

func (b *Bot) unlink(ctx context.Context, dst destination) {
	if msg, ok := b.mayLink(ctx, dst.User); !ok {
		b.say(ctx, dst, msg)
		return
	}
	err := b.store.UnlinkChannel(ctx, dst.Channel)
	switch {
	case errors.Is(err, store.ErrNotFound):
		b.say(ctx, dst, "This channel was not linked to a customer; nothing to undo.")
	case err != nil:
		b.storeError(ctx, "unlink channel", err)
		b.say(ctx, dst, userMessage(ctx, err))
	default:
		b.logger(ctx).Info("channel unlinked", "channel", dst.Channel, "by", dst.User)
		pub := dst
		pub.Private = false
		b.deliver(ctx, pub, message{
			Text:   "This channel is no longer linked to a customer",
			Blocks: sections(fmt.Sprintf(":broken_chain: %s unlinked this channel; I'll ask which customer a paste is about.", userRef(dst.User))),
		})
	}
}

// mayLink checks that user may change a channel's link: a configured admin
// if any are configured, and in any case someone who may ask (a full member
// of the partner's workspace, not a guest or a Slack Connect user from
// another organization, who could otherwise point the channel's questions at
// another tenant). The asker check is the one the command passed already,
// from the cache.
func (b *Bot) mayLink(ctx context.Context, user string) (string, bool) {
	if !b.cfg.isAdmin(user) {
		return ":no_entry_sign: Only the ca-check admins can link or unlink channels. Ask one of them: " + userList(b.cfg.AdminUsers) + ".", false
	}
	switch b.mayAsk(ctx, asker{User: user}) {
	case "":
		return "", true
	case whyUnverified:
		return refusalText(whyUnverified), false
	}
	return ":no_entry_sign: Guests and people from other organisations cannot link or unlink channels.", false
}

func userList(ids []string) string {
	refs := make([]string, len(ids))
	for i, id := range ids {
		refs[i] = userRef(strings.TrimSpace(id))
	}
	return strings.Join(refs, ", ")
}

// codesOf lists the AADSTS codes of errs, for logs (never the pasted text).
func codesOf(errs []diagnose.SignInError) []int {
	out := make([]int, len(errs))
	for i, e := range errs {
		out[i] = e.Code
	}
	return out
}
