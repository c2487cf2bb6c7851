package diagnose

import (
	"encoding/json"
	"net/netip"
	"testing"
)

func TestNamedLocationsMatter(t *testing.T) {
	ip := netip.MustParseAddr("198.51.100.7")
	tests := []struct {
		name      string
		locations string // the policy's conditions.locations, JSON
		sc        Scenario
		want      bool
	}{
		{"no condition", `null`, Scenario{}, false},
		{"all locations", `{"includeLocations":["All"]}`, Scenario{}, false},
		{"outside trusted", `{"includeLocations":["All"],"excludeLocations":["alltrusted"]}`, Scenario{}, true},
		{"only in trusted", `{"includeLocations":["AllTrusted"]}`, Scenario{}, true},
		{"a named location, IP unknown", `{"includeLocations":["loc-1"]}`, Scenario{}, false},
		{"a named location, IP known", `{"includeLocations":["loc-1"]}`, Scenario{IP: ip}, true},
		{"a named location, country known", `{"excludeLocations":["loc-1"]}`, Scenario{Country: "FR"}, true},
		{"MFA trusted IPs, IP known", `{"includeLocations":["00000000-0000-0000-0000-000000000000"]}`, Scenario{IP: ip}, false},
	}
	for _, tt := range tests {
		var lc *LocationsCondition
		if err := json.Unmarshal([]byte(tt.locations), &lc); err != nil {
			t.Fatal(err)
		}
		policies := []Policy{{ID: "mfa"}, {ID: "p", Conditions: Conditions{Locations: lc}}}
		if got := NamedLocationsMatter(policies, tt.sc); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Wherever NamedLocationsMatter says the list does not matter, every rule
// case of testdata/eval evaluates the same with the named locations and
// without them.
func TestNamedLocationsMatterAgrees(t *testing.T) {
	var file struct {
		Base  map[string]any `json:"base"`
		Cases []ruleCase     `json:"cases"`
	}
	if err := json.Unmarshal(readFile(t, "eval/cases.json"), &file); err != nil {
		t.Fatal(err)
	}
	locations, err := DecodeNamedLocations(readFile(t, "eval/locations.json"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, tc := range file.Cases {
		var patch any = map[string]any{}
		if len(tc.Policy) > 0 {
			if err := json.Unmarshal(tc.Policy, &patch); err != nil {
				t.Fatal(err)
			}
		}
		raw, _ := json.Marshal(mergePatch(file.Base, patch))
		policies, err := DecodePolicies(raw)
		if err != nil {
			t.Fatal(err)
		}
		sc := Scenario{PartnerTenantID: testPartner}
		if len(tc.Scenario) > 0 {
			if err := json.Unmarshal(tc.Scenario, &sc); err != nil {
				t.Fatal(err)
			}
		}
		if NamedLocationsMatter(policies, sc) {
			continue
		}
		if lc := policies[0].Conditions.Locations; lc != nil && len(lc.IncludeLocations) > 0 {
			checked++
		}
		with := Evaluate(Evidence{Policies: policies, NamedLocations: locations}, sc).Policies[0]
		without := Evaluate(Evidence{Policies: policies}, sc).Policies[0]
		if with.Effect != without.Effect || with.WouldBe != without.WouldBe {
			t.Errorf("%s: %s with the named locations, %s without", tc.Name, with.Effect, without.Effect)
		}
	}
	if checked == 0 {
		t.Error("no case with a location condition was checked")
	}
}
