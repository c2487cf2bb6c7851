package diagnose

import (
	"strings"
	"testing"
)

func TestDecodeShapes(t *testing.T) {
	one := `{"id":"p1","displayName":"One","state":"enabled","conditions":{}}`
	for _, tc := range []struct{ name, in string }{
		{"graph list", `{"@odata.context":"x","value":[` + one + `]}`},
		{"bare array", `[` + one + `]`},
		{"one object", one},
		{"with a BOM and whitespace", "\ufeff \n" + one + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := DecodePolicies([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 1 || ps[0].ID != "p1" {
				t.Fatalf("got %+v", ps)
			}
		})
	}
}

// TestDecodeBadInput: every malformed export gets a clear error naming what
// is wrong, never a panic.
func TestDecodeBadInput(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "  ", "empty file"},
		{"binary", "\x00\x01\x02\xff\xfe", "not UTF-8"},
		{"not JSON", "id,displayName\n1,a", "not JSON"},
		{"truncated", `{"value":[{"id":"p1","state":"enabled"`, "truncated JSON"},
		{"malformed", "{\"value\":[\n{\"id\":}]}", "line 2"},
		{"wrong kind", `{"value":[{"@odata.type":"#microsoft.graph.ipNamedLocation","id":"x","displayName":"HQ"}]}`, "it is a microsoft.graph.ipNamedLocation, not a policy"},
		{"wrong property type", `[{"id":"p1","state":"enabled","conditions":{"clientAppTypes":"all"}}]`, `"conditions.clientAppTypes"`},
		{"not an object", `[1,2]`, "item 0: it is not a JSON object"},
		{"no id or name", `[{"state":"enabled"}]`, "neither id nor displayName"},
		{"no state", `[{"id":"p1"}]`, "has no state"},
		{"too large", `[` + strings.Repeat(" ", MaxExportSize) + `]`, "the limit is"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodePolicies([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if ErrorCode(err) != EINVALID {
				t.Errorf("code = %q, want %q", ErrorCode(err), EINVALID)
			}
		})
	}
}

func TestDecodeUnknownEnumValues(t *testing.T) {
	in := `[{"id":"p1","displayName":"Future","state":"enabled","conditions":{"clientAppTypes":["unknownFutureValue"],
	  "users":{"includeUsers":["All"]},"applications":{"includeApplications":["All"]},
	  "platforms":{"includePlatforms":["quantumOS"]}},"grantControls":{"operator":"XOR","builtInControls":["riskRemediation"]}}]`
	ps, err := DecodePolicies([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	d := Evaluate(Evidence{Policies: ps}, Scenario{PartnerTenantID: testPartner})
	if len(d.Policies) != 1 {
		t.Fatal("policy lost")
	}
}

func TestDecodeOtherKinds(t *testing.T) {
	locs, err := DecodeNamedLocations(readFile(t, "eval/locations.json"))
	if err != nil || len(locs) != 3 || !locs[2].IsCountry() || locs[0].IsCountry() {
		t.Fatalf("named locations: %v %+v", err, locs)
	}
	if _, err := DecodeNamedLocations([]byte(`[{"id":"x","displayName":"Bad","ipRanges":[{"cidrAddress":"300.1.1.1/8"}]}]`)); err == nil || !strings.Contains(err.Error(), "not CIDR") {
		t.Errorf("bad CIDR: %v", err)
	}
	if _, err := DecodeSignIns([]byte(`{"value":[{"@odata.type":"#microsoft.graph.conditionalAccessPolicy","id":"p"}]}`)); err == nil || !strings.Contains(err.Error(), "not a sign-in") {
		t.Errorf("policy given as sign-in: %v", err)
	}
	if _, err := DecodeCrossTenant([]byte(`{"tenantId":"t","inboundTrust":{"isCompliantDeviceAccepted":true}}`)); err != nil {
		t.Errorf("cross-tenant: %v", err)
	}
}

func FuzzDecodePolicies(f *testing.F) {
	f.Add(readFile(f, "eval/cases.json"))
	f.Add([]byte(`{"value":[{"id":"p","state":"enabled","conditions":{"users":{"excludeGuestsOrExternalUsers":{"guestOrExternalUserTypes":"serviceProvider","externalTenants":{"membershipKind":"enumerated"}}}}}]}`))
	f.Add([]byte(`[{"id":"p","state":"enabledForReportingButNotEnforced","conditions":{"locations":{"includeLocations":["All"],"excludeLocations":["AllTrusted"]}},"grantControls":{"operator":"AND","builtInControls":["mfa","compliantDevice"]}}]`))
	// Exports as people keep them: PowerShell's objects (UTF-16 from
	// Windows PowerShell), baselines with [] for objects, placeholders, a
	// tool's wrapper.
	for _, name := range []string{"export/getmg_policies_pwsh7.json", "export/getmg_policies_winps51.json",
		"export/baseline/CA100-Block-outside-trusted-locations.json", "export/baseline/CA101-Block-mobile-platforms-for-admins.json",
		"export/baseline/CA102-Require-MFA-for-all-users.json"} {
		f.Add(readFile(f, name))
	}
	f.Add([]byte(`{"ExportDate":"x","PolicyConfig":{"displayName":"w","state":"enabled","conditions":{"users":{"IncludeUsers":["All"]},"Locations":[],"applications":{"AdditionalProperties":{"includeApplications":["All"]}}}}}`))
	f.Add([]byte(`[{"Id":"p","State":"enabled","CreatedDateTime":"/Date(-1)/","Conditions":{"Users":"@{x=1}"}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := DecodePolicies(data)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("error without EINVALID code: %v", err)
			}
			return
		}
		d := Evaluate(Evidence{Policies: ps, NamedLocations: []NamedLocation{}}, Scenario{PartnerTenantID: testPartner})
		if len(d.Policies) != len(ps) {
			t.Fatalf("%d results for %d policies", len(d.Policies), len(ps))
		}
		for _, r := range d.Policies {
			if len(r.Reasons) == 0 || (r.Patch != nil) != (r.Effect.Blocking() && !r.Plan.NoChange) {
				t.Fatalf("inconsistent result %+v", r)
			}
			if r.Patch != nil && !r.Plan.After.Excludes(testPartner) {
				t.Fatalf("patch does not exclude the partner: %+v", r.Plan.After)
			}
		}
	})
}

// The other evidence decoders: any input decodes or fails with EINVALID, and
// what decodes evaluates against the example tenant's policies.
func FuzzDecodeEvidence(f *testing.F) {
	for _, name := range []string{"tenant/named-locations.json", "tenant/sign-ins.json", "tenant/cross-tenant.json", "eval/locations.json", "export/getmg_named_locations_pwsh7.json"} {
		f.Add(readFile(f, name))
	}
	f.Add([]byte(`[{"id":"l","displayName":"v6","ipRanges":[{"cidrAddress":"2001:db8::/32"}]},{"correlationId":"c","createdDateTime":"2024-01-02T03:04:05Z","appliedConditionalAccessPolicies":[{"id":"p","result":"failure"}]}]`))
	policies, err := DecodePolicies(readFile(f, "tenant/policies.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev Evidence
		ev.Policies = policies
		var errs []error
		ev.NamedLocations, err = DecodeNamedLocations(data)
		errs = append(errs, err)
		ev.SignIns, err = DecodeSignIns(data)
		errs = append(errs, err)
		xt, err := DecodeCrossTenant(data)
		errs = append(errs, err)
		for _, err := range errs {
			if err != nil && ErrorCode(err) != EINVALID {
				t.Fatalf("error without EINVALID code: %v", err)
			}
		}
		sc := Scenario{PartnerTenantID: testPartner, CorrelationID: "c"}
		if len(xt) > 0 {
			sc.CrossTenant = &xt[0]
		}
		if d := Evaluate(ev, sc); len(d.Policies) != len(policies) {
			t.Fatalf("%d results for %d policies", len(d.Policies), len(policies))
		}
	})
}

// Exports carry no @odata.type: the wrong file given to the wrong flag is
// told apart by the properties only one kind has.
func TestDecodeWrongFile(t *testing.T) {
	policies := readFile(t, "tenant/policies.json")
	signIns := readFile(t, "tenant/sign-ins.json")
	locations := readFile(t, "tenant/named-locations.json")
	crossTenant := readFile(t, "tenant/cross-tenant.json")
	tests := []struct {
		name   string
		decode func([]byte) error
		data   []byte
		want   string // "" for success
	}{
		{"policies as named locations", decodeErr(DecodeNamedLocations), policies, `it looks like a Conditional Access policy (it has "conditions"), not a named location`},
		{"policies as sign-ins", decodeErr(DecodeSignIns), policies, "not a sign-in"},
		{"sign-ins as policies", decodeErr(DecodePolicies), signIns, `it looks like a sign-in log entry (it has "appliedConditionalAccessPolicies"), not a policy`},
		{"named locations as policies", decodeErr(DecodePolicies), locations, "NamedLocation, not a policy"},
		{"cross-tenant as sign-ins", decodeErr(DecodeSignIns), crossTenant, "it looks like a cross-tenant access setting"},
		{"policies as cross-tenant", decodeErr(DecodeCrossTenant), policies, "not a cross-tenant setting"},
		{"policies", decodeErr(DecodePolicies), policies, ""},
		{"sign-ins", decodeErr(DecodeSignIns), signIns, ""},
		{"named locations", decodeErr(DecodeNamedLocations), locations, ""},
		{"cross-tenant", decodeErr(DecodeCrossTenant), crossTenant, ""},
	}
	for _, tt := range tests {
		err := tt.decode(tt.data)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.want)
		}
	}
}

func decodeErr[T any](decode func([]byte) ([]T, error)) func([]byte) error {
	return func(b []byte) error { _, err := decode(b); return err }
}
