package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
)

// applyTimeout bounds one apply or revert: a few policies, each a read, a
// PATCH and a read-back, with the Graph client's own retries.
const applyTimeout = 2 * time.Minute

// apply moves the request from (approved, or failed for a retry) to applying
// as a compare-and-swap, so exactly one caller writes; then it applies every
// policy not done yet, records the outcomes with the final state, and
// reports in the thread and the approvers' DMs. It reports false when
// another caller won the swap.
func (b *Bot) apply(ctx context.Context, a approval.Request, from approval.State, by string) bool {
	// Once the first write may have started, finish and record it even if
	// the click's context ends (shutdown): an interrupted apply is left to
	// reconciliation, a finished one should not be.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), applyTimeout)
	defer cancel()
	r, err := b.store.Transition(ctx, a.ID, approval.Transition{From: from, To: approval.StateApplying, By: by, At: b.now()})
	if errors.Is(err, store.ErrConflict) {
		return false // another click or replica is applying it
	}
	if err != nil {
		b.storeError(ctx, "transition", err)
		b.threadText(ctx, a, userMessage(ctx, err))
		return true
	}
	b.applying.Store(a.ID, true)
	defer b.applying.Delete(a.ID)
	// The outcomes as of the swap, not as read before it: a retry that
	// raced with another must not redo what that one applied.
	a = r

	var changed, retried []string
	for i, p := range a.Plans {
		o := &a.Outcomes[i]
		if o.Done() {
			continue // a retry writes only what failed
		}
		if o.Status == approval.OutcomeFailed {
			// A failed write may have landed all the same (Graph applied
			// the PATCH but its answer or the read-back was lost): then
			// the retry finds the policy "changed", by ca-check itself.
			retried = append(retried, o.PolicyID)
		}
		ch, err := b.changer.Apply(ctx, a.TenantID, p)
		switch {
		case err == nil:
			o.Status, o.Change, o.Error = approval.OutcomeApplied, &ch, ""
			if ch.NoChange {
				o.Status = approval.OutcomeUnchanged
			}
		case diagnose.ErrorCode(err) == diagnose.ECONFLICT:
			o.Status, o.Error = approval.OutcomeChanged, diagnose.ErrorMessage(err)
			changed = append(changed, o.PolicyID)
		default:
			o.Status, o.Error = approval.OutcomeFailed, diagnose.ErrorMessage(err)
			if ch.PolicyID != "" {
				o.Change = &ch // a PATCH sent but not read back still has its request-id
			}
		}
		b.logger(ctx).Info("policy write", "request", a.ID, "tenant", a.TenantID, "policy", p.PolicyID, "outcome", o.Status)
	}

	var fresh []diagnose.Plan
	if len(changed) > 0 {
		fresh = b.replan(ctx, &a, changed, retried)
	}

	final := approval.StateApplied
	switch {
	case a.Count(approval.OutcomeFailed) > 0:
		final = approval.StateFailed
	case a.Count(approval.OutcomeApplied, approval.OutcomeUnchanged) == 0:
		final = approval.StateSuperseded
	}
	// Only this round of applying: if the sweep took it for interrupted
	// and a retry started another, that one settles its own.
	r, err = b.store.Transition(ctx, a.ID, approval.Transition{
		From: approval.StateApplying, To: final, By: by, At: b.now(), Version: a.Version,
		Outcomes: a.Outcomes, Detail: auditDetail(map[string]any{"outcomes": a.Outcomes, reportDue: true}),
	})
	if err != nil {
		// The writes happened; the sweep reconciles the request from the
		// policies themselves.
		b.storeError(ctx, "transition", err)
		return true
	}
	a = r
	b.report(ctx, a, by)
	b.reported(ctx, a)
	if len(fresh) > 0 {
		id := b.openRequest(ctx, destination{Channel: a.ChannelID, ThreadTS: a.ThreadTS}, approval.Request{
			TenantID: a.TenantID, TenantName: a.TenantName, DiagnosisID: a.DiagnosisID, RequestedBy: a.RequestedBy,
			ChannelID: a.ChannelID, ThreadTS: a.ThreadTS, Reason: a.Reason,
		}, fresh)
		if id != "" {
			if err := b.store.AppendAudit(ctx, approval.AuditRecord{
				RequestID: a.ID, TenantID: a.TenantID, Actor: auditActor, Action: "replanned", At: b.now(),
				Detail: auditDetail(map[string]any{"newRequest": id, "policies": changed}),
			}); err != nil {
				b.storeError(ctx, "audit replan", err)
			}
		}
	}
	return true
}

// replan diagnoses the tenant again for the policies that changed since the
// plan and returns fresh plans for those still blocking; the others'
// outcomes say why nothing more is needed. A policy in retried (its write
// failed before) that now carries exactly the planned exclusion is ca-check's
// own write that landed: it is applied, and revertible as such.
func (b *Bot) replan(ctx context.Context, a *approval.Request, ids, retried []string) []diagnose.Plan {
	var sc diagnose.Scenario
	if a.DiagnosisID > 0 {
		if rec, err := b.store.Diagnosis(ctx, a.DiagnosisID); err == nil {
			if d, _, err := loadResult(rec); err == nil {
				sc = d.Scenario
			}
		}
	}
	d, err := b.diag.Diagnose(ctx, a.TenantID, sc)
	if err != nil {
		for i := range a.Outcomes {
			if slices.Contains(ids, a.Outcomes[i].PolicyID) {
				a.Outcomes[i].Note = "I could not re-plan it: " + diagnose.ErrorMessage(err)
			}
		}
		return nil
	}
	var plans []diagnose.Plan
	for i := range a.Outcomes {
		o := &a.Outcomes[i]
		if !slices.Contains(ids, o.PolicyID) {
			continue
		}
		idx := slices.IndexFunc(d.Policies, func(r diagnose.PolicyResult) bool { return strings.EqualFold(r.ID, o.PolicyID) })
		var current *diagnose.GuestsOrExternalUsers
		if idx >= 0 && d.Policies[idx].Policy != nil && d.Policies[idx].Policy.Conditions.Users != nil {
			current = d.Policies[idx].Policy.Conditions.Users.ExcludeGuestsOrExternalUsers
		}
		switch p := a.Plans[i]; {
		case idx >= 0 && slices.Contains(retried, o.PolicyID) && current.Equal(p.After):
			o.Status, o.Error, o.Note = approval.OutcomeApplied, "", ""
			o.Change = &diagnose.Change{PolicyID: p.PolicyID, DisplayName: p.DisplayName, Before: p.Before, After: current,
				Effect: d.Policies[idx].Effect, RequestIDs: requestIDsOf(o.Change)}
		case idx < 0:
			o.Note = "it no longer exists"
		case d.Policies[idx].Plan == nil || d.Policies[idx].Plan.NoChange:
			o.Note = "it no longer blocks the partner's service provider users, so nothing more is needed"
		default:
			plans = append(plans, *d.Policies[idx].Plan)
			o.Replanned = true
		}
	}
	return plans
}

// requestIDsOf keeps the Graph request IDs of an earlier attempt's write.
func requestIDsOf(ch *diagnose.Change) []string {
	if ch == nil {
		return nil
	}
	return ch.RequestIDs
}

// report tells the thread and the approvers' DMs how the apply went.
func (b *Bot) report(ctx context.Context, a approval.Request, by string) {
	var revertUntil time.Time
	if a.Count(approval.OutcomeApplied) > 0 {
		revertUntil = a.UpdatedAt.Add(b.cfg.revertWindow())
	}
	b.thread(ctx, a, resultMessage(a, by, revertUntil))
	var status string
	var extra []slack.Block
	switch a.State {
	case approval.StateApplied:
		status = fmt.Sprintf(":white_check_mark: Approved by %s and applied: %s.", userRef(a.DecidedBy), boldNames(a.Names(approval.OutcomeApplied, approval.OutcomeUnchanged)))
	case approval.StateSuperseded:
		status = ":arrows_counterclockwise: Approved by " + userRef(a.DecidedBy) + ", but the policies changed since the plan: nothing was written."
		if slices.ContainsFunc(a.Outcomes, func(o approval.Outcome) bool { return o.Replanned }) {
			status += " A new request follows."
		}
	case approval.StateFailed:
		status = fmt.Sprintf(":warning: Approved by %s. Applied: %s. *Failed:* %s.", userRef(a.DecidedBy),
			orNone(boldNames(a.Names(approval.OutcomeApplied, approval.OutcomeUnchanged))), boldNames(a.Names(approval.OutcomeFailed)))
		extra = append(extra, slack.NewActionBlock("retry-"+a.ID, button(actionRetry, a.ID, "Retry the failed policies").WithStyle(slack.StylePrimary)))
	}
	b.closeNotices(ctx, a, status, extra...)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// mayRevert checks that user may revert the request: its requester, one of
// the tenant's approvers, or a ca-check admin. Reverting restores what the
// customer had, so it needs less than approving.
func (b *Bot) mayRevert(ctx context.Context, a approval.Request, user string) bool {
	if user == "" {
		return false
	}
	if user == a.RequestedBy || b.cfg.isBotAdmin(user) {
		return true
	}
	approvers, err := b.store.Approvers(ctx, a.TenantID)
	if err != nil {
		b.storeError(ctx, "approvers", err)
		return false
	}
	return slices.Contains(approvers, user)
}

// revert restores the before-image of every policy the request changed,
// within the revert window, and only where the exclusion is still the one
// ca-check wrote (the Changer refuses otherwise).
func (b *Bot) revert(ctx context.Context, dst destination, user, id string) {
	a, ok := b.loadApproval(ctx, dst, id)
	if !ok {
		return
	}
	if a.State != approval.StateApplied {
		b.say(ctx, dst, stateText(a)+" Only an applied request can be reverted.")
		return
	}
	if !b.mayRevert(ctx, a, user) {
		_ = b.store.AppendAudit(ctx, approval.AuditRecord{RequestID: a.ID, TenantID: a.TenantID, Actor: user, Action: "refused", At: b.now(),
			Detail: auditDetail(map[string]string{"action": "revert", "why": "not the requester, an approver or an admin"})})
		b.say(ctx, dst, ":no_entry_sign: Only the requester, the approvers of "+tenantLabel(a.Tenant())+" or a ca-check admin can revert this change.")
		return
	}
	until := a.UpdatedAt.Add(b.cfg.revertWindow())
	if !b.now().Before(until) {
		b.say(ctx, dst, ":alarm_clock: The revert window of this change ended "+slackDate(until)+". Change the policy in the Entra admin center instead.")
		return
	}
	// One revert attempt at a time: concurrent clicks would otherwise each
	// read the bot's write and each PATCH. An attempt that failed, or whose
	// process died (its "reverting" record is older than an apply can
	// take), does not block the next: Revert finds what it already
	// restored in place and writes only the rest.
	recs, err := b.store.RequestAudit(ctx, a.ID)
	if err != nil {
		b.storeError(ctx, "request audit", err)
		b.say(ctx, dst, userMessage(ctx, err))
		return
	}
	attempt, running := revertAttempts(recs, b.now())
	first := false
	if !running {
		// The attempt's claim and its record of intent (what it is about
		// to change, before any write) are one transaction: a claim
		// without its record would hold the change with nothing to show
		// it was taken, and nothing that ever ages. A claim without a
		// record from an older ca-check is taken over once as old as a
		// dead attempt.
		var intent []map[string]any
		for _, o := range a.Outcomes {
			if o.Status == approval.OutcomeApplied && o.Change != nil {
				intent = append(intent, map[string]any{"policyId": o.PolicyID, "before": o.Change.Before, "wrote": o.Change.After})
			}
		}
		first, err = b.store.ClaimAudited(ctx, fmt.Sprintf("revert:%s:%d", a.ID, attempt), b.now().Add(-staleAfter),
			approval.AuditRecord{RequestID: a.ID, TenantID: a.TenantID, Actor: user, Action: actionReverting, At: b.now(),
				Detail: auditDetail(map[string]any{"policies": intent})})
		if err != nil {
			b.storeError(ctx, "claim revert", err)
			b.say(ctx, dst, userMessage(ctx, err))
			return
		}
	}
	if !first {
		b.say(ctx, dst, ":information_source: This change is already being reverted; see the thread.")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), applyTimeout)
	defer cancel()
	for i := range a.Outcomes {
		o := &a.Outcomes[i]
		if o.Status != approval.OutcomeApplied || o.Change == nil {
			continue
		}
		ch, err := b.changer.Revert(ctx, a.TenantID, o.PolicyID, o.Change.Before, o.Change.After)
		if err != nil {
			o.Status, o.Error = approval.OutcomeRevertFailed, diagnose.ErrorMessage(err)
		} else {
			o.Status, o.Reverted, o.Error = approval.OutcomeReverted, &ch, ""
		}
		b.logger(ctx).Info("policy revert", "request", a.ID, "tenant", a.TenantID, "policy", o.PolicyID, "outcome", o.Status)
	}
	detail := auditDetail(map[string]any{"outcomes": a.Outcomes})
	if a.Count(approval.OutcomeRevertFailed) == 0 {
		r, err := b.store.Transition(ctx, a.ID, approval.Transition{From: approval.StateApplied, To: approval.StateReverted, By: user, At: b.now(),
			Outcomes: a.Outcomes, Detail: detail})
		if err != nil {
			b.storeError(ctx, "transition", err)
		} else {
			a = r
		}
		b.closeNotices(ctx, a, ":leftwards_arrow_with_hook: Applied, then reverted by "+userRef(user)+".")
	} else if err := b.store.AppendAudit(ctx, approval.AuditRecord{RequestID: a.ID, TenantID: a.TenantID, Actor: user, Action: actionRevertFailed, At: b.now(), Detail: detail}); err != nil {
		b.storeError(ctx, "audit revert", err)
	}
	b.threadText(ctx, a, revertText(a, user))
}

// Audit actions of a revert attempt besides the transition to reverted.
const (
	actionReverting    = "reverting"     // an attempt starts: the policies it will restore
	actionRevertFailed = "revert_failed" // it ended with some policies not restored
)

// revertAttempts counts the revert attempts recorded in a request's audit
// and reports whether the last one may still be running: it has not ended
// (reverted, revert_failed) and is younger than staleAfter, past which its
// process is taken for dead, as for an interrupted apply.
func revertAttempts(recs []approval.AuditRecord, now time.Time) (n int, running bool) {
	var last *approval.AuditRecord
	for i := range recs {
		switch recs[i].Action {
		case actionReverting:
			n++
			last = &recs[i]
		case string(approval.StateReverted), actionRevertFailed:
			last = nil
		}
	}
	return n, last != nil && now.Sub(last.At) < staleAfter
}
