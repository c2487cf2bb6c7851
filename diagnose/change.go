package diagnose

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
// excludes, in words ("none", or "serviceProvider; tenants: 4e8a…"), for a
// renderer outside this package to escape in its own markup.
func DescribeExclusion(g *GuestsOrExternalUsers) string { return describeExclusion(g) }
