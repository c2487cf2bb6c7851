package diagnose

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// The exports people keep, read as Graph's JSON would be: the same tenant
// exported with Get-MgIdentityConditionalAccessPolicy | ConvertTo-Json in
// PowerShell 7 and in Windows PowerShell 5.1 (UTF-16, /Date()/) gives the
// same policies, and their diagnosis is what the policies say.
func TestDecodePowerShellExports(t *testing.T) {
	pwsh7, err := DecodePolicies(readFile(t, "export/getmg_policies_pwsh7.json"))
	if err != nil {
		t.Fatal(err)
	}
	winps, err := DecodePolicies(readFile(t, "export/getmg_policies_winps51.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pwsh7, winps) {
		t.Errorf("PowerShell 7 and Windows PowerShell exports of one tenant differ:\n%+v\n%+v", pwsh7, winps)
	}
	if len(pwsh7) != 4 {
		t.Fatalf("%d policies, want 4", len(pwsh7))
	}
	p := pwsh7[1]
	if p.ID != "3b5d7f9a-1c2e-4a4b-9d6f-8e0a2c4e6b82" || p.DisplayName != "CA02 - Require compliant device" || p.State != StateEnabled {
		t.Errorf("policy 1 = %s %q %s", p.ID, p.DisplayName, p.State)
	}
	if want := time.Date(2024, 11, 20, 16, 40, 31, 0, time.UTC); p.ModifiedDateTime == nil || !p.ModifiedDateTime.Equal(want) {
		t.Errorf("modifiedDateTime = %v, want %v", p.ModifiedDateTime, want)
	}
	// The members of an enumerated tenant list are in AdditionalProperties.
	x := p.Conditions.Users.ExcludeGuestsOrExternalUsers
	if x == nil || x.ExternalTenants == nil || !reflect.DeepEqual(x.ExternalTenants.Members, []string{"9c2e4a6b-8d0f-4b1c-a3e5-7f9b1d3c5e77"}) ||
		x.GuestOrExternalUserTypes != "internalGuest,b2bCollaborationGuest" {
		t.Errorf("exclusion = %+v", x)
	}
	// What the SDK gives as empty objects is "not set".
	if p.Conditions.Users.IncludeGuestsOrExternalUsers != nil || p.Conditions.Devices != nil || p.Conditions.Platforms != nil ||
		p.GrantControls.AuthenticationStrength != nil || p.HasSessionControls() {
		t.Errorf("empty objects read as set: %+v, grant %+v, session %s", p.Conditions, p.GrantControls, p.SessionControls)
	}

	d := Evaluate(Evidence{Policies: pwsh7, NamedLocations: []NamedLocation{}}, Scenario{PartnerTenantID: testPartner})
	want := []Effect{EffectNotApplicable, EffectBlocks, EffectExcluded, EffectReportOnly}
	for i, r := range d.Policies {
		if r.Effect != want[i] {
			t.Errorf("%s: %s, want %s (%q)", r.DisplayName, r.Effect, want[i], r.Reasons)
		}
	}
	if d.Policies[3].WouldBe != EffectSatisfied {
		t.Errorf("%s would be %s, want satisfied", d.Policies[3].DisplayName, d.Policies[3].WouldBe)
	}
	// The fix shown for the export is Graph's shape: camelCase, nothing
	// the PowerShell object added.
	body := string(d.Policies[1].Patch)
	for _, bad := range []string{"AdditionalProperties", "ExcludeGroups", "@odata.type\":\"#microsoft.graph.conditionalAccessUsers"} {
		if strings.Contains(body, bad) {
			t.Errorf("patch has %q: %s", bad, body)
		}
	}
	if !strings.Contains(body, `"excludeGroups":["6d8f0b2c-4e1a-4c3d-9e5f-7a9b1c3d5e60"]`) || !strings.Contains(body, `"members":["9c2e4a6b-8d0f-4b1c-a3e5-7f9b1d3c5e77","`+testPartner+`"]`) {
		t.Errorf("patch does not keep the users condition: %s", body)
	}
}

func TestDecodePowerShellNamedLocations(t *testing.T) {
	locs, err := DecodeNamedLocations(readFile(t, "export/getmg_named_locations_pwsh7.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(locs) != 2 || !locs[0].IsTrusted || locs[0].IsCountry() || len(locs[0].IPRanges) != 1 || locs[0].IPRanges[0].CIDRAddress != "198.51.100.0/24" {
		t.Errorf("IP location = %+v", locs[0])
	}
	if !locs[1].IsCountry() || !reflect.DeepEqual(locs[1].CountriesAndRegions, []string{"NL", "BE"}) {
		t.Errorf("country location = %+v", locs[1])
	}
}

// Baselines and templates: [] or {} where Graph has an object, placeholders
// for IDs.
func TestDecodeBaselineTemplates(t *testing.T) {
	for name, want := range map[string]Effect{
		"CA100-Block-outside-trusted-locations.json":   EffectReportOnly,
		"CA101-Block-mobile-platforms-for-admins.json": EffectMayBlock,
	} {
		t.Run(name, func(t *testing.T) {
			ps, err := DecodePolicies(readFile(t, "export/baseline/"+name))
			if err != nil {
				t.Fatal(err)
			}
			p := ps[0]
			if p.Conditions.Platforms != nil && name == "CA100-Block-outside-trusted-locations.json" || p.Conditions.Locations != nil && name != "CA100-Block-outside-trusted-locations.json" {
				t.Errorf("[] read as a condition: %+v", p.Conditions)
			}
			d := Evaluate(Evidence{Policies: ps}, Scenario{PartnerTenantID: testPartner})
			if r := d.Policies[0]; r.Effect != want {
				t.Errorf("%s: %s, want %s (%q)", r.DisplayName, r.Effect, want, r.Reasons)
			}
			if IsPlaceholder(p.ID) != (name != "CA100-Block-outside-trusted-locations.json") {
				t.Errorf("IsPlaceholder(%q) wrong", p.ID)
			}
		})
	}
	_, err := DecodePolicies(readFile(t, "export/baseline/CA102-Require-MFA-for-all-users.json"))
	if err == nil || !strings.Contains(err.Error(), "a placeholder, <ExclusionGroup>, at line 8") {
		t.Errorf("unquoted placeholder: %v", err)
	}
}

// What cannot be read is said, never guessed.
func TestDecodeExportErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"cut at ConvertTo-Json's default depth",
			`[{"Conditions":{"Applications":"Microsoft.Graph.PowerShell.Models.MicrosoftGraphConditionalAccessApplications","Users":"Microsoft.Graph.PowerShell.Models.MicrosoftGraphConditionalAccessUsers"},"DisplayName":"CA01","Id":"p1","State":"enabled"}]`,
			`"conditions.applications" is the text "Microsoft.Graph.PowerShell.Models.MicrosoftGraphConditionalAccessApplications" where an object belongs: the export was cut short by ConvertTo-Json's default depth; export again with ConvertTo-Json -Depth 10`},
		{"a hashtable written as text",
			`{"id":"p1","state":"enabled","conditions":{"users":"@{includeUsers=System.Object[]}"},"platforms":[]}`,
			`"conditions.users" is the text "@{includeUsers=System.Object[]}"`},
		{"a list where an object belongs",
			`{"id":"p1","state":"enabled","conditions":{"locations":["All"]}}`,
			`property "conditions.locations"`},
		{"UTF-16 that is not JSON", string(utf16LE("id,displayName\r\n1,a")), "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodePolicies([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) || ErrorCode(err) != EINVALID {
				t.Errorf("error = %v, want EINVALID saying %q", err, tt.want)
			}
		})
	}
}

func TestCamelCase(t *testing.T) {
	for in, want := range map[string]string{"DisplayName": "displayName", "IPRanges": "ipRanges", "ID": "id", "Id": "id",
		"displayName": "displayName", "@odata.type": "@odata.type", "IsMfaAccepted": "isMfaAccepted", "X": "x"} {
		if got := camelCase(in); got != want {
			t.Errorf("camelCase(%q) = %q, want %q", in, got, want)
		}
	}
}

// A paste saved by Windows PowerShell (Out-File, >) is UTF-16.
func TestParseErrorsUTF16(t *testing.T) {
	text := "AADSTS53003: Access has been blocked by Conditional Access policies.\r\nCorrelation ID: 2ba27739-7daf-49e7-949c-2e16e3c42079\r\n"
	for name, b := range map[string][]byte{"with a BOM": append([]byte{0xff, 0xfe}, utf16LE(text)...), "without": utf16LE(text)} {
		got := ParseErrors(string(b))
		if len(got) != 1 || got[0].Code != 53003 || got[0].CorrelationID != "2ba27739-7daf-49e7-949c-2e16e3c42079" {
			t.Errorf("%s: %+v", name, got)
		}
	}
}

func utf16LE(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}
