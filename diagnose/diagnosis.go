package diagnose

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Verdict is the overall answer: is the partner blocked by Conditional Access?
type Verdict string

// Verdicts, strongest first.
const (
	VerdictBlocked         Verdict = "blocked"          // confirmed by a sign-in log entry or a live attempt
	VerdictLikelyBlocked   Verdict = "likely_blocked"   // some policy certainly blocks
	VerdictPossiblyBlocked Verdict = "possibly_blocked" // some policy may block, depending on unknown facts
	VerdictNotBlocked      Verdict = "not_blocked"
)

// Evidence is what was read from (or exported by) the customer tenant.
type Evidence struct {
	// Tenant is the customer tenant the evidence comes from, when known.
	Tenant *Tenant
	// Relationship is the partner's GDAP relationship with it, when read.
	Relationship *Relationship
	Policies     []Policy
	// NamedLocations is nil when the tenant's list was not read: references
	// to named locations then stay unknown. An empty, non-nil slice means the
	// tenant has none.
	NamedLocations []NamedLocation
	// SignIns are sign-in log entries for the scenario: by correlation ID,
	// or recent service-provider failures from the partner tenant.
	SignIns []SignIn
	// WhatIf is Microsoft's own evaluation, where the tenant allows it.
	WhatIf *WhatIf
	// Missing says what could not be read and why, one line each
	// ("sign-in logs: the tenant has no Entra ID P1 licence").
	Missing []string
	// UnreadPolicies are exports of policies that could not be read, one
	// line each ("CA102.json: malformed JSON at line 8"): the policies in
	// them may block, so the verdict is never not_blocked with any.
	UnreadPolicies []string
}

// WhatIf is the result of Graph's Conditional Access What If evaluation for a
// service provider sign-in: the policies that would apply.
type WhatIf struct {
	Policies []WhatIfPolicy
}

// WhatIfPolicy is one policy in a What If answer.
type WhatIfPolicy struct {
	ID          string
	DisplayName string
	// Applies is whether Microsoft says the policy applies to the sign-in.
	Applies bool
	// Blocks is whether its applying grant is "block access".
	Blocks bool
}

// PolicyResult is one policy's effect on the scenario.
type PolicyResult struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"displayName"`
	State       string   `json:"state"`
	Effect      Effect   `json:"effect"`
	WouldBe     Effect   `json:"wouldBe,omitempty"`
	Reasons     []string `json:"reasons"`
	// Confirmed is set when a sign-in log entry shows this policy failed
	// the partner's sign-in (for report-only: would have).
	Confirmed bool `json:"confirmed,omitempty"`
	// Patch is the Graph PATCH body that fixes a blocking policy
	// (PatchBody of the policy and its plan).
	Patch json.RawMessage `json:"patch,omitempty"`
	// Widens says what the patch excludes beyond the partner's service
	// provider users.
	Widens []string `json:"widens,omitempty"`
	// Plan is the full fix (before, after), for renderers and the approval flow.
	Plan *Plan `json:"-"`
	// Policy is the evaluated policy as read.
	Policy *Policy `json:"-"`
}

// Diagnosis is the engine's whole answer for one tenant and one scenario.
type Diagnosis struct {
	Verdict      Verdict        `json:"verdict"`
	Confirmed    bool           `json:"confirmed"`
	Tenant       *Tenant        `json:"tenant,omitempty"`
	Relationship *Relationship  `json:"relationship,omitempty"`
	Scenario     Scenario       `json:"scenario"`
	Policies     []PolicyResult `json:"policies"`
	// Disagreements between the engine and the sign-in log or What If:
	// each is reported, never hidden (a disagreement is a bug to fix).
	Disagreements []string `json:"disagreements,omitempty"`
	// Missing is the evidence that could not be read.
	Missing []string `json:"missing,omitempty"`
	// UnreadPolicies are the policy exports that could not be read (also
	// in Missing); with any, the verdict is at least possibly_blocked.
	UnreadPolicies []string `json:"unreadPolicies,omitempty"`
	// SignInsUsed counts the sign-in log entries that were consulted.
	SignInsUsed int `json:"signInsUsed,omitempty"`
}

// Evaluate diagnoses the scenario against the evidence: every policy once, in
// input order, with its effect and reasons, the fix for each blocking one,
// and the verdict. It never fails: what it cannot decide it calls unknown.
func Evaluate(ev Evidence, sc Scenario) *Diagnosis {
	e := newEvaluator(sc, ev.NamedLocations)
	d := &Diagnosis{Scenario: sc, Tenant: ev.Tenant, Relationship: ev.Relationship, Policies: make([]PolicyResult, len(ev.Policies)),
		Missing: slices.Clone(ev.Missing), UnreadPolicies: ev.UnreadPolicies}
	for _, u := range ev.UnreadPolicies {
		d.Missing = append(d.Missing, "policies: "+u+"; the policies in it were not evaluated")
	}
	for i := range ev.Policies {
		d.Policies[i] = e.evaluate(&ev.Policies[i])
	}
	d.markNamedByError()
	d.confirm(ev.SignIns)
	d.compareWhatIf(ev.WhatIf)
	for i := range d.Policies {
		r := &d.Policies[i]
		if !r.Effect.Blocking() {
			continue
		}
		plan := PlanFix(r.Policy, sc.PartnerTenantID, sc.AllTenantsFix)
		r.Plan = &plan
		r.Widens = plan.Widens
		if !plan.NoChange {
			body, err := PatchBody(r.Policy, plan.After)
			if err != nil {
				// A policy decoded from JSON always encodes again; one
				// that does not gets no body rather than a wrong one.
				r.Reasons = append(r.Reasons, "fix: the PATCH body could not be built: "+err.Error())
				continue
			}
			r.Patch = body
		}
	}
	d.Verdict = d.verdict()
	if d.Unexplained() {
		d.Disagreements = append(d.Disagreements, fmt.Sprintf("the pasted error AADSTS%d says Conditional Access stopped the sign-in, but no policy read blocks it now: a policy may have changed since, may not have been readable, or the sign-in differed from the scenario; look the correlation ID up in the sign-in log (entries can take minutes to appear) and re-check", sc.ErrorCode))
	}
	return d
}

// Unexplained reports whether the pasted error says Conditional Access (or
// an MFA requirement) stopped the sign-in while no policy read blocks it: a
// "not blocked" that must not read as an all-clear.
func (d *Diagnosis) Unexplained() bool {
	if d.Verdict != VerdictNotBlocked || d.Scenario.ErrorCode == 0 {
		return false
	}
	switch LookupCode(d.Scenario.ErrorCode).Category {
	case CategoryConditionalAccess, CategoryMFA:
		return true
	}
	return false
}

// markNamedByError notes the policies the error's claims challenge named, and
// reports those that were not among the policies read.
func (d *Diagnosis) markNamedByError() {
	for _, id := range d.Scenario.ErrorPolicyIDs {
		found := false
		for i := range d.Policies {
			if strings.EqualFold(d.Policies[i].ID, id) {
				d.Policies[i].Reasons = append(d.Policies[i].Reasons, "error: the sign-in error's claims challenge names this policy")
				found = true
			}
		}
		if !found {
			d.Missing = append(d.Missing, "policy "+id+": named by the error's claims challenge, but not among the policies read")
		}
	}
}

// confirm applies the sign-in log: evidence beats analysis.
func (d *Diagnosis) confirm(signIns []SignIn) {
	if len(signIns) == 0 {
		return
	}
	byID := make(map[string]*PolicyResult, len(d.Policies))
	for i := range d.Policies {
		byID[strings.ToLower(d.Policies[i].ID)] = &d.Policies[i]
	}
	for _, s := range signIns {
		// With a correlation ID, only that sign-in is the scenario's; any
		// other entry is someone else's attempt.
		exact := d.Scenario.CorrelationID != "" && strings.EqualFold(s.CorrelationID, d.Scenario.CorrelationID)
		if d.Scenario.CorrelationID != "" && !exact {
			continue
		}
		d.SignInsUsed++
		when := s.CreatedDateTime.UTC().Format(time.RFC3339)
		for _, ap := range s.AppliedConditionalAccessPolicies {
			r := byID[strings.ToLower(ap.ID)]
			if r == nil {
				if strings.EqualFold(ap.Result, ResultFailure) {
					d.Disagreements = append(d.Disagreements, fmt.Sprintf("the sign-in log (%s) shows policy %s failed the sign-in, but it is not among the policies read", when, quoteName(ap.DisplayName+" "+ap.ID)))
					d.Confirmed = true
				}
				continue
			}
			if changedSince(r, s.CreatedDateTime) {
				// The log judged the policy as it was then: after a fix (or
				// any edit) the analysis of the policy as it is now stands,
				// else a re-check would report the old failure forever.
				if strings.EqualFold(ap.Result, ResultFailure) || strings.EqualFold(ap.Result, ResultReportOnlyFailure) {
					r.Reasons = appendOnce(r.Reasons, "sign-in log: "+ap.Result+" for the partner's sign-in at "+when+", before the policy was last modified ("+r.Policy.ModifiedDateTime.UTC().Format(time.RFC3339)+"); that result no longer applies")
				}
				continue
			}
			switch {
			case strings.EqualFold(ap.Result, ResultFailure):
				if r.Effect != EffectBlocks && !r.Confirmed {
					d.Disagreements = append(d.Disagreements, fmt.Sprintf("policy %s: the sign-in log says it failed the sign-in; the engine said %s", quoteName(r.DisplayName), r.Effect))
				}
				r.Effect, r.WouldBe, r.Confirmed = EffectBlocks, "", true
				r.Reasons = appendOnce(r.Reasons, "sign-in log: failed the partner's sign-in at "+when+" (correlation ID "+s.CorrelationID+")")
				d.Confirmed = true
			case strings.EqualFold(ap.Result, ResultReportOnlyFailure):
				if r.Effect == EffectReportOnly && !r.WouldBe.Blocking() {
					d.Disagreements = append(d.Disagreements, fmt.Sprintf("policy %s: the sign-in log says it would have failed the sign-in; the engine said it would be %s", quoteName(r.DisplayName), r.WouldBe))
				}
				if r.Effect == EffectReportOnly {
					if len(r.Reasons) > 0 && r.Reasons[0] == reportOnlyReason(r.WouldBe) {
						r.Reasons[0] = reportOnlyReason(EffectBlocks)
					}
					r.WouldBe, r.Confirmed = EffectBlocks, true
				}
				r.Reasons = appendOnce(r.Reasons, "sign-in log: report-only, would have failed the partner's sign-in at "+when)
			case exact && (strings.EqualFold(ap.Result, ResultNotApplied) || strings.EqualFold(ap.Result, ResultSuccess)):
				if r.Effect.Blocking() && !r.Confirmed {
					eff := EffectNotApplicable
					if strings.EqualFold(ap.Result, ResultSuccess) {
						eff = EffectSatisfied
					}
					d.Disagreements = append(d.Disagreements, fmt.Sprintf("policy %s: the engine said %s; the sign-in log says %s for this sign-in", quoteName(r.DisplayName), r.Effect, ap.Result))
					r.Effect = eff
					r.Reasons = appendOnce(r.Reasons, "sign-in log: "+ap.Result+" for the partner's sign-in at "+when)
				}
			}
		}
	}
}

// changedSince reports whether r's policy was modified after t, so that a
// sign-in log entry from t no longer describes it.
func changedSince(r *PolicyResult, t time.Time) bool {
	return r.Policy != nil && r.Policy.ModifiedDateTime != nil && !t.IsZero() && r.Policy.ModifiedDateTime.After(t)
}

func appendOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// compareWhatIf reports where Microsoft's What If and the engine disagree
// about certain answers; unknowns are not disagreements.
func (d *Diagnosis) compareWhatIf(w *WhatIf) {
	if w == nil {
		return
	}
	said := make(map[string]WhatIfPolicy, len(w.Policies))
	for _, p := range w.Policies {
		said[strings.ToLower(p.ID)] = p
	}
	for _, r := range d.Policies {
		eff := r.Effect
		if eff == EffectReportOnly {
			eff = r.WouldBe
		}
		if r.Effect == EffectDisabled {
			continue
		}
		p, listed := said[strings.ToLower(r.ID)]
		applies := listed && p.Applies
		switch {
		case (eff == EffectBlocks || eff == EffectSatisfied) && !applies:
			d.Disagreements = append(d.Disagreements, fmt.Sprintf("policy %s: the engine said %s; Microsoft's What If says it does not apply", quoteName(r.DisplayName), eff))
		case (eff == EffectNotApplicable || eff == EffectExcluded) && applies:
			d.Disagreements = append(d.Disagreements, fmt.Sprintf("policy %s: the engine said %s; Microsoft's What If says it applies", quoteName(r.DisplayName), eff))
		}
	}
}

func (d *Diagnosis) verdict() Verdict {
	if d.Confirmed {
		return VerdictBlocked
	}
	v := VerdictNotBlocked
	if len(d.UnreadPolicies) > 0 {
		// What was not read may block: never an all-clear.
		v = VerdictPossiblyBlocked
	}
	for _, r := range d.Policies {
		switch r.Effect {
		case EffectBlocks:
			return VerdictLikelyBlocked
		case EffectMayBlock:
			v = VerdictPossiblyBlocked
		}
	}
	return v
}

// Blocking returns the policies that block or may block, confirmed and
// certain ones first.
func (d *Diagnosis) Blocking() []PolicyResult {
	var out []PolicyResult
	for _, r := range d.Policies {
		if r.Effect.Blocking() {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b PolicyResult) int {
		return rank(b) - rank(a)
	})
	return out
}

func rank(r PolicyResult) int {
	n := 0
	if r.Confirmed {
		n += 2
	}
	if r.Effect == EffectBlocks {
		n++
	}
	return n
}
