package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cacheck/ca-check/approval"
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
	id, _ := approval.NewID()
	err := s.CreateRequest(ctx, approval.Request{ID: id, TenantID: "tenant-a", RequestedBy: "UENG", State: approval.StatePending,
		Plans: onePlan, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	for _, tr := range []approval.Transition{{From: approval.StatePending, To: approval.StateApproved, By: "UADMIN"}, {From: approval.StateApproved, To: approval.StateApplying}} {
		tr.At = t0
		if _, err := s.Transition(ctx, id, leased(tr)); err != nil {
			b.Fatal(err)
		}
	}
	steps := [2]approval.Transition{
		{From: approval.StateApplying, To: approval.StateFailed, At: t0, Outcomes: []approval.Outcome{{PolicyID: "p1", Status: approval.OutcomeFailed, Error: "error"}}, Detail: []byte(`{"graphRequestId":"x"}`)},
		{From: approval.StateFailed, To: approval.StateApplying, At: t0},
	}
	for i := 0; b.Loop(); i++ {
		if _, err := s.Transition(ctx, id, leased(steps[i%2])); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLapsed: the approval sweep's look for requests a dead process
// left, every 10 seconds on every process, with none due among a year of
// settled requests (100 a day) and a few at work: the index on
// lease_until reads the leased requests alone.
func BenchmarkLapsed(b *testing.B) {
	s, now := settledYear(b)
	ctx := context.Background()
	for range 5 {
		r := approval.Request{TenantID: "tenant-a", RequestedBy: "UENG", State: approval.StatePending, Plans: onePlan, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		r.ID, _ = approval.NewID()
		if err := s.CreateRequest(ctx, r); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Transition(ctx, r.ID, leased(approval.Transition{From: approval.StatePending, To: approval.StateApproved, By: "UADMIN", At: now})); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		rs, err := s.Lapsed(ctx, now)
		if err != nil || len(rs) != 0 {
			b.Fatalf("%d requests, %v", len(rs), err)
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
			id, _ := approval.NewID()
			at := start.Add(time.Duration(i) * 24 * time.Hour / perDay)
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO requests (id, tenant_id, tenant_name, requested_by, channel_id, thread_ts, state, plans, reason,
					created_at, expires_at, updated_at, decided_by, version)
				VALUES (?, 'tenant-a', 'Contoso', 'UENG', 'C1', '1.2', ?, ?, '', ?, ?, ?, 'UADMIN', 2)`,
				id, string(approval.StateSuperseded), []byte(`[{"policyId":"p1","displayName":"Block everything outside the office"}]`),
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

// BenchmarkPruneDiagnosesNothingDue: the sweep's prune, every minute on
// every replica, in a database of 100,000 diagnoses none of which is due.
func BenchmarkPruneDiagnosesNothingDue(b *testing.B) {
	s := benchStore(b)
	fillDiagnoses(b, s, 100_000, t0, 0)
	ctx := context.Background()
	for b.Loop() {
		if n, err := s.PruneDiagnoses(ctx, t0); err != nil || n != 0 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkPruneDiagnosesBacklog: pruning 1,000 due diagnoses, half of them
// pointed at by settled requests, among 10,000 requests.
func BenchmarkPruneDiagnosesBacklog(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := benchStore(b)
		fillDiagnoses(b, s, 1_000, t0, 10_000)
		b.StartTimer()
		if n, err := s.PruneDiagnoses(ctx, t0.Add(24*time.Hour)); err != nil || n != 1_000 {
			b.Fatal(n, err)
		}
	}
}

// fillDiagnoses saves n diagnoses made from start on, one a minute, and
// requests settled as superseded: one for each of the first n/2 diagnoses,
// the others pointing at none.
func fillDiagnoses(b *testing.B, s *Store, n int, start time.Time, requests int) {
	b.Helper()
	ctx := context.Background()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for i := range n {
			at := start.Add(time.Duration(i) * time.Minute)
			var id int64
			if err := tx.QueryRowContext(ctx, s.d.rebind(`INSERT INTO diagnoses (tenant_id, tenant_name, channel_id, thread_ts, requested_by, verdict, created_at, result)
				VALUES ('tenant-a', 'Contoso', 'C1', '1.2', 'UENG', 'blocked', ?, ?) RETURNING id`),
				s.d.timeArg(at), []byte(`{"verdict":"blocked","policies":[]}`)).Scan(&id); err != nil {
				return err
			}
			if i < n/2 && i < requests {
				if err := insertSettled(ctx, s, tx, id, at); err != nil {
					return err
				}
			}
		}
		for i := n / 2; i < requests; i++ {
			if err := insertSettled(ctx, s, tx, 0, start); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

func insertSettled(ctx context.Context, s *Store, tx *sql.Tx, diagnosis int64, at time.Time) error {
	id, _ := approval.NewID()
	var d any
	if diagnosis > 0 {
		d = diagnosis
	}
	_, err := tx.ExecContext(ctx, s.d.rebind(`
		INSERT INTO requests (id, tenant_id, tenant_name, diagnosis_id, requested_by, channel_id, thread_ts, state, plans, reason,
			created_at, expires_at, updated_at, decided_by, version)
		VALUES (?, 'tenant-a', 'Contoso', ?, 'UENG', 'C1', '1.2', ?, ?, '', ?, ?, ?, 'UADMIN', 2)`),
		id, d, string(approval.StateSuperseded), []byte(`[{"policyId":"p1"}]`), s.d.timeArg(at), s.d.timeArg(at.Add(time.Hour)), s.d.timeArg(at))
	return err
}
