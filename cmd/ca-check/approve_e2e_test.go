package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/bot"
	"github.com/cacheck/ca-check/bot/slacktest"
	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient"
	"github.com/cacheck/ca-check/graphclient/graphtest"
	"github.com/cacheck/ca-check/internal/testsupport"
)

// The approval flow end to end: slack-go against the fake Slack, and
// graphclient (msgraph-sdk-go, azidentity) against the fake Graph and
// Entra; what is asserted is what people see in Slack, the PATCHes the fake
// Graph receives, and the audit rows.

// People of the approval tests.
const (
	botAdmin      = "U0ADMIN"    // CACHECK_ADMIN_USERS
	custAdmin     = "U0CUSTADM"  // an approver of Contoso (a customer admin)
	custAdmin2    = "U0CUSTADM2" // another
	outsider      = "U0OUTSIDER" // nobody's approver
	signingSecret = "e2e-signing-secret"
	policiesPath  = "/identity/conditionalAccess/policies/"
)

// approvalEnv is the fake Graph, the fake Slack, a database file, and a bot
// in HTTP mode built as serve builds it, with a test clock; restart replaces
// the bot by a new one on the same database, as after a crash.
type approvalEnv struct {
	t     *testing.T
	g     *graphtest.Server
	slack *slacktest.Server
	db    string
	clock *testsupport.Clock
	logs  *testsupport.SyncBuffer
	srv   *httptest.Server
	st    *store.Store
	stop  func()
	// config adjusts the bot's configuration before each start.
	config func(*bot.Config)
	// answerTS is the diagnosis answer's ts; diagnosis its buttons' value.
	answerTS, diagnosis string
}

func newApprovalEnv(t *testing.T, config ...func(*bot.Config)) *approvalEnv {
	t.Helper()
	e := &approvalEnv{t: t, g: newGraph(t), slack: slacktest.New(), db: t.TempDir() + "/ca-check.db",
		clock: testsupport.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)), logs: &testsupport.SyncBuffer{}}
	for _, c := range config {
		e.config = c
	}
	t.Cleanup(e.slack.Close)
	t.Cleanup(func() {
		for _, secret := range []string{clientSecret, botToken, signingSecret} {
			if strings.Contains(e.logs.String(), secret) {
				t.Errorf("the logs contain %q", secret)
			}
		}
	})
	e.start()
	for _, u := range []string{custAdmin, custAdmin2} {
		e.command(botAdmin, "approvers contoso.example add <@"+u+">")
		e.whisper("can now approve changes in")
	}
	e.command(engineer, "contoso.example")
	answer := e.post(func(c slacktest.Call) bool { _, ok := button(c, "request_approval"); return ok })
	v, _ := button(answer, "request_approval")
	e.answerTS, e.diagnosis = "1700000000.000001", v
	return e
}

// start runs a bot on the environment's database.
func (e *approvalEnv) start() {
	t := e.t
	t.Helper()
	gc, err := loadGraphConfig(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	graph, err := graphclient.New(gc, graphclient.WithHTTPClient(e.g.Client()))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), e.db)
	if err != nil {
		t.Fatal(err)
	}
	cfg := bot.Config{
		BotToken: botToken, SigningSecret: signingSecret, HTTPAddr: "127.0.0.1:0", HealthAddr: "127.0.0.1:0",
		SlackAPIURL: e.slack.APIURL, DB: e.db, LogLevel: "debug", Workers: 8, ShutdownTimeout: 5 * time.Second,
		AdminUsers: []string{botAdmin}, ApprovalTTL: 24 * time.Hour, RevertWindow: 168 * time.Hour,
	}
	if e.config != nil {
		e.config(&cfg)
	}
	b, err := bot.New(cfg, graph, st, slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), prometheus.NewRegistry(),
		bot.WithApprovals(graph, st), bot.WithClock(e.clock.Now),
		bot.WithApprovalSweep(20*time.Millisecond), bot.WithHTTPClient(e.slack.Client()))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var once sync.Once
	e.srv, e.st = srv, st
	e.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("Run did not return after cancel")
			}
			srv.Close()
			st.Close()
		})
	}
	t.Cleanup(e.stop)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		rec := httptest.NewRecorder()
		b.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code == http.StatusOK {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the bot was not ready after 10 s")
}

// restart stops the bot and starts another on the same database.
func (e *approvalEnv) restart() {
	e.stop()
	e.start()
}

func (e *approvalEnv) deliver(path string, body []byte) {
	e.t.Helper()
	req := slacktest.NewSignedRequest(e.srv.URL+path, signingSecret, slacktest.ContentForm, body, time.Time{})
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("%s answered %s", path, resp.Status)
	}
}

func (e *approvalEnv) command(user, text string) {
	e.t.Helper()
	e.deliver("/slack/commands", e.slack.CommandBody(slack.SlashCommand{ChannelID: channel, UserID: user, Text: text}))
}

func (e *approvalEnv) click(user, action, value string) {
	e.t.Helper()
	e.deliver("/slack/interactions", slacktest.InteractionBody(e.slack.BlockAction(user, "D"+user, "1700000000.000900", "", "", action, value)))
}

// request clicks Request approval as the engineer and returns the request
// ID from an approver's DM.
func (e *approvalEnv) request() (string, slacktest.Call) {
	e.t.Helper()
	e.deliver("/slack/interactions", slacktest.InteractionBody(e.slack.BlockAction(engineer, channel, e.answerTS, "", "", "request_approval", e.diagnosis)))
	dm := e.post(func(c slacktest.Call) bool { _, ok := button(c, "approve_request"); return ok })
	id, _ := button(dm, "approve_request")
	return id, dm
}

func button(c slacktest.Call, action string) (string, bool) {
	b, _ := c.Button(action)
	if b == nil {
		return "", false
	}
	return b.Value, true
}

// post waits for a chat.postMessage matching ok.
func (e *approvalEnv) post(ok func(slacktest.Call) bool) slacktest.Call {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := e.slack.WaitFor(ctx, "chat.postMessage", ok)
	if err != nil {
		var texts []string
		for _, c := range e.slack.Calls("chat.postMessage") {
			texts = append(texts, c.Text())
		}
		e.t.Fatalf("no matching message: %v; posts:\n%s\nlogs:\n%s", err, strings.Join(texts, "\n---\n"), e.logs)
	}
	return c
}

// thread waits for a message in the diagnosis thread containing want.
func (e *approvalEnv) thread(want string) slacktest.Call {
	e.t.Helper()
	return e.post(func(c slacktest.Call) bool {
		return c.Arg("channel") == channel && c.Arg("thread_ts") == e.answerTS && strings.Contains(c.Text(), want)
	})
}

// whisper waits for a private answer containing want.
func (e *approvalEnv) whisper(want string) slacktest.Call {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := e.slack.WaitFor(ctx, slacktest.MethodResponseURL, func(c slacktest.Call) bool { return strings.Contains(c.Text(), want) })
	if err != nil {
		e.t.Fatalf("no private answer with %q: %v", want, err)
	}
	return c
}

func (e *approvalEnv) request0(id string) approval.Request {
	e.t.Helper()
	r, err := e.st.Request(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *approvalEnv) waitState(id string, s approval.State) approval.Request {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if r := e.request0(id); r.State == s {
			return r
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("request is %s, want %s", e.request0(id).State, s)
	return approval.Request{}
}

func (e *approvalEnv) plans(id string) []diagnose.Plan {
	e.t.Helper()
	return e.request0(id).Plans
}

// patches counts the PATCHes the fake Graph received, per policy ID.
func (e *approvalEnv) patches() map[string]int {
	out := map[string]int{}
	for _, r := range e.g.GraphRequests(http.MethodPatch, policiesPath) {
		out[strings.TrimPrefix(strings.TrimPrefix(r.Path, "/v1.0"), policiesPath)]++
	}
	return out
}

func (e *approvalEnv) audit(id string) []string {
	e.t.Helper()
	recs, err := e.st.RequestAudit(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if r.Action != "notified" && r.Action != "reported" { // messages, not changes
			out = append(out, r.Action)
		}
	}
	return out
}

// exclusion is a policy's excludeGuestsOrExternalUsers at the fake Graph.
func (e *approvalEnv) exclusion(id string) *diagnose.GuestsOrExternalUsers {
	e.t.Helper()
	raw, _ := json.Marshal(e.g.Policy(exampleTenant, id))
	ps, err := diagnose.DecodePolicies(raw)
	if err != nil || len(ps) != 1 {
		e.t.Fatalf("policy %s: %v", id, err)
	}
	if ps[0].Conditions.Users == nil {
		return nil
	}
	return ps[0].Conditions.Users.ExcludeGuestsOrExternalUsers
}

// Approve: each policy gets exactly one PATCH of conditions.users alone,
// excluding the partner's service provider users; the thread tells who
// approved, what changed and to retry the sign-in; the DMs lose their
// buttons; the audit log has every step with Graph's request IDs.
func TestApprovalApproveE2E(t *testing.T) {
	e := newApprovalEnv(t)
	id, dm := e.request()
	if !strings.Contains(dm.Text(), "Contoso Ltd") || !strings.Contains(dm.Text(), "<@"+engineer+">") || strings.Contains(string(dm.Body), "<!channel>") {
		t.Errorf("the DM:\n%s", dm.Text())
	}
	e.thread("Waiting for <@" + custAdmin + "> (direct message), <@" + custAdmin2 + "> (direct message)")
	plans := e.plans(id)
	if len(plans) < 3 {
		t.Fatalf("the example tenant should need 3 changes, the request has %d", len(plans))
	}
	e.click(custAdmin, "approve_request", id)
	report := e.thread("retry your sign-in now")
	e.waitState(id, approval.StateApplied)

	patches := e.patches()
	if len(patches) != len(plans) {
		t.Errorf("PATCHed %v for %d plans", patches, len(plans))
	}
	for _, p := range plans {
		if patches[p.PolicyID] != 1 {
			t.Errorf("policy %q PATCHed %d times", p.DisplayName, patches[p.PolicyID])
		}
		if !strings.Contains(report.Text(), diagnose.EscapeMrkdwn(p.DisplayName)) {
			t.Errorf("the report does not name %q", p.DisplayName)
		}
		if got := e.exclusion(p.PolicyID); !got.Excludes(examplePartner) {
			t.Errorf("policy %q does not exclude the partner after the apply: %s", p.DisplayName, diagnose.DescribeExclusion(got))
		}
	}
	for _, r := range e.g.GraphRequests(http.MethodPatch, policiesPath) {
		var body map[string]map[string]json.RawMessage
		if err := json.Unmarshal(r.Body, &body); err != nil || len(body) != 1 || len(body["conditions"]) != 1 || body["conditions"]["users"] == nil {
			t.Errorf("PATCH %s body is not conditions.users alone: %s", r.Path, r.Body)
		}
	}
	if !strings.Contains(report.Text(), "<@"+custAdmin+"> approved") {
		t.Errorf("the report:\n%s", report.Text())
	}
	want := []string{"requested", "approved", "applying", "applied"}
	if got := e.audit(id); !slices.Equal(got, want) {
		t.Errorf("audit %v, want %v", got, want)
	}
	e.command(custAdmin, "audit contoso.example")
	e.whisper("Graph request-ids `")
}

// 50 clicks at once from two approvers: one approval, one PATCH per policy.
func TestApprovalConcurrentClicksE2E(t *testing.T) {
	e := newApprovalEnv(t)
	id, _ := e.request()
	plans := e.plans(id)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 50 {
		user := custAdmin
		if i%2 == 1 {
			user = custAdmin2
		}
		wg.Go(func() { e.click(user, "approve_request", id) })
	}
	wg.Wait()
	e.thread("retry your sign-in now")
	e.waitState(id, approval.StateApplied)
	t.Logf("50 concurrent clicks: applied in %v", time.Since(start))
	patches := e.patches()
	if len(patches) != len(plans) {
		t.Errorf("PATCHed %v for %d plans", patches, len(plans))
	}
	for p, n := range patches {
		if n != 1 {
			t.Errorf("policy %s PATCHed %d times by 50 clicks", p, n)
		}
	}
	if got := e.audit(id); !slices.Equal(got, []string{"requested", "approved", "applying", "applied"}) {
		t.Errorf("audit %v", got)
	}
}

// A policy edited between the plan and the click: no PATCH for it, the
// others applied, and a new request with a fresh plan goes out.
func TestApprovalPolicyChangedE2E(t *testing.T) {
	e := newApprovalEnv(t)
	id, _ := e.request()
	plans := e.plans(id)
	changed := plans[0]
	e.g.Update(exampleTenant, func(tn *graphtest.Tenant) {
		for _, p := range tn.Policies {
			if p["id"] == changed.PolicyID {
				conds := p["conditions"].(map[string]any)
				users := conds["users"].(map[string]any)
				users["excludeGuestsOrExternalUsers"] = map[string]any{
					"guestOrExternalUserTypes": "internalGuest",
					"externalTenants":          map[string]any{"@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants", "membershipKind": "all"},
				}
				p["modifiedDateTime"] = "2026-11-02T10:00:00Z"
			}
		}
	})
	e.click(custAdmin, "approve_request", id)
	report := e.thread("edited since the plan")
	if !strings.Contains(report.Text(), "a new request with a fresh plan goes to the approvers") {
		t.Errorf("report:\n%s", report.Text())
	}
	e.waitState(id, approval.StateApplied)
	patches := e.patches()
	if patches[changed.PolicyID] != 0 || len(patches) != len(plans)-1 {
		t.Errorf("PATCHes %v: none for the changed policy, one for each other", patches)
	}
	dm := e.post(func(c slacktest.Call) bool { v, ok := button(c, "approve_request"); return ok && v != id })
	newID, _ := button(dm, "approve_request")
	fresh := e.plans(newID)
	if len(fresh) != 1 || fresh[0].PolicyID != changed.PolicyID || !fresh[0].After.Excludes(examplePartner) || !fresh[0].After.HasType("internalGuest") {
		t.Errorf("the fresh plan: %+v", fresh)
	}
	// The fresh request applies cleanly.
	e.click(custAdmin2, "approve_request", newID)
	e.waitState(newID, approval.StateApplied)
	if n := e.patches()[changed.PolicyID]; n != 1 {
		t.Errorf("the changed policy PATCHed %d times after its own approval", n)
	}
}

// Self-approval and outsiders are refused without a PATCH; Reject closes
// the request with the reason in the thread.
func TestApprovalRefusedAndRejectedE2E(t *testing.T) {
	e := newApprovalEnv(t)
	e.command(botAdmin, "approvers contoso.example add "+engineer)
	e.whisper("<@" + engineer + "> can now approve")
	id, _ := e.request()
	e.click(engineer, "approve_request", id)
	e.whisper("cannot approve or reject it yourself")
	e.click(outsider, "approve_request", id)
	e.whisper("you are not one")
	e.click(outsider, "reject_request", id)
	// Clicks are answered asynchronously: let the three refusals be
	// recorded before the real rejection, whose record must come last.
	for deadline := time.Now().Add(5 * time.Second); countOf(e.audit(id), "refused") < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("audit %v: the outsider's Reject was not refused", e.audit(id))
		}
	}
	if got := e.request0(id).State; got != approval.StatePending {
		t.Errorf("state %s after refused clicks", got)
	}

	e.click(custAdmin, "reject_request", id)
	if _, err := e.slack.WaitCalls(t.Context(), 1, "views.open"); err != nil {
		t.Fatal(err)
	}
	e.deliver("/slack/interactions", slacktest.InteractionBody(e.slack.ViewSubmission(custAdmin, "reject_request", id,
		map[string]map[string]string{"reason": {"reason_input": "Change freeze until Monday"}})))
	post := e.thread("rejected the request")
	if !strings.Contains(post.Text(), "Change freeze until Monday") {
		t.Errorf("the thread lacks the reason:\n%s", post.Text())
	}
	e.waitState(id, approval.StateRejected)
	// The old DM cannot approve it now.
	e.click(custAdmin2, "approve_request", id)
	e.whisper("rejected by <@" + custAdmin + ">")
	if p := e.patches(); len(p) != 0 {
		t.Errorf("PATCHes %v", p)
	}
	got := e.audit(id)
	if countOf(got, "refused") != 3 || got[len(got)-1] != "rejected" {
		t.Errorf("audit %v", got)
	}
}

func countOf(xs []string, x string) int {
	n := 0
	for _, s := range xs {
		if s == x {
			n++
		}
	}
	return n
}

// Expiry: the request closes, the thread is told, and the old message
// cannot revive it.
func TestApprovalExpiryE2E(t *testing.T) {
	e := newApprovalEnv(t)
	id, _ := e.request()
	e.clock.Advance(25 * time.Hour)
	e.thread("expired without a decision")
	e.waitState(id, approval.StateExpired)
	e.click(custAdmin, "approve_request", id)
	e.whisper("expired without a decision")
	if p := e.patches(); len(p) != 0 {
		t.Errorf("PATCHes %v", p)
	}
}

// Kill and restart: a request left applying after one PATCH landed is
// reconciled by the next bot on the same database from the policies
// themselves (no write), reported in the thread, and Retry writes only the
// rest.
func TestApprovalRestartReconcilesE2E(t *testing.T) {
	e := newApprovalEnv(t)
	id, _ := e.request()
	plans := e.plans(id)
	if len(plans) < 2 {
		t.Fatalf("the example needs at least 2 changes, has %d", len(plans))
	}
	// The dead bot had approved, started applying and PATCHed the first
	// policy (through Graph, as it would have).
	ctx := context.Background()
	now := e.clock.Now()
	dead := &approval.Lease{Holder: "killed", Until: now.Add(30 * time.Second)}
	for _, tr := range []approval.Transition{
		{From: approval.StatePending, To: approval.StateApproved, By: custAdmin, At: now, Lease: dead},
		{From: approval.StateApproved, To: approval.StateApplying, By: custAdmin, At: now, Lease: dead},
	} {
		if _, err := e.st.Transition(ctx, id, tr); err != nil {
			t.Fatal(err)
		}
	}
	gc, err := loadGraphConfig(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	graph, err := graphclient.New(gc, graphclient.WithHTTPClient(e.g.Client()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := graph.Apply(ctx, exampleTenant, plans[0]); err != nil {
		t.Fatal(err)
	}
	before := e.patches()

	e.clock.Advance(10 * time.Minute)
	e.restart()
	e.thread("was interrupted while applying")
	report := e.thread("ca-check stopped before this policy was changed")
	if !strings.Contains(report.Text(), diagnose.EscapeMrkdwn(plans[0].DisplayName)+"*: now excludes") {
		t.Errorf("the reconciled report:\n%s", report.Text())
	}
	e.waitState(id, approval.StateFailed)
	if after := e.patches(); !mapsEqual(before, after) {
		t.Errorf("reconciliation PATCHed: %v → %v", before, after)
	}
	e.click(custAdmin, "retry_request", id)
	e.thread("retry your sign-in now")
	e.waitState(id, approval.StateApplied)
	for _, p := range plans {
		if n := e.patches()[p.PolicyID]; n != 1 {
			t.Errorf("policy %q PATCHed %d times in all", p.DisplayName, n)
		}
	}
	want := []string{"requested", "approved", "applying", "failed", "applying", "applied"}
	if got := e.audit(id); !slices.Equal(got, want) {
		t.Errorf("audit %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Revert restores every policy's before-image with one PATCH each, within
// the window, once.
func TestApprovalRevertE2E(t *testing.T) {
	e := newApprovalEnv(t)
	id, _ := e.request()
	plans := e.plans(id)
	e.click(custAdmin, "approve_request", id)
	e.thread("retry your sign-in now")
	e.waitState(id, approval.StateApplied)

	e.command(engineer, "revert "+id)
	e.thread("reverted request")
	e.waitState(id, approval.StateReverted)
	for _, p := range plans {
		if n := e.patches()[p.PolicyID]; n != 2 {
			t.Errorf("policy %q: %d PATCHes, want the apply and the revert", p.DisplayName, n)
		}
		if got := e.exclusion(p.PolicyID); !got.Equal(p.Before) {
			t.Errorf("policy %q after revert: %s, want %s", p.DisplayName, diagnose.DescribeExclusion(got), diagnose.DescribeExclusion(p.Before))
		}
	}
	e.click(custAdmin, "revert_request", id)
	e.whisper("Only an applied request can be reverted")
	if got := e.audit(id); got[len(got)-1] != "reverted" {
		t.Errorf("audit %v", got)
	}
}

// CACHECK_APPROVER_VERIFY=graph: at the click, the approver's Slack email
// (users.info) must be a user of the tenant with an active admin role
// (Graph users and role assignments); an approver without one is refused.
func TestApprovalGraphVerifiedE2E(t *testing.T) {
	e := newApprovalEnv(t, func(c *bot.Config) { c.ApproverVerify = bot.VerifyGraph })
	e.g.Update(exampleTenant, func(tn *graphtest.Tenant) {
		tn.Users = []map[string]any{
			{"id": "11111111-aaaa-4000-8000-000000000001", "userPrincipalName": "ca.admin@contoso.example", "mail": "ca.admin@contoso.example"},
			{"id": "11111111-aaaa-4000-8000-000000000002", "userPrincipalName": "helpdesk@contoso.example", "mail": "helpdesk@contoso.example"},
		}
		tn.RoleAssignments = []map[string]any{
			{"id": "ra-1", "principalId": "11111111-aaaa-4000-8000-000000000001", "roleDefinitionId": "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", "directoryScopeId": "/"}, // Conditional Access Administrator
			{"id": "ra-2", "principalId": "11111111-aaaa-4000-8000-000000000002", "roleDefinitionId": "729827e3-9c14-49f7-bb1b-9608f156bbb8", "directoryScopeId": "/"}, // Helpdesk Administrator
		}
	})
	e.slack.AddUser(slack.User{ID: custAdmin, TeamID: "T0CONTOSO", Profile: slack.UserProfile{Email: "ca.admin@contoso.example"}})
	e.slack.AddUser(slack.User{ID: custAdmin2, TeamID: "T0CONTOSO", Profile: slack.UserProfile{Email: "helpdesk@contoso.example"}})
	id, _ := e.request()
	e.click(custAdmin2, "approve_request", id)
	e.whisper("is not an active Global, Security or Conditional Access Administrator")
	if p := e.patches(); len(p) != 0 {
		t.Errorf("a refused approver's click PATCHed %v", p)
	}
	e.click(custAdmin, "approve_request", id)
	e.thread("retry your sign-in now")
	e.waitState(id, approval.StateApplied)
	if n := len(e.g.GraphRequests(http.MethodGet, "/roleManagement/directory/roleAssignments")); n < 2 {
		t.Errorf("%d role assignment reads: the roles were not checked at each click", n)
	}
}

// serve wires approvals: through the real command, in Socket Mode, an
// approval DMs the approver and Approve PATCHes the tenant.
func TestServeApprovals(t *testing.T) {
	g := newGraph(t)
	fake, logs := startServe(t, g, map[string]string{"CACHECK_ADMIN_USERS": botAdmin})
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if _, err := fake.SlashCommand(wctx, slack.SlashCommand{ChannelID: channel, UserID: botAdmin, Text: "approvers contoso.example add <@" + custAdmin + ">"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fake.SlashCommand(wctx, slack.SlashCommand{ChannelID: channel, UserID: engineer, Text: "contoso.example"}); err != nil {
		t.Fatal(err)
	}
	calls, err := fake.WaitCalls(wctx, 1, "chat.postMessage")
	if err != nil {
		t.Fatalf("%v; logs:\n%s", err, logs)
	}
	diag, _ := button(calls[0], "request_approval")
	if _, err := fake.Interaction(wctx, fake.BlockAction(engineer, channel, "1700000000.000001", "", "", "request_approval", diag)); err != nil {
		t.Fatal(err)
	}
	calls, err = fake.WaitCalls(wctx, 3, "chat.postMessage") // the answer, the DM, the thread's note
	if err != nil {
		t.Fatalf("%v; logs:\n%s", err, logs)
	}
	i := slices.IndexFunc(calls, func(c slacktest.Call) bool { _, ok := button(c, "approve_request"); return ok })
	if i < 0 {
		t.Fatalf("no DM with Approve; posts: %d; logs:\n%s", len(calls), logs)
	}
	id, _ := button(calls[i], "approve_request")
	if _, err := fake.Interaction(wctx, fake.BlockAction(custAdmin, calls[i].Arg("channel"), "1700000000.000002", "", "", "approve_request", id)); err != nil {
		t.Fatal(err)
	}
	for {
		calls, err := fake.WaitCalls(wctx, len(fake.Calls("chat.postMessage"))+1, "chat.postMessage")
		if err != nil {
			t.Fatalf("no report: %v; logs:\n%s", err, logs)
		}
		if strings.Contains(calls[len(calls)-1].Text(), "retry your sign-in now") {
			break
		}
	}
	if n := len(g.GraphRequests(http.MethodPatch, policiesPath)); n == 0 {
		t.Error("Approve sent no PATCH through serve")
	}
}

// /ca-check scan through serve: the River queue over the SQLite store reads
// every GDAP customer through the fake Graph and posts the digest, with a
// Request approval button for the blocked customer, and the CSV.
func TestServeScan(t *testing.T) {
	g := newGraph(t)
	fake, logs := startServe(t, g, nil)
	wctx, wcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer wcancel()
	if _, err := fake.SlashCommand(wctx, slack.SlashCommand{ChannelID: channel, UserID: engineer, Text: "scan"}); err != nil {
		t.Fatal(err)
	}
	up, err := fake.WaitFor(wctx, "files.completeUploadExternal", func(slacktest.Call) bool { return true })
	if err != nil {
		t.Fatalf("no CSV: %v; logs:\n%s", err, logs)
	}
	if up.Arg("channel_id") != channel {
		t.Errorf("CSV shared in %q", up.Arg("channel_id"))
	}
	var digest *slacktest.Call
	for _, c := range fake.Calls("chat.postMessage") {
		if _, ok := button(c, "scan_request_approval"); ok {
			digest = &c
		}
	}
	if digest == nil {
		t.Fatalf("no digest with Request approval; posts: %v; logs:\n%s", fake.Calls("chat.postMessage"), logs)
	}
	if tenant, _ := button(*digest, "scan_request_approval"); tenant != exampleTenant {
		t.Errorf("Request approval names %q, want the blocked customer %s", tenant, exampleTenant)
	}
	files := fake.Calls(slacktest.MethodFileUpload)
	if len(files) != 1 || !strings.Contains(string(files[0].Body), exampleTenant) {
		t.Errorf("CSV upload: %v", files)
	}
}
