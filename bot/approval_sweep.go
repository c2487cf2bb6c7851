package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
)

// reconcileGiveUp is how long reconciliation keeps trying to read the
// policies of a request left applying before it settles the request as
// failed without them.
const reconcileGiveUp = time.Hour

// expire closes every pending request past its deadline and tells its
// thread and its approvers. The store hands each expired request to exactly
// one replica.
func (b *Bot) expire(ctx context.Context) {
	rs, err := b.store.ExpireRequests(ctx, b.now())
	if err != nil {
		if ctx.Err() == nil {
			b.storeError(ctx, "expire requests", err)
		}
		return
	}
	for _, a := range rs {
		b.logger(ctx).Info("request expired", "request", a.ID, "tenant", a.TenantID)
		b.closeNotices(ctx, a, ":alarm_clock: Expired without a decision; nothing was changed.")
		b.threadText(ctx, a, fmt.Sprintf(":alarm_clock: The request to change %d %s in %s (`%s`) expired without a decision; nothing was changed. %s, click *Request approval* on a fresh diagnosis to ask again.",
			len(a.Plans), plural(len(a.Plans), "policy", "policies"), tenantLabel(a.Tenant()), shortID(a.ID), userRef(a.RequestedBy)))
	}
}

// reconcile settles requests left approved or applying by a process that
// died: it reads the policies, records which carry the planned exclusion
// (applied) and which do not (failed, for an approver to retry), and reports
// in the thread. Nothing is written to the tenant here: whether a PATCH
// landed is learnt from the policy itself.
func (b *Bot) reconcile(ctx context.Context) {
	rs, err := b.store.Requests(ctx, approval.StateApproved, approval.StateApplying)
	if err != nil {
		if ctx.Err() == nil {
			b.storeError(ctx, "requests to reconcile", err)
		}
		return
	}
	for _, r := range rs {
		if _, mine := b.applying.Load(r.ID); mine || b.now().Sub(r.UpdatedAt) < staleAfter {
			continue
		}
		if err := b.reconcileOne(ctx, r); err != nil && ctx.Err() == nil {
			b.logger(ctx).Warn("reconcile failed; will try again", "request", r.ID, "err", err)
		}
	}
}

func (b *Bot) reconcileOne(ctx context.Context, a approval.Request) error {
	if a.State == approval.StateApproved {
		r, err := b.store.Transition(ctx, a.ID, approval.Transition{From: approval.StateApproved, To: approval.StateApplying, At: b.now(), Version: a.Version})
		if errors.Is(err, store.ErrConflict) {
			return nil // another replica took it
		}
		if err != nil {
			return err
		}
		a = r
	}
	var sc diagnose.Scenario
	if a.DiagnosisID > 0 {
		if rec, err := b.store.Diagnosis(ctx, a.DiagnosisID); err == nil {
			if d, _, err := loadResult(rec); err == nil {
				sc = d.Scenario
			}
		}
	}
	d, err := b.diag.Diagnose(ctx, a.TenantID, sc)
	unread := ""
	if err != nil {
		if b.now().Sub(a.UpdatedAt) < reconcileGiveUp {
			return fmt.Errorf("read the policies: %w", err)
		}
		// Left applying it would stay so for ever, with no Retry button:
		// settle it as failed. Retry re-reads each policy before writing,
		// so what landed before the crash is not written again.
		unread = diagnose.ErrorMessage(err)
	}
	for i, p := range a.Plans {
		o := &a.Outcomes[i]
		if o.Done() {
			continue
		}
		if unread != "" {
			o.Status, o.Error = approval.OutcomeFailed, "ca-check was interrupted and could not read the policy since to see whether it was changed"
			continue
		}
		idx := slices.IndexFunc(d.Policies, func(pr diagnose.PolicyResult) bool { return strings.EqualFold(pr.ID, p.PolicyID) })
		var current *diagnose.GuestsOrExternalUsers
		if idx >= 0 && d.Policies[idx].Policy != nil && d.Policies[idx].Policy.Conditions.Users != nil {
			current = d.Policies[idx].Policy.Conditions.Users.ExcludeGuestsOrExternalUsers
		}
		switch {
		case idx < 0:
			o.Status, o.Error = approval.OutcomeFailed, "the policy no longer exists"
		case current.Equal(p.After):
			o.Status, o.Error = approval.OutcomeApplied, ""
			o.Change = &diagnose.Change{PolicyID: p.PolicyID, DisplayName: p.DisplayName, Before: p.Before, After: current, Effect: d.Policies[idx].Effect}
		default:
			o.Status, o.Error = approval.OutcomeFailed, "ca-check stopped before this policy was changed"
		}
	}
	final := approval.StateApplied
	if a.Count(approval.OutcomeFailed) > 0 {
		final = approval.StateFailed
	}
	// The version read: r may be stale, and the request since settled by
	// another replica and retried, applying again in a round of its own.
	r, err := b.store.Transition(ctx, a.ID, approval.Transition{
		From: approval.StateApplying, To: final, At: b.now(), Version: a.Version,
		Outcomes: a.Outcomes, Detail: auditDetail(map[string]any{"reconciled": true, "unread": unread, "outcomes": a.Outcomes, reportDue: true}),
	})
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	if err != nil {
		return err
	}
	a = r
	b.logger(ctx).Info("request reconciled", "request", a.ID, "tenant", a.TenantID, "state", a.State)
	if unread != "" {
		b.threadText(ctx, a, fmt.Sprintf(":recycle: ca-check was interrupted while applying request `%s`, and since then I could not read the policies of %s to see what happened: %s",
			shortID(a.ID), tenantLabel(a.Tenant()), diagnose.EscapeMrkdwn(unread)))
	} else {
		b.threadText(ctx, a, fmt.Sprintf(":recycle: ca-check was interrupted while applying request `%s`; I read the policies of %s again to see what happened.",
			shortID(a.ID), tenantLabel(a.Tenant())))
	}
	b.report(ctx, a, a.DecidedBy)
	b.reported(ctx, a)
	return nil
}

// A settled apply is reported in two steps a crash can separate: the
// settling transition (its audit detail says reportDue) and the report,
// then its audit record "reported". The sweep reports what a dead process
// settled and did not report, for up to reportWindow.
const (
	reportDue      = "reportDue"
	actionReported = "reported"
	reportWindow   = 24 * time.Hour
)

// reported records that the request's outcome was told.
func (b *Bot) reported(ctx context.Context, a approval.Request) {
	if err := b.store.AppendAudit(ctx, approval.AuditRecord{RequestID: a.ID, TenantID: a.TenantID, Actor: auditActor, Action: actionReported, At: b.now()}); err != nil {
		b.storeError(ctx, "audit report", err)
	}
}

// unreported returns the settling record of a request whose report is due
// and was never made, or nil.
func unreported(recs []approval.AuditRecord) *approval.AuditRecord {
	var settled *approval.AuditRecord
	for i := range recs {
		r := &recs[i]
		switch {
		case r.From == approval.StateApplying:
			var d map[string]any
			settled = nil
			if json.Unmarshal(r.Detail, &d) == nil && d[reportDue] == true {
				settled = r
			}
		case r.Action == actionReported:
			settled = nil
		}
	}
	return settled
}

// reportLate reports the settled requests a dead process did not: those
// settled more than staleAfter and less than reportWindow ago, which the
// store finds by their last change (every replica sweeps every minute, and
// settled requests are kept for ever). A claim per settling makes one
// replica report each.
func (b *Bot) reportLate(ctx context.Context) {
	now := b.now()
	rs, err := b.store.RequestsChanged(ctx, now.Add(-reportWindow), now.Add(-staleAfter),
		approval.StateApplied, approval.StateFailed, approval.StateSuperseded)
	if err != nil {
		if ctx.Err() == nil {
			b.storeError(ctx, "requests to report", err)
		}
		return
	}
	for _, r := range rs {
		recs, err := b.store.RequestAudit(ctx, r.ID)
		if err != nil {
			b.storeError(ctx, "request audit", err)
			continue
		}
		settled := unreported(recs)
		if settled == nil {
			continue
		}
		first, err := b.store.Claim(ctx, fmt.Sprintf("report:%s:%d", r.ID, settled.ID), b.now())
		if err != nil {
			b.storeError(ctx, "claim report", err)
			continue
		}
		if !first {
			continue
		}
		a := r
		by := settled.Actor
		if by == auditActor {
			by = a.DecidedBy
		}
		b.logger(ctx).Info("late report", "request", a.ID, "tenant", a.TenantID, "state", a.State)
		b.threadText(ctx, a, fmt.Sprintf(":recycle: ca-check stopped before it reported request `%s` in %s; here is how it went.", shortID(a.ID), tenantLabel(a.Tenant())))
		b.report(ctx, a, by)
		b.reported(ctx, a)
	}
}
