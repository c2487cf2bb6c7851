package bot_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/bot"
	"github.com/cacheck/ca-check/bot/slacktest"
)

// outsider is someone who may not ask, as Slack describes them: in
// users.info, and in the team the signed payload names ("" where the payload
// names ours, as it does for a Slack Connect user in a shared channel).
type outsider struct {
	name        string
	user        slack.User
	payloadTeam string
}

var outsiders = []outsider{
	{"guest", slack.User{ID: "U0GUEST", TeamID: slacktest.TeamID, IsRestricted: true}, ""},
	{"single-channel guest", slack.User{ID: "U0SCGUEST", TeamID: slacktest.TeamID, IsUltraRestricted: true}, ""},
	{"Slack Connect user, payload names their team", slack.User{ID: "U0CONTOSOADM", TeamID: "T0CONTOSO"}, "T0CONTOSO"},
	{"Slack Connect user, only users.info tells", slack.User{ID: "U0CONTOSOENG", TeamID: "T0CONTOSO"}, ""},
	{"stranger", slack.User{ID: "U0STRANGER", TeamID: slacktest.TeamID, IsStranger: true}, ""},
	{"bot user", slack.User{ID: "U0OTHERBOT", TeamID: slacktest.TeamID, IsBot: true}, ""},
	{"deactivated member", slack.User{ID: "U0GONE", TeamID: slacktest.TeamID, Deleted: true}, ""},
}

// customerWords are what an outsider must never see: the customers' names
// and tenant IDs, and any verdict.
var customerWords = []string{"Contoso", "contoso.com", contosoID, "Fabrikam", fabrikamID, "blocked", "Require compliant device"}

func checkNothingAboutCustomers(t *testing.T, where, text string) {
	t.Helper()
	for _, w := range customerWords {
		if strings.Contains(text, w) {
			t.Errorf("%s showed an outsider %q:\n%s", where, w, text)
		}
	}
}

// Every path that reads a customer refuses every kind of outsider: one
// private line for what they asked, nothing for what they pasted, no
// options in the picker, an App Home without customers; and Graph is not
// read for them.
func TestOutsidersMayNotAsk(t *testing.T) {
	paste := readFile(t, "paste-with-tenant.txt")
	for _, o := range outsiders {
		t.Run(o.name, func(t *testing.T) {
			h := start(t)
			// An engineer's answer, with buttons the outsider can see in a
			// shared channel.
			h.command("contoso.com")
			answer := h.wait(1, "chat.postMessage")[0]
			guide, _ := answer.Button("show_guide")
			if guide == nil {
				t.Fatal("no Show guide button on the engineer's answer")
			}
			answerTS := "1700000000.000001"
			h.slack.AddUser(o.user)
			h.settle()
			h.slack.Reset()
			diagnoses, resolves, listings := h.diag.diagnoses.Load(), h.diag.resolves.Load(), h.diag.listings.Load()
			u := o.user.ID

			// The slash command: a tenant, and a pasted error. A payload
			// that names another team is refused in the acknowledgement
			// itself; otherwise the refusal follows it.
			refusals := 0
			for _, text := range []string{"fabrikam.com", paste, "link", "approvers contoso.com list", "scan"} {
				_, ack := h.post("/slack/commands", slacktest.ContentForm,
					h.slack.CommandBody(slack.SlashCommand{ChannelID: channel, UserID: u, TeamID: o.payloadTeam, Text: text}), time.Time{})
				checkNothingAboutCustomers(t, "the acknowledgement", ack)
				if strings.Contains(ack, "only members of the partner") {
					refusals++
				}
			}
			// A paste in the channel, and a mention asking about a tenant.
			h.event("EvOut1", withTeam(slacktest.Message(channel, u, "1700001000.000100", "", paste), o.payloadTeam))
			h.event("EvOut2", withTeam(map[string]any{"type": "app_mention", "channel": channel, "user": u, "ts": "1700001000.000200",
				"text": "<@" + slacktest.BotUserID + "> fabrikam.com"}, o.payloadTeam))
			// The buttons on the engineer's answer, and the picker.
			for _, action := range []string{"show_guide", "recheck", "request_approval", "show_all"} {
				h.interact(withClickTeam(h.slack.BlockAction(u, channel, answerTS, "", "", action, guide.Value), o.payloadTeam))
			}
			// A fleet scan digest's Request approval.
			h.interact(withClickTeam(h.slack.BlockAction(u, channel, answerTS, "", "", "scan_request_approval", contosoID), o.payloadTeam))
			h.interact(withClickTeam(h.slack.SelectAction(u, channel, answerTS, "", "pick?c=53003", "pick_tenant", contosoID), o.payloadTeam))
			_, options := h.interact(withClickTeam(slack.InteractionCallback{Type: slack.InteractionTypeBlockSuggestion, ActionID: "pick_tenant", Value: "con",
				User: slack.User{ID: u, TeamID: o.payloadTeam}}, o.payloadTeam))
			// The App Home.
			h.event("EvOut3", map[string]any{"type": "app_home_opened", "user": u, "channel": "D0OUT", "tab": "home", "event_ts": "1700001000.000300"})
			h.wait(1, "views.publish")
			h.settle()

			if strings.Contains(options, "Contoso") || strings.Contains(options, contosoID) || strings.Contains(options, `"value"`) {
				t.Errorf("the picker offered an outsider customers: %s", options)
			}
			if n := h.diag.diagnoses.Load() - diagnoses; n != 0 {
				t.Errorf("an outsider caused %d diagnoses", n)
			}
			if n := h.diag.resolves.Load() - resolves; n != 0 {
				t.Errorf("an outsider caused %d tenant look-ups", n)
			}
			if n := h.diag.listings.Load() - listings; n != 0 {
				t.Errorf("an outsider caused %d GDAP listings", n)
			}
			if calls := h.slack.Calls("chat.postMessage", "chat.update", "conversations.open"); len(calls) != 0 {
				t.Errorf("an outsider's questions were answered in the channel: %v", methodsOf(calls))
			}
			for _, c := range h.slack.Calls(slacktest.MethodResponseURL, "chat.postEphemeral", "views.publish") {
				checkNothingAboutCustomers(t, c.Method, c.Text())
				if c.Method == "views.publish" {
					continue
				}
				refusals++
				if c.Method == slacktest.MethodResponseURL && c.Arg("response_type") != "ephemeral" {
					t.Errorf("a refusal went to the channel: %s", c.Text())
				}
				if c.Method == "chat.postEphemeral" && c.Arg("user") != u {
					t.Errorf("a refusal went to %s, not the outsider", c.Arg("user"))
				}
			}
			// Five commands, the mention, six clicks: one line each; the
			// paste and the picker's search: nothing.
			if refusals != 12 {
				t.Errorf("%d refusal lines, want 12 (one per question, none for the paste): %v", refusals, methodsOf(h.slack.Calls()))
			}
			if !strings.Contains(h.logs.String(), `"msg":"refused"`) {
				t.Error("refusals were not logged")
			}
			if got := counterSum(t, h, "cacheck_refusals_total"); got < 14 {
				t.Errorf("cacheck_refusals_total = %v, want every refusal counted (14)", got)
			}
		})
	}
}

func withTeam(ev map[string]any, team string) map[string]any {
	if team != "" {
		ev["user_team"] = team
	}
	return ev
}

func withClickTeam(cb slack.InteractionCallback, team string) slack.InteractionCallback {
	if team != "" {
		cb.User.TeamID, cb.Team.ID = team, team
	}
	return cb
}

func counterSum(t *testing.T, h *harness, name string) float64 {
	t.Helper()
	families, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// When Slack cannot say who asks, nobody is answered (fail closed); the
// next question asks Slack again.
func TestWhoAsksUnknownFailsClosed(t *testing.T) {
	h := start(t)
	h.slack.FailNext("users.info", "fatal_error")
	h.command("contoso.com")
	r := h.wait(1, slacktest.MethodResponseURL)[0]
	if !strings.Contains(r.Text(), "could not check with Slack who you are") {
		t.Errorf("answered %q", r.Text())
	}
	checkNothingAboutCustomers(t, "the refusal", r.Text())
	if n := h.diag.diagnoses.Load(); n != 0 {
		t.Errorf("diagnosed %d times without knowing who asked", n)
	}
	h.command("contoso.com")
	if post := h.wait(1, "chat.postMessage")[0]; !strings.Contains(post.Text(), "Contoso") {
		t.Errorf("once Slack answered, the engineer got %q", post.Text())
	}
}

// On Enterprise Grid, members of the partner's other workspaces in the same
// organization are the partner's own; another organization's are not.
func TestEnterpriseGridSisterWorkspace(t *testing.T) {
	fake := slacktest.New()
	t.Cleanup(fake.Close)
	fake.SetEnterprise("E0PARTNER")
	h := launch(t, nil, fake, nil)
	fake.AddUser(slack.User{ID: "U0SISTER", TeamID: "T0SISTER", Enterprise: slack.EnterpriseUser{EnterpriseID: "E0PARTNER"}})
	fake.AddUser(slack.User{ID: "U0OTHERORG", TeamID: "T0OTHER", Enterprise: slack.EnterpriseUser{EnterpriseID: "E0OTHER"}})

	h.post("/slack/commands", slacktest.ContentForm, fake.CommandBody(slack.SlashCommand{ChannelID: channel, UserID: "U0SISTER", TeamID: "T0SISTER", EnterpriseID: "E0PARTNER", Text: "contoso.com"}), time.Time{})
	if post := h.wait(1, "chat.postMessage")[0]; !strings.Contains(post.Text(), "Contoso") {
		t.Errorf("a sister workspace's member got %q", post.Text())
	}
	h.post("/slack/commands", slacktest.ContentForm, fake.CommandBody(slack.SlashCommand{ChannelID: channel, UserID: "U0OTHERORG", TeamID: "T0OTHER", EnterpriseID: "E0OTHER", Text: "contoso.com"}), time.Time{})
	h.settle()
	if n := len(h.slack.Calls("chat.postMessage")); n != 1 {
		t.Errorf("another organization's user was answered (%d answers)", n)
	}
	// The payload claiming our organization does not outweigh users.info.
	h.post("/slack/commands", slacktest.ContentForm, fake.CommandBody(slack.SlashCommand{ChannelID: channel, UserID: "U0OTHERORG", TeamID: "T0OTHER", EnterpriseID: "E0PARTNER", Text: "contoso.com"}), time.Time{})
	h.settle()
	if n := len(h.slack.Calls("chat.postMessage")); n != 1 {
		t.Errorf("a forged enterprise in the payload was believed (%d answers)", n)
	}
}

// CACHECK_ENGINEER_GROUP narrows who may ask to one user group.
func TestEngineerGroup(t *testing.T) {
	h := start(t, func(c *bot.Config, _ *fakeDiagnoser) { c.EngineerGroup = "S0ENGINEERS" })
	h.slack.SetUserGroup("S0ENGINEERS", engineer)
	h.command("contoso.com")
	if post := h.wait(1, "chat.postMessage")[0]; !strings.Contains(post.Text(), "Contoso") {
		t.Errorf("a group member got %q", post.Text())
	}
	h.post("/slack/commands", slacktest.ContentForm, h.slack.CommandBody(slack.SlashCommand{ChannelID: channel, UserID: "U0SALES", Text: "contoso.com"}), time.Time{})
	r := h.wait(1, slacktest.MethodResponseURL)[0]
	if !strings.Contains(r.Text(), "user group") {
		t.Errorf("a full member outside the group got %q", r.Text())
	}
	if n := h.diag.diagnoses.Load(); n != 1 {
		t.Errorf("%d diagnoses, want the member's alone", n)
	}
}

// A group that Slack does not know refuses everyone rather than everyone
// being let in.
func TestEngineerGroupUnknownFailsClosed(t *testing.T) {
	h := start(t, func(c *bot.Config, _ *fakeDiagnoser) { c.EngineerGroup = "S0MISSPELT" })
	h.command("contoso.com")
	r := h.wait(1, slacktest.MethodResponseURL)[0]
	if !strings.Contains(r.Text(), "could not check") || h.diag.diagnoses.Load() != 0 {
		t.Errorf("an unknown group let the engineer through: %q", r.Text())
	}
}

// A channel linked to a customer answers only about that customer: another
// tenant, typed or pasted, gets a private hint and is not read; buttons on an
// answer about another customer say nothing more there.
func TestLinkedChannelAnswersOnlyItsCustomer(t *testing.T) {
	h := start(t)
	// An answer about Contoso, from before the channel was linked.
	h.command("contoso.com")
	answer := h.wait(1, "chat.postMessage")[0]
	guide, _ := answer.Button("show_guide")
	answerTS := "1700000000.000001"

	h.command("link fabrikam.com")
	h.wait(2, "chat.postMessage")
	h.settle()
	h.slack.Reset()
	diagnoses := h.diag.diagnoses.Load()

	h.command("contoso.com")
	h.command(readFile(t, "paste-with-tenant.txt")) // names Contoso's tenant ID
	h.event("EvLinked1", slacktest.Message(channel, engineer, "1700002000.000100", "", readFile(t, "paste-with-tenant.txt")))
	h.interact(h.slack.BlockAction(engineer, channel, answerTS, "", "", "show_guide", guide.Value))
	h.interact(h.slack.BlockAction(engineer, channel, answerTS, "", "", "recheck", guide.Value))
	h.settle()
	if n := h.diag.diagnoses.Load() - diagnoses; n != 0 {
		t.Errorf("Contoso was read %d times in Fabrikam's channel", n)
	}
	if calls := h.slack.Calls("chat.postMessage", "chat.update"); len(calls) != 0 {
		t.Errorf("Contoso was talked about in Fabrikam's channel: %v", texts(calls))
	}
	hints := h.slack.Calls(slacktest.MethodResponseURL, "chat.postEphemeral")
	if len(hints) != 5 {
		t.Errorf("%d hints, want one per question (5): %v", len(hints), texts(hints))
	}
	for _, c := range hints {
		if !strings.Contains(c.Text(), "linked to a customer") || !strings.Contains(c.Text(), "DM") || strings.Contains(c.Text(), "Contoso") {
			t.Errorf("hint %q", c.Text())
		}
	}

	// The linked customer itself is answered there, and the other one in a
	// DM with the bot.
	h.slack.Reset()
	h.command("fabrikam.com")
	if post := h.wait(1, "chat.postMessage")[0]; !strings.Contains(post.Text(), "Fabrikam") {
		t.Errorf("the linked customer was not answered in its channel: %q", post.Text())
	}
	h.post("/slack/commands", slacktest.ContentForm, h.slack.CommandBody(slack.SlashCommand{ChannelID: "D0ENGINEER", UserID: engineer, Text: "contoso.com"}), time.Time{})
	if post := h.wait(2, "chat.postMessage")[1]; !strings.Contains(post.Text(), "Contoso") || post.Arg("channel") != "D0ENGINEER" {
		t.Errorf("Contoso not answered in the DM: %q", post.Text())
	}
}

// The App Home shows customers only to those who may ask.
func TestAppHomeForOutsiders(t *testing.T) {
	h := start(t)
	h.command("link contoso.com")
	h.wait(1, "chat.postMessage")
	h.command("contoso.com")
	h.wait(2, "chat.postMessage")
	h.slack.AddUser(slack.User{ID: "U0GUEST", TeamID: slacktest.TeamID, IsRestricted: true})
	code, _ := h.event("EvHomeGuest", map[string]any{"type": "app_home_opened", "user": "U0GUEST", "channel": "D0GUEST", "tab": "home", "event_ts": "1700000900.000100"})
	if code != http.StatusOK {
		t.Fatalf("event status %d", code)
	}
	view := h.wait(1, "views.publish")[0]
	checkNothingAboutCustomers(t, "the guest's App Home", view.Text())
	if strings.Contains(view.Text(), "Recent diagnoses") || strings.Contains(view.Text(), "<#"+channel+">") {
		t.Errorf("the guest's App Home lists diagnoses or links:\n%s", view.Text())
	}
}
