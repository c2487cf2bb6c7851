package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestScans(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		old := ScanRecord{ID: "scan-old", RequestedBy: "schedule", ChannelID: "C1", Full: true, CreatedAt: t0.Add(-time.Hour)}
		partial := ScanRecord{ID: "scan-partial", RequestedBy: "U1", ChannelID: "C2", CreatedAt: t0.Add(-time.Minute), Options: []byte(`{"tenants":["x"]}`)}
		cur := ScanRecord{ID: "scan-cur", RequestedBy: "schedule", ChannelID: "C1", Full: true, CreatedAt: t0}
		for _, r := range []ScanRecord{old, partial, cur} {
			if err := s.CreateScan(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateScan(ctx, cur); !errors.Is(err, ErrConflict) {
			t.Errorf("a second scan with the same ID: %v, want ErrConflict", err)
		}
		if _, err := s.LastFullScan(ctx, t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("no finished scan yet: %v", err)
		}
		for _, id := range []string{old.ID, partial.ID} {
			if err := s.StartScan(ctx, id, 1); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.EndScan(ctx, id, ScanFinished, []byte(`{}`), "", t0); err != nil || !ok {
				t.Fatalf("end %s: %v %v", id, ok, err)
			}
		}
		if last, err := s.LastFullScan(ctx, t0); err != nil || last.ID != old.ID || !last.Full || last.State != ScanFinished {
			t.Errorf("last full scan: %+v %v, want the old one (the partial one is not full)", last, err)
		}

		// Listing twice sets the same total; a different one is a conflict.
		if err := s.StartScan(ctx, cur.ID, 3); err != nil {
			t.Fatal(err)
		}
		if err := s.StartScan(ctx, cur.ID, 3); err != nil {
			t.Errorf("listing again: %v", err)
		}
		if err := s.StartScan(ctx, cur.ID, 4); !errors.Is(err, ErrConflict) {
			t.Errorf("another total: %v, want ErrConflict", err)
		}
		save := func(tenant string, result string) (bool, int) {
			t.Helper()
			stored, done, err := s.SaveScanResult(ctx, ScanResult{ScanID: cur.ID, TenantID: tenant, Verdict: "not_blocked", Result: []byte(result), FinishedAt: t0})
			if err != nil {
				t.Fatal(err)
			}
			return stored, done
		}
		if stored, done := save("t1", `{"n":1}`); !stored || done != 1 {
			t.Errorf("first result: stored %v done %d", stored, done)
		}
		if stored, done := save("t1", `{"n":2}`); stored || done != 1 {
			t.Errorf("the same tenant again: stored %v done %d, want kept once", stored, done)
		}
		if _, _, err := s.SaveScanResult(ctx, ScanResult{ScanID: cur.ID, TenantID: "t9", Result: []byte("not json")}); !errors.Is(err, ErrInvalid) {
			t.Errorf("not JSON: %v", err)
		}
		res, err := s.ScanResults(ctx, cur.ID)
		if err != nil || len(res) != 1 || string(res[0].Result) != `{"n":1}` || !res[0].FinishedAt.Equal(t0.Truncate(time.Microsecond)) {
			t.Errorf("results %+v %v", res, err)
		}
		got, err := s.Scan(ctx, cur.ID)
		if err != nil || got.State != ScanRunning || got.Total != 3 || !got.FinishedAt.IsZero() || !got.DigestSentAt.IsZero() || got.RequestedBy != "schedule" {
			t.Errorf("scan %+v %v", got, err)
		}
		if _, err := s.MarkDigestSent(ctx, cur.ID, t0); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Scan(ctx, cur.ID); !got.DigestSentAt.IsZero() {
			t.Errorf("a running scan's digest marked sent")
		}
		if ok, err := s.EndScan(ctx, cur.ID, ScanFinished, []byte(`{"error":0}`), "", t0); !ok || err != nil {
			t.Fatalf("finish: %v %v", ok, err)
		}
		if ok, err := s.EndScan(ctx, cur.ID, ScanFinished, nil, "", t0); ok || err != nil {
			t.Errorf("finish again: %v %v, want false", ok, err)
		}
		if ok, err := s.EndScan(ctx, cur.ID, ScanFailed, nil, "late", t0); ok || err != nil {
			t.Errorf("fail a finished scan: %v %v, want false", ok, err)
		}
		if ok, _ := s.MarkDigestSent(ctx, cur.ID, t0); !ok {
			t.Error("digest of a finished scan not marked")
		}
		if ok, _ := s.MarkDigestSent(ctx, cur.ID, t0); ok {
			t.Error("digest marked twice")
		}
		if _, err := s.EndScan(ctx, cur.ID, "paused", nil, "", t0); !errors.Is(err, ErrIllegalTransition) {
			t.Errorf("an unknown end: %v", err)
		}
		if _, err := s.Scan(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown scan: %v", err)
		}
	})
}

// Replicas storing the same tenants at once: each result kept once, at
// least one of them sees every result, and the scan finishes once.
func TestScanRace(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		a, b := openStore(t, dsn), openStore(t, dsn)
		ctx := context.Background()
		const n = 20
		if err := a.CreateScan(ctx, ScanRecord{ID: "s", Full: true}); err != nil {
			t.Fatal(err)
		}
		if err := a.StartScan(ctx, "s", n); err != nil {
			t.Fatal(err)
		}
		var stored, sawAll, finished atomic.Int32
		var wg sync.WaitGroup
		for i := range 2 * n {
			st := []*Store{a, b}[i%2]
			wg.Go(func() {
				ok, done, err := st.SaveScanResult(ctx, ScanResult{ScanID: "s", TenantID: fmt.Sprint(i / 2), Result: []byte(`{}`)})
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					stored.Add(1)
				}
				if done == n {
					sawAll.Add(1)
					if first, err := st.EndScan(ctx, "s", ScanFinished, []byte(`{}`), "", time.Now()); err != nil {
						t.Error(err)
					} else if first {
						finished.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if stored.Load() != n || sawAll.Load() == 0 || finished.Load() != 1 {
			t.Errorf("stored %d (want %d), saw all %d times (want ≥ 1), finished %d times (want 1)", stored.Load(), n, sawAll.Load(), finished.Load())
		}
	})
}
