package graphtest

import (
	"fmt"
	"time"
)

// FleetCustomer is a customer tenant of a fleet, with what a scan must
// find there.
type FleetCustomer struct {
	Tenant *Tenant
	// Verdict is the expected verdict without the sign-in log
	// ("likely_blocked", …), "" when the tenant cannot be read.
	Verdict string
	// Blocking are the IDs of the policies that block or may block.
	Blocking []string
	// Error is a phrase the entry's error must contain when Verdict is "".
	Error string
	// Ending is set when the relationship ends within 30 days of now.
	Ending bool
	// TrustedLocations is set when a policy depends on the trusted
	// locations, so that the tenant's named locations must be read.
	TrustedLocations bool
}

// fleetPolicy is policy k of customer n, of a kind AddFleet names.
func fleetPolicy(n, k int, name, kind string, modified time.Time) map[string]any {
	p := map[string]any{
		"id": fmt.Sprintf("%08x-0000-4000-8000-%012x", n, k), "displayName": name, "state": "enabled",
		"modifiedDateTime": modified.UTC().Format(time.RFC3339),
		"conditions": map[string]any{
			"users":          map[string]any{"includeUsers": []any{"All"}},
			"applications":   map[string]any{"includeApplications": []any{"All"}},
			"clientAppTypes": []any{"all"},
		},
	}
	conds := p["conditions"].(map[string]any)
	switch kind {
	case "block":
		p["grantControls"] = map[string]any{"operator": "OR", "builtInControls": []any{"block"}}
	case "mfa":
		p["grantControls"] = map[string]any{"operator": "OR", "builtInControls": []any{"mfa"}}
	case "compliant-windows": // the platform is unknown: may block
		conds["platforms"] = map[string]any{"includePlatforms": []any{"windows"}}
		p["grantControls"] = map[string]any{"operator": "OR", "builtInControls": []any{"compliantDevice"}}
	case "untrusted": // blocks: the tenant has no trusted location
		conds["locations"] = map[string]any{"includeLocations": []any{"All"}, "excludeLocations": []any{"AllTrusted"}}
		p["grantControls"] = map[string]any{"operator": "OR", "builtInControls": []any{"block"}}
	case "block-excluded": // excludes the partner's service provider users
		conds["users"] = map[string]any{"includeUsers": []any{"All"}, "excludeGuestsOrExternalUsers": map[string]any{
			"guestOrExternalUserTypes": "serviceProvider", "externalTenants": map[string]any{
				"@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants", "membershipKind": "all"}}}
		p["grantControls"] = map[string]any{"operator": "OR", "builtInControls": []any{"block"}}
	}
	return p
}

// AddFleet adds partner (with its GDAP relationships) and n customer
// tenants with varied Conditional Access, cycling through eight kinds:
// a block-all policy; MFA only; a compliant device on Windows (may block);
// block outside trusted locations in a tenant that has none; no consent
// (the token endpoint refuses); a block that excludes service providers;
// a block-all whose relationship ends in 10 days; MFA and the compliant
// device. Every 25th customer also has an expired relationship of its own
// (not scanned by default). Tenant IDs are deterministic.
func (s *Server) AddFleet(partner *Tenant, n int, now time.Time) []FleetCustomer {
	modified := now.Add(-72 * time.Hour).Truncate(time.Second)
	const globalAdmin = "62e90394-69f5-4237-9190-012177145e10"
	out := make([]FleetCustomer, 0, n)
	for i := range n {
		t := &Tenant{
			ID:          fmt.Sprintf("c0000000-%04x-4000-8000-%012x", i/0x10000, i),
			DisplayName: fmt.Sprintf("Customer %04d", i),
			NamedLocations: []map[string]any{{
				"@odata.type": "#microsoft.graph.ipNamedLocation", "id": fmt.Sprintf("loc-%d", i),
				"displayName": "Branch office", "isTrusted": false,
				"ipRanges": []any{map[string]any{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"}},
			}},
		}
		t.Domains = []string{fmt.Sprintf("customer%04d.example", i)}
		fc := FleetCustomer{Tenant: t}
		end := now.Add(365 * 24 * time.Hour)
		add := func(kind, name, effect string) {
			p := fleetPolicy(i, len(t.Policies), name, kind, modified)
			t.Policies = append(t.Policies, p)
			if effect != "" {
				fc.Blocking = append(fc.Blocking, p["id"].(string))
			}
		}
		switch i % 8 {
		case 0:
			add("block", "Block everyone", "blocks")
			fc.Verdict = "likely_blocked"
		case 1:
			add("mfa", "MFA for all", "")
			fc.Verdict = "not_blocked"
		case 2:
			add("compliant-windows", "Compliant Windows", "may_block")
			fc.Verdict = "possibly_blocked"
		case 3:
			add("untrusted", "Block untrusted places", "blocks")
			fc.Verdict = "likely_blocked"
			fc.TrustedLocations = true
		case 4:
			add("block", "Block everyone", "blocks")
			t.NoConsent = true
			fc.Error = "adminconsent"
		case 5:
			add("block-excluded", "Block, partner excluded", "")
			add("mfa", "MFA for all", "")
			fc.Verdict = "not_blocked"
		case 6:
			add("block", "Block everyone", "blocks")
			fc.Verdict = "likely_blocked"
			end = now.Add(10 * 24 * time.Hour)
			fc.Ending = true
		case 7:
			add("mfa", "MFA for all", "")
			add("compliant-windows", "Compliant Windows only", "may_block")
			fc.Verdict = "possibly_blocked"
		}
		partner.Relationships = append(partner.Relationships, Relationship(fmt.Sprintf("rel-%04d", i), t, "active", end, globalAdmin))
		if i%25 == 24 {
			partner.Relationships = append(partner.Relationships, Relationship(fmt.Sprintf("rel-%04d-old", i), t, "expired", now.Add(-400*24*time.Hour), globalAdmin))
		}
		s.AddTenant(t)
		out = append(out, fc)
	}
	s.AddTenant(partner)
	return out
}
