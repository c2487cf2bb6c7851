package bot

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config is the bot's configuration. The caller fills it from the
// environment by its struct tags: each variable is CACHECK_ + the envconfig
// tag, with the default tag's value when unset.
type Config struct {
	AppToken        string        `envconfig:"SLACK_APP_TOKEN" desc:"Slack app-level token (xapp-…) with connections:write, for Socket Mode; not needed in HTTP mode"`
	BotToken        string        `envconfig:"SLACK_BOT_TOKEN" desc:"Slack bot token (xoxb-…) of the installed app"`
	SigningSecret   string        `envconfig:"SLACK_SIGNING_SECRET" desc:"Slack signing secret; with HTTP_ADDR it selects HTTP mode instead of Socket Mode"`
	HTTPAddr        string        `envconfig:"HTTP_ADDR" desc:"address for Slack's HTTP deliveries (/slack/commands, /slack/events, /slack/interactions), e.g. :8080; empty for Socket Mode"`
	SlackAPIURL     string        `envconfig:"SLACK_API_URL" default:"https://slack.com/api/" desc:"Slack Web API base URL, with its trailing slash (GovSlack: https://slack-gov.com/api/; tests: a local fake)"`
	DB              string        `envconfig:"DB" default:"./ca-check.db" desc:"database: a SQLite file path, or a postgres:// URL for several replicas"`
	AdminUsers      []string      `envconfig:"ADMIN_USERS" desc:"comma-separated Slack user IDs allowed to link and unlink channels; empty allows every member of the bot's own workspace"`
	EngineerGroup   string        `envconfig:"ENGINEER_GROUP" desc:"a Slack user group ID (S…) whose members alone may ask ca-check about customers; empty: every full member of the bot's own workspace (never guests, other workspaces or bots)"`
	LogLevel        string        `envconfig:"LOG_LEVEL" default:"info" desc:"log level: debug, info, warn or error"`
	HealthAddr      string        `envconfig:"HEALTH_ADDR" default:":8081" desc:"address of /healthz, /readyz and /metrics (may equal HTTP_ADDR); ca-check healthcheck GETs /healthz here"`
	Workers         int           `envconfig:"WORKERS" default:"8" desc:"diagnoses run at the same time; more requests wait in a queue of 32 per worker"`
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"30s" desc:"how long a shutdown waits for in-flight diagnoses before cancelling them"`
	ApprovalTTL     time.Duration `envconfig:"APPROVAL_TTL" default:"24h" desc:"how long an approval request waits for the customer admin before it expires (at most 720h)"`
	RevertWindow    time.Duration `envconfig:"REVERT_WINDOW" default:"168h" desc:"how long after an applied change it can be reverted (the Revert button, /ca-check revert)"`
	ApproverVerify  string        `envconfig:"APPROVER_VERIFY" desc:"empty: the approvers stored per tenant decide; graph: also require, at each click, that the approver's Slack email is a user of the customer tenant with an active Global, Security or Conditional Access Administrator role"`
	Retention       time.Duration `envconfig:"RETENTION" default:"2160h" desc:"how long diagnoses shown in Slack (the customers' policies they read) are kept, at least 1h; an answer's buttons work while its diagnosis is kept, and an open approval request keeps its own; approval requests and the audit log are kept"`
}

// Defaults for a Config built in code rather than from its tags, where a zero
// duration means "the default".
const (
	defaultApprovalTTL  = 24 * time.Hour
	defaultRevertWindow = 7 * 24 * time.Hour
	maxApprovalTTL      = 30 * 24 * time.Hour
	defaultRetention    = 90 * 24 * time.Hour
	// minRetention keeps an answer's buttons (Show guide, Re-check,
	// Request approval) working while it is being read.
	minRetention = time.Hour
)

// VerifyGraph is Config.ApproverVerify's value that checks approvers'
// admin roles in the customer tenant.
const VerifyGraph = "graph"

func (c Config) approvalTTL() time.Duration {
	if c.ApprovalTTL == 0 {
		return defaultApprovalTTL
	}
	return c.ApprovalTTL
}

func (c Config) retention() time.Duration {
	if c.Retention == 0 {
		return defaultRetention
	}
	return c.Retention
}

func (c Config) revertWindow() time.Duration {
	if c.RevertWindow == 0 {
		return defaultRevertWindow
	}
	return c.RevertWindow
}

// isBotAdmin reports whether user is one of the configured ca-check admins.
// Unlike isAdmin, an empty list admits nobody: approvers decide what may be
// written in customer tenants, so managing them needs an explicit admin.
func (c Config) isBotAdmin(user string) bool {
	return len(c.AdminUsers) > 0 && c.isAdmin(user)
}

// Mode is how Slack reaches the bot.
type Mode string

// The modes.
const (
	ModeSocket Mode = "socket" // the bot dials Slack over a websocket; no public endpoint
	ModeHTTP   Mode = "http"   // Slack POSTs signed requests to HTTP_ADDR
)

// Mode reports the delivery mode the configuration selects: HTTP when both
// HTTP_ADDR and SLACK_SIGNING_SECRET are set, Socket Mode otherwise.
func (c Config) Mode() Mode {
	if c.HTTPAddr != "" && c.SigningSecret != "" {
		return ModeHTTP
	}
	return ModeSocket
}

// Validate reports everything missing or malformed in one error, so that a
// deployment is fixed in one round.
func (c Config) Validate() error {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	switch {
	case c.BotToken == "":
		add("CACHECK_SLACK_BOT_TOKEN is not set (the bot token, xoxb-…)")
	case !strings.HasPrefix(c.BotToken, "xoxb-"):
		add("CACHECK_SLACK_BOT_TOKEN does not start with xoxb- (is it the app-level or a user token?)")
	}
	if c.HTTPAddr != "" && c.SigningSecret == "" {
		add("CACHECK_HTTP_ADDR is set but CACHECK_SLACK_SIGNING_SECRET is not: HTTP mode needs the signing secret to verify requests")
	}
	if c.Mode() == ModeSocket {
		switch {
		case c.AppToken == "":
			add("CACHECK_SLACK_APP_TOKEN is not set (the app-level token, xapp-…, for Socket Mode; or set CACHECK_HTTP_ADDR and CACHECK_SLACK_SIGNING_SECRET for HTTP mode)")
		case !strings.HasPrefix(c.AppToken, "xapp-"):
			add("CACHECK_SLACK_APP_TOKEN does not start with xapp- (Socket Mode needs an app-level token with connections:write)")
		}
	}
	if c.HTTPAddr != "" {
		if err := checkAddr(c.HTTPAddr); err != nil {
			add("CACHECK_HTTP_ADDR %q: %v", c.HTTPAddr, err)
		}
	}
	if c.HealthAddr == "" {
		add("CACHECK_HEALTH_ADDR is empty (default :8081)")
	} else if err := checkAddr(c.HealthAddr); err != nil {
		add("CACHECK_HEALTH_ADDR %q: %v", c.HealthAddr, err)
	}
	if u, err := url.Parse(c.SlackAPIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add("CACHECK_SLACK_API_URL %q is not an http(s) URL", c.SlackAPIURL)
	} else if !strings.HasSuffix(c.SlackAPIURL, "/") {
		add("CACHECK_SLACK_API_URL %q must end with a slash (slack-go appends method names to it)", c.SlackAPIURL)
	}
	if c.DB == "" {
		add("CACHECK_DB is empty (default ./ca-check.db)")
	}
	for _, u := range c.AdminUsers {
		if !isUserID(u) {
			add("CACHECK_ADMIN_USERS: %q is not a Slack user ID (U… or W…; copy it from the user's profile)", u)
		}
	}
	if c.EngineerGroup != "" && !isGroupID(c.EngineerGroup) {
		add("CACHECK_ENGINEER_GROUP: %q is not a Slack user group ID (S…; copy it from the group's page, or leave it empty)", c.EngineerGroup)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		add("CACHECK_LOG_LEVEL: %v", err)
	}
	if c.Workers < 1 || c.Workers > 256 {
		add("CACHECK_WORKERS is %d; use 1 to 256", c.Workers)
	}
	if c.ShutdownTimeout <= 0 {
		add("CACHECK_SHUTDOWN_TIMEOUT is %v; use a positive duration such as 30s", c.ShutdownTimeout)
	}
	if c.ApprovalTTL < 0 || c.ApprovalTTL > maxApprovalTTL {
		add("CACHECK_APPROVAL_TTL is %v; use a positive duration up to 720h, such as 24h", c.ApprovalTTL)
	}
	if c.RevertWindow < 0 {
		add("CACHECK_REVERT_WINDOW is %v; use a positive duration such as 168h", c.RevertWindow)
	}
	if c.Retention != 0 && c.Retention < minRetention {
		add("CACHECK_RETENTION is %v; use a duration of at least 1h, such as 2160h (90 days)", c.Retention)
	}
	if c.ApproverVerify != "" && c.ApproverVerify != VerifyGraph {
		add("CACHECK_APPROVER_VERIFY is %q; use graph, or leave it empty", c.ApproverVerify)
	}
	if len(probs) == 0 {
		return nil
	}
	return &ConfigError{Problems: probs}
}

// ConfigError is what Validate found wrong with a Config: one sentence per
// problem, each naming its variable, so that a caller can merge them with
// its own without parsing a message.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return "configuration: " + strings.Join(e.Problems, "; ") + " (see README.md#configuration)"
}

func checkAddr(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return errors.New("not host:port (e.g. :8080)")
	}
	return nil
}

func isUserID(s string) bool {
	return len(s) >= 3 && (s[0] == 'U' || s[0] == 'W') && slackID(s[1:])
}

func isGroupID(s string) bool {
	return len(s) >= 3 && s[0] == 'S' && slackID(s[1:])
}

// slackID reports whether s is made of Slack ID characters.
func slackID(s string) bool {
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q is not debug, info, warn or error", s)
	}
	return l, nil
}

// isAdmin reports whether user may change channel links. With no admins
// configured every member of the workspace may.
func (c Config) isAdmin(user string) bool {
	if len(c.AdminUsers) == 0 {
		return true
	}
	for _, u := range c.AdminUsers {
		if strings.TrimSpace(u) == user {
			return true
		}
	}
	return false
}
