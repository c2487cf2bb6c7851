package graphclient_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient/graphtest"
)

// A fleet scan reads each tenant's policies, named locations, cross-tenant
// settings and GDAP access assignments; not What If (a Conditional Access
// read, limited per tenant), not the sign-in log unless asked, and not the
// GDAP list again. Its verdict is Diagnose's for the default scenario
// (short of the sign-in log's confirmation when it is not read).
func TestScanTenant(t *testing.T) {
	for _, signIns := range []bool{false, true} {
		s := newFake(t)
		c := newClient(t, s, nil)
		ctx := context.Background()
		rels, err := c.Customers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want, err := c.Diagnose(ctx, customerID, diagnose.Scenario{PartnerTenantID: partnerID})
		if err != nil {
			t.Fatal(err)
		}
		s.ResetLog()
		d, err := c.ScanTenant(ctx, customerID, rels, signIns)
		if err != nil {
			t.Fatal(err)
		}
		// Without the sign-in log nothing confirms the block: the engine's
		// own verdict, one step short of the log's.
		wantVerdict := want.Verdict
		if !signIns && wantVerdict == diagnose.VerdictBlocked {
			wantVerdict = diagnose.VerdictLikelyBlocked
		}
		if d.Verdict != wantVerdict || len(d.Blocking()) != len(want.Blocking()) {
			t.Errorf("sign-ins %v: verdict %s with %d blocking, want %s with %d", signIns, d.Verdict, len(d.Blocking()), wantVerdict, len(want.Blocking()))
		}
		if d.Relationship == nil || d.Relationship.ID != "rel-contoso-1" || !d.Scenario.RolesKnown {
			t.Errorf("relationship %+v, roles known %v", d.Relationship, d.Scenario.RolesKnown)
		}
		count := func(method, prefix string) int { return len(s.GraphRequests(method, prefix)) }
		if n := count(http.MethodPost, "/identity/conditionalAccess/evaluate"); n != 0 {
			t.Errorf("sign-ins %v: %d What If requests, want 0", signIns, n)
		}
		if n, w := count(http.MethodGet, "/auditLogs/signIns"), map[bool]int{false: 0, true: 1}[signIns]; n != w {
			t.Errorf("sign-ins %v: %d sign-in log requests, want %d", signIns, n, w)
		}
		for _, r := range s.GraphRequests(http.MethodGet, "/tenantRelationships/delegatedAdminRelationships") {
			if r.Path == "/v1.0/tenantRelationships/delegatedAdminRelationships" {
				t.Errorf("the GDAP list was read again (%v)", r.Query)
			}
		}
		// Contoso's block excludes one named location: unknown without
		// the partner's IP whether the list is read or not, so it is not.
		if n := count(http.MethodGet, "/identity/conditionalAccess/policies"); n != 1 {
			t.Errorf("%d reads of the policies, want 1", n)
		}
		if n := count(http.MethodGet, "/identity/conditionalAccess/namedLocations"); n != 0 {
			t.Errorf("%d reads of the named locations, want 0", n)
		}
	}
}

// A policy that excludes the trusted locations needs the named locations:
// they are read (after the policies), and a tenant with no trusted IP
// location is certainly blocked outside them.
func TestScanTenantReadsNamedLocations(t *testing.T) {
	s := newFake(t)
	s.Update(customerID, func(tn *graphtest.Tenant) {
		c := tn.Policies[0]["conditions"].(map[string]any)
		c["locations"] = map[string]any{"includeLocations": []any{"All"}, "excludeLocations": []any{"AllTrusted"}}
		tn.NamedLocations = nil
	})
	c := newClient(t, s, nil)
	d, err := c.ScanTenant(context.Background(), customerID, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.GraphRequests(http.MethodGet, "/identity/conditionalAccess/namedLocations")); n != 1 {
		t.Errorf("%d reads of the named locations, want 1", n)
	}
	if d.Policies[0].Effect != diagnose.EffectBlocks {
		t.Errorf("block outside trusted locations in a tenant with none: %s, want blocks", d.Policies[0].Effect)
	}
}
