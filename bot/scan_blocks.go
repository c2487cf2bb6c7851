package bot

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/scan"
)

// actionScanRequest is the Request approval button of one tenant in a scan
// digest; its value is the tenant's ID.
const actionScanRequest = "scan_request_approval"

// maxDigestPolicies is how many policies a digest names per tenant; the
// rest are counted (the CSV and a check of the tenant have them all).
const maxDigestPolicies = 5

// scanTenant is a scan entry's tenant as the Slack texts name it.
func scanTenant(t scan.Tenant) diagnose.Tenant {
	return diagnose.Tenant{ID: t.ID, DisplayName: t.DisplayName, DefaultDomain: t.DefaultDomain}
}

// progressText is the scan's progress message.
func progressText(by string, done, total int) string {
	if total == 0 {
		return fmt.Sprintf(":satellite: %s started a scan of every GDAP customer…", userRef(by))
	}
	return fmt.Sprintf(":satellite: %s started a scan of %d GDAP %s: %d done.", userRef(by), total, plural(total, "customer", "customers"), done)
}

// digestMessages is a scan's digest: what changed since the last scan
// first (when changes is given), then every affected tenant with its
// policies and a Request approval button, the tenants that could not be
// read with the reason, and the counts. It is split into as many messages
// as Slack's limits need; every text from a tenant is escaped.
func digestMessages(rep *scan.Report, changes *scan.Changes, by string) []message {
	s := rep.Summary
	var body []slack.Block
	head := fmt.Sprintf(":satellite: *Fleet scan of %d GDAP %s*, %s", s.Total(), plural(s.Total(), "customer", "customers"), slackDate(rep.ScannedAt))
	if by != "" {
		head += " (asked by " + userRef(by) + ")"
	}
	head += fmt.Sprintf("\n:no_entry: %d blocked · :red_circle: %d likely blocked · :warning: %d possibly blocked · :white_check_mark: %d not blocked · :grey_question: %d unreadable",
		s.Blocked, s.LikelyBlocked, s.PossiblyBlocked, s.NotBlocked, s.Error)
	body = append(body, sections(head)...)

	if changes != nil {
		body = append(body, sections(changesText(*changes))...)
	}

	var unreadable []string
	for _, r := range rep.Tenants {
		t := scanTenant(r.Tenant)
		switch {
		case r.Error != "" || r.Verdict == "":
			unreadable = append(unreadable, fmt.Sprintf("• *%s*: %s", tenantLabel(t), diagnose.EscapeMrkdwn(oneLine(r.Error))))
		case r.Affected():
			text := affectedText(r)
			btn := button(actionScanRequest, r.Tenant.ID, "Request approval")
			sec := slack.NewSectionBlock(mrkdwn(truncateMrkdwn(text, maxSectionText)), nil, slack.NewAccessory(btn))
			body = append(body, sec)
		}
	}
	if len(unreadable) > 0 {
		body = append(body, sections("*Could not be read:*\n"+strings.Join(unreadable, "\n"))...)
	}
	if s.Blocked+s.LikelyBlocked+s.PossiblyBlocked == 0 && s.Error == 0 {
		body = append(body, sections(":white_check_mark: No customer's Conditional Access blocks your service provider users.")...)
	}
	body = append(body, contextBlock("The full result is in the CSV file. *Request approval* reads the tenant again and asks its approvers to exclude your service provider users."))

	parts := packBlocks(body, maxBlocks, maxMessageBytes)
	out := make([]message, len(parts))
	for i, blocks := range parts {
		title := fmt.Sprintf("Fleet scan: %d blocked, %d likely, %d possibly blocked, %d unreadable", s.Blocked, s.LikelyBlocked, s.PossiblyBlocked, s.Error)
		if len(parts) > 1 {
			title = fmt.Sprintf("%s (%d/%d)", title, i+1, len(parts))
		}
		out[i] = message{Text: fallback(title), Blocks: blocks}
	}
	return out
}

// affectedText is one affected tenant of a digest: its verdict and the
// policies that block or may block.
func affectedText(r scan.TenantResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s *%s* — %s", verdictEmoji(string(r.Verdict)), tenantLabel(scanTenant(r.Tenant)), verdictWords(string(r.Verdict)))
	for i, p := range r.Blocking {
		if i == maxDigestPolicies {
			fmt.Fprintf(&b, "\n…and %d more", len(r.Blocking)-i)
			break
		}
		fmt.Fprintf(&b, "\n• %s (%s)", diagnose.EscapeMrkdwn(orID(p.DisplayName, p.ID)), effectWords(p.Effect))
	}
	return b.String()
}

func effectWords(e diagnose.Effect) string {
	if e == diagnose.EffectMayBlock {
		return "may block"
	}
	return "blocks"
}

// changesText leads a scheduled digest: what changed since the last scan.
func changesText(c scan.Changes) string {
	if c.Empty() {
		return "*Since the last scan:* nothing changed."
	}
	var lines []string
	lines = append(lines, "*Since the last scan:*")
	for _, p := range c.NewlyBlocking {
		line := fmt.Sprintf(":new: *%s* now %s in *%s*", diagnose.EscapeMrkdwn(orID(p.Policy.DisplayName, p.Policy.ID)), effectWords(p.Policy.Effect), tenantLabel(scanTenant(p.Tenant)))
		if p.Policy.ModifiedDateTime != nil {
			line += " (policy changed " + slackDate(*p.Policy.ModifiedDateTime) + ")"
		}
		lines = append(lines, line)
	}
	for _, t := range c.Fixed {
		lines = append(lines, fmt.Sprintf(":white_check_mark: *%s* no longer blocks", tenantLabel(scanTenant(t))))
	}
	for _, t := range c.NewCustomers {
		lines = append(lines, fmt.Sprintf(":handshake: new customer *%s*", tenantLabel(scanTenant(t))))
	}
	for _, r := range c.LostCustomers {
		lines = append(lines, fmt.Sprintf(":wave: *%s* is no longer a GDAP customer", tenantLabel(scanTenant(r.Tenant))))
	}
	for _, r := range c.Ending {
		lines = append(lines, fmt.Sprintf(":hourglass: the GDAP relationship with *%s* ends %s", tenantLabel(scanTenant(r.Tenant)), slackDate(r.Relationship.EndDateTime)))
	}
	for _, r := range c.Expired {
		lines = append(lines, fmt.Sprintf(":octagonal_sign: the GDAP relationship with *%s* has ended", tenantLabel(scanTenant(r.Tenant))))
	}
	return strings.Join(lines, "\n")
}
