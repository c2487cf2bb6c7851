package bot

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
)

// interaction handles a click or a select menu's search. It returns the ack
// payload: the options for a search, nil for a click, whose work is queued.
func (b *Bot) interaction(ctx context.Context, cb slack.InteractionCallback) any {
	team := cb.User.TeamID
	if team == "" {
		team = cb.Team.ID
	}
	who := asker{User: cb.User.ID, Team: team, Enterprise: cb.Enterprise.ID}
	switch cb.Type {
	case slack.InteractionTypeBlockSuggestion:
		if cb.ActionID == actionPickTenant {
			return b.suggest(ctx, who, cb.Channel.ID, cb.Value)
		}
		return &slack.OptionsResponse{Options: []*slack.OptionBlockObject{}}
	case slack.InteractionTypeBlockActions:
	case slack.InteractionTypeViewSubmission:
		b.submitted(ctx, cb)
		return nil // an empty ack closes the modal
	default:
		return nil
	}
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	msgTS := cb.Container.MessageTs
	if msgTS == "" {
		msgTS = cb.Message.Timestamp
	}
	thread := cb.Container.ThreadTs
	if thread == "" {
		thread = cb.Message.ThreadTimestamp
	}
	click := click{
		channel: channel, messageTS: msgTS, threadTS: threadOf(msgTS, thread), inThread: thread,
		user: cb.User.ID, responseURL: cb.ResponseURL, triggerID: cb.TriggerID,
	}
	for _, a := range cb.ActionCallback.BlockActions {
		b.m.commands.WithLabelValues("click_" + actionLabel(a.ActionID)).Inc()
		// Approve, Reject, Retry and Revert decide who may click
		// themselves (approvers may be customer admins of another
		// workspace); every other button is for those who may ask.
		var fn func(context.Context)
		gated := func(fn func(context.Context)) func(context.Context) {
			path := "click"
			if a.ActionID == actionPickTenant {
				path = "picker"
			}
			return b.asEngineer(who, click.dst(), path, false, fn)
		}
		switch a.ActionID {
		case actionRequestApproval:
			fn = gated(func(ctx context.Context) { b.requestApproval(ctx, click, a.Value) })
		case actionShowGuide:
			fn = gated(func(ctx context.Context) { b.showGuide(ctx, click, a.Value) })
		case actionShowAll:
			fn = gated(func(ctx context.Context) { b.showAll(ctx, click, a.Value) })
		case actionRecheck:
			fn = gated(func(ctx context.Context) { b.recheck(ctx, click, a.Value) })
		case actionPickTenant:
			fn = gated(func(ctx context.Context) { b.picked(ctx, click, a.BlockID, a.SelectedOption.Value) })
		case actionScanRequest:
			fn = gated(func(ctx context.Context) { b.requestFromScan(ctx, click, a.Value) })
		case actionApprove:
			fn = func(ctx context.Context) { b.approve(ctx, click, a.Value) }
		case actionReject:
			fn = func(ctx context.Context) { b.openReject(ctx, click, a.Value) }
		case actionRetry:
			fn = func(ctx context.Context) { b.retry(ctx, click, a.Value) }
		case actionRevert:
			fn = func(ctx context.Context) { b.revert(ctx, click.dst(), click.user, a.Value) }
		default:
			continue // a link button (consent): Slack opens the URL; nothing to do
		}
		if !b.pool.submit(ctx, a.ActionID, fn) {
			// Nothing can be said without a worker; Slack shows the click
			// as unanswered, and the user clicks again.
			b.logger(ctx).Warn("work queue full: click dropped", "action", a.ActionID)
		}
	}
	return nil
}

// actionLabel bounds the metric's label values to the known actions.
func actionLabel(id string) string {
	switch id {
	case actionRequestApproval, actionShowGuide, actionShowAll, actionRecheck, actionPickTenant, actionConsent, actionScanRequest,
		actionApprove, actionReject, actionRetry, actionRevert:
		return id
	}
	return "other"
}

// click is where a click happened and who made it. The user comes from
// Slack's signed payload, never from a button's value.
type click struct {
	channel     string
	messageTS   string // the message clicked on
	threadTS    string // its thread (the message itself when top-level)
	inThread    string // the thread it is a reply in, "" for a top-level message
	user        string
	responseURL string
	triggerID   string // for opening a modal, valid for 3 seconds
}

// dst is where answers to the click go: private ones to the clicker, public
// ones into the message's thread.
func (c click) dst() destination {
	return destination{Channel: c.channel, ThreadTS: c.threadTS, User: c.user, ResponseURL: c.responseURL, Private: true}
}

// submitted handles a modal's submission: the Reject form. The user comes
// from the signed payload; the request ID from the view's private metadata,
// which Slack keeps on its side.
func (b *Bot) submitted(ctx context.Context, cb slack.InteractionCallback) {
	if cb.View.CallbackID != viewReject {
		return
	}
	b.m.commands.WithLabelValues("submit_" + actionReject).Inc()
	user, id := cb.User.ID, cb.View.PrivateMetadata
	var reason string
	if cb.View.State != nil {
		if v, ok := cb.View.State.Values[blockReason][actionReason]; ok {
			reason = strings.TrimSpace(v.Value)
		}
	}
	if !b.pool.submit(ctx, "reject", func(ctx context.Context) { b.reject(ctx, user, id, reason) }) {
		b.logger(ctx).Warn("work queue full: rejection dropped", "request", id)
	}
}

// record loads the diagnosis a button points at, telling the clicker when
// it cannot.
func (b *Bot) record(ctx context.Context, c click, value string) (store.DiagnosisRecord, *diagnose.Diagnosis, []diagnose.SignInError, bool) {
	id, err := strconv.ParseInt(value, 10, 64)
	if err != nil || id <= 0 {
		b.say(ctx, c.dst(), ":warning: That button does not point at a diagnosis. Run `/ca-check` again.")
		return store.DiagnosisRecord{}, nil, nil, false
	}
	rec, err := b.store.Diagnosis(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		b.say(ctx, c.dst(), ":mag: I no longer have that diagnosis. Run `/ca-check` again for a fresh one.")
		return rec, nil, nil, false
	}
	if err != nil {
		b.storeError(ctx, "diagnosis", err)
		b.say(ctx, c.dst(), userMessage(ctx, err))
		return rec, nil, nil, false
	}
	// An answer about another customer (given here before the channel was
	// linked) stays where it is, but nothing more about it is said here.
	if !b.allowedHere(ctx, c.dst(), "click", rec.TenantID) {
		return rec, nil, nil, false
	}
	d, errs, err := loadResult(rec)
	if err != nil {
		b.m.errors.WithLabelValues("decode").Inc()
		b.logger(ctx).Error("saved diagnosis unreadable", "diagnosis", id, "err", err)
		b.say(ctx, c.dst(), userMessage(ctx, err))
		return rec, nil, nil, false
	}
	return rec, d, errs, true
}

// showGuide posts the step-by-step guide in the answer's thread.
func (b *Bot) showGuide(ctx context.Context, c click, value string) {
	_, d, _, ok := b.record(ctx, c, value)
	if !ok {
		return
	}
	pub := c.dst()
	pub.Private = false
	b.postAll(ctx, pub, guideMessages(d))
}

// showAll posts the blocking policies the answer left out, in its thread.
func (b *Bot) showAll(ctx context.Context, c click, value string) {
	_, d, _, ok := b.record(ctx, c, value)
	if !ok {
		return
	}
	blocking := d.Blocking()
	if len(blocking) <= topPolicies {
		return
	}
	pub := c.dst()
	pub.Private = false
	b.postAll(ctx, pub, policyMessages("More blocking policies for "+plainLabel(tenantOf(d)), blocking[topPolicies:]))
}

// recheck diagnoses again with the same question and replaces the answer.
func (b *Bot) recheck(ctx context.Context, c click, value string) {
	rec, d, errs, ok := b.record(ctx, c, value)
	if !ok {
		return
	}
	sc := d.Scenario
	t := diagnose.Tenant{ID: rec.TenantID, DisplayName: rec.TenantName}
	if d.Tenant != nil && d.Tenant.ID != "" {
		t = *d.Tenant
	}
	dst := destination{Channel: c.channel, ThreadTS: c.inThread, UpdateTS: c.messageTS, ResponseURL: c.responseURL, User: c.user, Private: true}
	b.answer(ctx, dst, question{Tenant: &t, Errors: errs, Scenario: &sc})
}

// picked runs the diagnosis for the customer chosen in the picker, in place
// of the picker.
func (b *Bot) picked(ctx context.Context, c click, blockID, tenantID string) {
	if tenantID == "" {
		return
	}
	dst := destination{Channel: c.channel, ThreadTS: c.inThread, UpdateTS: c.messageTS, ResponseURL: c.responseURL, User: c.user, Private: true}
	b.answer(ctx, dst, question{Query: tenantID, Errors: decodePick(blockID)})
}
