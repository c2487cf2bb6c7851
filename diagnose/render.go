package diagnose

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// This file holds what the renderers share: the order policies are shown in,
// the words for verdicts and effects, the scenario facts, the description of
// an exclusion, and the sanitising every piece of tenant or user text goes
// through. Text and Markdown are in render_text.go, Slack mrkdwn in
// render_mrkdwn.go, the step-by-step fix in guide.go.
//
// Everything a tenant or a user wrote (policy names, reasons, which quote
// names, location names, pasted fields) is untrusted: each output format
// escapes it in its own way, and all of them first flatten it to one line
// without control characters, so that a name can neither start a line of
// its own (a fake heading, a fake verdict) nor send escape sequences to a
// terminal.

// Headline is a one-line plain-text verdict, such as "Likely blocked: 2
// policies block service provider users of <partner>". It is plain text:
// escape it before putting it into Slack mrkdwn or Markdown.
func Headline(d *Diagnosis) string {
	return headlineLabel(d) + ": " + verdictDetail(d)
}

// headlineLabel is the verdict's label, except that a "not blocked" that
// contradicts the pasted error says so.
func headlineLabel(d *Diagnosis) string {
	if d.Unexplained() {
		return "Not explained"
	}
	return verdictLabel(d.Verdict)
}

// verdictDetail is the Headline after its "Likely blocked: ".
func verdictDetail(d *Diagnosis) string {
	partner := partnerName(d)
	c := countEffects(d)
	var s string
	switch d.Verdict {
	case VerdictBlocked:
		if c.blocks == 0 {
			s = "the sign-in log shows Conditional Access blocked service provider users of " + partner
		} else {
			s = fmt.Sprintf("%s service provider users of %s (confirmed by the sign-in log)", policiesVerb(c.blocks, "block"), partner)
		}
		if c.mayBlock > 0 {
			s += fmt.Sprintf("; %d more may block", c.mayBlock)
		}
	case VerdictLikelyBlocked:
		s = fmt.Sprintf("%s service provider users of %s", policiesVerb(c.blocks, "block"), partner)
		if c.mayBlock > 0 {
			s += fmt.Sprintf("; %d more may block", c.mayBlock)
		}
	case VerdictPossiblyBlocked:
		if c.mayBlock == 0 {
			s = "no policy read blocks service provider users of " + partner
		} else {
			s = fmt.Sprintf("%s service provider users of %s, depending on facts not known", policiesVerb(c.mayBlock, "may block"), partner)
		}
		if n := len(d.UnreadPolicies); n > 0 {
			them := "them"
			if n == 1 {
				them = "it"
			}
			s += fmt.Sprintf("; %s could not be read, and the policies in %s may block", plural(n, "policy export", "policy exports"), them)
		}
	case VerdictNotBlocked:
		if d.Unexplained() {
			s = fmt.Sprintf("the error (AADSTS%d) says Conditional Access stopped the sign-in, but no policy read blocks service provider users of %s now; re-check in a few minutes", d.Scenario.ErrorCode, partner)
			break
		}
		s = "no enabled policy blocks service provider users of " + partner
		if c.reportOnlyBlocking > 0 {
			s += fmt.Sprintf("; %s if enforced", plural(c.reportOnlyBlocking, "report-only policy would block", "report-only policies would block"))
		}
	default:
		s = "service provider users of " + partner
	}
	return s
}

// policiesVerb is "1 policy blocks" or "3 policies block"; verb is the plural
// form ("block", "may block").
func policiesVerb(n int, verb string) string {
	if n == 1 {
		if verb == "block" {
			return "1 policy blocks"
		}
		return "1 policy " + verb
	}
	return fmt.Sprintf("%d policies %s", n, verb)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// verdictLabel is the verdict as a person reads it.
func verdictLabel(v Verdict) string {
	switch v {
	case VerdictBlocked:
		return "Blocked"
	case VerdictLikelyBlocked:
		return "Likely blocked"
	case VerdictPossiblyBlocked:
		return "Possibly blocked"
	case VerdictNotBlocked:
		return "Not blocked"
	}
	return oneLine(string(v))
}

// effectLabel is an effect as a person reads it.
func effectLabel(e Effect) string {
	switch e {
	case EffectBlocks:
		return "blocks"
	case EffectMayBlock:
		return "may block"
	case EffectSatisfied:
		return "satisfied"
	case EffectNotApplicable:
		return "not applicable"
	case EffectExcluded:
		return "excluded"
	case EffectReportOnly:
		return "report-only"
	case EffectDisabled:
		return "disabled"
	}
	return oneLine(string(e))
}

// resultLabel is a policy's effect with what qualifies it: "report-only,
// would block", "blocks, confirmed by the sign-in log".
func resultLabel(r PolicyResult) string {
	var s string
	switch {
	case r.Effect != EffectReportOnly:
		s = effectLabel(r.Effect)
	case r.WouldBe == EffectBlocks:
		s = "report-only, would block"
	case r.WouldBe == EffectMayBlock:
		s = "report-only, may block if enforced"
	case r.WouldBe == "":
		s = "report-only"
	default:
		s = "report-only, would be " + effectLabel(r.WouldBe)
	}
	if r.Confirmed {
		s += ", confirmed by the sign-in log"
	}
	return s
}

// policyGroup is one section of the policy list.
type policyGroup struct {
	title   string // "Blocks", "May block", …
	effect  Effect // the effect that puts a policy here ("" for the catch-all)
	results []PolicyResult
}

// groupPolicies sorts the policies into the sections every renderer shows,
// in this order: blocks, may block, report-only that would block, satisfied,
// excluded, not applicable, disabled. A report-only policy that would not
// block goes with its would-be effect, marked report-only by resultLabel. A
// policy with an effect this code does not know lands in a last section
// rather than disappearing. Empty sections are left out. Within the blocking
// sections, policies confirmed by the sign-in log come first.
func groupPolicies(d *Diagnosis) []policyGroup {
	groups := []policyGroup{
		{title: "Blocks", effect: EffectBlocks},
		{title: "May block", effect: EffectMayBlock},
		{title: "Report-only, would block", effect: EffectReportOnly},
		{title: "Satisfied", effect: EffectSatisfied},
		{title: "Already excluded", effect: EffectExcluded},
		{title: "Not applicable", effect: EffectNotApplicable},
		{title: "Disabled", effect: EffectDisabled},
		{title: "Other"},
	}
	index := func(e Effect) int {
		for i, g := range groups[:len(groups)-1] {
			if g.effect == e {
				return i
			}
		}
		return len(groups) - 1
	}
	for _, r := range d.Policies {
		e := r.Effect
		if e == EffectReportOnly && !r.WouldBe.Blocking() {
			e = r.WouldBe
			if e == "" || e == EffectReportOnly {
				e = EffectNotApplicable
			}
		}
		i := index(e)
		groups[i].results = append(groups[i].results, r)
	}
	for i := range groups[:3] {
		slices.SortStableFunc(groups[i].results, func(a, b PolicyResult) int {
			return rankOf(b) - rankOf(a)
		})
	}
	return slices.DeleteFunc(groups, func(g policyGroup) bool { return len(g.results) == 0 })
}

// rankOf puts confirmed policies first, then certain ones, like
// Diagnosis.Blocking; report-only ones rank by their would-be effect.
func rankOf(r PolicyResult) int {
	n := 0
	if r.Confirmed {
		n += 2
	}
	if r.Effect == EffectBlocks || r.Effect == EffectReportOnly && r.WouldBe == EffectBlocks {
		n++
	}
	return n
}

// effectCounts counts the policies per effect, report-only ones apart.
type effectCounts struct {
	blocks, mayBlock, reportOnlyBlocking, reportOnly    int
	satisfied, excluded, notApplicable, disabled, other int
}

func countEffects(d *Diagnosis) effectCounts {
	var c effectCounts
	for _, r := range d.Policies {
		switch r.Effect {
		case EffectBlocks:
			c.blocks++
		case EffectMayBlock:
			c.mayBlock++
		case EffectReportOnly:
			if r.WouldBe.Blocking() {
				c.reportOnlyBlocking++
			} else {
				c.reportOnly++
			}
		case EffectSatisfied:
			c.satisfied++
		case EffectExcluded:
			c.excluded++
		case EffectNotApplicable:
			c.notApplicable++
		case EffectDisabled:
			c.disabled++
		default:
			c.other++
		}
	}
	return c
}

// list returns the non-zero counts as "3 block", "1 may block", ….
func (c effectCounts) list() []string {
	var out []string
	add := func(n int, what string) {
		if n > 0 {
			out = append(out, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(c.blocks, "block")
	add(c.mayBlock, "may block")
	add(c.reportOnlyBlocking, "report-only would block")
	add(c.satisfied, "satisfied")
	add(c.excluded, "already excluded")
	add(c.notApplicable, "not applicable")
	add(c.reportOnly, "report-only, would not block")
	add(c.disabled, "disabled")
	add(c.other, "other")
	return out
}

// Fact states: whether a scenario fact was known, assumed (the default of
// DESIGN.md "The scenario"), or unknown.
const (
	factKnown   = "known"
	factAssumed = "assumed"
	factUnknown = "unknown"
)

// fact is one scenario fact the engine used.
type fact struct {
	name, value, state string
}

// scenarioFacts lists the scenario's facts, in DESIGN.md's order, each with
// what the engine took it to be and whether it knew it. Values are plain
// text built from the scenario, which holds tenant and user text (app IDs,
// the correlation ID): renderers escape them.
func scenarioFacts(sc Scenario) []fact {
	var fs []fact
	add := func(name, value, state string) { fs = append(fs, fact{name, value, state}) }

	if len(sc.Apps) > 0 {
		names := make([]string, len(sc.Apps))
		for i, id := range sc.Apps {
			names[i] = appLabel(id)
		}
		add("App", strings.Join(names, ", "), factKnown)
	} else {
		names := make([]string, len(defaultApps))
		for i, id := range defaultApps {
			names[i] = AppName(id)
		}
		add("App", "not known: the partner's usual apps were evaluated and the worst result kept ("+strings.Join(names, ", ")+")", factUnknown)
	}
	switch sc.ClientType {
	case "":
		add("Client", "a browser or a modern desktop client (never legacy authentication)", factAssumed)
	case ClientBrowser:
		add("Client", "browser", factKnown)
	case ClientMobileDesktop:
		add("Client", "mobile app or desktop client", factKnown)
	default:
		add("Client", sc.ClientType, factKnown)
	}
	if sc.Platform != "" {
		add("Device platform", sc.Platform, factKnown)
	} else {
		add("Device platform", "not known", factUnknown)
	}
	if sc.IP.IsValid() {
		add("IP address", sc.IP.String(), factKnown)
	} else {
		add("IP address", "not known: location conditions stay undecided", factUnknown)
	}
	if sc.Country != "" {
		add("Country", sc.Country, factKnown)
	} else {
		add("Country", "not known: country locations stay undecided", factUnknown)
	}
	if sc.CrossTenant != nil && sc.CrossTenant.InboundTrust != nil {
		add("Device", "not registered in the customer tenant; cross-tenant inbound trust for the partner: "+trustText(sc.CrossTenant.InboundTrust), factKnown)
	} else {
		add("Device", "not registered in the customer tenant, and its compliance is not trusted (cross-tenant settings not read or not set)", factAssumed)
	}
	add("MFA", "done in the partner tenant and honoured by the customer", factAssumed)
	switch {
	case sc.RolesKnown && len(sc.Roles) == 0:
		add("GDAP roles", "none", factKnown)
	case sc.RolesKnown:
		names := make([]string, len(sc.Roles))
		for i, r := range sc.Roles {
			names[i] = RoleName(roleID(r))
		}
		add("GDAP roles", strings.Join(names, ", "), factKnown)
	default:
		add("GDAP roles", "not known: policies that target directory roles stay undecided", factUnknown)
	}
	add("Sign-in and user risk", "none", factAssumed)
	if sc.DeviceCodeFlow {
		add("Authentication flow", "device code flow", factKnown)
	} else {
		add("Authentication flow", "not the device code flow", factAssumed)
	}
	if sc.CorrelationID != "" {
		add("Correlation ID", sc.CorrelationID, factKnown)
	}
	return fs
}

// appLabel is "Azure Portal (c44b4083-…)" for a known app, the ID otherwise.
func appLabel(id string) string {
	if name := AppName(id); name != id {
		return name + " (" + id + ")"
	}
	return id
}

// trustText describes the inbound trust settings in words.
func trustText(t *InboundTrust) string {
	word := func(v *bool) string {
		switch {
		case v == nil:
			return "not set"
		case *v:
			return "accepted"
		}
		return "not accepted"
	}
	return "MFA " + word(t.IsMfaAccepted) +
		", compliant devices " + word(t.IsCompliantDeviceAccepted) +
		", hybrid joined devices " + word(t.IsHybridAzureADJoinedDeviceAccepted)
}

// maxListed bounds the tenant IDs an exclusion description lists; an
// exclusion of thousands of tenants is summarised, not printed.
const maxListed = 5

// describeExclusion says what an excludeGuestsOrExternalUsers value excludes,
// in words: "none", or "serviceProvider; tenants: 4e8a…".
func describeExclusion(g *GuestsOrExternalUsers) string {
	types := g.Types()
	if len(types) == 0 {
		return "none"
	}
	s := strings.Join(types, ", ") + "; tenants: "
	switch {
	case g.AllTenants():
		return s + "all"
	case len(g.ExternalTenants.Members) == 0:
		return s + "none listed (so nobody is excluded)"
	}
	return s + listSome(g.ExternalTenants.Members, maxListed)
}

// listSome joins at most n items and says how many more there are.
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

// fixSummary is one line on what the fix for r does, or why there is none.
func fixSummary(r PolicyResult, partner string) string {
	switch {
	case r.Plan == nil:
		return "no fix planned"
	case r.Plan.NoChange:
		return "no change possible: the policy already excludes service provider users of " + partner
	}
	return "exclude Service provider users of " + partner
}

// widensText is what the fix excludes beyond the partner's service provider
// users, one sentence each; nothing is said explicitly, because an admin
// asked to approve wants to read that it is nothing.
func widensText(r PolicyResult) []string {
	if len(r.Widens) == 0 {
		return []string{"nothing beyond the partner's service provider users"}
	}
	return r.Widens
}

// oneLine makes tenant or user text safe to put inside a line of output: it
// repairs invalid UTF-8, and turns line breaks, control characters and
// bidirectional overrides (which can make a terminal or a browser show text
// other than what is there) into spaces. Runs of spaces are kept: a name is
// shown as written.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || isBidiControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// isBidiControl reports the explicit directional formatting characters
// (the "Trojan Source" ones).
func isBidiControl(r rune) bool {
	return r >= '\u202A' && r <= '\u202E' || r >= '\u2066' && r <= '\u2069' || r == '\u200E' || r == '\u200F' || r == '\u061C'
}

// patchJSON is the PATCH body of r's plan, indented, made safe to embed in a
// code block of any of the output formats: encoding/json already escapes
// < > & and control characters; a backtick (which could end a code span or
// fence) and the bidirectional controls are escaped too. All of these are
// valid JSON escapes, so the body Graph receives means the same.
func patchJSON(p json.RawMessage) string {
	var ind bytes.Buffer
	if err := json.Indent(&ind, p, "", "  "); err != nil {
		// PatchBody made it with encoding/json; this cannot happen.
		return "{}"
	}
	b := ind.Bytes()
	var sb strings.Builder
	for _, r := range string(b) {
		if r == '`' || isBidiControl(r) {
			fmt.Fprintf(&sb, `\u%04x`, r)
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
