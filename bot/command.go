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

// verb is one /ca-check subcommand: its help line and what it does. The
// help and the dispatch are built from one table, so neither can forget one.
type verb struct {
	name  string
	usage string // how it is typed, as the help shows it
	help  string
	// open verbs decide who may use them themselves (ca-check admins, a
	// tenant's approvers, a request's requester); every other verb is only
	// for those who may ask (access.go).
	open bool
	run  func(b *Bot, ctx context.Context, s slash) *ackMessage
}

// slash is one slash command as its verb sees it.
type slash struct {
	dst  destination
	who  asker
	rest string // the text after the verb
	// gated work runs only when who may ask; open verbs check for
	// themselves.
	gated bool
}

// verbs are the subcommands, in the order the help lists them.
func verbs() []verb {
	return []verb{
		{name: "link", usage: "`/ca-check link contoso.com`", help: "link this channel to a customer, so checks and pastes here default to it; `/ca-check link` shows the link", run: (*Bot).cmdLink},
		{name: "unlink", usage: "`/ca-check unlink`", help: "remove this channel's link", run: (*Bot).cmdUnlink},
		{name: "approvers", usage: "`/ca-check approvers contoso.com list|add @user|remove @user`", help: "who approves changes in a customer tenant (ca-check admins)", run: (*Bot).cmdApprovers},
		{name: "audit", usage: "`/ca-check audit contoso.com`", help: "every approval request and change in a customer tenant (ca-check admins and its approvers)", open: true, run: (*Bot).cmdAudit},
		{name: "scan", usage: "`/ca-check scan [contoso.com, Fabrikam …] [--sign-ins]`", help: "check every GDAP customer (or those named) and post a digest with a CSV, here or in a DM; not in a channel linked to a customer or shared with another organization", run: (*Bot).cmdScan},
		{name: "revert", usage: "`/ca-check revert <request ID>`", help: "undo an applied change, within the revert window", open: true, run: (*Bot).cmdRevert},
	}
}

// command handles /ca-check. It returns within Slack's 3 seconds: it parses,
// queues the work, and acknowledges; the answer comes from the worker.
func (b *Bot) command(ctx context.Context, cmd slack.SlashCommand) *ackMessage {
	text := strings.TrimSpace(unlinkText(cmd.Text))
	word, rest, _ := strings.Cut(text, " ")
	rest = strings.TrimSpace(rest)
	word = strings.ToLower(word)
	dst := destination{Channel: cmd.ChannelID, User: cmd.UserID, ResponseURL: cmd.ResponseURL, Private: true}

	switch word {
	case "", "help", "-h", "--help", "?":
		b.m.commands.WithLabelValues("help").Inc()
		return helpAck()
	}
	var v *verb
	for _, x := range verbs() {
		if x.name == word {
			v = &x
		}
	}
	who := asker{User: cmd.UserID, Team: cmd.TeamID, Enterprise: cmd.EnterpriseID}
	if v != nil && v.open {
		b.m.commands.WithLabelValues(v.name).Inc()
		return v.run(b, ctx, slash{dst: dst, who: who, rest: rest})
	}
	// Everything else is about customers: only the partner's own people may
	// ask. The payload alone refuses another organization's user at once;
	// users.info and the engineer group decide in the worker (asEngineer).
	if why := b.foreign(who); why != "" {
		b.m.commands.WithLabelValues("refused").Inc()
		b.refused(ctx, refusal{asker: who, Channel: cmd.ChannelID, Path: "command", Why: why})
		return ephemeral(refusalText(why))
	}
	if v != nil {
		b.m.commands.WithLabelValues(v.name).Inc()
		return v.run(b, ctx, slash{dst: dst, who: who, rest: rest, gated: true})
	}
	return b.cmdQuestion(ctx, slash{dst: dst, who: who, rest: text, gated: true})
}

// cmdQuestion is /ca-check <tenant or pasted error>.
func (b *Bot) cmdQuestion(ctx context.Context, s slash) *ackMessage {
	log := b.logger(ctx)
	text, dst := s.rest, s.dst
	if errs := diagnose.ParseErrors(text); len(errs) > 0 {
		b.m.commands.WithLabelValues("paste").Inc()
		log.Info("slash command", "kind", "paste", "text_len", len(text), "codes", codesOf(errs))
		return b.queue(ctx, s, "paste", func(ctx context.Context) { b.answer(ctx, dst, question{Errors: errs}) },
			fmt.Sprintf("Reading the %s you pasted…", plural(len(errs), "error", fmt.Sprintf("%d errors", len(errs)))))
	}
	if len(text) > maxQueryLen || strings.Count(text, "\n") > 0 {
		b.m.commands.WithLabelValues("usage").Inc()
		return ephemeral(":thinking_face: I found no AADSTS error code in that, and it is too long to be a tenant. Paste the whole error message (it contains `AADSTS` and a number), or type `/ca-check contoso.com`.")
	}
	b.m.commands.WithLabelValues("diagnose").Inc()
	log.Info("slash command", "kind", "diagnose", "text_len", len(text))
	return b.queue(ctx, s, "diagnose", func(ctx context.Context) { b.answer(ctx, dst, question{Query: text}) },
		"Checking *"+diagnose.EscapeMrkdwn(text)+"*…")
}

func (b *Bot) cmdLink(ctx context.Context, s slash) *ackMessage {
	if len(s.rest) > maxQueryLen {
		return ephemeral(":warning: That is too long for a tenant. Type `/ca-check link contoso.com` (a domain, a tenant ID, or the customer's name).")
	}
	return b.queue(ctx, s, "link", func(ctx context.Context) { b.link(ctx, s.dst, s.rest) },
		ackText(s.rest == "", "Looking up this channel's link…", "Linking this channel to *"+diagnose.EscapeMrkdwn(s.rest)+"*…"))
}

func (b *Bot) cmdUnlink(ctx context.Context, s slash) *ackMessage {
	return b.queue(ctx, s, "unlink", func(ctx context.Context) { b.unlink(ctx, s.dst) }, "Unlinking this channel…")
}

func (b *Bot) cmdApprovers(ctx context.Context, s slash) *ackMessage {
	args := strings.Fields(s.rest)
	return b.queue(ctx, s, "approvers", func(ctx context.Context) { b.approvers(ctx, s.dst, args) }, "Looking up the approvers…")
}

func (b *Bot) cmdAudit(ctx context.Context, s slash) *ackMessage {
	if len(s.rest) > maxQueryLen {
		return ephemeral(":warning: That is too long for a tenant.")
	}
	return b.queue(ctx, s, "audit", func(ctx context.Context) { b.audit(ctx, s.dst, s.rest) }, "Reading the audit log…")
}

func (b *Bot) cmdRevert(ctx context.Context, s slash) *ackMessage {
	if b.approvals == nil || !b.approvals.Configured() {
		return ephemeral(":construction: Approvals are not configured in this ca-check, so there is nothing to revert.")
	}
	return b.queue(ctx, s, "revert", func(ctx context.Context) { b.revert(ctx, s.dst, s.dst.User, s.rest) }, "Reverting…")
}

func ackText(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// queue hands a command's work to the worker pool and returns the ack
// saying so, or, when the pool is full, an ack saying to retry. Gated work
// runs only if the asker may ask.
func (b *Bot) queue(ctx context.Context, s slash, name string, fn func(context.Context), ack string) *ackMessage {
	if s.gated {
		fn = b.asEngineer(s.who, s.dst, "command", false, fn)
	}
	if !b.pool.submit(ctx, name, fn) {
		b.logger(ctx).Warn("work queue full", "job", name)
		return ephemeral(":hourglass: I'm busy with other checks right now. Please try again in a minute.")
	}
	return ephemeral(ack)
}

func helpAck() *ackMessage {
	var sb strings.Builder
	sb.WriteString("*ca-check* finds the Conditional Access policies that block your GDAP (service provider) staff in a customer tenant, and how to unblock them.\n" +
		"• `/ca-check contoso.com` — check a customer: a verified domain, a tenant ID, or the customer's name from your GDAP relationships\n" +
		"• `/ca-check <pasted error>` — paste a sign-in error (AADSTS53003 and friends); I read the code, the correlation ID and the tenant from it\n")
	for _, v := range verbs() {
		fmt.Fprintf(&sb, "• %s — %s\n", v.usage, v.help)
	}
	sb.WriteString("• `/ca-check help` — this list\n" +
		"You can also paste an error into any thread in a channel I'm in, or mention me with it; I answer in the thread.")
	return &ackMessage{ResponseType: slack.ResponseTypeEphemeral, Text: sb.String()}
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
