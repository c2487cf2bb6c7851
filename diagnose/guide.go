package diagnose

import (
	"fmt"
	"net/url"
	"strings"
)

// The guide is what a customer admin follows to unblock the partner by hand:
// for every blocking policy, the clicks in the Microsoft Entra admin center,
// the same change in Microsoft Graph PowerShell, and the raw Graph request;
// then how to check that it worked. It is written once, against guideStyle,
// and rendered as Markdown (Guide) or Slack mrkdwn (GuideMrkdwn), so the two
// cannot drift apart.

// graphPolicyURL is the Graph v1.0 address of Conditional Access policies.
const graphPolicyURL = "https://graph.microsoft.com/v1.0/identity/conditionalAccess/policies/"

// graphScopes are the delegated permissions the fix needs, consented in the
// customer tenant (DESIGN.md "The fix").
var graphScopes = []string{"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess", "Application.Read.All"}

// Placeholders for identifiers the diagnosis does not have. They have no
// characters that any of the output formats or PowerShell treat specially.
const (
	customerPlaceholder = "CUSTOMER-TENANT-ID"
	partnerPlaceholder  = "PARTNER-TENANT-ID"
)

// Guide renders, as Markdown, the step-by-step fix for every blocking
// policy: the Microsoft Entra admin center clicks, the Microsoft Graph
// PowerShell equivalent, and the raw Graph request with the PATCH body of
// PolicyResult.Patch; what each change widens; and how to verify it. The
// customer tenant comes from d.Tenant (a placeholder when unknown), the
// partner tenant from d.Scenario.
func Guide(d *Diagnosis) string { return writeGuide(d, markdownStyle) }

// GuideMrkdwn is Guide for Slack mrkdwn: ``` code blocks, *bold*, escaped
// names. It is not bounded to MrkdwnLimit (each blocking policy adds about
// 2 KB): split it into Block Kit sections at blank lines, which separate
// its paragraphs and never occur inside a code block.
func GuideMrkdwn(d *Diagnosis) string { return writeGuide(d, mrkdwnStyle) }

// guideStyle is how one output format writes the guide's few constructs.
// text escapes tenant, user or our own prose; the other functions take
// text that is already escaped, except code and block, which take raw text.
type guideStyle struct {
	text    func(string) string
	code    func(string) string // inline code span
	bold    func(string) string
	heading func(level int, s string) string // a title: 2 for the guide's, 3 for a section's
	block   func(lang, s string) string      // a fenced code block, lines kept
	bullet  string                           // starts an item of an unordered list
}

var markdownStyle = guideStyle{
	text:    mdEscape,
	code:    mdCode,
	bold:    func(s string) string { return "**" + s + "**" },
	heading: func(level int, s string) string { return strings.Repeat("#", level) + " " + s },
	block: func(lang, s string) string {
		return "```" + lang + "\n" + codeBlockText(s) + "\n```"
	},
	bullet: "- ",
}

var mrkdwnStyle = guideStyle{
	text: mrkdwnText,
	code: mrkdwnCode,
	bold: func(s string) string { return "*" + s + "*" },
	// Slack has no headings; bold on a line of its own reads as one.
	heading: func(_ int, s string) string { return "*" + s + "*" },
	// Slack shows a language after ``` as code, so there is none; the
	// content is escaped like any other mrkdwn.
	block: func(_, s string) string {
		return "```\n" + EscapeMrkdwn(codeBlockText(s)) + "\n```"
	},
	bullet: "• ",
}

// codeBlockText makes the lines of a code block safe: each line flattened
// like any tenant text, and backticks, which could end the block, replaced.
// What goes into the blocks is built here from IDs and JSON that patchJSON
// already escaped, so this only bites on a hostile ID.
func codeBlockText(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.ReplaceAll(oneLine(l), "`", "ʼ")
	}
	return strings.Join(lines, "\n")
}

func writeGuide(d *Diagnosis, st guideStyle) string {
	var b strings.Builder
	t, c, bold := st.text, st.code, st.bold
	para := func(s string) { b.WriteString(s + "\n\n") }

	partner := oneLine(d.Scenario.PartnerTenantID)
	if partner == "" {
		partner = partnerPlaceholder
	}
	customer := customerPlaceholder
	if d.Tenant != nil && oneLine(d.Tenant.ID) != "" {
		customer = oneLine(d.Tenant.ID)
	}
	blocking := d.Blocking()

	para(st.heading(2, t("Unblock service provider users of ")+c(partner)))
	para(bold(t("Customer tenant:")) + " " + t(tenantText(d.Tenant)))

	if len(blocking) == 0 {
		para(t("Nothing to change: no Conditional Access policy blocks service provider users of the partner tenant."))
		writeReportOnlyNote(&b, d, st)
		return strings.TrimRight(b.String(), "\n") + "\n"
	}

	para(t(fmt.Sprintf("ca-check found %s that can block the partner's staff, who sign in to this tenant as service provider users through GDAP. ",
		plural(len(blocking), "policy", "policies"))) +
		t("Each fix below changes one setting, Users > Exclude > Guest or external users > Service provider users, scoped to the partner tenant ") + c(partner) +
		t("; nothing else in the policy changes. Service provider users have no user object in this tenant, so excluding users or groups cannot exempt them. They still sign in with MFA, enforced in the partner tenant."))
	para(t("The PowerShell and Graph requests below send the users condition whole, as it was read, with only excludeGuestsOrExternalUsers changed; the rest of the policy is not sent and stays as it is."))
	para(bold(t("Who:")) + " " + t("an administrator of this tenant with at least the Conditional Access Administrator role. To use PowerShell, connect once:"))
	b.WriteString(st.block("powershell", "Connect-MgGraph -TenantId "+psQuote(customer)+" -Scopes "+psList(graphScopes)) + "\n\n")

	b.WriteString(bold(t("Policies to change:")) + "\n")
	for i, r := range blocking {
		fmt.Fprintf(&b, "%d. %s (%s)\n", i+1, t(policyName(r)), t(resultLabel(r)))
	}
	b.WriteString("\n")

	for i, r := range blocking {
		writeGuidePolicy(&b, i+1, r, partner, st)
	}

	para(st.heading(3, t("Verify")))
	steps := []string{
		t("Ask the partner's user to sign in again, to the same app as before."),
		t("In the Microsoft Entra admin center of this tenant, open Entra ID > Monitoring & health > Sign-in logs and find that sign-in (filter by its correlation ID, or by Cross tenant access type: Service provider)."),
		t("On its Conditional Access tab, each policy changed above shows ") + bold(t("Not applied")) + t("."),
		t("Or run ca-check again: each policy above now shows as excluded."),
	}
	for i, s := range steps {
		fmt.Fprintf(&b, "%d. %s\n", i+1, s)
	}
	b.WriteString("\n")
	writeReportOnlyNote(&b, d, st)
	return strings.TrimRight(b.String(), "\n") + "\n"
}

func writeGuidePolicy(b *strings.Builder, n int, r PolicyResult, partner string, st guideStyle) {
	t, c, bold := st.text, st.code, st.bold
	fmt.Fprintf(b, "%s\n\n", st.heading(3, t(fmt.Sprintf("%d. %s", n, policyName(r)))))
	fmt.Fprintf(b, "%s %s · %s\n\n", t("Policy ID"), c(r.ID), t(resultLabel(r)))
	if r.Plan == nil {
		b.WriteString(t("No fix was planned for this policy.") + "\n\n")
		return
	}
	if r.Plan.NoChange || len(r.Patch) == 0 {
		b.WriteString(t("No change is possible: the policy already excludes service provider users of the partner tenant. Check whether the policy was changed since the sign-in failed.") + "\n\n")
		return
	}
	plan := r.Plan

	fmt.Fprintf(b, "%s %s:\n", bold(t("What changes")), t("in")+" "+c("conditions.users.excludeGuestsOrExternalUsers"))
	fmt.Fprintf(b, "%s%s %s\n", st.bullet, bold(t("Before:")), t(describeExclusion(plan.Before)))
	fmt.Fprintf(b, "%s%s %s\n", st.bullet, bold(t("After:")), t(describeExclusion(plan.After)))
	for _, w := range widensText(r) {
		fmt.Fprintf(b, "%s%s %s\n", st.bullet, bold(t("Widens:")), t(w))
	}
	b.WriteString("\n")

	fmt.Fprintf(b, "%s\n", bold(t("In the Microsoft Entra admin center")))
	steps := []string{
		t("Sign in to the Microsoft Entra admin center (https://entra.microsoft.com) as at least a Conditional Access Administrator of this tenant."),
		t("Browse to ") + bold(t("Entra ID > Conditional Access > Policies")) + t(" (in older menus: Protection > Conditional Access > Policies) and select ") + bold(t(policyName(r))) + t("."),
		t("Under ") + bold(t("Assignments")) + t(", select the users assignment (") + bold(t("Users")) + t(", or ") + bold(t("Users or workload identities")) + t(")."),
		t("On the ") + bold(t("Exclude")) + t(" tab, check ") + bold(t("Guest or external users")) + t(", then check ") + bold(t("Service provider users")) + t(".") + keepTypesText(plan, st),
		tenantsStep(plan, partner, st),
		t("Select ") + bold(t("Save")) + t("."),
	}
	for i, s := range steps {
		fmt.Fprintf(b, "%d. %s\n", i+1, s)
	}
	b.WriteString("\n")

	body := patchJSON(r.Patch)
	id := oneLine(r.ID)
	fmt.Fprintf(b, "%s\n", bold(t("Microsoft Graph PowerShell")))
	ps := "$body = @'\n" + body + "\n'@\n" +
		"Update-MgIdentityConditionalAccessPolicy -ConditionalAccessPolicyId " + psQuote(id) + " -BodyParameter $body\n" +
		"# Or send the body exactly as written:\n" +
		"# Invoke-MgGraphRequest -Method PATCH -Uri " + psQuote(graphPolicyURL+url.PathEscape(id)) + " -Body $body -ContentType 'application/json'"
	b.WriteString(st.block("powershell", ps) + "\n\n")

	fmt.Fprintf(b, "%s %s %s %s %s\n\n", bold(t("Microsoft Graph request")), t("(Graph Explorer or any HTTP client):"),
		c("PATCH "+graphPolicyURL+url.PathEscape(id)), t("with the header"), c("Content-Type: application/json")+t(" and the JSON above as the body."))
}

// keepTypesText tells the admin to leave the external user types already
// excluded as they are.
func keepTypesText(p *Plan, st guideStyle) string {
	var others []string
	for _, typ := range p.Before.Types() {
		if !strings.EqualFold(typ, TypeServiceProvider) {
			others = append(others, typ)
		}
	}
	if len(others) == 0 {
		return ""
	}
	return " " + st.text("Leave the types already checked ("+strings.Join(others, ", ")+") as they are.")
}

// tenantsStep is the click that scopes the exclusion: to the partner tenant,
// or, when the exclusion covers all tenants, leaving it so.
func tenantsStep(p *Plan, partner string, st guideStyle) string {
	t, c, bold := st.text, st.code, st.bold
	where := t("Under ") + bold(t("Specify external Microsoft Entra organizations")) + t(", ")
	switch {
	case p.After.AllTenants() && p.Before != nil && len(p.Before.Types()) > 0 && p.Before.AllTenants():
		return where + t("leave ") + bold(t("All")) + t(" chosen: this excludes service provider users of every tenant, as the other types already are (see Widens).")
	case p.After.AllTenants():
		return where + t("choose ") + bold(t("All")) + t(" (this deployment is configured to exclude service provider users of every tenant).")
	}
	s := where + t("choose ") + bold(t("Select")) + t(", then select ") + bold(t("Select")) + t(" under it and add the partner tenant ID ") + c(partner) + t(".")
	if p.Before != nil && p.Before.ExternalTenants != nil && len(p.Before.ExternalTenants.Members) > 0 {
		s += " " + t("Keep the tenants already listed.")
	}
	return s
}

// writeReportOnlyNote names the report-only policies that would block if
// enforced: Evaluate plans no fix for them, but an admin about to enforce
// one should exclude service provider users first.
func writeReportOnlyNote(b *strings.Builder, d *Diagnosis, st guideStyle) {
	var names []string
	for _, r := range d.Policies {
		if r.Effect == EffectReportOnly && r.WouldBe.Blocking() {
			names = append(names, st.text(policyName(r)))
		}
	}
	if len(names) == 0 {
		return
	}
	fmt.Fprintf(b, "%s %s%s%s\n", st.bold(st.text("Report-only:")),
		st.text(fmt.Sprintf("%s would block the partner if enforced; make the same change before enforcing: ", plural(len(names), "policy", "policies"))),
		strings.Join(names, st.text(", ")), st.text("."))
}

// psQuote quotes s as a PowerShell single-quoted string, in which nothing is
// expanded; a quote inside is doubled. PowerShell also takes the typographic
// single quotes as quotes, so they are doubled too.
func psQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range oneLine(s) {
		switch r {
		case '\'', '\u2018', '\u2019', '\u201A', '\u201B':
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

// psList is a PowerShell array of quoted strings: 'a','b'.
func psList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = psQuote(s)
	}
	return strings.Join(q, ",")
}
