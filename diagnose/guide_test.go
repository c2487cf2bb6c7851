package diagnose

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// What a customer admin checks before running the guide: it names exactly
// the blocking policies, each PowerShell body excludes the partner's tenant
// and keeps the rest of the users condition, and the before and after are
// what the policy has and will have.

// guideSection is one policy's part of a Markdown guide.
type guideSection struct {
	title, text string
}

func guideSections(t *testing.T, guide string) []guideSection {
	t.Helper()
	var out []guideSection
	parts := regexp.MustCompile(`(?m)^### \d+\. (.*)$`).FindAllStringSubmatchIndex(guide, -1)
	for i, p := range parts {
		end := len(guide)
		if i+1 < len(parts) {
			end = parts[i+1][0]
		}
		out = append(out, guideSection{title: guide[p[2]:p[3]], text: guide[p[1]:end]})
	}
	return out
}

// hereStrings returns the bodies of the PowerShell single-quoted here-strings.
func hereStrings(s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?s)\$body = @'\n(.*?)\n'@\n`).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestGuideListsExactlyTheBlockingPolicies(t *testing.T) {
	d := exampleDiagnosis(t)
	var want []string
	for _, r := range d.Blocking() {
		want = append(want, r.DisplayName)
	}
	var got []string
	for _, s := range guideSections(t, Guide(d)) {
		got = append(got, s.title)
	}
	if !slices.Equal(got, want) {
		t.Errorf("guide sections:\n %q\nwant the blocking policies:\n %q", got, want)
	}
	if len(want) != 7 {
		t.Errorf("the example has %d blocking policies; the README says 7", len(want))
	}
	guide := Guide(d)
	for _, r := range d.Policies {
		if !r.Effect.Blocking() && strings.Contains(guide, r.ID) {
			t.Errorf("the guide mentions %q, which does not block", r.DisplayName)
		}
	}
	// The report-only policy that would block is named, but not changed.
	if !strings.Contains(guide, "**Report-only:** 1 policy would block") || !strings.Contains(guide, "Require phishing-resistant MFA for Azure management") {
		t.Errorf("the guide should name the report-only policy that would block")
	}
}

func TestGuidePowerShell(t *testing.T) {
	d := exampleDiagnosis(t)
	blocking := d.Blocking()
	for name, guide := range map[string]string{"Guide": Guide(d), "GuideMrkdwn": GuideMrkdwn(d)} {
		if !strings.Contains(guide, "Connect-MgGraph -TenantId '"+exampleCustomer+"' -Scopes 'Policy.Read.All','Policy.ReadWrite.ConditionalAccess','Application.Read.All'") {
			t.Errorf("%s: no Connect-MgGraph to the customer tenant with the three scopes", name)
		}
		// The mrkdwn guide is escaped for Slack; what the admin copies is
		// what Slack shows.
		shown := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(guide)
		bodies := hereStrings(shown)
		if len(bodies) != len(blocking) {
			t.Fatalf("%s: %d PowerShell bodies, want one per blocking policy (%d)", name, len(bodies), len(blocking))
		}
		for i, r := range blocking {
			var p struct {
				Conditions struct {
					Users UsersCondition `json:"users"`
				} `json:"conditions"`
			}
			dec := json.NewDecoder(strings.NewReader(bodies[i]))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&p); err != nil {
				t.Fatalf("%s: body %d (%s) is not a PATCH body: %v\n%s", name, i, r.DisplayName, err, bodies[i])
			}
			x := p.Conditions.Users.ExcludeGuestsOrExternalUsers
			if !x.Excludes(examplePartner) || !slices.Contains(x.ExternalTenants.Members, examplePartner) {
				t.Errorf("%s: %s: the body does not exclude service provider users of the partner tenant by ID: %+v", name, r.DisplayName, x)
			}
			if x.AllTenants() {
				t.Errorf("%s: %s: the body excludes all tenants; least privilege is the partner's alone", name, r.DisplayName)
			}
			// Everything else in the users condition is as read.
			before, after := *r.Policy.Conditions.Users, p.Conditions.Users
			if !slices.Equal(before.IncludeUsers, after.IncludeUsers) || !slices.Equal(before.ExcludeUsers, after.ExcludeUsers) ||
				!slices.Equal(before.IncludeRoles, after.IncludeRoles) || !slices.Equal(before.IncludeGroups, after.IncludeGroups) {
				t.Errorf("%s: %s: the body changes more than the exclusion:\nbefore %+v\nafter  %+v", name, r.DisplayName, before, after)
			}
			for _, typ := range r.Policy.Conditions.Users.ExcludeGuestsOrExternalUsers.Types() {
				if !x.HasType(typ) {
					t.Errorf("%s: %s: the body drops the excluded type %s", name, r.DisplayName, typ)
				}
			}
			update := "Update-MgIdentityConditionalAccessPolicy -ConditionalAccessPolicyId '" + r.ID + "' -BodyParameter $body"
			if !strings.Contains(shown, bodies[i]+"\n'@\n"+update) {
				t.Errorf("%s: %s: the body is not followed by the update of that policy", name, r.DisplayName)
			}
		}
	}
}

func TestGuideBeforeAfter(t *testing.T) {
	d := exampleDiagnosis(t)
	sections := map[string]string{}
	for _, s := range guideSections(t, Guide(d)) {
		sections[s.title] = s.text
	}
	tests := []struct {
		policy string
		want   []string
	}{
		{"Block access outside trusted locations", []string{
			"**Before:** none",
			"**After:** Service provider users of the partner tenant " + examplePartner,
			"**Widens:** nothing beyond the partner's service provider users",
			"add the partner tenant ID `" + examplePartner + "`",
		}},
		{"Require compliant or hybrid joined device", []string{
			"**Before:** Local guest users and B2B collaboration guest users of the tenant 9c2e4a6b-8d0f-4b1c-a3e5-7f9b1d3c5e77",
			"**After:** Local guest users, B2B collaboration guest users and Service provider users of the tenants 9c2e4a6b-8d0f-4b1c-a3e5-7f9b1d3c5e77 and the partner tenant " + examplePartner,
			"now also covers the partner tenant " + examplePartner,
			"Service provider users of the tenants already listed (9c2e4a6b-8d0f-4b1c-a3e5-7f9b1d3c5e77) are excluded too.",
			"Leave the types already checked (Local guest users and B2B collaboration guest users) as they are.",
			"Keep the tenants already listed.",
		}},
	}
	for _, tt := range tests {
		text, ok := sections[tt.policy]
		if !ok {
			t.Errorf("no section for %q", tt.policy)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: the guide does not say %q", tt.policy, w)
			}
		}
	}

	// A policy that excludes other types from all tenants widens to all
	// tenants, and the clicks say to leave All.
	widens := Guide(smallDiagnoses(t)["widens"])
	for _, w := range []string{"of all external Microsoft Entra organizations", "service provider users of every tenant are excluded", "leave **All** chosen"} {
		if !strings.Contains(widens, w) {
			t.Errorf("widens guide does not say %q", w)
		}
	}
}

func TestGuideWithoutTenantOrPartner(t *testing.T) {
	d := smallDiagnoses(t)["possibly_unknown"]
	g := Guide(d)
	for _, w := range []string{"-TenantId '" + customerPlaceholder + "'", "`" + partnerPlaceholder + "`", "Customer tenant:** not known"} {
		if !strings.Contains(g, w) {
			t.Errorf("guide without tenant or partner does not say %q:\n%s", w, g)
		}
	}
}

func TestPSQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0b8f4c1e-5a2d-4e7b-9c3f-1d6a8e2b4f01", "'0b8f4c1e-5a2d-4e7b-9c3f-1d6a8e2b4f01'"},
		{"a'b", "'a''b'"},
		{"it\u2019s $(evil) `n", "'it\u2019\u2019s $(evil) `n'"},
		{"line\nbreak", "'line break'"},
	}
	for _, tt := range tests {
		if got := psQuote(tt.in); got != tt.want {
			t.Errorf("psQuote(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// graphEnumNames are Graph's names of the guest or external user types,
// which belong in the PowerShell and Graph parts of a guide only.
var graphEnumNames = []string{"internalGuest", "b2bCollaborationGuest", "b2bCollaborationMember", "b2bDirectConnectUser", "otherExternalUser", "serviceProvider"}

// outsideCode removes a guide's code blocks and Graph request lines: what
// is left is what a customer admin reads to click through the admin center.
func outsideCode(guide string) string {
	var out []string
	inBlock := false
	for _, l := range strings.Split(guide, "\n") {
		switch {
		case strings.HasPrefix(l, "```"):
			inBlock = !inBlock
			continue
		case inBlock, strings.HasPrefix(l, "    "), strings.Contains(l, "Microsoft Graph request"), strings.Contains(l, "excludeGuestsOrExternalUsers changed"):
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// The admin center's words wherever a customer admin clicks: every exclusion
// of the example (none, other types for listed tenants) and of the
// widening fixture (other types for all tenants), in every format.
func TestGuidePortalWords(t *testing.T) {
	for name, d := range map[string]*Diagnosis{"example": exampleDiagnosis(t), "widens": smallDiagnoses(t)["widens"]} {
		for format, guide := range map[string]string{"text": GuideText(d), "markdown": Guide(d), "mrkdwn": GuideMrkdwn(d)} {
			portal := outsideCode(guide)
			for _, enum := range graphEnumNames {
				if strings.Contains(portal, enum) {
					t.Errorf("%s %s guide: the Graph name %q outside the PowerShell and Graph parts:\n%s", name, format, enum, portal)
				}
			}
			if !strings.Contains(portal, "Service provider users") {
				t.Errorf("%s %s guide does not say Service provider users", name, format)
			}
		}
	}
	if g := outsideCode(Guide(exampleDiagnosis(t))); !strings.Contains(g, "Local guest users and B2B collaboration guest users") {
		t.Errorf("the example's existing exclusion is not named in the admin center's words")
	}
}

// Plain text is plain: nothing a terminal would show as stray markup.
func TestGuideTextIsPlain(t *testing.T) {
	for name, d := range smallDiagnoses(t) {
		hostile := *d
		hostile.Policies = append([]PolicyResult(nil), d.Policies...)
		for i := range hostile.Policies {
			hostile.Policies[i].DisplayName = "Exchange & SharePoint *only*"
		}
		for _, dd := range []*Diagnosis{d, &hostile} {
			g := GuideText(dd)
			for _, bad := range []string{"##", "**", "`", `\&`, `\*`} {
				if strings.Contains(g, bad) {
					t.Errorf("%s: plain-text guide has %q:\n%s", name, bad, g)
				}
			}
		}
	}
	g := GuideText(exampleDiagnosis(t))
	for _, want := range []string{"Unblock service provider users of 4e8a1c55-7f1b-4c6e-9d2a-1b3c5d7e9f00\n=====", "\nConnect-MgGraph -TenantId", "\nUpdate-MgIdentityConditionalAccessPolicy"} {
		if !strings.Contains(g, want) {
			t.Errorf("plain-text guide lacks %q", want)
		}
	}
	// What is copied runs: a here-string ends only at the start of a line.
	if bodies := hereStrings(g); len(bodies) != len(exampleDiagnosis(t).Blocking()) {
		t.Errorf("%d PowerShell here-strings that run as copied, want one per policy", len(bodies))
	}
}

// Certainty first: the fix (confirmed, then blocks) before the optional
// policies, each optional one saying what decides it and what it gives up.
func TestGuideOrderByCertainty(t *testing.T) {
	d := exampleDiagnosis(t)
	data := GuideFor(d)
	var seenOptional bool
	for i, p := range data.Policies {
		if p.Optional {
			seenOptional = true
			if p.Effect != EffectMayBlock || len(p.DecidedBy) == 0 || p.GivesUp == "" {
				t.Errorf("optional %s: effect %s, decided by %q, gives up %q", p.DisplayName, p.Effect, p.DecidedBy, p.GivesUp)
			}
			continue
		}
		if seenOptional {
			t.Errorf("policy %d (%s) of the fix comes after an optional one", i, p.DisplayName)
		}
		if p.Effect != EffectBlocks || p.GivesUp != "" {
			t.Errorf("fix %s: effect %s, gives up %q", p.DisplayName, p.Effect, p.GivesUp)
		}
	}
	if !data.Policies[0].Confirmed {
		t.Errorf("the confirmed policy is not first: %s", data.Policies[0].DisplayName)
	}
	byName := map[string]GuidePolicy{}
	for _, p := range data.Policies {
		byName[p.DisplayName] = p
	}
	for name, want := range map[string][]string{
		"Block sign-ins from high-risk countries": {"the partner's country", "no longer blocks the partner's staff"},
		"Require compliant device for admins":     {"the partner's GDAP roles", "no longer requires a compliant device"},
		"Block unregistered devices":              {"a device filter", "no longer blocks"},
	} {
		p := byName[name]
		if got := strings.Join(p.DecidedBy, "; ") + " | " + p.GivesUp; !strings.Contains(got, want[0]) || !strings.Contains(got, want[1]) {
			t.Errorf("%s: %q, want it to say %q", name, got, want)
		}
	}
	for _, guide := range []string{Guide(d), GuideText(d), GuideMrkdwn(d)} {
		fix := strings.Index(guide, "The fix: policies that block the partner")
		opt := strings.Index(guide, "Optional: policies that may block")
		if fix < 0 || opt < fix || !strings.Contains(guide, "depends on the partner's country") {
			t.Errorf("guide does not list the fix, then the optional policies with what decides them:\n%s", guide[:min(len(guide), 3000)])
		}
	}
}

// --guide --json: the same steps as data, the request body the diagnosis'
// patch.
func TestGuideFor(t *testing.T) {
	d := exampleDiagnosis(t)
	data := GuideFor(d)
	blocking := d.Blocking()
	if len(data.Policies) != len(blocking) || data.CustomerTenant != exampleCustomer || data.PartnerTenant != examplePartner {
		t.Fatalf("guide data: %d policies for %d blocking, tenants %s %s", len(data.Policies), len(blocking), data.CustomerTenant, data.PartnerTenant)
	}
	for i, p := range data.Policies {
		r := blocking[i]
		if p.ID != r.ID || p.Request == nil || string(p.Request.Body) != string(r.Patch) || p.Request.Method != "PATCH" ||
			!strings.HasSuffix(p.Request.URL, "/identity/conditionalAccess/policies/"+r.ID) {
			t.Errorf("policy %d: %+v", i, p)
		}
		if len(p.AdminCenter) != 6 || !strings.Contains(p.AdminCenter[3], "Service provider users") || strings.ContainsAny(strings.Join(p.AdminCenter, ""), "*`") {
			t.Errorf("policy %d admin center steps: %q", i, p.AdminCenter)
		}
		if !strings.Contains(p.PowerShell, "Update-MgIdentityConditionalAccessPolicy -ConditionalAccessPolicyId '"+r.ID+"'") {
			t.Errorf("policy %d PowerShell: %s", i, p.PowerShell)
		}
	}
	if len(data.Verify) != 4 || len(data.ReportOnly) != 1 || !strings.HasPrefix(data.Connect, "Connect-MgGraph -TenantId '"+exampleCustomer+"'") {
		t.Errorf("verify %q, report-only %q, connect %q", data.Verify, data.ReportOnly, data.Connect)
	}
	if b, err := json.Marshal(data); err != nil || !json.Valid(b) {
		t.Errorf("guide data does not encode: %v", err)
	}
	if empty := GuideFor(smallDiagnoses(t)["not_blocked"]); empty.Policies == nil || len(empty.Policies) != 0 {
		t.Errorf("nothing to change: policies %v, want []", empty.Policies)
	}
}

// The words an approval request needs: the partner by name with its ID
// beside it, each tenant ID once, the admin center's names of the types.
func TestDescribeExclusionFor(t *testing.T) {
	const other = "9c2e4a6b-8d0f-4b1c-a3e5-7f9b1d3c5e77"
	enum := func(types string, members ...string) *GuestsOrExternalUsers {
		return &GuestsOrExternalUsers{GuestOrExternalUserTypes: types, ExternalTenants: &ExternalTenants{MembershipKind: MembershipEnumerated, Members: members}}
	}
	tests := []struct {
		g          *GuestsOrExternalUsers
		name, want string
	}{
		{nil, "Northwind MSP", "none"},
		{enum("serviceProvider", examplePartner), "Northwind MSP", "Service provider users of Northwind MSP (" + examplePartner + ")"},
		{enum("serviceProvider", strings.ToUpper(examplePartner)), "", "Service provider users of the partner tenant " + strings.ToUpper(examplePartner)},
		{enum("internalGuest,serviceProvider", other, examplePartner), "Northwind\nMSP", "Local guest users and Service provider users of the tenants " + other + " and Northwind MSP (" + examplePartner + ")"},
		{&GuestsOrExternalUsers{GuestOrExternalUserTypes: "b2bDirectConnectUser,otherExternalUser,someTypeAddedLater", ExternalTenants: &ExternalTenants{MembershipKind: MembershipAll}}, "x",
			"B2B direct connect users, Other external users and someTypeAddedLater of all external Microsoft Entra organizations"},
		{enum("b2bCollaborationMember"), "x", "B2B collaboration member users of no tenant (the list is empty, so nobody is excluded)"},
	}
	for _, tt := range tests {
		got := DescribeExclusionFor(tt.g, examplePartner, tt.name)
		if got != tt.want {
			t.Errorf("DescribeExclusionFor(%+v, %q)\n got %q\nwant %q", tt.g, tt.name, got, tt.want)
		}
		if strings.Count(got, examplePartner)+strings.Count(got, strings.ToUpper(examplePartner)) > 1 {
			t.Errorf("%q names the partner tenant twice", got)
		}
	}
	// Graph's names stay available for logs and audit records.
	if got := DescribeExclusion(enum("serviceProvider", examplePartner)); got != "serviceProvider; tenants: "+examplePartner {
		t.Errorf("DescribeExclusion = %q", got)
	}
}

// An approval request asks for the fix first and the optional changes
// after it, each optional one saying what decides it; nothing that needs a
// change is left out.
func TestPlansToApprove(t *testing.T) {
	d := exampleDiagnosis(t)
	plans := PlansToApprove(d)
	var want int
	for _, r := range d.Policies {
		if r.Effect.Blocking() && r.Plan != nil && !r.Plan.NoChange {
			want++
		}
	}
	if len(plans) != want || want == 0 {
		t.Fatalf("%d plans, want %d", len(plans), want)
	}
	optional := false
	for _, p := range plans {
		switch {
		case p.Optional:
			optional = true
			if len(p.DecidedBy) == 0 {
				t.Errorf("optional plan %s says nothing of what decides it", p.DisplayName)
			}
		case optional:
			t.Errorf("plan %s, part of the fix, comes after an optional one", p.DisplayName)
		}
	}
	if !optional {
		t.Error("the example has a policy that may block: no plan is optional")
	}
}
