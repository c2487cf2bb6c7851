package store

import (
	"context"
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
