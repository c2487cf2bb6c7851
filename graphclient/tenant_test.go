package graphclient_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient/graphtest"
)

const incID = "66666666-6666-6666-6666-666666666666"

// TestTenantNamedWithDot: a customer name with a dot is a name, resolved
// through the GDAP customers, not sent to Entra as a domain; a tenant that
// cannot be an authority is the user's mistake, said as such.
func TestTenantNamedWithDot(t *testing.T) {
	s := newFake(t)
	s.Update(partnerID, func(ten *graphtest.Tenant) {
		ten.Relationships = append(ten.Relationships, map[string]any{
			"id": "rel-inc", "displayName": "Contoso Inc.", "status": "active", "endDateTime": "2027-01-01T00:00:00Z",
			"customer": map[string]any{"tenantId": incID, "displayName": "Contoso Inc."},
		})
	})
	s.AddTenant(&graphtest.Tenant{ID: incID, DisplayName: "Contoso Inc.", Domains: []string{"contoso-inc.example"}})
	c := newClient(t, s, nil)
	ctx := context.Background()

	for _, name := range []string{"Contoso Inc.", " contoso inc. "} {
		d, err := c.Diagnose(ctx, name, scenario())
		if err != nil {
			t.Fatalf("Diagnose(%q): %v", name, err)
		}
		if d.Tenant == nil || d.Tenant.ID != incID {
			t.Errorf("Diagnose(%q): tenant %+v, want %s", name, d.Tenant, incID)
		}
	}
	if got, err := c.ResolveTenant(ctx, "Contoso Inc."); err != nil || got.ID != incID {
		t.Errorf("ResolveTenant = %+v, %v; want %s", got, err, incID)
	}

	tests := []struct {
		name string
		call func(tenant string) error
	}{
		{"Apply", func(tenant string) error {
			_, err := c.Apply(ctx, tenant, diagnose.Plan{PolicyID: polBlock, NoChange: true})
			return err
		}},
		{"Revert", func(tenant string) error {
			_, err := c.Revert(ctx, tenant, polBlock, nil, nil)
			return err
		}},
		{"IsApprover", func(tenant string) error {
			_, err := c.IsApprover(ctx, tenant, "admin@contoso.example")
			return err
		}},
	}
	for _, tt := range tests {
		for _, tenant := range []string{"Contoso Inc.", "contoso/../x"} {
			t.Run(tt.name+" "+tenant, func(t *testing.T) {
				err := tt.call(tenant)
				if diagnose.ErrorCode(err) != diagnose.EINVALID || !strings.Contains(diagnose.ErrorMessage(err), `"`+tenant+`" is not a tenant ID or a verified domain`) {
					t.Errorf("error = %v (code %q), want EINVALID naming %q", err, diagnose.ErrorCode(err), tenant)
				}
			})
		}
	}
	for _, r := range s.Requests() {
		if strings.Contains(strings.ToLower(r.Path), "inc.") || strings.Contains(r.Path, "..") {
			t.Errorf("a customer name reached the network: %s %s", r.Method, r.Path)
		}
	}
}
