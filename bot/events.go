package bot

import (
	"context"
	"regexp"
	"strconv"
	"strings"

	"github.com/slack-go/slack/slackevents"

	"github.com/cacheck/ca-check/diagnose"
)

// event queues an Events API callback; it is called once the delivery is
// acknowledged (Socket Mode) or about to be (HTTP). It reports false when
// the work queue is full, so HTTP mode can ask Slack to redeliver.
func (b *Bot) event(ctx context.Context, ev slackevents.EventsAPIEvent) bool {
	var eventID string
	if cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent); ok {
		eventID = cb.EventID
	}
	switch inner := ev.InnerEvent.Data.(type) {
	case *slackevents.MessageEvent:
		// Most channel messages are chatter: drop them before they cost a
		// job or a database write.
		if !b.wantMessage(inner) {
			return true
		}
		// A paste from someone who may not ask gets no answer at all.
		who := asker{User: inner.User, Team: inner.UserTeam}
		dst := destination{Channel: inner.Channel, User: inner.User}
		return b.pool.submit(ctx, "message", b.asEngineer(who, dst, "paste", true, func(ctx context.Context) { b.onMessage(ctx, eventID, inner) }))
	case *slackevents.AppMentionEvent:
		if inner.BotID != "" || inner.User == "" || inner.User == b.identity().UserID {
			return true
		}
		return b.pool.submit(ctx, "mention", func(ctx context.Context) { b.onMention(ctx, eventID, inner) })
	case *slackevents.FileSharedEvent:
		if inner.UserID == "" || inner.UserID == b.identity().UserID {
			return true
		}
		who := asker{User: inner.UserID}
		dst := destination{Channel: inner.ChannelID, User: inner.UserID}
		return b.pool.submit(ctx, "file", b.asEngineer(who, dst, "paste", true, func(ctx context.Context) { b.onFileShared(ctx, eventID, inner) }))
	case *slackevents.AppHomeOpenedEvent:
		if inner.Tab != "home" {
			return true
		}
		return b.pool.submit(ctx, "home", func(ctx context.Context) { b.publishHome(ctx, inner.User) })
	}
	return true
}

// wantMessage keeps human messages, new or broadcast from a thread, that may
// hold an error code. Edits, deletions, joins and every bot's messages (ours
// above all) are ignored.
func (b *Bot) wantMessage(m *slackevents.MessageEvent) bool {
	if m.BotID != "" || m.User == "" || m.User == b.identity().UserID {
		return false
	}
	switch m.SubType {
	case "", "thread_broadcast":
		return mayHoldCode(m.Text)
	case "file_share":
		return mayHoldPaste(m)
	}
	return false
}

// mayHoldCode is a cheap pre-filter for ParseErrors: every form of error it
// reads names AADSTS or an error code field.
func mayHoldCode(text string) bool {
	l := strings.ToLower(text)
	return strings.Contains(l, "aadsts") || strings.Contains(l, "error") || strings.Contains(l, "code")
}

func (b *Bot) onMessage(ctx context.Context, eventID string, m *slackevents.MessageEvent) {
	text := m.Text
	var problems []string
	files := filesOf(m)
	if len(files) > 0 {
		var content string
		content, problems = b.readFiles(ctx, files)
		text += content
	}
	errs := diagnose.ParseErrors(text)
	if len(errs) == 0 {
		// A file that may have held the error but could not be read is
		// said in the thread, once.
		if len(problems) > 0 && b.claim(ctx, "msg:"+m.Channel+":"+m.TimeStamp, "message") {
			b.say(ctx, destination{Channel: m.Channel, ThreadTS: threadOf(m.TimeStamp, m.ThreadTimeStamp), User: m.User},
				":page_facing_up: "+strings.Join(problems, "\n"))
		}
		return
	}
	kind := "thread"
	if len(files) > 0 {
		kind = "file"
	}
	b.m.commands.WithLabelValues(kind).Inc()
	b.logger(ctx).Info("error pasted", "channel", m.Channel, "channel_type", m.ChannelType, "text_len", len(text), "files", len(files), "codes", codesOf(errs))
	b.answerPaste(ctx, eventID, m.Channel, m.User, m.TimeStamp, threadOf(m.TimeStamp, m.ThreadTimeStamp), errs)
}

var mentionRE = regexp.MustCompile(`<@[UW][A-Z0-9]+(\|[^>]*)?>`)

func (b *Bot) onMention(ctx context.Context, eventID string, m *slackevents.AppMentionEvent) {
	text := strings.TrimSpace(unlinkText(mentionRE.ReplaceAllString(m.Text, " ")))
	thread := threadOf(m.TimeStamp, m.ThreadTimeStamp)
	b.m.commands.WithLabelValues("mention").Inc()
	errs := diagnose.ParseErrors(text)
	// Someone who may not ask hears one private line for a question, and
	// nothing for a paste (as without the mention).
	who := asker{User: m.User, Team: m.UserTeam}
	if why := b.mayAsk(ctx, who); why != "" {
		path := "mention"
		if len(errs) > 0 {
			path = "paste"
		}
		b.refused(ctx, refusal{asker: who, Channel: m.Channel, Path: path, Why: why})
		if len(errs) == 0 && b.claim(ctx, "msg:"+m.Channel+":"+m.TimeStamp, "message") {
			b.say(ctx, destination{Channel: m.Channel, ThreadTS: thread, User: m.User, Private: true}, refusalText(why))
		}
		return
	}
	if len(errs) > 0 {
		b.logger(ctx).Info("error pasted with a mention", "channel", m.Channel, "text_len", len(text), "codes", codesOf(errs))
		b.answerPaste(ctx, eventID, m.Channel, m.User, m.TimeStamp, thread, errs)
		return
	}
	if !b.claim(ctx, "event:"+eventID, "event") || !b.claim(ctx, "msg:"+m.Channel+":"+m.TimeStamp, "message") {
		return
	}
	dst := destination{Channel: m.Channel, ThreadTS: thread, User: m.User}
	word := strings.ToLower(strings.Fields(text + " help")[0])
	switch {
	case word == "help" || word == "?":
		b.deliver(ctx, dst, message{Text: "How to use ca-check", Blocks: sections(helpAck().Text)})
	case len(text) > maxQueryLen || strings.Contains(text, "\n"):
		b.say(ctx, dst, ":thinking_face: I found no AADSTS error code in that. Paste the whole error message, or mention me with a customer: `@ca-check contoso.com`.")
	default:
		b.answer(ctx, dst, question{Query: text})
	}
}

// answerPaste answers pasted errors in their thread: once per message
// (Slack redelivers events, and a mention arrives both as message and
// app_mention) and once per error per thread (pasting it again, or another
// engineer pasting the same, gets no second answer).
func (b *Bot) answerPaste(ctx context.Context, eventID, channel, user, ts, thread string, errs []diagnose.SignInError) {
	if eventID != "" && !b.claim(ctx, "event:"+eventID, "event") {
		return
	}
	if !b.claim(ctx, "msg:"+channel+":"+ts, "message") {
		return
	}
	var fresh []diagnose.SignInError
	for _, e := range errs {
		key := "thread:" + channel + ":" + thread + ":" + strconv.Itoa(e.Code) + ":" + strings.ToLower(e.CorrelationID)
		if b.claim(ctx, key, "thread") {
			fresh = append(fresh, e)
		}
	}
	if len(fresh) == 0 {
		return
	}
	b.answer(ctx, destination{Channel: channel, ThreadTS: thread, User: user}, question{Errors: fresh})
}

// claim reports whether this is the first time key is seen. A store
// failure counts as seen: answering twice is what Slack's retries would
// cause, and the failure is logged and counted.
func (b *Bot) claim(ctx context.Context, key, reason string) bool {
	first, err := b.store.Claim(ctx, key, b.now())
	if err != nil {
		b.storeError(ctx, "claim", err)
		return false
	}
	if !first {
		b.m.dedup.WithLabelValues(reason).Inc()
		b.logger(ctx).Debug("already answered", "reason", reason)
	}
	return first
}

func threadOf(ts, threadTS string) string {
	if threadTS != "" {
		return threadTS
	}
	return ts
}
