package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
)

// This file is the answer's path: what was asked → which tenant → diagnose →
// save → blocks → post. Each entry point (command, thread paste, mention,
// picker, re-check) fills a question and a destination and calls answer.

// destination is where and how an answer goes.
type destination struct {
	Channel string
	// ThreadTS is the thread to answer in; "" posts at the top level.
	ThreadTS string
	// UpdateTS, when set, is a message of the bot's to replace with the
	// answer (the picker, a re-checked answer) instead of posting anew.
	UpdateTS string
	// ResponseURL is Slack's fallback for when the bot cannot post in
	// Channel (it is not a member): a slash command's or a click's.
	ResponseURL string
	// User asked the question.
	User string
	// Private sends mistakes and errors to User alone (a slash command);
	// otherwise they go where the answer would (a thread the team reads).
	Private bool
}

// question is what to diagnose.
type question struct {
	// Query names the tenant as typed; empty to take it from the paste or
	// the channel's link.
	Query string
	// Tenant is an already resolved tenant (a re-check).
	Tenant *diagnose.Tenant
	// Errors are the pasted sign-in errors, if any.
	Errors []diagnose.SignInError
	// Scenario, when set, is used as is (a re-check repeats the original).
	Scenario *diagnose.Scenario
}

// answer diagnoses q and posts the answer to dst; every outcome, error
// included, ends in a message to someone.
func (b *Bot) answer(ctx context.Context, dst destination, q question) {
	log := b.logger(ctx)
	tenant, ok := b.tenantFor(ctx, dst, q)
	if !ok {
		return
	}
	sc := diagnose.PastedScenario(q.Errors)
	if q.Scenario != nil {
		sc = *q.Scenario
	}

	start := time.Now()
	d, err := b.diag.Diagnose(ctx, tenant.ID, sc)
	elapsed := time.Since(start)
	switch {
	case err == nil:
		b.m.diagnosis.WithLabelValues("ok").Observe(elapsed.Seconds())
	case noAccess(err):
		b.m.diagnosis.WithLabelValues("no_access").Observe(elapsed.Seconds())
	default:
		b.m.diagnosis.WithLabelValues("error").Observe(elapsed.Seconds())
	}
	if err != nil {
		log.Warn("diagnosis failed", "tenant", tenant.ID, "code", diagnose.ErrorCode(err), "err", err, "elapsed_ms", elapsed.Milliseconds())
		b.m.errors.WithLabelValues("diagnose").Inc()
		if noAccess(err) {
			// Without Graph access there is still a useful answer: what
			// the code means, how to find the policy, the generic fix.
			b.deliver(ctx, dst, noAccessMessage(tenant, q.Errors, err, userMessage(ctx, err)))
			return
		}
		b.say(ctx, dst, userMessage(ctx, err))
		return
	}
	if d.Tenant == nil || d.Tenant.ID == "" {
		d.Tenant = &tenant
	}
	log.Info("diagnosed", "tenant", tenant.ID, "verdict", d.Verdict, "policies", len(d.Policies), "blocking", len(d.Blocking()), "errors", len(q.Errors), "elapsed_ms", elapsed.Milliseconds())

	id, err := b.save(ctx, dst, d, q.Errors)
	if err != nil {
		// The answer is worth more than its buttons: post it without them.
		b.storeError(ctx, "save diagnosis", err)
	}
	b.deliver(ctx, dst, diagnosisMessage(d, q.Errors, id, dst.User))
}

// tenantFor finds the tenant q is about: the one already resolved, the one
// typed, the one in the pasted error, or the channel's link. With none it
// asks with the picker and reports false. A channel linked to a customer
// answers only about that customer: any other is refused here, before the
// customer's tenant is read.
func (b *Bot) tenantFor(ctx context.Context, dst destination, q question) (diagnose.Tenant, bool) {
	link, err := b.store.ChannelLink(ctx, dst.Channel)
	linked := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		// Without the link, what may be said here is unknown: say nothing.
		b.storeError(ctx, "channel link", err)
		b.say(ctx, dst, userMessage(ctx, err))
		return diagnose.Tenant{}, false
	}
	linkedTenant := diagnose.Tenant{ID: link.TenantID, DisplayName: link.TenantName}

	var t diagnose.Tenant
	query := strings.TrimSpace(q.Query)
	if query == "" {
		for _, e := range q.Errors {
			if e.TenantID != "" {
				query = e.TenantID
				break
			}
		}
	}
	switch {
	case q.Tenant != nil && q.Tenant.ID != "":
		t = *q.Tenant
	case query == "" && linked:
		return linkedTenant, true
	case query == "":
		b.askTenant(ctx, dst, q)
		return diagnose.Tenant{}, false
	case linked && (strings.EqualFold(query, link.TenantID) || strings.EqualFold(query, link.TenantName)):
		return linkedTenant, true
	default:
		if t, err = b.diag.ResolveTenant(ctx, query); err != nil {
			b.logger(ctx).Info("tenant not resolved", "query_len", len(query), "code", diagnose.ErrorCode(err))
			b.say(ctx, dst, userMessage(ctx, err))
			return diagnose.Tenant{}, false
		}
	}
	if linked && !strings.EqualFold(t.ID, link.TenantID) {
		b.refused(ctx, refusal{asker: asker{User: dst.User}, Channel: dst.Channel, Path: "question", Tenant: t.ID, Why: whyLinked})
		dst.Private = true
		b.say(ctx, dst, refusalText(whyLinked))
		return diagnose.Tenant{}, false
	}
	return t, true
}

// savedResult is what a DiagnosisRecord's Result holds: the diagnosis as JSON
// (so anything reading it as a diagnose.Diagnosis still can) plus what its
// JSON form leaves out and the buttons need back: the blocking policies as
// read, from which each plan is rebuilt, and the pasted errors.
type savedResult struct {
	*diagnose.Diagnosis
	BlockingPolicies []diagnose.Policy      `json:"blockingPolicies,omitempty"`
	AllTenantsFix    bool                   `json:"allTenantsFix,omitempty"`
	PastedErrors     []diagnose.SignInError `json:"pastedErrors,omitempty"`
}

func (b *Bot) save(ctx context.Context, dst destination, d *diagnose.Diagnosis, errs []diagnose.SignInError) (int64, error) {
	res := savedResult{Diagnosis: d, AllTenantsFix: d.Scenario.AllTenantsFix, PastedErrors: errs}
	for _, r := range d.Policies {
		if r.Effect.Blocking() && r.Policy != nil {
			res.BlockingPolicies = append(res.BlockingPolicies, *r.Policy)
		}
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return 0, fmt.Errorf("encode diagnosis: %w", err)
	}
	var name string
	if d.Tenant != nil {
		name = d.Tenant.DisplayName
		if name == "" {
			name = d.Tenant.DefaultDomain
		}
	}
	return b.store.SaveDiagnosis(ctx, store.DiagnosisRecord{
		TenantID:    tenantID(d),
		TenantName:  name,
		ChannelID:   dst.Channel,
		ThreadTS:    dst.ThreadTS,
		RequestedBy: dst.User,
		Verdict:     string(d.Verdict),
		CreatedAt:   b.now(),
		Result:      raw,
	})
}

// loadResult reads a saved diagnosis back, with the plans its renderers and
// the approval flow need rebuilt from the saved policies.
func loadResult(rec store.DiagnosisRecord) (*diagnose.Diagnosis, []diagnose.SignInError, error) {
	var res savedResult
	if err := json.Unmarshal(rec.Result, &res); err != nil {
		return nil, nil, fmt.Errorf("decode diagnosis %d: %w", rec.ID, err)
	}
	d := res.Diagnosis
	if d == nil {
		return nil, nil, fmt.Errorf("diagnosis %d has no result", rec.ID)
	}
	d.Scenario.AllTenantsFix = res.AllTenantsFix
	byID := make(map[string]*diagnose.Policy, len(res.BlockingPolicies))
	for i := range res.BlockingPolicies {
		byID[strings.ToLower(res.BlockingPolicies[i].ID)] = &res.BlockingPolicies[i]
	}
	for i := range d.Policies {
		r := &d.Policies[i]
		p := byID[strings.ToLower(r.ID)]
		if p == nil || !r.Effect.Blocking() {
			continue
		}
		r.Policy = p
		plan := diagnose.PlanFix(p, d.Scenario.PartnerTenantID, d.Scenario.AllTenantsFix)
		r.Plan = &plan
	}
	return d, res.PastedErrors, nil
}

func tenantID(d *diagnose.Diagnosis) string {
	if d.Tenant != nil {
		return d.Tenant.ID
	}
	return ""
}
