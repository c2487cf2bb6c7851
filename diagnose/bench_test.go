package diagnose

import (
	"encoding/json"
	"fmt"
	"testing"
)

// benchPolicies builds n policies cycling through the rule cases, so the
// benchmark exercises every condition and grant path.
func benchPolicies(b *testing.B, n int) ([]Policy, []NamedLocation) {
	var file struct {
		Base  map[string]any `json:"base"`
		Cases []ruleCase     `json:"cases"`
	}
	if err := json.Unmarshal(readFile(b, "eval/cases.json"), &file); err != nil {
		b.Fatal(err)
	}
	var out []Policy
	for i := 0; len(out) < n; i++ {
		tc := file.Cases[i%len(file.Cases)]
		var patch any = map[string]any{}
		if len(tc.Policy) > 0 {
			_ = json.Unmarshal(tc.Policy, &patch)
		}
		raw, _ := json.Marshal(mergePatch(file.Base, patch))
		ps, err := DecodePolicies(raw)
		if err != nil {
			b.Fatal(err)
		}
		ps[0].ID = fmt.Sprintf("%08d-0000-4000-8000-000000000000", i)
		out = append(out, ps[0])
	}
	locs, err := DecodeNamedLocations(readFile(b, "eval/locations.json"))
	if err != nil {
		b.Fatal(err)
	}
	return out, locs
}

// BenchmarkEvaluate1000Policies5Apps: the target is under 5 ms per diagnosis.
func BenchmarkEvaluate1000Policies5Apps(b *testing.B) {
	policies, locs := benchPolicies(b, 1000)
	sc := Scenario{PartnerTenantID: testPartner} // no app: the 5 default apps
	if n := len(resourcesOf(sc.Apps)); n != 5 {
		b.Fatalf("%d apps, want 5", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		d := Evaluate(Evidence{Policies: policies, NamedLocations: locs}, sc)
		if len(d.Policies) != 1000 {
			b.Fatal("lost policies")
		}
	}
}
