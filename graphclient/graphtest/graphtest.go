// Package graphtest is a fake Microsoft Graph v1.0 and Entra ID token
// endpoint for tests: an httptest TLS server that speaks the routes
// graphclient uses, in the real v1.0 JSON shapes, over plain HTTP and JSON.
// It does not import the Graph SDK, so any package's tests can use it
// without paying for the SDK's build.
//
// # Tenants and tokens
//
// State is kept per tenant (AddTenant): Conditional Access policies, named
// locations, sign-in log entries, cross-tenant access settings, What If
// answers, users and role assignments, and, for a partner tenant, GDAP
// relationships. Fixtures load from the JSON files diagnose reads (a Graph
// list {"value":[...]}, a bare array, or one object) with the Tenant Load*
// methods, or a whole export with LoadDir.
//
// The token endpoint serves /{tenant}/v2.0/.well-known/openid-configuration
// and /{tenant}/oauth2/v2.0/token (client credentials with a secret or a
// client assertion), where {tenant} is a tenant ID or one of its verified
// domains, as Entra accepts. Tokens are JWT-shaped (unsigned) and carry the
// tenant ID in "tid"; Graph routes serve the tenant named by the bearer
// token's tid, as the real Graph does. A tenant with NoConsent set refuses
// tokens with AADSTS7000229, an unknown tenant with AADSTS90002.
//
// ManagedIdentity also serves an App Service managed identity endpoint.
//
// # Graph routes (under /v1.0)
//
//	GET   /identity/conditionalAccess/policies[/{id}]
//	PATCH /identity/conditionalAccess/policies/{id}   merges conditions per condition, bumps modifiedDateTime
//	GET   /identity/conditionalAccess/namedLocations
//	POST  /identity/conditionalAccess/evaluate         Tenant.WhatIf, or 400 when nil
//	GET   /auditLogs/signIns                           $filter (eq/ne/ge/le/gt/lt joined by and/or), $top
//	GET   /policies/crossTenantAccessPolicy/partners/{id}, /default
//	GET   /tenantRelationships/delegatedAdminRelationships  $filter customer/tenantId eq '…' ($expand: 400, as Graph)
//	GET   /tenantRelationships/delegatedAdminRelationships/{id}/accessAssignments  $filter
//	GET   /tenantRelationships/findTenantInformationByDomainName(domainName='…')
//	GET   /organization                                the tenant's one organization: id, displayName, verifiedDomains
//	GET   /users                                       $filter
//	GET   /roleManagement/directory/roleAssignments    $filter
//
// Without the header "Prefer: include-unknown-enum-members", policies are
// served as Graph serves them: members of evolvable enums added after
// unknownFutureValue (linux in the platforms condition) read as
// unknownFutureValue.
//
// Lists are paged with @odata.nextLink (SetPageSize; $top, where Graph
// honours it, sets the page size). Gzip request bodies are decompressed.
//
// # Failures and timing
//
// SetLatency delays every request; Fail injects failures per route (status
// with a Graph or Entra error body, Retry-After, hangs until the client gives
// up, a connection closed without an answer, extra latency), for a number of matching requests or for all of them.
// Graph's own throttling is modelled too: SetPolicyReadLimit limits each
// tenant's Conditional Access reads (429 without Retry-After beyond it), and
// SetThrottle answers a random share of Graph requests 429. A fleet of
// customers is a partner tenant with one Relationship per customer tenant.
// Requests returns a log of every request (method, path, query, headers,
// decompressed body, tenant of the token, status), for tests to assert on.
package graphtest

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the server's origin, https://127.0.0.1:port.
	URL string

	srv *httptest.Server

	mu       sync.Mutex
	tenants  []*Tenant
	pageSize int
	latency  time.Duration
	tokenLat *time.Duration // latency of the Entra routes, when set apart
	faults   []*Fault
	tokens   int
	now      func() time.Time
	miTenant string // tenant of the managed identity, "" when none

	// Graph's throttling: the per-tenant limit of Conditional Access
	// reads (caLimit in caWindow, 0 for none), their admission times by
	// tenant, and the share of Graph requests answered 429 at random.
	caLimit    int
	caWindow   time.Duration
	caReads    map[string][]time.Time
	throttleP  float64
	throttleRA string
	rng        *rand.Rand
	noLog      bool

	// logMu guards log apart from mu, which serveGraph holds while it
	// writes an answer (and so logs its status).
	logMu sync.Mutex
	log   []*Request // in order of arrival; Status set when answered
}

// Tenant is one tenant's state. Set its fields before the server serves
// requests for it, or through Server.Update afterwards.
type Tenant struct {
	ID          string
	DisplayName string
	// Domains are the verified domains; the first is the default domain.
	Domains []string
	// NoConsent makes the token endpoint refuse tokens for this tenant, as
	// Entra does when the app has no service principal there.
	NoConsent bool

	Policies       []map[string]any
	NamedLocations []map[string]any
	SignIns        []map[string]any
	// CrossTenantPartners are partner configurations by partner tenant ID;
	// CrossTenantDefault is the default configuration (served as an empty
	// default when nil).
	CrossTenantPartners map[string]map[string]any
	CrossTenantDefault  map[string]any
	// WhatIf is the answer to POST /identity/conditionalAccess/evaluate (the
	// value list); nil makes the route answer 400, as in tenants where the
	// API is not available.
	WhatIf []map[string]any
	// Relationships are GDAP relationships (delegatedAdminRelationship), for
	// a partner tenant.
	Relationships []map[string]any
	// AccessAssignments are the access assignments of GDAP relationships
	// (delegatedAdminAccessAssignment), by relationship ID. A relationship
	// without an entry is served one active assignment, to a security
	// group, of every role in its accessDetails; an empty entry has none.
	AccessAssignments map[string][]map[string]any
	Users             []map[string]any
	RoleAssignments   []map[string]any
}

// Request is one logged request.
type Request struct {
	Method string
	Path   string // unescaped, without the query
	Query  url.Values
	Header http.Header
	Body   []byte // decompressed
	// Tenant is the tid of the bearer token (Graph routes) or the {tenant}
	// path segment (Entra routes).
	Tenant string
	Status int
	Time   time.Time
}

// Fault is an injected failure. Zero fields match anything.
type Fault struct {
	Method string
	// Path matches when the request path (without /v1.0 for Graph routes)
	// starts with it: "/auditLogs/signIns", "/identity/conditionalAccess/policies",
	// "/oauth2/v2.0/token" matches by suffix for the Entra routes.
	Path string
	// Tenant matches the token's tid (Graph) or the {tenant} segment (Entra).
	Tenant string
	// Times is how many matching requests fail; 0 means all of them.
	Times int

	Status int
	// Code and Message fill a Graph error body {"error":{"code","message"}};
	// Body, when set, is sent verbatim instead.
	Code, Message, Body string
	RetryAfter          string
	// Hang holds the request until the client cancels it (a timeout).
	Hang bool
	// Drop closes the connection without an answer (a transport error);
	// the log shows status 0.
	Drop bool
	// Latency delays matching requests (with or without a Status).
	Latency time.Duration

	hits int
}

// Common faults.
var (
	// NonPremium is what Graph answers for sign-in logs without Entra ID P1.
	NonPremium = Fault{Path: "/auditLogs/signIns", Status: 403, Code: "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
		Message: "Tenant does not have a SKU required for this feature. Authentication_RequestFromNonPremiumTenantOrB2CTenant"}
	// Denied is a missing application permission.
	Denied = Fault{Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."}
	// Throttled is a 429 with Retry-After: 0.
	Throttled = Fault{Status: 429, Code: "TooManyRequests", Message: "Too many requests", RetryAfter: "0"}
	// Unavailable is a 503 with Retry-After: 0.
	Unavailable = Fault{Status: 503, Code: "ServiceUnavailable", Message: "Service unavailable", RetryAfter: "0"}
)

// New starts a fake and stops it when the test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{pageSize: 100, now: time.Now}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// Clients abandoning connections at the end of a test are not news.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Client returns an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// GraphURL is the Graph base URL, for CACHECK_GRAPH_URL.
func (s *Server) GraphURL() string { return s.URL + "/v1.0" }

// AuthorityHost is the Entra authority host, for CACHECK_AUTHORITY_HOST.
func (s *Server) AuthorityHost() string { return s.URL + "/" }

// AddTenant adds (or replaces, by ID) a tenant and returns it.
func (s *Server) AddTenant(t *Tenant) *Tenant {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenants = slices.DeleteFunc(s.tenants, func(o *Tenant) bool { return strings.EqualFold(o.ID, t.ID) })
	s.tenants = append(s.tenants, t)
	return t
}

// Update runs f on a tenant's state under the server's lock.
func (s *Server) Update(idOrDomain string, f func(*Tenant)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tenant(idOrDomain); t != nil {
		f(t)
	}
}

// Policy returns a copy of a stored policy, or nil.
func (s *Server) Policy(tenant, id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant(tenant)
	if t == nil {
		return nil
	}
	for _, p := range t.Policies {
		if strings.EqualFold(str(p["id"]), id) {
			return clone(p)
		}
	}
	return nil
}

// SetPageSize sets how many items a list page holds.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = max(n, 1)
}

// ManagedIdentityPath is the path of the fake's managed identity endpoint.
const ManagedIdentityPath = "/msi/token"

// ManagedIdentity makes the server an App Service managed identity endpoint
// for an identity of tenantID, and returns the values of the environment
// variables IDENTITY_ENDPOINT and IDENTITY_HEADER that point azidentity's
// ManagedIdentityCredential at it (through the client's transport). Its
// tokens, like the token endpoint's, carry tenantID as tid; the token
// endpoint accepts them as client assertions.
func (s *Server) ManagedIdentity(tenantID string) (endpoint, header string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.miTenant = tenantID
	return s.URL + ManagedIdentityPath, "graphtest-identity-header"
}

// SetLatency delays every request by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetPolicyReadLimit limits the Conditional Access reads (every route
// under /identity/conditionalAccess: policies, named locations, What If)
// of each tenant to n in any window of length per, as Graph does (about one
// a second per tenant): a read beyond it is answered 429 without
// Retry-After, and does not count. n = 0 removes the limit.
func (s *Server) SetPolicyReadLimit(n int, per time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.caLimit, s.caWindow, s.caReads = n, per, map[string][]time.Time{}
}

// SetThrottle answers the share p (0 to 1) of Graph requests, chosen at
// random with a fixed seed, 429 TooManyRequests, with the header
// Retry-After: retryAfter when it is not "".
func (s *Server) SetThrottle(p float64, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttleP, s.throttleRA = p, retryAfter
	s.rng = rand.New(rand.NewPCG(12, 34))
}

// KeepLog sets whether requests are logged (the default): a load test of
// thousands of tenants turns it off to measure the client, not the log.
func (s *Server) KeepLog(on bool) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.noLog = !on
}

// throttled reports whether a Graph request of tenant is answered 429 by
// the policy-read limit or at random, with the Retry-After to send; s.mu
// is held.
func (s *Server) throttled(path, tenant string, now time.Time) (bool, string) {
	if s.caLimit > 0 && strings.HasPrefix(path, "/identity/conditionalAccess/") {
		key := strings.ToLower(tenant)
		recent := s.caReads[key]
		for len(recent) > 0 && now.Sub(recent[0]) >= s.caWindow {
			recent = recent[1:]
		}
		if len(recent) >= s.caLimit {
			s.caReads[key] = recent
			return true, ""
		}
		s.caReads[key] = append(recent, now)
	}
	if s.throttleP > 0 && s.rng.Float64() < s.throttleP {
		return true, s.throttleRA
	}
	return false, ""
}

// SetEntraLatency delays the Entra routes (OpenID discovery and token) by d
// instead of SetLatency's value.
func (s *Server) SetEntraLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenLat = &d
}

// Fail injects a fault; it applies before the route's own answer.
func (s *Server) Fail(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests returns the log of requests so far. A request is logged as it
// arrives, so that one the client gave up on (a hang) or whose connection
// was dropped is there as soon as the client knows; its Status is 0 until
// it is answered, and stays 0 when it never is.
func (s *Server) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	out := make([]Request, len(s.log))
	for i, r := range s.log {
		out[i] = *r
	}
	return out
}

// GraphRequests returns the logged requests to Graph routes whose path
// (without /v1.0) starts with prefix.
func (s *Server) GraphRequests(method, prefix string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		p, ok := strings.CutPrefix(r.Path, "/v1.0")
		if ok && (method == "" || r.Method == method) && strings.HasPrefix(p, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// TokensIssued counts the tokens the token endpoint has issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens
}

// ResetLog empties the request log.
func (s *Server) ResetLog() {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.log = nil
}

// Relationship returns a GDAP relationship (delegatedAdminRelationship)
// of the partner with customer, for Tenant.Relationships: status "active",
// "expired", …; a zero end is left out; roles are role template IDs.
func Relationship(id string, customer *Tenant, status string, end time.Time, roles ...string) map[string]any {
	unified := make([]any, len(roles))
	for i, r := range roles {
		unified[i] = map[string]any{"roleDefinitionId": r}
	}
	rel := map[string]any{
		"id": id, "displayName": customer.DisplayName + " support", "status": status,
		"customer":      map[string]any{"tenantId": customer.ID, "displayName": customer.DisplayName},
		"accessDetails": map[string]any{"unifiedRoles": unified},
	}
	if !end.IsZero() {
		rel["endDateTime"] = end.UTC().Format(time.RFC3339)
	}
	return rel
}

// LoadPolicies adds policies from a fixture (Graph list, array, or object).
func (t *Tenant) LoadPolicies(data []byte) error {
	items, err := decodeItems(data)
	t.Policies = append(t.Policies, items...)
	return err
}

// LoadNamedLocations adds named locations from a fixture.
func (t *Tenant) LoadNamedLocations(data []byte) error {
	items, err := decodeItems(data)
	t.NamedLocations = append(t.NamedLocations, items...)
	return err
}

// LoadSignIns adds sign-in log entries from a fixture.
func (t *Tenant) LoadSignIns(data []byte) error {
	items, err := decodeItems(data)
	t.SignIns = append(t.SignIns, items...)
	return err
}

// LoadCrossTenant adds cross-tenant partner configurations from a fixture;
// an item without tenantId becomes the default configuration.
func (t *Tenant) LoadCrossTenant(data []byte) error {
	items, err := decodeItems(data)
	for _, it := range items {
		id := str(it["tenantId"])
		if id == "" {
			t.CrossTenantDefault = it
			continue
		}
		if t.CrossTenantPartners == nil {
			t.CrossTenantPartners = map[string]map[string]any{}
		}
		t.CrossTenantPartners[strings.ToLower(id)] = it
	}
	return err
}

// LoadRelationships adds GDAP relationships from a fixture. A
// relationship's "accessAssignments" array, as $expand would show it, goes
// to AccessAssignments.
func (t *Tenant) LoadRelationships(data []byte) error {
	items, err := decodeItems(data)
	for _, it := range items {
		list, ok := it["accessAssignments"].([]any)
		if !ok {
			continue
		}
		delete(it, "accessAssignments")
		as := []map[string]any{}
		for _, a := range list {
			if m, ok := a.(map[string]any); ok {
				as = append(as, m)
			}
		}
		if t.AccessAssignments == nil {
			t.AccessAssignments = map[string][]map[string]any{}
		}
		t.AccessAssignments[str(it["id"])] = as
	}
	t.Relationships = append(t.Relationships, items...)
	return err
}

// accessAssignments returns a relationship's access assignments; t is
// locked.
func (t *Tenant) accessAssignments(rel map[string]any) []map[string]any {
	id := str(rel["id"])
	if as, ok := t.AccessAssignments[id]; ok {
		return as
	}
	details, _ := rel["accessDetails"].(map[string]any)
	return []map[string]any{{
		"id": id + "-group", "status": "active",
		"accessContainer": map[string]any{"accessContainerId": "00000000-0000-0000-0000-0000000000a1", "accessContainerType": "securityGroup"},
		"accessDetails":   map[string]any{"unifiedRoles": details["unifiedRoles"]},
	}}
}

// LoadDir loads a tenant export laid out as diagnose's testdata/tenant:
// policies.json, named-locations.json, sign-ins.json, cross-tenant.json and
// relationships.json, each optional.
func (t *Tenant) LoadDir(dir string) error {
	for name, load := range map[string]func([]byte) error{
		"policies.json":        t.LoadPolicies,
		"named-locations.json": t.LoadNamedLocations,
		"sign-ins.json":        t.LoadSignIns,
		"cross-tenant.json":    t.LoadCrossTenant,
		"relationships.json":   t.LoadRelationships,
	} {
		err := LoadFile(load, filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("graphtest: %s: %w", name, err)
		}
	}
	return nil
}

// LoadFile calls load with the contents of a file, for
// t.LoadPolicies-style methods: LoadFile(t.LoadPolicies, "testdata/p.json").
func LoadFile(load func([]byte) error, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return load(data)
}

func decodeItems(data []byte) ([]map[string]any, error) {
	data = bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
	if len(data) > 0 && data[0] == '[' {
		var items []map[string]any
		err := json.Unmarshal(data, &items)
		return items, err
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	if v, ok := obj["value"].([]any); ok {
		items := make([]map[string]any, 0, len(v))
		for _, it := range v {
			m, ok := it.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("graphtest: list item is %T, not an object", it)
			}
			items = append(items, m)
		}
		return items, nil
	}
	return []map[string]any{obj}, nil
}

// tenant finds a tenant by ID or verified domain; s.mu must be held.
func (s *Server) tenant(idOrDomain string) *Tenant {
	for _, t := range s.tenants {
		if strings.EqualFold(t.ID, idOrDomain) {
			return t
		}
		for _, d := range t.Domains {
			if strings.EqualFold(d, idOrDomain) {
				return t
			}
		}
	}
	return nil
}

// recorder logs the status as it is sent: a client that has its answer
// finds it in the log.
type recorder struct {
	http.ResponseWriter
	s     *Server
	entry *Request
	wrote bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.wrote = true
		r.s.logMu.Lock()
		r.entry.Status = code
		r.s.logMu.Unlock()
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	entra := !strings.HasPrefix(r.URL.Path, "/v1.0/")
	tenant := ""
	if entra {
		tenant, _, _ = strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	} else {
		tenant = tokenTenant(r.Header.Get("Authorization"))
	}
	entry := &Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body, Tenant: tenant, Time: time.Now()}
	s.logMu.Lock()
	if !s.noLog {
		s.log = append(s.log, entry)
	}
	s.logMu.Unlock()
	rec := &recorder{ResponseWriter: w, s: s, entry: entry}

	s.mu.Lock()
	delay := s.latency
	if entra && s.tokenLat != nil {
		delay = *s.tokenLat
	}
	f := s.matchFault(r, entra, tenant)
	var limited bool
	var limitedRA string
	if f == nil && !entra && r.URL.Path != ManagedIdentityPath {
		limited, limitedRA = s.throttled(strings.TrimPrefix(r.URL.Path, "/v1.0"), tenant, time.Now())
	}
	s.mu.Unlock()
	if f != nil {
		delay += f.Latency
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("request-id", fmt.Sprintf("req-%d", time.Now().UnixNano()))
	if cid := r.Header.Get("client-request-id"); cid != "" {
		w.Header().Set("client-request-id", cid)
	}
	if limited {
		if limitedRA != "" {
			w.Header().Set("Retry-After", limitedRA)
		}
		graphError(rec, http.StatusTooManyRequests, "TooManyRequests", "Too many requests")
		return
	}
	if f != nil && f.Hang {
		<-r.Context().Done()
		return
	}
	if f != nil && f.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // HTTP/2: reset the stream
	}
	if f != nil && f.Status != 0 {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		if f.Body != "" {
			w.Header().Set("Content-Type", "application/json")
			rec.WriteHeader(f.Status)
			io.WriteString(w, f.Body)
			return
		}
		graphError(rec, f.Status, f.Code, f.Message)
		return
	}
	if r.URL.Path == ManagedIdentityPath {
		s.serveManagedIdentity(rec, r)
		return
	}
	if entra {
		s.serveEntra(rec, r, tenant, body)
		return
	}
	s.serveGraph(rec, r, tenant, body)
}

// matchFault returns the first fault for r that still applies; s.mu held.
func (s *Server) matchFault(r *http.Request, entra bool, tenant string) *Fault {
	path := strings.TrimPrefix(r.URL.Path, "/v1.0")
	for _, f := range s.faults {
		if f.Method != "" && f.Method != r.Method {
			continue
		}
		if f.Tenant != "" && !strings.EqualFold(f.Tenant, tenant) {
			continue
		}
		if f.Path != "" {
			if entra && !strings.HasSuffix(r.URL.Path, f.Path) {
				continue
			}
			if !entra && !strings.HasPrefix(path, f.Path) {
				continue
			}
		}
		if f.Times > 0 && f.hits >= f.Times {
			continue
		}
		f.hits++
		return f
	}
	return nil
}

func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		defer zr.Close()
		rd = zr
	}
	return io.ReadAll(io.LimitReader(rd, 16<<20))
}

// tokenTenant returns the tid claim of a bearer token, or "".
func tokenTenant(auth string) string {
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return ""
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		TID string `json:"tid"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.TID
}

// Token returns a JWT-shaped, unsigned token for tenant, as the fake issues.
func Token(tenantID, appID string, expires time.Time) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"typ": "JWT", "alg": "none"}) + "." +
		enc(map[string]any{"tid": tenantID, "appid": appID, "aud": "https://graph.microsoft.com", "exp": expires.Unix(), "iat": time.Now().Unix()}) +
		".fake"
}

func (s *Server) serveEntra(w http.ResponseWriter, r *http.Request, tenant string, body []byte) {
	s.mu.Lock()
	t := s.tenant(tenant)
	var id string
	noConsent := false
	if t != nil {
		id, noConsent = t.ID, t.NoConsent
	}
	s.mu.Unlock()
	if t == nil {
		entraError(w, 400, "invalid_tenant", 90002, fmt.Sprintf("AADSTS90002: Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/v2.0/.well-known/openid-configuration"):
		base := s.URL + "/" + tenant
		writeJSON(w, 200, map[string]any{
			"token_endpoint":                        base + "/oauth2/v2.0/token",
			"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
			"issuer":                                s.URL + "/" + id + "/v2.0",
			"jwks_uri":                              s.URL + "/" + id + "/discovery/v2.0/keys",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
			"tenant_region_scope":                   "EU",
		})
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token"):
		form, err := url.ParseQuery(string(body))
		if err != nil || form.Get("grant_type") != "client_credentials" {
			entraError(w, 400, "unsupported_grant_type", 70003, "AADSTS70003: The app requested an unsupported grant type.")
			return
		}
		if form.Get("client_secret") == "" && form.Get("client_assertion") == "" {
			entraError(w, 401, "invalid_client", 7000218, "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
			return
		}
		if noConsent {
			entraError(w, 400, "unauthorized_client", 7000229, fmt.Sprintf("AADSTS7000229: The client application %s is missing service principal in the tenant %s.", form.Get("client_id"), id))
			return
		}
		s.mu.Lock()
		s.tokens++
		s.mu.Unlock()
		writeJSON(w, 200, map[string]any{
			"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
			"access_token": Token(id, form.Get("client_id"), time.Now().Add(time.Hour)),
		})
	default:
		http.NotFound(w, r)
	}
}

// serveManagedIdentity answers as App Service's managed identity endpoint.
func (s *Server) serveManagedIdentity(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	tid := s.miTenant
	s.mu.Unlock()
	q := r.URL.Query()
	switch {
	case tid == "":
		http.NotFound(w, r)
	case r.Header.Get("X-IDENTITY-HEADER") != "graphtest-identity-header":
		writeJSON(w, 401, map[string]any{"statusCode": 401, "message": "Unauthorized: the X-IDENTITY-HEADER is missing or wrong"})
	case q.Get("resource") == "":
		writeJSON(w, 400, map[string]any{"statusCode": 400, "message": "resource is required"})
	default:
		exp := time.Now().Add(time.Hour)
		writeJSON(w, 200, map[string]any{
			"access_token": Token(tid, q.Get("client_id"), exp), "expires_on": strconv.FormatInt(exp.Unix(), 10),
			"resource": q.Get("resource"), "token_type": "Bearer", "client_id": q.Get("client_id"),
		})
	}
}

func entraError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	writeJSON(w, status, map[string]any{
		"error": code, "error_description": desc, "error_codes": []int{aadsts},
		"timestamp": time.Now().UTC().Format("2006-01-02 15:04:05Z"), "trace_id": "00000000-0000-0000-0000-000000000001",
		"correlation_id": "00000000-0000-0000-0000-000000000002",
	})
}

func graphError(w http.ResponseWriter, status int, code, message string) {
	if code == "" {
		code = http.StatusText(status)
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": code, "message": message,
		"innerError": map[string]any{"date": time.Now().UTC().Format(time.RFC3339), "request-id": w.Header().Get("request-id"), "client-request-id": w.Header().Get("client-request-id")},
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request, tid string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant(tid)
	if tid == "" || t == nil {
		graphError(w, 401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1.0")
	q := r.URL.Query()
	const (
		policies = "/identity/conditionalAccess/policies"
		partners = "/policies/crossTenantAccessPolicy/partners/"
		findDom  = "/tenantRelationships/findTenantInformationByDomainName(domainName='"
		gdapRels = "/tenantRelationships/delegatedAdminRelationships/"
	)
	switch {
	case r.Method == http.MethodGet && path == policies:
		s.page(w, r, asSeenBy(r, t.Policies))
	case strings.HasPrefix(path, policies+"/"):
		id := strings.TrimPrefix(path, policies+"/")
		i := slices.IndexFunc(t.Policies, func(p map[string]any) bool { return strings.EqualFold(str(p["id"]), id) })
		if i < 0 {
			graphError(w, 404, "ResourceNotFound", "Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, 200, asSeenBy(r, t.Policies[i:i+1])[0])
		case http.MethodPatch:
			var patch map[string]any
			if err := json.Unmarshal(body, &patch); err != nil {
				graphError(w, 400, "BadRequest", "Unable to read JSON request payload.")
				return
			}
			t.Policies[i] = mergePolicy(t.Policies[i], patch, s.now())
			w.WriteHeader(http.StatusNoContent)
		default:
			graphError(w, 405, "MethodNotAllowed", "")
		}
	case r.Method == http.MethodGet && path == "/identity/conditionalAccess/namedLocations":
		s.page(w, r, t.NamedLocations)
	case r.Method == http.MethodPost && path == "/identity/conditionalAccess/evaluate":
		if t.WhatIf == nil {
			graphError(w, 400, "BadRequest", "Resource not found for the segment 'evaluate'.")
			return
		}
		writeJSON(w, 200, map[string]any{"value": t.WhatIf})
	case r.Method == http.MethodGet && path == "/auditLogs/signIns":
		items, err := filterItems(t.SignIns, q.Get("$filter"))
		if err != nil {
			graphError(w, 400, "BadRequest", err.Error())
			return
		}
		slices.SortStableFunc(items, func(a, b map[string]any) int {
			return strings.Compare(str(b["createdDateTime"]), str(a["createdDateTime"]))
		})
		s.page(w, r, items)
	case r.Method == http.MethodGet && strings.HasPrefix(path, partners):
		id := strings.ToLower(strings.TrimPrefix(path, partners))
		p, ok := t.CrossTenantPartners[id]
		if !ok {
			graphError(w, 404, "Request_ResourceNotFound", "Resource '"+id+"' does not exist.")
			return
		}
		writeJSON(w, 200, p)
	case r.Method == http.MethodGet && path == "/policies/crossTenantAccessPolicy/default":
		d := t.CrossTenantDefault
		if d == nil {
			d = map[string]any{"isServiceDefault": true, "inboundTrust": map[string]any{"isMfaAccepted": false, "isCompliantDeviceAccepted": false, "isHybridAzureADJoinedDeviceAccepted": false}}
		}
		writeJSON(w, 200, d)
	case r.Method == http.MethodGet && path == "/tenantRelationships/delegatedAdminRelationships":
		if q.Has("$expand") {
			// As Graph: the list does not support $expand.
			graphError(w, 400, "BadRequest", "Query option '$expand' is not allowed.")
			return
		}
		items, err := filterItems(t.Relationships, q.Get("$filter"))
		if err != nil {
			graphError(w, 400, "BadRequest", err.Error())
			return
		}
		s.page(w, r, items)
	case r.Method == http.MethodGet && strings.HasPrefix(path, gdapRels) && strings.HasSuffix(path, "/accessAssignments"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, gdapRels), "/accessAssignments")
		i := slices.IndexFunc(t.Relationships, func(rel map[string]any) bool { return str(rel["id"]) == id })
		if i < 0 {
			graphError(w, 404, "ResourceNotFound", "Relationship '"+id+"' does not exist.")
			return
		}
		items, err := filterItems(t.accessAssignments(t.Relationships[i]), q.Get("$filter"))
		if err != nil {
			graphError(w, 400, "BadRequest", err.Error())
			return
		}
		s.page(w, r, items)
	case r.Method == http.MethodGet && strings.HasPrefix(path, findDom):
		dom := strings.TrimSuffix(strings.TrimPrefix(path, findDom), "')")
		c := s.tenant(dom)
		if c == nil {
			graphError(w, 404, "Request_ResourceNotFound", "Domain '"+dom+"' not found.")
			return
		}
		def := ""
		if len(c.Domains) > 0 {
			def = c.Domains[0]
		}
		writeJSON(w, 200, map[string]any{"tenantId": c.ID, "displayName": c.DisplayName, "defaultDomainName": def, "federationBrandName": nil})
	case r.Method == http.MethodGet && path == "/organization":
		var domains []map[string]any
		for i, d := range t.Domains {
			domains = append(domains, map[string]any{"name": d, "isDefault": i == 0, "isInitial": strings.HasSuffix(d, ".onmicrosoft.com"), "type": "Managed", "capabilities": "Email, OfficeCommunicationsOnline"})
		}
		org := map[string]any{"id": t.ID, "displayName": t.DisplayName, "verifiedDomains": domains}
		if sel := q.Get("$select"); sel != "" {
			keep := map[string]any{}
			for f := range strings.SplitSeq(sel, ",") {
				if v, ok := org[strings.TrimSpace(f)]; ok {
					keep[strings.TrimSpace(f)] = v
				}
			}
			org = keep
		}
		writeJSON(w, 200, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#organization", "value": []map[string]any{org}})
	case r.Method == http.MethodGet && path == "/users":
		items, err := filterItems(t.Users, q.Get("$filter"))
		if err != nil {
			graphError(w, 400, "BadRequest", err.Error())
			return
		}
		s.page(w, r, items)
	case r.Method == http.MethodGet && path == "/roleManagement/directory/roleAssignments":
		items, err := filterItems(t.RoleAssignments, q.Get("$filter"))
		if err != nil {
			graphError(w, 400, "BadRequest", err.Error())
			return
		}
		s.page(w, r, items)
	default:
		graphError(w, 400, "BadRequest", "Resource not found for the segment '"+path+"'.")
	}
}

// lateEnumMembers are, per property of a Conditional Access policy, the
// members of its evolvable enum that Graph added after unknownFutureValue.
var lateEnumMembers = map[string][]string{
	"conditions/platforms/includePlatforms": {"linux"},
	"conditions/platforms/excludePlatforms": {"linux"},
}

// asSeenBy returns policies as Graph answers r: without the header
// "Prefer: include-unknown-enum-members", Graph replaces each member of an
// evolvable enum added after unknownFutureValue with unknownFutureValue.
// The stored policies are not changed.
func asSeenBy(r *http.Request, policies []map[string]any) []map[string]any {
	if prefersUnknownEnums(r.Header) {
		return policies
	}
	out := make([]map[string]any, len(policies))
	for i, p := range policies {
		p = clone(p)
		for path, late := range lateEnumMembers {
			keys := strings.Split(path, "/")
			parent := p
			for _, k := range keys[:len(keys)-1] {
				parent, _ = parent[k].(map[string]any)
			}
			if parent == nil {
				continue
			}
			list, _ := parent[keys[len(keys)-1]].([]any)
			for j, v := range list {
				if s, ok := v.(string); ok && slices.Contains(late, s) {
					list[j] = "unknownFutureValue"
				}
			}
		}
		out[i] = p
	}
	return out
}

// prefersUnknownEnums reports whether h carries the preference
// include-unknown-enum-members (Prefer may list several, comma-separated).
func prefersUnknownEnums(h http.Header) bool {
	for _, v := range h.Values("Prefer") {
		for pref := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(pref), "include-unknown-enum-members") {
				return true
			}
		}
	}
	return false
}

// page writes one page of items, with an @odata.nextLink to the next one.
// The skip token is the offset; s.mu is held.
func (s *Server) page(w http.ResponseWriter, r *http.Request, items []map[string]any) {
	q := r.URL.Query()
	size := s.pageSize
	if top, err := strconv.Atoi(q.Get("$top")); err == nil && top > 0 {
		size = top
	}
	off, _ := strconv.Atoi(q.Get("$skiptoken"))
	off = min(max(off, 0), len(items))
	end := min(off+size, len(items))
	out := map[string]any{"value": items[off:end]}
	if end < len(items) {
		next := *r.URL
		q.Set("$skiptoken", strconv.Itoa(end))
		next.RawQuery = q.Encode()
		out["@odata.nextLink"] = s.URL + next.RequestURI()
	}
	writeJSON(w, 200, out)
}

// mergePolicy applies a PATCH the way Graph does for this entity: top-level
// properties and each condition are replaced whole; what the PATCH leaves
// out is kept.
func mergePolicy(p, patch map[string]any, now time.Time) map[string]any {
	out := clone(p)
	for k, v := range patch {
		if k == "conditions" {
			conds, _ := out["conditions"].(map[string]any)
			if conds == nil {
				conds = map[string]any{}
			}
			if pc, ok := v.(map[string]any); ok {
				for ck, cv := range pc {
					conds[ck] = cv
				}
			}
			out["conditions"] = conds
			continue
		}
		out[k] = v
	}
	out["modifiedDateTime"] = now.UTC().Format(time.RFC3339Nano)
	return out
}

func clone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// filterItems applies a small subset of OData $filter: clauses
// "path op literal" joined by " and " / " or " (and binds tighter), where
// path may be nested with '/', op is eq, ne, gt, ge, lt or le, and literal
// is 'quoted', a number, or a bare date-time.
func filterItems(items []map[string]any, filter string) ([]map[string]any, error) {
	if strings.TrimSpace(filter) == "" {
		return slices.Clone(items), nil
	}
	var alts [][]clause
	for alt := range strings.SplitSeq(filter, " or ") {
		var cs []clause
		for part := range strings.SplitSeq(alt, " and ") {
			c, err := parseClause(part)
			if err != nil {
				return nil, err
			}
			cs = append(cs, c)
		}
		alts = append(alts, cs)
	}
	var out []map[string]any
	for _, it := range items {
		for _, cs := range alts {
			if all(cs, it) {
				out = append(out, it)
				break
			}
		}
	}
	return out, nil
}

type clause struct {
	path []string
	op   string
	lit  string
}

func parseClause(s string) (clause, error) {
	f := strings.SplitN(strings.TrimSpace(s), " ", 3)
	if len(f) != 3 {
		return clause{}, fmt.Errorf("Invalid filter clause: %q", s)
	}
	switch f[1] {
	case "eq", "ne", "gt", "ge", "lt", "le":
	default:
		return clause{}, fmt.Errorf("Invalid filter operator %q", f[1])
	}
	lit := f[2]
	if strings.HasPrefix(lit, "'") && strings.HasSuffix(lit, "'") && len(lit) >= 2 {
		lit = strings.ReplaceAll(lit[1:len(lit)-1], "''", "'")
	}
	return clause{path: strings.Split(f[0], "/"), op: f[1], lit: lit}, nil
}

func all(cs []clause, it map[string]any) bool {
	for _, c := range cs {
		if !c.match(it) {
			return false
		}
	}
	return true
}

func (c clause) match(it map[string]any) bool {
	var v any = it
	for _, p := range c.path {
		m, ok := v.(map[string]any)
		if !ok {
			v = nil
			break
		}
		v = m[p]
	}
	var cmp int
	switch x := v.(type) {
	case float64:
		n, err := strconv.ParseFloat(c.lit, 64)
		if err != nil {
			return false
		}
		cmp = compareFloat(x, n)
	case string:
		t1, e1 := time.Parse(time.RFC3339Nano, x)
		t2, e2 := time.Parse(time.RFC3339Nano, c.lit)
		if e1 == nil && e2 == nil {
			cmp = t1.Compare(t2)
		} else {
			cmp = strings.Compare(strings.ToLower(x), strings.ToLower(c.lit))
		}
	case nil:
		return c.op == "ne"
	default:
		cmp = strings.Compare(fmt.Sprint(x), c.lit)
	}
	switch c.op {
	case "eq":
		return cmp == 0
	case "ne":
		return cmp != 0
	case "gt":
		return cmp > 0
	case "ge":
		return cmp >= 0
	case "lt":
		return cmp < 0
	default:
		return cmp <= 0
	}
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
