package diagnose

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Slack renders a mrkdwn text object with its own control sequences: <!channel>,
// <@U123>, <!subteam^S1>, <http://evil|click>. Slack's rule is that a message
// escapes exactly three characters, & < >, and everything else is literal.
// Every piece of tenant or user text therefore goes through EscapeMrkdwn
// (via mrkdwnText or mrkdwnCode), and the formatting ca-check adds itself
// (*bold*, `code`, :emoji:, •) never contains < or >, so a raw < in the
// output is always a bug.

// MrkdwnLimit is the most a Slack Block Kit text object holds: 3,000
// characters. The pieces below stay within it counted in bytes, which is
// never fewer than characters however Slack counts them (runes or UTF-16
// units), so they fit with no guess about Slack's arithmetic.
const MrkdwnLimit = 3000

// EscapeMrkdwn escapes text from a tenant or a user for Slack mrkdwn: & < >
// become &amp; &lt; &gt;, so no <!channel>, <@U…>, <!subteam^…> or
// <http://evil|link> can be smuggled in through a policy name or a paste.
// Nothing else changes (invalid UTF-8 aside, which becomes U+FFFD), so
// unescaping the result gives s back.
func EscapeMrkdwn(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return mrkdwnEscaper.Replace(s)
}

var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// mrkdwnText is tenant or user text for a line of mrkdwn: flattened to one
// line (a name cannot start a fake line of its own), escaped, and with
// backticks replaced by ʼ, so that it can neither open a code span that
// swallows the formatting after it nor close one of ours.
func mrkdwnText(s string) string { return EscapeMrkdwn(strings.ReplaceAll(oneLine(s), "`", "ʼ")) }

// mrkdwnCode is s as a mrkdwn code span. Slack has no way to escape a
// backtick inside one, so it becomes ʼ.
func mrkdwnCode(s string) string {
	s = oneLine(s)
	if s == "" {
		return "(none)"
	}
	return "`" + mrkdwnText(s) + "`"
}

// Caps on single items, so that one absurd name or reason cannot crowd out
// the rest of a piece. They count escaped bytes.
const (
	maxNameBytes   = 400
	maxReasonBytes = 600
)

// verdictEmoji is the emoji that leads a summary.
func verdictEmoji(v Verdict) string {
	switch v {
	case VerdictBlocked:
		return ":no_entry:"
	case VerdictLikelyBlocked:
		return ":red_circle:"
	case VerdictPossiblyBlocked:
		return ":warning:"
	case VerdictNotBlocked:
		return ":white_check_mark:"
	}
	return ":grey_question:"
}

func headlineEmoji(d *Diagnosis) string {
	if d.Unexplained() {
		return ":grey_question:"
	}
	return verdictEmoji(d.Verdict)
}

// MrkdwnSummary is the head of a Slack reply: the verdict with an emoji, the
// tenant, the count of policies per effect, the blocking policies by name,
// and one line on what to do. At most MrkdwnLimit bytes.
func MrkdwnSummary(d *Diagnosis) string {
	var head strings.Builder
	fmt.Fprintf(&head, "%s *%s*: %s\n", headlineEmoji(d), EscapeMrkdwn(headlineLabel(d)), mrkdwnText(verdictDetail(d)))
	fmt.Fprintf(&head, "*Customer tenant:* %s\n", truncateMrkdwn(mrkdwnText(tenantText(d.Tenant)), maxNameBytes))
	if d.Scenario.PartnerTenantID != "" {
		fmt.Fprintf(&head, "*Partner tenant:* %s\n", mrkdwnCode(d.Scenario.PartnerTenantID))
	} else {
		head.WriteString("*Partner tenant:* not configured\n")
	}
	if counts := countEffects(d).list(); len(counts) > 0 {
		fmt.Fprintf(&head, "*Policies:* %s\n", strings.Join(counts, " · "))
	} else {
		head.WriteString("*Policies:* none read\n")
	}

	var tail strings.Builder
	blocking := d.Blocking()
	switch {
	case len(blocking) > 0:
		fmt.Fprintf(&tail, "*Next:* exclude Service provider users of the partner tenant from %s: request the customer admin's approval, or send them the step-by-step guide.", plural(len(blocking), "blocking policy", "blocking policies"))
	case d.Verdict == VerdictBlocked:
		tail.WriteString("*Next:* the sign-in log names a policy that was not read: check the policies with the customer admin.")
	case len(d.UnreadPolicies) > 0:
		tail.WriteString("*Next:* read the policies that could not be read (see Missing evidence) before concluding that nothing blocks.")
	default:
		tail.WriteString("*Next:* nothing to change in Conditional Access; if the partner is still blocked, paste the error message here.")
	}
	if len(d.Disagreements) > 0 {
		fmt.Fprintf(&tail, "\n:mag: %s between the engine and the evidence (shown with the policies).", plural(len(d.Disagreements), "disagreement", "disagreements"))
	}
	if len(d.Missing) > 0 {
		fmt.Fprintf(&tail, "\n:grey_question: Missing evidence: %s.", truncateMrkdwn(mrkdwnText(strings.Join(d.Missing, "; ")), maxReasonBytes))
	}

	// The blocking policies' names fill whatever room is left.
	names := make([]string, len(blocking))
	for i, r := range blocking {
		names[i] = truncateMrkdwn(mrkdwnText(policyName(r)), maxNameBytes)
		if r.Confirmed {
			names[i] += " (confirmed)"
		}
	}
	var mid string
	if len(names) > 0 {
		budget := MrkdwnLimit - head.Len() - tail.Len() - len("*Blocking:* \n")
		mid = "*Blocking:* " + joinWithin(names, ", ", budget) + "\n"
	}
	return clampMrkdwn(head.String() + mid + tail.String())
}

// MrkdwnPolicy is one policy for Slack: its name, effect, reasons, and for a
// blocking one the before and after of excludeGuestsOrExternalUsers and what
// the change widens. At most MrkdwnLimit bytes: reasons that do not fit are
// counted ("…and 3 more reasons"); the fix is never cut, since that is what
// an admin approves.
func MrkdwnPolicy(r PolicyResult) string {
	icon := ":white_circle:"
	switch {
	case r.Effect == EffectBlocks:
		icon = ":no_entry:"
	case r.Effect == EffectMayBlock:
		icon = ":warning:"
	case r.Effect == EffectReportOnly && r.WouldBe.Blocking():
		icon = ":eyes:"
	case r.Effect == EffectExcluded, r.Effect == EffectSatisfied:
		icon = ":white_check_mark:"
	}
	head := fmt.Sprintf("%s *%s*: %s\n%s · %s\n", icon,
		truncateMrkdwn(mrkdwnText(policyName(r)), maxNameBytes),
		EscapeMrkdwn(resultLabel(r)),
		truncateMrkdwn(mrkdwnCode(r.ID), maxNameBytes), truncateMrkdwn(mrkdwnText(r.State), 100))

	var fix strings.Builder
	if r.Effect.Blocking() {
		fmt.Fprintf(&fix, "*Fix:* %s\n", truncateMrkdwn(mrkdwnText(fixSummary(r, "the partner tenant")), maxReasonBytes))
		if r.Plan != nil {
			fmt.Fprintf(&fix, "*Before:* %s\n", truncateMrkdwn(mrkdwnText(describeExclusion(r.Plan.Before)), maxReasonBytes))
			fmt.Fprintf(&fix, "*After:* %s\n", truncateMrkdwn(mrkdwnText(describeExclusion(r.Plan.After)), maxReasonBytes))
			for _, w := range widensText(r) {
				fmt.Fprintf(&fix, "*Widens:* %s\n", truncateMrkdwn(mrkdwnText(w), maxReasonBytes))
			}
		}
	}

	lines := make([]string, len(r.Reasons))
	for i, reason := range r.Reasons {
		lines[i] = "• " + truncateMrkdwn(mrkdwnText(reason), maxReasonBytes)
	}
	budget := MrkdwnLimit - len(head) - fix.Len()
	reasons := linesWithin(lines, budget, "reason", "reasons")
	return clampMrkdwn(strings.TrimSuffix(head+reasons+fix.String(), "\n"))
}

// MrkdwnErrors renders pasted sign-in errors for Slack: per error its code
// and name, what it means, the next step (from LookupCode), and the
// correlation ID, app, IP address and policy IDs it carries. At most
// MrkdwnLimit bytes; errors that do not fit are counted.
func MrkdwnErrors(errs []SignInError) string {
	if len(errs) == 0 {
		return "No AADSTS error code found in the paste."
	}
	blocks := make([]string, len(errs))
	for i, e := range errs {
		info := LookupCode(e.Code)
		var b strings.Builder
		fmt.Fprintf(&b, ":rotating_light: *%s*\n", truncateMrkdwn(mrkdwnText(errorTitle(e, info)), maxNameBytes))
		if e.Message != "" {
			fmt.Fprintf(&b, "_%s_\n", truncateMrkdwn(mrkdwnText(e.Message), maxReasonBytes))
		}
		fmt.Fprintf(&b, "*Meaning:* %s\n", truncateMrkdwn(mrkdwnText(info.Meaning), maxReasonBytes))
		fmt.Fprintf(&b, "*Next step:* %s", truncateMrkdwn(mrkdwnText(info.NextStep), maxReasonBytes*2))
		for _, f := range errorFields(e) {
			var v string
			switch f.name {
			case "App", "Resource", "Tenant", "Device platform", "Device state", "Flow":
				v = mrkdwnText(f.value)
			case "Policy IDs":
				ids := make([]string, len(e.PolicyIDs))
				for i, id := range e.PolicyIDs {
					ids[i] = mrkdwnCode(id)
				}
				v = strings.Join(ids, ", ")
			default:
				v = mrkdwnCode(f.value)
			}
			fmt.Fprintf(&b, "\n*%s:* %s", f.name, truncateMrkdwn(v, maxReasonBytes))
		}
		blocks[i] = b.String()
	}
	return clampMrkdwn(blocksWithin(blocks, MrkdwnLimit, "error", "errors"))
}

// linesWithin joins lines (each ending in "\n") that fit in budget bytes,
// and says how many were left out.
func linesWithin(lines []string, budget int, one, many string) string {
	var b strings.Builder
	for i, l := range lines {
		rest := len(lines) - i - 1
		need := len(l) + 1
		if rest > 0 {
			need += len(moreText(rest, one, many)) + 1 // room to say what did not fit after this
		}
		if b.Len()+need > budget {
			b.WriteString(moreText(len(lines)-i, one, many) + "\n")
			return b.String()
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// blocksWithin joins blocks with blank lines while they fit in budget bytes.
func blocksWithin(blocks []string, budget int, one, many string) string {
	var b strings.Builder
	for i, blk := range blocks {
		sep := ""
		if i > 0 {
			sep = "\n\n"
		}
		rest := len(blocks) - i - 1
		need := len(sep) + len(blk)
		if rest > 0 {
			need += 2 + len(moreText(rest, one, many))
		}
		if b.Len()+need > budget {
			if i == 0 {
				// Even the first does not fit: cut it, leaving room for the count.
				more := ""
				if rest > 0 {
					more = "\n\n" + moreText(rest, one, many)
				}
				return truncateMrkdwn(blk, budget-len(more)) + more
			}
			b.WriteString("\n\n" + moreText(len(blocks)-i, one, many))
			return b.String()
		}
		b.WriteString(sep + blk)
	}
	return b.String()
}

// joinWithin joins items with sep while they fit in budget bytes, ending in
// "…and N more" when some do not.
func joinWithin(items []string, sep string, budget int) string {
	var b strings.Builder
	for i, it := range items {
		s := it
		if i > 0 {
			s = sep + it
		}
		rest := len(items) - i - 1
		need := len(s)
		if rest > 0 {
			need += len(sep) + len(moreText(rest, "", ""))
		}
		if b.Len()+need > budget {
			if i > 0 {
				b.WriteString(sep)
			}
			b.WriteString(moreText(len(items)-i, "", ""))
			return b.String()
		}
		b.WriteString(s)
	}
	return b.String()
}

// moreText is "…and 3 more reasons" (or "…and 3 more" without a noun).
func moreText(n int, one, many string) string {
	switch {
	case one == "":
		return fmt.Sprintf("…and %d more", n)
	case n == 1:
		return "…and 1 more " + one
	}
	return fmt.Sprintf("…and %d more %s", n, many)
}

// truncateMrkdwn cuts escaped mrkdwn to at most max bytes, ending in "…": on a
// rune boundary, never inside an entity such as &amp; (which Slack would show
// as a stray "&am"), and never leaving a code span open.
func truncateMrkdwn(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ell = "…"
	cut := max - len(ell) - 1 // room for a backtick that closes a cut code span
	if cut < 0 {
		return ""
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	t := s[:cut]
	// An '&' after the last ';' starts an entity the cut went through.
	if amp := strings.LastIndexByte(t, '&'); amp >= 0 && !strings.Contains(t[amp:], ";") {
		t = t[:amp]
	}
	t += ell
	if strings.Count(t, "`")%2 == 1 {
		t += "`"
	}
	return t
}

// clampMrkdwn is the last guard on a piece's size: the builders above budget
// so that it never cuts, but a piece over the limit would be refused by
// Slack whole.
func clampMrkdwn(s string) string {
	return truncateMrkdwn(s, MrkdwnLimit)
}
