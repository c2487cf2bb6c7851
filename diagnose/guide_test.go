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
			"**After:** serviceProvider; tenants: " + examplePartner,
			"**Widens:** nothing beyond the partner's service provider users",
			"add the partner tenant ID `" + examplePartner + "`",
		}},
		{"Require compliant or hybrid joined device", []string{
			"**Before:** internalGuest, b2bCollaborationGuest; tenants: 9c2e4a6b-8d0f-4b1c-a3e5-7f9b1d3c5e77",
			"**After:** internalGuest, b2bCollaborationGuest, serviceProvider; tenants: 9c2e4a6b-8d0f-4b1c-a3e5-7f9b1d3c5e77, " + examplePartner,
			"now also covers the partner tenant " + examplePartner,
			"Service provider users of the tenants already listed (9c2e4a6b-8d0f-4b1c-a3e5-7f9b1d3c5e77) are excluded too.",
			"Leave the types already checked (internalGuest, b2bCollaborationGuest) as they are.",
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
	for _, w := range []string{"tenants: all", "service provider users of every tenant are excluded", "leave **All** chosen"} {
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
