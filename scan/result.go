package scan

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/cacheck/ca-check/diagnose"
)

// Report is one scan's result: the JSON of `ca-check scan --json`, a
// stable contract (README.md "Fleet scan").
type Report struct {
	ScannedAt       time.Time      `json:"scannedAt"`
	PartnerTenantID string         `json:"partnerTenantId"`
	Tenants         []TenantResult `json:"tenants"`
	Summary         Summary        `json:"summary"`
}

// Tenant names a customer tenant. Every key is always present: "" when
// unknown (the default domain is known only for a tenant given by domain).
type Tenant struct {
	ID            string `json:"id"`
	DisplayName   string `json:"displayName"`
	DefaultDomain string `json:"defaultDomain"`
}

// TenantResult is one customer's entry: a verdict with the policies that
// block or may block, or an error saying why the tenant could not be read
// (and then no verdict).
type TenantResult struct {
	Tenant Tenant `json:"tenant"`
	// Relationship is the partner's GDAP relationship with the tenant
	// (the active one with the latest end), nil when there is none.
	Relationship *diagnose.Relationship `json:"relationship"`
	Verdict      diagnose.Verdict       `json:"verdict,omitempty"`
	// Blocking are the policies whose effect is blocks or may_block,
	// certain ones first; empty, never null.
	Blocking []Policy `json:"blocking"`
	// Error is why the tenant could not be read, in diagnose's words
	// (no consent, with the consent URL; a missing permission; throttled
	// after retries; …), and ErrorCode its diagnose code.
	Error     string `json:"error,omitempty"`
	ErrorCode string `json:"errorCode,omitempty"`
}

// Policy is a blocking (or possibly blocking) policy of a tenant.
type Policy struct {
	ID          string          `json:"id"`
	DisplayName string          `json:"displayName"`
	Effect      diagnose.Effect `json:"effect"`
	// ModifiedDateTime is when the policy was last changed, as Graph
	// says (absent when it does not).
	ModifiedDateTime *time.Time `json:"modifiedDateTime,omitempty"`
}

// Summary counts the entries by verdict; Error counts those without one.
type Summary struct {
	Blocked         int `json:"blocked"`
	LikelyBlocked   int `json:"likely_blocked"`
	PossiblyBlocked int `json:"possibly_blocked"`
	NotBlocked      int `json:"not_blocked"`
	Error           int `json:"error"`
}

// Total is the number of entries counted.
func (s Summary) Total() int {
	return s.Blocked + s.LikelyBlocked + s.PossiblyBlocked + s.NotBlocked + s.Error
}

// Summarize counts results.
func Summarize(results []TenantResult) Summary {
	var s Summary
	for _, r := range results {
		switch {
		case r.Error != "" || r.Verdict == "":
			s.Error++
		case r.Verdict == diagnose.VerdictBlocked:
			s.Blocked++
		case r.Verdict == diagnose.VerdictLikelyBlocked:
			s.LikelyBlocked++
		case r.Verdict == diagnose.VerdictPossiblyBlocked:
			s.PossiblyBlocked++
		default:
			s.NotBlocked++
		}
	}
	return s
}

// NewReport sorts results (by display name, case-insensitively, then
// tenant ID) and summarizes them.
func NewReport(partnerTenantID string, scannedAt time.Time, results []TenantResult) *Report {
	results = slices.Clone(results)
	SortResults(results)
	for i := range results {
		if results[i].Blocking == nil {
			results[i].Blocking = []Policy{}
		}
	}
	if results == nil {
		results = []TenantResult{}
	}
	return &Report{ScannedAt: scannedAt.UTC(), PartnerTenantID: strings.ToLower(partnerTenantID), Tenants: results, Summary: Summarize(results)}
}

// SortResults orders results by display name, case-insensitively, then by
// tenant ID.
func SortResults(results []TenantResult) {
	slices.SortStableFunc(results, func(a, b TenantResult) int {
		return cmp.Or(
			cmp.Compare(strings.ToLower(a.Tenant.DisplayName), strings.ToLower(b.Tenant.DisplayName)),
			cmp.Compare(a.Tenant.ID, b.Tenant.ID))
	})
}

// Affected reports whether the tenant's partner staff are or may be
// blocked: a verdict other than not_blocked.
func (r TenantResult) Affected() bool {
	return r.Error == "" && r.Verdict != "" && r.Verdict != diagnose.VerdictNotBlocked
}

// FromDiagnosis makes t's entry from its diagnosis. t, from the partner's
// GDAP list, names the tenant when the diagnosis does not.
func FromDiagnosis(t Target, d *diagnose.Diagnosis, now time.Time) TenantResult {
	r := TenantResult{Tenant: t.Tenant, Relationship: t.Best(now), Verdict: d.Verdict, Blocking: []Policy{}}
	if d.Tenant != nil {
		if r.Tenant.DisplayName == "" {
			r.Tenant.DisplayName = d.Tenant.DisplayName
		}
		if r.Tenant.DefaultDomain == "" {
			r.Tenant.DefaultDomain = d.Tenant.DefaultDomain
		}
	}
	if d.Relationship != nil {
		r.Relationship = d.Relationship
	}
	for _, p := range d.Blocking() {
		bp := Policy{ID: p.ID, DisplayName: p.DisplayName, Effect: p.Effect}
		if p.Policy != nil && p.Policy.ModifiedDateTime != nil {
			at := p.Policy.ModifiedDateTime.UTC()
			bp.ModifiedDateTime = &at
		}
		r.Blocking = append(r.Blocking, bp)
	}
	return r
}

// FromError makes t's entry for a tenant that could not be read.
func FromError(t Target, err error, now time.Time) TenantResult {
	return TenantResult{Tenant: t.Tenant, Relationship: t.Best(now), Blocking: []Policy{},
		Error: diagnose.ErrorMessage(err), ErrorCode: diagnose.ErrorCode(err)}
}
