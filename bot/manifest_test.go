package bot_test

import (
	"os"
	"slices"
	"sort"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/cacheck/ca-check/bot/slacktest"
)

// The Slack surface the bot uses, with the bot scope each part needs (""
// for none). The end-to-end tests check every Web API call they see against
// methodScopes (checkMethodsDeclared), and TestManifest checks the manifest
// against all three tables, so a new call or event cannot ship without its
// scope, and a scope cannot stay once nothing needs it.
var (
	methodScopes = map[string]string{
		"auth.test":                    "",
		"apps.connections.open":        "", // app-level token (connections:write), not a bot scope
		"chat.postMessage":             "chat:write",
		"chat.postEphemeral":           "chat:write",
		"chat.update":                  "chat:write",
		"conversations.open":           "im:write",      // approval requests by DM
		"conversations.info":           "channels:read", // a fleet scan is not posted where another organization reads
		"views.open":                   "",              // the Reject form
		"users.info":                   "users:read",
		"usergroups.users.list":        "usergroups:read", // CACHECK_ENGINEER_GROUP
		"views.publish":                "",
		slacktest.MethodResponseURL:    "", // response URLs need no token
		slacktest.MethodFileDownload:   "files:read",
		"files.info":                   "files:read",  // long pastes Slack turned into files
		"files.getUploadURLExternal":   "files:write", // a fleet scan's CSV
		"files.completeUploadExternal": "files:write",
		slacktest.MethodFileUpload:     "",
	}
	eventScopes = map[string]string{
		"app_home_opened":  "",
		"app_mention":      "app_mentions:read",
		"file_shared":      "files:read",
		"message.channels": "channels:history",
		"message.groups":   "groups:history",
		"message.im":       "im:history",
	}
	featureScopes = map[string]string{
		"slash command /ca-check": "commands",
		// users.info returns the email only with this scope:
		// CACHECK_APPROVER_VERIFY=graph matches it to a tenant admin.
		"approver email": "users:read.email",
		// conversations.info of private channels and group DMs, where a
		// fleet scan may be asked for.
		"private channel info":  "groups:read",
		"group DM channel info": "mpim:read",
	}
)

type manifest struct {
	DisplayInformation struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
		LongDesc    string `yaml:"long_description"`
	} `yaml:"display_information"`
	Features struct {
		AppHome struct {
			HomeTab     bool `yaml:"home_tab_enabled"`
			MessagesTab bool `yaml:"messages_tab_enabled"`
		} `yaml:"app_home"`
		BotUser struct {
			DisplayName string `yaml:"display_name"`
		} `yaml:"bot_user"`
		SlashCommands []struct {
			Command     string `yaml:"command"`
			Description string `yaml:"description"`
			UsageHint   string `yaml:"usage_hint"`
		} `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuth struct {
		Scopes struct {
			Bot  []string `yaml:"bot"`
			User []string `yaml:"user"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		Events struct {
			BotEvents []string `yaml:"bot_events"`
		} `yaml:"event_subscriptions"`
		Interactivity struct {
			Enabled bool `yaml:"is_enabled"`
		} `yaml:"interactivity"`
		SocketMode bool `yaml:"socket_mode_enabled"`
	} `yaml:"settings"`
}

func TestManifest(t *testing.T) {
	raw, err := os.ReadFile("../manifest.yml")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest.yml is not valid YAML: %v", err)
	}

	want := map[string]bool{}
	for _, tbl := range []map[string]string{methodScopes, eventScopes, featureScopes} {
		for _, s := range tbl {
			if s != "" {
				want[s] = true
			}
		}
	}
	got := map[string]bool{}
	for _, s := range m.OAuth.Scopes.Bot {
		if got[s] {
			t.Errorf("scope %s listed twice", s)
		}
		got[s] = true
	}
	for s := range want {
		if !got[s] {
			t.Errorf("the code needs bot scope %s; manifest.yml does not request it", s)
		}
	}
	for s := range got {
		if !want[s] {
			t.Errorf("manifest.yml requests bot scope %s, which nothing in the code uses (least privilege: remove it)", s)
		}
	}
	if len(m.OAuth.Scopes.User) > 0 {
		t.Errorf("manifest.yml requests user scopes %v; the bot needs none", m.OAuth.Scopes.User)
	}

	var events []string
	for e := range eventScopes {
		events = append(events, e)
	}
	sort.Strings(events)
	gotEvents := slices.Clone(m.Settings.Events.BotEvents)
	sort.Strings(gotEvents)
	if !slices.Equal(events, gotEvents) {
		t.Errorf("bot_events = %v, the bot handles %v", gotEvents, events)
	}

	if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/ca-check" || m.Features.SlashCommands[0].UsageHint == "" {
		t.Errorf("slash_commands = %+v, want /ca-check with a usage hint", m.Features.SlashCommands)
	}
	if !m.Settings.Interactivity.Enabled {
		t.Error("interactivity is off: the buttons and the picker need it")
	}
	if !m.Settings.SocketMode {
		t.Error("socket_mode_enabled is false: the default deployment is Socket Mode")
	}
	if !m.Features.AppHome.HomeTab || !m.Features.AppHome.MessagesTab {
		t.Error("app_home: the Home tab and the Messages tab (DM pastes) must be enabled")
	}
	if m.DisplayInformation.Name == "" || m.Features.BotUser.DisplayName == "" {
		t.Error("display_information.name and bot_user.display_name are required")
	}
	if n := len(m.DisplayInformation.LongDesc); n > 0 && (n < 175 || n > 4000) {
		t.Errorf("long_description is %d characters; Slack wants 175 to 4,000", n)
	}
	if n := len(m.DisplayInformation.Description); n > 140 {
		t.Errorf("description is %d characters; Slack allows 140", n)
	}
}

// checkMethodsDeclared fails when the bot called a Web API method the scope
// table above does not know.
func checkMethodsDeclared(t testing.TB, fake *slacktest.Server) {
	t.Helper()
	for _, c := range fake.Calls() {
		if _, ok := methodScopes[c.Method]; !ok {
			t.Errorf("the bot called %s, which methodScopes (manifest_test.go) does not list with its scope", c.Method)
		}
	}
}
