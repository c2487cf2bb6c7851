package bot

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/diagnose"
)

// requestTail is room kept free in the last part of a request for what
// follows the plans: the footnote and the buttons, or the status that
// replaces them once the request is decided (a few sections and buttons).
const requestTail = 10

// requestMessages is what an approver gets: the tenant, who asks and why,
// each policy's before and after with what the change widens, the expiry,
// and Approve / Reject while the request is open. status replaces the
// buttons once it is decided ("" keeps them).
//
// Every plan that Approve applies is shown, in full: when they do not fit
// one Slack message, the request is split into parts, and the buttons come
// only under the last, after every plan. The parts depend on the plans
// alone, so a decided request's last part replaces the one that had the
// buttons.
func requestMessages(a approval.Request, partnerName, status string, extra ...slack.Block) []message {
	t := a.Tenant()
	what := fmt.Sprintf("change %d Conditional Access %s in %s", len(a.Plans), plural(len(a.Plans), "policy", "policies"), plainLabel(t))
	var body []slack.Block
	head := fmt.Sprintf(":key: *Approval request: change %d Conditional Access %s in %s*\nRequested by %s so that %s can sign in.",
		len(a.Plans), plural(len(a.Plans), "policy", "policies"), tenantLabel(t), userRef(a.RequestedBy), partnerUsers(a, partnerName))
	body = append(body, sections(head)...)
	if a.Reason != "" {
		body = append(body, sections("*Why:* "+truncateMrkdwn(diagnose.EscapeMrkdwn(oneLine(a.Reason)), 1000))...)
	}
	for _, p := range a.Plans {
		body = append(body, sections(planMrkdwn(p, partnerName))...)
	}

	parts := packBlocks(body, maxBlocks-requestTail, maxMessageBytes)
	out := make([]message, len(parts))
	for i, blocks := range parts {
		if len(parts) > 1 {
			note := fmt.Sprintf("Part %d of %d of request `%s`.", i+1, len(parts), shortID(a.ID))
			if i < len(parts)-1 {
				note += " The request continues below; Approve and Reject come after the last policy."
			}
			blocks = append(blocks, contextBlock(note))
		}
		out[i] = message{Text: fallback("Approval request: " + what), Blocks: blocks}
		if len(parts) > 1 {
			out[i].Text = fallback(fmt.Sprintf("Approval request (%d/%d): %s", i+1, len(parts), what))
		}
	}

	tail := []slack.Block{contextBlock(fmt.Sprintf("Only each policy's *Users → Exclude → Guest or external users* changes; ca-check re-reads each policy first and changes nothing that was edited since. Expires %s · request `%s`",
		slackDate(a.ExpiresAt), shortID(a.ID)))}
	if status != "" {
		tail = append(tail, sections(status)...)
		tail = append(tail, extra...)
	} else {
		approve := button(actionApprove, a.ID, "Approve").WithStyle(slack.StylePrimary).WithConfirm(
			slack.NewConfirmationBlockObject(plain("Approve this change?"),
				mrkdwn(fmt.Sprintf("ca-check will change %d %s in %s now, as shown%s.", len(a.Plans), plural(len(a.Plans), "policy", "policies"), tenantLabel(t), ackText(len(parts) > 1, fmt.Sprintf(" in the %d parts of this request", len(parts)), ""))),
				plain("Approve"), plain("Cancel")))
		reject := button(actionReject, a.ID, "Reject").WithStyle(slack.StyleDanger)
		tail = append(tail, slack.NewActionBlock("request-"+a.ID, approve, reject))
	}
	last := &out[len(out)-1]
	last.Blocks = fitBlocks(append(last.Blocks, tail...), maxBlocks)
	return out
}

// packBlocks splits blocks, in order, into runs of at most limit blocks and
// about maxBytes of text each (a single larger block keeps a run to itself).
func packBlocks(blocks []slack.Block, limit, maxBytes int) [][]slack.Block {
	var out [][]slack.Block
	var cur []slack.Block
	size := 0
	for _, bl := range blocks {
		n := 0
		if sec, ok := bl.(*slack.SectionBlock); ok && sec.Text != nil {
			n = len(sec.Text.Text)
		}
		if len(cur) > 0 && (len(cur) >= limit || size+n > maxBytes) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, bl)
		size += n
	}
	if len(cur) > 0 || len(out) == 0 {
		out = append(out, cur)
	}
	return out
}

// planMrkdwn is one policy's change, escaped, in the admin center's words
// (Users → Exclude → Guest or external users), the partner named.
func planMrkdwn(p diagnose.Plan, partnerName string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s*\n", diagnose.EscapeMrkdwn(orID(p.DisplayName, p.PolicyID)))
	if p.Optional {
		decides := "facts ca-check does not know"
		if len(p.DecidedBy) > 0 {
			decides = strings.Join(p.DecidedBy, ", ")
		}
		fmt.Fprintf(&b, ":grey_question: _Optional:_ it may block, depending on %s.", diagnose.EscapeMrkdwn(decides))
		if p.GivesUp != "" {
			fmt.Fprintf(&b, " Excluding service provider users from it gives up: %s", diagnose.EscapeMrkdwn(p.GivesUp))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Excluded guest or external users *before:* %s\n", describe(p.Before, p.PartnerTenantID, partnerName))
	fmt.Fprintf(&b, "Excluded guest or external users *after:* %s", describe(p.After, p.PartnerTenantID, partnerName))
	for _, w := range p.Widens {
		fmt.Fprintf(&b, "\n:warning: %s", diagnose.EscapeMrkdwn(w))
	}
	// Never cut: what is approved is shown whole (sections splits it).
	return b.String()
}

// describe is an exclusion as an admin reads it, escaped: the admin
// center's words for the kinds of users, the partner's organization by
// name with its tenant ID beside it.
func describe(g *diagnose.GuestsOrExternalUsers, partnerID, partnerName string) string {
	return diagnose.EscapeMrkdwn(diagnose.DescribeExclusionFor(g, partnerID, partnerName))
}

// partnerUsers names who the request is for: the partner's service
// provider users, the partner by name when known.
func partnerUsers(a approval.Request, partnerName string) string {
	if name := oneLine(partnerName); name != "" {
		return "the service provider (GDAP) users of *" + diagnose.EscapeMrkdwn(name) + "*"
	}
	return "the partner's service provider (GDAP) users"
}

// partnerOf is the partner tenant a request's plans exclude.
func partnerOf(a approval.Request) string {
	for _, p := range a.Plans {
		if p.PartnerTenantID != "" {
			return p.PartnerTenantID
		}
	}
	return ""
}

// orID is a policy's name on one line (a name with line breaks must not
// draw lines of its own in a request an admin approves), or its ID.
func orID(name, id string) string {
	if name = oneLine(name); name != "" {
		return name
	}
	return id
}

// boldNames lists policy names, escaped, in bold.
func boldNames(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "*" + diagnose.EscapeMrkdwn(oneLine(n)) + "*"
	}
	return strings.Join(out, ", ")
}

// waitingText is the thread's note that a request went out, and to whom by
// which way.
func waitingText(a approval.Request, reached []approval.Notice) string {
	var b strings.Builder
	fmt.Fprintf(&b, ":hourglass_flowing_sand: %s asked for approval to change %d %s in %s (request `%s`, expires %s).",
		userRef(a.RequestedBy), len(a.Plans), plural(len(a.Plans), "policy", "policies"), tenantLabel(a.Tenant()), shortID(a.ID), slackDate(a.ExpiresAt))
	var waiting []string
	for _, n := range reached {
		switch n.Via {
		case approval.ViaDirect:
			waiting = append(waiting, userRef(n.User)+" (direct message)")
		case approval.ViaChannel:
			waiting = append(waiting, fmt.Sprintf("%s (Slack refused a direct message, so a message only they can see in <#%s>)", userRef(n.User), n.Channel))
		}
	}
	if len(waiting) > 0 {
		fmt.Fprintf(&b, "\nWaiting for %s.", strings.Join(waiting, ", "))
	}
	for _, n := range reached {
		if n.Via == approval.ViaNone {
			fmt.Fprintf(&b, "\n:warning: I could not reach %s: Slack refused both a direct message and a message in the linked channel.", userRef(n.User))
		}
	}
	return b.String()
}

// resultText is the report of an apply: what changed, what did not and why.
func resultText(a approval.Request, by, partnerName string) string {
	t := tenantLabel(a.Tenant())
	var b strings.Builder
	applied := a.Names(approval.OutcomeApplied)
	unchanged := a.Names(approval.OutcomeUnchanged)
	failed := a.Count(approval.OutcomeFailed)
	changed := a.Count(approval.OutcomeChanged)
	switch {
	case failed == 0 && changed == 0:
		fmt.Fprintf(&b, ":white_check_mark: %s approved, and ca-check changed %d %s in %s:", userRef(by), len(applied), plural(len(applied), "policy", "policies"), t)
	case len(applied) == 0 && failed == 0:
		fmt.Fprintf(&b, ":arrows_counterclockwise: %s approved, but the %s changed in %s since the plan, so ca-check wrote nothing:", userRef(by), plural(changed, "policy", "policies"), t)
	default:
		fmt.Fprintf(&b, ":warning: %s approved; in %s ca-check changed %d of %d policies:", userRef(by), t, len(applied), len(a.Plans))
	}
	for _, o := range a.Outcomes {
		name := "*" + diagnose.EscapeMrkdwn(orID(o.DisplayName, o.PolicyID)) + "*"
		switch o.Status {
		case approval.OutcomeApplied:
			fmt.Fprintf(&b, "\n• %s: now excludes %s", name, describe(o.Change.After, partnerOf(a), partnerName))
			if len(o.Change.RequestIDs) > 0 {
				fmt.Fprintf(&b, " (Graph request-id `%s`)", diagnose.EscapeMrkdwn(o.Change.RequestIDs[0]))
			}
		case approval.OutcomeUnchanged:
			fmt.Fprintf(&b, "\n• %s: already excluded the partner; nothing to write", name)
		case approval.OutcomeChanged:
			fmt.Fprintf(&b, "\n• %s: *not changed*: it was edited since the plan", name)
			switch {
			case o.Replanned:
				b.WriteString("; a new request with a fresh plan goes to the approvers")
			case o.Note != "":
				b.WriteString("; " + diagnose.EscapeMrkdwn(o.Note))
			}
		case approval.OutcomeFailed:
			fmt.Fprintf(&b, "\n• %s: *failed*: %s", name, diagnose.EscapeMrkdwn(o.Error))
		case approval.OutcomePending:
			fmt.Fprintf(&b, "\n• %s: not tried", name)
		}
	}
	if len(applied) > 0 || len(unchanged) > 0 {
		if failed == 0 {
			fmt.Fprintf(&b, "\n%s, retry your sign-in now.", userRef(a.RequestedBy))
		} else {
			fmt.Fprintf(&b, "\n%s, the sign-in may still be blocked by the policies that failed.", userRef(a.RequestedBy))
		}
	}
	if failed > 0 {
		b.WriteString("\n*Retry* tries the failed policies again, and only those.")
	}
	return b.String()
}

// resultMessage is resultText with the buttons that still make sense:
// Retry after a failure, Revert after a write.
func resultMessage(a approval.Request, by, partnerName string, revertUntil time.Time) message {
	text := resultText(a, by, partnerName)
	blocks := sections(text)
	var buttons []slack.BlockElement
	if a.Count(approval.OutcomeFailed) > 0 {
		buttons = append(buttons, button(actionRetry, a.ID, "Retry the failed policies").WithStyle(slack.StylePrimary))
	}
	// A partly applied request is retried, not reverted: the store moves
	// only an applied request to reverted.
	if a.Count(approval.OutcomeApplied) > 0 && a.Count(approval.OutcomeFailed) == 0 && !revertUntil.IsZero() {
		buttons = append(buttons, button(actionRevert, a.ID, "Revert").WithConfirm(
			slack.NewConfirmationBlockObject(plain("Revert this change?"),
				mrkdwn("ca-check will restore each policy's exclusion as it was before, if it is still what ca-check wrote. The partner's sign-ins will be blocked again."),
				plain("Revert"), plain("Cancel"))))
		blocks = append(blocks, contextBlock("Revert works until "+slackDate(revertUntil)+" (`/ca-check revert "+a.ID+"`)."))
	}
	if len(buttons) > 0 {
		blocks = append(blocks, slack.NewActionBlock("result-"+a.ID, buttons...))
	}
	return message{Text: fallbackMrkdwn(text), Blocks: fitBlocks(blocks, maxBlocks)}
}

// revertText reports a revert.
func revertText(a approval.Request, by, partnerName string) string {
	var b strings.Builder
	if a.Count(approval.OutcomeRevertFailed) == 0 {
		fmt.Fprintf(&b, ":leftwards_arrow_with_hook: %s reverted request `%s` in %s:", userRef(by), shortID(a.ID), tenantLabel(a.Tenant()))
	} else {
		fmt.Fprintf(&b, ":warning: %s asked to revert request `%s` in %s; not all of it could be:", userRef(by), shortID(a.ID), tenantLabel(a.Tenant()))
	}
	for _, o := range a.Outcomes {
		name := "*" + diagnose.EscapeMrkdwn(orID(o.DisplayName, o.PolicyID)) + "*"
		switch o.Status {
		case approval.OutcomeReverted:
			fmt.Fprintf(&b, "\n• %s: restored to %s", name, describe(o.Reverted.After, partnerOf(a), partnerName))
		case approval.OutcomeRevertFailed:
			fmt.Fprintf(&b, "\n• %s: *not reverted*: %s", name, diagnose.EscapeMrkdwn(o.Error))
		}
	}
	if a.Count(approval.OutcomeRevertFailed) > 0 {
		b.WriteString("\nFix the rest by hand in the Entra admin center: someone changed those policies after ca-check did.")
	}
	return b.String()
}

// rejectView is the Reject modal: an optional reason, then Reject.
func rejectView(a approval.Request) slack.ModalViewRequest {
	input := slack.NewPlainTextInputBlockElement(plain("e.g. we will fix it ourselves"), actionReason)
	input.Multiline = true
	input.MaxLength = approval.MaxReason
	reason := slack.NewInputBlock(blockReason, plain("Reason (optional, shown in the engineer's thread)"), nil, input)
	reason.Optional = true
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      viewReject,
		PrivateMetadata: a.ID,
		Title:           plain("Reject the request"),
		Submit:          plain("Reject"),
		Close:           plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewSectionBlock(mrkdwn(fmt.Sprintf("Reject %s's request to change %d %s in %s? Nothing will be changed.",
				userRef(a.RequestedBy), len(a.Plans), plural(len(a.Plans), "policy", "policies"), tenantLabel(a.Tenant()))), nil, nil),
			reason,
		}},
	}
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
	case approval.StateReverting:
		return ":leftwards_arrow_with_hook: This request was applied" + by + " and is being reverted."
	case approval.StateReverted:
		return ":leftwards_arrow_with_hook: This request was applied and later reverted."
	}
	return "This request is " + string(a.State) + "."
}
