package graphclient_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient"
	"github.com/cacheck/ca-check/graphclient/graphtest"
)

const (
	partnerID  = "11111111-1111-1111-1111-111111111111"
	customerID = "22222222-2222-2222-2222-222222222222"
	appID      = "33333333-3333-3333-3333-333333333333"
	secret     = "s3cret-Value~never-shown"
	corrID     = "f0f0f0f0-0000-0000-0000-000000000001"

	polBlock     = "aaaaaaaa-0000-0000-0000-000000000001"
	polCompliant = "aaaaaaaa-0000-0000-0000-000000000002"
	polDuo       = "aaaaaaaa-0000-0000-0000-000000000004"
	adminUserID  = "99999999-0000-0000-0000-000000000001"
	readerUserID = "99999999-0000-0000-0000-000000000002"
)

// now is the tests' clock: three minutes after the fixture's failed sign-in.
var now = time.Date(2025, 11, 25, 10, 3, 0, 0, time.UTC)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newFake starts a fake with the partner tenant and one customer, Contoso.
func newFake(t testing.TB) *graphtest.Server {
	t.Helper()
	s := graphtest.New(t)
	partner := &graphtest.Tenant{ID: partnerID, DisplayName: "Partner", Domains: []string{"partner.example"}}
	customer := &graphtest.Tenant{ID: customerID, DisplayName: "Contoso Ltd", Domains: []string{"contoso.example", "contoso.onmicrosoft.com"}}
	for _, err := range []error{
		partner.LoadRelationships(fixture(t, "relationships.json")),
		customer.LoadPolicies(fixture(t, "policies.json")),
		customer.LoadNamedLocations(fixture(t, "namedLocations.json")),
		customer.LoadSignIns(fixture(t, "signIns.json")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	customer.Users = []map[string]any{
		{"id": adminUserID, "userPrincipalName": "admin@contoso.onmicrosoft.com", "mail": "it.admin@contoso.example"},
		{"id": readerUserID, "userPrincipalName": "reader@contoso.onmicrosoft.com", "mail": "reader@contoso.example"},
	}
	customer.RoleAssignments = []map[string]any{
		{"id": "ra1", "principalId": adminUserID, "roleDefinitionId": "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", "directoryScopeId": "/"},
		{"id": "ra2", "principalId": readerUserID, "roleDefinitionId": "f2ef992c-3afb-46b9-b7cf-a126ee74c451", "directoryScopeId": "/"},
		{"id": "ra3", "principalId": readerUserID, "roleDefinitionId": "62e90394-69f5-4237-9190-012177145e10", "directoryScopeId": "/administrativeUnits/x"},
	}
	customer.WhatIf = []map[string]any{
		{"id": polBlock, "displayName": "Block access outside the office", "policyApplies": true, "analysisReasons": "notSet", "grantControls": map[string]any{"operator": "OR", "builtInControls": []string{"block"}}},
		{"id": polCompliant, "displayName": "Require compliant device", "policyApplies": true, "analysisReasons": "notSet", "grantControls": map[string]any{"operator": "OR", "builtInControls": []string{"compliantDevice"}}},
		{"id": "aaaaaaaa-0000-0000-0000-000000000003", "displayName": "MFA for everyone", "policyApplies": true, "analysisReasons": "notSet"},
	}
	s.AddTenant(partner)
	s.AddTenant(customer)
	return s
}

func config(s *graphtest.Server) graphclient.Config {
	return graphclient.Config{
		PartnerTenantID: partnerID, ClientID: appID, ClientSecret: secret,
		GraphURL: s.GraphURL(), AuthorityHost: s.AuthorityHost(),
		GraphTimeout: 5 * time.Second, MaxRetries: 3, SignInLookback: 24 * time.Hour,
	}
}

func newClient(t testing.TB, s *graphtest.Server, edit func(*graphclient.Config), opts ...graphclient.Option) *graphclient.Client {
	t.Helper()
	cfg := config(s)
	if edit != nil {
		edit(&cfg)
	}
	opts = append([]graphclient.Option{graphclient.WithHTTPClient(s.Client()), graphclient.WithClock(func() time.Time { return now })}, opts...)
	c, err := graphclient.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func scenario() diagnose.Scenario {
	return diagnose.Scenario{PartnerTenantID: partnerID, CorrelationID: corrID}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  graphclient.Config
		want []string // substrings of the error; none means valid
	}{
		{"empty", graphclient.Config{}, []string{"CACHECK_PARTNER_TENANT_ID is required", "a credential is required", "CACHECK_CLIENT_ID is required"}},
		{"secret", graphclient.Config{PartnerTenantID: partnerID, ClientID: appID, ClientSecret: secret}, nil},
		{"malformed", graphclient.Config{PartnerTenantID: "contoso", ClientID: "app", ClientSecret: secret, Cloud: "mars", GraphURL: "http://x", AuthorityHost: "ftp://y", GraphTimeout: -1},
			[]string{"CACHECK_PARTNER_TENANT_ID must be a tenant GUID", "CACHECK_CLIENT_ID must be", "CACHECK_CLOUD must be one of", "CACHECK_GRAPH_URL must be an https URL", "CACHECK_AUTHORITY_HOST must be an https URL", "CACHECK_GRAPH_TIMEOUT"}},
		{"two credentials", graphclient.Config{PartnerTenantID: partnerID, ClientID: appID, ClientSecret: secret, FederatedTokenFile: "/t"}, []string{"set only one credential"}},
		{"graph url without version", graphclient.Config{PartnerTenantID: partnerID, ClientID: appID, ClientSecret: secret, GraphURL: "https://h:1"}, []string{"must include the API version"}},
		{"managed identity alone", graphclient.Config{PartnerTenantID: partnerID, ManagedIdentityClientID: "system"}, nil},
		{"password without certificate", graphclient.Config{PartnerTenantID: partnerID, ClientID: appID, ClientSecret: secret, ClientCertificatePassword: "pw"}, []string{"CACHECK_CLIENT_CERTIFICATE_PASSWORD is set without"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			if diagnose.ErrorCode(err) != diagnose.EINVALID {
				t.Errorf("code = %q, want %q", diagnose.ErrorCode(err), diagnose.EINVALID)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the secret: %q", err)
			}
		})
	}
}

func TestAdminConsentURL(t *testing.T) {
	tests := []struct{ cloud, want string }{
		{"public", "https://login.microsoftonline.com/" + customerID + "/adminconsent?client_id=" + appID},
		{"", "https://login.microsoftonline.com/" + customerID + "/adminconsent?client_id=" + appID},
		{"usgovhigh", "https://login.microsoftonline.us/" + customerID + "/adminconsent?client_id=" + appID},
		{"dod", "https://login.microsoftonline.us/" + customerID + "/adminconsent?client_id=" + appID},
		{"china", "https://login.chinacloudapi.cn/" + customerID + "/adminconsent?client_id=" + appID},
	}
	for _, tt := range tests {
		if got := graphclient.AdminConsentURL(tt.cloud, customerID, appID); got != tt.want {
			t.Errorf("AdminConsentURL(%q) = %q, want %q", tt.cloud, got, tt.want)
		}
	}
}

func bearerTenant(t *testing.T, r graphtest.Request) string {
	t.Helper()
	return r.Tenant
}

func TestDiagnoseRequests(t *testing.T) {
	s := newFake(t)
	c := newClient(t, s, nil)
	sc := scenario()
	sc.ErrorTime = now.Add(-3 * time.Minute)
	d, err := c.Diagnose(context.Background(), customerID, sc)
	if err != nil {
		t.Fatal(err)
	}
	if d.Verdict != diagnose.VerdictBlocked {
		t.Errorf("verdict = %s, want %s (missing: %q)", d.Verdict, diagnose.VerdictBlocked, d.Missing)
	}
	if len(d.Missing) != 0 {
		t.Errorf("missing = %q, want none", d.Missing)
	}
	if d.Tenant == nil || d.Tenant.ID != customerID || d.Tenant.DisplayName != "Contoso Ltd" {
		t.Errorf("tenant = %+v", d.Tenant)
	}
	if d.Relationship == nil || d.Relationship.ID != "rel-contoso-1" {
		t.Errorf("relationship = %+v, want rel-contoso-1", d.Relationship)
	}
	if !d.Scenario.RolesKnown || !reflect.DeepEqual(d.Scenario.Roles, []string{"62e90394-69f5-4237-9190-012177145e10", "29232cdf-9323-42fd-ade2-1d097af3e4de"}) {
		t.Errorf("roles = %v known=%v", d.Scenario.Roles, d.Scenario.RolesKnown)
	}
	if d.Scenario.CrossTenant == nil || d.Scenario.CrossTenant.TenantID != partnerID {
		t.Errorf("cross-tenant = %+v, want the default applied to the partner", d.Scenario.CrossTenant)
	}
	blocking := d.Blocking()
	if len(blocking) == 0 || blocking[0].ID != polBlock || !blocking[0].Confirmed || blocking[0].Plan == nil {
		t.Fatalf("blocking = %+v, want the confirmed block policy first with a plan", blocking)
	}

	// The requests themselves.
	signIns := s.GraphRequests("GET", "/auditLogs/signIns")
	if len(signIns) != 1 {
		t.Fatalf("%d sign-in requests, want 1", len(signIns))
	}
	if got, want := signIns[0].Query.Get("$filter"), "correlationId eq '"+corrID+"'"; got != want {
		t.Errorf("sign-in $filter = %q, want %q", got, want)
	}
	if got := signIns[0].Header.Get("Prefer"); got != "include-unknown-enum-members" {
		t.Errorf("sign-in Prefer = %q", got)
	}
	if signIns[0].Query.Get("$top") == "" {
		t.Errorf("sign-in read is not bounded by $top")
	}
	var gdap, assignments []graphtest.Request
	for _, r := range s.GraphRequests("GET", "/tenantRelationships/delegatedAdminRelationships") {
		switch r.Path {
		case "/v1.0/tenantRelationships/delegatedAdminRelationships":
			gdap = append(gdap, r)
		case "/v1.0/tenantRelationships/delegatedAdminRelationships/rel-contoso-1/accessAssignments":
			assignments = append(assignments, r)
		default:
			t.Errorf("GDAP request %s", r.Path)
		}
	}
	if len(gdap) != 1 || gdap[0].Query.Get("$filter") != "customer/tenantId eq '"+customerID+"'" {
		t.Errorf("GDAP requests = %+v", gdap)
	}
	if len(assignments) != 1 {
		t.Errorf("%d reads of rel-contoso-1's access assignments, want 1", len(assignments))
	}
	for _, r := range s.Requests() {
		if !strings.HasPrefix(r.Path, "/v1.0/") {
			continue
		}
		want := customerID
		if strings.HasPrefix(r.Path, "/v1.0/tenantRelationships/") {
			want = partnerID
		}
		if got := bearerTenant(t, r); got != want {
			t.Errorf("%s %s: token for tenant %q, want %q", r.Method, r.Path, got, want)
		}
		if ua := r.Header.Get("client-request-id"); ua == "" {
			t.Errorf("%s %s: no client-request-id (is the SDK's middleware in the path?)", r.Method, r.Path)
		}
	}
	wi := s.GraphRequests("POST", "/identity/conditionalAccess/evaluate")
	if len(wi) != 1 {
		t.Fatalf("%d What If requests, want 1", len(wi))
	}
	var body struct {
		SignInIdentity map[string]any `json:"signInIdentity"`
		SignInContext  map[string]any `json:"signInContext"`
	}
	if err := json.Unmarshal(wi[0].Body, &body); err != nil {
		t.Fatalf("What If body %s: %v", wi[0].Body, err)
	}
	if body.SignInIdentity["externalUserType"] != "serviceProvider" || body.SignInIdentity["externalTenantId"] != partnerID ||
		body.SignInIdentity["@odata.type"] != "#microsoft.graph.userSignIn" {
		t.Errorf("What If identity = %v", body.SignInIdentity)
	}
	if wi[0].Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("What If body not gzip-compressed: the SDK's compression handler is not in the path")
	}
	if n := s.TokensIssued(); n != 2 {
		t.Errorf("%d tokens issued, want 2 (one per tenant)", n)
	}
}

func TestRecentFailuresFilter(t *testing.T) {
	s := newFake(t)
	c := newClient(t, s, nil)
	d, err := c.Diagnose(context.Background(), customerID, diagnose.Scenario{})
	if err != nil {
		t.Fatal(err)
	}
	r := s.GraphRequests("GET", "/auditLogs/signIns")
	want := "createdDateTime ge 2025-11-24T10:03:00Z and crossTenantAccessType eq 'serviceProvider' and homeTenantId eq '" + partnerID + "' and status/errorCode ne 0"
	if len(r) != 1 || r[0].Query.Get("$filter") != want {
		t.Fatalf("sign-in filter = %q, want %q", r[0].Query.Get("$filter"), want)
	}
	if d.SignInsUsed != 1 || d.Verdict != diagnose.VerdictBlocked {
		t.Errorf("signInsUsed = %d verdict = %s, want the partner's one failure to confirm", d.SignInsUsed, d.Verdict)
	}
}

func TestPaging(t *testing.T) {
	s := newFake(t)
	s.SetPageSize(1)
	c := newClient(t, s, nil)
	ev, _, err := c.Gather(context.Background(), customerID, scenario())
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Policies) != 4 || len(ev.NamedLocations) != 2 {
		t.Errorf("read %d policies and %d locations, want 4 and 2", len(ev.Policies), len(ev.NamedLocations))
	}
	if n := len(s.GraphRequests("GET", "/identity/conditionalAccess/policies")); n != 4 {
		t.Errorf("%d policy pages requested, want 4", n)
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name     string
		fault    graphtest.Fault
		timeout  time.Duration
		noConsnt bool
		wantCode string
		wantMsg  []string
		wantReqs int // requests to the policies route, 0: do not check
	}{
		{name: "429 retried then success", fault: func() graphtest.Fault {
			f := graphtest.Throttled
			f.Path, f.Times = "/identity/conditionalAccess/policies", 2
			return f
		}(), wantReqs: 3},
		{name: "503 retried until exhausted", fault: func() graphtest.Fault {
			f := graphtest.Unavailable
			f.Path = "/identity/conditionalAccess/policies"
			return f
		}(), wantCode: diagnose.EUNAVAILABLE, wantMsg: []string{"Microsoft Graph failed reading the Conditional Access policies", "503"}, wantReqs: 4},
		{name: "timeout", fault: graphtest.Fault{Path: "/identity/conditionalAccess/policies", Hang: true}, timeout: 300 * time.Millisecond,
			wantCode: diagnose.EUNAVAILABLE, wantMsg: []string{"did not answer the read of the Conditional Access policies", "within 300ms"}},
		{name: "permission missing", fault: func() graphtest.Fault {
			f := graphtest.Denied
			f.Path = "/identity/conditionalAccess/policies"
			return f
		}(), wantCode: diagnose.EUNAUTHORIZED, wantMsg: []string{"Policy.Read.All", "/adminconsent?client_id=" + appID}},
		{name: "no consent", noConsnt: true, wantCode: diagnose.EUNAUTHORIZED,
			wantMsg: []string{"not consented in tenant " + customerID, "/" + customerID + "/adminconsent?client_id=" + appID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			if tt.fault != (graphtest.Fault{}) {
				s.Fail(tt.fault)
			}
			if tt.noConsnt {
				s.Update(customerID, func(t *graphtest.Tenant) { t.NoConsent = true })
			}
			c := newClient(t, s, func(cfg *graphclient.Config) {
				if tt.timeout != 0 {
					cfg.GraphTimeout = tt.timeout
				}
			})
			start := time.Now()
			d, err := c.Diagnose(context.Background(), customerID, scenario())
			if tt.timeout != 0 && time.Since(start) > 10*tt.timeout {
				t.Errorf("took %s with a %s deadline", time.Since(start), tt.timeout)
			}
			if tt.wantCode == "" {
				if err != nil || d == nil || len(d.Policies) != 4 {
					t.Fatalf("Diagnose = %v, %v; want success", d, err)
				}
			} else {
				if err == nil {
					t.Fatalf("Diagnose succeeded, want %s", tt.wantCode)
				}
				if got := diagnose.ErrorCode(err); got != tt.wantCode {
					t.Errorf("code = %q, want %q (%v)", got, tt.wantCode, err)
				}
				for _, w := range tt.wantMsg {
					if !strings.Contains(diagnose.ErrorMessage(err), w) {
						t.Errorf("message %q does not say %q", diagnose.ErrorMessage(err), w)
					}
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows the secret")
				}
			}
			if tt.wantReqs != 0 {
				if n := len(s.GraphRequests("GET", "/identity/conditionalAccess/policies")); n != tt.wantReqs {
					t.Errorf("%d policy requests, want %d", n, tt.wantReqs)
				}
			}
		})
	}
}

func TestPartialAnswers(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(*graphtest.Server)
		sc      diagnose.Scenario
		want    []string // substrings of Missing lines
		pending bool
		check   func(*testing.T, *diagnose.Diagnosis)
	}{
		{name: "sign-ins need Entra ID P1", setup: func(s *graphtest.Server) { s.Fail(graphtest.NonPremium) }, sc: scenario(),
			want: []string{"sign-in log: tenant " + customerID + " has no Microsoft Entra ID P1 licence"},
			check: func(t *testing.T, d *diagnose.Diagnosis) {
				if d.Verdict != diagnose.VerdictLikelyBlocked {
					t.Errorf("verdict = %s, want likely_blocked from the policies alone", d.Verdict)
				}
			}},
		{name: "sign-ins permission missing", setup: func(s *graphtest.Server) {
			f := graphtest.Denied
			f.Path = "/auditLogs/signIns"
			s.Fail(f)
		}, sc: scenario(), want: []string{"sign-in log: ca-check lacks the AuditLog.Read.All application permission"}},
		{name: "sign-in not logged yet", setup: func(s *graphtest.Server) {
			s.Update(customerID, func(t *graphtest.Tenant) { t.SignIns = nil })
		}, sc: scenario(), pending: true,
			want: []string{"sign-in log: no entry for correlation ID " + corrID + " yet (the error was 3 minutes ago; entries can take up to ~5–10 minutes); re-check"},
			check: func(t *testing.T, d *diagnose.Diagnosis) {
				if d.Verdict == diagnose.VerdictNotBlocked {
					t.Errorf("verdict = not_blocked while the log is pending")
				}
			}},
		{name: "What If not available", setup: func(s *graphtest.Server) {
			s.Update(customerID, func(t *graphtest.Tenant) { t.WhatIf = nil })
		}, sc: scenario(), want: []string{"Microsoft's What If evaluation: not available in this tenant"}},
		{name: "GDAP expired", setup: func(s *graphtest.Server) {
			s.Update(partnerID, func(t *graphtest.Tenant) {
				t.Relationships = t.Relationships[1:2] // the expired one only
			})
		}, sc: scenario(), want: []string{"GDAP relationship: no active relationship with tenant " + customerID, "expired (ended 2024-01-01)"},
			check: func(t *testing.T, d *diagnose.Diagnosis) {
				if d.Scenario.RolesKnown {
					t.Errorf("roles known from an expired relationship")
				}
			}},
		{name: "GDAP missing", setup: func(s *graphtest.Server) {
			s.Update(partnerID, func(t *graphtest.Tenant) { t.Relationships = nil })
		}, sc: scenario(), want: []string{"the partner has no GDAP relationship with tenant " + customerID}},
		{name: "cross-tenant settings denied", setup: func(s *graphtest.Server) {
			f := graphtest.Denied
			f.Path = "/policies/crossTenantAccessPolicy/partners/"
			s.Fail(f)
		}, sc: scenario(), want: []string{"cross-tenant access settings: ca-check lacks the Policy.Read.All application permission"}},
		{name: "partner cross-tenant settings", setup: func(s *graphtest.Server) {
			s.Update(customerID, func(t *graphtest.Tenant) {
				t.CrossTenantPartners = map[string]map[string]any{partnerID: {"tenantId": partnerID, "inboundTrust": map[string]any{"isMfaAccepted": true, "isCompliantDeviceAccepted": true, "isHybridAzureADJoinedDeviceAccepted": false}}}
			})
		}, sc: scenario(), check: func(t *testing.T, d *diagnose.Diagnosis) {
			it := d.Scenario.CrossTenant.InboundTrust
			if it == nil || it.IsCompliantDeviceAccepted == nil || !*it.IsCompliantDeviceAccepted {
				t.Errorf("inbound trust = %+v, want the partner's own settings", it)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			tt.setup(s)
			c := newClient(t, s, nil)
			sc := tt.sc
			sc.ErrorTime = now.Add(-3 * time.Minute)
			d, err := c.Diagnose(context.Background(), customerID, sc)
			if err != nil {
				t.Fatalf("Diagnose: %v; a partial answer must still diagnose", err)
			}
			if len(d.Policies) != 4 {
				t.Errorf("%d policies, want 4", len(d.Policies))
			}
			for _, w := range tt.want {
				found := false
				for _, m := range d.Missing {
					found = found || strings.Contains(m, w)
				}
				if !found {
					t.Errorf("missing = %q, want a line with %q", d.Missing, w)
				}
			}
			if len(tt.want) == 0 && len(d.Missing) != 0 {
				t.Errorf("missing = %q, want none", d.Missing)
			}
			if got := graphclient.SignInPending(d.Missing); got != tt.pending {
				t.Errorf("SignInPending = %v, want %v", got, tt.pending)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func TestDomainTenant(t *testing.T) {
	s := newFake(t)
	c := newClient(t, s, nil)
	ev, sc, err := c.Gather(context.Background(), "contoso.example", scenario())
	if err != nil {
		t.Fatal(err)
	}
	if ev.Tenant.ID != customerID || ev.Tenant.DefaultDomain != "contoso.example" || ev.Tenant.DisplayName != "Contoso Ltd" {
		t.Errorf("tenant = %+v", ev.Tenant)
	}
	if !sc.RolesKnown || ev.Relationship == nil || ev.Relationship.ID != "rel-contoso-1" {
		t.Errorf("GDAP not matched by the token's tenant: %+v", ev.Relationship)
	}
	for _, r := range s.Requests() {
		if strings.HasSuffix(r.Path, "/oauth2/v2.0/token") && r.Tenant != "contoso.example" && r.Tenant != partnerID {
			t.Errorf("token requested for %q", r.Tenant)
		}
		if strings.Contains(r.Path, "findTenantInformationByDomainName") {
			t.Errorf("a domain was resolved with a round trip of its own: %s", r.Path)
		}
	}
	// The domain's credential now also serves the tenant ID: no new token.
	before := s.TokensIssued()
	if _, _, err := c.Gather(context.Background(), customerID, scenario()); err != nil {
		t.Fatal(err)
	}
	if s.TokensIssued() != before {
		t.Errorf("a second token was issued for the same tenant by ID")
	}
}

func TestResolveTenant(t *testing.T) {
	s := newFake(t)
	c := newClient(t, s, nil)
	ctx := context.Background()
	tests := []struct {
		query    string
		wantID   string
		wantCode string
	}{
		{query: strings.ToUpper(customerID), wantID: customerID},
		{query: "contoso.onmicrosoft.com", wantID: customerID},
		{query: "nowhere.example", wantCode: diagnose.ENOTFOUND},
		{query: "contoso ltd", wantID: customerID},
		{query: "fabrikam", wantID: "44444444-4444-4444-4444-444444444444"},
		{query: "contoso", wantCode: diagnose.EINVALID}, // Contoso Ltd and Contoso Europe BV
		{query: "northwind", wantCode: diagnose.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, err := c.ResolveTenant(ctx, tt.query)
			if tt.wantCode != "" {
				if diagnose.ErrorCode(err) != tt.wantCode {
					t.Fatalf("ResolveTenant = %+v, %v; want code %s", got, err, tt.wantCode)
				}
				return
			}
			if err != nil || got.ID != tt.wantID {
				t.Fatalf("ResolveTenant = %+v, %v; want %s", got, err, tt.wantID)
			}
		})
	}
	_, err := c.ResolveTenant(ctx, "contoso")
	amb, ok := errors.AsType[*graphclient.AmbiguousTenantError](err)
	if !ok || len(amb.Candidates) != 2 || !strings.Contains(err.Error(), "Contoso Europe BV") {
		t.Errorf("ambiguous name: %v", err)
	}
}

// planFor diagnoses and returns the plan for one policy.
func planFor(t *testing.T, c *graphclient.Client, id string) diagnose.Plan {
	t.Helper()
	d, err := c.Diagnose(context.Background(), customerID, scenario())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range d.Policies {
		if r.ID == id && r.Plan != nil {
			return *r.Plan
		}
	}
	t.Fatalf("no plan for policy %s", id)
	return diagnose.Plan{}
}

func users(t *testing.T, raw map[string]any) map[string]any {
	t.Helper()
	u, _ := raw["conditions"].(map[string]any)["users"].(map[string]any)
	return u
}

func TestApply(t *testing.T) {
	for _, id := range []string{polBlock, polCompliant} {
		t.Run(id, func(t *testing.T) {
			s := newFake(t)
			c := newClient(t, s, nil)
			plan := planFor(t, c, id)
			readUsers := users(t, s.Policy(customerID, id))
			s.ResetLog()

			res, err := c.Apply(context.Background(), customerID, plan)
			if err != nil {
				t.Fatal(err)
			}
			patches := s.GraphRequests("PATCH", "/identity/conditionalAccess/policies/"+id)
			if len(patches) != 1 {
				t.Fatalf("%d PATCHes, want 1", len(patches))
			}
			var body map[string]any
			if err := json.Unmarshal(patches[0].Body, &body); err != nil {
				t.Fatalf("PATCH body %s: %v", patches[0].Body, err)
			}
			// conditions.users alone, with only the exclusion changed.
			if len(body) != 1 || len(body["conditions"].(map[string]any)) != 1 {
				t.Fatalf("PATCH body carries more than conditions.users: %s", patches[0].Body)
			}
			sent := users(t, body)
			want := map[string]any{}
			for k, v := range readUsers {
				want[k] = v
			}
			var after map[string]any
			b, _ := json.Marshal(plan.After)
			json.Unmarshal(b, &after)
			want["excludeGuestsOrExternalUsers"] = after
			if !reflect.DeepEqual(sent, want) {
				gotJSON, _ := json.Marshal(sent)
				wantJSON, _ := json.Marshal(want)
				t.Errorf("PATCH users =\n%s\nwant\n%s", gotJSON, wantJSON)
			}
			if !res.After.Excludes(partnerID) || res.Effect != diagnose.EffectExcluded {
				t.Errorf("after = %+v effect = %s", res.After, res.Effect)
			}
			if len(res.RequestIDs) != 2 || res.RequestIDs[0] == "" {
				t.Errorf("request IDs = %q", res.RequestIDs)
			}
			if !res.Before.Equal(plan.Before) {
				t.Errorf("before = %+v, want %+v", res.Before, plan.Before)
			}
			// Everything else in the policy is as it was.
			stored := s.Policy(customerID, id)
			if !reflect.DeepEqual(stored["grantControls"], mustPolicy(t, id)["grantControls"]) {
				t.Errorf("grant controls changed")
			}

			// A second Apply of the same plan is a conflict, not a second write.
			if _, err := c.Apply(context.Background(), customerID, plan); diagnose.ErrorCode(err) != diagnose.ECONFLICT {
				t.Errorf("re-applying a stale plan: %v, want a conflict", err)
			}

			// Revert restores the before-image.
			rev, err := c.Revert(context.Background(), customerID, id, plan.Before, res.After)
			if err != nil {
				t.Fatal(err)
			}
			if !rev.After.Equal(plan.Before) {
				t.Errorf("reverted to %+v, want %+v", rev.After, plan.Before)
			}
			if got := users(t, s.Policy(customerID, id)); !reflect.DeepEqual(got["excludeGuestsOrExternalUsers"], readUsers["excludeGuestsOrExternalUsers"]) {
				t.Errorf("stored exclusion after revert = %v, want %v", got["excludeGuestsOrExternalUsers"], readUsers["excludeGuestsOrExternalUsers"])
			}
		})
	}
}

func mustPolicy(t *testing.T, id string) map[string]any {
	t.Helper()
	var list struct{ Value []map[string]any }
	json.Unmarshal(fixture(t, "policies.json"), &list)
	for _, p := range list.Value {
		if p["id"] == id {
			return p
		}
	}
	t.Fatalf("no fixture policy %s", id)
	return nil
}

func TestApplyRefusesChangedPolicy(t *testing.T) {
	tests := []struct {
		name          string
		neverModified bool // planned while its modifiedDateTime was null
		change        func(p map[string]any)
	}{
		{"modified", false, func(p map[string]any) { p["modifiedDateTime"] = "2025-11-25T10:02:00Z" }},
		{"exclusion changed, same modifiedDateTime", false, func(p map[string]any) {
			p["conditions"].(map[string]any)["users"].(map[string]any)["excludeGuestsOrExternalUsers"] = nil
		}},
		{"first modified since the plan", true, func(p map[string]any) {
			p["grantControls"] = map[string]any{"operator": "OR", "builtInControls": []string{"mfa"}}
			p["modifiedDateTime"] = "2025-11-25T10:02:00Z"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			c := newClient(t, s, nil)
			if tt.neverModified {
				// Graph gives a policy never edited since its creation a
				// null modifiedDateTime; the first edit sets it.
				s.Update(customerID, func(ten *graphtest.Tenant) {
					for _, p := range ten.Policies {
						if p["id"] == polBlock {
							p["modifiedDateTime"] = nil
						}
					}
				})
			}
			plan := planFor(t, c, polBlock)
			s.Update(customerID, func(ten *graphtest.Tenant) {
				for _, p := range ten.Policies {
					if p["id"] == polBlock {
						tt.change(p)
					}
				}
			})
			_, err := c.Apply(context.Background(), customerID, plan)
			pc, ok := errors.AsType[*graphclient.PolicyChangedError](err)
			if !ok {
				t.Fatalf("Apply = %v, want *PolicyChangedError", err)
			}
			if pc.Fresh.ID != polBlock || diagnose.ErrorCode(err) != diagnose.ECONFLICT {
				t.Errorf("fresh = %s code = %s", pc.Fresh.ID, diagnose.ErrorCode(err))
			}
			if n := len(s.GraphRequests("PATCH", "")); n != 0 {
				t.Errorf("%d PATCHes reached Graph, want none", n)
			}
		})
	}
}

func TestRevertRefusesChangedPolicy(t *testing.T) {
	s := newFake(t)
	c := newClient(t, s, nil)
	plan := planFor(t, c, polCompliant)
	res, err := c.Apply(context.Background(), customerID, plan)
	if err != nil {
		t.Fatal(err)
	}
	// An admin edits the exclusion after ca-check's write.
	s.Update(customerID, func(ten *graphtest.Tenant) {
		for _, p := range ten.Policies {
			if p["id"] == polCompliant {
				p["conditions"].(map[string]any)["users"].(map[string]any)["excludeGuestsOrExternalUsers"] = map[string]any{
					"guestOrExternalUserTypes": "serviceProvider,internalGuest",
					"externalTenants":          map[string]any{"@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants", "membershipKind": "all"},
				}
			}
		}
	})
	s.ResetLog()
	_, err = c.Revert(context.Background(), customerID, polCompliant, plan.Before, res.After)
	if _, ok := errors.AsType[*graphclient.PolicyChangedError](err); !ok {
		t.Fatalf("Revert = %v, want *PolicyChangedError", err)
	}
	if n := len(s.GraphRequests("PATCH", "")); n != 0 {
		t.Errorf("%d PATCHes, want none", n)
	}
}

// TestApplyRefusesPlanBeyondTheFix: Apply writes only the fix of DESIGN.md
// "The fix" (serviceProvider and the partner tenant added to the exclusion
// just read, nothing removed), whatever the stored plan's After says: a
// plan damaged in the database or by a planner bug widens or narrows
// nothing in a production tenant.
func TestApplyRefusesPlanBeyondTheFix(t *testing.T) {
	const other = "99999999-9999-4999-8999-999999999999"
	enumerated := func(members ...string) *diagnose.ExternalTenants {
		return &diagnose.ExternalTenants{MembershipKind: diagnose.MembershipEnumerated, Members: members}
	}
	all := &diagnose.ExternalTenants{MembershipKind: diagnose.MembershipAll}
	tests := []struct {
		name   string
		policy string
		after  *diagnose.GuestsOrExternalUsers
	}{
		{"every external type", polCompliant, &diagnose.GuestsOrExternalUsers{
			GuestOrExternalUserTypes: "serviceProvider,internalGuest,b2bCollaborationGuest,b2bCollaborationMember,b2bDirectConnectUser,otherExternalUser",
			ExternalTenants:          enumerated(partnerID)}},
		{"another tenant too", polCompliant, &diagnose.GuestsOrExternalUsers{GuestOrExternalUserTypes: "serviceProvider", ExternalTenants: enumerated(partnerID, other)}},
		{"another tenant instead", polCompliant, &diagnose.GuestsOrExternalUsers{GuestOrExternalUserTypes: "serviceProvider", ExternalTenants: enumerated(other)}},
		{"an existing type dropped", polBlock, &diagnose.GuestsOrExternalUsers{GuestOrExternalUserTypes: "serviceProvider,internalGuest", ExternalTenants: all}},
		{"existing exclusion narrowed to the partner", polBlock, &diagnose.GuestsOrExternalUsers{
			GuestOrExternalUserTypes: "internalGuest,b2bCollaborationGuest,serviceProvider", ExternalTenants: enumerated(partnerID)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			c := newClient(t, s, nil)
			plan := planFor(t, c, tt.policy)
			plan.After = tt.after
			s.ResetLog()
			_, err := c.Apply(context.Background(), customerID, plan)
			if diagnose.ErrorCode(err) != diagnose.EINVALID {
				t.Errorf("Apply = %v, want EINVALID", err)
			}
			if n := len(s.GraphRequests("PATCH", "")); n != 0 {
				t.Errorf("%d PATCHes reached Graph, want none", n)
			}
		})
	}
}

// TestApplyAllTenantsOnlyWhenConfigured: for a policy with no exclusion yet,
// the fix names the partner tenant; a plan that excludes service provider
// users of every tenant instead is refused unless the deployment is
// configured for it (CACHECK_ALL_TENANTS_FIX), and then it is also what the
// planner plans.
func TestApplyAllTenantsOnlyWhenConfigured(t *testing.T) {
	allTenants := &diagnose.GuestsOrExternalUsers{GuestOrExternalUserTypes: "serviceProvider",
		ExternalTenants: &diagnose.ExternalTenants{MembershipKind: diagnose.MembershipAll}}

	s := newFake(t)
	c := newClient(t, s, nil)
	plan := planFor(t, c, polCompliant)
	if plan.After.AllTenants() {
		t.Fatalf("planned %+v without the option, want the partner tenant alone", plan.After)
	}
	plan.After = allTenants
	s.ResetLog()
	_, err := c.Apply(context.Background(), customerID, plan)
	if diagnose.ErrorCode(err) != diagnose.EINVALID || !strings.Contains(err.Error(), "every tenant") {
		t.Errorf("Apply of an all-tenants plan, not configured = %v, want EINVALID saying why", err)
	}
	if n := len(s.GraphRequests("PATCH", "")); n != 0 {
		t.Errorf("%d PATCHes reached Graph, want none", n)
	}

	s = newFake(t)
	c = newClient(t, s, func(cfg *graphclient.Config) { cfg.AllTenantsFix = true })
	plan = planFor(t, c, polCompliant)
	if !plan.After.AllTenants() {
		t.Errorf("configured for all tenants, planned %+v", plan.After)
	}
	if _, err := c.Apply(context.Background(), customerID, plan); err != nil {
		t.Errorf("Apply of an all-tenants fix, configured: %v", err)
	}
	if got := users(t, s.Policy(customerID, polCompliant))["excludeGuestsOrExternalUsers"]; !strings.Contains(fmt.Sprint(got), "membershipKind:all") {
		t.Errorf("stored exclusion %v, want all tenants", got)
	}
}

// TestRevertTwice: a revert repeated (after a crash, or after a partial
// one whose outcome was not recorded) finds the before-image in place and
// writes nothing, where it would otherwise be refused as "changed since".
func TestRevertTwice(t *testing.T) {
	s := newFake(t)
	c := newClient(t, s, nil)
	plan := planFor(t, c, polCompliant)
	res, err := c.Apply(context.Background(), customerID, plan)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Revert(context.Background(), customerID, polCompliant, plan.Before, res.After); err != nil {
		t.Fatal(err)
	}
	s.ResetLog()
	again, err := c.Revert(context.Background(), customerID, polCompliant, plan.Before, res.After)
	if err != nil {
		t.Fatalf("second Revert = %v, want the before-image found in place", err)
	}
	if !again.NoChange || !again.After.Equal(plan.Before) {
		t.Errorf("second Revert = %+v, want NoChange at the before-image", again)
	}
	if n := len(s.GraphRequests("PATCH", "")); n != 0 {
		t.Errorf("%d PATCHes, want none", n)
	}
}

// TestUnknownEnumValuesKept: a flags value the SDK does not know survives
// the read, the evaluation and a PATCH of the same users condition.
func TestUnknownEnumValuesKept(t *testing.T) {
	s := newFake(t)
	s.Update(customerID, func(ten *graphtest.Tenant) {
		for _, p := range ten.Policies {
			if p["id"] == polDuo {
				p["state"] = "enabled"
			}
		}
	})
	c := newClient(t, s, nil)
	ev, _, err := c.Gather(context.Background(), customerID, scenario())
	if err != nil {
		t.Fatal(err)
	}
	var duo *diagnose.Policy
	for i := range ev.Policies {
		if ev.Policies[i].ID == polDuo {
			duo = &ev.Policies[i]
		}
	}
	if got := duo.Conditions.Users.IncludeGuestsOrExternalUsers.GuestOrExternalUserTypes; got != "serviceProvider,someTypeAddedLater" {
		t.Fatalf("read types = %q", got)
	}
	plan := diagnose.PlanFix(duo, partnerID, false)
	if _, err := c.Apply(context.Background(), customerID, plan); err != nil {
		t.Fatal(err)
	}
	p := s.GraphRequests("PATCH", "")[0]
	if !bytes.Contains(p.Body, []byte(`"guestOrExternalUserTypes":"serviceProvider,someTypeAddedLater"`)) {
		t.Errorf("PATCH dropped the unknown flag: %s", p.Body)
	}
}

func TestIsApprover(t *testing.T) {
	s := newFake(t)
	c := newClient(t, s, nil)
	tests := []struct {
		who  string
		want bool
	}{
		{"admin@contoso.onmicrosoft.com", true},
		{"IT.Admin@contoso.example", true}, // by mail, case-insensitively
		{"reader@contoso.example", false},  // Global Reader, and GA scoped to an administrative unit only
		{"nobody@contoso.example", false},
	}
	for _, tt := range tests {
		got, err := c.IsApprover(context.Background(), customerID, tt.who)
		if err != nil || got != tt.want {
			t.Errorf("IsApprover(%q) = %v, %v; want %v", tt.who, got, err, tt.want)
		}
	}
	r := s.GraphRequests("GET", "/roleManagement/directory/roleAssignments")
	if len(r) == 0 || r[0].Query.Get("$filter") != "principalId eq '"+adminUserID+"'" {
		t.Errorf("role assignment requests = %+v", r)
	}
}

func TestCustomers(t *testing.T) {
	s := newFake(t)
	s.SetPageSize(2)
	c := newClient(t, s, nil)
	rels, err := c.Customers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 4 || rels[0].CustomerName != "Contoso Ltd" || !rels[0].Active(now) || rels[1].Active(now) {
		t.Errorf("customers = %+v", rels)
	}
}

// selfSigned writes a PEM certificate with its key and returns the path.
func selfSigned(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca-check"}, NotBefore: now.Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	path := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCredentialKinds(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ3b3JrbG9hZCJ9.sig\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*graphclient.Config)
		want func(form url.Values) bool
	}{
		{"secret", nil, func(f url.Values) bool { return f.Get("client_secret") == secret }},
		{"certificate", func(c *graphclient.Config) { c.ClientSecret, c.ClientCertificatePath = "", selfSigned(t) },
			func(f url.Values) bool {
				return f.Get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" && strings.Count(f.Get("client_assertion"), ".") == 2
			}},
		{"federated token file", func(c *graphclient.Config) { c.ClientSecret, c.FederatedTokenFile = "", tokenFile },
			func(f url.Values) bool {
				return f.Get("client_assertion") == "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ3b3JrbG9hZCJ9.sig"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			c := newClient(t, s, tt.edit)
			if _, err := c.Diagnose(context.Background(), customerID, scenario()); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range s.Requests() {
				if !strings.HasSuffix(r.Path, "/oauth2/v2.0/token") {
					continue
				}
				n++
				form, _ := url.ParseQuery(string(r.Body))
				if form.Get("client_id") != appID || form.Get("grant_type") != "client_credentials" || !tt.want(form) {
					t.Errorf("token request %v", redact(form))
				}
				if scope := form.Get("scope"); !strings.Contains(scope, "https://graph.microsoft.com/.default") {
					t.Errorf("scope = %q", scope)
				}
			}
			if n != 2 {
				t.Errorf("%d token requests, want 2", n)
			}
		})
	}
}

func redact(f url.Values) url.Values {
	f = url.Values(maps(f))
	if f.Has("client_secret") {
		f.Set("client_secret", "REDACTED")
	}
	return f
}

func maps(f url.Values) map[string][]string {
	out := map[string][]string{}
	for k, v := range f {
		out[k] = v
	}
	return out
}

// TestSecretsNeverLogged runs failing and succeeding calls with a debug
// logger and checks that neither the log nor the errors show the secret or
// a token.
func TestSecretsNeverLogged(t *testing.T) {
	s := newFake(t)
	f := graphtest.Denied
	f.Path = "/auditLogs/signIns"
	s.Fail(f)
	var logs bytes.Buffer
	c := newClient(t, s, nil, graphclient.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	d, err := c.Diagnose(context.Background(), customerID, scenario())
	if err != nil {
		t.Fatal(err)
	}
	s.Update(customerID, func(t *graphtest.Tenant) { t.NoConsent = true })
	c2 := newClient(t, s, nil, graphclient.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	_, err = c2.Diagnose(context.Background(), customerID, scenario())
	all := logs.String() + strings.Join(d.Missing, "\n") + err.Error()
	if strings.Contains(all, secret) || strings.Contains(all, "Bearer ") || strings.Contains(all, "eyJ") {
		t.Errorf("a secret or token leaked:\n%s", all)
	}
	if !strings.Contains(logs.String(), "request_id=") {
		t.Errorf("the log has no Graph calls:\n%s", logs.String())
	}
}

func TestConfigStringRedacts(t *testing.T) {
	cfg := graphclient.Config{PartnerTenantID: partnerID, ClientID: appID, ClientSecret: secret, ClientCertificatePassword: "pfx-password"}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "cfg", cfg)
	for _, s := range []string{cfg.String(), fmt.Sprintf("%v %+v %s", cfg, cfg, cfg), logs.String()} {
		if strings.Contains(s, secret) || strings.Contains(s, "pfx-password") || !strings.Contains(s, appID) {
			t.Errorf("not redacted: %s", s)
		}
	}
}

func TestUnknownTenant(t *testing.T) {
	s := newFake(t)
	c := newClient(t, s, nil)
	_, err := c.Diagnose(context.Background(), "66666666-6666-6666-6666-666666666666", scenario())
	if diagnose.ErrorCode(err) != diagnose.ENOTFOUND || !strings.Contains(diagnose.ErrorMessage(err), "was not found in this cloud") {
		t.Errorf("Diagnose(unknown tenant) = %v, want ENOTFOUND saying so", err)
	}
}

// TestDiagnoseExport serves diagnose's own tenant export through the fake
// and checks that every policy, location and cross-tenant setting arrives.
func TestDiagnoseExport(t *testing.T) {
	dir := filepath.Join("..", "diagnose", "testdata", "tenant")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("no diagnose tenant export")
	}
	s := newFake(t)
	const exportID = "77777777-7777-7777-7777-777777777777"
	tn := &graphtest.Tenant{ID: exportID, Domains: []string{"export.example"}}
	if err := tn.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	s.AddTenant(tn)
	want, err := diagnose.DecodePolicies(fixtureAt(t, filepath.Join(dir, "policies.json")))
	if err != nil {
		t.Fatal(err)
	}
	ev, _, err := newClient(t, s, nil).Gather(context.Background(), exportID, diagnose.Scenario{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ev.Policies, want) {
		t.Errorf("policies read through Graph differ from the export decoded directly")
	}
	if len(ev.NamedLocations) != len(tn.NamedLocations) {
		t.Errorf("%d named locations, want %d", len(ev.NamedLocations), len(tn.NamedLocations))
	}
}

func fixtureAt(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestApplyKeepsUnmodelledUsersProperties: a users property that Graph has
// and diagnose does not model survives the write (the users condition is
// sent whole), and the body sent is the one the guide shows.
func TestApplyKeepsUnmodelledUsersProperties(t *testing.T) {
	s := newFake(t)
	extra := map[string]any{"mode": "exclude", "ids": []any{"d7c1a2b3-0000-4000-8000-000000000001"}}
	s.Update(customerID, func(ten *graphtest.Tenant) {
		for _, p := range ten.Policies {
			if p["id"] == polCompliant {
				p["conditions"].(map[string]any)["users"].(map[string]any)["excludeAgentIdentities"] = extra
			}
		}
	})
	c := newClient(t, s, nil)
	d, err := c.Diagnose(context.Background(), customerID, scenario())
	if err != nil {
		t.Fatal(err)
	}
	var shown json.RawMessage
	var plan diagnose.Plan
	for _, r := range d.Policies {
		if r.ID == polCompliant {
			shown, plan = r.Patch, *r.Plan
		}
	}
	s.ResetLog()
	if _, err := c.Apply(context.Background(), customerID, plan); err != nil {
		t.Fatal(err)
	}
	sent := s.GraphRequests("PATCH", "")[0].Body
	if !bytes.Equal(sent, shown) {
		t.Errorf("PATCH body\n%s\nis not the body the diagnosis shows\n%s", sent, shown)
	}
	var body map[string]any
	if err := json.Unmarshal(sent, &body); err != nil {
		t.Fatal(err)
	}
	if got := users(t, body)["excludeAgentIdentities"]; !reflect.DeepEqual(got, extra) {
		t.Errorf("PATCH users.excludeAgentIdentities = %v, want %v as read", got, extra)
	}
	if got := users(t, s.Policy(customerID, polCompliant))["excludeAgentIdentities"]; !reflect.DeepEqual(got, extra) {
		t.Errorf("stored users.excludeAgentIdentities = %v after the write, want %v", got, extra)
	}
}
