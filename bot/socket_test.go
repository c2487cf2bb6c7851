package bot_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/bot/slacktest"
)

func deliverCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Socket Mode: the bot opens apps.connections.open's websocket, acks each
// envelope (a slash command with its ephemeral text), and answers through
// the Web API as in HTTP mode.
func TestSocketModeEndToEnd(t *testing.T) {
	h := start(t, socketMode)
	ctx := deliverCtx(t)
	if opens := h.slack.Calls("apps.connections.open"); len(opens) == 0 || opens[0].Token != "xapp-1-test" {
		t.Fatalf("apps.connections.open not called with the app-level token: %v", methodsOf(h.slack.Calls()))
	}

	// Slash command: acked with the ephemeral text, answered in the channel.
	ack, err := h.slack.SlashCommand(ctx, slack.SlashCommand{ChannelID: channel, UserID: engineer, Text: "contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	var payload struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if err := json.Unmarshal(ack.Payload, &payload); err != nil || payload.ResponseType != "ephemeral" || !strings.Contains(payload.Text, "Checking *contoso.com*") {
		t.Errorf("slash command ack payload = %s (%v)", ack.Payload, err)
	}
	answer := h.wait(1, "chat.postMessage")[0]
	if !strings.Contains(answer.Text(), "Likely blocked") {
		t.Errorf("answer: %q", answer.Text())
	}

	// A paste in a thread, delivered twice (a retry): acked both times,
	// answered once, in the thread.
	msg := slacktest.Message(channel, engineer, "1700000900.000200", "1700000900.000100", readFile(t, "paste-with-tenant.txt"))
	for attempt := range 2 {
		env := slacktest.Envelope{Type: slacktest.EnvelopeEventsAPI, Payload: slacktest.EventCallback("EvSock1", msg), RetryAttempt: attempt}
		if attempt > 0 {
			env.RetryReason = "timeout"
		}
		if _, err := h.slack.Deliver(ctx, env); err != nil {
			t.Fatal(err)
		}
	}
	threaded := h.wait(2, "chat.postMessage")[1]
	if threaded.Arg("thread_ts") != "1700000900.000100" {
		t.Errorf("paste answered in thread %q", threaded.Arg("thread_ts"))
	}

	// A click: acked, the guide posted in the answer's thread.
	btn, _ := answer.Button("show_guide")
	if btn == nil {
		t.Fatal("no Show guide button")
	}
	if _, err := h.slack.Interaction(ctx, h.slack.BlockAction(engineer, channel, "1700000000.000001", "", "", "show_guide", btn.Value)); err != nil {
		t.Fatal(err)
	}
	guide := h.wait(3, "chat.postMessage")[2]
	if guide.Arg("thread_ts") != "1700000000.000001" || !strings.Contains(guide.Text(), "Update-MgIdentityConditionalAccessPolicy") {
		t.Errorf("guide: thread %q\n%s", guide.Arg("thread_ts"), guide.Text())
	}

	h.settle()
	if n := len(h.slack.Calls("chat.postMessage")); n != 3 {
		t.Errorf("%d messages posted, want 3 (answer, threaded answer once, guide)", n)
	}
}

// The picker's external select (over 100 customers) is answered with
// matching options in the ack itself.
func TestSocketModeCustomerSearch(t *testing.T) {
	h := start(t, socketMode)
	ctx := deliverCtx(t)
	cb := slack.InteractionCallback{Type: slack.InteractionTypeBlockSuggestion, ActionID: "pick_tenant", Value: "fabri", User: slack.User{ID: engineer}}
	ack, err := h.slack.Interaction(ctx, cb)
	if err != nil {
		t.Fatal(err)
	}
	var opts slack.OptionsResponse
	if err := json.Unmarshal(ack.Payload, &opts); err != nil {
		t.Fatalf("ack payload %s: %v", ack.Payload, err)
	}
	if len(opts.Options) != 1 || opts.Options[0].Value != fabrikamID {
		t.Errorf("search for %q gave %s", cb.Value, ack.Payload)
	}
}
