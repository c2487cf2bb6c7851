package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/cacheck/ca-check/bot"
	"github.com/cacheck/ca-check/diagnose"
)

// runHealthcheck is the container health check: the image has no shell or
// curl, so the binary checks itself.
func runHealthcheck(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "healthcheck", "[--addr HOST:PORT]", "")
	addr := fs.String("addr", "", "address of the health endpoint (default $CACHECK_HEALTH_ADDR, or :8081)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *addr == "" {
		// The address as serve reads it, default included; the other
		// variables are serve's to check.
		var bc bot.Config
		readEnv(&bc, os.Getenv)
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
