package diagnose

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestPlanFix(t *testing.T) {
	const other = "99999999-aaaa-4bbb-8ccc-dddddddddddd"
	enum := func(types string, members ...string) *GuestsOrExternalUsers {
		return &GuestsOrExternalUsers{GuestOrExternalUserTypes: types, ExternalTenants: &ExternalTenants{MembershipKind: "enumerated", Members: members}}
	}
	all := func(types string) *GuestsOrExternalUsers {
		return &GuestsOrExternalUsers{GuestOrExternalUserTypes: types, ExternalTenants: &ExternalTenants{MembershipKind: "all"}}
	}
	tests := []struct {
		name       string
		before     *GuestsOrExternalUsers
		allTenants bool
		wantTypes  string
		wantKind   string
		wantTenant []string
		widens     []string // phrases, one per expected widening
		noChange   bool
	}{
		{name: "no exclusion yet: partner tenant only", wantTypes: "serviceProvider", wantKind: "enumerated", wantTenant: []string{testPartner}},
		{name: "empty types count as none", before: enum("", other), wantTypes: "serviceProvider", wantKind: "enumerated", wantTenant: []string{testPartner}},
		{name: "no exclusion, configured for all tenants", allTenants: true, wantTypes: "serviceProvider", wantKind: "all", widens: []string{"every tenant"}},
		{name: "other types for all tenants", before: all("internalGuest,b2bCollaborationGuest"), wantTypes: "internalGuest,b2bCollaborationGuest,serviceProvider", wantKind: "all", widens: []string{"every tenant"}},
		{name: "other types for listed tenants", before: enum("b2bCollaborationGuest", other), wantTypes: "b2bCollaborationGuest,serviceProvider", wantKind: "enumerated", wantTenant: []string{other, testPartner},
			widens: []string{"b2bCollaborationGuest now also covers the partner tenant", "Service provider users of the tenants already listed (" + other + ")"}},
		{name: "service providers of another tenant", before: enum("serviceProvider", other), wantTypes: "serviceProvider", wantKind: "enumerated", wantTenant: []string{other, testPartner}},
		{name: "already excluded", before: enum("serviceProvider", testPartner), wantTypes: "serviceProvider", wantKind: "enumerated", wantTenant: []string{testPartner}, noChange: true},
		{name: "already excluded for all tenants", before: all("serviceProvider"), wantTypes: "serviceProvider", wantKind: "all", noChange: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pol := &Policy{ID: "p1", DisplayName: "P1", State: StateEnabled, Conditions: Conditions{Users: &UsersCondition{
				IncludeUsers: []string{"All"}, ExcludeGroups: []string{"g-breakglass"}, IncludeRoles: nil,
				ExcludeGuestsOrExternalUsers: tc.before,
			}}}
			original, _ := json.Marshal(pol)
			plan := PlanFix(pol, strings.ToUpper(testPartner), tc.allTenants)
			if after, _ := json.Marshal(pol); string(after) != string(original) {
				t.Fatalf("PlanFix modified the policy it was given")
			}
			if plan.NoChange != tc.noChange {
				t.Fatalf("NoChange = %v, want %v", plan.NoChange, tc.noChange)
			}
			a := plan.After
			if a.GuestOrExternalUserTypes != tc.wantTypes || a.ExternalTenants.MembershipKind != tc.wantKind {
				t.Errorf("after = %q %s, want %q %s", a.GuestOrExternalUserTypes, a.ExternalTenants.MembershipKind, tc.wantTypes, tc.wantKind)
			}
			if tc.wantKind == "enumerated" && !reflect.DeepEqual(a.ExternalTenants.Members, tc.wantTenant) {
				t.Errorf("tenants = %v, want %v", a.ExternalTenants.Members, tc.wantTenant)
			}
			if !a.Excludes(testPartner) {
				t.Errorf("the planned exclusion does not exclude the partner")
			}
			if len(plan.Widens) != len(tc.widens) {
				t.Errorf("widens = %q, want %d sentences", plan.Widens, len(tc.widens))
			}
			for i, w := range tc.widens {
				if i < len(plan.Widens) && !strings.Contains(plan.Widens[i], w) {
					t.Errorf("widens[%d] = %q, want it to say %q", i, plan.Widens[i], w)
				}
			}
			if !plan.Before.Equal(tc.before) {
				t.Errorf("before = %+v, want %+v", plan.Before, tc.before)
			}
		})
	}
}

func TestGuestsEqual(t *testing.T) {
	a := &GuestsOrExternalUsers{GuestOrExternalUserTypes: "serviceProvider,internalGuest", ExternalTenants: &ExternalTenants{MembershipKind: "enumerated", Members: []string{"A", "b"}}}
	b := &GuestsOrExternalUsers{GuestOrExternalUserTypes: "internalGuest, serviceProvider", ExternalTenants: &ExternalTenants{MembershipKind: "Enumerated", Members: []string{"B", "a"}}}
	c := &GuestsOrExternalUsers{GuestOrExternalUserTypes: "internalGuest,serviceProvider", ExternalTenants: &ExternalTenants{MembershipKind: "all"}}
	for _, tc := range []struct {
		x, y *GuestsOrExternalUsers
		want bool
	}{{a, b, true}, {a, c, false}, {nil, nil, true}, {nil, &GuestsOrExternalUsers{}, true}, {nil, a, false}} {
		if got := tc.x.Equal(tc.y); got != tc.want {
			t.Errorf("Equal(%+v, %+v) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
}
