package scan

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cacheck/ca-check/diagnose"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	partnerID = "4e8a1c55-7f1b-4c6e-9d2a-1b3c5d7e9f00"
	tenantA   = "aaaaaaaa-0000-4000-8000-000000000001"
	tenantB   = "bbbbbbbb-0000-4000-8000-000000000002"
	tenantC   = "cccccccc-0000-4000-8000-000000000003"
	tenantD   = "dddddddd-0000-4000-8000-000000000004"
)

func rel(id, tenant, name, status string, end time.Time) diagnose.Relationship {
	return diagnose.Relationship{ID: id, DisplayName: name + " support", CustomerTenantID: tenant, CustomerName: name, Status: status, EndDateTime: end}
}

// fakeGraph answers from tables; it stands for graphclient in the tests
// of the scan's own logic (the end-to-end tests drive the real SDK).
type fakeGraph struct {
	rels     []diagnose.Relationship
	listErr  error
	verdicts map[string]*diagnose.Diagnosis
	// fails holds, per tenant, the errors of its first attempts.
	fails map[string][]error
	// delay is how long each tenant takes.
	delay time.Duration

	mu    sync.Mutex
	calls map[string]int
}

func (f *fakeGraph) PartnerTenantID() string { return partnerID }
func (f *fakeGraph) Customers(context.Context) ([]diagnose.Relationship, error) {
	return f.rels, f.listErr
}
func (f *fakeGraph) ResolveTenant(_ context.Context, q string) (diagnose.Tenant, error) {
	if q == "fabrikam.example" {
		return diagnose.Tenant{ID: tenantB, DisplayName: "Fabrikam", DefaultDomain: "fabrikam.example"}, nil
	}
	return diagnose.Tenant{}, diagnose.Errorf(diagnose.ENOTFOUND, "no tenant has the verified domain %q", q)
}
func (f *fakeGraph) ScanTenant(ctx context.Context, id string, rels []diagnose.Relationship, _ bool) (*diagnose.Diagnosis, error) {
	if err := sleep(ctx, f.delay); err != nil {
		return nil, diagnose.Errorf(diagnose.EUNAVAILABLE, "cancelled: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	n := f.calls[id]
	f.calls[id]++
	if errs := f.fails[id]; n < len(errs) {
		return nil, errs[n]
	}
	for _, r := range rels {
		if r.CustomerTenantID != id {
			return nil, errors.New("relationships of another tenant passed")
		}
	}
	d, ok := f.verdicts[id]
	if !ok {
		return &diagnose.Diagnosis{Verdict: diagnose.VerdictNotBlocked}, nil
	}
	return d, nil
}

func blockingDiagnosis(policies ...diagnose.PolicyResult) *diagnose.Diagnosis {
	d := &diagnose.Diagnosis{Verdict: diagnose.VerdictNotBlocked, Policies: policies}
	for _, p := range policies {
		switch {
		case p.Effect == diagnose.EffectBlocks:
			d.Verdict = diagnose.VerdictLikelyBlocked
		case p.Effect == diagnose.EffectMayBlock && d.Verdict == diagnose.VerdictNotBlocked:
			d.Verdict = diagnose.VerdictPossiblyBlocked
		}
	}
	return d
}

func TestTargets(t *testing.T) {
	future, past := testNow.Add(90*24*time.Hour), testNow.Add(-24*time.Hour)
	rels := []diagnose.Relationship{
		rel("r1", tenantA, "Contoso", "active", future),
		rel("r2", tenantB, "Fabrikam", "active", time.Time{}),
		rel("r3", tenantC, "Northwind", "expired", past),
		rel("r4", tenantC, "Northwind", "terminated", past.Add(-time.Hour)),
		rel("r5", tenantD, "Contoso Labs", "active", past), // active, but past its end
	}
	g := &fakeGraph{rels: rels}
	tests := []struct {
		name    string
		only    []string
		want    []string
		wantErr string
	}{
		{name: "every active customer", want: []string{tenantA, tenantB}},
		{name: "by ID, name, partial name and domain, each once", only: []string{strings.ToUpper(tenantC), "contoso", "fabrik", "fabrikam.example", tenantA}, want: []string{tenantC, tenantA, tenantB}},
		{name: "a tenant outside GDAP", only: []string{"eeeeeeee-0000-4000-8000-000000000005"}, want: []string{"eeeeeeee-0000-4000-8000-000000000005"}},
		{name: "ambiguous", only: []string{"contos"}, wantErr: `"contos" matches 2 customers`},
		{name: "unknown", only: []string{"Tailspin", "nowhere.example"}, wantErr: `no customer is named like "Tailspin", "nowhere.example"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Targets(context.Background(), rels, tt.only, g, testNow)
			if tt.wantErr != "" {
				if diagnose.ErrorCode(err) != diagnose.EINVALID || !strings.Contains(diagnose.ErrorMessage(err), tt.wantErr) {
					t.Fatalf("error %v, want EINVALID with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, tg := range got {
				ids = append(ids, tg.Tenant.ID)
				for _, r := range tg.Relationships {
					if r.CustomerTenantID != tg.Tenant.ID {
						t.Errorf("%s carries %s's relationship", tg.Tenant.ID, r.CustomerTenantID)
					}
				}
			}
			if strings.Join(ids, ",") != strings.Join(tt.want, ",") {
				t.Errorf("targets %v, want %v", ids, tt.want)
			}
		})
	}
}

// Every customer has exactly one entry, whatever happened to it; Graph's
// transient failures are retried; the others are the entry's error in
// diagnose's words, with no verdict.
func TestRunNeverDrops(t *testing.T) {
	future := testNow.Add(365 * 24 * time.Hour)
	throttled := diagnose.Errorf(diagnose.EUNAVAILABLE, "Microsoft Graph is throttling ca-check in tenant %s (still 429 after 3 retries); try again in a minute", tenantC)
	consent := diagnose.Errorf(diagnose.EUNAUTHORIZED, "ca-check is not consented in tenant %s: a Global Administrator … must grant admin consent at https://login.example/%s/adminconsent", tenantD, tenantD)
	modified := testNow.Add(-time.Hour)
	g := &fakeGraph{
		rels: []diagnose.Relationship{
			rel("r1", tenantA, "Contoso", "active", future),
			rel("r2", tenantB, "Fabrikam", "active", future),
			rel("r3", tenantC, "Northwind", "active", future),
			rel("r4", tenantD, "Tailspin", "active", future),
		},
		verdicts: map[string]*diagnose.Diagnosis{
			tenantA: blockingDiagnosis(
				diagnose.PolicyResult{ID: "p-mfa", DisplayName: "MFA", Effect: diagnose.EffectSatisfied},
				diagnose.PolicyResult{ID: "p-dev", DisplayName: "Compliant device?", Effect: diagnose.EffectMayBlock},
				diagnose.PolicyResult{ID: "p-block", DisplayName: "Block outside office", Effect: diagnose.EffectBlocks,
					Policy: &diagnose.Policy{ModifiedDateTime: &modified}}),
		},
		fails: map[string][]error{
			tenantB: {throttled, throttled},            // recovers on the third attempt
			tenantC: {throttled, throttled, throttled}, // never does
			tenantD: {consent},                         // not retried
		},
	}
	s := &Scanner{Graph: g, Attempts: 3, Now: func() time.Time { return testNow }, Retry: func(int) time.Duration { return time.Millisecond }}
	var progress []int
	rep, err := s.Run(context.Background(), Options{Workers: 2, Progress: func(done, total int) {
		if total != 4 {
			t.Errorf("progress total %d, want 4", total)
		}
		progress = append(progress, done)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tenants) != 4 || len(progress) != 4 || progress[3] != 4 {
		t.Fatalf("%d entries, progress %v", len(rep.Tenants), progress)
	}
	by := map[string]TenantResult{}
	for _, r := range rep.Tenants {
		by[r.Tenant.ID] = r
	}
	if r := by[tenantA]; r.Verdict != diagnose.VerdictLikelyBlocked || len(r.Blocking) != 2 || r.Blocking[0].ID != "p-block" ||
		r.Blocking[0].ModifiedDateTime == nil || !r.Blocking[0].ModifiedDateTime.Equal(modified) || r.Tenant.DisplayName != "Contoso" {
		t.Errorf("Contoso: %+v", r)
	}
	if r := by[tenantB]; r.Verdict != diagnose.VerdictNotBlocked || r.Error != "" {
		t.Errorf("Fabrikam (recovers): %+v", r)
	}
	if r := by[tenantC]; r.Verdict != "" || !strings.Contains(r.Error, "throttling") || r.ErrorCode != diagnose.EUNAVAILABLE || r.Relationship == nil {
		t.Errorf("Northwind (always throttled): %+v", r)
	}
	if r := by[tenantD]; r.Verdict != "" || !strings.Contains(r.Error, "adminconsent") || r.ErrorCode != diagnose.EUNAUTHORIZED {
		t.Errorf("Tailspin (no consent): %+v", r)
	}
	if g.calls[tenantB] != 3 || g.calls[tenantC] != 3 || g.calls[tenantD] != 1 {
		t.Errorf("attempts %v, want Fabrikam 3, Northwind 3, Tailspin 1", g.calls)
	}
	want := Summary{LikelyBlocked: 1, NotBlocked: 1, Error: 2}
	if rep.Summary != want {
		t.Errorf("summary %+v, want %+v", rep.Summary, want)
	}
	if rep.PartnerTenantID != partnerID || !rep.ScannedAt.Equal(testNow) {
		t.Errorf("report header %q %v", rep.PartnerTenantID, rep.ScannedAt)
	}
}

// A listed tenant without an active relationship is not read: its entry
// says why.
func TestRunRelationshipEnded(t *testing.T) {
	g := &fakeGraph{rels: []diagnose.Relationship{rel("r1", tenantA, "Contoso", "expired", testNow.Add(-48*time.Hour))}}
	s := &Scanner{Graph: g, Now: func() time.Time { return testNow }}
	rep, err := s.Run(context.Background(), Options{Tenants: []string{tenantA, tenantB}})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.calls) != 0 {
		t.Errorf("tenants read: %v", g.calls)
	}
	for _, r := range rep.Tenants {
		want := map[string]string{tenantA: `"Contoso support", is expired (ended 2026-02-27): renew it in Partner Center`, tenantB: "no GDAP relationship with tenant " + tenantB}[r.Tenant.ID]
		if r.Verdict != "" || !strings.Contains(r.Error, want) {
			t.Errorf("%s: %+v, want error with %q", r.Tenant.ID, r, want)
		}
	}
}

// The partner side failing fails the scan.
func TestRunPartnerFails(t *testing.T) {
	g := &fakeGraph{listErr: diagnose.Errorf(diagnose.EUNAUTHORIZED, "ca-check lacks the DelegatedAdminRelationship.Read.All application permission")}
	_, err := (&Scanner{Graph: g}).Run(context.Background(), Options{})
	if diagnose.ErrorCode(err) != diagnose.EUNAUTHORIZED {
		t.Fatalf("error %v, want the partner's", err)
	}
}
