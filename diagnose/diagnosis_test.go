package diagnose

import (
	"slices"
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
	// "blocker" as fixed an hour after the sign-in: it now excludes the
	// partner's service provider users.
	fixedAt := at.Add(time.Hour)
	fixed := append([]Policy(nil), policies...)
	fixed[2].ModifiedDateTime = &fixedAt
	fixed[2].Conditions.Users = &UsersCondition{IncludeUsers: []string{"All"}, ExcludeGuestsOrExternalUsers: &GuestsOrExternalUsers{
		GuestOrExternalUserTypes: "serviceProvider",
		ExternalTenants:          &ExternalTenants{MembershipKind: MembershipEnumerated, Members: []string{testPartner}}}}
	tests := []struct {
		name          string
		policies      []Policy // default: policies
		corr          string
		signIns       []SignIn
		reason        string // in blocker's reasons
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
		{name: "a policy fixed since the sign-in: the old failure no longer decides (re-check after a fix)", policies: fixed, corr: "c1",
			signIns: []SignIn{signIn("c1", "notApplied", "reportOnlySuccess", "failure")},
			want:    map[string]Effect{"maybe": EffectNotApplicable, "blocker": EffectExcluded}, wantWouldBe: EffectSatisfied, verdict: VerdictNotBlocked,
			disagreements: []string{"Android block"}, reason: "before the policy was last modified"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pols := policies
			if tc.policies != nil {
				pols = tc.policies
			}
			d := Evaluate(Evidence{Policies: pols, SignIns: tc.signIns}, Scenario{PartnerTenantID: testPartner, CorrelationID: tc.corr})
			if tc.reason != "" {
				if r := d.Policies[2]; !strings.Contains(strings.Join(r.Reasons, "\n"), tc.reason) || r.Confirmed {
					t.Errorf("blocker: confirmed %v, reasons %q, want one saying %q", r.Confirmed, r.Reasons, tc.reason)
				}
			}
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

// A pasted Conditional Access error with no policy that blocks now is not an
// all-clear: the headline and the disagreements say so.
func TestUnexplainedError(t *testing.T) {
	mfa := []Policy{{ID: "mfa", DisplayName: "MFA for all", State: StateEnabled, Conditions: Conditions{
		Users:        &UsersCondition{IncludeUsers: []string{"All"}},
		Applications: &ApplicationsCondition{IncludeApplications: []string{"All"}}},
		GrantControls: &GrantControls{BuiltInControls: []string{"mfa"}}}}
	tests := []struct {
		code     int
		headline string
		disagree bool
	}{
		{53003, "Not explained: the error (AADSTS53003) says Conditional Access stopped the sign-in", true},
		{50158, "Not explained: the error (AADSTS50158)", true},
		{50126, "Not blocked: no enabled policy blocks", false}, // a wrong password: nothing to explain
		{0, "Not blocked: no enabled policy blocks", false},
	}
	for _, tt := range tests {
		d := Evaluate(Evidence{Policies: mfa}, Scenario{PartnerTenantID: testPartner, ErrorCode: tt.code})
		if d.Verdict != VerdictNotBlocked {
			t.Fatalf("AADSTS%d: verdict %s", tt.code, d.Verdict)
		}
		if got := Headline(d); !strings.HasPrefix(got, tt.headline) {
			t.Errorf("AADSTS%d: headline %q, want it to start %q", tt.code, got, tt.headline)
		}
		if got := len(d.Disagreements) > 0; got != tt.disagree {
			t.Errorf("AADSTS%d: disagreements %q", tt.code, d.Disagreements)
		}
		if tt.disagree && !strings.Contains(MrkdwnSummary(d), ":grey_question:") {
			t.Errorf("AADSTS%d: the Slack summary shows an all-clear:\n%s", tt.code, MrkdwnSummary(d))
		}
	}
}

// Policies that could not be read may block: the verdict is never an
// all-clear while some were skipped, and every rendering says why.
func TestUnreadPoliciesAreNeverAnAllClear(t *testing.T) {
	mfa := smallPolicy(t, `{"id":"p-mfa","displayName":"Require MFA","state":"enabled",
		"conditions":{"users":{"includeUsers":["All"]},"applications":{"includeApplications":["All"]}},
		"grantControls":{"operator":"OR","builtInControls":["mfa"]}}`)
	read := Evaluate(Evidence{Policies: []Policy{mfa}}, Scenario{PartnerTenantID: examplePartner})
	if read.Verdict != VerdictNotBlocked {
		t.Fatalf("with everything read: %s", read.Verdict)
	}
	d := Evaluate(Evidence{Policies: []Policy{mfa}, UnreadPolicies: []string{"CA102.json: malformed JSON at line 8"}}, Scenario{PartnerTenantID: examplePartner})
	if d.Verdict != VerdictPossiblyBlocked {
		t.Errorf("verdict %s, want possibly_blocked", d.Verdict)
	}
	if want := "Possibly blocked: no policy read blocks service provider users of " + examplePartner + "; 1 policy export could not be read, and the policies in it may block"; Headline(d) != want {
		t.Errorf("headline %q\nwant     %q", Headline(d), want)
	}
	if !slices.ContainsFunc(d.Missing, func(m string) bool { return strings.Contains(m, "CA102.json: malformed JSON at line 8") }) {
		t.Errorf("missing %q does not name the file", d.Missing)
	}
	if s := MrkdwnSummary(d); !strings.Contains(s, "could not be read") || strings.Contains(s, "nothing to change") {
		t.Errorf("Slack summary reads as an all-clear:\n%s", s)
	}
	// A confirmed block stays blocked; a policy that blocks stays likely.
	duo := smallPolicy(t, `{"id":"p-duo","displayName":"Duo","state":"enabled",
		"conditions":{"users":{"includeUsers":["All"]},"applications":{"includeApplications":["All"]}},
		"grantControls":{"operator":"OR","customAuthenticationFactors":["Duo-Security"]}}`)
	if d := Evaluate(Evidence{Policies: []Policy{duo}, UnreadPolicies: []string{"x"}}, Scenario{PartnerTenantID: examplePartner}); d.Verdict != VerdictLikelyBlocked {
		t.Errorf("a blocking policy with an unread file: %s", d.Verdict)
	}
}
