package approval_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/internal/testsupport"
)

// People and tenants of the tests.
const (
	partnerID = "4e8a1c55-7f1b-4c6e-9d2a-1b3c5d7e9f00"
	contosoID = "22222222-2222-4222-8222-222222222222"
	otherID   = "33333333-3333-4333-8333-333333333333"
	engineer  = "U0ENGINEER"
	approver  = "U0CUSTADM"
	approver2 = "U0CUSTADM2"
	stranger  = "U0STRANGER"
	admin     = "U0ADMIN"    // a ca-check admin: may revert, not decide
	otherAdm  = "U0OTHERADM" // an approver of another tenant
)

// tenant is Contoso as Graph would show it: the fixture's policies, with
// the exclusions ca-check (or "someone", in a test) changed since. It is
// the service's Changer and Diagnoser, and counts the writes per policy,
// which is what "exactly one PATCH" means.
type tenant struct {
	policies []diagnose.Policy

	mu         sync.Mutex
	excl       map[string]*diagnose.GuestsOrExternalUsers // policy ID → exclusion changed since the fixture
	writes     map[string]int                             // policy ID → PATCHes
	reverts    map[string]int                             // policy ID → reverting PATCHes
	fail       map[string]error                           // policy ID → the next Apply's error
	revertFail map[string]error                           // policy ID → the next Revert's error
	admins     map[string]bool                            // email → has an admin role
	readErr    error                                      // Diagnose's error
	reads      int                                        // Diagnose calls
	// hold, when set, is called by Apply and Revert before they write: a
	// test blocks a write there, as a process that stops in the middle.
	hold func(policyID string)
}

func newTenant(t testing.TB) *tenant {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "policies.json"))
	if err != nil {
		t.Fatal(err)
	}
	pols, err := diagnose.DecodePolicies(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &tenant{policies: pols, excl: map[string]*diagnose.GuestsOrExternalUsers{}, writes: map[string]int{}, reverts: map[string]int{},
		fail: map[string]error{}, revertFail: map[string]error{}, admins: map[string]bool{}}
}

// exclusion is the policy's exclusion as the tenant has it now.
func (tn *tenant) exclusion(policyID string) *diagnose.GuestsOrExternalUsers {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return tn.exclusionLocked(policyID)
}

func (tn *tenant) exclusionLocked(policyID string) *diagnose.GuestsOrExternalUsers {
	if g, ok := tn.excl[policyID]; ok {
		return g
	}
	for _, p := range tn.policies {
		if p.ID == policyID && p.Conditions.Users != nil {
			return p.Conditions.Users.ExcludeGuestsOrExternalUsers
		}
	}
	return nil
}

// set changes the policy's exclusion, as someone editing it.
func (tn *tenant) set(policyID string, g *diagnose.GuestsOrExternalUsers) {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	tn.excl[policyID] = g
}

func (tn *tenant) counts() (writes, reverts map[string]int) {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return maps.Clone(tn.writes), maps.Clone(tn.reverts)
}

func (tn *tenant) Apply(ctx context.Context, tenantID string, plan diagnose.Plan) (diagnose.Change, error) {
	tn.mu.Lock()
	hold := tn.hold
	tn.mu.Unlock()
	if hold != nil {
		hold(plan.PolicyID)
	}
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if err := tn.fail[plan.PolicyID]; err != nil {
		delete(tn.fail, plan.PolicyID)
		return diagnose.Change{}, err
	}
	current := tn.exclusionLocked(plan.PolicyID)
	if !current.Equal(plan.Before) {
		return diagnose.Change{}, diagnose.Errorf(diagnose.ECONFLICT, "policy %q changed since the plan: nothing was written", plan.DisplayName)
	}
	tn.writes[plan.PolicyID]++
	tn.excl[plan.PolicyID] = plan.After
	return diagnose.Change{PolicyID: plan.PolicyID, DisplayName: plan.DisplayName, Before: current, After: plan.After, Effect: diagnose.EffectExcluded,
		RequestIDs: []string{fmt.Sprintf("patch-%s-%d", plan.PolicyID, tn.writes[plan.PolicyID])}}, nil
}

func (tn *tenant) Revert(ctx context.Context, tenantID, policyID string, before, wrote *diagnose.GuestsOrExternalUsers) (diagnose.Change, error) {
	tn.mu.Lock()
	hold := tn.hold
	tn.mu.Unlock()
	if hold != nil {
		hold(policyID)
	}
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if err := tn.revertFail[policyID]; err != nil {
		delete(tn.revertFail, policyID)
		return diagnose.Change{}, err
	}
	current := tn.exclusionLocked(policyID)
	if current.Equal(before) {
		return diagnose.Change{PolicyID: policyID, Before: current, After: current, NoChange: true}, nil
	}
	if !current.Equal(wrote) {
		return diagnose.Change{}, diagnose.Errorf(diagnose.ECONFLICT, "its exclusion is no longer the one ca-check wrote")
	}
	tn.reverts[policyID]++
	tn.excl[policyID] = before
	return diagnose.Change{PolicyID: policyID, Before: current, After: before, RequestIDs: []string{"revert-" + policyID}}, nil
}

func (tn *tenant) IsApprover(ctx context.Context, tenantID, email string) (bool, error) {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return tn.admins[email], nil
}

// Diagnose evaluates the policies as they now are, for the partner's
// default scenario.
func (tn *tenant) Diagnose(ctx context.Context, r approval.Request) (*diagnose.Diagnosis, error) {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	tn.reads++
	if tn.readErr != nil {
		return nil, tn.readErr
	}
	pols := make([]diagnose.Policy, len(tn.policies))
	for i, p := range tn.policies {
		if g, ok := tn.excl[p.ID]; ok {
			var users diagnose.UsersCondition
			if p.Conditions.Users != nil {
				users = *p.Conditions.Users
			}
			users.ExcludeGuestsOrExternalUsers = g
			p.Conditions.Users = &users
		}
		pols[i] = p
	}
	return diagnose.Evaluate(diagnose.Evidence{Policies: pols, NamedLocations: []diagnose.NamedLocation{}}, diagnose.Scenario{PartnerTenantID: partnerID}), nil
}

// plans are the changes Contoso needs now.
func (tn *tenant) plans(t testing.TB) []diagnose.Plan {
	t.Helper()
	d, err := tn.Diagnose(context.Background(), approval.Request{})
	if err != nil {
		t.Fatal(err)
	}
	var plans []diagnose.Plan
	for _, r := range d.Blocking() {
		if r.Plan != nil && !r.Plan.NoChange {
			plans = append(plans, *r.Plan)
		}
	}
	if len(plans) < 2 {
		t.Fatalf("the fixture should need at least 2 changes, has %d", len(plans))
	}
	return plans
}

// notes is the Notifier: what the approvers and the thread were told.
type notes struct {
	mu     sync.Mutex
	asked  []string // approvers, in order
	closed []told   // each Close, with its copies' users
	told   []told   // each Tell
	// refuse lists approvers the front end cannot reach.
	refuse map[string]bool
}

type told struct {
	Request approval.Request
	Event   approval.Event
	Copies  []approval.Notice
}

func (n *notes) Ask(ctx context.Context, r approval.Request, approver string) approval.Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.asked = append(n.asked, approver)
	if n.refuse[approver] {
		return approval.Notice{User: approver, Via: approval.ViaNone, Error: "cannot_dm_bot"}
	}
	return approval.Notice{User: approver, Via: approval.ViaDirect, Channel: "D" + approver, TS: fmt.Sprintf("1700000000.%06d", len(n.asked))}
}

func (n *notes) Close(ctx context.Context, r approval.Request, copies []approval.Notice, e approval.Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = append(n.closed, told{Request: r, Event: e, Copies: copies})
}

func (n *notes) Tell(ctx context.Context, r approval.Request, e approval.Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.told = append(n.told, told{Request: r, Event: e})
}

// thread returns what the thread of request id was told, kind by kind.
func (n *notes) thread(id string) []approval.EventKind {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []approval.EventKind
	for _, t := range n.told {
		if t.Request.ID == id {
			out = append(out, t.Event.Kind)
		}
	}
	return out
}

// last returns the last thing the thread of request id was told of kind k.
func (n *notes) last(id string, k approval.EventKind) (told, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.told) - 1; i >= 0; i-- {
		if t := n.told[i]; t.Request.ID == id && t.Event.Kind == k {
			return t, true
		}
	}
	return told{}, false
}

// env is a Service on a real SQLite store with Contoso's approvers set up,
// and fakes of the tenant and the front end.
type env struct {
	t      testing.TB
	st     *store.Store
	svc    *approval.Service
	tenant *tenant
	notes  *notes
	clock  *testsupport.Clock
	diag   int64 // the diagnosis requests come from
}

func newEnv(t testing.TB, mods ...func(*approval.Config)) *env {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "ca-check.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, tenant: newTenant(t), notes: &notes{refuse: map[string]bool{}},
		clock: testsupport.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))}
	e.svc = e.service(mods...)
	ctx := context.Background()
	for _, u := range []string{approver, approver2, engineer} {
		if err := st.AddApprover(ctx, contosoID, u, admin, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AddApprover(ctx, otherID, otherAdm, admin, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if e.diag, err = st.SaveDiagnosis(ctx, store.DiagnosisRecord{TenantID: contosoID, Verdict: "likely_blocked", CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	return e
}

// service is another Service on the env's store, tenant and front end: a
// second process.
func (e *env) service(mods ...func(*approval.Config)) *approval.Service {
	e.t.Helper()
	c := approval.Config{Store: e.st, Changer: e.tenant, Diagnoser: e.tenant, Notifier: e.notes,
		TTL: 24 * time.Hour, RevertWindow: 7 * 24 * time.Hour, Now: e.clock.Now}
	for _, m := range mods {
		m(&c)
	}
	svc, err := approval.New(c)
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

// open opens a request for Contoso's plans, asked by the engineer.
func (e *env) open() approval.Request {
	e.t.Helper()
	r, err := e.svc.Open(context.Background(), e.draft())
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) draft() approval.Request {
	return approval.Request{TenantID: contosoID, TenantName: "Contoso", DiagnosisID: e.diag, RequestedBy: engineer,
		ChannelID: "C0SUPPORT", ThreadTS: "1700000000.000001", Reason: "AADSTS53003", Plans: e.tenant.plans(e.t)}
}

func (e *env) state(id string) approval.Request {
	e.t.Helper()
	r, err := e.st.Request(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) audit(id string) []string {
	e.t.Helper()
	recs, err := e.st.RequestAudit(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if r.Action != "notified" {
			out = append(out, r.Action)
		}
	}
	return out
}

func actor(user string) approval.Actor { return approval.Actor{ID: user} }
