package bot_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/bot"
	"github.com/cacheck/ca-check/bot/slacktest"
	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/internal/testsupport"
)

// Tenants of the fixtures.
const (
	partnerID  = "4e8a1c55-7f1b-4c6e-9d2a-1b3c5d7e9f00"
	contosoID  = "22222222-2222-4222-8222-222222222222"
	fabrikamID = "33333333-3333-4333-8333-333333333333" // not consented
	secret     = "test-signing-secret"
	channel    = "C0SUPPORT"
	engineer   = "U0ENGINEER"
)

// fakeDiagnoser is the real engine over fixture evidence: Diagnose runs
// diagnose.Evaluate on what testdata holds for the tenant.
type fakeDiagnoser struct {
	tenants   []diagnose.Tenant
	evidence  map[string]diagnose.Evidence
	fail      map[string]error
	customers []diagnose.Relationship
	delay     time.Duration
	diagnoses atomic.Int64
	// Graph reads the bot asked for, besides Diagnose: tests of who may
	// ask check that an outsider caused none.
	resolves atomic.Int64
	listings atomic.Int64

	// override is each policy's excludeGuestsOrExternalUsers as changed
	// since the fixture (by an approval, or by "someone" in a test).
	mu       sync.Mutex
	override map[string]*diagnose.GuestsOrExternalUsers
}

// exclusion is the policy's exclusion as the tenant has it now.
func (f *fakeDiagnoser) exclusion(tenantID, policyID string) *diagnose.GuestsOrExternalUsers {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g, ok := f.override[policyID]; ok {
		return g
	}
	for _, p := range f.evidence[tenantID].Policies {
		if p.ID == policyID && p.Conditions.Users != nil {
			return p.Conditions.Users.ExcludeGuestsOrExternalUsers
		}
	}
	return nil
}

// setExclusion changes the policy's exclusion, as a write in the tenant.
func (f *fakeDiagnoser) setExclusion(policyID string, g *diagnose.GuestsOrExternalUsers) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.override == nil {
		f.override = map[string]*diagnose.GuestsOrExternalUsers{}
	}
	f.override[policyID] = g
}

// snapshot copies the changes, for a restarted bot reading the same tenant.
func (f *fakeDiagnoser) snapshot() map[string]*diagnose.GuestsOrExternalUsers {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]*diagnose.GuestsOrExternalUsers{}
	for k, v := range f.override {
		out[k] = v
	}
	return out
}

// policies is the tenant's policies with the changes applied, as copies the
// evaluator may keep.
func (f *fakeDiagnoser) policies(ev diagnose.Evidence) diagnose.Evidence {
	f.mu.Lock()
	defer f.mu.Unlock()
	pols := make([]diagnose.Policy, len(ev.Policies))
	for i, p := range ev.Policies {
		if g, ok := f.override[p.ID]; ok {
			var users diagnose.UsersCondition
			if p.Conditions.Users != nil {
				users = *p.Conditions.Users
			}
			users.ExcludeGuestsOrExternalUsers = g
			p.Conditions.Users = &users
		}
		pols[i] = p
	}
	ev.Policies = pols
	return ev
}

func newFakeDiagnoser(t testing.TB) *fakeDiagnoser {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "policies.json"))
	if err != nil {
		t.Fatal(err)
	}
	pols, err := diagnose.DecodePolicies(raw)
	if err != nil {
		t.Fatal(err)
	}
	contoso := diagnose.Tenant{ID: contosoID, DisplayName: "Contoso <Ltd>", DefaultDomain: "contoso.com"}
	fabrikam := diagnose.Tenant{ID: fabrikamID, DisplayName: "Fabrikam", DefaultDomain: "fabrikam.com"}
	return &fakeDiagnoser{
		tenants:  []diagnose.Tenant{contoso, fabrikam},
		evidence: map[string]diagnose.Evidence{contosoID: {Tenant: &contoso, Policies: pols, NamedLocations: []diagnose.NamedLocation{}}},
		fail: map[string]error{fabrikamID: diagnose.Errorf(diagnose.EUNAUTHORIZED,
			"ca-check has no access to Fabrikam: nobody consented to the app there. A Global Administrator can consent at https://login.microsoftonline.com/%s/adminconsent?client_id=99999999-0000-4000-8000-000000000009", fabrikamID)},
		customers: []diagnose.Relationship{
			{ID: "rel-1", CustomerTenantID: contosoID, CustomerName: "Contoso <Ltd>", Status: "active"},
			{ID: "rel-2", CustomerTenantID: fabrikamID, CustomerName: "Fabrikam", Status: "active"},
		},
	}
}

func (f *fakeDiagnoser) ResolveTenant(ctx context.Context, query string) (diagnose.Tenant, error) {
	f.resolves.Add(1)
	q := strings.ToLower(strings.TrimSpace(query))
	for _, t := range f.tenants {
		if q == t.ID || q == t.DefaultDomain || q == strings.ToLower(t.DisplayName) {
			return t, nil
		}
	}
	return diagnose.Tenant{}, diagnose.Errorf(diagnose.ENOTFOUND, "no customer tenant matches %q", query)
}

func (f *fakeDiagnoser) Diagnose(ctx context.Context, tenantID string, sc diagnose.Scenario) (*diagnose.Diagnosis, error) {
	f.diagnoses.Add(1)
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return nil, diagnose.Errorf(diagnose.EUNAVAILABLE, "reading the tenant was cancelled: %w", ctx.Err())
		}
	}
	if err := f.fail[tenantID]; err != nil {
		return nil, err
	}
	ev, ok := f.evidence[tenantID]
	if !ok {
		return nil, diagnose.Errorf(diagnose.ENOTFOUND, "no evidence for tenant %s", tenantID)
	}
	if sc.PartnerTenantID == "" {
		sc.PartnerTenantID = partnerID
	}
	return diagnose.Evaluate(f.policies(ev), sc), nil
}

// PartnerName is the partner organization's name, as graphclient reads
// it; markup in it must be escaped.
func (f *fakeDiagnoser) PartnerName(ctx context.Context) (string, error) {
	return "Northwind <MSP>", nil
}

func (f *fakeDiagnoser) Customers(ctx context.Context) ([]diagnose.Relationship, error) {
	f.listings.Add(1)
	return f.customers, nil
}

// harness is a bot running against the fake Slack and a real SQLite store.
type harness struct {
	t     testing.TB
	slack *slacktest.Server
	bot   *bot.Bot
	store *store.Store
	// dbPath is the store's SQLite file when launch made it, for tests
	// that break the database under the bot.
	dbPath string
	diag   *fakeDiagnoser
	srv    *httptest.Server // the bot's Slack handler, HTTP mode
	reg    *prometheus.Registry
	stop   context.CancelFunc
	done   chan error
	logs   *testsupport.SyncBuffer
}

type harnessOption func(*bot.Config, *fakeDiagnoser)

func socketMode(c *bot.Config, _ *fakeDiagnoser) {
	c.HTTPAddr, c.SigningSecret, c.AppToken = "", "", "xapp-1-test"
}

func workers(n int) harnessOption {
	return func(c *bot.Config, _ *fakeDiagnoser) { c.Workers = n }
}

// start runs a bot in HTTP mode (or Socket Mode with socketMode) and waits
// until it is ready.
func start(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	return launch(t, nil, nil, nil, opts...)
}

// launch is start on a given store and fake Slack (nil: new ones), with
// extra bot options: approvals need a Changer, and a restart needs the
// store and the Slack of the bot it replaces.
func launch(t testing.TB, st *store.Store, fake *slacktest.Server, extra []bot.Option, opts ...harnessOption) *harness {
	t.Helper()
	if fake == nil {
		fake = slacktest.New()
		t.Cleanup(fake.Close)
	}
	dbPath := ""
	if st == nil {
		st, dbPath = openStore(t)
	}
	d := newFakeDiagnoser(t)
	cfg := bot.Config{
		BotToken:        "xoxb-test",
		SigningSecret:   secret,
		HTTPAddr:        "127.0.0.1:0",
		HealthAddr:      "127.0.0.1:0",
		SlackAPIURL:     fake.APIURL,
		DB:              "unused",
		LogLevel:        "debug",
		Workers:         4,
		ShutdownTimeout: 5 * time.Second,
	}
	for _, o := range opts {
		o(&cfg, d)
	}
	logs := &testsupport.SyncBuffer{}
	reg := prometheus.NewRegistry()
	b, err := bot.New(cfg, d, st, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), reg,
		append([]bot.Option{bot.WithHTTPClient(fake.Client())}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, slack: fake, bot: b, store: st, dbPath: dbPath, diag: d, reg: reg, done: make(chan error, 1), logs: logs}
	if cfg.Mode() == bot.ModeHTTP {
		h.srv = httptest.NewServer(b.Handler())
		t.Cleanup(h.srv.Close)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.done <- b.Run(ctx) }()
	h.stop = cancel
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
		checkMethodsDeclared(t, fake)
		checkLogsClean(t, logs.String())
	})
	h.waitReady()
	if cfg.Mode() == bot.ModeSocket {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := fake.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// openStore opens a SQLite store in a new file, closed when the test ends,
// and returns the file's path too.
func openStore(t testing.TB) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db")
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

func (h *harness) waitReady() {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		rec := httptest.NewRecorder()
		h.bot.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code == http.StatusOK {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatal("bot not ready after 5s")
}

// post sends a signed delivery to path and returns the response.
func (h *harness) post(path, contentType string, body []byte, at time.Time, header ...string) (int, string) {
	h.t.Helper()
	req := slacktest.NewSignedRequest(h.srv.URL+path, secret, contentType, body, at)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (h *harness) command(text string) (int, string) {
	h.t.Helper()
	return h.post("/slack/commands", slacktest.ContentForm,
		h.slack.CommandBody(slack.SlashCommand{ChannelID: channel, UserID: engineer, UserName: "engineer", Text: text}), time.Time{})
}

func (h *harness) event(eventID string, inner any, header ...string) (int, string) {
	h.t.Helper()
	return h.post("/slack/events", slacktest.ContentJSON, slacktest.EventCallback(eventID, inner), time.Time{}, header...)
}

func (h *harness) interact(cb slack.InteractionCallback) (int, string) {
	h.t.Helper()
	return h.post("/slack/interactions", slacktest.ContentForm, slacktest.InteractionBody(cb), time.Time{})
}

// wait returns the first n calls to methods, failing the test after 5 s.
func (h *harness) wait(n int, methods ...string) []slacktest.Call {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	calls, err := h.slack.WaitCalls(ctx, n, methods...)
	if err != nil {
		h.t.Fatalf("%v; calls so far: %v", err, methodsOf(h.slack.Calls()))
	}
	return calls
}

// settle waits for the bot to finish what it was given: in-flight work ends
// in Slack calls, so a quiet fake for a while means it is done.
func (h *harness) settle() {
	h.t.Helper()
	last := -1
	for {
		n := len(h.slack.Calls())
		if n == last {
			return
		}
		last = n
		time.Sleep(150 * time.Millisecond)
	}
}

func methodsOf(calls []slacktest.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.Method
	}
	return out
}

func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkLogsClean asserts that no log line carried a secret, a token, or
// pasted text.
func checkLogsClean(t testing.TB, logs string) {
	t.Helper()
	for _, bad := range []string{secret, "xoxb-test", "xapp-1-test", "Access has been blocked", "Device is not in required device state"} {
		if strings.Contains(logs, bad) {
			t.Errorf("logs contain %q", bad)
		}
	}
}
