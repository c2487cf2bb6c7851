package graphclient_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient/graphtest"
)

const polLinux = "aaaaaaaa-0000-0000-0000-0000000000a1"

// linuxPolicy blocks everyone on Linux: linux is a member of
// conditionalAccessDevicePlatform added after unknownFutureValue.
func linuxPolicy() map[string]any {
	return map[string]any{
		"id": polLinux, "displayName": "Block Linux", "state": "enabled",
		"createdDateTime": "2024-01-10T09:00:00Z", "modifiedDateTime": "2024-06-01T12:00:00Z",
		"conditions": map[string]any{
			"clientAppTypes": []any{"all"},
			"applications":   map[string]any{"includeApplications": []any{"All"}},
			"users":          map[string]any{"includeUsers": []any{"All"}},
			"platforms":      map[string]any{"includePlatforms": []any{"linux"}, "excludePlatforms": []any{}},
		},
		"grantControls": map[string]any{"operator": "OR", "builtInControls": []any{"block"}},
	}
}

// TestEvolvableEnumsOnEveryRequest: every Graph request asks for evolvable
// enum members as they are, so a policy for Linux is read as one (the fake,
// like Graph, says unknownFutureValue otherwise), and the reads of Apply
// and Revert carry the header too.
func TestEvolvableEnumsOnEveryRequest(t *testing.T) {
	s := newFake(t)
	s.Update(customerID, func(ten *graphtest.Tenant) { ten.Policies = append(ten.Policies, linuxPolicy()) })
	c := newClient(t, s, nil)
	sc := scenario()
	sc.Platform = "Linux"
	d, err := c.Diagnose(context.Background(), customerID, sc)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(d.Policies, func(r diagnose.PolicyResult) bool { return r.ID == polLinux })
	if i < 0 {
		t.Fatalf("policy %s not in the diagnosis", polLinux)
	}
	if r := d.Policies[i]; r.Effect != diagnose.EffectBlocks || !strings.Contains(strings.Join(r.Reasons, "; "), "platforms: includes linux") {
		t.Errorf("Block Linux: effect %s, reasons %q; want blocks on linux", r.Effect, r.Reasons)
	}

	plan := planFor(t, c, polBlock)
	res, err := c.Apply(context.Background(), customerID, plan)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Revert(context.Background(), customerID, polBlock, plan.Before, res.After); err != nil {
		t.Fatal(err)
	}
	methods := map[string]bool{}
	for _, r := range s.GraphRequests("", "") {
		methods[r.Method] = true
		if got := r.Header.Get("Prefer"); got != "include-unknown-enum-members" {
			t.Errorf("%s %s: Prefer = %q, want include-unknown-enum-members", r.Method, r.Path, got)
		}
	}
	if !methods["GET"] || !methods["POST"] || !methods["PATCH"] {
		t.Errorf("requests seen: %v, want GET, POST and PATCH", methods)
	}
}
