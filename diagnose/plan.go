package diagnose

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Plan is the minimal fix for one policy: exclude the partner's service
// provider users, changing conditions.users.excludeGuestsOrExternalUsers and
// nothing else.
type Plan struct {
	PolicyID    string
	DisplayName string
	// PartnerTenantID is the partner tenant the plan excludes, so that a
	// rendering of the plan can name it.
	PartnerTenantID string
	// ModifiedDateTime is the policy's as planned; applying refuses when the
	// policy has changed since.
	ModifiedDateTime *time.Time
	// Before and After are excludeGuestsOrExternalUsers before and after.
	Before *GuestsOrExternalUsers
	After  *GuestsOrExternalUsers
	// Widens lists, one sentence each, what the change excludes beyond the
	// partner's service provider users.
	Widens []string
	// NoChange is set when the policy already excludes them.
	NoChange bool
	// Optional is set on a plan for a policy that may block (not certain,
	// not confirmed): DecidedBy names the unknown facts that decide it and
	// GivesUp what excluding service provider users from it costs, so that
	// an admin can weigh it (PlansToApprove fills them).
	Optional  bool     `json:",omitempty"`
	DecidedBy []string `json:",omitempty"`
	GivesUp   string   `json:",omitempty"`
}

// PlanFix plans the exclusion for one policy. allTenants excludes service
// provider users of every tenant instead of the partner's alone, for
// deployments configured so.
func PlanFix(pol *Policy, partnerTenantID string, allTenants bool) Plan {
	plan := Plan{PolicyID: pol.ID, DisplayName: pol.DisplayName, ModifiedDateTime: pol.ModifiedDateTime, PartnerTenantID: strings.ToLower(partnerTenantID)}
	var before *GuestsOrExternalUsers
	if pol.Conditions.Users != nil {
		before = pol.Conditions.Users.ExcludeGuestsOrExternalUsers
	}
	plan.Before = before.clone()
	partner := strings.ToLower(partnerTenantID)

	switch {
	case before.HasType(TypeServiceProvider) && before.CoversTenant(partner):
		plan.NoChange = true
		plan.After = before.clone()
	case before == nil || len(before.Types()) == 0:
		after := &GuestsOrExternalUsers{GuestOrExternalUserTypes: TypeServiceProvider}
		if allTenants {
			after.ExternalTenants = &ExternalTenants{MembershipKind: MembershipAll}
			plan.Widens = append(plan.Widens, "Service provider users of every tenant are excluded, not only the partner's (configured: all tenants).")
		} else {
			after.ExternalTenants = &ExternalTenants{MembershipKind: MembershipEnumerated, Members: []string{partner}}
		}
		plan.After = after
	case before.AllTenants():
		after := before.clone()
		after.GuestOrExternalUserTypes = joinFlags(before.Types(), TypeServiceProvider)
		plan.After = after
		plan.Widens = append(plan.Widens, "The existing exclusion applies to all external tenants, so service provider users of every tenant are excluded, not only the partner's.")
	default:
		after := before.clone()
		others := slices.DeleteFunc(before.Types(), func(t string) bool { return strings.EqualFold(t, TypeServiceProvider) })
		hadSP := before.HasType(TypeServiceProvider)
		after.GuestOrExternalUserTypes = joinFlags(before.Types(), TypeServiceProvider)
		listed := before.ExternalTenants.Members
		after.ExternalTenants = &ExternalTenants{MembershipKind: MembershipEnumerated, Members: append(slices.Clone(listed), partner)}
		plan.After = after
		if len(others) > 0 {
			plan.Widens = append(plan.Widens, fmt.Sprintf("The exclusion of %s now also covers the partner tenant %s.", guestTypesText(others), partner))
		}
		if !hadSP && len(listed) > 0 {
			plan.Widens = append(plan.Widens, fmt.Sprintf("Service provider users of the tenants already listed (%s) are excluded too.", listSome(listed, maxListed)))
		}
	}
	return plan
}

func (g *GuestsOrExternalUsers) clone() *GuestsOrExternalUsers {
	if g == nil {
		return nil
	}
	c := *g
	if g.ExternalTenants != nil {
		t := *g.ExternalTenants
		t.Members = slices.Clone(t.Members)
		c.ExternalTenants = &t
	}
	return &c
}

// joinFlags adds flag to a flags enum list, keeping the existing order.
func joinFlags(flags []string, add string) string {
	if !containsFold(flags, add) {
		flags = append(flags, add)
	}
	return strings.Join(flags, ",")
}

// Excludes reports whether g already excludes the partner's service provider
// users; graphclient uses it to verify a write and to re-check a plan.
func (g *GuestsOrExternalUsers) Excludes(partnerTenantID string) bool {
	return g.HasType(TypeServiceProvider) && g.CoversTenant(partnerTenantID)
}

// Equal reports whether g and o describe the same exclusion: same type set,
// same membership kind, same tenant set (order and case ignored).
func (g *GuestsOrExternalUsers) Equal(o *GuestsOrExternalUsers) bool {
	if g == nil || o == nil {
		return (g == nil || len(g.Types()) == 0) && (o == nil || len(o.Types()) == 0)
	}
	if !sameSet(g.Types(), o.Types()) {
		return false
	}
	if g.AllTenants() || o.AllTenants() {
		return g.AllTenants() == o.AllTenants()
	}
	return sameSet(g.ExternalTenants.Members, o.ExternalTenants.Members)
}
