package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient"
	"github.com/cacheck/ca-check/scan"
)

// maxConcurrency bounds --concurrency: beyond it Graph's per-app limits
// bite first, and each tenant in flight holds connections and memory.
const maxConcurrency = 256

// runScan scans every GDAP customer in this process, on a bounded pool of
// the same per-tenant function the bot's River jobs run: a terminal
// command needs no durability (an interrupted scan is run again), and
// River would add a database, its migrations and its polling to a
// one-shot command for nothing.
func runScan(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "scan", "[--json|--csv] [--concurrency N] [--tenants LIST] [--sign-ins]", "")
	asJSON := fs.Bool("json", false, "print the JSON report (a stable contract, see README.md)")
	asCSV := fs.Bool("csv", false, "print CSV, one row per customer")
	concurrency := fs.Int("concurrency", 8, fmt.Sprintf("customers with Graph requests in flight at once (1 to %d)", maxConcurrency))
	tenants := fs.String("tenants", "", "scan only these: comma-separated tenant IDs, verified domains or customer names (default: every active GDAP customer)")
	signIns := fs.Bool("sign-ins", false, "also read each customer's sign-in log to confirm blocks (needs AuditLog.Read.All; slower: Graph allows 122 reads per 10 s across all tenants)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return diagnose.Errorf(diagnose.EINVALID, "unexpected argument %q: scan takes flags only (see 'ca-check scan --help')", fs.Arg(0))
	case *asJSON && *asCSV:
		return diagnose.Errorf(diagnose.EINVALID, "--json and --csv exclude each other")
	case *concurrency < 1 || *concurrency > maxConcurrency:
		return diagnose.Errorf(diagnose.EINVALID, "--concurrency %d: use 1 to %d", *concurrency, maxConcurrency)
	}
	var only []string
	if *tenants != "" {
		for t := range strings.SplitSeq(*tenants, ",") {
			if t = strings.TrimSpace(t); t != "" {
				only = append(only, t)
			}
		}
		if len(only) == 0 {
			return diagnose.Errorf(diagnose.EINVALID, "--tenants %q names no tenant", *tenants)
		}
	}
	gc, err := loadGraphConfig(os.Getenv)
	if err != nil {
		return err
	}
	lim := scan.NewLimiter(scan.Limits{Concurrency: *concurrency})
	graph, err := c.graph(gc, graphclient.WithHTTPClient(&http.Client{Transport: lim.Transport(c.graphTransport)}))
	if err != nil {
		return err
	}
	s := &scan.Scanner{Graph: graph, Limiter: lim, Attempts: scan.DefaultAttempts}
	opts := scan.Options{Tenants: only, SignIns: *signIns}
	var bar *progressBar
	if c.progress != nil { // a person watches stderr
		bar = &progressBar{w: c.progress, start: time.Now()}
		opts.Progress = bar.update
	}
	rep, err := s.Run(ctx, opts)
	bar.finish()
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		return writeJSON(c.stdout, rep)
	case *asCSV:
		return scan.WriteCSV(c.stdout, rep)
	}
	return printScan(c.stdout, rep)
}

// printScan writes the report as a table, then the summary.
func printScan(w io.Writer, rep *scan.Report) error {
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CUSTOMER\tTENANT ID\tVERDICT\tPOLICIES OR ERROR")
	for _, r := range rep.Tenants {
		verdict, detail := string(r.Verdict), ""
		if r.Error != "" {
			verdict, detail = "error", r.Error
		} else {
			names := make([]string, len(r.Blocking))
			for i, p := range r.Blocking {
				names[i] = p.DisplayName + " (" + string(p.Effect) + ")"
			}
			detail = strings.Join(names, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", orDash(printable(r.Tenant.DisplayName)), r.Tenant.ID, verdict, orDash(printable(detail)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	sm := rep.Summary
	_, err := fmt.Fprintf(w, "\n%d customers: %d blocked, %d likely blocked, %d possibly blocked, %d not blocked, %d could not be read\n",
		sm.Total(), sm.Blocked, sm.LikelyBlocked, sm.PossiblyBlocked, sm.NotBlocked, sm.Error)
	return err
}

// printable replaces control characters (a tenant's names could carry
// terminal escape sequences, or tabs that break the table) with spaces.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

// progressBar redraws one line on a terminal as tenants finish.
type progressBar struct {
	w     io.Writer
	start time.Time
	drawn bool
}

func (b *progressBar) update(done, total int) {
	const width = 30
	filled := width * done / max(total, 1)
	fmt.Fprintf(b.w, "\r[%s%s] %d/%d customers, %s", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		done, total, time.Since(b.start).Round(time.Second))
	b.drawn = true
}

// finish ends the bar's line; a nil bar does nothing.
func (b *progressBar) finish() {
	if b != nil && b.drawn {
		fmt.Fprintln(b.w)
	}
}
