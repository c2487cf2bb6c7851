package graphclient

import (
	"context"

	"github.com/cacheck/ca-check/diagnose"
)

// ScanTenant diagnoses one customer tenant for a fleet scan: the partner's
// default scenario, as Diagnose with no more than the partner tenant. It
// reads less, because a scan reads every customer at once and Graph's
// limits are per tenant:
//   - no What If: it is a Conditional Access read, and those are limited
//     to about one a second per tenant, shared with every other app;
//   - the named locations only when a policy's evaluation depends on them
//     (diagnose.NamedLocationsMatter: without the partner's IP, only
//     "AllTrusted" does), after the policies: one Conditional Access read
//     per tenant instead of two, for most;
//   - the sign-in log only when signIns is set (its own, tighter limits);
//   - the GDAP relationships are rels, the partner's list as Customers
//     read it once for the whole scan, instead of one read per tenant
//     (a nil rels is read as usual).
//
// Errors are those of Diagnose.
func (c *Client) ScanTenant(ctx context.Context, tenantID string, rels []diagnose.Relationship, signIns bool) (*diagnose.Diagnosis, error) {
	sc := diagnose.Scenario{PartnerTenantID: c.PartnerTenantID()}
	ev, sc, err := c.gather(ctx, tenantID, sc, reads{signIns: signIns, rels: rels, locationsIfNeeded: true})
	if err != nil {
		return nil, err
	}
	return diagnose.Evaluate(ev, sc), nil
}
