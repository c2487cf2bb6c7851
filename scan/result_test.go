package scan

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cacheck/ca-check/diagnose"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", name, got)
	}
}

// sampleReport has one entry of each kind, names a spreadsheet would run.
func sampleReport() *Report {
	modified := time.Date(2026, 2, 27, 9, 30, 0, 0, time.UTC)
	active := &diagnose.Relationship{ID: "r1", DisplayName: "Contoso support", CustomerTenantID: tenantA, CustomerName: "Contoso", Status: "active",
		EndDateTime: time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC), Roles: []string{"62e90394-69f5-4237-9190-012177145e10"}}
	return NewReport(strings.ToUpper(partnerID), testNow, []TenantResult{
		{Tenant: Tenant{ID: tenantD, DisplayName: "Tailspin"}, Blocking: []Policy{}, Error: "ca-check is not consented in tenant " + tenantD, ErrorCode: diagnose.EUNAUTHORIZED},
		{Tenant: Tenant{ID: tenantA, DisplayName: "contoso", DefaultDomain: "contoso.example"}, Relationship: active, Verdict: diagnose.VerdictLikelyBlocked,
			Blocking: []Policy{{ID: "p-block", DisplayName: "=HYPERLINK(\"http://evil\",\"Block\")", Effect: diagnose.EffectBlocks, ModifiedDateTime: &modified},
				{ID: "p-dev", DisplayName: "Compliant, device", Effect: diagnose.EffectMayBlock}}},
		{Tenant: Tenant{ID: tenantB, DisplayName: "Fabrikam"}, Verdict: diagnose.VerdictNotBlocked},
	})
}

// The --json contract: every key named in README.md, in this shape.
func TestReportJSON(t *testing.T) {
	b, err := json.MarshalIndent(sampleReport(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "report.json", append(b, '\n'))
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Tenants[0].Tenant.DisplayName != "contoso" || back.Summary.Error != 1 || back.PartnerTenantID != partnerID {
		t.Errorf("read back: %+v", back)
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.csv", b.Bytes())
	if strings.Contains(b.String(), ",=HYPERLINK") || strings.Contains(b.String(), "\"=HYPERLINK") {
		t.Errorf("a formula reaches the CSV as a formula:\n%s", b.String())
	}
}

func TestDefuse(t *testing.T) {
	for in, want := range map[string]string{"": "", "Contoso": "Contoso", "=1+1": "'=1+1", "+1": "'+1", "-2": "'-2", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "a=b": "a=b"} {
		if got := defuse(in); got != want {
			t.Errorf("defuse(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCompare(t *testing.T) {
	day := 24 * time.Hour
	relTo := func(tenant, status string, end time.Time) *diagnose.Relationship {
		r := rel("r-"+tenant[:4], tenant, "x", status, end)
		return &r
	}
	mod := testNow.Add(-2 * time.Hour)
	prev := NewReport(partnerID, testNow.Add(-day), []TenantResult{
		{Tenant: Tenant{ID: tenantA, DisplayName: "A"}, Relationship: relTo(tenantA, "active", testNow.Add(100*day)), Verdict: diagnose.VerdictPossiblyBlocked,
			Blocking: []Policy{{ID: "p1", DisplayName: "Old", Effect: diagnose.EffectMayBlock}}},
		{Tenant: Tenant{ID: tenantB, DisplayName: "B"}, Relationship: relTo(tenantB, "active", testNow.Add(100*day)), Verdict: diagnose.VerdictLikelyBlocked,
			Blocking: []Policy{{ID: "p9", DisplayName: "Gone", Effect: diagnose.EffectBlocks}}},
		{Tenant: Tenant{ID: tenantC, DisplayName: "C"}, Relationship: relTo(tenantC, "active", testNow.Add(-time.Hour)), Verdict: diagnose.VerdictNotBlocked},
		{Tenant: Tenant{ID: "eeeeeeee-0000-4000-8000-000000000005", DisplayName: "E"}, Error: "throttled"},
	})
	cur := NewReport(partnerID, testNow, []TenantResult{
		{Tenant: Tenant{ID: tenantA, DisplayName: "A"}, Relationship: relTo(tenantA, "active", testNow.Add(10*day)), Verdict: diagnose.VerdictLikelyBlocked,
			Blocking: []Policy{{ID: "p2", DisplayName: "New block", Effect: diagnose.EffectBlocks, ModifiedDateTime: &mod}, {ID: "p1", DisplayName: "Old", Effect: diagnose.EffectMayBlock}}},
		{Tenant: Tenant{ID: tenantB, DisplayName: "B"}, Relationship: relTo(tenantB, "active", testNow.Add(31*day)), Verdict: diagnose.VerdictNotBlocked},
		{Tenant: Tenant{ID: tenantD, DisplayName: "D"}, Relationship: relTo(tenantD, "active", time.Time{}), Verdict: diagnose.VerdictLikelyBlocked,
			Blocking: []Policy{{ID: "p3", DisplayName: "D's", Effect: diagnose.EffectBlocks}}},
		{Tenant: Tenant{ID: "eeeeeeee-0000-4000-8000-000000000005", DisplayName: "E"}, Verdict: diagnose.VerdictLikelyBlocked,
			Blocking: []Policy{{ID: "p4", DisplayName: "E's", Effect: diagnose.EffectBlocks}}},
	})
	c := Compare(prev, cur, testNow)
	got, _ := json.MarshalIndent(c, "", "  ")
	golden(t, "changes.json", append(got, '\n'))
	if len(c.NewlyBlocking) != 1 || c.NewlyBlocking[0].Policy.ID != "p2" || c.NewlyBlocking[0].Policy.ModifiedDateTime == nil {
		t.Errorf("newly blocking %+v, want p2 alone (D is new, E was unreadable)", c.NewlyBlocking)
	}
	if len(c.Fixed) != 1 || c.Fixed[0].ID != tenantB {
		t.Errorf("fixed %+v, want B", c.Fixed)
	}
	if len(c.NewCustomers) != 1 || c.NewCustomers[0].ID != tenantD || len(c.LostCustomers) != 1 || c.LostCustomers[0].Tenant.ID != tenantC {
		t.Errorf("new %+v lost %+v, want D new and C lost", c.NewCustomers, c.LostCustomers)
	}
	if len(c.Ending) != 1 || c.Ending[0].Tenant.ID != tenantA || len(c.Expired) != 1 || c.Expired[0].Tenant.ID != tenantC {
		t.Errorf("ending %+v expired %+v, want A ending (10 days; B's 31 are not within 30) and C expired", c.Ending, c.Expired)
	}
	if first := Compare(nil, cur, testNow); len(first.NewCustomers)+len(first.LostCustomers)+len(first.NewlyBlocking)+len(first.Fixed) != 0 || len(first.Ending) != 1 {
		t.Errorf("first scan: %+v, want only the relationships ending", first)
	}
	if !Compare(cur, cur, testNow.Add(-40*day)).Empty() {
		t.Error("a scan compared with itself changed")
	}
}
