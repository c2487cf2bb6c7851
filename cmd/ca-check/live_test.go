package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/bot/slacktest"
	"github.com/cacheck/ca-check/graphclient/graphtest"
	"github.com/cacheck/ca-check/internal/testsupport"
)

const (
	appID        = "0c5e1f2a-3b4c-4d5e-8f60-718293a4b5c6"
	clientSecret = "e2e-client-secret~never-logged"
	botToken     = "xoxb-e2e-bot-token"
	appToken     = "xapp-e2e-app-token"
	channel      = "C0SUPPORT"
	engineer     = "U0ENGINEER"
	// A policy whose name tries to notify the whole channel.
	hostilePolicy = "ffffffff-0000-4000-8000-00000000000f"
)

// newGraph starts the fake Graph with the partner tenant (one GDAP
// relationship) and the example tenant as Contoso, whose export gains a
// blocking policy named "<!channel> …", and points the CACHECK_ Graph
// settings at it.
func newGraph(t *testing.T) *graphtest.Server {
	t.Helper()
	g := graphtest.New(t)
	partner := &graphtest.Tenant{ID: examplePartner, DisplayName: "Partner", Domains: []string{"partner.example"}}
	partner.Relationships = []map[string]any{{
		"id": "rel-contoso", "displayName": "Contoso support", "status": "active",
		"endDateTime": "2099-01-01T00:00:00Z",
		"customer":    map[string]any{"tenantId": exampleTenant, "displayName": "Contoso Ltd"},
		"accessDetails": map[string]any{"unifiedRoles": []map[string]any{
			{"roleDefinitionId": "62e90394-69f5-4237-9190-012177145e10"}, // Global Administrator
		}},
	}}
	contoso := &graphtest.Tenant{ID: exampleTenant, DisplayName: "Contoso Ltd", Domains: []string{"contoso.example"}}
	if err := contoso.LoadDir(exampleDir); err != nil {
		t.Fatal(err)
	}
	contoso.Policies = append(contoso.Policies, map[string]any{
		"id": hostilePolicy, "displayName": "<!channel> block <@U0BOSS> everyone", "state": "enabled",
		"conditions": map[string]any{
			"users":          map[string]any{"includeUsers": []string{"All"}},
			"applications":   map[string]any{"includeApplications": []string{"All"}},
			"clientAppTypes": []string{"all"},
		},
		"grantControls": map[string]any{"operator": "OR", "builtInControls": []string{"block"}},
	})
	g.AddTenant(partner)
	g.AddTenant(contoso)
	for k, v := range map[string]string{
		"CACHECK_PARTNER_TENANT_ID": examplePartner,
		"CACHECK_CLIENT_ID":         appID,
		"CACHECK_CLIENT_SECRET":     clientSecret,
		"CACHECK_GRAPH_URL":         g.GraphURL(),
		"CACHECK_AUTHORITY_HOST":    g.AuthorityHost(),
	} {
		t.Setenv(k, v)
	}
	return g
}

// testVersion is the version live tests give the binary: a test binary has
// no VCS information of its own.
var testVersion = buildVersion{Version: "v0.9.0", Commit: "0123456789abcdef0123456789abcdef01234567", Time: "2026-12-01T10:00:00Z", Go: "go1.26"}

func liveCLI(g *graphtest.Server) (*cli, *bytes.Buffer, *testsupport.SyncBuffer) {
	var out bytes.Buffer
	errb := &testsupport.SyncBuffer{}
	return &cli{stdin: strings.NewReader(""), stdout: &out, stderr: errb, graphTransport: g.Client().Transport, version: testVersion}, &out, errb
}

// checkUserAgent fails unless every request g saw, to Entra ID and to
// Graph, says it came from this ca-check first.
func checkUserAgent(t *testing.T, g *graphtest.Server) {
	t.Helper()
	want := testVersion.UserAgent() + " "
	reqs := g.Requests()
	if len(reqs) == 0 {
		t.Fatal("no request reached the fake Graph")
	}
	entra := 0
	for _, r := range reqs {
		if !strings.HasPrefix(r.Path, "/v1.0/") {
			entra++
		}
		if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, want) {
			t.Errorf("%s %s: User-Agent %q, want it to start with %q", r.Method, r.Path, ua, want)
		}
	}
	if entra == 0 {
		t.Error("no token request was seen: the check covers Graph alone")
	}
}

// diagnose --tenant reads the tenant through Graph and prints the same JSON
// as offline, with the tenant and the GDAP relationship; it only reads.
func TestDiagnoseLive(t *testing.T) {
	g := newGraph(t)
	c, out, errb := liveCLI(g)
	status := run(t.Context(), []string{"diagnose", "--tenant", "contoso.example", "--error-file", exampleDir + "/error.txt", "--json"}, c)
	if status != 0 {
		t.Fatalf("status %d: %s", status, errb)
	}
	var d struct {
		Verdict      string
		Confirmed    bool
		Tenant       struct{ ID string }
		Relationship struct{ Status string }
		Policies     []struct{ ID, Effect string }
	}
	if err := json.Unmarshal(out.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if d.Verdict != "blocked" || !d.Confirmed || d.Tenant.ID != exampleTenant || d.Relationship.Status != "active" {
		t.Errorf("verdict %q confirmed %v tenant %q relationship %q", d.Verdict, d.Confirmed, d.Tenant.ID, d.Relationship.Status)
	}
	var hostile string
	for _, p := range d.Policies {
		if p.ID == hostilePolicy {
			hostile = p.Effect
		}
	}
	if hostile != "blocks" {
		t.Errorf("the block-all policy: effect %q, want blocks", hostile)
	}
	if n := len(g.GraphRequests(http.MethodPatch, "")); n != 0 {
		t.Errorf("a diagnosis sent %d PATCH requests", n)
	}
	if strings.Contains(errb.String(), clientSecret) {
		t.Error("stderr shows the client secret")
	}
	checkUserAgent(t, g)
	// stderr is no terminal here: nothing said about the steps.
	if errb.String() != "" {
		t.Errorf("stderr %q, want nothing", errb)
	}
}

// At a terminal, a live command says each step once on stderr: the token,
// the reads, What If; stdout holds the result alone.
func TestLiveProgress(t *testing.T) {
	g := newGraph(t)
	c, out, errb := liveCLI(g)
	c.progress = c.stderr
	if status := run(t.Context(), []string{"diagnose", "--tenant", "Contoso Ltd", "--json"}, c); status != 0 {
		t.Fatalf("status %d: %s", status, errb)
	}
	t.Log(errb)
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	for _, w := range []string{
		`ca-check: resolving the tenant "Contoso Ltd"…`,
		"ca-check: getting a token for tenant " + examplePartner + " from 127.0.0.1:",
		"ca-check: reading the partner's GDAP relationships…",
		"ca-check: getting a token for tenant " + exampleTenant,
		"ca-check: reading the Conditional Access policies…",
		"ca-check: reading the named locations…",
		"ca-check: reading the sign-in log…",
		"ca-check: reading the cross-tenant access settings…",
		"ca-check: asking Microsoft's What If evaluation…",
	} {
		n := 0
		for _, l := range lines {
			if strings.HasPrefix(l, w) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d lines start with %q, want 1:\n%s", n, w, errb)
		}
	}
	if !json.Valid(out.Bytes()) {
		t.Errorf("stdout is not the JSON alone:\n%s", out)
	}
}

// The pipe case, as the process sets it up: stderr is a pipe, so a live
// command says nothing but errors there.
func TestLiveQuietInPipe(t *testing.T) {
	g := newGraph(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if isTerminal(w) {
		t.Fatal("a pipe is taken for a terminal")
	}
	var out bytes.Buffer
	c := newCLI(strings.NewReader(""), &out, w)
	c.graphTransport = g.Client().Transport
	status := run(t.Context(), []string{"diagnose", "--tenant", "contoso.example", "--json"}, c)
	w.Close()
	said, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if status != 0 || len(said) != 0 {
		t.Errorf("status %d, stderr %q: want 0 and nothing", status, said)
	}
	if !json.Valid(out.Bytes()) {
		t.Errorf("stdout is not the JSON:\n%s", out.String())
	}
	// What counts as a terminal: a character device, not a file.
	f, err := os.Create(t.TempDir() + "/err.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a regular file is taken for a terminal")
	}
	if dev, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		defer dev.Close()
		if !isTerminal(dev) {
			t.Error("a character device is not taken for a terminal")
		}
	}
}

// A network failure is one sentence on stderr: the host, what was being
// done, and what to check.
func TestLiveNetworkFailure(t *testing.T) {
	g := newGraph(t)
	t.Setenv("CACHECK_AUTHORITY_HOST", "https://127.0.0.1:1/")
	t.Setenv("CACHECK_GRAPH_MAX_RETRIES", "0")
	c, _, errb := liveCLI(g)
	status := run(t.Context(), []string{"tenants"}, c)
	msg := strings.TrimSpace(errb.String())
	t.Log(msg)
	if status != 1 || strings.Contains(msg, "\n") {
		t.Fatalf("status %d, want 1 and one line:\n%s", status, msg)
	}
	for _, w := range []string{"could not reach Entra ID at 127.0.0.1:1 to read", "connection refused; check that 127.0.0.1:1 is the right address", "CACHECK_AUTHORITY_HOST"} {
		if !strings.Contains(msg, w) {
			t.Errorf("%q does not say %q", msg, w)
		}
	}
}

func TestTenants(t *testing.T) {
	g := newGraph(t)
	c, out, errb := liveCLI(g)
	if status := run(t.Context(), []string{"tenants"}, c); status != 0 {
		t.Fatalf("status %d: %s", status, errb)
	}
	for _, w := range []string{"Contoso Ltd", exampleTenant, "active", "2099-01-01"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("tenants output does not show %q:\n%s", w, out)
		}
	}
}

// startServe runs 'ca-check serve' in Socket Mode against g and a new fake
// Slack, configured as the README says plus env, and returns once the bot
// has connected. At cleanup it stops serve and checks that it exited 0 and
// logged no secret and no pasted text.
func startServe(t *testing.T, g *graphtest.Server, env map[string]string) (*slacktest.Server, *testsupport.SyncBuffer) {
	t.Helper()
	fake := slacktest.New()
	t.Cleanup(fake.Close)
	for k, v := range map[string]string{
		"CACHECK_SLACK_BOT_TOKEN": botToken,
		"CACHECK_SLACK_APP_TOKEN": appToken,
		"CACHECK_SLACK_API_URL":   fake.APIURL,
		"CACHECK_DB":              t.TempDir() + "/ca-check.db",
		"CACHECK_HEALTH_ADDR":     "127.0.0.1:0",
	} {
		t.Setenv(k, v)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	os.Unsetenv("CACHECK_HTTP_ADDR")
	c, _, logs := liveCLI(g)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, c) }()
	t.Cleanup(func() {
		cancel()
		select {
		case status := <-done:
			if status != 0 {
				t.Errorf("serve exited %d after a shutdown; logs:\n%s", status, logs)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop after its context was cancelled")
		}
		for _, secret := range []string{clientSecret, botToken, appToken, "Access has been blocked"} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the logs contain %q", secret)
			}
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := fake.WaitConnected(wctx); err != nil {
		t.Fatalf("the bot did not open a Socket Mode connection: %v; logs:\n%s", err, logs)
	}
	return fake, logs
}

// The README's main command, end to end: 'ca-check serve' in Socket Mode
// (the default) against the fake Slack and the fake Graph, with the
// embedded SQLite store. A slash command is acked and answered with the
// blocking policies, hostile names escaped; a paste in a thread of a linked
// channel gets one threaded answer however often Slack delivers it.
func TestServeEndToEnd(t *testing.T) {
	g := newGraph(t)
	fake, logs := startServe(t, g, map[string]string{"CACHECK_LOG_LEVEL": "debug"})
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()

	// At start, before any question, the bot reads the partner's GDAP
	// relationships: the partner's token and list are warm for the first one.
	for len(g.GraphRequests(http.MethodGet, "/tenantRelationships/delegatedAdminRelationships")) == 0 {
		select {
		case <-wctx.Done():
			t.Fatalf("serve did not list the GDAP customers at start; logs:\n%s", logs)
		case <-time.After(10 * time.Millisecond):
		}
	}

	ack, err := fake.SlashCommand(wctx, slack.SlashCommand{ChannelID: channel, UserID: engineer, Text: "contoso.example"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ack.Payload), "contoso.example") {
		t.Errorf("ack = %s", ack.Payload)
	}
	calls, err := fake.WaitCalls(wctx, 1, "chat.postMessage")
	if err != nil {
		t.Fatalf("%v; logs:\n%s", err, logs)
	}
	answer := calls[0]
	text := answer.Text()
	for _, w := range []string{"Block access outside trusted locations", "Require Duo MFA", "&lt;!channel&gt; block &lt;@U0BOSS&gt; everyone"} {
		if !strings.Contains(text, w) {
			t.Errorf("the answer does not show %q:\n%s", w, text)
		}
	}
	if strings.Contains(string(answer.Body), "<!channel>") || strings.Contains(string(answer.Body), "<@U0BOSS>") {
		t.Error("a policy name reached Slack unescaped")
	}
	if answer.Arg("channel") != channel {
		t.Errorf("answered in %q, want the command's channel", answer.Arg("channel"))
	}
	if n := len(g.GraphRequests(http.MethodPatch, "")); n != 0 {
		t.Errorf("a diagnosis sent %d PATCH requests", n)
	}

	// Link the channel, then paste the error in a thread, twice (Slack
	// retries deliveries): one answer, in that thread, confirmed by the
	// sign-in log through the paste's correlation ID.
	if _, err := fake.SlashCommand(wctx, slack.SlashCommand{ChannelID: channel, UserID: engineer, Text: "link contoso.example"}); err != nil {
		t.Fatal(err)
	}
	calls, err = fake.WaitCalls(wctx, 2, "chat.postMessage")
	if err != nil {
		t.Fatalf("no answer to link: %v", err)
	}
	if !strings.Contains(calls[1].Text(), "linked this channel to *Contoso Ltd (contoso.example)*") {
		t.Errorf("link answered %q", calls[1].Text())
	}
	paste, err := os.ReadFile(exampleDir + "/error.txt")
	if err != nil {
		t.Fatal(err)
	}
	msg := slacktest.Message(channel, engineer, "1700000900.000200", "1700000900.000100", string(paste))
	for range 2 {
		if _, err := fake.Event(wctx, "EvPaste1", msg); err != nil {
			t.Fatal(err)
		}
	}
	calls, err = fake.WaitCalls(wctx, 3, "chat.postMessage")
	if err != nil {
		t.Fatalf("%v; logs:\n%s", err, logs)
	}
	threaded := calls[2]
	if threaded.Arg("thread_ts") != "1700000900.000100" {
		t.Errorf("paste answered with thread_ts %q, want the thread", threaded.Arg("thread_ts"))
	}
	if !strings.Contains(threaded.Text(), "7d2c4b91-3f5e-4a8b-b1c6-0e9f2a4d6c83") {
		t.Errorf("the threaded answer does not use the paste's correlation ID:\n%s", threaded.Text())
	}
	// Whatever else comes, no second answer to the paste.
	time.Sleep(300 * time.Millisecond)
	if n := len(fake.Calls("chat.postMessage")); n != 3 {
		t.Errorf("%d messages posted, want 3 (the command's, the link's and the paste's)", n)
	}

	// Slack, Graph and the logs know which ca-check this is.
	for _, c := range fake.Calls() {
		if ua := c.Header.Get("User-Agent"); ua != testVersion.UserAgent() {
			t.Errorf("Slack's %s: User-Agent %q, want %q", c.Method, ua, testVersion.UserAgent())
		}
	}
	checkUserAgent(t, g)
	if !strings.Contains(logs.String(), `"msg":"ca-check","version":"v0.9.0","commit":"`+testVersion.Commit+`","commit_time":"2026-12-01T10:00:00Z"`) {
		t.Errorf("no start-up line with the version in the logs:\n%s", logs)
	}
}
