package diagnose

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The example tenant of testdata/tenant, which the README shows.
const (
	examplePartner     = "4e8a1c55-7f1b-4c6e-9d2a-1b3c5d7e9f00"
	exampleCustomer    = "a1b2c3d4-0000-4000-8000-000000000001"
	exampleCorrelation = "7d2c4b91-3f5e-4a8b-b1c6-0e9f2a4d6c83"
)

func readTenantFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "tenant", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exampleEvidence reads the example tenant export.
func exampleEvidence(t testing.TB) Evidence {
	t.Helper()
	pols, err := DecodePolicies(readTenantFile(t, "policies.json"))
	if err != nil {
		t.Fatal(err)
	}
	locs, err := DecodeNamedLocations(readTenantFile(t, "named-locations.json"))
	if err != nil {
		t.Fatal(err)
	}
	signIns, err := DecodeSignIns(readTenantFile(t, "sign-ins.json"))
	if err != nil {
		t.Fatal(err)
	}
	return Evidence{
		Tenant:         &Tenant{ID: exampleCustomer, DisplayName: "Contoso", DefaultDomain: "contoso.onmicrosoft.com"},
		Policies:       pols,
		NamedLocations: locs,
		SignIns:        signIns,
	}
}

// exampleScenario is the scenario of testdata/tenant/error.txt, with the
// cross-tenant settings of cross-tenant.json. TestExampleTenantIsConsistent
// checks that the paste says what this scenario assumes.
func exampleScenario(t testing.TB) Scenario {
	t.Helper()
	ct, err := DecodeCrossTenant(readTenantFile(t, "cross-tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	return Scenario{
		PartnerTenantID: examplePartner,
		Apps:            []string{AppAzurePortal},
		Platform:        NormalizePlatform("Windows 10"),
		IP:              netip.MustParseAddr("203.0.113.7"),
		CorrelationID:   exampleCorrelation,
		CrossTenant:     &ct[0],
	}
}

func exampleDiagnosis(t testing.TB) *Diagnosis {
	t.Helper()
	return Evaluate(exampleEvidence(t), exampleScenario(t))
}

// TestExampleTenantIsConsistent guards the README example: the pasted error,
// the sign-in log and the policies tell one story, and the diagnosis is the
// one the README describes.
func TestExampleTenantIsConsistent(t *testing.T) {
	errs := ParseErrors(string(readTenantFile(t, "error.txt")))
	if len(errs) != 1 {
		t.Fatalf("error.txt: %d errors, want 1: %+v", len(errs), errs)
	}
	e := errs[0]
	if e.Code != 53003 || !strings.EqualFold(e.CorrelationID, exampleCorrelation) || e.AppID != AppAzurePortal ||
		e.IPAddress != "203.0.113.7" || NormalizePlatform(e.DevicePlatform) != "windows" {
		t.Errorf("error.txt parses to %+v; the example scenario assumes 53003, %s, the Azure portal, 203.0.113.7, Windows", e, exampleCorrelation)
	}

	d := exampleDiagnosis(t)
	if d.Verdict != VerdictBlocked || !d.Confirmed {
		t.Errorf("verdict %s (confirmed %v), want blocked and confirmed", d.Verdict, d.Confirmed)
	}
	if len(d.Disagreements) != 0 {
		t.Errorf("the example should have no disagreements: %q", d.Disagreements)
	}
	want := map[string]Effect{
		"Block access outside trusted locations":              EffectBlocks,
		"Require compliant device for admins":                 EffectMayBlock,
		"Require Duo MFA":                                     EffectBlocks,
		"Require MFA for all users":                           EffectSatisfied,
		"Block legacy authentication":                         EffectReportOnly,
		"Block Azure management from unmanaged devices (old)": EffectDisabled,
		"Require compliant device for Exchange Online":        EffectExcluded,
		"Require MFA for Finance":                             EffectNotApplicable,
		"Require compliant or hybrid joined device":           EffectBlocks,
		"Require terms of use for guests":                     EffectMayBlock,
		"Block unregistered devices":                          EffectMayBlock,
		"Block sign-ins from high-risk countries":             EffectMayBlock,
		"Require phishing-resistant MFA for Azure management": EffectReportOnly,
	}
	if len(d.Policies) != len(want) {
		t.Fatalf("%d policies, want %d", len(d.Policies), len(want))
	}
	for _, r := range d.Policies {
		if r.Effect != want[r.DisplayName] {
			t.Errorf("%s: %s, want %s (%q)", r.DisplayName, r.Effect, want[r.DisplayName], r.Reasons)
		}
	}
}

// smallPolicy decodes one policy written as Graph JSON.
func smallPolicy(t testing.TB, js string) Policy {
	t.Helper()
	ps, err := DecodePolicies([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return ps[0]
}

// smallDiagnoses are the fixtures beyond the example tenant: each shows a
// case the example does not (nothing blocks; exclusions that widen; an
// unknown tenant and partner with missing evidence; a disagreement).
func smallDiagnoses(t testing.TB) map[string]*Diagnosis {
	t.Helper()
	mfa := smallPolicy(t, `{"id":"p-mfa","displayName":"Require MFA","state":"enabled",
		"conditions":{"users":{"includeUsers":["All"]},"applications":{"includeApplications":["All"]},"clientAppTypes":["all"]},
		"grantControls":{"operator":"OR","builtInControls":["mfa"]}}`)
	reportOnly := smallPolicy(t, `{"id":"p-ro","displayName":"Require compliant device (pilot)","state":"enabledForReportingButNotEnforced",
		"conditions":{"users":{"includeUsers":["All"]},"applications":{"includeApplications":["All"]}},
		"grantControls":{"operator":"OR","builtInControls":["compliantDevice"]}}`)
	allTenants := smallPolicy(t, `{"id":"p-all","displayName":"Block guests outside the office","state":"enabled",
		"conditions":{"users":{"includeUsers":["All"],"excludeGuestsOrExternalUsers":{"guestOrExternalUserTypes":"b2bCollaborationGuest,b2bDirectConnectUser",
			"externalTenants":{"@odata.type":"#microsoft.graph.conditionalAccessAllExternalTenants","membershipKind":"all"}}},
			"applications":{"includeApplications":["All"]}},
		"grantControls":{"operator":"OR","builtInControls":["block"]}}`)
	duo := smallPolicy(t, `{"id":"p-duo","displayName":"Duo for everyone","state":"enabled",
		"conditions":{"users":{"includeUsers":["All"]},"applications":{"includeApplications":["All"]}},
		"grantControls":{"operator":"OR","customAuthenticationFactors":["Duo-Security"]}}`)
	platform := smallPolicy(t, `{"id":"p-plat","displayName":"Block iOS and Android","state":"enabled",
		"conditions":{"users":{"includeUsers":["All"]},"applications":{"includeApplications":["All"]},
			"platforms":{"includePlatforms":["iOS","android"],"excludePlatforms":[]}},
		"grantControls":{"operator":"OR","builtInControls":["block"]}}`)
	when := time.Date(2025, 3, 14, 9, 41, 27, 0, time.UTC)

	sc := Scenario{PartnerTenantID: examplePartner}
	allSc := sc
	allSc.AllTenantsFix = true
	return map[string]*Diagnosis{
		"not_blocked": Evaluate(Evidence{
			Tenant:   &Tenant{ID: exampleCustomer, DisplayName: "Fabrikam"},
			Policies: []Policy{mfa, reportOnly},
		}, sc),
		"widens": Evaluate(Evidence{
			Tenant:   &Tenant{ID: exampleCustomer, DefaultDomain: "fabrikam.onmicrosoft.com"},
			Policies: []Policy{allTenants, duo},
		}, sc),
		"all_tenants_fix": Evaluate(Evidence{Policies: []Policy{duo}}, allSc),
		"possibly_unknown": Evaluate(Evidence{
			Policies: []Policy{platform, mfa},
			Missing:  []string{"sign-in logs: the tenant has no Microsoft Entra ID P1 licence", "named locations: 403 Forbidden"},
		}, Scenario{}),
		"disagreement": Evaluate(Evidence{
			Tenant:   &Tenant{ID: exampleCustomer},
			Policies: []Policy{mfa, duo},
			SignIns: []SignIn{{ID: "s1", CreatedDateTime: when, CorrelationID: exampleCorrelation,
				AppliedConditionalAccessPolicies: []AppliedPolicy{
					{ID: "p-mfa", DisplayName: "Require MFA", Result: ResultFailure},
					{ID: "p-gone", DisplayName: "Deleted policy", Result: ResultFailure},
				}}},
		}, Scenario{PartnerTenantID: examplePartner, CorrelationID: exampleCorrelation}),
	}
}

// exampleErrors are pasted errors as ParseErrors returns them: the example
// paste, and one with every field and a code ca-check does not describe.
func exampleErrors() []SignInError {
	return []SignInError{
		{
			Code: 53003, Name: "BlockedByConditionalAccess", Category: CategoryConditionalAccess,
			Message:       "AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
			CorrelationID: exampleCorrelation, TraceID: "3f8b2a61-95c4-4d7e-a0b9-6c2e8f1d4a00",
			Timestamp: time.Date(2025, 3, 14, 9, 41, 27, 512e6, time.UTC),
			AppID:     AppAzurePortal, AppName: "Azure Portal", IPAddress: "203.0.113.7",
			DevicePlatform: "Windows 10", DeviceState: "Unregistered",
		},
		{
			Code: 50158, TenantID: exampleCustomer, AppID: AppGraphPowerShell,
			PolicyIDs: []string{"2d0b6e3a-7c4f-4a9d-9e5b-3f8c0a4d6b03"}, DeviceCodeFlow: true,
		},
		{Code: 9999999},
		// The tenant and the resource as messages name them; the name is
		// tenant text, escaped like any.
		{Code: 500011, Category: CategoryNotFound, TenantName: "Contoso <Ltd> & *Co*", ResourceID: AppMicrosoftGraph, ResourceURI: "https://graph.microsoft.com"},
		{Code: 500014, ResourceURI: "https://contoso.example/api"},
	}
}

func TestRenderGolden(t *testing.T) {
	d := exampleDiagnosis(t)
	golden(t, "example.txt", []byte(Text(d)))
	golden(t, "example.md", []byte(Markdown(d)))
	golden(t, "example_guide.md", []byte(Guide(d)))
	golden(t, "example_guide.mrkdwn", []byte(GuideMrkdwn(d)))
	golden(t, "example_summary.mrkdwn", []byte(MrkdwnSummary(d)))
	var policies []string
	for _, r := range d.Policies {
		policies = append(policies, MrkdwnPolicy(r))
	}
	golden(t, "example_policies.mrkdwn", []byte(strings.Join(policies, "\n\n----\n\n")+"\n"))
	golden(t, "errors.txt", []byte(TextErrors(exampleErrors())))
	golden(t, "errors.mrkdwn", []byte(MrkdwnErrors(exampleErrors())+"\n"))

	for name, d := range smallDiagnoses(t) {
		t.Run(name, func(t *testing.T) {
			golden(t, name+".txt", []byte(Text(d)))
			golden(t, name+".md", []byte(Markdown(d)))
			golden(t, name+"_guide.md", []byte(Guide(d)))
			golden(t, name+"_guide.mrkdwn", []byte(GuideMrkdwn(d)))
			golden(t, name+"_summary.mrkdwn", []byte(MrkdwnSummary(d)+"\n"))
		})
	}
}

func TestHeadline(t *testing.T) {
	ds := smallDiagnoses(t)
	tests := []struct {
		d    *Diagnosis
		want string
	}{
		{exampleDiagnosis(t), "Blocked: 3 policies block service provider users of " + examplePartner + " (confirmed by the sign-in log); 4 more may block"},
		{ds["not_blocked"], "Not blocked: no enabled policy blocks service provider users of " + examplePartner + "; 1 report-only policy would block if enforced"},
		{ds["widens"], "Likely blocked: 2 policies block service provider users of " + examplePartner},
		{ds["possibly_unknown"], "Possibly blocked: 1 policy may block service provider users of the partner tenant, depending on facts not known"},
	}
	for _, tt := range tests {
		if got := Headline(tt.d); got != tt.want {
			t.Errorf("Headline =\n %q\nwant\n %q", got, tt.want)
		}
	}
}

// TestTextGroupsInOrder checks the order of DESIGN.md: blocks, may block,
// report-only that would block, satisfied, excluded, not applicable,
// disabled; and that every policy is shown exactly once.
func TestTextGroupsInOrder(t *testing.T) {
	d := exampleDiagnosis(t)
	for name, out := range map[string]string{"Text": Text(d), "Markdown": Markdown(d)} {
		last := -1
		for _, title := range []string{"Blocks (3)", "May block (4)", "Report-only, would block (1)", "Satisfied (1)", "Already excluded (1)", "Not applicable (2)", "Disabled (1)", "Missing evidence"} {
			i := strings.Index(out, title)
			if title == "Missing evidence" {
				if i >= 0 {
					t.Errorf("%s: a section on missing evidence, but none is missing", name)
				}
				continue
			}
			if i < last {
				t.Errorf("%s: section %q out of order (or missing)", name, title)
			}
			last = i
		}
		for _, r := range d.Policies {
			if n := strings.Count(out, "id "+r.ID) + strings.Count(out, "id `"+r.ID+"`"); n != 1 {
				t.Errorf("%s: policy %s shown %d times", name, r.DisplayName, n)
			}
		}
	}
}

// hostile is a policy name that tries every Slack control sequence.
const hostile = "<!channel> & <@U123> <https://evil.example|click>"

// hostileDiagnosis has hostile text everywhere tenant text goes: names,
// reasons (which quote names), IDs, states, the tenant, missing evidence,
// disagreements, and the exclusion's tenant list.
func hostileDiagnosis(t testing.TB) *Diagnosis {
	t.Helper()
	loc := NamedLocation{ID: "loc1", DisplayName: hostile + " `office`", IsTrusted: true, IPRanges: []IPRange{{CIDRAddress: "198.51.100.0/24"}}}
	block := Policy{ID: "id-" + hostile, DisplayName: hostile + "\n*Approved* `x` | y", State: StateEnabled,
		Conditions: Conditions{
			Users: &UsersCondition{IncludeUsers: []string{"All"}, ExcludeGuestsOrExternalUsers: &GuestsOrExternalUsers{
				GuestOrExternalUserTypes: "b2bCollaborationGuest",
				ExternalTenants:          &ExternalTenants{MembershipKind: MembershipEnumerated, Members: []string{hostile}},
			}},
			Applications: &ApplicationsCondition{IncludeApplications: []string{"All"}},
			Locations:    &LocationsCondition{IncludeLocations: []string{"loc1"}},
		},
		GrantControls: &GrantControls{Operator: "OR", BuiltInControls: []string{"block"}, CustomAuthenticationFactors: []string{hostile}}}
	other := block
	other.ID, other.State = "other", StateDisabled
	d := Evaluate(Evidence{
		Tenant:         &Tenant{ID: hostile, DisplayName: hostile, DefaultDomain: hostile},
		Policies:       []Policy{block, other},
		NamedLocations: []NamedLocation{loc},
		Missing:        []string{hostile},
	}, Scenario{PartnerTenantID: examplePartner, IP: netip.MustParseAddr("198.51.100.7"), CorrelationID: hostile, Apps: []string{hostile}})
	d.Disagreements = append(d.Disagreements, "policy "+quoteName(hostile)+": a disagreement")
	if d.Policies[0].Effect != EffectBlocks || !strings.Contains(strings.Join(d.Policies[0].Reasons, " "), hostile) {
		t.Fatalf("fixture: want a blocking policy whose reasons quote the hostile name; got %s %q", d.Policies[0].Effect, d.Policies[0].Reasons)
	}
	return d
}

// TestMrkdwnEscapesTenantText: text from a tenant or a paste reaches Slack
// only escaped. ca-check's own formatting uses no < or >, so any raw < or >
// in a mrkdwn piece is smuggled.
func TestMrkdwnEscapesTenantText(t *testing.T) {
	d := hostileDiagnosis(t)
	errs := []SignInError{{Code: 53003, Name: hostile, Message: hostile, CorrelationID: hostile, TraceID: hostile,
		TenantID: hostile, AppID: hostile, AppName: hostile, IPAddress: hostile, DevicePlatform: hostile, DeviceState: hostile,
		PolicyIDs: []string{hostile, "`" + hostile}}}
	pieces := map[string]string{
		"MrkdwnSummary": MrkdwnSummary(d),
		"GuideMrkdwn":   GuideMrkdwn(d),
		"MrkdwnErrors":  MrkdwnErrors(errs),
	}
	for i, r := range d.Policies {
		pieces[fmt.Sprintf("MrkdwnPolicy[%d]", i)] = MrkdwnPolicy(r)
	}
	for name, out := range pieces {
		if strings.ContainsAny(out, "<>") {
			t.Errorf("%s has a raw < or >:\n%s", name, out)
		}
		if !strings.Contains(out, "&lt;!channel&gt; &amp; &lt;@U123&gt;") {
			t.Errorf("%s does not show the hostile text escaped:\n%s", name, out)
		}
		if strings.Contains(out, "\n*Approved*") {
			t.Errorf("%s lets a name start a line of its own:\n%s", name, out)
		}
		if strings.Contains(out, "&amp;lt;") {
			t.Errorf("%s escapes twice:\n%s", name, out)
		}
		checkCodeSpans(t, name, out)
	}
}

// checkCodeSpans fails when a line has an odd number of backticks outside
// ``` fences: tenant text closed or opened a code span.
func checkCodeSpans(t *testing.T, name, out string) {
	t.Helper()
	fenced := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			if strings.Contains(line, "`") {
				t.Errorf("%s: a backtick inside a code block: %q", name, line)
			}
			continue
		}
		if strings.Count(line, "`")%2 != 0 {
			t.Errorf("%s: unbalanced backticks: %q", name, line)
		}
	}
}

// TestMarkdownAndTextEscapeTenantText: a policy name cannot break the
// structure of Markdown (tables, code spans, lines) or send control
// characters to a terminal.
func TestMarkdownAndTextEscapeTenantText(t *testing.T) {
	d := hostileDiagnosis(t)
	d.Policies[0].DisplayName = "evil\x1b[2J\u202e | `x` <b>bold</b> &amp;\r\n# heading"
	md := Markdown(d)
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| ") && strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") != 4 {
			t.Errorf("a table row has the wrong number of cells: %q", line)
		}
		if strings.HasPrefix(line, "# ") {
			t.Errorf("a name made a heading: %q", line)
		}
	}
	for _, line := range strings.Split(md, "\n") {
		if c, ok := unescapedMarkdown(line); ok {
			t.Errorf("an unescaped %q (raw HTML, an entity, a link) got through: %q", c, line)
		}
	}
	for name, out := range map[string]string{"Text": Text(d), "Markdown": md, "Guide": Guide(d), "TextErrors": TextErrors([]SignInError{{Code: 1, Message: "a\x1b[31mred\u202e"}})} {
		if strings.ContainsAny(out, "\x1b\r\u202e") {
			t.Errorf("%s has a control character from tenant text", name)
		}
	}
	checkCodeSpans(t, "Guide", Guide(d))
}

// unescapedMarkdown finds a < & or [ outside code spans that no backslash
// escapes.
func unescapedMarkdown(line string) (byte, bool) {
	inCode := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\\':
			i++
		case c == '`':
			inCode = !inCode
		case !inCode && (c == '<' || c == '&' || c == '['):
			return c, true
		}
	}
	return 0, false
}

// TestMrkdwnLimits: 200 blocking policies with 250-character names, and
// reasons and exclusions to match, still give pieces Slack accepts.
func TestMrkdwnLimits(t *testing.T) {
	var pols []Policy
	for i := range 200 {
		name := fmt.Sprintf("%03d ", i) + strings.Repeat("Ünïcødé & <b> ", 18)[:246]
		var members []string
		for j := range 300 {
			members = append(members, fmt.Sprintf("%08d-0000-4000-8000-000000000000", j))
		}
		pols = append(pols, Policy{ID: fmt.Sprintf("%08d-1111-4000-8000-000000000000", i), DisplayName: name, State: StateEnabled,
			Conditions: Conditions{
				Users: &UsersCondition{IncludeUsers: []string{"All"}, ExcludeGuestsOrExternalUsers: &GuestsOrExternalUsers{
					GuestOrExternalUserTypes: "b2bCollaborationGuest,internalGuest",
					ExternalTenants:          &ExternalTenants{MembershipKind: MembershipEnumerated, Members: members},
				}},
				Applications: &ApplicationsCondition{IncludeApplications: []string{"All"}},
			},
			GrantControls: &GrantControls{Operator: "OR", BuiltInControls: []string{"block"}, CustomAuthenticationFactors: []string{strings.Repeat("&", 900)}}})
	}
	d := Evaluate(Evidence{Policies: pols, Missing: []string{strings.Repeat("<missing> ", 500)}}, Scenario{PartnerTenantID: examplePartner})
	for i := range d.Policies {
		d.Policies[i].Reasons = append(d.Policies[i].Reasons, strings.Repeat("reason & more <x> ", 400))
		for range 50 {
			d.Policies[i].Reasons = append(d.Policies[i].Reasons, "another reason naming "+quoteName(pols[i].DisplayName))
		}
	}
	check := func(name, s string) {
		t.Helper()
		if len(s) > MrkdwnLimit {
			t.Errorf("%s: %d bytes, over %d", name, len(s), MrkdwnLimit)
		}
		if !utf8.ValidString(s) {
			t.Errorf("%s: invalid UTF-8", name)
		}
		if strings.ContainsAny(s, "<>") {
			t.Errorf("%s: raw < or >", name)
		}
		if brokenEntity(s) {
			t.Errorf("%s: a cut escape sequence:\n%s", name, s)
		}
		checkCodeSpans(t, name, s)
	}
	sum := MrkdwnSummary(d)
	check("MrkdwnSummary", sum)
	if !strings.Contains(sum, "more") || !strings.Contains(sum, "*Next:*") {
		t.Errorf("MrkdwnSummary should list what fits, say how many more, and keep the next step:\n%s", sum)
	}
	for i, r := range d.Policies {
		p := MrkdwnPolicy(r)
		check(fmt.Sprintf("MrkdwnPolicy[%d]", i), p)
		if i == 0 {
			if !strings.Contains(p, "more reasons") || !strings.Contains(p, "*After:*") || !strings.Contains(p, "*Widens:*") {
				t.Errorf("MrkdwnPolicy should keep the fix and count the reasons left out:\n%s", p)
			}
		}
	}
	var errs []SignInError
	for i := range 100 {
		errs = append(errs, SignInError{Code: 53003, Message: strings.Repeat("&<>", 200), CorrelationID: fmt.Sprint(i), PolicyIDs: []string{strings.Repeat("x", 1000)}})
	}
	e := MrkdwnErrors(errs)
	check("MrkdwnErrors", e)
	if !strings.Contains(e, "more errors") {
		t.Errorf("MrkdwnErrors should say how many errors did not fit")
	}
}

// brokenEntity reports an & that does not start &amp; &lt; or &gt;.
func brokenEntity(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '&' {
			continue
		}
		rest := s[i:]
		if !strings.HasPrefix(rest, "&amp;") && !strings.HasPrefix(rest, "&lt;") && !strings.HasPrefix(rest, "&gt;") {
			return true
		}
	}
	return false
}

func TestTruncateMrkdwn(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"abc&amp;def", 8, "abc…"},           // would cut &amp; in two
		{"abc&amp;defghij", 12, "abc&amp;…"}, // keeps the whole entity
		{"`code span here`", 10, "`code …`"}, // closes the span it cut
		{"ééééé", 7, "é…"},                   // rune boundary: 2 bytes each, … is 3
		{"abc", 2, ""},
	}
	for _, tt := range tests {
		got := truncateMrkdwn(tt.in, tt.max)
		if got != tt.want || len(got) > tt.max && tt.max > 0 {
			t.Errorf("truncateMrkdwn(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestEscapeMrkdwn(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain *bold* _it_", "plain *bold* _it_"},
		{hostile, "&lt;!channel&gt; &amp; &lt;@U123&gt; &lt;https://evil.example|click&gt;"},
		{"&amp;", "&amp;amp;"},
		{"<!subteam^S1|team>", "&lt;!subteam^S1|team&gt;"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
	}
	for _, tt := range tests {
		if got := EscapeMrkdwn(tt.in); got != tt.want {
			t.Errorf("EscapeMrkdwn(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
