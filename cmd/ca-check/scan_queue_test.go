package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/graphclient"
	"github.com/cacheck/ca-check/internal/testsupport"
	"github.com/cacheck/ca-check/scan"
)

// digests is a scan.Notifier that keeps the digests.
type digests struct {
	mu   sync.Mutex
	list []scan.Digest
}

func (d *digests) Progress(context.Context, scan.ScanInfo, int, int) error { return nil }

func (d *digests) Digest(_ context.Context, dg scan.Digest) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.list = append(d.list, dg)
	return nil
}

func (d *digests) get() []scan.Digest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]scan.Digest(nil), d.list...)
}

// The River-backed scan through the real Graph SDK, as the bot runs it:
// two replicas share the database, one stops halfway through a scan, and
// the digest has every customer once, each with the verdict it must have,
// despite Graph's throttling.
func TestScanQueue(t *testing.T) {
	for _, db := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "ca-check.db") }},
		{"postgres", func(t *testing.T) string { return testsupport.PostgresDSN(t) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			dsn := db.dsn(t)
			g, fleet := newFleet(t, 40)
			g.SetLatency(20 * time.Millisecond)
			g.SetPolicyReadLimit(1, time.Second)
			g.SetThrottle(0.05, "")
			gc, err := loadGraphConfig(os.Getenv)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			rec := &digests{}
			var queues []*scan.Queue
			var stores []*store.Store
			for range 2 {
				st, err := store.Open(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				lim := scan.NewLimiter(scan.Limits{Concurrency: 4})
				graph, err := graphclient.New(gc, graphclient.WithHTTPClient(&http.Client{Transport: lim.Transport(g.Client().Transport)}))
				if err != nil {
					t.Fatal(err)
				}
				q, err := scan.OpenQueue(ctx, st, dsn, scan.QueueConfig{
					Scanner: &scan.Scanner{Graph: graph, Limiter: lim, Attempts: scan.DefaultAttempts, Retry: func(int) time.Duration { return 50 * time.Millisecond }},
					Store:   st, Notifier: rec, PollInterval: 50 * time.Millisecond,
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := q.Start(ctx); err != nil {
					t.Fatal(err)
				}
				queues, stores = append(queues, q), append(stores, st)
			}
			t.Cleanup(func() { queues[1].Stop(context.Background()) })
			id, err := queues[0].Request(ctx, scan.Request{RequestedBy: "U0ENGINEER", ChannelID: "C0SUPPORT"})
			if err != nil {
				t.Fatal(err)
			}
			for {
				rows, err := stores[1].ScanResults(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) >= len(fleet)/2 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := queues[0].Stop(stopCtx); err != nil {
				t.Fatalf("stopping the first replica: %v", err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for len(rec.get()) == 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(500 * time.Millisecond) // a second digest would show by now
			ds := rec.get()
			if len(ds) != 1 {
				t.Fatalf("%d digests, want 1", len(ds))
			}
			checkFleet(t, ds[0].Report, fleet)
			if ds[0].Scan.ChannelID != "C0SUPPORT" || ds[0].Scan.ID != id {
				t.Errorf("digest of %+v", ds[0].Scan)
			}
			if n := len(g.GraphRequests(http.MethodPatch, "")); n != 0 {
				t.Errorf("a scan sent %d PATCH requests", n)
			}
		})
	}
}
