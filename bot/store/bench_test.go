package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkClaim: one Slack event's deduplication, a new key each time.
func BenchmarkClaim(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Claim(ctx, "Ev"+strconv.Itoa(i), t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTransition: one compare-and-swap with its audit record, bouncing
// a request between applying and failed (the retry loop).
func BenchmarkTransition(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	id, _ := NewRequestID()
	err := s.CreateRequest(ctx, Request{ID: id, TenantID: "tenant-a", RequestedBy: "UENG", State: StatePending,
		Plans: []byte(`[]`), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	for _, tr := range []Transition{{From: StatePending, To: StateApproved, By: "UADMIN"}, {From: StateApproved, To: StateApplying}} {
		tr.At = t0
		if _, err := s.Transition(ctx, id, tr); err != nil {
			b.Fatal(err)
		}
	}
	steps := [2]Transition{
		{From: StateApplying, To: StateFailed, At: t0, Result: []byte(`{"p1":"error"}`), Detail: []byte(`{"graphRequestId":"x"}`)},
		{From: StateFailed, To: StateApplying, At: t0},
	}
	for i := 0; b.Loop(); i++ {
		if _, err := s.Transition(ctx, id, steps[i%2]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequestsChanged: the approval sweep's look at the last day's
// settled requests, in a database holding a year of settled requests (100
// a day) besides: with the index on updated_at it reads the last day's
// alone. BenchmarkRequestsSettled is the same look as it was, reading every
// settled request.
func BenchmarkRequestsChanged(b *testing.B) {
	s, now := settledYear(b)
	ctx := context.Background()
	for b.Loop() {
		rs, err := s.RequestsChanged(ctx, now.Add(-24*time.Hour), now, StateApplied, StateFailed, StateSuperseded)
		if err != nil || len(rs) != 100 {
			b.Fatalf("%d requests, %v", len(rs), err)
		}
	}
}

func BenchmarkRequestsSettled(b *testing.B) {
	s, _ := settledYear(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Requests(ctx, StateApplied, StateFailed, StateSuperseded); err != nil {
			b.Fatal(err)
		}
	}
}

// settledYear fills a store with 365 days of 100 superseded requests a
// day, each settled a minute after it was made, and returns the time
// just after the last.
func settledYear(b *testing.B) (*Store, time.Time) {
	b.Helper()
	s := benchStore(b)
	ctx := context.Background()
	const days, perDay = 365, 100
	start := t0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for i := range days * perDay {
			id, _ := NewRequestID()
			at := start.Add(time.Duration(i) * 24 * time.Hour / perDay)
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO requests (id, tenant_id, tenant_name, requested_by, channel_id, thread_ts, state, plans, reason,
					created_at, expires_at, updated_at, decided_by, version)
				VALUES (?, 'tenant-a', 'Contoso', 'UENG', 'C1', '1.2', ?, ?, '', ?, ?, ?, 'UADMIN', 2)`,
				id, string(StateSuperseded), []byte(`[{"policyId":"p1","displayName":"Block everything outside the office"}]`),
				s.d.timeArg(at), s.d.timeArg(at.Add(24*time.Hour)), s.d.timeArg(at.Add(time.Minute))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return s, start.Add(days * 24 * time.Hour)
}
