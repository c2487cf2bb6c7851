package bot_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/bot"
	"github.com/cacheck/ca-check/bot/slacktest"
	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/internal/testsupport"
)

// deadLease is the lease of a process that died at t.
func deadLease(t time.Time) *approval.Lease {
	return &approval.Lease{Holder: "dead", Until: t.Add(30 * time.Second)}
}

// applyingByDeadProcess moves request id to applying, approved at "at" by
// a process that then died (its lease lapses 30 s later), followed by
// then: the transitions that process made before dying.
func (a *approvals) applyingByDeadProcess(id string, at time.Time, then ...approval.Transition) {
	a.t.Helper()
	steps := append([]approval.Transition{
		{From: approval.StatePending, To: approval.StateApproved, By: approver, At: at, Lease: deadLease(at)},
		{From: approval.StateApproved, To: approval.StateApplying, By: approver, At: at, Lease: deadLease(at)},
	}, then...)
	for _, tr := range steps {
		if _, err := a.store.Transition(context.Background(), id, tr); err != nil {
			a.t.Fatal(err)
		}
	}
}

// People of the approval tests.
const (
	admin     = "U0ADMIN"   // a ca-check admin of the partner
	approver  = "U0CUSTADM" // the customer's admin, an approver of Contoso
	approver2 = "U0CUSTADM2"
	stranger  = "U0STRANGER"
	// fabrikamAdmin approves Fabrikam's requests, not Contoso's.
	fabrikamAdmin = "U0FABADM"
	linkedChan    = "C0CONTOSO"
)

// fakeChanger is the Graph side of approvals over the fake diagnoser's
// fixtures: a write changes what the diagnoser reads next, as in a tenant.
// It counts the writes per policy, which is what "exactly one PATCH" means.
type fakeChanger struct {
	d *fakeDiagnoser

	mu      sync.Mutex
	writes  map[string]int   // policy ID → PATCHes
	reverts map[string]int   // policy ID → reverting PATCHes
	fail    map[string]error // policy ID → the next Apply's error
	// landFail makes the next Apply of the policy write and then fail, as
	// a PATCH that Graph applied but whose answer or read-back was lost.
	landFail map[string]error
	// revertFail is the next Revert's error per policy; onRevert, when
	// set, sees each Revert before it writes.
	revertFail map[string]error
	onRevert   func(policyID string)
	admins     map[string]bool // email → has an admin role
}

func newFakeChanger(d *fakeDiagnoser) *fakeChanger {
	return &fakeChanger{d: d, writes: map[string]int{}, reverts: map[string]int{}, fail: map[string]error{}, landFail: map[string]error{}, revertFail: map[string]error{}, admins: map[string]bool{}}
}

func (c *fakeChanger) Apply(ctx context.Context, tenantID string, plan diagnose.Plan) (diagnose.Change, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.fail[plan.PolicyID]; err != nil {
		delete(c.fail, plan.PolicyID)
		return diagnose.Change{}, err
	}
	current := c.d.exclusion(tenantID, plan.PolicyID)
	if !current.Equal(plan.Before) {
		return diagnose.Change{}, diagnose.Errorf(diagnose.ECONFLICT, "policy %q changed since the plan: nothing was written", plan.DisplayName)
	}
	c.writes[plan.PolicyID]++
	c.d.setExclusion(plan.PolicyID, plan.After)
	n := c.writes[plan.PolicyID] + c.reverts[plan.PolicyID]
	if err := c.landFail[plan.PolicyID]; err != nil {
		delete(c.landFail, plan.PolicyID)
		return diagnose.Change{PolicyID: plan.PolicyID, DisplayName: plan.DisplayName, Before: current, After: current}, err
	}
	return diagnose.Change{PolicyID: plan.PolicyID, DisplayName: plan.DisplayName, Before: current, After: plan.After, Effect: diagnose.EffectExcluded,
		RequestIDs: []string{fmt.Sprintf("patch-%s-%d", plan.PolicyID[len(plan.PolicyID)-1:], n), "get-1"}}, nil
}

func (c *fakeChanger) Revert(ctx context.Context, tenantID, policyID string, before, wrote *diagnose.GuestsOrExternalUsers) (diagnose.Change, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.revertFail[policyID]; err != nil {
		delete(c.revertFail, policyID)
		return diagnose.Change{}, err
	}
	current := c.d.exclusion(tenantID, policyID)
	if current.Equal(before) {
		return diagnose.Change{PolicyID: policyID, Before: current, After: current, NoChange: true}, nil
	}
	if !current.Equal(wrote) {
		return diagnose.Change{}, diagnose.Errorf(diagnose.ECONFLICT, "its exclusion is no longer the one ca-check wrote")
	}
	if c.onRevert != nil {
		c.onRevert(policyID)
	}
	c.reverts[policyID]++
	c.d.setExclusion(policyID, before)
	return diagnose.Change{PolicyID: policyID, Before: current, After: before, RequestIDs: []string{"revert-" + policyID}}, nil
}

func (c *fakeChanger) IsApprover(ctx context.Context, tenantID, email string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.admins[email], nil
}

func (c *fakeChanger) counts() (writes, reverts map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps(c.writes), maps(c.reverts)
}

func maps(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// approvals is a bot with approvals enabled, Contoso's approvers set up, and
// a diagnosis of Contoso in the support channel.
type approvals struct {
	*harness
	changer   *fakeChanger
	clock     *testsupport.Clock
	answerTS  string // the diagnosis answer
	diagValue string // its buttons' value
}

func startApprovals(t testing.TB, opts ...harnessOption) *approvals {
	t.Helper()
	clk := testsupport.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	var ch *fakeChanger
	// The changer needs the harness's diagnoser, which launch makes: the
	// option captures it.
	capture := func(c *bot.Config, d *fakeDiagnoser) {
		ch = newFakeChanger(d)
		c.AdminUsers = []string{admin}
	}
	proxy := &changerProxy{}
	st, path := openStore(t)
	h := launch(t, st, nil, []bot.Option{bot.WithApprovals(proxy, st), bot.WithClock(clk.Now), bot.WithApprovalSweep(20 * time.Millisecond)},
		append([]harnessOption{capture}, opts...)...)
	h.dbPath = path
	proxy.set(ch)
	a := &approvals{harness: h, changer: ch, clock: clk}
	for _, u := range []string{approver, approver2, engineer} {
		if err := h.store.AddApprover(context.Background(), contosoID, u, admin, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	h.command("contoso.com")
	answer := h.wait(1, "chat.postMessage")[0]
	btn, _ := answer.Button("request_approval")
	if btn == nil {
		t.Fatal("no Request approval button")
	}
	a.answerTS, a.diagValue = "1700000000.000001", btn.Value
	return a
}

// changerProxy lets the bot be built before the fake changer exists.
type changerProxy struct {
	mu sync.Mutex
	c  approval.Changer
}

func (p *changerProxy) set(c approval.Changer) { p.mu.Lock(); p.c = c; p.mu.Unlock() }
func (p *changerProxy) get() approval.Changer  { p.mu.Lock(); defer p.mu.Unlock(); return p.c }
func (p *changerProxy) Apply(ctx context.Context, t string, plan diagnose.Plan) (diagnose.Change, error) {
	return p.get().Apply(ctx, t, plan)
}
func (p *changerProxy) Revert(ctx context.Context, t, id string, b, w *diagnose.GuestsOrExternalUsers) (diagnose.Change, error) {
	return p.get().Revert(ctx, t, id, b, w)
}
func (p *changerProxy) IsApprover(ctx context.Context, t, e string) (bool, error) {
	return p.get().IsApprover(ctx, t, e)
}

// request clicks Request approval as the engineer and returns the request
// ID from the first approver DM, and the DM.
func (a *approvals) request() (string, slacktest.Call) {
	a.t.Helper()
	a.interact(a.slack.BlockAction(engineer, channel, a.answerTS, "", "", "request_approval", a.diagValue))
	dm := a.waitPost(func(c slacktest.Call) bool { return strings.HasPrefix(c.Arg("channel"), "D") })
	a.threadPost("Waiting for") // every approver has been told
	btn, _ := dm.Button("approve_request")
	if btn == nil {
		a.t.Fatalf("the DM has no Approve button:\n%s", dm.Text())
	}
	return btn.Value, dm
}

// applied makes a request, has the customer's admin approve it, and waits
// until the thread is told it was applied; it returns the request's ID.
func (a *approvals) applied() string {
	a.t.Helper()
	id, _ := a.request()
	a.click(approver, "approve_request", id)
	a.threadPost("retry your sign-in now")
	a.waitState(id, approval.StateApplied)
	return id
}

// waitPost waits for a chat.postMessage matching ok.
func (a *approvals) waitPost(ok func(slacktest.Call) bool) slacktest.Call {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := a.slack.WaitFor(ctx, "chat.postMessage", ok)
	if err != nil {
		a.t.Fatalf("no matching message: %v; posts: %v", err, texts(a.slack.Calls("chat.postMessage")))
	}
	return c
}

// threadPost waits for a message in the diagnosis thread containing want.
func (a *approvals) threadPost(want string) slacktest.Call {
	a.t.Helper()
	return a.waitPost(func(c slacktest.Call) bool {
		return c.Arg("channel") == channel && c.Arg("thread_ts") == a.answerTS && strings.Contains(c.Text(), want)
	})
}

// whisperTo waits for a private answer (response URL) containing want.
func (a *approvals) whisperTo(want string) slacktest.Call {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := a.slack.WaitFor(ctx, slacktest.MethodResponseURL, func(c slacktest.Call) bool { return strings.Contains(c.Text(), want) })
	if err != nil {
		a.t.Fatalf("no private answer with %q: %v; got %v", want, err, texts(a.slack.Calls(slacktest.MethodResponseURL)))
	}
	return c
}

func (a *approvals) click(user, action, requestID string) {
	a.t.Helper()
	a.interact(a.slack.BlockAction(user, "D"+user, "1700000000.000900", "", "", action, requestID))
}

func (a *approvals) state(id string) approval.Request {
	a.t.Helper()
	r, err := a.store.Request(context.Background(), id)
	if err != nil {
		a.t.Fatal(err)
	}
	return r
}

// waitState waits until the request is in state s.
func (a *approvals) waitState(id string, s approval.State) approval.Request {
	a.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if r := a.state(id); r.State == s {
			return r
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.t.Fatalf("request %s is %s, want %s", id, a.state(id).State, s)
	return approval.Request{}
}

func (a *approvals) auditActions(id string) []string {
	a.t.Helper()
	recs, err := a.store.RequestAudit(context.Background(), id)
	if err != nil {
		a.t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Action)
	}
	return out
}

func texts(calls []slacktest.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.Arg("channel") + ": " + c.Text()
	}
	return out
}

func plansOf(t testing.TB, r approval.Request) []diagnose.Plan {
	t.Helper()
	return r.Plans
}

// Approve: the request reaches each approver by DM with the tenant, the
// requester, the reason, each policy's before and after, the expiry and
// Approve (with a confirm dialog) / Reject; the thread says who it waits
// for; Approve writes each policy once, replaces the DMs' buttons with the
// outcome, and reports in the thread.
func TestApprovalApprove(t *testing.T) {
	a := startApprovals(t)
	id, dm := a.request()
	if !validID(id) {
		t.Fatalf("button value %q is not an opaque request ID", id)
	}
	text := dm.Text()
	for _, want := range []string{"Contoso &lt;Ltd&gt;", contosoID, "<@" + engineer + ">", "Why:", "before:", "after:", "Expires", "<!date^",
		// In the admin center's words, the partner by name with its ID.
		"Service provider users of Northwind &lt;MSP&gt; (" + partnerID + ")", "service provider (GDAP) users of *Northwind &lt;MSP&gt;*"} {
		if !strings.Contains(text, want) {
			t.Errorf("the DM lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "serviceProvider") || strings.Contains(text, "excludeGuestsOrExternalUsers") {
		t.Errorf("the DM speaks Graph's enum names to an admin:\n%s", text)
	}
	if head := dm.Texts()[0]; strings.Count(head, contosoID) != 1 {
		t.Errorf("the request names the tenant ID %d times:\n%s", strings.Count(head, contosoID), head)
	}
	if strings.Contains(text, "<!channel>") {
		t.Errorf("the DM carries a raw <!channel> from a policy name")
	}
	if btn, _ := dm.Button("approve_request"); btn.Confirm == nil {
		t.Error("Approve has no confirm dialog")
	}
	if btn, _ := dm.Button("reject_request"); btn == nil || btn.Value != id {
		t.Error("no Reject button carrying the request ID")
	}
	// The engineer asked, so the engineer is not asked to approve.
	opened := map[string]bool{}
	for _, c := range a.wait(2, "conversations.open") {
		opened[c.Arg("users")] = true
	}
	if !opened[approver] || !opened[approver2] || opened[engineer] {
		t.Errorf("DMs opened with %v; want both customer admins and not the requester", opened)
	}
	waiting := a.threadPost("Waiting for")
	if !strings.Contains(waiting.Text(), "<@"+approver+"> (direct message)") {
		t.Errorf("the thread does not say who it waits for:\n%s", waiting.Text())
	}

	a.click(approver, "approve_request", id)
	report := a.threadPost("retry your sign-in now")
	r := a.waitState(id, approval.StateApplied)
	plans := plansOf(t, r)
	rt := report.Text()
	if !strings.Contains(rt, "<@"+approver+"> approved") || !strings.Contains(rt, "Graph request-id `patch-") {
		t.Errorf("the report does not say who approved and what changed:\n%s", rt)
	}
	for _, p := range plans {
		if !strings.Contains(rt, diagnose.EscapeMrkdwn(p.DisplayName)) {
			t.Errorf("the report does not name %q", p.DisplayName)
		}
	}
	if b, _ := report.Button("revert_request"); b == nil || b.Value != id {
		t.Error("the report has no Revert button")
	}
	writes, _ := a.changer.counts()
	if len(writes) != len(plans) || len(plans) == 0 {
		t.Errorf("writes %v for %d plans", writes, len(plans))
	}
	for p, n := range writes {
		if n != 1 {
			t.Errorf("policy %s written %d times", p, n)
		}
	}
	// Both DMs lose their buttons and show the outcome.
	a.settle()
	last := a.slack.Calls("chat.update")
	if len(last) < 2 {
		t.Fatalf("%d DM updates", len(last))
	}
	for _, u := range last {
		if ids := u.ActionIDs(); slices.ContainsFunc(ids, func(s string) bool { return strings.HasPrefix(s, "approve_request") }) {
			t.Errorf("a DM kept its Approve button after the decision: %v", ids)
		}
	}
	if got := last[len(last)-1].Text(); !strings.Contains(got, "Approved by <@"+approver+"> and applied") {
		t.Errorf("the DM's final state:\n%s", got)
	}
	want := []string{"requested", "notified", "notified", "approved", "applying", "applied", "reported"}
	if got := a.auditActions(id); !slices.Equal(got, want) {
		t.Errorf("audit = %v, want %v", got, want)
	}
	if r.DecidedBy != approver {
		t.Errorf("decided by %q", r.DecidedBy)
	}

	// An old message cannot decide again: a second Approve changes nothing.
	a.click(approver2, "approve_request", id)
	a.whisperTo("approved by <@" + approver + "> and applied")
	if w, _ := a.changer.counts(); len(w) != len(plans) || w[plans[0].PolicyID] != 1 {
		t.Errorf("a late click wrote again: %v", w)
	}
}

func validID(s string) bool {
	return len(s) == 32 && strings.Trim(s, "0123456789abcdef") == ""
}

// Reject opens a modal; its submission closes the request with the reason,
// tells the thread and writes nothing.
func TestApprovalReject(t *testing.T) {
	a := startApprovals(t)
	id, _ := a.request()
	a.click(approver, "reject_request", id)
	view := a.wait(1, "views.open")[0]
	if !strings.Contains(view.Arg("view"), `"private_metadata":"`+id+`"`) || view.Arg("trigger_id") != "trigger-"+approver {
		t.Errorf("views.open: %s", view.Arg("view"))
	}
	if a.state(id).State != approval.StatePending {
		t.Error("opening the form rejected the request already")
	}
	a.interact(a.slack.ViewSubmission(approver, "reject_request", id, map[string]map[string]string{"reason": {"reason_input": "We fix it <ourselves>"}}))
	post := a.threadPost("rejected the request")
	if !strings.Contains(post.Text(), "We fix it &lt;ourselves&gt;") || !strings.Contains(post.Text(), "<@"+approver+">") {
		t.Errorf("the thread lacks who rejected and why:\n%s", post.Text())
	}
	r := a.waitState(id, approval.StateRejected)
	if r.DecidedBy != approver {
		t.Errorf("decided by %q", r.DecidedBy)
	}
	if w, _ := a.changer.counts(); len(w) != 0 {
		t.Errorf("a rejection wrote %v", w)
	}
	// Approve after the rejection: told, refused.
	a.click(approver2, "approve_request", id)
	a.whisperTo("rejected by <@" + approver + ">")
	if w, _ := a.changer.counts(); len(w) != 0 {
		t.Errorf("approve after reject wrote %v", w)
	}
}

// Expiry closes the request and tells the thread; an old message cannot
// revive it.
func TestApprovalExpiry(t *testing.T) {
	a := startApprovals(t)
	id, _ := a.request()
	a.clock.Advance(24*time.Hour + time.Second)
	post := a.threadPost("expired without a decision")
	if !strings.Contains(post.Text(), "<@"+engineer+">") {
		t.Errorf("expiry message:\n%s", post.Text())
	}
	a.waitState(id, approval.StateExpired)
	a.click(approver, "approve_request", id)
	a.whisperTo("expired without a decision")
	if w, _ := a.changer.counts(); len(w) != 0 {
		t.Errorf("an expired request was applied: %v", w)
	}
	if got := a.auditActions(id); !slices.Contains(got, "expired") {
		t.Errorf("audit = %v", got)
	}
}

// Only the tenant's approvers decide, never the requester; with graph
// verification, only an approver whose Slack email is an admin of the
// tenant. Every refusal is audited and writes nothing.
func TestApprovalRefusals(t *testing.T) {
	cases := []struct {
		name   string
		opts   []harnessOption
		user   string
		action string
		want   string
	}{
		{"self-approval", nil, engineer, "approve_request", "cannot approve or reject it yourself"},
		{"self-rejection", nil, engineer, "reject_request", "cannot approve or reject it yourself"},
		{"non-approver", nil, stranger, "approve_request", "you are not one"},
		{"ca-check admin is no approver", nil, admin, "approve_request", "you are not one"},
		{"graph: no admin role", []harnessOption{graphVerify}, approver, "approve_request", "is not an active Global, Security or Conditional Access Administrator"},
		{"approver of another tenant", nil, fabrikamAdmin, "approve_request", "you are not one"},
		{"approver of another tenant rejecting", nil, fabrikamAdmin, "reject_request", "you are not one"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := startApprovals(t, c.opts...)
			if err := a.store.AddApprover(context.Background(), fabrikamID, fabrikamAdmin, admin, a.clock.Now()); err != nil {
				t.Fatal(err)
			}
			a.slack.AddUser(slack.User{ID: approver, TeamID: "T0CUSTOMER", Profile: slack.UserProfile{Email: "admin@contoso.com"}})
			id, _ := a.request()
			a.click(c.user, c.action, id)
			a.whisperTo(c.want)
			if r := a.state(id); r.State != approval.StatePending {
				t.Errorf("state %s after a refused click", r.State)
			}
			if w, _ := a.changer.counts(); len(w) != 0 {
				t.Errorf("a refused click wrote %v", w)
			}
			if got := a.auditActions(id); !slices.Contains(got, "refused") {
				t.Errorf("no audit record of the refusal: %v", got)
			}
			if len(a.slack.Calls("views.open")) != 0 {
				t.Error("a refused Reject opened the form")
			}
		})
	}
}

func graphVerify(c *bot.Config, _ *fakeDiagnoser) { c.ApproverVerify = bot.VerifyGraph }

// With graph verification an approver who is an admin of the tenant (by
// their Slack email) approves.
func TestApprovalGraphVerified(t *testing.T) {
	a := startApprovals(t, graphVerify)
	a.slack.AddUser(slack.User{ID: approver, TeamID: "T0CUSTOMER", Profile: slack.UserProfile{Email: "admin@contoso.com"}})
	a.changer.mu.Lock()
	a.changer.admins["admin@contoso.com"] = true
	a.changer.mu.Unlock()
	a.applied()
	if n := len(a.slack.Calls("users.info")); n == 0 {
		t.Error("the approver's email was not read at click time")
	}
}

// 50 clicks at once, from two approvers and as retried deliveries: one
// approval, one write per policy.
func TestApprovalConcurrentClicks(t *testing.T) {
	a := startApprovals(t, workers(8))
	id, _ := a.request()
	var wg sync.WaitGroup
	for i := range 50 {
		user := approver
		if i%2 == 1 {
			user = approver2
		}
		wg.Go(func() { a.click(user, "approve_request", id) })
	}
	wg.Wait()
	a.threadPost("retry your sign-in now")
	r := a.waitState(id, approval.StateApplied)
	a.settle()
	writes, _ := a.changer.counts()
	if len(writes) != len(plansOf(t, r)) {
		t.Errorf("writes %v", writes)
	}
	for p, n := range writes {
		if n != 1 {
			t.Errorf("policy %s written %d times by 50 clicks", p, n)
		}
	}
	if got := a.auditActions(id); countOf(got, "approved") != 1 || countOf(got, "applied") != 1 {
		t.Errorf("audit = %v", got)
	}
	if n := len(a.slack.Calls(slacktest.MethodResponseURL)); n < 40 {
		t.Errorf("%d of the 49 losing clicks were told the request's state", n)
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

// A policy changed between the plan and the click is not written: the
// others are, and the changed one gets a fresh plan in a new request.
func TestApprovalPolicyChanged(t *testing.T) {
	a := startApprovals(t)
	id, _ := a.request()
	plans := plansOf(t, a.state(id))
	if len(plans) < 2 {
		t.Fatalf("the fixture should need at least 2 changes, has %d", len(plans))
	}
	changed := plans[0]
	// Someone excluded internal guests on it meanwhile.
	a.diag.setExclusion(changed.PolicyID, &diagnose.GuestsOrExternalUsers{GuestOrExternalUserTypes: "internalGuest",
		ExternalTenants: &diagnose.ExternalTenants{MembershipKind: diagnose.MembershipAll}})
	a.slack.Reset()
	a.click(approver, "approve_request", id)
	report := a.threadPost("changed ")
	if !strings.Contains(report.Text(), "*not changed*: it was edited since the plan; a new request with a fresh plan goes to the approvers") {
		t.Errorf("report:\n%s", report.Text())
	}
	r := a.waitState(id, approval.StateApplied)
	writes, _ := a.changer.counts()
	if writes[changed.PolicyID] != 0 || len(writes) != len(plans)-1 {
		t.Errorf("writes %v: the changed policy must not be written, the others once", writes)
	}
	// The new request: a fresh plan for the changed policy alone.
	newID, dm := "", slacktest.Call{}
	dm = a.waitPost(func(c slacktest.Call) bool {
		b, _ := c.Button("approve_request")
		return b != nil && b.Value != id
	})
	b, _ := dm.Button("approve_request")
	newID = b.Value
	fresh := plansOf(t, a.state(newID))
	if len(fresh) != 1 || fresh[0].PolicyID != changed.PolicyID || !strings.Contains(diagnose.DescribeExclusion(fresh[0].After), "internalGuest") {
		t.Errorf("new request plans %+v", fresh)
	}
	if !strings.Contains(dm.Text(), "widen") && !strings.Contains(dm.Text(), ":warning:") {
		t.Errorf("the fresh plan widens the exclusion; the DM should say so:\n%s", dm.Text())
	}
	a.waitAudit(id, "replanned")
	if r.DecidedBy != approver {
		t.Errorf("decided by %q", r.DecidedBy)
	}
}

// waitAudit waits for an audit record of the request with the action.
func (a *approvals) waitAudit(id, action string) {
	a.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if slices.Contains(a.auditActions(id), action) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.t.Fatalf("no audit record %q for request %s: %v", action, id, a.auditActions(id))
}

// Every policy changed: nothing is written, the request is superseded.
func TestApprovalAllChangedSupersedes(t *testing.T) {
	a := startApprovals(t)
	id, _ := a.request()
	for _, p := range plansOf(t, a.state(id)) {
		a.diag.setExclusion(p.PolicyID, &diagnose.GuestsOrExternalUsers{GuestOrExternalUserTypes: "b2bCollaborationGuest",
			ExternalTenants: &diagnose.ExternalTenants{MembershipKind: diagnose.MembershipAll}})
	}
	a.click(approver, "approve_request", id)
	a.threadPost("so ca-check wrote nothing")
	a.waitState(id, approval.StateSuperseded)
	if w, _ := a.changer.counts(); len(w) != 0 {
		t.Errorf("wrote %v", w)
	}
}

// Some policies fail: the report names them, and Retry writes only those.
func TestApprovalPartialFailureRetry(t *testing.T) {
	a := startApprovals(t)
	id, _ := a.request()
	plans := plansOf(t, a.state(id))
	bad := plans[len(plans)-1]
	a.changer.mu.Lock()
	a.changer.fail[bad.PolicyID] = diagnose.Errorf(diagnose.EUNAVAILABLE, "Microsoft Graph answered 503")
	a.changer.mu.Unlock()
	a.click(approver, "approve_request", id)
	report := a.threadPost("*failed*")
	if !strings.Contains(report.Text(), "Microsoft Graph answered 503") || !strings.Contains(report.Text(), diagnose.EscapeMrkdwn(bad.DisplayName)) {
		t.Errorf("report:\n%s", report.Text())
	}
	if b, _ := report.Button("retry_request"); b == nil {
		t.Fatal("no Retry button")
	}
	if b, _ := report.Button("revert_request"); b != nil {
		t.Error("a Revert button on a partly applied request, which only Retry can move on")
	}
	a.waitState(id, approval.StateFailed)
	// The requester may not retry; ten concurrent retries write once.
	a.click(engineer, "retry_request", id)
	a.whisperTo("cannot approve or reject it yourself")
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { a.click(approver, "retry_request", id) })
	}
	wg.Wait()
	a.threadPost("retry your sign-in now")
	a.waitState(id, approval.StateApplied)
	writes, _ := a.changer.counts()
	for _, p := range plans {
		if writes[p.PolicyID] != 1 {
			t.Errorf("policy %s written %d times; a retry writes only what failed", p.DisplayName, writes[p.PolicyID])
		}
	}
	if got := a.auditActions(id); countOf(got, "applying") != 2 {
		t.Errorf("audit %v", got)
	}
}

// Revert restores each policy once, within the window, and only once.
func TestApprovalRevert(t *testing.T) {
	a := startApprovals(t)
	id := a.applied()
	plans := plansOf(t, a.state(id))

	a.click(stranger, "revert_request", id)
	a.whisperTo("Only the requester, the approvers")
	a.click(engineer, "revert_request", id)
	post := a.threadPost("reverted request")
	if !strings.Contains(post.Text(), "restored to none") {
		t.Errorf("revert report:\n%s", post.Text())
	}
	a.waitState(id, approval.StateReverted)
	_, reverts := a.changer.counts()
	for _, p := range plans {
		if reverts[p.PolicyID] != 1 {
			t.Errorf("policy %s reverted %d times", p.DisplayName, reverts[p.PolicyID])
		}
		if got := a.diag.exclusion(contosoID, p.PolicyID); !got.Equal(p.Before) {
			t.Errorf("policy %s is %s after revert, want its before-image", p.DisplayName, diagnose.DescribeExclusion(got))
		}
	}
	a.click(engineer, "revert_request", id)
	a.whisperTo("Only an applied request can be reverted")
}

// Revert refuses after the window, and where the exclusion is no longer
// what ca-check wrote.
func TestApprovalRevertRefused(t *testing.T) {
	a := startApprovals(t)
	id := a.applied()
	plans := plansOf(t, a.state(id))

	// Someone edited one policy after ca-check.
	a.diag.setExclusion(plans[0].PolicyID, &diagnose.GuestsOrExternalUsers{GuestOrExternalUserTypes: "internalGuest",
		ExternalTenants: &diagnose.ExternalTenants{MembershipKind: diagnose.MembershipAll}})
	a.click(engineer, "revert_request", id)
	post := a.threadPost("not all of it could be")
	if !strings.Contains(post.Text(), "no longer the one ca-check wrote") {
		t.Errorf("revert report:\n%s", post.Text())
	}
	if r := a.state(id); r.State != approval.StateApplied {
		t.Errorf("state %s after a partial revert", r.State)
	}

	b := startApprovals(t)
	id2, _ := b.request()
	b.click(approver, "approve_request", id2)
	b.threadPost("retry your sign-in now")
	b.waitState(id2, approval.StateApplied)
	b.clock.Advance(8 * 24 * time.Hour)
	b.click(engineer, "revert_request", id2)
	b.whisperTo("revert window of this change ended")
	if _, rv := b.changer.counts(); len(rv) != 0 {
		t.Errorf("reverted after the window: %v", rv)
	}
}

// A crash while applying: the request stays in applying; a new bot on the
// same database reads the policies, settles the request and reports it.
func TestApprovalReconcileAfterRestart(t *testing.T) {
	a := startApprovals(t)
	id, _ := a.request()
	plans := plansOf(t, a.state(id))
	ctx := context.Background()
	// The first bot approved, started applying, wrote the first policy and
	// died.
	now := a.clock.Now()
	dead := deadLease(now)
	if _, err := a.store.Transition(ctx, id, approval.Transition{From: approval.StatePending, To: approval.StateApproved, By: approver, At: now, Lease: dead}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.Transition(ctx, id, approval.Transition{From: approval.StateApproved, To: approval.StateApplying, By: approver, At: now, Lease: dead}); err != nil {
		t.Fatal(err)
	}
	a.diag.setExclusion(plans[0].PolicyID, plans[0].After)
	a.stop()
	if err := <-a.done; err != nil {
		t.Fatal(err)
	}
	a.done <- nil

	// Restarted ten minutes later on the same database.
	clk := testsupport.NewClock(now.Add(10 * time.Minute))
	proxy := &changerProxy{}
	var d2 *fakeDiagnoser
	h2 := launch(t, a.store, a.slack, []bot.Option{bot.WithApprovals(proxy, a.store), bot.WithClock(clk.Now), bot.WithApprovalSweep(20 * time.Millisecond)},
		func(c *bot.Config, d *fakeDiagnoser) {
			d2 = d
			d.override = a.diag.snapshot()
		})
	ch2 := newFakeChanger(d2)
	proxy.set(ch2)
	b := &approvals{harness: h2, changer: ch2, clock: clk, answerTS: a.answerTS}
	b.threadPost("ca-check was interrupted while applying")
	report := b.threadPost("*failed*: ca-check stopped before this policy was changed")
	if !strings.Contains(report.Text(), diagnose.EscapeMrkdwn(plans[0].DisplayName)+"*: now excludes") {
		t.Errorf("the reconciled report should show the first policy applied:\n%s", report.Text())
	}
	b.waitState(id, approval.StateFailed)
	if w, _ := ch2.counts(); len(w) != 0 {
		t.Errorf("reconciliation wrote %v; it must only read", w)
	}
	// An approver retries the rest: only the unwritten policies are written.
	b.click(approver, "retry_request", id)
	b.threadPost("retry your sign-in now")
	b.waitState(id, approval.StateApplied)
	w, _ := ch2.counts()
	if w[plans[0].PolicyID] != 0 || len(w) != len(plans)-1 {
		t.Errorf("retry after reconcile wrote %v", w)
	}
	got := slices.DeleteFunc(b.auditActions(id), func(s string) bool { return s == "notified" || s == "reported" })
	if want := []string{"requested", "approved", "applying", "failed", "applying", "applied"}; !slices.Equal(got, want) {
		t.Errorf("audit = %v, want it to end %v", got, want)
	}
}

// Where Slack refuses the DM, the approver gets an ephemeral message in the
// tenant's linked channel, and the thread says so.
func TestApprovalDMFallback(t *testing.T) {
	a := startApprovals(t)
	if err := a.store.LinkChannel(context.Background(), store.Link{ChannelID: linkedChan, TenantID: contosoID, TenantName: "Contoso", LinkedBy: admin, LinkedAt: a.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	a.slack.FailNext("conversations.open", "invalid_user_combination")
	a.interact(a.slack.BlockAction(engineer, channel, a.answerTS, "", "", "request_approval", a.diagValue))
	eph := a.wait(1, "chat.postEphemeral")[0]
	if eph.Arg("channel") != linkedChan || eph.Arg("user") != approver {
		t.Errorf("ephemeral to %s in %s", eph.Arg("user"), eph.Arg("channel"))
	}
	if b, _ := eph.Button("approve_request"); b == nil {
		t.Error("the ephemeral request has no Approve button")
	}
	post := a.threadPost("Waiting for")
	if !strings.Contains(post.Text(), "Slack refused a direct message") || !strings.Contains(post.Text(), "<#"+linkedChan+">") {
		t.Errorf("the thread does not say which way:\n%s", post.Text())
	}
}

// Approvals need a Changer; without one the button says so.
func TestApprovalNotConfigured(t *testing.T) {
	h := start(t)
	h.command("contoso.com")
	answer := h.wait(1, "chat.postMessage")[0]
	btn, _ := answer.Button("request_approval")
	h.interact(h.slack.BlockAction(engineer, channel, "1700000000.000001", "", "", "request_approval", btn.Value))
	if r := h.wait(1, slacktest.MethodResponseURL)[0]; !strings.Contains(r.Text(), "not configured") {
		t.Errorf("answered %q", r.Text())
	}
}

// /ca-check approvers is for ca-check admins; add, list and remove are
// audited.
func TestApproversCommand(t *testing.T) {
	a := startApprovals(t)
	a.slack.Reset()
	steps := []struct {
		user, text, want string
	}{
		{engineer, "approvers contoso.com add <@U0NEW|new>", "Only ca-check admins"},
		{admin, "approvers contoso.com add <@U0NEW|new>", "<@U0NEW> can now approve changes in Contoso &lt;Ltd&gt;"},
		{admin, "approvers contoso.com list", "<@U0NEW>"},
		{admin, "approvers contoso.com remove U0NEW", "<@U0NEW> can no longer approve"},
		{admin, "approvers contoso.com remove U0NEW", "was not an approver"},
		{admin, "approvers contoso.com add @new", "is not a Slack user I can read"},
		{admin, "approvers nowhere.example add U0NEW", "no customer tenant matches"},
		{admin, "approvers contoso.com", "`/ca-check approvers <tenant> list`"},
		// Approvers are people who can click: not a bot, not a
		// deactivated account.
		{admin, "approvers contoso.com add <@U0BOT|ci-bot>", "cannot approve"},
		{admin, "approvers contoso.com add U0GONE", "cannot approve"},
		{admin, "approvers contoso.com list", "Approvers of Contoso"},
	}
	a.slack.AddUser(slack.User{ID: "U0BOT", IsBot: true, TeamID: slacktest.TeamID})
	a.slack.AddUser(slack.User{ID: "U0GONE", Deleted: true, TeamID: slacktest.TeamID})
	for i, s := range steps {
		a.post("/slack/commands", slacktest.ContentForm,
			a.slack.CommandBody(slack.SlashCommand{ChannelID: channel, UserID: s.user, Text: s.text}), time.Time{})
		got := a.wait(i+1, slacktest.MethodResponseURL)[i]
		if !strings.Contains(got.Text(), s.want) {
			t.Errorf("%s %q answered:\n%s\nwant %q", s.user, s.text, got.Text(), s.want)
		}
	}
	recs, err := a.store.Audit(context.Background(), contosoID, 10)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range recs {
		actions = append(actions, r.Action+":"+r.Actor)
	}
	if !slices.Contains(actions, "approver_add:"+admin) || !slices.Contains(actions, "approver_remove:"+admin) {
		t.Errorf("audit %v", actions)
	}
	if ids, _ := a.store.Approvers(context.Background(), contosoID); slices.Contains(ids, "U0BOT") || slices.Contains(ids, "U0GONE") {
		t.Errorf("approvers %v include a bot or a deactivated account", ids)
	}
}

// /ca-check audit shows who asked, who decided, when, what, and Graph's
// request IDs, to admins and the tenant's approvers only.
func TestAuditCommand(t *testing.T) {
	a := startApprovals(t)
	id := a.applied()
	a.slack.Reset()
	a.post("/slack/commands", slacktest.ContentForm, a.slack.CommandBody(slack.SlashCommand{ChannelID: channel, UserID: stranger, Text: "audit contoso.com"}), time.Time{})
	if got := a.wait(1, slacktest.MethodResponseURL)[0]; !strings.Contains(got.Text(), "Only ca-check admins and that customer's approvers") || strings.Contains(got.Text(), "Contoso") {
		t.Errorf("a stranger read the audit:\n%s", got.Text())
	}
	a.post("/slack/commands", slacktest.ContentForm, a.slack.CommandBody(slack.SlashCommand{ChannelID: channel, UserID: approver, Text: "audit contoso.com"}), time.Time{})
	got := a.wait(2, slacktest.MethodResponseURL)[1].Text()
	for _, want := range []string{"<@" + engineer + "> *requested*", "<@" + approver + "> *approved* (pending → approved)", "*applied* (applying → applied)", "request `" + id[:8] + "`", "Graph request-ids `patch-", "<!date^"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit lacks %q:\n%s", want, got)
		}
	}
}

// reset puts the tenant back as the fixture has it and forgets Slack's
// calls, so that a benchmark's next round plans and writes the same.
func (a *approvals) reset() {
	a.diag.mu.Lock()
	a.diag.override = nil
	a.diag.mu.Unlock()
	a.slack.Reset()
}

// BenchmarkApprovalPath is one whole approval: Request approval (request
// stored, approvers DMed, thread told), Approve (authorised, CAS, every
// policy applied and read back through the Changer, DMs updated, thread
// report), through signed HTTP deliveries, SQLite and the fake Slack.
func BenchmarkApprovalPath(b *testing.B) {
	a := startApprovals(b, workers(8))
	for b.Loop() {
		a.reset()
		id, _ := a.request()
		a.click(approver, "approve_request", id)
		a.threadPost("retry your sign-in now")
	}
}

// BenchmarkApprovalConcurrentClicks is an approval decided by 50 clicks at
// once: one wins the compare-and-swap and applies, 49 are told.
func BenchmarkApprovalConcurrentClicks(b *testing.B) {
	a := startApprovals(b, workers(8))
	for b.Loop() {
		a.reset()
		id, _ := a.request()
		var wg sync.WaitGroup
		for i := range 50 {
			user := approver
			if i%2 == 1 {
				user = approver2
			}
			wg.Go(func() { a.click(user, "approve_request", id) })
		}
		wg.Wait()
		a.threadPost("retry your sign-in now")
		if _, err := a.slack.WaitCalls(context.Background(), 49, slacktest.MethodResponseURL); err != nil {
			b.Fatal(err)
		}
	}
}

// A write that Graph applied but whose answer was lost (a timeout, a failed
// read-back) fails the policy; Retry then finds ca-check's own exclusion in
// place. That is the policy applied, not "edited since the plan": the
// report says so, nothing is written twice, and Revert undoes it too.
func TestApprovalRetryAfterUnconfirmedWrite(t *testing.T) {
	a := startApprovals(t)
	id, _ := a.request()
	plans := plansOf(t, a.state(id))
	lost := plans[len(plans)-1]
	a.changer.mu.Lock()
	a.changer.landFail[lost.PolicyID] = diagnose.Errorf(diagnose.EUNAVAILABLE, "Microsoft Graph did not answer in time")
	a.changer.mu.Unlock()
	a.click(approver, "approve_request", id)
	a.threadPost("*failed*")
	a.waitState(id, approval.StateFailed)

	a.click(approver, "retry_request", id)
	report := a.threadPost("retry your sign-in now")
	a.waitState(id, approval.StateApplied)
	name := "*" + diagnose.EscapeMrkdwn(lost.DisplayName) + "*"
	if !strings.Contains(report.Text(), name+": now excludes") || strings.Contains(report.Text(), "edited since the plan") {
		t.Errorf("the retry's report should show the policy applied:\n%s", report.Text())
	}
	if writes, _ := a.changer.counts(); writes[lost.PolicyID] != 1 {
		t.Errorf("policy written %d times", writes[lost.PolicyID])
	}
	if b, _ := report.Button("revert_request"); b == nil {
		t.Fatal("the report has no Revert button")
	}
	a.click(engineer, "revert_request", id)
	a.threadPost("reverted request")
	a.waitState(id, approval.StateReverted)
	for _, p := range plans {
		if got := a.diag.exclusion(contosoID, p.PolicyID); !got.Equal(p.Before) {
			t.Errorf("policy %s is %s after the revert, want its before-image", p.DisplayName, diagnose.DescribeExclusion(got))
		}
	}
}

// Revert can be tried again when an attempt did not finish: after a
// transient Graph failure, and after a process that died mid-revert (once
// its lease lapsed, the sweep returns the request to applied and says so
// in the thread). Meanwhile a second click is refused. The intent is
// audited before any write, and no policy is written twice.
func TestApprovalRevertAgain(t *testing.T) {
	cases := []struct {
		name string
		// first breaks the first attempt and returns what its click is
		// told; "" for an attempt left unfinished by a crash (no click).
		first func(a *approvals, id string, plans []diagnose.Plan) string
	}{
		{"after a transient failure", func(a *approvals, id string, plans []diagnose.Plan) string {
			a.changer.mu.Lock()
			a.changer.revertFail[plans[0].PolicyID] = diagnose.Errorf(diagnose.EUNAVAILABLE, "Microsoft Graph answered 503")
			a.changer.mu.Unlock()
			a.click(engineer, "revert_request", id)
			return "not all of it could be"
		}},
		{"after a crash mid-revert", func(a *approvals, id string, plans []diagnose.Plan) string {
			// The dead process started reverting (recording its intent)
			// and reverted one policy.
			if _, err := a.store.Transition(context.Background(), id, approval.Transition{From: approval.StateApplied, To: approval.StateReverting,
				By: engineer, At: a.clock.Now(), Lease: deadLease(a.clock.Now())}); err != nil {
				a.t.Fatal(err)
			}
			a.diag.setExclusion(plans[0].PolicyID, plans[0].Before)
			a.click(approver, "revert_request", id)
			a.whisperTo("already being reverted")
			a.clock.Advance(31 * time.Second)
			a.threadPost("was interrupted while reverting")
			a.waitState(id, approval.StateApplied)
			return ""
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := startApprovals(t)
			id := a.applied()
			plans := plansOf(t, a.state(id))
			var audited []string
			a.changer.onRevert = func(string) {
				if !slices.Contains(audited, "reverting") {
					audited = a.auditActions(id)
				}
			}
			if want := c.first(a, id, plans); want != "" {
				a.threadPost(want)
				a.waitAudit(id, "revert_failed")
			}
			if r := a.state(id); r.State != approval.StateApplied {
				t.Fatalf("state %s after an unfinished revert", r.State)
			}
			a.click(engineer, "revert_request", id)
			a.threadPost("reverted request")
			a.waitState(id, approval.StateReverted)
			if !slices.Contains(audited, "reverting") {
				t.Errorf("a policy was reverted before the audit recorded the intent: %v", audited)
			}
			_, reverts := a.changer.counts()
			for _, p := range plans {
				if got := a.diag.exclusion(contosoID, p.PolicyID); !got.Equal(p.Before) {
					t.Errorf("policy %s is %s, want its before-image", p.DisplayName, diagnose.DescribeExclusion(got))
				}
				if reverts[p.PolicyID] > 1 {
					t.Errorf("policy %s reverted %d times", p.DisplayName, reverts[p.PolicyID])
				}
			}
		})
	}
}

// A revert attempt whose audit record could not be written (the database
// refused it) wrote nothing and does not hold the change: the next click
// reverts it, instead of "already being reverted" until the claims expire.
func TestApprovalRevertAfterFailedAudit(t *testing.T) {
	a := startApprovals(t)
	id := a.applied()
	plans := plansOf(t, a.state(id))

	db, err := sql.Open("sqlite", a.dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TRIGGER test_audit_fails BEFORE INSERT ON audit_log WHEN NEW.action = 'reverting'
		BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`); err != nil {
		t.Fatal(err)
	}
	a.click(engineer, "revert_request", id)
	a.whisperTo("Something went wrong on my side")
	if _, reverts := a.changer.counts(); len(reverts) != 0 {
		t.Errorf("reverted %v without an audit record of the intent", reverts)
	}
	if _, err := db.ExecContext(ctx, `DROP TRIGGER test_audit_fails`); err != nil {
		t.Fatal(err)
	}

	a.click(engineer, "revert_request", id)
	a.threadPost("reverted request")
	a.waitState(id, approval.StateReverted)
	_, reverts := a.changer.counts()
	for _, p := range plans {
		if got := a.diag.exclusion(contosoID, p.PolicyID); !got.Equal(p.Before) || reverts[p.PolicyID] != 1 {
			t.Errorf("policy %s is %s after %d reverts, want its before-image after one", p.DisplayName, diagnose.DescribeExclusion(got), reverts[p.PolicyID])
		}
	}
	if got := a.slack.Calls(slacktest.MethodResponseURL); slices.ContainsFunc(texts(got), func(s string) bool { return strings.Contains(s, "already being reverted") }) {
		t.Errorf("a click was told the change is already being reverted: %v", texts(got))
	}
}

// A revert attempt's claim left by an older ca-check (which claimed
// attempts in the claims table, and could die between the claim and its
// record) holds nothing: reverting is now a state of the request, and the
// next click reverts at once.
func TestApprovalRevertAfterStaleClaim(t *testing.T) {
	a := startApprovals(t)
	id := a.applied()
	plans := plansOf(t, a.state(id))

	if first, err := a.store.Claim(context.Background(), "revert:"+id+":0", a.clock.Now()); err != nil || !first {
		t.Fatalf("the dead process's claim: %v, %v", first, err)
	}
	a.click(engineer, "revert_request", id)
	a.threadPost("reverted request")
	a.waitState(id, approval.StateReverted)
	for _, p := range plans {
		if got := a.diag.exclusion(contosoID, p.PolicyID); !got.Equal(p.Before) {
			t.Errorf("policy %s is %s, want its before-image", p.DisplayName, diagnose.DescribeExclusion(got))
		}
	}
}

// A request left applying by a crash, in a tenant ca-check can no longer
// read (consent withdrawn, Graph down for hours), does not stay applying
// for ever: reconciliation keeps trying for a while, then settles what it
// could not check as failed, says why in the thread, and writes nothing.
// Retry re-reads each policy before writing.
func TestApprovalReconcileUnreadableTenant(t *testing.T) {
	a := startApprovals(t)
	id, _ := a.request()
	now := a.clock.Now()
	a.applyingByDeadProcess(id, now)
	a.stop()
	if err := <-a.done; err != nil {
		t.Fatal(err)
	}
	a.done <- nil

	clk := testsupport.NewClock(now.Add(10 * time.Minute))
	proxy := &changerProxy{}
	var d2 *fakeDiagnoser
	h2 := launch(t, a.store, a.slack, []bot.Option{bot.WithApprovals(proxy, a.store), bot.WithClock(clk.Now), bot.WithApprovalSweep(20 * time.Millisecond)},
		func(c *bot.Config, d *fakeDiagnoser) {
			d2 = d
			d.fail[contosoID] = diagnose.Errorf(diagnose.EUNAUTHORIZED, "ca-check has no access to Contoso any more")
		})
	ch2 := newFakeChanger(d2)
	proxy.set(ch2)
	b := &approvals{harness: h2, changer: ch2, clock: clk, answerTS: a.answerTS}
	// It tries, and leaves the request for the next sweep.
	deadline := time.Now().Add(5 * time.Second)
	for d2.diagnoses.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if r := b.state(id); r.State != approval.StateApplying {
		t.Fatalf("state %s after a failed reconciliation, want applying until it gives up", r.State)
	}
	clk.Advance(2 * time.Hour)
	report := b.threadPost("ca-check was interrupted while applying")
	if !strings.Contains(report.Text(), "no access to Contoso any more") {
		t.Errorf("the thread is not told why the request could not be checked:\n%s", report.Text())
	}
	b.waitState(id, approval.StateFailed)
	b.threadPost("*Retry* tries the failed policies again")
	if w, _ := ch2.counts(); len(w) != 0 {
		t.Errorf("reconciliation wrote %v; it must only read", w)
	}
}

// The rejection reason is bounded on the bot's side too (the form's limit,
// 500 characters), whatever the submission carries: it is kept in the audit
// log for ever and shown in the thread.
func TestApprovalRejectReasonBounded(t *testing.T) {
	a := startApprovals(t)
	id, _ := a.request()
	long := strings.Repeat("é", 3000)
	a.interact(a.slack.ViewSubmission(approver, "reject_request", id, map[string]map[string]string{"reason": {"reason_input": long}}))
	a.threadPost("rejected the request")
	a.waitState(id, approval.StateRejected)
	recs, err := a.store.RequestAudit(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Action != string(approval.StateRejected) {
			continue
		}
		var d struct{ Reason string }
		if err := json.Unmarshal(r.Detail, &d); err != nil {
			t.Fatal(err)
		}
		if n := utf8.RuneCountInString(d.Reason); n == 0 || n > 500 {
			t.Errorf("the audit keeps a reason of %d characters, want 1 to 500", n)
		}
	}
}

// A policy name is one line in the approval request and the reports, so
// that a name with line breaks cannot draw lines of its own (a fake
// "after:" that says nothing changes) in the message an admin approves.
func TestApprovalPolicyNameOneLine(t *testing.T) {
	const fake = "*after:* none (nothing changes)"
	rename := func(c *bot.Config, d *fakeDiagnoser) {
		ev := d.evidence[contosoID]
		pols := slices.Clone(ev.Policies)
		for i := range pols {
			pols[i].DisplayName += "\n\n" + fake + "\n"
		}
		ev.Policies = pols
		d.evidence[contosoID] = ev
	}
	a := startApprovals(t, rename)
	id, dm := a.request()
	a.click(approver, "approve_request", id)
	report := a.threadPost("retry your sign-in now")
	for name, text := range map[string]string{"request": dm.Text(), "report": report.Text()} {
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), fake) {
				t.Errorf("the %s has a line drawn by a policy name: %q\n%s", name, line, text)
			}
		}
	}
}

// Every policy changed since the plan and none needs the fix any more (an
// admin excluded the partner by hand): the request is superseded, and the
// approvers' messages do not announce a new request that never comes.
func TestApprovalSupersededNoNewRequest(t *testing.T) {
	a := startApprovals(t)
	id, _ := a.request()
	plans := plansOf(t, a.state(id))
	for _, p := range plans {
		a.diag.setExclusion(p.PolicyID, &diagnose.GuestsOrExternalUsers{GuestOrExternalUserTypes: "serviceProvider",
			ExternalTenants: &diagnose.ExternalTenants{MembershipKind: diagnose.MembershipAll}})
	}
	a.click(approver, "approve_request", id)
	a.threadPost("so ca-check wrote nothing")
	a.waitState(id, approval.StateSuperseded)
	a.settle()
	for _, u := range a.slack.Calls("chat.update") {
		if strings.Contains(u.Text(), "A new request follows") {
			t.Errorf("a DM announces a new request, but none was made:\n%s", u.Text())
		}
	}
	if rs, _ := a.store.PendingFor(context.Background(), contosoID); len(rs) != 0 {
		t.Errorf("%d new requests", len(rs))
	}
}

// A process that dies after settling a request and before reporting it
// leaves the engineer's thread and the approvers' DMs at "applying…": the
// sweep of a later process (or another replica) reports it, once.
func TestApprovalReportAfterRestart(t *testing.T) {
	a := startApprovals(t)
	id, _ := a.request()
	plans := plansOf(t, a.state(id))
	now := a.clock.Now()
	outcomes := make([]approval.Outcome, len(plans))
	for i, p := range plans {
		a.diag.setExclusion(p.PolicyID, p.After)
		outcomes[i] = approval.Outcome{PolicyID: p.PolicyID, DisplayName: p.DisplayName, Status: approval.OutcomeApplied,
			Change: &diagnose.Change{PolicyID: p.PolicyID, Before: p.Before, After: p.After, RequestIDs: []string{"patch-" + p.PolicyID}}}
	}
	// As the apply settles it: its report is due.
	a.applyingByDeadProcess(id, now, approval.Transition{From: approval.StateApplying, To: approval.StateApplied, By: approver, At: now,
		Outcomes: outcomes, Detail: []byte(`{"reportDue":true}`), Lease: deadLease(now), ReportDue: true})
	// The dying process reported nothing; a sweep well after reports it.
	a.clock.Advance(10 * time.Minute)
	report := a.threadPost("retry your sign-in now")
	if b, _ := report.Button("revert_request"); b == nil {
		t.Errorf("the late report has no Revert button:\n%s", report.Text())
	}
	a.waitAudit(id, "reported")
	a.settle()
	n := 0
	for _, c := range a.slack.Calls("chat.postMessage") {
		if c.Arg("thread_ts") == a.answerTS && strings.Contains(c.Text(), "retry your sign-in now") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("reported %d times", n)
	}
	if w, _ := a.changer.counts(); len(w) != 0 {
		t.Errorf("reporting wrote %v", w)
	}
}

// A settlement left unreported longer than a day ago is not reported now:
// its thread has moved on (the sweep looks at the last day's changes only).
func TestApprovalNoLateReportAfterADay(t *testing.T) {
	a := startApprovals(t)
	id, _ := a.request()
	then := a.clock.Now()
	a.applyingByDeadProcess(id, then, approval.Transition{From: approval.StateApplying, To: approval.StateFailed, By: approver, At: then,
		Detail: []byte(`{"reportDue":true}`), Lease: deadLease(then), ReportDue: true})
	a.clock.Advance(25 * time.Hour)
	time.Sleep(200 * time.Millisecond) // ten sweeps
	a.settle()
	if got := a.auditActions(id); slices.Contains(got, "reported") {
		t.Errorf("reported a day late: %v", got)
	}
	for _, c := range a.slack.Calls("chat.postMessage") {
		if strings.Contains(c.Text(), "stopped before it reported") {
			t.Errorf("late report: %s", c.Text())
		}
	}
}

// Diagnoses older than CACHECK_RETENTION are deleted by the sweep: an old
// answer's buttons ask for a fresh diagnosis. A diagnosis that an open
// approval request points at stays until the request settles, so the
// request is approved and applied as usual; once it is, the diagnosis goes
// too, and the request can still be reverted.
func TestDiagnosesPastRetention(t *testing.T) {
	a := startApprovals(t, func(c *bot.Config, _ *fakeDiagnoser) { c.Retention, c.ApprovalTTL = 48*time.Hour, 72*time.Hour })
	ctx := context.Background()
	id, _ := a.request()
	a.command("contoso.com")
	second := a.waitPost(func(c slacktest.Call) bool {
		b, _ := c.Button("show_guide")
		return b != nil && b.Value != a.diagValue
	})
	guide, _ := second.Button("show_guide")
	diagID := func(v string) int64 {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("button value %q: %v", v, err)
		}
		return n
	}
	requested, unrequested := diagID(a.diagValue), diagID(guide.Value)
	gone := func(id int64) bool {
		_, err := a.store.Diagnosis(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err != nil
	}
	waitGone := func(id int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !gone(id) {
			if time.Now().After(deadline) {
				t.Fatalf("diagnosis %d not pruned", id)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	a.clock.Advance(47 * time.Hour)
	time.Sleep(100 * time.Millisecond) // sweeps
	if gone(requested) || gone(unrequested) {
		t.Fatal("a diagnosis was pruned within the retention")
	}
	a.clock.Advance(2 * time.Hour)
	waitGone(unrequested)
	if gone(requested) {
		t.Fatal("the diagnosis of a pending request was pruned")
	}
	a.interact(a.slack.BlockAction(engineer, channel, "1700000000.000002", "", "", "show_guide", guide.Value))
	a.whisperTo("I no longer have that diagnosis")

	a.click(approver, "approve_request", id)
	a.threadPost("retry your sign-in now")
	a.waitState(id, approval.StateApplied)
	waitGone(requested)
	if r := a.state(id); r.State != approval.StateApplied || r.DiagnosisID != 0 {
		t.Errorf("request after its diagnosis was pruned: %s, diagnosis %d", r.State, r.DiagnosisID)
	}
	a.click(engineer, "revert_request", id)
	a.threadPost("reverted request")
	a.waitState(id, approval.StateReverted)
	if got := a.auditActions(id); !slices.Contains(got, "requested") || !slices.Contains(got, "applied") {
		t.Errorf("audit after pruning: %v", got)
	}
}

// Without approvals configured, diagnoses are pruned all the same.
func TestDiagnosesPastRetentionWithoutApprovals(t *testing.T) {
	clk := testsupport.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	h := launch(t, nil, nil, []bot.Option{bot.WithClock(clk.Now), bot.WithApprovalSweep(20 * time.Millisecond)})
	h.command("contoso.com")
	answer := h.wait(1, "chat.postMessage")[0]
	btn, _ := answer.Button("show_guide")
	if btn == nil {
		t.Fatal("no Show guide button")
	}
	id, err := strconv.ParseInt(btn.Value, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(90*24*time.Hour - time.Minute) // the default retention, nearly
	time.Sleep(100 * time.Millisecond)         // sweeps
	if _, err := h.store.Diagnosis(context.Background(), id); err != nil {
		t.Fatalf("diagnosis within the retention: %v", err)
	}
	clk.Advance(2 * time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := h.store.Diagnosis(context.Background(), id)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("diagnosis %d past the retention: %v", id, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Ten engineers clicking Request approval on one answer at once: one
// request, one DM per approver; the others are told it is waiting.
func TestApprovalRequestedOnce(t *testing.T) {
	a := startApprovals(t)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			a.interact(a.slack.BlockAction(fmt.Sprintf("U0ENG%02d", i), channel, a.answerTS, "", "", "request_approval", a.diagValue))
		})
	}
	wg.Wait()
	a.threadPost("Waiting for")
	a.settle()
	pending, err := a.store.PendingFor(context.Background(), contosoID)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 {
		t.Fatalf("%d pending requests, want 1", len(pending))
	}
	dms := 0
	for _, c := range a.slack.Calls("chat.postMessage") {
		if strings.HasPrefix(c.Arg("channel"), "D") {
			dms++
		}
	}
	approvers, err := a.store.Approvers(context.Background(), contosoID)
	if err != nil {
		t.Fatal(err)
	}
	if dms != len(approvers) {
		t.Errorf("%d DMs to %d approvers", dms, len(approvers))
	}
}

// sixtyPolicies gives Contoso 60 blocking policies, more than one Slack
// message can show.
func sixtyPolicies(_ *bot.Config, d *fakeDiagnoser) {
	ev := d.evidence[contosoID]
	base := ev.Policies[0] // "Require compliant device for all users": blocks
	pols := make([]diagnose.Policy, 60)
	for i := range pols {
		pols[i] = base
		pols[i].ID = fmt.Sprintf("0b5c7f3a-6060-4a00-8000-%012d", i)
		pols[i].DisplayName = fmt.Sprintf("Compliant device, policy %02d of sixty", i)
	}
	ev.Policies = pols
	d.evidence[contosoID] = ev
}

// What an approver approves is what was shown: 60 plans do not fit one
// Slack message, so the request comes in parts, every plan whole and in
// order, and Approve only under the last; approving applies exactly those.
func TestApprovalRequestShowsEveryPlan(t *testing.T) {
	a := startApprovals(t, sixtyPolicies)
	a.interact(a.slack.BlockAction(engineer, channel, a.answerTS, "", "", "request_approval", a.diagValue))
	a.threadPost("Waiting for")
	var parts []slacktest.Call
	for _, c := range a.slack.Calls("chat.postMessage") {
		if c.Arg("channel") == "D"+approver {
			parts = append(parts, c)
		}
	}
	if len(parts) < 2 {
		t.Fatalf("60 plans came in %d message(s)", len(parts))
	}
	var id string
	next := 0 // the next policy expected, in order
	for i, p := range parts {
		checkLimits(t, p)
		text := p.Text()
		if strings.Contains(text, "did not fit") || strings.Contains(text, "…") {
			t.Errorf("part %d was cut:\n%s", i+1, text)
		}
		for next < 60 && strings.Contains(text, fmt.Sprintf("policy %02d of sixty", next)) {
			if strings.Count(text, fmt.Sprintf("policy %02d of sixty", next)) != 1 {
				t.Errorf("policy %02d shown more than once in part %d", next, i+1)
			}
			next++
		}
		btn, _ := p.Button("approve_request")
		switch {
		case i < len(parts)-1 && btn != nil:
			t.Errorf("part %d of %d has an Approve button above plans still to come", i+1, len(parts))
		case i == len(parts)-1 && btn == nil:
			t.Fatalf("the last part has no Approve button:\n%s", text)
		case i == len(parts)-1:
			id = btn.Value
		}
		if !strings.Contains(text, fmt.Sprintf("Part %d of %d", i+1, len(parts))) {
			t.Errorf("part %d does not say which part it is", i+1)
		}
	}
	if next != 60 {
		t.Fatalf("the approver was shown %d of the 60 plans, in order", next)
	}
	if n := strings.Count(strings.Join(texts(parts), "\n"), "*after:*"); n != 60 {
		t.Errorf("%d before/after pairs shown, want 60", n)
	}

	a.click(approver, "approve_request", id)
	a.waitState(id, approval.StateApplied)
	if writes, _ := a.changer.counts(); len(writes) != 60 {
		t.Errorf("Approve wrote %d policies, want the 60 shown", len(writes))
	}
	// The part with the buttons is the one closed: no Approve left anywhere.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	upd, err := a.slack.WaitFor(ctx, "chat.update", func(c slacktest.Call) bool { return c.Arg("channel") == "D"+approver })
	if err != nil {
		t.Fatal(err)
	}
	if btn, _ := upd.Button("approve_request"); btn != nil || upd.Arg("ts") == parts[0].Arg("ts") {
		t.Errorf("the decided request still offers Approve, or the wrong part was closed (ts %s)", upd.Arg("ts"))
	}
}

// A scan digest's Request approval reads the tenant again and asks its
// approvers, as an answer's button does; an outsider's click reads nothing.
func TestScanRequestApproval(t *testing.T) {
	a := startApprovals(t)
	a.slack.AddUser(slack.User{ID: "U0GUEST", TeamID: slacktest.TeamID, IsRestricted: true})
	before := a.diag.diagnoses.Load()
	a.interact(a.slack.BlockAction("U0GUEST", channel, "1700000000.000500", "", "", "scan_request_approval", contosoID))
	a.whisperTo("only members of the partner")
	if n := a.diag.diagnoses.Load() - before; n != 0 {
		t.Errorf("a guest's click read the tenant %d times", n)
	}

	a.interact(a.slack.BlockAction(engineer, channel, "1700000000.000500", "", "", "scan_request_approval", contosoID))
	dm := a.waitPost(func(c slacktest.Call) bool { return c.Arg("channel") == "D"+approver })
	if btn, _ := dm.Button("approve_request"); btn == nil || !strings.Contains(dm.Text(), "Require compliant device") {
		t.Errorf("the approver got no request for the scanned tenant:\n%s", dm.Text())
	}
	if n := a.diag.diagnoses.Load() - before; n != 1 {
		t.Errorf("the tenant was read %d times for the request, want once (fresh)", n)
	}

	a.interact(a.slack.BlockAction(engineer, channel, "1700000000.000500", "", "", "scan_request_approval", "contoso.com"))
	a.whisperTo("does not name a customer tenant")
}
