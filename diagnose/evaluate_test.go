package diagnose

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const testPartner = "4e8a1c55-7f1b-4c6e-9d2a-1b3c5d7e9f00"

// mergePatch applies an RFC 7386 JSON merge patch, so each rule case states
// only how its policy differs from the base policy.
func mergePatch(base, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	b, ok := base.(map[string]any)
	if !ok {
		b = map[string]any{}
	}
	out := make(map[string]any, len(b))
	for k, v := range b {
		out[k] = v
	}
	for k, v := range p {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergePatch(out[k], v)
	}
	return out
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

type ruleCase struct {
	Name        string          `json:"name"`
	Policy      json.RawMessage `json:"policy"`
	Scenario    json.RawMessage `json:"scenario"`
	NoLocations bool            `json:"noLocations"`
	Want        Effect          `json:"want"`
	WouldBe     Effect          `json:"wouldBe"`
	Reason      string          `json:"reason"`
	// Unknowns are the facts that decide a may_block policy.
	Unknowns []string `json:"unknowns"`
}

// TestEvaluationRules runs every rule of docs/evaluation.md ("Rules") from
// testdata/eval/cases.json: one policy, one scenario, the expected effect and
// a phrase the reasons must contain.
func TestEvaluationRules(t *testing.T) {
	var file struct {
		PartnerTenantID string         `json:"partnerTenantId"`
		Base            map[string]any `json:"base"`
		Cases           []ruleCase     `json:"cases"`
	}
	if err := json.Unmarshal(readFile(t, "eval/cases.json"), &file); err != nil {
		t.Fatal(err)
	}
	locations, err := DecodeNamedLocations(readFile(t, "eval/locations.json"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tc := range file.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			if seen[tc.Name] {
				t.Fatalf("duplicate case name")
			}
			seen[tc.Name] = true
			var patch any = map[string]any{}
			if len(tc.Policy) > 0 {
				if err := json.Unmarshal(tc.Policy, &patch); err != nil {
					t.Fatal(err)
				}
			}
			raw, _ := json.Marshal(mergePatch(file.Base, patch))
			policies, err := DecodePolicies(raw)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			sc := Scenario{}
			if len(tc.Scenario) > 0 {
				if err := json.Unmarshal(tc.Scenario, &sc); err != nil {
					t.Fatalf("scenario: %v", err)
				}
			}
			sc.PartnerTenantID = file.PartnerTenantID
			ev := Evidence{Policies: policies, NamedLocations: locations}
			if tc.NoLocations {
				ev.NamedLocations = nil
			}
			d := Evaluate(ev, sc)
			if len(d.Policies) != 1 {
				t.Fatalf("got %d results, want 1", len(d.Policies))
			}
			r := d.Policies[0]
			if r.Effect != tc.Want || r.WouldBe != tc.WouldBe {
				t.Errorf("effect = %s (would be %q), want %s (would be %q)\nreasons:\n  %s", r.Effect, r.WouldBe, tc.Want, tc.WouldBe, strings.Join(r.Reasons, "\n  "))
			}
			if len(r.Reasons) == 0 {
				t.Errorf("no reasons")
			}
			if tc.Reason != "" && !strings.Contains(strings.Join(r.Reasons, "\n"), tc.Reason) {
				t.Errorf("reasons do not mention %q:\n  %s", tc.Reason, strings.Join(r.Reasons, "\n  "))
			}
			mayBlock := r.Effect == EffectMayBlock || r.WouldBe == EffectMayBlock
			if mayBlock != (len(r.Unknowns) > 0) {
				t.Errorf("effect %s (would be %q) with unknown facts %q: a policy that may block says what decides it, and only such a policy", r.Effect, r.WouldBe, r.Unknowns)
			}
			if os.Getenv("SHOW_UNKNOWNS") != "" && mayBlock {
				t.Logf("UNKNOWNS %q %q", tc.Name, r.Unknowns)
			}
			if tc.Unknowns != nil && !slices.Equal(r.Unknowns, tc.Unknowns) {
				t.Errorf("unknown facts %q, want %q", r.Unknowns, tc.Unknowns)
			}
			if (r.Patch != nil) != r.Effect.Blocking() {
				t.Errorf("patch present = %v for effect %s", r.Patch != nil, r.Effect)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	pol := func(id, state string, grant ...string) Policy {
		return Policy{ID: id, DisplayName: id, State: state,
			Conditions: Conditions{
				Users:        &UsersCondition{IncludeUsers: []string{"All"}},
				Applications: &ApplicationsCondition{IncludeApplications: []string{"All"}},
				Platforms:    &PlatformsCondition{IncludePlatforms: []string{"android"}},
			},
			GrantControls: &GrantControls{Operator: "OR", BuiltInControls: grant}}
	}
	blockAll := pol("blockall", StateEnabled, "block")
	blockAll.Conditions.Platforms = nil
	tests := []struct {
		name     string
		policies []Policy
		signIns  []SignIn
		want     Verdict
	}{
		{"no policies", nil, nil, VerdictNotBlocked},
		{"only satisfied", []Policy{pol("mfa", StateEnabled, "mfa")}, nil, VerdictNotBlocked},
		{"report-only blocks never block", []Policy{func() Policy { p := blockAll; p.State = StateReportOnly; return p }()}, nil, VerdictNotBlocked},
		{"may block", []Policy{pol("android", StateEnabled, "block")}, nil, VerdictPossiblyBlocked},
		{"blocks", []Policy{pol("android", StateEnabled, "block"), blockAll}, nil, VerdictLikelyBlocked},
		{"confirmed by the sign-in log", []Policy{pol("android", StateEnabled, "block")},
			[]SignIn{{ID: "s1", CorrelationID: "c1", AppliedConditionalAccessPolicies: []AppliedPolicy{{ID: "android", Result: "failure"}}}},
			VerdictBlocked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Evaluate(Evidence{Policies: tc.policies, SignIns: tc.signIns}, Scenario{PartnerTenantID: testPartner})
			if d.Verdict != tc.want {
				t.Errorf("verdict = %s, want %s", d.Verdict, tc.want)
			}
			if len(d.Policies) != len(tc.policies) {
				t.Errorf("%d results for %d policies", len(d.Policies), len(tc.policies))
			}
		})
	}
}
