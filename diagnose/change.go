package diagnose

import "strings"

// Change is the outcome of one write to a policy (applying a Plan, or
// reverting one), as read back from the tenant: for the audit record and the
// report in the engineer's thread. Writers (graphclient) return it and the
// approval flow (bot) stores it, so it lives in the domain.
type Change struct {
	PolicyID    string `json:"policyId"`
	DisplayName string `json:"displayName"`
	// Before and After are excludeGuestsOrExternalUsers before the write
	// and as read back after it.
	Before *GuestsOrExternalUsers `json:"before,omitempty"`
	After  *GuestsOrExternalUsers `json:"after,omitempty"`
	// Policy is the policy as read back.
	Policy Policy `json:"-"`
	// Effect is the policy's re-evaluated effect on the partner's sign-in
	// (EffectExcluded after a successful apply).
	Effect Effect `json:"effect,omitempty"`
	// NoChange is set when nothing had to be written.
	NoChange bool `json:"noChange,omitempty"`
	// RequestIDs are Graph's request-id of the PATCH, then of the read-back,
	// for a support case with Microsoft.
	RequestIDs []string `json:"requestIds,omitempty"`
}

// DescribeExclusion says what an excludeGuestsOrExternalUsers value
// excludes in Graph's names ("none", or "serviceProvider; tenants: 4e8a…"),
// for logs, audit records and tests. What a customer admin reads says it
// in the admin center's words: DescribeExclusionFor.
func DescribeExclusion(g *GuestsOrExternalUsers) string { return graphExclusionText(g) }

// DescribeExclusionFor says what an excludeGuestsOrExternalUsers value
// excludes in the Microsoft Entra admin center's words, naming the
// partner's tenant by partnerName (its organization's display name, when
// known) with its ID beside it, and every tenant ID once: "none", "Service
// provider users of Northwind MSP (4e8a…)", "Local guest users and Service
// provider users of the tenants 9c2e… and Northwind MSP (4e8a…)",
// "… of all external Microsoft Entra organizations". It is plain text for
// a renderer outside this package to escape in its own markup.
func DescribeExclusionFor(g *GuestsOrExternalUsers, partnerTenantID, partnerName string) string {
	return exclusionText(g, strings.TrimSpace(partnerTenantID), oneLine(strings.TrimSpace(partnerName)))
}
