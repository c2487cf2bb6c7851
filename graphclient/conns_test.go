package graphclient_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/cacheck/ca-check/graphclient"
	"github.com/cacheck/ca-check/graphclient/graphtest"
)

// A tenant string that gets no token (no such tenant, a domain nobody
// verified, a tenant that has not consented) leaves nothing behind: the
// client keeps a connection only for a tenant that answered with a token.
func TestConnCacheKeepsOnlyTenantsWithTokens(t *testing.T) {
	s := newFake(t)
	s.AddTenant(&graphtest.Tenant{ID: "77777777-7777-7777-7777-777777777777", DisplayName: "Woodgrove", Domains: []string{"woodgrove.example"}, NoConsent: true})
	c := newClient(t, s, nil)
	ctx := context.Background()
	for _, tenant := range []string{
		"66666666-6666-6666-6666-666666666666", // no such tenant
		"nowhere.example",                      // nobody's domain
		"77777777-7777-7777-7777-777777777777", // not consented
		"woodgrove.example",
	} {
		if _, err := c.Diagnose(ctx, tenant, scenario()); err == nil {
			t.Errorf("Diagnose(%s) succeeded", tenant)
		}
	}
	if got := graphclient.CachedTenants(c); len(got) != 1 || got[0] != partnerID {
		t.Errorf("cached after failed tenants: %q, want only the partner (whose GDAP list was read)", got)
	}
	if _, err := c.Diagnose(ctx, "Contoso.Example", scenario()); err != nil {
		t.Fatal(err)
	}
	got := graphclient.CachedTenants(c)
	slices.Sort(got)
	if want := []string{partnerID, customerID, "contoso.example"}; !slices.Equal(got, want) {
		t.Errorf("cached after a diagnosis: %q, want %q", got, want)
	}
}

// The cache holds at most its bound, and evicts the tenant used least
// recently: a tenant used again stays and needs no new token, an evicted
// one gets a new token when it comes back.
func TestConnCacheBounded(t *testing.T) {
	s := newFake(t)
	ids := make([]string, 4)
	for i := range ids {
		ids[i] = fmt.Sprintf("5555555%d-0000-0000-0000-000000000000", i)
		s.AddTenant(&graphtest.Tenant{ID: ids[i], DisplayName: "Customer " + ids[i][:8]})
	}
	c := newClient(t, s, nil)
	graphclient.SetMaxConns(c, 3) // the partner and two customers
	ctx := context.Background()
	diagnose := func(id string) (tokens int) {
		t.Helper()
		before := s.TokensIssued()
		if _, err := c.Diagnose(ctx, id, scenario()); err != nil {
			t.Fatalf("Diagnose(%s): %v", id, err)
		}
		if n := len(graphclient.CachedTenants(c)); n > 3 {
			t.Errorf("%d tenants cached, bound 3", n)
		}
		return s.TokensIssued() - before
	}
	diagnose(ids[0])
	diagnose(ids[1])
	if n := diagnose(ids[0]); n != 0 {
		t.Errorf("a cached tenant got %d new tokens", n)
	}
	diagnose(ids[2]) // evicts ids[1], used least recently
	if got := graphclient.CachedTenants(c); slices.Contains(got, ids[1]) || !slices.Contains(got, ids[0]) || !slices.Contains(got, partnerID) {
		t.Errorf("cached %q: want the partner, %s and %s", got, ids[0], ids[2])
	}
	if n := diagnose(ids[0]); n != 0 {
		t.Errorf("the tenant used recently got %d new tokens", n)
	}
	if n := diagnose(ids[1]); n != 1 {
		t.Errorf("the evicted tenant got %d new tokens, want 1", n)
	}
}
