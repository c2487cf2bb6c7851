package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cacheck/ca-check/graphclient/graphtest"
	"github.com/cacheck/ca-check/scan"
)

// newFleet starts the fake Graph with the partner and n customers
// (graphtest.AddFleet) and points the CACHECK_ Graph settings at it.
func newFleet(t testing.TB, n int) (*graphtest.Server, []graphtest.FleetCustomer) {
	t.Helper()
	g := graphtest.New(t)
	partner := &graphtest.Tenant{ID: examplePartner, DisplayName: "Partner", Domains: []string{"partner.example"}}
	fleet := g.AddFleet(partner, n, time.Now())
	for k, v := range map[string]string{
		"CACHECK_PARTNER_TENANT_ID": examplePartner,
		"CACHECK_CLIENT_ID":         appID,
		"CACHECK_CLIENT_SECRET":     clientSecret,
		"CACHECK_GRAPH_URL":         g.GraphURL(),
		"CACHECK_AUTHORITY_HOST":    g.AuthorityHost(),
	} {
		t.Setenv(k, v)
	}
	return g, fleet
}

// checkFleet asserts that rep has every customer of fleet exactly once,
// each with the verdict, blocking policies or error it must have.
func checkFleet(t testing.TB, rep *scan.Report, fleet []graphtest.FleetCustomer) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range rep.Tenants {
		seen[r.Tenant.ID]++
	}
	var want scan.Summary
	for _, fc := range fleet {
		id := fc.Tenant.ID
		if seen[id] != 1 {
			t.Errorf("%s (%s) is in the report %d times", fc.Tenant.DisplayName, id, seen[id])
			continue
		}
		i := slices.IndexFunc(rep.Tenants, func(r scan.TenantResult) bool { return r.Tenant.ID == id })
		r := rep.Tenants[i]
		var ids []string
		for _, p := range r.Blocking {
			ids = append(ids, p.ID)
			if p.ModifiedDateTime == nil {
				t.Errorf("%s: policy %s without modifiedDateTime", id, p.ID)
			}
		}
		slices.Sort(ids)
		wantIDs := slices.Sorted(slices.Values(fc.Blocking))
		switch {
		case fc.Verdict == "":
			want.Error++
			if r.Verdict != "" || !strings.Contains(r.Error, fc.Error) {
				t.Errorf("%s: verdict %q error %q, want no verdict and an error with %q", fc.Tenant.DisplayName, r.Verdict, r.Error, fc.Error)
			}
		case string(r.Verdict) != fc.Verdict || r.Error != "" || !slices.Equal(ids, wantIDs):
			t.Errorf("%s: verdict %q blocking %v error %q, want %q blocking %v", fc.Tenant.DisplayName, r.Verdict, ids, r.Error, fc.Verdict, wantIDs)
		}
		switch fc.Verdict {
		case "likely_blocked":
			want.LikelyBlocked++
		case "possibly_blocked":
			want.PossiblyBlocked++
		case "not_blocked":
			want.NotBlocked++
		}
		if r.Tenant.DisplayName != fc.Tenant.DisplayName || r.Relationship == nil || r.Relationship.Status != "active" {
			t.Errorf("%s: name %q relationship %+v", id, r.Tenant.DisplayName, r.Relationship)
		}
	}
	if len(rep.Tenants) != len(fleet) {
		t.Errorf("%d entries, want %d", len(rep.Tenants), len(fleet))
	}
	if rep.Summary != want {
		t.Errorf("summary %+v, want %+v", rep.Summary, want)
	}
}

// scan --json reads every active GDAP customer through the real Graph SDK
// and prints one entry per customer, each with its verdict or its error in
// diagnose's words, and the summary; it only reads, and never What If.
func TestScanJSON(t *testing.T) {
	g, fleet := newFleet(t, 24)
	c, out, errb := liveCLI(g)
	status := run(t.Context(), []string{"scan", "--json", "--concurrency", "4"}, c)
	if status != 0 {
		t.Fatalf("status %d: %s", status, errb)
	}
	var rep scan.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	checkFleet(t, &rep, fleet)
	if rep.PartnerTenantID != examplePartner || time.Since(rep.ScannedAt) > time.Minute {
		t.Errorf("partner %q scanned at %v", rep.PartnerTenantID, rep.ScannedAt)
	}
	if n := len(g.GraphRequests(http.MethodPatch, "")); n != 0 {
		t.Errorf("a scan sent %d PATCH requests", n)
	}
	if n := len(g.GraphRequests(http.MethodPost, "/identity/conditionalAccess/evaluate")); n != 0 {
		t.Errorf("a scan asked What If %d times", n)
	}
	if n := len(g.GraphRequests(http.MethodGet, "/auditLogs/signIns")); n != 0 {
		t.Errorf("a scan without --sign-ins read the sign-in log %d times", n)
	}
	// No progress bar when stderr is not a terminal, and no secret.
	if s := errb.String(); strings.Contains(s, "customers,") || strings.Contains(s, clientSecret) {
		t.Errorf("stderr: %s", s)
	}
}

// Graph's limits: each tenant's Conditional Access reads are a second
// apart at the fake (which refuses closer ones), random 429s without
// Retry-After are backed off and retried; no tenant is lost.
func TestScanThrottled(t *testing.T) {
	g, fleet := newFleet(t, 16)
	g.SetPolicyReadLimit(1, time.Second)
	g.SetThrottle(0.1, "")
	c, out, errb := liveCLI(g)
	if status := run(t.Context(), []string{"scan", "--json", "--concurrency", "8"}, c); status != 0 {
		t.Fatalf("status %d: %s", status, errb)
	}
	var rep scan.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	checkFleet(t, &rep, fleet)
	// The client spaces them 1.1 s apart; arrivals may jitter on a busy
	// machine, but not often by a tenth of a second.
	last := map[string]time.Time{}
	reads, near := 0, 0
	for _, r := range g.GraphRequests(http.MethodGet, "/identity/conditionalAccess/") {
		if prev, ok := last[r.Tenant]; ok {
			reads++
			if r.Time.Sub(prev) < time.Second {
				near++
			}
		}
		last[r.Tenant] = r.Time
	}
	if reads == 0 || near*10 > reads {
		t.Errorf("%d of %d policy reads came within a second of the tenant's previous one", near, reads)
	}
	throttled := 0
	for _, r := range g.Requests() {
		if r.Status == http.StatusTooManyRequests {
			throttled++
		}
	}
	if throttled == 0 {
		t.Error("no request was throttled: the test tests nothing")
	}
}

func TestScanCSVAndTenants(t *testing.T) {
	g, fleet := newFleet(t, 8)
	c, out, errb := liveCLI(g)
	list := fleet[0].Tenant.ID + ", " + fleet[3].Tenant.DisplayName + "," + fleet[4].Tenant.Domains[0]
	if status := run(t.Context(), []string{"scan", "--csv", "--tenants", list, "--sign-ins"}, c); status != 0 {
		t.Fatalf("status %d: %s", status, errb)
	}
	rows, err := csv.NewReader(bytes.NewReader(out.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[0][0] != "tenant_id" {
		t.Fatalf("rows: %q", rows)
	}
	got := map[string][]string{}
	for _, r := range rows[1:] {
		got[r[0]] = r
	}
	if r := got[fleet[0].Tenant.ID]; r == nil || r[3] != "likely_blocked" || r[5] != "1" {
		t.Errorf("customer 0: %q", r)
	}
	if r := got[fleet[3].Tenant.ID]; r == nil || r[3] != "likely_blocked" {
		t.Errorf("customer 3 (by name): %q", r)
	}
	if r := got[fleet[4].Tenant.ID]; r == nil || r[3] != "" || !strings.Contains(r[4], "adminconsent") {
		t.Errorf("customer 4 (by domain, no consent): %q", r)
	}
	if n := len(g.GraphRequests(http.MethodGet, "/auditLogs/signIns")); n != 2 {
		t.Errorf("--sign-ins read the sign-in log %d times, want 2 (the readable tenants)", n)
	}
}

func TestScanText(t *testing.T) {
	g, fleet := newFleet(t, 8)
	// A policy name that would clear the terminal.
	g.Update(fleet[0].Tenant.ID, func(tn *graphtest.Tenant) { tn.Policies[0]["displayName"] = "Block everyone\x1b[2J" })
	c, out, errb := liveCLI(g)
	if status := run(t.Context(), []string{"scan"}, c); status != 0 {
		t.Fatalf("status %d: %s", status, errb)
	}
	s := out.String()
	if strings.ContainsRune(s, 0x1b) {
		t.Errorf("a tenant's escape sequence reached the terminal:\n%q", s)
	}
	for _, want := range []string{"CUSTOMER", "Customer 0000", "likely_blocked", "Block everyone (blocks)", "error", "adminconsent",
		"8 customers: 0 blocked, 3 likely blocked, 2 possibly blocked, 2 not blocked, 1 could not be read"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

// Exit status: 1 when the partner side fails, 2 for usage.
func TestScanFailures(t *testing.T) {
	g, _ := newFleet(t, 2)
	tests := []struct {
		name   string
		args   []string
		fault  *graphtest.Fault
		status int
		stderr string
	}{
		{"json and csv", []string{"scan", "--json", "--csv"}, nil, 2, "exclude each other"},
		{"concurrency", []string{"scan", "--concurrency", "0"}, nil, 2, "--concurrency 0"},
		{"argument", []string{"scan", "contoso"}, nil, 2, "unexpected argument"},
		{"unknown tenant", []string{"scan", "--tenants", "Nobody Inc"}, nil, 2, `no customer is named like "Nobody Inc"`},
		{"partner lacks permission", []string{"scan"}, &graphtest.Fault{Path: "/tenantRelationships/delegatedAdminRelationships", Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges"}, 1, "DelegatedAdminRelationship.Read.All"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g.ClearFaults()
			if tt.fault != nil {
				g.Fail(*tt.fault)
			}
			c, out, errb := liveCLI(g)
			if status := run(t.Context(), tt.args, c); status != tt.status || !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("status %d stderr %q, want %d with %q", status, errb, tt.status, tt.stderr)
			}
			if tt.status == 1 && out.Len() != 0 {
				t.Errorf("a failed scan printed %q", out)
			}
		})
	}
}

// serve checks the scan's schedule with the rest of its configuration.
func TestServeChecksScanSchedule(t *testing.T) {
	t.Setenv("CACHECK_SCAN_SCHEDULE", "every morning")
	t.Setenv("CACHECK_SCAN_CHANNEL", "#scans")
	r := cmd(t, "", "serve")
	if r.status != 2 || !strings.Contains(r.stderr, "CACHECK_SCAN_SCHEDULE \"every morning\"") {
		t.Errorf("status %d: %s", r.status, r.stderr)
	}
	t.Setenv("CACHECK_SCAN_SCHEDULE", "24h")
	if r := cmd(t, "", "serve"); r.status != 2 || !strings.Contains(r.stderr, "CACHECK_SCAN_CHANNEL \"#scans\" is not a Slack channel ID") {
		t.Errorf("status %d: %s", r.status, r.stderr)
	}
}
