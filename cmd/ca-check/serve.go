package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cacheck/ca-check/bot"
	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient"
)

// envPrefix prefixes every environment variable: CACHECK_ + a Config tag.
const envPrefix = "CACHECK"

// live is graphclient as the bot sees it.
type live struct{ *graphclient.Client }

// graph returns a Graph client for gc, over c.graphTransport when set.
func (c *cli) graph(gc graphclient.Config, opts ...graphclient.Option) (*graphclient.Client, error) {
	if c.graphTransport != nil {
		opts = append([]graphclient.Option{graphclient.WithHTTPClient(&http.Client{Transport: c.graphTransport})}, opts...)
	}
	return graphclient.New(gc, opts...)
}

// loadConfig fills the bot's and graphclient's configurations from the
// environment and reports everything missing or malformed in one error.
func loadConfig() (bot.Config, graphclient.Config, error) {
	var bc bot.Config
	var gc graphclient.Config
	var probs []string
	for _, spec := range []any{&bc, &gc} {
		if err := envconfig.Process(envPrefix, spec); err != nil {
			probs = append(probs, envError(err))
		}
	}
	if len(probs) == 0 {
		for _, err := range []error{bc.Validate(), gc.Validate()} {
			if err != nil {
				msg := strings.TrimPrefix(err.Error(), "configuration: ")
				probs = append(probs, strings.TrimSuffix(msg, " (see README.md#configuration)"))
			}
		}
	}
	if len(probs) > 0 {
		return bc, gc, diagnose.Errorf(diagnose.EINVALID, "configuration: %s ('ca-check help env' lists the variables; README.md#configuration says how to get each)", strings.Join(probs, "; "))
	}
	return bc, gc, nil
}

// loadGraphConfig is loadConfig for the commands that need Graph alone.
func loadGraphConfig() (graphclient.Config, error) {
	var gc graphclient.Config
	if err := envconfig.Process(envPrefix, &gc); err != nil {
		return gc, diagnose.Errorf(diagnose.EINVALID, "configuration: %s", envError(err))
	}
	if err := gc.Validate(); err != nil {
		return gc, diagnose.Errorf(diagnose.EINVALID, "%s ('ca-check help env' lists the variables)", diagnose.ErrorMessage(err))
	}
	return gc, nil
}

// envError names the variable envconfig could not parse, without its value
// (which may be a secret).
func envError(err error) string {
	var pe *envconfig.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s is not a valid %s", pe.KeyName, pe.TypeName)
	}
	return err.Error()
}

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
	b, err := bot.New(bc, live{graph}, st, bot.WithChanger(live{graph}), bot.WithLogger(log), bot.WithRegistry(reg))
	if err != nil {
		return diagnose.Errorf(diagnose.EINVALID, "%w", err)
	}
	return b.Run(ctx)
}

func runTenants(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "tenants", "[--json]")
	asJSON := fs.Bool("json", false, "print JSON: {\"customers\":[…]}")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return diagnose.Errorf(diagnose.EINVALID, "tenants takes no arguments")
	}
	gc, err := loadGraphConfig()
	if err != nil {
		return err
	}
	graph, err := c.graph(gc)
	if err != nil {
		return err
	}
	rels, err := graph.Customers(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		if rels == nil {
			rels = []diagnose.Relationship{}
		}
		return writeJSON(c.stdout, struct {
			Customers []diagnose.Relationship `json:"customers"`
		}{rels})
	}
	tw := tabwriter.NewWriter(c.stdout, 2, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CUSTOMER\tTENANT ID\tSTATUS\tENDS\tRELATIONSHIP")
	for _, r := range rels {
		end := "-"
		if !r.EndDateTime.IsZero() {
			end = r.EndDateTime.UTC().Format(time.DateOnly)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", orDash(r.CustomerName), r.CustomerTenantID, orDash(r.Status), end, orDash(r.DisplayName))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rels) == 0 {
		fmt.Fprintln(c.stderr, "ca-check: the partner tenant has no GDAP relationships")
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// diagnoseLive reads the evidence from the customer tenant through Graph.
func diagnoseLive(ctx context.Context, c *cli, tenant string, sc diagnose.Scenario) (*diagnose.Diagnosis, error) {
	gc, err := loadGraphConfig()
	if err != nil {
		return nil, err
	}
	graph, err := c.graph(gc)
	if err != nil {
		return nil, err
	}
	return graph.Diagnose(ctx, tenant, sc)
}

// runHealthcheck is the container health check: the image has no shell or
// curl, so the binary checks itself.
func runHealthcheck(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "healthcheck", "[--addr HOST:PORT]")
	addr := fs.String("addr", "", "address of the health endpoint (default $CACHECK_HEALTH_ADDR, or :8081)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *addr == "" {
		var bc struct {
			HealthAddr string `envconfig:"HEALTH_ADDR" default:":8081"`
		}
		if err := envconfig.Process(envPrefix, &bc); err != nil {
			return diagnose.Errorf(diagnose.EINVALID, "%s", envError(err))
		}
		*addr = bc.HealthAddr
	}
	host, port, err := net.SplitHostPort(*addr)
	if err != nil {
		return diagnose.Errorf(diagnose.EINVALID, "health address %q is not host:port", *addr)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return diagnose.Errorf(diagnose.EINVALID, "health address %q: %w", *addr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return diagnose.Errorf(diagnose.EUNAVAILABLE, "unhealthy: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return diagnose.Errorf(diagnose.EUNAVAILABLE, "unhealthy: /healthz answered %s", resp.Status)
	}
	return nil
}

// envFormat is the template of 'ca-check help env': one block per variable.
const envFormat = `{{range .}}{{usage_key .}}{{if usage_default .}} (default {{usage_default .}}){{end}}
    {{usage_description .}}
{{end}}`

func printEnv(w io.Writer) error {
	fmt.Fprintln(w, "ca-check is configured by environment variables.\n\nSlack bot (ca-check serve):")
	if err := envconfig.Usagef(envPrefix, &bot.Config{}, w, envFormat); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nMicrosoft Graph (serve, diagnose --tenant, tenants):")
	return envconfig.Usagef(envPrefix, &graphclient.Config{}, w, envFormat)
}
