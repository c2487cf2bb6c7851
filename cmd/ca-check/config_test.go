package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cacheck/ca-check/bot"
	"github.com/cacheck/ca-check/diagnose"
)

// 'help env' reads the struct tags itself now: its output is the one the
// envconfig template printed (testdata/help-env.txt was written by it).
func TestHelpEnvUnchanged(t *testing.T) {
	r := cmd(t, "", "help", "env")
	if r.status != 0 {
		t.Fatalf("status %d: %s", r.status, r.stderr)
	}
	golden(t, "help-env.txt", r.stdout)
}

// Every default parses and every field has a type the reader knows, so
// that a new variable cannot silently be left unread.
func TestEnvDefaultsParse(t *testing.T) {
	for _, spec := range envSpecs() {
		if probs := readEnv(spec, func(string) string { return "" }); len(probs) > 0 {
			t.Errorf("%T with nothing set: %q", spec, probs)
		}
	}
	var bc bot.Config
	readEnv(&bc, func(string) string { return "" })
	if bc.Workers != 8 || bc.ShutdownTimeout != 30*time.Second || bc.DB != "./ca-check.db" || bc.LogLevel != "info" {
		t.Errorf("defaults not applied: %+v", bc)
	}
}

// env is a fake environment for loadConfig.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// validEnv is a complete Socket Mode configuration with a client secret.
func validEnv() env {
	return env{
		"CACHECK_SLACK_BOT_TOKEN":   "xoxb-1",
		"CACHECK_SLACK_APP_TOKEN":   "xapp-1",
		"CACHECK_PARTNER_TENANT_ID": examplePartner,
		"CACHECK_CLIENT_ID":         appID,
		"CACHECK_CLIENT_SECRET":     "s3cret-value",
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name string
		edit func(env)
		want []string // substrings of the one message; none: valid
		not  []string // what the message must not say
	}{
		{"valid", func(env) {}, nil, nil},
		{
			// The example: a value of the wrong type used to hide
			// every other mistake.
			"wrong type and everything missing",
			func(e env) { clear(e); e["CACHECK_SHUTDOWN_TIMEOUT"] = "30" },
			[]string{
				`CACHECK_SHUTDOWN_TIMEOUT is "30", not a duration: give a number with a unit, such as 30s`,
				"CACHECK_SLACK_BOT_TOKEN is not set", "CACHECK_SLACK_APP_TOKEN is not set",
				"CACHECK_PARTNER_TENANT_ID is required", "a credential is required",
			},
			// The bad value keeps the default: not reported a second time.
			[]string{"CACHECK_SHUTDOWN_TIMEOUT is 0s"},
		},
		{
			"every typed variable wrong",
			func(e env) {
				e["CACHECK_WORKERS"], e["CACHECK_GRAPH_MAX_RETRIES"] = "many", "3.5"
				e["CACHECK_APPROVAL_TTL"], e["CACHECK_GRAPH_TIMEOUT"] = "1d", "20"
			},
			[]string{
				`CACHECK_WORKERS is "many", not a whole number`, `CACHECK_GRAPH_MAX_RETRIES is "3.5", not a whole number`,
				`CACHECK_APPROVAL_TTL is "1d", not a duration`, `CACHECK_GRAPH_TIMEOUT is "20", not a duration`,
			},
			nil,
		},
		{
			"parse and validation problems together",
			func(e env) {
				e["CACHECK_WORKERS"], e["CACHECK_LOG_LEVEL"], e["CACHECK_CLOUD"] = "eight", "loud", "mars"
			},
			[]string{`CACHECK_WORKERS is "eight"`, `CACHECK_LOG_LEVEL: "loud" is not debug`, `CACHECK_CLOUD must be one of`},
			nil,
		},
		{
			"secrets are never shown",
			func(e env) { e["CACHECK_SLACK_BOT_TOKEN"], e["CACHECK_CLIENT_ID"] = "", "" },
			[]string{"CACHECK_SLACK_BOT_TOKEN is not set", "CACHECK_CLIENT_ID is required"},
			[]string{"s3cret-value", "xapp-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEnv()
			tt.edit(e)
			_, err := loadConfig(e.get)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("loadConfig: %v", err)
				}
				return
			}
			msg := diagnose.ErrorMessage(err)
			if diagnose.ErrorCode(err) != diagnose.EINVALID {
				t.Errorf("code %q, want EINVALID: %v", diagnose.ErrorCode(err), err)
			}
			if strings.Count(msg, "configuration:") != 1 || strings.Contains(msg, "\n") {
				t.Errorf("not one message: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("the message does not say %q:\n%s", w, msg)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(msg, n) {
					t.Errorf("the message says %q:\n%s", n, msg)
				}
			}
		})
	}
}

// How values are read: empty is unset (an env file's "CACHECK_X="), lists
// are trimmed, and only CACHECK_ variables count (envconfig also read the
// bare name, so a container's DB or LOG_LEVEL changed ca-check).
func TestLoadConfigValues(t *testing.T) {
	e := validEnv()
	e["CACHECK_LOG_LEVEL"] = ""
	e["CACHECK_ADMIN_USERS"] = " U01, W02 ,,"
	e["CACHECK_APPROVAL_TTL"] = "48h"
	e["CACHECK_GRAPH_MAX_RETRIES"] = "0"
	e["DB"], e["WORKERS"] = "/elsewhere.db", "100"
	cfg, err := loadConfig(e.get)
	bc, gc := cfg.bot, cfg.graph
	if err != nil {
		t.Fatal(err)
	}
	if bc.LogLevel != "info" || bc.DB != "./ca-check.db" || bc.Workers != 8 {
		t.Errorf("log level %q, db %q, workers %d: want the defaults", bc.LogLevel, bc.DB, bc.Workers)
	}
	if !slices.Equal(bc.AdminUsers, []string{"U01", "W02"}) {
		t.Errorf("admin users %q", bc.AdminUsers)
	}
	if bc.ApprovalTTL != 48*time.Hour || gc.MaxRetries != 0 || gc.ClientSecret != "s3cret-value" {
		t.Errorf("approval TTL %v, retries %d", bc.ApprovalTTL, gc.MaxRetries)
	}
}

// The commands that need Graph alone report its problems, not Slack's.
func TestLoadGraphConfig(t *testing.T) {
	e := validEnv()
	delete(e, "CACHECK_SLACK_BOT_TOKEN")
	e["CACHECK_GRAPH_TIMEOUT"] = "soon"
	e["CACHECK_CLIENT_ID"] = "app"
	e["CACHECK_ALL_TENANTS_FIX"] = "yes please"
	_, err := loadGraphConfig(e.get)
	msg := diagnose.ErrorMessage(err)
	for _, w := range []string{`CACHECK_GRAPH_TIMEOUT is "soon", not a duration`, `CACHECK_CLIENT_ID must be an application (client) ID GUID`, `CACHECK_ALL_TENANTS_FIX is "yes please", not true or false`} {
		if !strings.Contains(msg, w) {
			t.Errorf("the message does not say %q:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, "SLACK") || strings.Count(msg, "configuration:") != 1 {
		t.Errorf("message %q", msg)
	}
}

// serve has no flags: its help says what it needs instead of an empty
// "Flags:" section, and every variable it names exists.
func TestServeHelp(t *testing.T) {
	r := cmd(t, "", "serve", "--help")
	if r.status != 0 {
		t.Fatalf("status %d", r.status)
	}
	if strings.Contains(r.stderr, "Flags:") {
		t.Errorf("serve --help shows a Flags: section:\n%s", r.stderr)
	}
	for _, w := range []string{
		"CACHECK_SLACK_BOT_TOKEN", "CACHECK_SLACK_APP_TOKEN", "CACHECK_HTTP_ADDR", "CACHECK_SLACK_SIGNING_SECRET",
		"CACHECK_PARTNER_TENANT_ID", "CACHECK_CLIENT_ID", "CACHECK_CLIENT_SECRET", "CACHECK_MANAGED_IDENTITY_CLIENT_ID",
		"CACHECK_DB (default ./ca-check.db", "CACHECK_HEALTH_ADDR (default :8081)", "ca-check help env",
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("serve --help does not say %q:\n%s", w, r.stderr)
		}
	}
	known := cmd(t, "", "help", "env").stdout
	for _, f := range strings.FieldsFunc(r.stderr, func(r rune) bool { return r != '_' && (r < 'A' || r > 'Z') }) {
		if strings.HasPrefix(f, "CACHECK_") && !strings.Contains(known, f+"\n") && !strings.Contains(known, f+" (default") {
			t.Errorf("serve --help names %s, which help env does not list", f)
		}
	}
	// 'help serve' is the same text, on stdout.
	if h := cmd(t, "", "help", "serve"); h.status != 0 || h.stdout != r.stderr {
		t.Errorf("help serve: status %d, %q", h.status, h.stdout)
	}
	// Commands with flags still list them.
	if r := cmd(t, "", "tenants", "--help"); !strings.Contains(r.stderr, "Flags:") || !strings.Contains(r.stderr, "-json") {
		t.Errorf("tenants --help:\n%s", r.stderr)
	}
}

func TestValidationProblems(t *testing.T) {
	err := bot.Config{}.Validate()
	var ce *bot.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("bot.Config.Validate returned %T", err)
	}
	if got := validationProblems(err); !slices.Equal(got, ce.Problems) {
		t.Errorf("problems %q, want %q", got, ce.Problems)
	}
}
