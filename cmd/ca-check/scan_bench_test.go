package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cacheck/ca-check/graphclient"
	"github.com/cacheck/ca-check/scan"
)

// BenchmarkScanFleet scans 1,000 customers against the fake Graph at
// 50 ms a request (Entra's too), 5 % of Graph requests answered 429
// without Retry-After, and each tenant's Conditional Access reads limited
// to one a second (a read closer to the previous one is refused), through
// the real SDK and the scan's limiter, as `ca-check scan` runs.
//
// It reports the wall time against the ideal for the concurrency N:
//
//	ideal = latency × (list + Σ_tenants r_t ÷ N)
//
// where list is the partner's listing (OpenID discovery, token, and one
// round trip per page of GDAP relationships) and r_t the round trips on
// tenant t's critical path that hold a slot: OpenID discovery, token and
// the read wave (3), plus the named locations a policy-read turn later
// where a policy depends on the trusted locations (4); a tenant without
// consent stops at its refused token (2). Waits for the
// per-tenant limit and for backoffs hold no slot, so they are not in the
// ideal: they cost wall time only when too few tenants are in progress to
// fill the slots. It also reports the peak RSS of the process during the
// scan (fake server included) and checks every entry.
//
//	go test -run '^$' -bench ScanFleet -benchtime 1x ./cmd/ca-check/
func BenchmarkScanFleet(b *testing.B) {
	const (
		n       = 1000
		latency = 50 * time.Millisecond
	)
	for _, conc := range []int{25, 50, 100} {
		b.Run(fmt.Sprintf("concurrency_%d", conc), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				g, fleet := newFleet(b, n)
				g.KeepLog(false)
				g.SetLatency(latency)
				if os.Getenv("XNOLIMIT") == "" {
					g.SetPolicyReadLimit(1, time.Second)
				}
				if os.Getenv("XNOTHROTTLE") == "" {
					g.SetThrottle(0.05, "")
				}
				gc, err := loadGraphConfig(os.Getenv)
				if err != nil {
					b.Fatal(err)
				}
				lim := scan.NewLimiter(scan.Limits{Concurrency: conc})
				graph, err := graphclient.New(gc, graphclient.WithHTTPClient(&http.Client{Transport: lim.Transport(g.Client().Transport)}))
				if err != nil {
					b.Fatal(err)
				}
				s := &scan.Scanner{Graph: graph, Limiter: lim, Attempts: scan.DefaultAttempts}
				runtime.GC()
				resetPeakRSS(b)
				b.StartTimer()
				start := time.Now()
				w, _ := strconv.Atoi(os.Getenv("XWORKERS"))
				rep, err := s.Run(context.Background(), scan.Options{Workers: w * conc})
				wall := time.Since(start)
				b.StopTimer()
				peak := peakRSS(b)
				if err != nil {
					b.Fatal(err)
				}
				checkFleet(b, rep, fleet)
				trips := 0
				for _, fc := range fleet {
					switch {
					case fc.Error != "":
						trips += 2
					case fc.TrustedLocations:
						trips += 4
					default:
						trips += 3
					}
				}
				rels := n + n/25
				pages := (rels + 99) / 100
				list := 2 + pages
				perTenant := float64(trips) / float64(conc)
				ideal := time.Duration((float64(list) + perTenant) * float64(latency))
				b.ReportMetric(wall.Seconds(), "wall-s")
				b.ReportMetric(ideal.Seconds(), "ideal-s")
				b.ReportMetric(wall.Seconds()/ideal.Seconds(), "wall/ideal")
				b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MB")
				b.StartTimer()
			}
		})
	}
}

// resetPeakRSS resets the kernel's record of the process's peak RSS
// (Linux: clear_refs 5), so that peakRSS measures from here.
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the peak RSS: %v", err)
	}
}

// peakRSS reads VmHWM, the process's peak resident set, in bytes.
func peakRSS(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
