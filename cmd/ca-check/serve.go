package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/bot"
	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient"
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
	fs := newFlags(c, "serve", "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return diagnose.Errorf(diagnose.EINVALID, "serve takes no arguments; it is configured by CACHECK_ environment variables ('ca-check help env')")
	}
	bc, gc, err := loadConfig()
	if err != nil {
		return err
	}
	log := newLogger(c.stderr, bc.LogLevel)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	graph, err := graphclient.New(gc, graphclient.WithLogger(log), graphclient.WithHTTPClient(&http.Client{Transport: newGraphMetrics(reg).wrap(c.graphTransport)}))
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, bc.DB)
	if err != nil {
		return diagnose.Errorf(diagnose.EUNAVAILABLE, "CACHECK_DB: %w", err)
	}
	defer st.Close()
	b, err := bot.New(bc, graph, st, log, reg, bot.WithApprovals(graph, st))
	if err != nil {
		return diagnose.Errorf(diagnose.EINVALID, "%w", err)
	}
	return b.Run(ctx)
}
