package diagnose

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// A policy as Graph v1.0 returns it, with a users property this package
// does not model (Graph adds properties; a PATCH that dropped one would
// erase it from the tenant) and a flag value it does not know.
const policyWithUnknownUsersProperty = `{
  "id": "5e1c2a3b-0000-4000-8000-00000000aa01",
  "displayName": "Block outside the office",
  "state": "enabled",
  "modifiedDateTime": "2025-06-01T08:00:00Z",
  "conditions": {
    "users": {
      "includeUsers": ["All"],
      "excludeUsers": null,
      "excludeAgentIdentities": {"mode": "exclude", "ids": ["d7c1a2b3-0000-4000-8000-000000000001"]},
      "includeGroups": [],
      "excludeGroups": ["0a1b2c3d-0000-4000-8000-000000000002"],
      "includeRoles": [],
      "includeGuestsOrExternalUsers": {"guestOrExternalUserTypes": "internalGuest,someTypeAddedLater", "externalTenants": {"@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants", "membershipKind": "all"}},
      "excludeGuestsOrExternalUsers": null,
      "riskyServicePrincipals": null
    },
    "applications": {"includeApplications": ["All"]},
    "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}
  },
  "grantControls": {"operator": "OR", "builtInControls": ["block"]}
}`

func partnerExclusion() *GuestsOrExternalUsers {
	return &GuestsOrExternalUsers{GuestOrExternalUserTypes: TypeServiceProvider,
		ExternalTenants: &ExternalTenants{MembershipKind: MembershipEnumerated, Members: []string{testPartner}}}
}

// patchUsers decodes a PATCH body, failing unless it carries
// conditions.users alone, and returns users' members as raw JSON.
func patchUsers(t *testing.T, body []byte) map[string]json.RawMessage {
	t.Helper()
	var got map[string]map[string]map[string]json.RawMessage
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("PATCH body %s: %v", body, err)
	}
	if len(got) != 1 || len(got["conditions"]) != 1 || got["conditions"]["users"] == nil {
		t.Fatalf("PATCH body carries more than conditions.users: %s", body)
	}
	return got["conditions"]["users"]
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	return b.String()
}

func TestPatchBody(t *testing.T) {
	pol := smallPolicy(t, policyWithUnknownUsersProperty)
	before, _ := json.Marshal(pol)
	body, err := PatchBody(&pol, partnerExclusion())
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(pol); !bytes.Equal(before, after) {
		t.Errorf("PatchBody changed the policy it was given")
	}
	users := patchUsers(t, body)
	want := map[string]string{
		// As read.
		"includeUsers":                 `["All"]`,
		"excludeGroups":                `["0a1b2c3d-0000-4000-8000-000000000002"]`,
		"excludeAgentIdentities":       `{"mode":"exclude","ids":["d7c1a2b3-0000-4000-8000-000000000001"]}`,
		"riskyServicePrincipals":       `null`,
		"includeGuestsOrExternalUsers": `{"guestOrExternalUserTypes":"internalGuest,someTypeAddedLater","externalTenants":{"@odata.type":"#microsoft.graph.conditionalAccessAllExternalTenants","membershipKind":"all"}}`,
		// A null or missing collection is sent empty: Graph refuses null.
		"excludeUsers":  `[]`,
		"includeGroups": `[]`,
		"includeRoles":  `[]`,
		"excludeRoles":  `[]`,
		// The one change.
		"excludeGuestsOrExternalUsers": `{"guestOrExternalUserTypes":"serviceProvider","externalTenants":{"@odata.type":"#microsoft.graph.conditionalAccessEnumeratedExternalTenants","membershipKind":"enumerated","members":["` + testPartner + `"]}}`,
	}
	for k, w := range want {
		if got := string(users[k]); got != w {
			t.Errorf("users.%s = %s, want %s", k, got, w)
		}
	}
	if len(users) != len(want) {
		t.Errorf("users has %d properties, want %d: %s", len(users), len(want), body)
	}

	// Reverting to no exclusion sends null, the rest as read.
	body, err = PatchBody(&pol, nil)
	if err != nil {
		t.Fatal(err)
	}
	users = patchUsers(t, body)
	if string(users["excludeGuestsOrExternalUsers"]) != "null" || users["excludeAgentIdentities"] == nil {
		t.Errorf("revert body %s", body)
	}
}

// The body of a simple policy, byte for byte: what the guide and
// diagnose --json show.
func TestPatchBodyBytes(t *testing.T) {
	for name, pol := range map[string]Policy{
		"built in Go": {ID: "p1", State: StateEnabled, Conditions: Conditions{Users: &UsersCondition{IncludeUsers: []string{"All"}}}},
		"decoded":     smallPolicy(t, `{"id":"p1","state":"enabled","conditions":{"users":{"includeUsers":["All"]}}}`),
		"no users":    {ID: "p1", State: StateEnabled},
	} {
		body, err := PatchBody(&pol, partnerExclusion())
		if err != nil {
			t.Fatal(err)
		}
		include := `["All"]`
		if name == "no users" {
			include = `[]`
		}
		want := `{"conditions":{"users":{"includeUsers":` + include + `,"excludeUsers":[],"includeGroups":[],"excludeGroups":[],"includeRoles":[],"excludeRoles":[],"includeGuestsOrExternalUsers":null,` +
			`"excludeGuestsOrExternalUsers":{"guestOrExternalUserTypes":"serviceProvider","externalTenants":{"@odata.type":"#microsoft.graph.conditionalAccessEnumeratedExternalTenants","membershipKind":"enumerated","members":["` + testPartner + `"]}}}}}`
		if string(body) != want {
			t.Errorf("%s: patch body\n got %s\nwant %s", name, body, want)
		}
	}
}

// Exports made by other tools spell the modelled properties in another
// case; each is still one property in the body, spelt as Graph spells it.
func TestPatchBodyCaseOfNames(t *testing.T) {
	pol := smallPolicy(t, `{"id":"p1","state":"enabled","conditions":{"users":{"IncludeUsers":["All"],"ExcludeGroups":["g1"],"SomethingNew":[1]}}}`)
	body, err := PatchBody(&pol, partnerExclusion())
	if err != nil {
		t.Fatal(err)
	}
	users := patchUsers(t, body)
	if string(users["includeUsers"]) != `["All"]` || string(users["excludeGroups"]) != `["g1"]` || string(users["SomethingNew"]) != `[1]` {
		t.Errorf("body %s", body)
	}
	for _, k := range []string{"IncludeUsers", "ExcludeGroups"} {
		if _, dup := users[k]; dup {
			t.Errorf("%s sent twice, in two spellings: %s", k, body)
		}
	}
}

// A policy saved as JSON and read back (the bot keeps the blocking policies
// of a diagnosis so) keeps what it did not model.
func TestUsersConditionRoundTrip(t *testing.T) {
	pol := smallPolicy(t, policyWithUnknownUsersProperty)
	saved, err := json.Marshal(pol)
	if err != nil {
		t.Fatal(err)
	}
	var back Policy
	if err := json.Unmarshal(saved, &back); err != nil {
		t.Fatal(err)
	}
	first, _ := PatchBody(&pol, partnerExclusion())
	again, _ := PatchBody(&back, partnerExclusion())
	if !bytes.Equal(first, again) {
		t.Errorf("after a round trip through JSON:\n got %s\nwant %s", again, first)
	}
	if !strings.Contains(string(saved), `"excludeAgentIdentities":{"mode":"exclude"`) {
		t.Errorf("saved policy lost a users property: %s", saved)
	}
	var null struct{ U *UsersCondition }
	if err := json.Unmarshal([]byte(`{"U":null}`), &null); err != nil || null.U != nil {
		t.Errorf("null users: %+v, %v", null.U, err)
	}
	if err := json.Unmarshal([]byte(`{"U":{"includeUsers":"All"}}`), &null); err == nil {
		t.Errorf("a string where a list belongs was accepted")
	}
}

// What Evaluate puts in a blocking policy's JSON and what the guide tells
// the admin to send are one body.
func TestGuideAndJSONShowOneBody(t *testing.T) {
	d := exampleDiagnosis(t)
	bodies := hereStrings(Guide(d))
	blocking := d.Blocking()
	if len(bodies) != len(blocking) {
		t.Fatalf("%d bodies in the guide, %d blocking policies", len(bodies), len(blocking))
	}
	for i, r := range blocking {
		want, err := PatchBody(r.Policy, r.Plan.After)
		if err != nil {
			t.Fatal(err)
		}
		if got := compactJSON(t, bodies[i]); got != string(want) {
			t.Errorf("%s: the guide's body\n%s\nis not PatchBody's\n%s", r.DisplayName, got, want)
		}
		if !bytes.Equal(r.Patch, want) {
			t.Errorf("%s: the diagnosis' patch\n%s\nis not PatchBody's\n%s", r.DisplayName, r.Patch, want)
		}
	}
}

func TestIsTheFix(t *testing.T) {
	const other = "99999999-aaaa-4bbb-8ccc-dddddddddddd"
	enum := func(types string, members ...string) *GuestsOrExternalUsers {
		return &GuestsOrExternalUsers{GuestOrExternalUserTypes: types, ExternalTenants: &ExternalTenants{MembershipKind: MembershipEnumerated, Members: members}}
	}
	all := func(types string) *GuestsOrExternalUsers {
		return &GuestsOrExternalUsers{GuestOrExternalUserTypes: types, ExternalTenants: &ExternalTenants{MembershipKind: MembershipAll}}
	}
	partnerUpper := strings.ToUpper(testPartner)
	tests := []struct {
		name           string
		current, after *GuestsOrExternalUsers
		want           bool
	}{
		{"none → the partner", nil, enum("serviceProvider", testPartner), true},
		{"none → the partner, other case and spaces", nil, enum(" ServiceProvider", " "+partnerUpper), true},
		{"empty types → the partner", enum("", other), enum("serviceProvider", testPartner), true},
		{"none → the partner and another tenant", nil, enum("serviceProvider", testPartner, other), false},
		{"none → another tenant", nil, enum("serviceProvider", other), false},
		{"none → more types", nil, enum("serviceProvider,internalGuest", testPartner), false},
		{"none → nothing", nil, nil, false},
		{"none → the partner, no service providers", nil, enum("internalGuest", testPartner), false},
		{"all tenants stays all", all("internalGuest"), all("internalGuest,serviceProvider"), true},
		{"all tenants narrowed", all("internalGuest"), enum("internalGuest,serviceProvider", testPartner), false},
		{"all tenants, a type dropped", all("internalGuest,b2bCollaborationGuest"), all("internalGuest,serviceProvider"), false},
		{"listed tenants gain the partner", enum("b2bCollaborationGuest", other), enum("b2bCollaborationGuest,serviceProvider", other, testPartner), true},
		{"listed tenants dropped", enum("b2bCollaborationGuest", other), enum("b2bCollaborationGuest,serviceProvider", testPartner), false},
		{"listed tenants widened to all", enum("b2bCollaborationGuest", other), all("b2bCollaborationGuest,serviceProvider"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsTheFix(tt.current, tt.after, testPartner, false); got != tt.want {
				t.Errorf("IsTheFix = %v, want %v", got, tt.want)
			}
			// The option widens one case only: none → all tenants.
			if got := IsTheFix(tt.current, tt.after, testPartner, true); got != tt.want {
				t.Errorf("IsTheFix with all tenants allowed = %v, want %v", got, tt.want)
			}
		})
	}
	// With no exclusion yet, "all tenants" is the fix only where the
	// deployment chose it.
	for _, current := range []*GuestsOrExternalUsers{nil, enum("", other)} {
		if IsTheFix(current, all("serviceProvider"), testPartner, false) {
			t.Errorf("from %+v: all tenants accepted without the option", current)
		}
		if !IsTheFix(current, all("serviceProvider"), testPartner, true) {
			t.Errorf("from %+v: all tenants refused with the option", current)
		}
	}
	// Every plan PlanFix makes passes.
	for _, before := range []*GuestsOrExternalUsers{nil, enum("", other), all("internalGuest"), enum("b2bCollaborationGuest", other), enum("serviceProvider", other)} {
		pol := &Policy{ID: "p", State: StateEnabled, Conditions: Conditions{Users: &UsersCondition{IncludeUsers: []string{"All"}, ExcludeGuestsOrExternalUsers: before}}}
		for _, allTenants := range []bool{false, true} {
			plan := PlanFix(pol, partnerUpper, allTenants)
			if !IsTheFix(before, plan.After, testPartner, allTenants) {
				t.Errorf("PlanFix's own plan from %+v (all tenants %v) is refused: %+v", before, allTenants, plan.After)
			}
		}
	}
}
