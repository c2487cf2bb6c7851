package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/scan"
)

// homeDiagnoses is how many recent diagnoses the App Home lists.
const homeDiagnoses = 15

// publishHome shows user the App Home: how to use the bot, the recent
// diagnoses and the linked channels.
func (b *Bot) publishHome(ctx context.Context, user string) {
	view := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: b.homeFor(ctx, user)}}
	if _, err := b.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: user, View: view}); err != nil {
		b.apiError(ctx, "views.publish", err)
	}
}

// homeFor is user's App Home: customer names and diagnoses only for those
// who may ask.
func (b *Bot) homeFor(ctx context.Context, user string) []slack.Block {
	if why := b.mayAsk(ctx, asker{User: user}); why != "" {
		b.refused(ctx, refusal{asker: asker{User: user}, Path: "home", Why: why})
		return outsiderHomeBlocks(why)
	}
	recent, err := b.store.RecentDiagnoses(ctx, homeDiagnoses)
	if err != nil {
		b.storeError(ctx, "recent diagnoses", err)
	}
	links, lerr := b.store.Links(ctx)
	if lerr != nil {
		b.storeError(ctx, "links", lerr)
	}
	blocks := homeBlocks(recent, err != nil, links, lerr != nil)
	last, serr := b.store.LastFullScan(ctx, b.now().Add(time.Minute))
	switch {
	case errors.Is(serr, store.ErrNotFound):
		blocks = append(blocks, lastScanBlocks(nil, false)...)
	case serr != nil:
		b.storeError(ctx, "last scan", serr)
		blocks = append(blocks, lastScanBlocks(nil, true)...)
	default:
		blocks = append(blocks, lastScanBlocks(&last, false)...)
	}
	return fitBlocks(blocks, maxHomeBlocks)
}

// lastScanBlocks is the App Home's line on the last full fleet scan: when,
// who asked, and its counts.
func lastScanBlocks(rec *store.ScanRecord, failed bool) []slack.Block {
	blocks := []slack.Block{slack.NewDividerBlock(), slack.NewHeaderBlock(plain("Fleet scan"))}
	var text string
	switch {
	case failed:
		text = ":warning: I could not read the last fleet scan just now."
	case rec == nil:
		text = "No full fleet scan yet. `/ca-check scan` checks every GDAP customer."
	default:
		var s scan.Summary
		_ = json.Unmarshal(rec.Summary, &s) // a summary the store kept; zero counts if unreadable
		by := "on the schedule"
		if rec.RequestedBy != scan.ScheduledBy {
			by = "asked by " + userRef(rec.RequestedBy)
		}
		text = fmt.Sprintf("Last full scan %s, %s: %d %s — :no_entry: %d blocked · :red_circle: %d likely · :warning: %d possibly blocked · :grey_question: %d unreadable. `/ca-check scan` runs another.",
			slackDate(rec.FinishedAt), by, s.Total(), plural(s.Total(), "customer", "customers"), s.Blocked, s.LikelyBlocked, s.PossiblyBlocked, s.Error)
	}
	return append(blocks, sections(text)...)
}

func homeBlocks(recent []store.DiagnosisRecord, recentFailed bool, links []store.Link, linksFailed bool) []slack.Block {
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain("ca-check")),
		slack.NewSectionBlock(mrkdwn("I find the Conditional Access policies that block your GDAP staff in a customer tenant, and how to unblock them.\n"+
			"• `/ca-check contoso.com` checks a customer; `/ca-check <pasted error>` reads a sign-in error\n"+
			"• paste an AADSTS error into a thread in a channel I'm in, or mention me, and I answer in the thread\n"+
			"• `/ca-check link contoso.com` makes a channel default to a customer"), nil, nil),
		slack.NewDividerBlock(),
		slack.NewHeaderBlock(plain("Recent diagnoses")),
	}
	var lines []string
	switch {
	case recentFailed:
		lines = append(lines, ":warning: I could not read the recent diagnoses just now.")
	case len(recent) == 0:
		lines = append(lines, "None yet.")
	}
	for _, r := range recent {
		name := r.TenantName
		if name == "" {
			name = r.TenantID
		}
		where := ""
		if r.ChannelID != "" {
			where = " in <#" + r.ChannelID + ">"
		}
		lines = append(lines, fmt.Sprintf("%s *%s* — %s%s, asked by %s %s",
			verdictEmoji(r.Verdict), diagnose.EscapeMrkdwn(oneLine(name)), verdictWords(r.Verdict), where, userRef(r.RequestedBy), slackDate(r.CreatedAt)))
	}
	blocks = append(blocks, sections(strings.Join(lines, "\n"))...)

	blocks = append(blocks, slack.NewDividerBlock(), slack.NewHeaderBlock(plain("Linked channels")))
	lines = lines[:0]
	switch {
	case linksFailed:
		lines = append(lines, ":warning: I could not read the channel links just now.")
	case len(links) == 0:
		lines = append(lines, "No channel is linked to a customer. In a customer's channel, type `/ca-check link contoso.com`.")
	}
	for _, l := range links {
		lines = append(lines, fmt.Sprintf("<#%s> → *%s* (`%s`), linked by %s %s",
			l.ChannelID, tenantLabel(diagnose.Tenant{DisplayName: l.TenantName}), diagnose.EscapeMrkdwn(l.TenantID), userRef(l.LinkedBy), slackDate(l.LinkedAt)))
	}
	blocks = append(blocks, sections(strings.Join(lines, "\n"))...)
	return fitBlocks(blocks, maxHomeBlocks)
}

// outsiderHomeBlocks is the App Home of someone who may not ask: what
// ca-check is, and nothing about any customer.
func outsiderHomeBlocks(why string) []slack.Block {
	text := "ca-check is the partner's support tool for Conditional Access. " + refusalText(why)
	return []slack.Block{
		slack.NewHeaderBlock(plain("ca-check")),
		slack.NewSectionBlock(mrkdwn(text+"\nApproval requests for your organization, if you approve them, come to you in a direct message."), nil, nil),
	}
}

func verdictEmoji(v string) string {
	switch diagnose.Verdict(v) {
	case diagnose.VerdictBlocked:
		return ":no_entry:"
	case diagnose.VerdictLikelyBlocked:
		return ":red_circle:"
	case diagnose.VerdictPossiblyBlocked:
		return ":warning:"
	case diagnose.VerdictNotBlocked:
		return ":white_check_mark:"
	}
	return ":grey_question:"
}

func verdictWords(v string) string {
	switch diagnose.Verdict(v) {
	case diagnose.VerdictBlocked:
		return "blocked"
	case diagnose.VerdictLikelyBlocked:
		return "likely blocked"
	case diagnose.VerdictPossiblyBlocked:
		return "possibly blocked"
	case diagnose.VerdictNotBlocked:
		return "not blocked"
	}
	return diagnose.EscapeMrkdwn(v)
}

// oneLine flattens whitespace, so a name cannot start a line of its own.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
