package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/bot"
	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient"
	"github.com/cacheck/ca-check/scan"
)

// serve hands the bot graphclient as it is (it diagnoses, applies and
// reverts fixes, and checks approvers, all in diagnose's types) and the
// store, which keeps both the bot's state and the approval requests.
var (
	_ bot.Diagnoser    = (*graphclient.Client)(nil)
	_ approval.Changer = (*graphclient.Client)(nil)
	_ bot.Store        = (*store.Store)(nil)
	_ approval.Store   = (*store.Store)(nil)
)

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by bot.Config
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func runServe(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "serve", "", serveAbout())
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return diagnose.Errorf(diagnose.EINVALID, "serve takes no arguments; it is configured by CACHECK_ environment variables ('ca-check help env')")
	}
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		return err
	}
	bc, gc := cfg.bot, cfg.graph
	v := c.buildVersion()
	log := newLogger(c.stderr, bc.LogLevel)
	log.Info("ca-check", v.logAttrs()...)
	ua := v.UserAgent()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	graphHTTP := &http.Client{Transport: withUserAgent(ua, newGraphMetrics(reg).wrap(c.baseTransport()))}
	graph, err := graphclient.New(gc, graphclient.WithLogger(log), graphclient.WithHTTPClient(graphHTTP))
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, bc.DB)
	if err != nil {
		return diagnose.Errorf(diagnose.EUNAVAILABLE, "CACHECK_DB: %w", err)
	}
	defer st.Close()
	// The bot's own default client, with ca-check's User-Agent.
	slackHTTP := &http.Client{Timeout: 30 * time.Second, Transport: withUserAgent(ua, http.DefaultTransport)}
	// Fleet scans read Graph through a client of their own, whose
	// transport keeps to Graph's per-tenant and per-app limits.
	lim := scan.NewLimiter(scan.Limits{})
	scanGraph, err := graphclient.New(gc, graphclient.WithLogger(log),
		graphclient.WithHTTPClient(&http.Client{Transport: lim.Transport(graphHTTP.Transport)}))
	if err != nil {
		return err
	}
	schedule, err := scan.ParseSchedule(cfg.scan.Schedule) // validated with the rest
	if err != nil {
		return err
	}
	openScans := func(n scan.Notifier) (bot.Scans, error) {
		return scan.OpenQueue(ctx, st, bc.DB, scan.QueueConfig{
			Scanner:  &scan.Scanner{Graph: scanGraph, Limiter: lim, Attempts: scan.DefaultAttempts},
			Store:    st,
			Notifier: n,
			Schedule: schedule,
			Channel:  cfg.scan.Channel,
			Logger:   log,
		})
	}
	b, err := bot.New(bc, graph, st, log, reg, bot.WithApprovals(graph, st), bot.WithHTTPClient(slackHTTP), bot.WithScans(openScans))
	if err != nil {
		return diagnose.Errorf(diagnose.EINVALID, "%w", err)
	}
	return b.Run(ctx)
}

// serveAbout is the help of 'serve', which has no flags: what it needs.
func serveAbout() string {
	def := map[string]string{}
	for _, spec := range envSpecs() {
		for _, ev := range envVars(spec) {
			def[ev.name] = ev.def
		}
	}
	return `Runs the Slack bot until it is interrupted (SIGINT, SIGTERM), then lets
in-flight work finish. It has no flags: it is configured by environment
variables, and checks them all before it starts.

It needs:
  CACHECK_SLACK_BOT_TOKEN       the Slack app's bot token (xoxb-…)
  CACHECK_SLACK_APP_TOKEN       Socket Mode (the default): the app-level token (xapp-…)
    or, for HTTP mode instead, CACHECK_HTTP_ADDR and CACHECK_SLACK_SIGNING_SECRET
  CACHECK_PARTNER_TENANT_ID     the partner's own Entra tenant ID
  CACHECK_CLIENT_ID             the app registration's application (client) ID
  one credential of the app     CACHECK_CLIENT_SECRET, CACHECK_CLIENT_CERTIFICATE_PATH,
                                CACHECK_FEDERATED_TOKEN_FILE or CACHECK_MANAGED_IDENTITY_CLIENT_ID

It keeps its state in CACHECK_DB (default ` + def["CACHECK_DB"] + `; a postgres:// URL when
several replicas run) and serves /healthz, /readyz and /metrics on
CACHECK_HEALTH_ADDR (default ` + def["CACHECK_HEALTH_ADDR"] + `).

'ca-check help env' lists every variable with its default.
`
}
