package diagnose

import (
	"fmt"
	"strings"
	"time"
)

// Text renders a diagnosis for a terminal: the verdict line, the tenant, the
// scenario facts used (known, assumed, unknown), then the policies grouped by
// effect (blocks, may block, report-only that would block, satisfied,
// excluded, not applicable, disabled), each with its reasons, and for
// blocking ones the before and after of excludeGuestsOrExternalUsers and what
// the change widens; disagreements and missing evidence at the end.
func Text(d *Diagnosis) string {
	var b strings.Builder
	partner := partnerName(d)
	b.WriteString(Headline(d) + "\n\n")
	fmt.Fprintf(&b, "Customer tenant:  %s\n", tenantText(d.Tenant))
	if d.Scenario.PartnerTenantID != "" {
		fmt.Fprintf(&b, "Partner tenant:   %s\n", partner)
	} else {
		b.WriteString("Partner tenant:   not configured\n")
	}
	if r := d.Relationship; r != nil {
		fmt.Fprintf(&b, "GDAP:             %s\n", relationshipText(r))
	}
	if d.SignInsUsed > 0 {
		fmt.Fprintf(&b, "Sign-in log:      %s used\n", plural(d.SignInsUsed, "entry", "entries"))
	}

	b.WriteString("\nScenario: a service provider user from the partner tenant signs in to the customer tenant\n")
	for _, f := range scenarioFacts(d.Scenario) {
		fmt.Fprintf(&b, "  %-8s %s: %s\n", f.state, f.name, oneLine(f.value))
	}

	for _, g := range groupPolicies(d) {
		fmt.Fprintf(&b, "\n%s (%d)\n", g.title, len(g.results))
		for _, r := range g.results {
			textPolicy(&b, r, partner)
		}
	}

	if len(d.Disagreements) > 0 {
		b.WriteString("\nDisagreements (the engine and the evidence differ; the evidence was followed)\n")
		for _, s := range d.Disagreements {
			b.WriteString("  - " + oneLine(s) + "\n")
		}
	}
	if len(d.Missing) > 0 {
		b.WriteString("\nMissing evidence\n")
		for _, s := range d.Missing {
			b.WriteString("  - " + oneLine(s) + "\n")
		}
	}
	if len(d.Blocking()) > 0 {
		b.WriteString("\nFix: exclude Service provider users of the partner tenant from each blocking policy above; the guide shows how, step by step.\n")
	}
	return b.String()
}

func textPolicy(b *strings.Builder, r PolicyResult, partner string) {
	fmt.Fprintf(b, "\n  %s\n", policyName(r))
	fmt.Fprintf(b, "    %s; state %s; id %s\n", resultLabel(r), oneLine(r.State), oneLine(r.ID))
	for _, reason := range r.Reasons {
		b.WriteString("    - " + oneLine(reason) + "\n")
	}
	if !r.Effect.Blocking() {
		return
	}
	fmt.Fprintf(b, "    fix: %s\n", fixSummary(r, partner))
	if r.Plan == nil {
		return
	}
	fmt.Fprintf(b, "      excludeGuestsOrExternalUsers before: %s\n", oneLine(describeExclusion(r.Plan.Before)))
	fmt.Fprintf(b, "      excludeGuestsOrExternalUsers after:  %s\n", oneLine(describeExclusion(r.Plan.After)))
	for _, w := range widensText(r) {
		fmt.Fprintf(b, "      widens: %s\n", oneLine(w))
	}
}

// policyName is the policy's display name, or its ID when it has none.
func policyName(r PolicyResult) string {
	if strings.TrimSpace(r.DisplayName) != "" {
		return oneLine(r.DisplayName)
	}
	if r.ID != "" {
		return "(unnamed policy " + oneLine(r.ID) + ")"
	}
	return "(unnamed policy)"
}

// partnerName is the partner tenant's ID, or words for it when the
// scenario has none.
func partnerName(d *Diagnosis) string {
	if id := oneLine(d.Scenario.PartnerTenantID); id != "" {
		return id
	}
	return "the partner tenant"
}

// tenantText is "Contoso (contoso.onmicrosoft.com, a1b2…)", or what of it is
// known.
func tenantText(t *Tenant) string {
	if t == nil || t.ID == "" && t.DisplayName == "" && t.DefaultDomain == "" {
		return "not known"
	}
	var extra []string
	for _, s := range []string{t.DefaultDomain, t.ID} {
		if s != "" {
			extra = append(extra, oneLine(s))
		}
	}
	if t.DisplayName == "" {
		return strings.Join(extra, ", ")
	}
	if len(extra) == 0 {
		return oneLine(t.DisplayName)
	}
	return oneLine(t.DisplayName) + " (" + strings.Join(extra, ", ") + ")"
}

// relationshipText describes a GDAP relationship on one line.
func relationshipText(r *Relationship) string {
	s := oneLine(r.DisplayName)
	if s == "" {
		s = oneLine(r.ID)
	}
	s += ", " + oneLine(r.Status)
	if !r.EndDateTime.IsZero() {
		s += ", ends " + r.EndDateTime.UTC().Format(time.DateOnly)
	}
	if len(r.Roles) > 0 {
		names := make([]string, len(r.Roles))
		for i, id := range r.Roles {
			names[i] = oneLine(RoleName(id))
		}
		s += "; roles: " + strings.Join(names, ", ")
	}
	return s
}

// TextErrors renders pasted sign-in errors for a terminal (ca-check parse
// without --json): per error its code and name, what it means, the next
// step, and the identifiers a support engineer copies.
func TextErrors(errs []SignInError) string {
	if len(errs) == 0 {
		return "No AADSTS error code found.\n"
	}
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteString("\n")
		}
		info := LookupCode(e.Code)
		fmt.Fprintf(&b, "%s\n", errorTitle(e, info))
		if e.Message != "" {
			fmt.Fprintf(&b, "  Message:         %s\n", oneLine(e.Message))
		}
		fmt.Fprintf(&b, "  Meaning:         %s\n", info.Meaning)
		fmt.Fprintf(&b, "  Next step:       %s\n", info.NextStep)
		for _, f := range errorFields(e) {
			fmt.Fprintf(&b, "  %-16s %s\n", f.name+":", oneLine(f.value))
		}
	}
	return b.String()
}

// errorTitle is "AADSTS53003 BlockedByConditionalAccess (Conditional Access)".
func errorTitle(e SignInError, info CodeInfo) string {
	s := fmt.Sprintf("AADSTS%d", e.Code)
	name := e.Name
	if name == "" {
		name = info.Name
	}
	if name != "" {
		s += " " + oneLine(name)
	}
	cat := e.Category
	if cat == "" {
		cat = info.Category
	}
	return s + " (" + categoryLabel(cat) + ")"
}

func categoryLabel(c Category) string {
	switch c {
	case CategoryConditionalAccess:
		return "Conditional Access"
	case CategoryMFA:
		return "MFA"
	case CategoryGDAP:
		return "GDAP"
	case CategoryConsent:
		return "consent"
	case CategoryCrossTenant:
		return "cross-tenant access"
	case CategoryCredentials:
		return "credentials"
	case CategoryNotFound:
		return "not found"
	case CategoryOther, "":
		return "other"
	}
	return oneLine(string(c))
}

// errorField is one identifier of a pasted error, as label and raw value.
type errorField struct{ name, value string }

// errorFields lists the identifiers an error carries, in the order a support
// engineer looks for them. Values are unescaped tenant or user text.
func errorFields(e SignInError) []errorField {
	var fs []errorField
	add := func(name, value string) {
		if value != "" {
			fs = append(fs, errorField{name, value})
		}
	}
	add("Correlation ID", e.CorrelationID)
	add("Request ID", e.TraceID)
	if !e.Timestamp.IsZero() {
		add("Timestamp", e.Timestamp.UTC().Format(time.RFC3339))
	}
	add("Tenant ID", e.TenantID)
	add("Tenant", e.TenantName)
	switch {
	case e.AppName != "" && e.AppID != "":
		add("App", e.AppName+" ("+e.AppID+")")
	case e.AppID != "":
		add("App", appLabel(e.AppID))
	default:
		add("App", e.AppName)
	}
	switch {
	case e.ResourceID != "" && AppName(e.ResourceID) != e.ResourceID:
		add("Resource", appLabel(e.ResourceID))
	case e.ResourceID != "" && e.ResourceURI != "":
		add("Resource", e.ResourceURI+" ("+e.ResourceID+")")
	case e.ResourceID != "":
		add("Resource", e.ResourceID)
	default:
		add("Resource", e.ResourceURI)
	}
	add("IP address", e.IPAddress)
	add("Device platform", e.DevicePlatform)
	add("Device state", e.DeviceState)
	if e.DeviceCodeFlow {
		add("Flow", "device code flow")
	}
	if len(e.PolicyIDs) > 0 {
		add("Policy IDs", strings.Join(e.PolicyIDs, ", "))
	}
	return fs
}

// Markdown renders a diagnosis as GitHub-flavoured Markdown, for tickets and
// the README: the same content as Text.
func Markdown(d *Diagnosis) string {
	var b strings.Builder
	partner := partnerName(d)
	fmt.Fprintf(&b, "## ca-check: %s\n\n", mdEscape(headlineLabel(d)))
	fmt.Fprintf(&b, "**%s**\n\n", mdEscape(Headline(d)))
	fmt.Fprintf(&b, "- **Customer tenant:** %s\n", mdEscape(tenantText(d.Tenant)))
	if d.Scenario.PartnerTenantID != "" {
		fmt.Fprintf(&b, "- **Partner tenant:** %s\n", mdCode(partner))
	} else {
		b.WriteString("- **Partner tenant:** not configured\n")
	}
	if r := d.Relationship; r != nil {
		fmt.Fprintf(&b, "- **GDAP relationship:** %s\n", mdEscape(relationshipText(r)))
	}
	if d.SignInsUsed > 0 {
		fmt.Fprintf(&b, "- **Sign-in log:** %s used\n", plural(d.SignInsUsed, "entry", "entries"))
	}

	b.WriteString("\n### Scenario\n\nA service provider user from the partner tenant signs in to the customer tenant.\n\n")
	b.WriteString("| Fact | Value | |\n|---|---|---|\n")
	for _, f := range scenarioFacts(d.Scenario) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", f.name, mdEscape(f.value), f.state)
	}

	groups := groupPolicies(d)
	if len(groups) > 0 {
		b.WriteString("\n### Policies\n\n| Policy | Effect | State |\n|---|---|---|\n")
		for _, g := range groups {
			for _, r := range g.results {
				fmt.Fprintf(&b, "| %s | %s | %s |\n", mdEscape(policyName(r)), mdEscape(resultLabel(r)), mdEscape(oneLine(r.State)))
			}
		}
	}
	for _, g := range groups {
		fmt.Fprintf(&b, "\n### %s (%d)\n", g.title, len(g.results))
		for _, r := range g.results {
			markdownPolicy(&b, r, partner)
		}
	}

	if len(d.Disagreements) > 0 {
		b.WriteString("\n### Disagreements\n\nThe engine and the evidence differ; the evidence was followed.\n\n")
		for _, s := range d.Disagreements {
			b.WriteString("- " + mdEscape(s) + "\n")
		}
	}
	if len(d.Missing) > 0 {
		b.WriteString("\n### Missing evidence\n\n")
		for _, s := range d.Missing {
			b.WriteString("- " + mdEscape(s) + "\n")
		}
	}
	return b.String()
}

func markdownPolicy(b *strings.Builder, r PolicyResult, partner string) {
	fmt.Fprintf(b, "\n#### %s\n\n", mdEscape(policyName(r)))
	fmt.Fprintf(b, "%s · state %s · id %s\n\n", mdEscape(resultLabel(r)), mdCode(r.State), mdCode(r.ID))
	for _, reason := range r.Reasons {
		b.WriteString("- " + mdEscape(reason) + "\n")
	}
	if !r.Effect.Blocking() {
		return
	}
	fmt.Fprintf(b, "\n**Fix:** %s\n", mdEscape(fixSummary(r, partner)))
	if r.Plan == nil {
		return
	}
	fmt.Fprintf(b, "\n- `excludeGuestsOrExternalUsers` before: %s\n", mdEscape(describeExclusion(r.Plan.Before)))
	fmt.Fprintf(b, "- `excludeGuestsOrExternalUsers` after: %s\n", mdEscape(describeExclusion(r.Plan.After)))
	for _, w := range widensText(r) {
		fmt.Fprintf(b, "- widens: %s\n", mdEscape(w))
	}
}

// mdSpecial are the characters that could start Markdown or HTML structure
// inside a line: emphasis, code, links (and so images), autolinks and raw
// HTML, entity references, table cells, strikethrough, a heading's closing
// sequence. GitHub-flavoured Markdown takes a backslash before any ASCII
// punctuation as that character, so the text reads as written. Characters
// that only matter at the start of a line (> - + =) are left alone: escaped
// text never starts one.
const mdSpecial = "\\`*_[]<|~&#"

// mdEscape makes tenant or user text inert inside a line of Markdown,
// including a table cell.
func mdEscape(s string) string {
	s = oneLine(s)
	if !strings.ContainsAny(s, mdSpecial) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(mdSpecial, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mdCode is s as a Markdown code span. Inside a code span backslashes are
// literal, so a backtick cannot be escaped: it becomes ʼ, which reads the
// same, and | becomes ¦ so that the span cannot end a table cell. An empty
// value is shown as "(none)".
func mdCode(s string) string {
	s = oneLine(s)
	if s == "" {
		return "(none)"
	}
	return "`" + strings.NewReplacer("`", "ʼ", "|", "¦").Replace(s) + "`"
}
