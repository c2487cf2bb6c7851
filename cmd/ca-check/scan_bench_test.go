package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient"
	"github.com/cacheck/ca-check/scan"
)

// BenchmarkScanFleet scans 1,000 customers against the fake Graph at
// 50 ms a request (Entra's too), 5 % of Graph requests answered 429
// without Retry-After, and each tenant's Conditional Access reads limited
// to one a second (a read closer to the previous one is refused), through
// the real SDK and the scan's limiter, as `ca-check scan` runs; it checks
// every entry.
//
// It reports the wall time against the ideal for the concurrency N:
//
//	ideal = latency × (list + Σ_tenants r_t ÷ N)
//
// where list is the partner's listing (OpenID discovery, token, and one
// round trip per page of 100 GDAP relationships) and r_t the round trips
// on tenant t's critical path, each holding one of the N slots: OpenID
// discovery, token and the read wave (3), plus the named locations a
// policy-read turn later where a policy depends on the trusted locations
// (4); a tenant without consent stops at its refused token (2). Waits for
// the per-tenant limit and for backoffs hold no slot, so they are not in
// the ideal: they show as wall time beyond it only where too few tenants
// are left to fill the slots, at the end. slot-s/N is the slot time the
// scan used over N: above the ideal by what each request cost beyond its
// round trip (CPU for TLS, the SDK, JSON; the fake's too). Also reported: the process's
// CPU time and peak RSS during the scan (the fake server and its 1,000
// tenants included; rss-before-MB is the RSS before the scan), and the
// tenants' latencies.
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
				g.SetPolicyReadLimit(1, time.Second)
				g.SetThrottle(0.05, "")
				gc, err := loadGraphConfig(os.Getenv)
				if err != nil {
					b.Fatal(err)
				}
				lim := scan.NewLimiter(scan.Limits{Concurrency: conc})
				graph, err := graphclient.New(gc, graphclient.WithHTTPClient(&http.Client{Transport: lim.Transport(g.Client().Transport)}))
				if err != nil {
					b.Fatal(err)
				}
				timed := &latencies{Graph: graph}
				s := &scan.Scanner{Graph: timed, Limiter: lim, Attempts: scan.DefaultAttempts}
				debug.FreeOSMemory()
				before := procStatus(b, "VmRSS:")
				resetPeakRSS(b)
				b.StartTimer()
				cpu0 := cpuTime()
				start := time.Now()
				rep, err := s.Run(context.Background(), scan.Options{})
				wall := time.Since(start)
				cpu := cpuTime() - cpu0
				b.StopTimer()
				peak := procStatus(b, "VmHWM:")
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
				pages := (n + n/25 + 99) / 100
				list := 2 + pages
				ideal := time.Duration((float64(list) + float64(trips)/float64(conc)) * float64(latency))
				b.ReportMetric(wall.Seconds(), "wall-s")
				b.ReportMetric(ideal.Seconds(), "ideal-s")
				b.ReportMetric(wall.Seconds()/ideal.Seconds(), "wall/ideal")
				b.ReportMetric(cpu.Seconds(), "cpu-s")
				b.ReportMetric(lim.SlotTime().Seconds()/float64(conc), "slot-s/N")
				b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MB")
				b.ReportMetric(float64(before)/(1<<20), "rss-before-MB")
				p50, p99, max := timed.quantiles()
				b.ReportMetric(p50.Seconds(), "tenant-p50-s")
				b.ReportMetric(p99.Seconds(), "tenant-p99-s")
				b.ReportMetric(max.Seconds(), "tenant-max-s")
				b.StartTimer()
			}
		})
	}
}

// latencies times each tenant's attempts.
type latencies struct {
	scan.Graph
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) ScanTenant(ctx context.Context, id string, rels []diagnose.Relationship, signIns bool) (*diagnose.Diagnosis, error) {
	start := time.Now()
	d, err := l.Graph.ScanTenant(ctx, id, rels, signIns)
	l.mu.Lock()
	l.d = append(l.d, time.Since(start))
	l.mu.Unlock()
	return d, err
}

func (l *latencies) quantiles() (p50, p99, max time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0, 0, 0
	}
	s := slices.Sorted(slices.Values(l.d))
	return s[len(s)/2], s[len(s)*99/100], s[len(s)-1]
}

// resetPeakRSS resets the kernel's record of the process's peak RSS
// (Linux: clear_refs 5), so that VmHWM measures from here.
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the peak RSS: %v", err)
	}
}

// procStatus reads a size field of /proc/self/status (VmRSS:, VmHWM:),
// in bytes.
func procStatus(b *testing.B, field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
