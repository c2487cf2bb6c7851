package diagnose

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// The guide is what a customer admin follows to unblock the partner by hand:
// for every policy to change, the clicks in the Microsoft Entra admin center
// (in the admin center's own words), the same change in Microsoft Graph
// PowerShell, and the raw Graph request; then how to check that it worked.
// Policies come in order of certainty: those that block (confirmed by the
// sign-in log first) are the fix; those that may block are optional, each
// saying which unknown fact decides it and what excluding service providers
// from it gives up. The guide is built once as data (guideDoc) and rendered
// as plain text (GuideText), Markdown (Guide), Slack mrkdwn (GuideMrkdwn) and
// JSON (GuideFor), so none of them can drift from the others.

// graphPolicyURL is the Graph v1.0 address of Conditional Access policies.
const graphPolicyURL = "https://graph.microsoft.com/v1.0/identity/conditionalAccess/policies/"

// graphScopes are the delegated permissions the fix needs, consented in the
// customer tenant (docs/evaluation.md, "The fix").
var graphScopes = []string{"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess", "Application.Read.All"}

// Placeholders for identifiers the diagnosis does not have. They have no
// characters that any of the output formats or PowerShell treat specially.
const (
	customerPlaceholder = "CUSTOMER-TENANT-ID"
	partnerPlaceholder  = "PARTNER-TENANT-ID"
)

// GuideText renders the guide as plain text: no markup, code indented.
func GuideText(d *Diagnosis) string { return buildGuide(d).render(textStyle) }

// Guide renders the guide as Markdown.
func Guide(d *Diagnosis) string { return buildGuide(d).render(markdownStyle) }

// GuideMrkdwn is Guide for Slack mrkdwn: ``` code blocks, *bold*, escaped
// names. It is not bounded to MrkdwnLimit (each policy adds about 2 KB):
// split it into Block Kit sections at blank lines, which separate its
// paragraphs and never occur inside a code block.
func GuideMrkdwn(d *Diagnosis) string { return buildGuide(d).render(mrkdwnStyle) }

// GuideData is the guide as data: what ca-check diagnose --guide --json adds
// to the diagnosis, as "guide".
type GuideData struct {
	CustomerTenant string `json:"customerTenant"` // an ID, or a placeholder to replace
	PartnerTenant  string `json:"partnerTenant"`
	// Who may make the change, and the PowerShell that connects as them.
	Who     string `json:"who"`
	Connect string `json:"connect"`
	// Policies are the policies to change: the fix (optional false)
	// first, confirmed ones leading, then the optional ones.
	Policies []GuidePolicy `json:"policies"`
	// ReportOnly names report-only policies that would block if enforced.
	ReportOnly []string `json:"reportOnly,omitempty"`
	// Verify says how to check that the change worked.
	Verify []string `json:"verify"`
}

// GuidePolicy is one policy's part of the guide.
type GuidePolicy struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Effect      Effect `json:"effect"`
	Confirmed   bool   `json:"confirmed,omitempty"`
	// Optional is set for a policy that may block, depending on DecidedBy;
	// GivesUp says what excluding service providers from it costs.
	Optional  bool     `json:"optional"`
	DecidedBy []string `json:"decidedBy,omitempty"`
	GivesUp   string   `json:"givesUp,omitempty"`
	// Before and After are the excluded guest or external users, in the
	// admin center's words; Widens what the change excludes beyond the
	// partner's service provider users.
	Before string   `json:"before,omitempty"`
	After  string   `json:"after,omitempty"`
	Widens []string `json:"widens,omitempty"`
	// NoChange says why there is nothing to change, when there is not.
	NoChange string `json:"noChange,omitempty"`
	// AdminCenter are the clicks; PowerShell and Request the same change.
	AdminCenter []string      `json:"adminCenter,omitempty"`
	PowerShell  string        `json:"powershell,omitempty"`
	Request     *GraphRequest `json:"request,omitempty"`
}

// GraphRequest is a Microsoft Graph request to send as it is.
type GraphRequest struct {
	Method string          `json:"method"`
	URL    string          `json:"url"`
	Body   json.RawMessage `json:"body"`
}

// PlansToApprove are the changes an approval request asks for, in the
// guide's order: the fix first (confirmed, then certain), then the
// optional ones, each saying what decides it and what excluding service
// provider users from it gives up. Policies already excluding them are
// left out.
func PlansToApprove(d *Diagnosis) []Plan {
	plans := map[string]*Plan{}
	for _, r := range d.Policies {
		if r.Plan != nil && !r.Plan.NoChange && r.Effect.Blocking() {
			plans[strings.ToLower(r.ID)] = r.Plan
		}
	}
	var out []Plan
	for _, gp := range GuideFor(d).Policies {
		p, ok := plans[strings.ToLower(gp.ID)]
		if !ok {
			continue
		}
		plan := *p
		plan.Optional, plan.DecidedBy, plan.GivesUp = gp.Optional, gp.DecidedBy, gp.GivesUp
		out = append(out, plan)
		delete(plans, strings.ToLower(gp.ID))
	}
	// Whatever the guide did not list still needs its change: never drop
	// one.
	for _, r := range d.Blocking() {
		if p, ok := plans[strings.ToLower(r.ID)]; ok {
			out = append(out, *p)
			delete(plans, strings.ToLower(r.ID))
		}
	}
	return out
}

// GuideFor returns the guide as data.
func GuideFor(d *Diagnosis) *GuideData {
	g := buildGuide(d)
	out := &GuideData{CustomerTenant: g.customer, PartnerTenant: g.partner, Who: g.who.plain(), Connect: g.connect,
		Policies: []GuidePolicy{}, ReportOnly: g.reportOnly}
	for _, p := range g.policies {
		gp := GuidePolicy{ID: p.r.ID, DisplayName: p.r.DisplayName, Effect: p.r.Effect, Confirmed: p.r.Confirmed,
			Optional: p.optional, DecidedBy: p.r.Unknowns, NoChange: p.noChange}
		if p.optional {
			gp.GivesUp = p.givesUp
		}
		if p.noChange == "" {
			gp.Before, gp.After, gp.Widens = p.before, p.after, p.widens
			for _, s := range p.steps {
				gp.AdminCenter = append(gp.AdminCenter, s.plain())
			}
			gp.PowerShell = p.powershell
			gp.Request = &GraphRequest{Method: "PATCH", URL: p.url, Body: p.r.Patch}
		}
		out.Policies = append(out.Policies, gp)
	}
	for _, v := range g.verify {
		out.Verify = append(out.Verify, v.plain())
	}
	return out
}

// A rich is a line of the guide with the emphasis each format shows its own
// way: text a tenant or a user wrote is escaped by the renderer; code and
// bold parts are ours or IDs.
type rich []span

type span struct {
	s    string
	kind byte // 0 plain, 'b' bold, 'c' code
}

func plain(s string) span { return span{s: s} }
func bold(s string) span  { return span{s: s, kind: 'b'} }
func code(s string) span  { return span{s: s, kind: 'c'} }

func (r rich) plain() string {
	var b strings.Builder
	for _, sp := range r {
		b.WriteString(oneLine(sp.s))
	}
	return b.String()
}

// guideDoc is the guide as built once from a diagnosis.
type guideDoc struct {
	partner, customer string // IDs, or placeholders
	tenant            string // the customer tenant in words
	fix, optionalN    int
	who               rich
	connect           string
	policies          []guidePolicy
	reportOnly        []string
	verify            []rich
}

type guidePolicy struct {
	n          int
	r          PolicyResult
	optional   bool
	givesUp    string
	noChange   string
	before     string
	after      string
	widens     []string
	steps      []rich
	powershell string
	url        string
	body       string // the PATCH body, indented, safe in a code block
}

func buildGuide(d *Diagnosis) *guideDoc {
	g := &guideDoc{partner: oneLine(d.Scenario.PartnerTenantID), customer: customerPlaceholder, tenant: tenantText(d.Tenant)}
	if g.partner == "" {
		g.partner = partnerPlaceholder
	}
	if d.Tenant != nil && oneLine(d.Tenant.ID) != "" {
		g.customer = oneLine(d.Tenant.ID)
	}
	g.who = rich{plain("an administrator of this tenant with at least the Conditional Access Administrator role. To use PowerShell, connect once:")}
	g.connect = "Connect-MgGraph -TenantId " + psQuote(g.customer) + " -Scopes " + psList(graphScopes)
	for i, r := range d.Blocking() {
		p := guidePolicy{n: i + 1, r: r, optional: r.Effect == EffectMayBlock && !r.Confirmed}
		if p.optional {
			g.optionalN++
			if r.Policy != nil {
				p.givesUp = givesUp(r.Policy)
			}
		} else {
			g.fix++
		}
		switch {
		case r.Plan == nil:
			p.noChange = "No fix was planned for this policy."
		case r.Plan.NoChange || len(r.Patch) == 0:
			p.noChange = "No change is possible: the policy already excludes service provider users of the partner tenant. Check whether the policy was changed since the sign-in failed."
		default:
			p.before = planText(r.Plan, r.Plan.Before)
			p.after = planText(r.Plan, r.Plan.After)
			p.widens = widensText(r)
			p.steps = adminCenterSteps(r, g.partner)
			p.body = patchJSON(r.Patch)
			id := oneLine(r.ID)
			p.url = graphPolicyURL + url.PathEscape(id)
			p.powershell = "$body = @'\n" + p.body + "\n'@\n" +
				"Update-MgIdentityConditionalAccessPolicy -ConditionalAccessPolicyId " + psQuote(id) + " -BodyParameter $body\n" +
				"# Or send the body exactly as written:\n" +
				"# Invoke-MgGraphRequest -Method PATCH -Uri " + psQuote(p.url) + " -Body $body -ContentType 'application/json'"
		}
		g.policies = append(g.policies, p)
	}
	for _, r := range d.Policies {
		if r.Effect == EffectReportOnly && r.WouldBe.Blocking() {
			g.reportOnly = append(g.reportOnly, policyName(r))
		}
	}
	g.verify = []rich{
		{plain("Ask the partner's user to sign in again, to the same app as before.")},
		{plain("In the Microsoft Entra admin center of this tenant, open Entra ID > Monitoring & health > Sign-in logs and find that sign-in (filter by its correlation ID, or by Cross tenant access type: Service provider).")},
		{plain("On its Conditional Access tab, each policy changed above shows "), bold("Not applied"), plain(".")},
		{plain("Or run ca-check again: each policy above now shows as excluded.")},
	}
	return g
}

// adminCenterSteps are the clicks that make the change, in the admin
// center's words (never Graph's enum names).
func adminCenterSteps(r PolicyResult, partner string) []rich {
	p := r.Plan
	exclude := rich{plain("On the "), bold("Exclude"), plain(" tab, check "), bold("Guest or external users"), plain(", then check "), bold("Service provider users"), plain(".")}
	var others []string
	for _, typ := range p.Before.Types() {
		if !strings.EqualFold(typ, TypeServiceProvider) {
			others = append(others, typ)
		}
	}
	if len(others) > 0 {
		exclude = append(exclude, plain(" Leave the types already checked ("+guestTypesText(others)+") as they are."))
	}
	return []rich{
		{plain("Sign in to the Microsoft Entra admin center (https://entra.microsoft.com) as at least a Conditional Access Administrator of this tenant.")},
		{plain("Browse to "), bold("Entra ID > Conditional Access > Policies"), plain(" (in older menus: Protection > Conditional Access > Policies) and select "), bold(policyName(r)), plain(".")},
		{plain("Under "), bold("Assignments"), plain(", select the users assignment ("), bold("Users"), plain(", or "), bold("Users or workload identities"), plain(").")},
		exclude,
		tenantsStep(p, partner),
		{plain("Select "), bold("Save"), plain(".")},
	}
}

// tenantsStep is the click that scopes the exclusion: to the partner tenant,
// or, when the exclusion covers all tenants, leaving it so.
func tenantsStep(p *Plan, partner string) rich {
	where := rich{plain("Under "), bold("Specify external Microsoft Entra organizations"), plain(", ")}
	switch {
	case p.After.AllTenants() && p.Before != nil && len(p.Before.Types()) > 0 && p.Before.AllTenants():
		return append(where, plain("leave "), bold("All"), plain(" chosen: this excludes service provider users of every tenant, as the other types already are (see Widens)."))
	case p.After.AllTenants():
		return append(where, plain("choose "), bold("All"), plain(" (this deployment is configured to exclude service provider users of every tenant)."))
	}
	s := append(where, plain("choose "), bold("Select"), plain(", then select "), bold("Select"), plain(" under it and add the partner tenant ID "), code(partner), plain("."))
	if p.Before != nil && p.Before.ExternalTenants != nil && len(p.Before.ExternalTenants.Members) > 0 {
		s = append(s, plain(" Keep the tenants already listed."))
	}
	return s
}

// givesUp says what excluding service provider users from p costs the
// customer: what the policy then no longer asks of, or blocks for, the
// partner's staff.
func givesUp(p *Policy) string {
	const rest = "; it still applies to everyone else, and the partner's staff still sign in with MFA in their own tenant."
	g := p.GrantControls
	var asks []string
	block := false
	if g != nil {
		for _, c := range g.BuiltInControls {
			switch strings.ToLower(strings.TrimSpace(c)) {
			case controlBlock:
				block = true
			case strings.ToLower(controlMFA):
				asks = append(asks, "MFA")
			case strings.ToLower(controlCompliant):
				asks = append(asks, "a compliant device")
			case strings.ToLower(controlDomainJoined):
				asks = append(asks, "a hybrid joined device")
			case strings.ToLower(controlApprovedApp):
				asks = append(asks, "an approved client app")
			case strings.ToLower(controlCompliantApp):
				asks = append(asks, "an app protection policy")
			case strings.ToLower(controlPasswordChange):
				asks = append(asks, "a password change")
			default:
				asks = append(asks, "the control "+c)
			}
		}
		for _, f := range g.CustomAuthenticationFactors {
			asks = append(asks, f+" (third-party MFA)")
		}
		if len(g.TermsOfUse) > 0 {
			asks = append(asks, "acceptance of the terms of use")
		}
		if s := g.AuthenticationStrength; s != nil && (s.ID != "" || s.DisplayName != "") {
			name := s.DisplayName
			if name == "" {
				name = s.ID
			}
			asks = append(asks, "the authentication strength "+quoteName(name))
		}
	}
	switch {
	case block:
		return "this policy no longer blocks the partner's staff where it applies" + rest
	case len(asks) > 0:
		join := " or "
		if g != nil && strings.EqualFold(strings.TrimSpace(g.Operator), operatorAND) {
			join = " and "
		}
		return "this policy no longer requires " + strings.Join(asks, join) + " of the partner's staff" + rest
	}
	return "nothing this policy asks of the partner's staff" + rest
}

// guideStyle is how one output format writes the guide's few constructs.
// text escapes tenant, user or our own prose; heading and bold take text
// that is already escaped; code and block take raw text.
type guideStyle struct {
	text    func(string) string
	code    func(string) string
	bold    func(string) string
	heading func(level int, s string) string // 2 for the guide's title, 3 for a policy's
	block   func(lang, s string) string      // a code block, lines kept
	bullet  string
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

// textStyle is plain text for a terminal: no markup at all; a title is
// underlined, and code stands on lines of its own as it is to be run (a
// PowerShell here-string ends only at the start of a line, so code is not
// indented).
var textStyle = guideStyle{
	text: oneLine,
	code: func(s string) string {
		if s = oneLine(s); s == "" {
			return "(none)"
		}
		return s
	},
	bold: func(s string) string { return s },
	heading: func(level int, s string) string {
		rule := "-"
		if level <= 2 {
			rule = "="
		}
		return s + "\n" + strings.Repeat(rule, utf8.RuneCountInString(s))
	},
	block:  func(_, s string) string { return codeBlockText(s) },
	bullet: "- ",
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

func (st guideStyle) rich(r rich) string {
	var b strings.Builder
	for _, sp := range r {
		switch sp.kind {
		case 'b':
			b.WriteString(st.bold(st.text(sp.s)))
		case 'c':
			b.WriteString(st.code(sp.s))
		default:
			b.WriteString(st.text(sp.s))
		}
	}
	return b.String()
}

func (g *guideDoc) render(st guideStyle) string {
	var b strings.Builder
	t, c, bold := st.text, st.code, st.bold
	para := func(s string) { b.WriteString(s + "\n\n") }

	para(st.heading(2, t("Unblock service provider users of ")+c(g.partner)))
	para(bold(t("Customer tenant:")) + " " + t(g.tenant))

	if len(g.policies) == 0 {
		para(t("Nothing to change: no Conditional Access policy blocks service provider users of the partner tenant."))
		g.renderReportOnly(&b, st)
		return strings.TrimRight(b.String(), "\n") + "\n"
	}

	var found string
	switch {
	case g.optionalN == 0:
		found = fmt.Sprintf("ca-check found %s that %s the partner's staff, who sign in to this tenant as service provider users through GDAP. ",
			plural(g.fix, "policy", "policies"), pick(g.fix == 1, "blocks", "block"))
	case g.fix == 0:
		found = fmt.Sprintf("ca-check found no policy that certainly blocks the partner's staff, who sign in to this tenant as service provider users through GDAP, but %s that may, depending on facts it does not know: changing %s is optional. ",
			plural(g.optionalN, "policy", "policies"), pick(g.optionalN == 1, "it", "them"))
	default:
		found = fmt.Sprintf("ca-check found %s that %s the partner's staff, who sign in to this tenant as service provider users through GDAP: changing %s is the fix. %s may block them too, depending on facts ca-check does not know: changing those is optional. ",
			plural(g.fix, "policy", "policies"), pick(g.fix == 1, "blocks", "block"), pick(g.fix == 1, "it", "them"), capitalize(plural(g.optionalN, "more policy", "more policies")))
	}
	para(t(found) +
		t("Each change below is one setting, Users > Exclude > Guest or external users > Service provider users, scoped to the partner tenant ") + c(g.partner) +
		t("; nothing else in the policy changes. Service provider users have no user object in this tenant, so excluding users or groups cannot exempt them. They still sign in with MFA, enforced in the partner tenant."))
	para(t("The PowerShell and Graph requests below send the users condition whole, as it was read, with only excludeGuestsOrExternalUsers changed; the rest of the policy is not sent and stays as it is."))
	para(bold(t("Who:")) + " " + st.rich(g.who))
	b.WriteString(st.block("powershell", g.connect) + "\n\n")

	if g.fix > 0 {
		b.WriteString(bold(t("The fix: policies that block the partner")) + "\n")
		for _, p := range g.policies[:g.fix] {
			fmt.Fprintf(&b, "%d. %s (%s)\n", p.n, t(policyName(p.r)), t(resultLabel(p.r)))
		}
		b.WriteString("\n")
	}
	if g.optionalN > 0 {
		b.WriteString(bold(t("Optional: policies that may block, depending on facts not known")) + "\n")
		for _, p := range g.policies[g.fix:] {
			fmt.Fprintf(&b, "%d. %s (%s)%s\n", p.n, t(policyName(p.r)), t(resultLabel(p.r)), t(dependsText(p.r, ": depends on ")))
		}
		b.WriteString("\n")
	}

	for _, p := range g.policies {
		p.render(&b, st)
	}

	para(st.heading(3, t("Verify")))
	for i, v := range g.verify {
		fmt.Fprintf(&b, "%d. %s\n", i+1, st.rich(v))
	}
	b.WriteString("\n")
	g.renderReportOnly(&b, st)
	return strings.TrimRight(b.String(), "\n") + "\n"
}

func (p guidePolicy) render(b *strings.Builder, st guideStyle) {
	t, c, bold := st.text, st.code, st.bold
	fmt.Fprintf(b, "%s\n\n", st.heading(3, t(fmt.Sprintf("%d. %s", p.n, policyName(p.r)))))
	fmt.Fprintf(b, "%s %s · %s\n\n", t("Policy ID"), c(p.r.ID), t(resultLabel(p.r)))
	if p.optional {
		fmt.Fprintf(b, "%s %s %s\n\n", bold(t("Optional.")), t(dependsText(p.r, "Whether it blocks the partner depends on ")+", which ca-check does not know."),
			t("Excluding service provider users gives this up: "+p.givesUp))
	}
	if p.noChange != "" {
		b.WriteString(t(p.noChange) + "\n\n")
		return
	}

	fmt.Fprintf(b, "%s %s\n", bold(t("What changes")), t("under Users > Exclude > Guest or external users:"))
	fmt.Fprintf(b, "%s%s %s\n", st.bullet, bold(t("Before:")), t(p.before))
	fmt.Fprintf(b, "%s%s %s\n", st.bullet, bold(t("After:")), t(p.after))
	for _, w := range p.widens {
		fmt.Fprintf(b, "%s%s %s\n", st.bullet, bold(t("Widens:")), t(w))
	}
	b.WriteString("\n")

	fmt.Fprintf(b, "%s\n", bold(t("In the Microsoft Entra admin center")))
	for i, s := range p.steps {
		fmt.Fprintf(b, "%d. %s\n", i+1, st.rich(s))
	}
	b.WriteString("\n")

	fmt.Fprintf(b, "%s\n", bold(t("Microsoft Graph PowerShell")))
	b.WriteString(st.block("powershell", p.powershell) + "\n\n")

	fmt.Fprintf(b, "%s %s %s %s %s\n\n", bold(t("Microsoft Graph request")), t("(Graph Explorer or any HTTP client):"),
		c("PATCH "+p.url), t("with the header"), c("Content-Type: application/json")+t(" and the JSON above as the body."))
}

// renderReportOnly names the report-only policies that would block if
// enforced: Evaluate plans no fix for them, but an admin about to enforce
// one should exclude service provider users first.
func (g *guideDoc) renderReportOnly(b *strings.Builder, st guideStyle) {
	if len(g.reportOnly) == 0 {
		return
	}
	names := make([]string, len(g.reportOnly))
	for i, n := range g.reportOnly {
		names[i] = st.text(n)
	}
	fmt.Fprintf(b, "%s %s%s%s\n", st.bold(st.text("Report-only:")),
		st.text(fmt.Sprintf("%s would block the partner if enforced; make the same change before enforcing: ", plural(len(names), "policy", "policies"))),
		strings.Join(names, st.text(", ")), st.text("."))
}

// dependsText is prefix and the facts that decide whether r blocks, or ""
// when none is known to decide it.
func dependsText(r PolicyResult, prefix string) string {
	if len(r.Unknowns) == 0 {
		return ""
	}
	return prefix + joinAnd(r.Unknowns)
}

func pick(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
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
