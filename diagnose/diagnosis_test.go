package diagnose

import (
	"strings"
	"testing"
	"time"
)

func TestSignInLogConfirms(t *testing.T) {
	// "maybe" may block (platform unknown); "never" targets specific groups.
	policies := []Policy{
		{ID: "maybe", DisplayName: "Android block", State: StateEnabled, Conditions: Conditions{
			Users:        &UsersCondition{IncludeUsers: []string{"All"}},
			Applications: &ApplicationsCondition{IncludeApplications: []string{"All"}},
			Platforms:    &PlatformsCondition{IncludePlatforms: []string{"android"}}},
			GrantControls: &GrantControls{BuiltInControls: []string{"block"}}},
		{ID: "ro", DisplayName: "Report-only MFA", State: StateReportOnly, Conditions: Conditions{
			Users:        &UsersCondition{IncludeUsers: []string{"All"}},
			Applications: &ApplicationsCondition{IncludeApplications: []string{"All"}}},
			GrantControls: &GrantControls{BuiltInControls: []string{"mfa"}}},
		{ID: "blocker", DisplayName: "Block all", State: StateEnabled, Conditions: Conditions{
			Users:        &UsersCondition{IncludeUsers: []string{"All"}},
			Applications: &ApplicationsCondition{IncludeApplications: []string{"All"}}},
			GrantControls: &GrantControls{BuiltInControls: []string{"block"}}},
	}
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	signIn := func(corr string, results ...string) SignIn {
		s := SignIn{ID: "s-" + corr, CorrelationID: corr, CreatedDateTime: at}
		ids := []string{"maybe", "ro", "blocker"}
		for i, r := range results {
			s.AppliedConditionalAccessPolicies = append(s.AppliedConditionalAccessPolicies, AppliedPolicy{ID: ids[i], Result: r})
		}
		return s
	}
	tests := []struct {
		name          string
		corr          string
		signIns       []SignIn
		want          map[string]Effect
		wantWouldBe   Effect
		verdict       Verdict
		disagreements []string
	}{
		{name: "no log: analysis alone", want: map[string]Effect{"maybe": EffectMayBlock, "blocker": EffectBlocks}, wantWouldBe: EffectSatisfied, verdict: VerdictLikelyBlocked},
		{name: "log confirms the blocker and upgrades may_block", corr: "c1",
			signIns: []SignIn{signIn("c1", "failure", "reportOnlySuccess", "failure")},
			want:    map[string]Effect{"maybe": EffectBlocks, "blocker": EffectBlocks}, wantWouldBe: EffectSatisfied, verdict: VerdictBlocked,
			disagreements: []string{"Android block"}},
		{name: "log says not applied for the correlated sign-in", corr: "c1",
			signIns: []SignIn{signIn("c1", "notApplied", "reportOnlyNotApplied", "failure")},
			want:    map[string]Effect{"maybe": EffectNotApplicable, "blocker": EffectBlocks}, wantWouldBe: EffectSatisfied, verdict: VerdictBlocked,
			disagreements: []string{"Android block"}},
		{name: "other correlation IDs are ignored", corr: "c1",
			signIns: []SignIn{signIn("c2", "failure", "reportOnlyFailure", "failure")},
			want:    map[string]Effect{"maybe": EffectMayBlock, "blocker": EffectBlocks}, wantWouldBe: EffectSatisfied, verdict: VerdictLikelyBlocked},
		{name: "report-only failure confirms the would-be", corr: "c1",
			signIns: []SignIn{signIn("c1", "notApplied", "reportOnlyFailure")},
			want:    map[string]Effect{"maybe": EffectNotApplicable, "ro": EffectReportOnly, "blocker": EffectBlocks}, wantWouldBe: EffectBlocks, verdict: VerdictLikelyBlocked,
			disagreements: []string{"Android block", "Report-only MFA"}},
		{name: "recent failures without a correlation ID confirm failures only",
			signIns: []SignIn{signIn("x", "notApplied", "", "failure")},
			want:    map[string]Effect{"maybe": EffectMayBlock, "blocker": EffectBlocks}, wantWouldBe: EffectSatisfied, verdict: VerdictBlocked},
		{name: "a failing policy that was not read is reported", corr: "c1",
			signIns: []SignIn{{ID: "s", CorrelationID: "c1", AppliedConditionalAccessPolicies: []AppliedPolicy{{ID: "ghost", DisplayName: "Ghost", Result: "failure"}}}},
			want:    map[string]Effect{"maybe": EffectMayBlock}, wantWouldBe: EffectSatisfied, verdict: VerdictBlocked, disagreements: []string{"Ghost"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Evaluate(Evidence{Policies: policies, SignIns: tc.signIns}, Scenario{PartnerTenantID: testPartner, CorrelationID: tc.corr})
			for _, r := range d.Policies {
				if want, ok := tc.want[r.ID]; ok && r.Effect != want {
					t.Errorf("%s: effect %s, want %s (%q)", r.ID, r.Effect, want, r.Reasons)
				}
				if r.ID == "ro" && r.WouldBe != tc.wantWouldBe {
					t.Errorf("report-only would be %s, want %s", r.WouldBe, tc.wantWouldBe)
				}
				if r.Effect.Blocking() && r.Patch == nil {
					t.Errorf("%s blocks but has no patch", r.ID)
				}
			}
			if d.Verdict != tc.verdict {
				t.Errorf("verdict %s, want %s", d.Verdict, tc.verdict)
			}
			if len(d.Disagreements) != len(tc.disagreements) {
				t.Fatalf("disagreements = %q, want %d", d.Disagreements, len(tc.disagreements))
			}
			for i, w := range tc.disagreements {
				if !strings.Contains(d.Disagreements[i], w) {
					t.Errorf("disagreement %q does not name %q", d.Disagreements[i], w)
				}
			}
		})
	}
}

func TestWhatIfDisagreements(t *testing.T) {
	policies := []Policy{
		{ID: "a", DisplayName: "Block all", State: StateEnabled, Conditions: Conditions{
			Users:        &UsersCondition{IncludeUsers: []string{"All"}},
			Applications: &ApplicationsCondition{IncludeApplications: []string{"All"}}},
			GrantControls: &GrantControls{BuiltInControls: []string{"block"}}},
		{ID: "b", DisplayName: "Group only", State: StateEnabled, Conditions: Conditions{
			Users:        &UsersCondition{IncludeGroups: []string{"g"}},
			Applications: &ApplicationsCondition{IncludeApplications: []string{"All"}}},
			GrantControls: &GrantControls{BuiltInControls: []string{"block"}}},
	}
	tests := []struct {
		name   string
		whatIf *WhatIf
		want   []string
	}{
		{"agreement", &WhatIf{Policies: []WhatIfPolicy{{ID: "a", Applies: true, Blocks: true}}}, nil},
		{"engine blocks, What If does not apply", &WhatIf{}, []string{"Block all"}},
		{"engine not applicable, What If applies", &WhatIf{Policies: []WhatIfPolicy{{ID: "a", Applies: true}, {ID: "B", Applies: true}}}, []string{"Group only"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Evaluate(Evidence{Policies: policies, WhatIf: tc.whatIf}, Scenario{PartnerTenantID: testPartner})
			if len(d.Disagreements) != len(tc.want) {
				t.Fatalf("disagreements = %q, want %q", d.Disagreements, tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(d.Disagreements[i], w) {
					t.Errorf("%q does not name %q", d.Disagreements[i], w)
				}
			}
		})
	}
}
