package scan

import (
	"time"

	"github.com/cacheck/ca-check/diagnose"
)

// Changes is what changed between two scans, for the digest's lead.
type Changes struct {
	// NewlyBlocking are policies that block or may block now and did not
	// in the previous scan of the same tenant (a tenant then unreadable is
	// left out: nothing is known of before).
	NewlyBlocking []PolicyChange `json:"newlyBlocking"`
	// Fixed are the tenants that were affected and are not blocked now.
	Fixed []Tenant `json:"fixed"`
	// NewCustomers are tenants scanned now and not before; LostCustomers
	// the reverse, with their relationship as last seen.
	NewCustomers  []Tenant       `json:"newCustomers"`
	LostCustomers []TenantResult `json:"lostCustomers"`
	// Ending are the active GDAP relationships that end within
	// EndingWithin; Expired the relationships that no longer grant access
	// (scanned tenants whose relationship ended, and lost customers whose
	// last relationship has ended).
	Ending  []RelationshipChange `json:"ending"`
	Expired []RelationshipChange `json:"expired"`
}

// PolicyChange is a policy that started blocking.
type PolicyChange struct {
	Tenant Tenant `json:"tenant"`
	Policy Policy `json:"policy"`
}

// RelationshipChange is a GDAP relationship ending or ended.
type RelationshipChange struct {
	Tenant       Tenant                `json:"tenant"`
	Relationship diagnose.Relationship `json:"relationship"`
}

// EndingWithin is how far ahead a GDAP relationship's end is announced.
const EndingWithin = 30 * 24 * time.Hour

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return len(c.NewlyBlocking)+len(c.Fixed)+len(c.NewCustomers)+len(c.LostCustomers)+len(c.Ending)+len(c.Expired) == 0
}

// Compare says what changed from prev to cur (both full scans of the
// partner's customers; prev nil for the first), as of now. Lists follow
// cur's order (prev's for lost customers).
func Compare(prev, cur *Report, now time.Time) Changes {
	c := Changes{NewlyBlocking: []PolicyChange{}, Fixed: []Tenant{}, NewCustomers: []Tenant{}, LostCustomers: []TenantResult{},
		Ending: []RelationshipChange{}, Expired: []RelationshipChange{}}
	before := map[string]TenantResult{}
	if prev != nil {
		for _, r := range prev.Tenants {
			before[r.Tenant.ID] = r
		}
	}
	seen := map[string]bool{}
	for _, r := range cur.Tenants {
		seen[r.Tenant.ID] = true
		if rel := r.Relationship; rel != nil {
			switch {
			case !rel.Active(now):
				c.Expired = append(c.Expired, RelationshipChange{r.Tenant, *rel})
			case !rel.EndDateTime.IsZero() && rel.EndDateTime.Sub(now) <= EndingWithin:
				c.Ending = append(c.Ending, RelationshipChange{r.Tenant, *rel})
			}
		}
		old, ok := before[r.Tenant.ID]
		switch {
		case prev == nil:
			continue
		case !ok:
			c.NewCustomers = append(c.NewCustomers, r.Tenant)
			continue
		case old.Error != "" || r.Error != "":
			continue
		}
		if old.Affected() && r.Verdict == diagnose.VerdictNotBlocked {
			c.Fixed = append(c.Fixed, r.Tenant)
		}
		was := map[string]bool{}
		for _, p := range old.Blocking {
			was[p.ID] = true
		}
		for _, p := range r.Blocking {
			if !was[p.ID] {
				c.NewlyBlocking = append(c.NewlyBlocking, PolicyChange{r.Tenant, p})
			}
		}
	}
	if prev != nil {
		for _, r := range prev.Tenants {
			if seen[r.Tenant.ID] {
				continue
			}
			c.LostCustomers = append(c.LostCustomers, r)
			if rel := r.Relationship; rel != nil && (rel.Status != "active" || !rel.EndDateTime.IsZero() && !now.Before(rel.EndDateTime)) {
				c.Expired = append(c.Expired, RelationshipChange{r.Tenant, *rel})
			}
		}
	}
	return c
}
