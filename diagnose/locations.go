package diagnose

import "strings"

// NamedLocationsMatter reports whether reading the tenant's named
// locations can change how policies evaluate for sc. Without the
// partner's IP and country, a named location's membership stays unknown
// whether or not the list was read; only "AllTrusted" needs the list
// (a tenant with no trusted IP location makes it certainly false). A fleet
// scan reads the list only then: it is a Conditional Access read, limited
// per tenant.
func NamedLocationsMatter(policies []Policy, sc Scenario) bool {
	known := sc.IP.IsValid() || sc.Country != ""
	for i := range policies {
		lc := policies[i].Conditions.Locations
		if lc == nil {
			continue
		}
		for _, refs := range [][]string{lc.IncludeLocations, lc.ExcludeLocations} {
			for _, ref := range refs {
				ref = strings.TrimSpace(ref)
				switch {
				case strings.EqualFold(ref, locationAllTrusted):
					return true
				case known && !strings.EqualFold(ref, locationAll) && ref != mfaTrustedIPsID:
					return true
				}
			}
		}
	}
	return false
}
