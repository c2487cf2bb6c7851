package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/scan"
)

// Diagnoser is what the bot needs from the diagnosis engine and its evidence
// source; graphclient.Client implements it. Errors are *diagnose.Error with a
// code; a tenant that has not consented to the app answers EUNAUTHORIZED
// with the admin-consent URL in its message.
type Diagnoser interface {
	// ResolveTenant finds a customer tenant by GUID, verified domain, or
	// GDAP customer name.
	ResolveTenant(ctx context.Context, query string) (diagnose.Tenant, error)
	// Diagnose reads the tenant's evidence and evaluates the scenario. A
	// scenario without PartnerTenantID gets the configured partner's.
	Diagnose(ctx context.Context, tenantID string, sc diagnose.Scenario) (*diagnose.Diagnosis, error)
	// Customers lists the partner's GDAP customers, for the picker.
	Customers(ctx context.Context) ([]diagnose.Relationship, error)
}

// Store is what the Slack adapter keeps between deliveries, besides the
// approval service's requests; *store.Store implements it.
type Store interface {
	// LinkChannel links a channel to a customer tenant, replacing its
	// earlier link.
	LinkChannel(ctx context.Context, l store.Link) error
	// UnlinkChannel removes the channel's link; store.ErrNotFound if it
	// has none.
	UnlinkChannel(ctx context.Context, channelID string) error
	// ChannelLink returns the channel's link; store.ErrNotFound if none.
	ChannelLink(ctx context.Context, channelID string) (store.Link, error)
	// Links returns every channel link.
	Links(ctx context.Context) ([]store.Link, error)
	// Claim records key (a Slack event, a paste in a thread) and reports
	// whether this caller is the first: only the first acts, however many
	// deliveries or replicas race.
	Claim(ctx context.Context, key string, now time.Time) (first bool, err error)
	// PruneClaims forgets claims made before the given time.
	PruneClaims(ctx context.Context, before time.Time) (int64, error)
	// SaveDiagnosis keeps a diagnosis shown in Slack, for its buttons,
	// and returns its ID.
	SaveDiagnosis(ctx context.Context, r store.DiagnosisRecord) (int64, error)
	// Diagnosis returns a kept diagnosis; store.ErrNotFound if none.
	Diagnosis(ctx context.Context, id int64) (store.DiagnosisRecord, error)
	// RecentDiagnoses returns up to limit diagnoses, newest first, for
	// the App Home.
	RecentDiagnoses(ctx context.Context, limit int) ([]store.DiagnosisRecord, error)
	// PruneDiagnoses deletes the diagnoses made before the given time but
	// those an open approval request still needs.
	PruneDiagnoses(ctx context.Context, before time.Time) (int64, error)
	// LastFullScan returns the newest finished full fleet scan created
	// before the given time, for the App Home; store.ErrNotFound if none.
	LastFullScan(ctx context.Context, before time.Time) (store.ScanRecord, error)
	// Ping reports whether the database answers, for /readyz.
	Ping(ctx context.Context) error
}

// Bot is the Slack bot. Create it with New and start it with Run.
type Bot struct {
	cfg   Config
	diag  Diagnoser
	store Store
	api   *slack.Client
	http  *http.Client
	now   func() time.Time
	log   *slog.Logger
	m     *metrics
	pool  *pool

	// Approvals (WithApprovals): nil when not configured.
	approvals     *approval.Service
	changer       approval.Changer
	approvalStore approval.Store
	sweepEvery    time.Duration

	// Set once auth.test has answered; /readyz waits for it.
	self atomic.Pointer[identity]
	// Who may ask, as Slack said lately (access.go).
	askers askerCache

	// Fleet scans (scan.go): nil when not configured.
	scans     Scans
	openScans func(scan.Notifier) (Scans, error)
	progress  scanProgress

	handlerOnce sync.Once
	handler     http.Handler
}

// identity is who the bot is in Slack, from auth.test.
type identity struct {
	UserID string
	BotID  string
	TeamID string
	// EnterpriseID is the Enterprise Grid organization, "" outside one.
	EnterpriseID string
}

// Option changes how New builds the bot; the options exist for tests and
// for embedding.
type Option func(*Bot)

// WithHTTPClient sets the client for Slack's Web API and response URLs.
func WithHTTPClient(c *http.Client) Option { return func(b *Bot) { b.http = c } }

// WithClock sets the clock used for records and claims.
func WithClock(now func() time.Time) Option { return func(b *Bot) { b.now = now } }

// New checks cfg and builds a bot that answers through d, remembers in st,
// logs to log (at the level the caller chose, Config.LogLevel for serve)
// and registers its metrics in reg, which /metrics serves (with whatever
// else the caller registered there: the Go runtime, Graph's requests).
func New(cfg Config, d Diagnoser, st Store, log *slog.Logger, reg *prometheus.Registry, opts ...Option) (*Bot, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d == nil || st == nil || log == nil || reg == nil {
		return nil, errors.New("bot: New needs a Diagnoser, a Store, a logger and a registry")
	}
	b := &Bot{cfg: cfg, diag: d, store: st, log: log, m: newMetrics(reg), now: time.Now}
	for _, o := range opts {
		o(b)
	}
	if b.http == nil {
		b.http = &http.Client{Timeout: 30 * time.Second}
	}
	if b.sweepEvery <= 0 {
		b.sweepEvery = defaultSweep
	}
	b.api = slack.New(cfg.BotToken,
		slack.OptionAPIURL(cfg.SlackAPIURL),
		slack.OptionHTTPClient(b.http),
		slack.OptionAppLevelToken(cfg.AppToken),
	)
	b.pool = newPool(cfg.Workers, 32*cfg.Workers, b.m, b.log)
	if b.approvalStore != nil {
		svc, err := b.newApprovals()
		if err != nil {
			return nil, fmt.Errorf("bot: %w", err)
		}
		b.approvals = svc
	}
	if b.openScans != nil {
		s, err := b.openScans(b)
		if err != nil {
			return nil, fmt.Errorf("bot: fleet scans: %w", err)
		}
		b.scans = s
	}
	return b, nil
}

// Run serves Slack until ctx is cancelled, then shuts down gracefully: it
// stops taking deliveries, lets in-flight work finish within
// Config.ShutdownTimeout, and cancels what is left. It returns nil after a
// clean shutdown and an error when it could not start or Slack refused the
// tokens.
func (b *Bot) Run(ctx context.Context) error {
	var slackSrv, healthSrv *http.Server
	var slackLn, healthLn net.Listener
	var err error
	if b.cfg.Mode() == ModeHTTP {
		if slackLn, err = net.Listen("tcp", b.cfg.HTTPAddr); err != nil {
			return fmt.Errorf("bot: HTTP address: %w", err)
		}
		defer slackLn.Close()
		slackSrv = newServer(b.Handler())
	}
	// With HEALTH_ADDR equal to HTTP_ADDR, Handler serves the health
	// endpoints on the one listener; otherwise they get their own.
	if b.cfg.Mode() != ModeHTTP || b.cfg.HealthAddr != b.cfg.HTTPAddr {
		if healthLn, err = net.Listen("tcp", b.cfg.HealthAddr); err != nil {
			return fmt.Errorf("bot: health address: %w", err)
		}
		healthSrv = newServer(b.HealthHandler())
	}
	b.log.Info("starting", "mode", b.cfg.Mode(), "workers", b.cfg.Workers, "http_addr", addrOf(slackLn), "health_addr", addrOf(healthLn))

	serveErr := make(chan error, 4)
	if healthSrv != nil {
		go func() { serveErr <- serve(healthSrv, healthLn) }()
	}
	// Readiness needs the bot's own identity (to ignore its own messages);
	// auth.test also proves the bot token before anything is accepted.
	if err := b.authenticate(ctx); err != nil {
		if healthSrv != nil {
			healthSrv.Close()
		}
		b.pool.shutdown(ctx)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() { b.pruneClaims(runCtx) })
	wg.Go(func() { b.warmUp(runCtx) })
	wg.Go(func() { b.sweep(runCtx) })
	if b.scans != nil {
		// The queue's jobs outlive a cancelled context only as far as
		// Stop lets them: it is stopped below, with the shutdown's time.
		if err := b.scans.Start(context.WithoutCancel(runCtx)); err != nil {
			serveErr <- fmt.Errorf("bot: start the fleet scan queue: %w", err)
		}
	}
	if slackSrv != nil {
		go func() { serveErr <- serve(slackSrv, slackLn) }()
	} else {
		wg.Go(func() {
			if err := b.runSocket(runCtx); err != nil {
				serveErr <- err
			}
		})
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
		b.log.Error("stopping after a failure", "err", runErr)
	}
	stop()

	// Stop taking deliveries first, then let the work drain: an HTTP
	// delivery accepted before Shutdown still gets its ack.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.ShutdownTimeout)
	defer cancel()
	if slackSrv != nil {
		if err := slackSrv.Shutdown(shutdownCtx); err != nil {
			b.log.Warn("HTTP shutdown", "err", err)
		}
	}
	wg.Wait()
	if b.scans != nil {
		if err := b.scans.Stop(shutdownCtx); err != nil {
			b.log.Warn("fleet scan queue shutdown", "err", err)
		}
	}
	if n := b.pool.shutdown(shutdownCtx); n > 0 {
		b.log.Warn("shutdown timeout: cancelled in-flight work", "jobs", n)
	}
	// Health last: an orchestrator sees the process alive until it is done.
	if healthSrv != nil {
		if err := healthSrv.Shutdown(shutdownCtx); err != nil {
			healthSrv.Close()
		}
	}
	b.log.Info("stopped")
	return runErr
}

func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

func serve(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("bot: serve %s: %w", ln.Addr(), err)
	}
	return nil
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// authenticate calls auth.test until it answers: transient failures (network,
// rate limits, 5xx) are retried with backoff, a refused token is fatal.
func (b *Bot) authenticate(ctx context.Context) error {
	delay := 500 * time.Millisecond
	for {
		resp, err := b.api.AuthTestContext(ctx)
		if err == nil {
			b.self.Store(&identity{UserID: resp.UserID, BotID: resp.BotID, TeamID: resp.TeamID, EnterpriseID: resp.EnterpriseID})
			b.log.Info("authenticated with Slack", "bot_user", resp.UserID, "team", resp.TeamID)
			return nil
		}
		b.apiError(ctx, "auth.test", err)
		var se slack.SlackErrorResponse
		if errors.As(err, &se) {
			switch se.Err {
			case "invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired":
				return fmt.Errorf("bot: Slack refused the bot token (%s): check CACHECK_SLACK_BOT_TOKEN", se.Err)
			}
		}
		if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
			delay = max(delay, rl.RetryAfter)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// warmUpTimeout bounds the first call to Graph at start.
const warmUpTimeout = time.Minute

// warmUp lists the GDAP customers once at start: it gets the partner
// tenant's token and relationships before the first question, so that the
// first diagnosis waits for the customer tenant alone, and a Graph
// configuration that does not work is in the log at once rather than at the
// first question. Readiness does not wait for it: Slack questions still get
// answers without Graph.
func (b *Bot) warmUp(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, warmUpTimeout)
	defer cancel()
	start := b.now()
	rels, err := b.diag.Customers(ctx)
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return // shutting down
	case err != nil:
		b.logger(ctx).Warn("Microsoft Graph: listing the GDAP customers at start failed", "code", diagnose.ErrorCode(err), "err", err)
		return
	}
	b.logger(ctx).Info("Microsoft Graph: GDAP customers listed", "customers", len(rels), "duration", b.now().Sub(start))
}

// claimTTL is how long claims are kept: longer than Slack redelivers (an
// hour), and long enough that an error pasted again into a thread weeks
// later is still recognised as answered.
const claimTTL = 30 * 24 * time.Hour

func (b *Bot) pruneClaims(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := b.store.PruneClaims(ctx, b.now().Add(-claimTTL))
			if err != nil {
				b.storeError(ctx, "prune claims", err)
				continue
			}
			b.log.Debug("pruned claims", "count", n)
		}
	}
}

// defaultSweep is how often the sweep runs: with the approval service's
// 30-second leases, a request a dead process left is taken over within
// 40 seconds. Each sweep is a few index lookups.
const defaultSweep = 10 * time.Second

// sweep does the periodic work of every replica, at start and then every
// sweepEvery until ctx ends: with approvals on, it closes expired requests,
// reconciles interrupted ones and reports what a dead process did not; and
// it prunes the diagnoses older than Config.Retention.
func (b *Bot) sweep(ctx context.Context) {
	t := time.NewTicker(b.sweepEvery)
	defer t.Stop()
	for {
		if b.approvals != nil {
			b.approvals.Sweep(ctx)
		}
		b.pruneDiagnoses(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneDiagnoses deletes the diagnoses older than the retention; the store
// keeps those an open approval request still needs.
func (b *Bot) pruneDiagnoses(ctx context.Context) {
	n, err := b.store.PruneDiagnoses(ctx, b.now().Add(-b.cfg.retention()))
	if err != nil {
		if ctx.Err() == nil {
			b.storeError(ctx, "prune diagnoses", err)
		}
		return
	}
	if n > 0 {
		b.log.Info("pruned diagnoses past the retention", "count", n, "retention", b.cfg.retention())
	}
}

// identity returns the bot's Slack identity, or zero before auth.test.
func (b *Bot) identity() identity {
	if p := b.self.Load(); p != nil {
		return *p
	}
	return identity{}
}
