package bot_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/bot/slacktest"
)

// A signed slash command is acknowledged at once, ephemerally, and answered
// in the channel with the verdict, the blocking policies and the buttons.
func TestSlashCommandAnswersInChannel(t *testing.T) {
	h := start(t)
	code, body := h.command("contoso.com")
	if code != http.StatusOK {
		t.Fatalf("ack status %d: %s", code, body)
	}
	var ack struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if err := json.Unmarshal([]byte(body), &ack); err != nil {
		t.Fatalf("ack is not JSON: %q", body)
	}
	if ack.ResponseType != "ephemeral" || !strings.Contains(ack.Text, "Checking *contoso.com*") {
		t.Errorf("ack = %+v, want an ephemeral \"Checking contoso.com…\"", ack)
	}

	post := h.wait(1, "chat.postMessage")[0]
	if post.Arg("channel") != channel || post.Arg("thread_ts") != "" {
		t.Errorf("posted to channel %q thread %q, want %s top-level", post.Arg("channel"), post.Arg("thread_ts"), channel)
	}
	if post.Token != "xoxb-test" {
		t.Errorf("posted with token %q, want the bot token", post.Token)
	}
	for _, arg := range []string{"link_names", "parse"} {
		if post.Arg(arg) != "" {
			t.Errorf("chat.postMessage sets %s=%s; mentions in tenant text must not be parsed", arg, post.Arg(arg))
		}
	}
	text := post.Text()
	for _, want := range []string{
		"Likely blocked",
		"Contoso &lt;Ltd&gt;",
		"Require compliant device for all users",
		"Duo for admins &amp; everyone",
		"Asked by <@" + engineer + ">",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("answer lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "MFA for everyone") && strings.Contains(text, ":no_entry: *MFA for everyone*") {
		t.Error("a satisfied MFA policy is shown as blocking")
	}
	actions := post.ActionIDs()
	for _, prefix := range []string{"request_approval=", "show_guide=", "recheck="} {
		if !slices.ContainsFunc(actions, func(a string) bool { return strings.HasPrefix(a, prefix) && len(a) > len(prefix) }) {
			t.Errorf("buttons %v lack %s<diagnosis id>", actions, prefix)
		}
	}
	checkLimits(t, post)
}

// A policy named "<!channel> …" reaches Slack escaped: nothing in the
// recorded message is a raw special mention.
func TestTenantTextIsEscaped(t *testing.T) {
	h := start(t)
	h.command("contoso.com")
	post := h.wait(1, "chat.postMessage")[0]
	text := post.Text()
	if !strings.Contains(text, "&lt;!channel&gt; Duo") {
		t.Errorf("escaped policy name missing:\n%s", text)
	}
	for _, raw := range []string{"<!channel>", "<!here>", "<!everyone>", "Contoso <Ltd>"} {
		if strings.Contains(text, raw) {
			t.Errorf("message contains raw %q", raw)
		}
	}
	// Every text object is verbatim, so Slack does not parse mentions in it.
	raw, _ := json.Marshal(post.Blocks)
	if strings.Contains(string(raw), `"verbatim":false`) {
		t.Errorf("a mrkdwn text object is not verbatim: %s", raw)
	}
}

// A paste in a thread is answered in that thread, with the tenant from the
// paste and the code's meaning; the pasted text never reaches the logs.
func TestThreadPasteAnsweredInThread(t *testing.T) {
	h := start(t)
	paste := readFile(t, "paste-with-tenant.txt")
	code, _ := h.event("Ev001", slacktest.Message(channel, engineer, "1700000100.000200", "1700000100.000100", paste))
	if code != http.StatusOK {
		t.Fatalf("event status %d", code)
	}
	post := h.wait(1, "chat.postMessage")[0]
	if post.Arg("thread_ts") != "1700000100.000100" {
		t.Errorf("thread_ts = %q, want the paste's thread", post.Arg("thread_ts"))
	}
	text := post.Text()
	for _, want := range []string{"AADSTS53003", "7d2c4b91-3f5e-4a8b-b1c6-0e9f2a4d6c83", "Contoso"} {
		if !strings.Contains(text, want) {
			t.Errorf("threaded answer lacks %q:\n%s", want, text)
		}
	}
}

// Slack's redelivery of an event, and the same message arriving as
// app_mention too, are answered once; so is the same error pasted again in
// the thread.
func TestPasteAnsweredOnce(t *testing.T) {
	h := start(t)
	paste := readFile(t, "paste-with-tenant.txt")
	msg := slacktest.Message(channel, engineer, "1700000200.000200", "", paste)
	h.event("Ev100", msg)
	h.event("Ev100", msg, "X-Slack-Retry-Num", "1", "X-Slack-Retry-Reason", "http_timeout")
	mention := map[string]any{"type": "app_mention", "channel": channel, "user": engineer, "ts": "1700000200.000200", "text": "<@" + slacktest.BotUserID + "> " + paste}
	h.event("Ev101", mention)
	h.wait(1, "chat.postMessage")
	// Another engineer pastes the same error into the same thread.
	h.event("Ev102", slacktest.Message(channel, "U0OTHER", "1700000200.000300", "1700000200.000200", paste))
	h.settle()
	if n := len(h.slack.Calls("chat.postMessage")); n != 1 {
		t.Errorf("answered %d times, want once", n)
	}
	if n := h.diag.diagnoses.Load(); n != 1 {
		t.Errorf("diagnosed %d times, want once", n)
	}
}

// Unsigned, badly signed, stale and tampered requests are refused with 401
// and nothing is posted.
func TestSignatureRequired(t *testing.T) {
	h := start(t)
	body := h.slack.CommandBody(slack.SlashCommand{ChannelID: channel, UserID: engineer, Text: "contoso.com"})
	cases := []struct {
		name string
		req  func() *http.Request
	}{
		{"wrong secret", func() *http.Request {
			return slacktest.NewSignedRequest(h.srv.URL+"/slack/commands", "not-the-secret", slacktest.ContentForm, body, time.Time{})
		}},
		{"stale timestamp", func() *http.Request {
			return slacktest.NewSignedRequest(h.srv.URL+"/slack/commands", secret, slacktest.ContentForm, body, time.Now().Add(-6*time.Minute))
		}},
		{"future timestamp", func() *http.Request {
			return slacktest.NewSignedRequest(h.srv.URL+"/slack/commands", secret, slacktest.ContentForm, body, time.Now().Add(6*time.Minute))
		}},
		{"tampered body", func() *http.Request {
			r := slacktest.NewSignedRequest(h.srv.URL+"/slack/commands", secret, slacktest.ContentForm, body, time.Time{})
			tampered := strings.Replace(string(body), "contoso.com", "fabrikam.com", 1)
			r2, _ := http.NewRequest(http.MethodPost, r.URL.String(), strings.NewReader(tampered))
			r2.Header = r.Header
			return r2
		}},
		{"no signature", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/slack/commands", strings.NewReader(string(body)))
			r.Header.Set("Content-Type", slacktest.ContentForm)
			return r
		}},
		{"unsigned event", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/slack/events", strings.NewReader(string(slacktest.URLVerification("x"))))
			return r
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := h.srv.Client().Do(c.req())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
		})
	}
	h.settle()
	if calls := h.slack.Calls("chat.postMessage", "chat.postEphemeral", slacktest.MethodResponseURL); len(calls) > 0 {
		t.Errorf("refused requests still caused %v", methodsOf(calls))
	}
}

func TestURLVerification(t *testing.T) {
	h := start(t)
	code, body := h.post("/slack/events", slacktest.ContentJSON, slacktest.URLVerification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"), time.Time{})
	if code != http.StatusOK || !strings.Contains(body, `"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"`) {
		t.Errorf("url_verification answered %d %s", code, body)
	}
}

// A body over the limit is refused before anything reads it.
func TestBodyLimit(t *testing.T) {
	h := start(t)
	big := make([]byte, 2<<20)
	code, _ := h.post("/slack/commands", slacktest.ContentForm, big, time.Time{})
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", code)
	}
}

// /ca-check help lists the subcommands, privately, and posts nothing.
func TestHelpAndUsage(t *testing.T) {
	h := start(t)
	for _, c := range []struct{ text, want string }{
		{"help", "/ca-check link contoso.com"},
		{"", "/ca-check unlink"},
		{strings.Repeat("what is this ", 40), "found no AADSTS error code"},
	} {
		code, body := h.command(c.text)
		if code != http.StatusOK || !strings.Contains(body, c.want) || !strings.Contains(body, `"response_type":"ephemeral"`) {
			t.Errorf("/ca-check %.20q: %d %s, want an ephemeral %q", c.text, code, body, c.want)
		}
	}
	h.settle()
	if calls := h.slack.Calls("chat.postMessage"); len(calls) > 0 {
		t.Errorf("help posted %d messages", len(calls))
	}
}

// An unknown tenant gets a private answer saying what to type instead.
func TestUnknownTenant(t *testing.T) {
	h := start(t)
	h.command("nosuch.example")
	r := h.wait(1, slacktest.MethodResponseURL)[0]
	if r.Arg("response_type") != "ephemeral" || !strings.Contains(r.Text(), "verified domain") || !strings.Contains(r.Text(), "nosuch.example") {
		t.Errorf("unknown tenant answered %s %q", r.Arg("response_type"), r.Text())
	}
	if calls := h.slack.Calls("chat.postMessage"); len(calls) > 0 {
		t.Errorf("a mistake was posted to the channel")
	}
}

// When the bot is not in the channel, the answer goes through the
// response_url, visible to the channel.
func TestNotInChannelFallsBackToResponseURL(t *testing.T) {
	h := start(t)
	h.slack.NotInChannel(channel)
	h.command("contoso.com")
	r := h.wait(1, slacktest.MethodResponseURL)[0]
	if r.Arg("response_type") != "in_channel" || !strings.Contains(r.Text(), "Likely blocked") {
		t.Errorf("fallback = %s %q", r.Arg("response_type"), r.Text())
	}
}

// Link, a paste without a tenant answered for the linked one, show the link,
// unlink, and the picker again.
func TestLinkAndUnlink(t *testing.T) {
	h := start(t)
	// As Slack sends it: with should_escape, a typed domain arrives as a link.
	h.command("link <http://contoso.com|contoso.com>")
	linked := h.wait(1, "chat.postMessage")[0]
	if !strings.Contains(linked.Text(), "linked this channel to *Contoso &lt;Ltd&gt; (contoso.com)*") {
		t.Errorf("link message: %q", linked.Text())
	}
	if got := h.slack.Calls("users.info"); len(got) != 1 || got[0].Arg("user") != engineer {
		t.Errorf("link did not check the user with users.info: %v", methodsOf(h.slack.Calls()))
	}

	h.event("Ev200", slacktest.Message(channel, engineer, "1700000300.000100", "", readFile(t, "paste-no-tenant.txt")))
	answer := h.wait(2, "chat.postMessage")[1]
	if !strings.Contains(answer.Text(), "AADSTS53000") || !strings.Contains(answer.Text(), "Require compliant device") {
		t.Errorf("paste in a linked channel not diagnosed for its tenant:\n%s", answer.Text())
	}

	h.command("link")
	show := h.wait(1, slacktest.MethodResponseURL)[0]
	if !strings.Contains(show.Text(), "linked to *Contoso") {
		t.Errorf("link status: %q", show.Text())
	}

	h.command("unlink")
	unlinked := h.wait(3, "chat.postMessage")[2]
	if !strings.Contains(unlinked.Text(), "unlinked this channel") {
		t.Errorf("unlink message: %q", unlinked.Text())
	}
	h.event("Ev201", slacktest.Message(channel, engineer, "1700000400.000100", "", readFile(t, "paste-no-tenant.txt")))
	picker := h.wait(4, "chat.postMessage")[3]
	if sel, _ := picker.Select("pick_tenant"); sel == nil {
		t.Errorf("after unlink, a paste without tenant should get the picker; got %q", picker.Text())
	}
}

// Guests and other organisations' users may not link channels; neither may
// non-admins when admins are configured.
func TestLinkRefusedForGuests(t *testing.T) {
	h := start(t)
	h.slack.AddUser(slack.User{ID: engineer, TeamID: "T0OTHERORG"})
	h.command("link contoso.com")
	r := h.wait(1, slacktest.MethodResponseURL)[0]
	if !strings.Contains(r.Text(), "only members of the partner's own Slack workspace") {
		t.Errorf("guest link answered %q", r.Text())
	}
	if _, err := h.store.ChannelLink(t.Context(), channel); err == nil {
		t.Error("a guest linked the channel")
	}
}

// Without a tenant in the paste or a link, the bot asks with a picker of
// GDAP customers in the thread; choosing one runs the diagnosis in its
// place.
func TestPickerWhenNoTenantKnown(t *testing.T) {
	h := start(t)
	h.event("Ev300", slacktest.Message(channel, engineer, "1700000500.000100", "", readFile(t, "paste-no-tenant.txt")))
	picker := h.wait(1, "chat.postMessage")[0]
	if picker.Arg("thread_ts") != "1700000500.000100" {
		t.Errorf("picker not in the paste's thread: %q", picker.Arg("thread_ts"))
	}
	sel, blockID := picker.Select("pick_tenant")
	if sel == nil {
		t.Fatalf("no picker: %q", picker.Text())
	}
	if sel.Type != "static_select" || len(sel.Options) != 2 || sel.Options[0].Text.Text != "Contoso <Ltd>" || sel.Options[0].Value != contosoID {
		t.Errorf("picker options wrong: type %s, %d options", sel.Type, len(sel.Options))
	}
	ts := "1700000000.000001" // the fake's first ts
	h.interact(h.slack.SelectAction(engineer, channel, ts, "1700000500.000100", blockID, "pick_tenant", contosoID))
	upd := h.wait(1, "chat.update")[0]
	if upd.Arg("ts") != ts || !strings.Contains(upd.Text(), "AADSTS53000") || !strings.Contains(upd.Text(), "Require compliant device") {
		t.Errorf("picking did not replace the picker with the diagnosis: ts %s\n%s", upd.Arg("ts"), upd.Text())
	}
	if !strings.Contains(upd.Text(), "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d") {
		t.Errorf("the picker lost the pasted correlation ID:\n%s", upd.Text())
	}
}

// A tenant the bot cannot read (not consented) still gets a useful answer:
// what the code means, how to find the policy by correlation ID, the generic
// fix, and the admin-consent link.
func TestNoGraphAccessStillHelps(t *testing.T) {
	h := start(t)
	paste := strings.Replace(readFile(t, "paste-with-tenant.txt"), contosoID, fabrikamID, 1)
	h.event("Ev400", slacktest.Message(channel, engineer, "1700000600.000100", "", paste))
	post := h.wait(1, "chat.postMessage")[0]
	text := post.Text()
	for _, want := range []string{
		"can't read the Conditional Access policies of Fabrikam",
		"AADSTS53003",
		"Sign-in logs",
		"7d2c4b91-3f5e-4a8b-b1c6-0e9f2a4d6c83",
		"Service provider users",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no-access answer lacks %q:\n%s", want, text)
		}
	}
	btn, _ := post.Button("open_consent")
	if btn == nil || !strings.HasPrefix(btn.URL, "https://login.microsoftonline.com/"+fabrikamID+"/adminconsent?client_id=") {
		t.Errorf("consent button = %+v", btn)
	}
}

// Messages from bots, the bot's own, edits and deletions are ignored.
func TestIgnoresBotsAndEdits(t *testing.T) {
	h := start(t, workers(1))
	paste := readFile(t, "paste-with-tenant.txt")
	withBot := slacktest.Message(channel, "U0SOMEBOT", "1700000700.000100", "", paste)
	withBot["bot_id"] = "B0OTHER"
	botMessage := slacktest.Message(channel, "", "1700000700.000200", "", paste)
	botMessage["subtype"] = "bot_message"
	botMessage["bot_id"] = "B0OTHER"
	own := slacktest.Message(channel, slacktest.BotUserID, "1700000700.000300", "", paste)
	edited := slacktest.Message(channel, engineer, "1700000700.000400", "", paste)
	edited["subtype"] = "message_changed"
	deleted := slacktest.Message(channel, engineer, "1700000700.000500", "", "")
	deleted["subtype"] = "message_deleted"
	botMention := map[string]any{"type": "app_mention", "channel": channel, "user": "U0SOMEBOT", "bot_id": "B0OTHER", "ts": "1700000700.000600", "text": paste}
	for i, ev := range []any{withBot, botMessage, own, edited, deleted, botMention} {
		if code, _ := h.event("EvBot"+string(rune('a'+i)), ev); code != http.StatusOK {
			t.Errorf("event %d: status %d", i, code)
		}
	}
	// A human's paste afterwards is answered, and only it.
	h.event("EvHuman", slacktest.Message(channel, engineer, "1700000700.000700", "", paste))
	h.wait(1, "chat.postMessage")
	h.settle()
	if posts := h.slack.Calls("chat.postMessage"); len(posts) != 1 || posts[0].Arg("thread_ts") != "1700000700.000700" {
		t.Errorf("posted %d messages; want only the answer to the human", len(posts))
	}
}

// The buttons: Show guide posts the guide in the thread, Re-check replaces
// the answer, Request approval says approvals are not configured (no Changer).
func TestButtons(t *testing.T) {
	h := start(t)
	h.command("contoso.com")
	answer := h.wait(1, "chat.postMessage")[0]
	ts := "1700000000.000001"
	guide, _ := answer.Button("show_guide")
	if guide == nil {
		t.Fatal("no Show guide button")
	}

	h.interact(h.slack.BlockAction(engineer, channel, ts, "", "", "show_guide", guide.Value))
	posts := h.wait(2, "chat.postMessage")
	g := posts[1]
	if g.Arg("thread_ts") != ts || !strings.Contains(g.Text(), "Service provider users") || !strings.Contains(g.Text(), "Update-MgIdentityConditionalAccessPolicy") {
		t.Errorf("guide not posted in the thread (thread %q):\n%s", g.Arg("thread_ts"), g.Text())
	}
	if !strings.Contains(g.Text(), partnerID) {
		t.Errorf("guide lacks the partner tenant: the saved diagnosis lost its plan?")
	}
	checkLimits(t, g)

	before := h.diag.diagnoses.Load()
	h.interact(h.slack.BlockAction(engineer, channel, ts, "", "", "recheck", guide.Value))
	upd := h.wait(1, "chat.update")[0]
	if upd.Arg("ts") != ts || !strings.Contains(upd.Text(), "Likely blocked") || h.diag.diagnoses.Load() != before+1 {
		t.Errorf("re-check did not re-diagnose and update the answer: ts %q", upd.Arg("ts"))
	}
	if b, _ := upd.Button("recheck"); b == nil || b.Value == guide.Value {
		t.Errorf("the re-checked answer should point at a new diagnosis record")
	}

	h.interact(h.slack.BlockAction(engineer, channel, ts, "", "", "request_approval", guide.Value))
	r := h.wait(1, slacktest.MethodResponseURL)[0]
	if r.Arg("response_type") != "ephemeral" || !strings.Contains(r.Text(), "not configured") {
		t.Errorf("request approval answered %s %q", r.Arg("response_type"), r.Text())
	}

	h.interact(h.slack.BlockAction(engineer, channel, ts, "", "", "show_guide", "999999"))
	gone := h.wait(2, slacktest.MethodResponseURL)[1]
	if !strings.Contains(gone.Text(), "no longer have that diagnosis") {
		t.Errorf("missing record answered %q", gone.Text())
	}
}

// The App Home lists recent diagnoses and linked channels.
func TestAppHome(t *testing.T) {
	h := start(t)
	h.command("link contoso.com")
	h.wait(1, "chat.postMessage")
	h.command("contoso.com")
	h.wait(2, "chat.postMessage")
	h.event("EvHome", map[string]any{"type": "app_home_opened", "user": engineer, "channel": "D0HOME", "tab": "home", "event_ts": "1700000800.000100"})
	view := h.wait(1, "views.publish")[0]
	if view.Arg("user_id") != engineer {
		t.Errorf("published for %q", view.Arg("user_id"))
	}
	text := view.Text()
	for _, want := range []string{"Recent diagnoses", "Contoso &lt;Ltd&gt;", "likely blocked", "<#" + channel + ">", "Linked channels"} {
		if !strings.Contains(text, want) {
			t.Errorf("home lacks %q:\n%s", want, text)
		}
	}
}

// /metrics serves the bot's own registry with the series the runbook
// names.
func TestMetrics(t *testing.T) {
	h := start(t)
	h.command("contoso.com")
	h.wait(1, "chat.postMessage")
	h.post("/slack/commands", slacktest.ContentForm, []byte("x"), time.Now().Add(-time.Hour))
	h.settle()
	families, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	for _, want := range []string{
		"cacheck_slack_commands_total", "cacheck_diagnosis_duration_seconds", "cacheck_slack_ack_duration_seconds",
		"cacheck_errors_total", "cacheck_http_requests_total",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("metrics lack %s (have %v)", want, names)
		}
	}
}

// checkLimits asserts Slack's Block Kit limits on a recorded message.
func checkLimits(t testing.TB, c slacktest.Call) {
	t.Helper()
	if n := len(c.Blocks.BlockSet); n > 50 {
		t.Errorf("%d blocks; Slack allows 50", n)
	}
	for _, b := range c.Blocks.BlockSet {
		switch b := b.(type) {
		case *slack.SectionBlock:
			if b.Text != nil && len([]rune(b.Text.Text)) > 3000 {
				t.Errorf("section text of %d characters; Slack allows 3,000", len([]rune(b.Text.Text)))
			}
		case *slack.ContextBlock:
			if n := len(b.ContextElements.Elements); n > 10 {
				t.Errorf("context with %d elements; Slack allows 10", n)
			}
		case *slack.ActionBlock:
			for _, e := range b.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok && len([]rune(btn.Text.Text)) > 75 {
					t.Errorf("button text %q over 75 characters", btn.Text.Text)
				}
			}
		}
	}
}
