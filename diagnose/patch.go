package diagnose

import (
	"encoding/json"
	"slices"
	"strings"
)

// The one write ca-check makes, as Graph receives it. The guide, the JSON of
// a diagnosis and graphclient's PATCH all take their body from PatchBody,
// and graphclient checks with IsTheFix that what it is about to write is
// the fix PlanFix makes and nothing more, so what an admin reads and
// approves is what is sent.

// PatchBody returns the Graph PATCH body that sets pol's
// conditions.users.excludeGuestsOrExternalUsers to excl (nil for none):
// {"conditions":{"users":…}}, the users condition as read, every property
// kept (those this package does not model too, as read), with only the
// exclusion replaced. Graph keeps what a PATCH leaves out but replaces a
// nested object sent whole, so nothing but conditions.users is sent and
// nothing in it may be dropped. Collections that were null or missing are
// sent as [], since Graph refuses a null collection.
func PatchBody(pol *Policy, excl *GuestsOrExternalUsers) (json.RawMessage, error) {
	var users UsersCondition
	if pol.Conditions.Users != nil {
		users = *pol.Conditions.Users
	}
	users.ExcludeGuestsOrExternalUsers = excl
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	users.IncludeUsers = nonNil(users.IncludeUsers)
	users.ExcludeUsers = nonNil(users.ExcludeUsers)
	users.IncludeGroups = nonNil(users.IncludeGroups)
	users.ExcludeGroups = nonNil(users.ExcludeGroups)
	users.IncludeRoles = nonNil(users.IncludeRoles)
	users.ExcludeRoles = nonNil(users.ExcludeRoles)

	type conditions struct {
		Users UsersCondition `json:"users"`
	}
	return json.Marshal(struct {
		Conditions conditions `json:"conditions"`
	}{conditions{users}})
}

// IsTheFix reports whether after is what PlanFix makes of the exclusion
// current for the partner, and nothing more: current's types with
// serviceProvider added, and
//   - with no exclusion before, the partner tenant alone, or all tenants
//     when allTenants says the deployment is configured so (never by
//     default: the fix ca-check writes names the partner);
//   - an existing "all tenants" exclusion left so;
//   - an enumerated list with the partner tenant added.
//
// A plan travels through a database and an approval before it is written;
// graphclient checks it with this just before the PATCH, so that a damaged
// or forged plan widens or narrows nothing in a customer's tenant.
func IsTheFix(current, after *GuestsOrExternalUsers, partnerTenantID string, allTenants bool) bool {
	if after == nil || !sameSet(after.Types(), append(current.Types(), TypeServiceProvider)) {
		return false
	}
	switch {
	case len(current.Types()) == 0:
		if after.AllTenants() {
			return allTenants
		}
		return sameSet(after.ExternalTenants.Members, []string{partnerTenantID})
	case current.AllTenants():
		return after.AllTenants()
	default:
		return !after.AllTenants() && sameSet(after.ExternalTenants.Members, append(slices.Clone(current.ExternalTenants.Members), partnerTenantID))
	}
}

// sameSet reports whether a and b hold the same strings, as sets, ignoring
// case and surrounding space.
func sameSet(a, b []string) bool {
	norm := func(s []string) []string {
		out := make([]string, 0, len(s))
		for _, v := range s {
			out = append(out, strings.ToLower(strings.TrimSpace(v)))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}
