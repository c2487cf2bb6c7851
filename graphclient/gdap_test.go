package graphclient_test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient/graphtest"
)

const (
	roleGA             = "62e90394-69f5-4237-9190-012177145e10"
	roleExchange       = "29232cdf-9323-42fd-ade2-1d097af3e4de"
	roleSecurityReader = "5d6b6bb7-de71-4623-b4af-96380a352509"
	polReaders         = "aaaaaaaa-0000-0000-0000-0000000000b1"
	assignmentsPath    = "/tenantRelationships/delegatedAdminRelationships/rel-contoso-1/accessAssignments"
)

// readersPolicy blocks holders of Security Reader, a role the fixture's
// relationship asks for but grants to none of the partner's groups.
func readersPolicy() map[string]any {
	return map[string]any{
		"id": polReaders, "displayName": "Block Security Readers", "state": "enabled",
		"conditions": map[string]any{
			"clientAppTypes": []any{"all"},
			"applications":   map[string]any{"includeApplications": []any{"All"}},
			"users":          map[string]any{"includeRoles": []any{roleSecurityReader}},
		},
		"grantControls": map[string]any{"operator": "OR", "builtInControls": []any{"block"}},
	}
}

func assignment(id, status string, roles ...string) map[string]any {
	var ur []any
	for _, r := range roles {
		ur = append(ur, map[string]any{"roleDefinitionId": r})
	}
	return map[string]any{"id": id, "status": status,
		"accessContainer": map[string]any{"accessContainerId": id + "-group", "accessContainerType": "securityGroup"},
		"accessDetails":   map[string]any{"unifiedRoles": ur}}
}

// TestGDAPRolesFromAccessAssignments: the partner's roles are those its
// security groups were granted, not those the relationship asked for.
func TestGDAPRolesFromAccessAssignments(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(*graphtest.Server)
		wantKnown   bool
		wantRoles   []string
		wantEffect  diagnose.Effect // of "Block Security Readers"
		wantMissing string
		wantReads   int // of rel-contoso-1's access assignments
	}{
		{name: "every group has the same roles", setup: func(*graphtest.Server) {},
			wantKnown: true, wantRoles: []string{roleGA, roleExchange}, wantEffect: diagnose.EffectNotApplicable, wantReads: 1},
		{name: "groups differ", setup: func(s *graphtest.Server) {
			s.Update(partnerID, func(ten *graphtest.Tenant) {
				ten.AccessAssignments["rel-contoso-1"] = []map[string]any{
					assignment("helpdesk", "active", roleGA),
					assignment("auditors", "active", roleSecurityReader),
				}
			})
		}, wantEffect: diagnose.EffectMayBlock, wantReads: 1,
			wantMissing: "GDAP roles: the partner's staff hold different roles in tenant " + customerID + " depending on which of the GDAP relationship's security groups they are in (between them: Global Administrator, Security Reader)"},
		{name: "no active assignment", setup: func(s *graphtest.Server) {
			s.Update(partnerID, func(ten *graphtest.Tenant) {
				ten.AccessAssignments["rel-contoso-1"] = []map[string]any{assignment("old", "deleted", roleSecurityReader)}
			})
		}, wantKnown: true, wantRoles: []string{}, wantEffect: diagnose.EffectNotApplicable, wantReads: 1,
			wantMissing: `GDAP access assignments: the relationship "Contoso support" assigns no roles to any of the partner's security groups yet`},
		{name: "assignments denied", setup: func(s *graphtest.Server) {
			f := graphtest.Denied
			f.Path = assignmentsPath
			s.Fail(f)
		}, wantEffect: diagnose.EffectMayBlock, wantReads: 1,
			wantMissing: "GDAP access assignments: ca-check lacks the DelegatedAdminRelationship.Read.All application permission in tenant " + partnerID},
		{name: "expired relationship: nothing to read", setup: func(s *graphtest.Server) {
			s.Update(partnerID, func(ten *graphtest.Tenant) { ten.Relationships = ten.Relationships[1:2] })
		}, wantEffect: diagnose.EffectMayBlock, wantReads: 0, wantMissing: "GDAP relationship: no active relationship"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			s.Update(customerID, func(ten *graphtest.Tenant) { ten.Policies = append(ten.Policies, readersPolicy()) })
			tt.setup(s)
			c := newClient(t, s, nil)
			d, err := c.Diagnose(context.Background(), customerID, scenario())
			if err != nil {
				t.Fatal(err)
			}
			if d.Scenario.RolesKnown != tt.wantKnown || tt.wantKnown && !reflect.DeepEqual(d.Scenario.Roles, tt.wantRoles) {
				t.Errorf("roles = %q (known %v), want %q (known %v)", d.Scenario.Roles, d.Scenario.RolesKnown, tt.wantRoles, tt.wantKnown)
			}
			i := slices.IndexFunc(d.Policies, func(r diagnose.PolicyResult) bool { return r.ID == polReaders })
			if i < 0 || d.Policies[i].Effect != tt.wantEffect {
				t.Errorf("Block Security Readers: %+v, want %s", d.Policies[i], tt.wantEffect)
			}
			switch {
			case tt.wantMissing == "" && len(d.Missing) != 0:
				t.Errorf("missing = %q, want none", d.Missing)
			case tt.wantMissing != "" && !slices.ContainsFunc(d.Missing, func(m string) bool { return strings.Contains(m, tt.wantMissing) }):
				t.Errorf("missing = %q, want a line with %q", d.Missing, tt.wantMissing)
			}
			if n := len(s.GraphRequests("GET", assignmentsPath)); n != tt.wantReads {
				t.Errorf("%d reads of the access assignments, want %d", n, tt.wantReads)
			}
		})
	}
}

// TestGDAPRelationshipReplaced: a diagnosis reads the assignments of the
// relationships it saw last time in its first wave; when the customer's
// relationship has been replaced since, it reads the new one's and uses
// only those.
func TestGDAPRelationshipReplaced(t *testing.T) {
	s := newFake(t)
	c := newClient(t, s, nil)
	ctx := context.Background()
	if _, err := c.Diagnose(ctx, customerID, scenario()); err != nil {
		t.Fatal(err)
	}
	s.Update(partnerID, func(ten *graphtest.Tenant) {
		ten.Relationships[0]["status"] = "terminated"
		ten.Relationships = append(ten.Relationships, map[string]any{
			"id": "rel-contoso-2", "displayName": "Contoso support 2025", "status": "active", "endDateTime": "2027-06-01T00:00:00Z",
			"customer": map[string]any{"tenantId": customerID, "displayName": "Contoso Ltd"},
		})
		ten.AccessAssignments["rel-contoso-2"] = []map[string]any{assignment("helpdesk", "active", roleSecurityReader)}
	})
	s.ResetLog()
	d, err := c.Diagnose(ctx, customerID, scenario())
	if err != nil {
		t.Fatal(err)
	}
	if !d.Scenario.RolesKnown || !reflect.DeepEqual(d.Scenario.Roles, []string{roleSecurityReader}) {
		t.Errorf("roles = %q (known %v), want Security Reader from rel-contoso-2", d.Scenario.Roles, d.Scenario.RolesKnown)
	}
	if d.Relationship == nil || d.Relationship.ID != "rel-contoso-2" {
		t.Errorf("relationship = %+v, want rel-contoso-2", d.Relationship)
	}
	for _, id := range []string{"rel-contoso-1", "rel-contoso-2"} {
		if n := len(s.GraphRequests("GET", "/tenantRelationships/delegatedAdminRelationships/"+id+"/accessAssignments")); n != 1 {
			t.Errorf("%d reads of %s's access assignments, want 1 (prefetched, then confirmed)", n, id)
		}
	}
}
