package bot

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{
		AppToken: "xapp-1-abc", BotToken: "xoxb-abc", SlackAPIURL: "https://slack.com/api/",
		DB: "./ca-check.db", LogLevel: "info", HealthAddr: ":8081", Workers: 8, ShutdownTimeout: 30 * time.Second,
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		mode Mode
		want []string // substrings of the error; none: valid
	}{
		{"socket mode", func(*Config) {}, ModeSocket, nil},
		{"http mode", func(c *Config) { c.AppToken, c.HTTPAddr, c.SigningSecret = "", ":8080", "s" }, ModeHTTP, nil},
		{"nothing set", func(c *Config) { *c = Config{} }, ModeSocket, []string{
			"CACHECK_SLACK_BOT_TOKEN is not set", "CACHECK_SLACK_APP_TOKEN is not set", "CACHECK_HEALTH_ADDR is empty",
			"CACHECK_SLACK_API_URL", "CACHECK_DB is empty", "CACHECK_WORKERS", "CACHECK_SHUTDOWN_TIMEOUT", "README.md#configuration"}},
		{"tokens swapped", func(c *Config) { c.AppToken, c.BotToken = c.BotToken, c.AppToken }, ModeSocket, []string{"does not start with xoxb-", "does not start with xapp-"}},
		{"http without secret", func(c *Config) { c.HTTPAddr = ":8080" }, ModeSocket, []string{"HTTP mode needs the signing secret"}},
		{"bad addresses", func(c *Config) { c.HTTPAddr, c.SigningSecret, c.HealthAddr = "8080", "s", "localhost" }, ModeHTTP, []string{"CACHECK_HTTP_ADDR \"8080\"", "CACHECK_HEALTH_ADDR \"localhost\""}},
		{"api url without slash", func(c *Config) { c.SlackAPIURL = "https://slack-gov.com/api" }, ModeSocket, []string{"must end with a slash"}},
		{"approval settings", func(c *Config) { c.ApprovalTTL, c.RevertWindow, c.ApproverVerify = -time.Hour, -1, "ldap" }, ModeSocket, []string{
			"CACHECK_APPROVAL_TTL", "CACHECK_REVERT_WINDOW", `CACHECK_APPROVER_VERIFY is "ldap"`}},
		{"approval ttl too long", func(c *Config) { c.ApprovalTTL = 1000 * time.Hour }, ModeSocket, []string{"CACHECK_APPROVAL_TTL"}},
		{"retention negative", func(c *Config) { c.Retention = -time.Hour }, ModeSocket, []string{"CACHECK_RETENTION is -1h0m0s; use a duration of at least 1h"}},
		{"retention too short", func(c *Config) { c.Retention = time.Minute }, ModeSocket, []string{"CACHECK_RETENTION is 1m0s"}},
		{"retention a year", func(c *Config) { c.Retention = 365 * 24 * time.Hour }, ModeSocket, nil},
		{"graph verification", func(c *Config) { c.ApproverVerify, c.ApprovalTTL, c.RevertWindow = "graph", time.Hour, time.Hour }, ModeSocket, nil},
		{"bad admin and level", func(c *Config) { c.AdminUsers, c.LogLevel = []string{"U123", "@alice"}, "loud" }, ModeSocket, []string{`"@alice" is not a Slack user ID`, "CACHECK_LOG_LEVEL"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := validConfig()
			c.edit(&cfg)
			if got := cfg.Mode(); got != c.mode {
				t.Errorf("Mode() = %s, want %s", got, c.mode)
			}
			err := cfg.Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Count(err.Error(), "configuration:") != 1 {
				t.Errorf("want one message listing every problem: %v", err)
			}
			// A caller merges the problems with its own, one per variable.
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("Validate returned %T, not a *ConfigError with the problems", err)
			}
			for _, p := range ce.Problems {
				if !strings.Contains(p, "CACHECK_") || strings.Contains(p, "configuration:") {
					t.Errorf("problem %q does not name its variable alone", p)
				}
			}
		})
	}
}

func TestIsAdmin(t *testing.T) {
	open := validConfig()
	if !open.isAdmin("U1") {
		t.Error("with no admins configured anyone may link")
	}
	closed := validConfig()
	closed.AdminUsers = []string{"U1", " U2"}
	if !closed.isAdmin("U2") || closed.isAdmin("U3") {
		t.Error("admin list not honoured")
	}
}
