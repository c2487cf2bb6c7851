package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/internal/testsupport"
)

// backend makes fresh, empty databases of one kind.
type backend struct {
	name string
	// newDSN returns the DSN of a database no other test uses, removed when
	// the test ends.
	newDSN func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{name: "sqlite", newDSN: func(t *testing.T) string {
			return filepath.Join(t.TempDir(), "ca-check.db")
		}},
		{name: "postgres", newDSN: func(t *testing.T) string { return testsupport.PostgresDSN(t) }},
	}
}

// forEachDSN runs fn against a fresh database of each backend, in parallel.
func forEachDSN(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.newDSN(t))
		})
	}
}

// forEachBackend runs fn against an open Store on a fresh database of each
// backend, in parallel.
func forEachBackend(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	forEachDSN(t, func(t *testing.T, dsn string) {
		fn(t, openStore(t, dsn))
	})
}

// openStore opens dsn and closes it when the test ends.
func openStore(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// t0 has nanoseconds and a zone, to show that times come back in UTC,
// truncated to the microsecond.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

func us(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func TestOpenDSN(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, "mysql://u@h/db"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Open(mysql://…) = %v, want ErrInvalid", err)
	}
	s, err := Open(ctx, ":memory:")
	if err != nil {
		t.Fatalf("Open(:memory:): %v", err)
	}
	defer s.Close()
	if err := s.LinkChannel(ctx, Link{ChannelID: "C1", TenantID: "T1"}); err != nil {
		t.Fatal(err)
	}
	// Reads go through the one connection that holds the in-memory database.
	if _, err := s.ChannelLink(ctx, "C1"); err != nil {
		t.Errorf("ChannelLink after LinkChannel in :memory:: %v", err)
	}
	dir := t.TempDir()
	for _, dsn := range []string{filepath.Join(dir, "a.db"), "file:" + filepath.Join(dir, "b.db") + "?cache=private"} {
		s, err := Open(ctx, dsn)
		if err != nil {
			t.Errorf("Open(%q): %v", dsn, err)
			continue
		}
		s.Close()
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgres://u@h/db":                             "postgres://u@h/db",
		"postgres://h/db?x=@":                           "postgres://h/db?x=@",
		"file:a.db":                                     "file:a.db",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRebind(t *testing.T) {
	q := `SELECT a FROM t WHERE b = ? AND c IN (?, ?)`
	if got, want := postgresDialect.rebind(q), `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`; got != want {
		t.Errorf("postgres rebind = %q, want %q", got, want)
	}
	if got := sqliteDialect.rebind(q); got != q {
		t.Errorf("sqlite rebind changed the query: %q", got)
	}
}

func TestPing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		if err := s.Ping(context.Background()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

func TestLinks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.ChannelLink(ctx, "C1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ChannelLink of an unlinked channel = %v, want ErrNotFound", err)
		}
		l := Link{ChannelID: "C1", TenantID: "tenant-a", TenantName: "Contoso", LinkedBy: "U1", LinkedAt: t0}
		if err := s.LinkChannel(ctx, l); err != nil {
			t.Fatal(err)
		}
		got, err := s.ChannelLink(ctx, "C1")
		if err != nil {
			t.Fatal(err)
		}
		want := l
		want.LinkedAt = us(t0)
		if got != want {
			t.Errorf("ChannelLink = %+v, want %+v", got, want)
		}

		// Linking again replaces the link.
		l2 := Link{ChannelID: "C1", TenantID: "tenant-b", TenantName: "Fabrikam", LinkedBy: "U2", LinkedAt: t0.Add(time.Hour)}
		if err := s.LinkChannel(ctx, l2); err != nil {
			t.Fatal(err)
		}
		if err := s.LinkChannel(ctx, Link{ChannelID: "C0", TenantID: "tenant-a", LinkedAt: t0}); err != nil {
			t.Fatal(err)
		}
		ls, err := s.Links(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != 2 || ls[0].ChannelID != "C0" || ls[1].TenantID != "tenant-b" || !ls[1].LinkedAt.Equal(us(l2.LinkedAt)) {
			t.Errorf("Links = %+v", ls)
		}

		if err := s.UnlinkChannel(ctx, "C1"); err != nil {
			t.Fatal(err)
		}
		if err := s.UnlinkChannel(ctx, "C1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second UnlinkChannel = %v, want ErrNotFound", err)
		}
		if _, err := s.ChannelLink(ctx, "C1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("ChannelLink after UnlinkChannel = %v, want ErrNotFound", err)
		}
	})
}

func TestClaim(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for i, want := range []bool{true, false, false} {
			first, err := s.Claim(ctx, "Ev123", t0)
			if err != nil {
				t.Fatal(err)
			}
			if first != want {
				t.Errorf("claim %d: first = %v, want %v", i, first, want)
			}
		}
		if first, err := s.Claim(ctx, "thread:C1:1700000000.000100:AADSTS53003", t0.Add(2*time.Hour)); err != nil || !first {
			t.Fatalf("Claim of another key = %v, %v", first, err)
		}
		n, err := s.PruneClaims(ctx, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("PruneClaims = %d, want 1", n)
		}
		if first, err := s.Claim(ctx, "Ev123", t0.Add(3*time.Hour)); err != nil || !first {
			t.Errorf("Claim after prune = %v, %v; want true", first, err)
		}
		if first, err := s.Claim(ctx, "thread:C1:1700000000.000100:AADSTS53003", t0); err != nil || first {
			t.Errorf("Claim of an unpruned key = %v, %v; want false", first, err)
		}
	})
}
func TestDiagnoses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.Diagnosis(ctx, 1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Diagnosis of nothing = %v, want ErrNotFound", err)
		}
		var ids []int64
		for i := range 3 {
			r := DiagnosisRecord{
				TenantID: "tenant-a", TenantName: "Contoso", ChannelID: "C1", ThreadTS: "1.2", RequestedBy: "U1",
				Verdict: "likely_blocked", CreatedAt: t0.Add(time.Duration(i) * time.Minute),
				Result: []byte(`{"verdict":"likely_blocked", "n":` + string(rune('0'+i)) + `}`),
			}
			if i == 2 {
				r.Result = nil
			}
			id, err := s.SaveDiagnosis(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		got, err := s.Diagnosis(ctx, ids[1])
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != ids[1] || got.Verdict != "likely_blocked" || got.TenantName != "Contoso" ||
			string(got.Result) != `{"verdict":"likely_blocked", "n":1}` || !got.CreatedAt.Equal(us(t0.Add(time.Minute))) ||
			got.CreatedAt.Location() != time.UTC {
			t.Errorf("Diagnosis = %+v", got)
		}
		recent, err := s.RecentDiagnoses(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(recent) != 2 || recent[0].ID != ids[2] || recent[1].ID != ids[1] {
			t.Fatalf("RecentDiagnoses(2) = %+v, want IDs %d, %d", recent, ids[2], ids[1])
		}
		if recent[0].Result != nil {
			t.Errorf("a nil Result came back as %q", recent[0].Result)
		}
	})
}

// PruneDiagnoses deletes the diagnoses made before the cutoff, except
// those an open request (one that may still be applied, which re-plans from
// its diagnosis) points at. A settled request loses only its pointer; its
// audit records stay.
func TestPruneDiagnoses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		cutoff := t0.Add(90 * 24 * time.Hour)
		save := func(at time.Time) int64 {
			id, err := s.SaveDiagnosis(ctx, DiagnosisRecord{TenantID: "tenant-a", Verdict: "blocked", CreatedAt: at, Result: []byte(`{"policies":[]}`)})
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		// A request in each state on an old diagnosis of its own.
		requests := map[approval.State]approval.Request{}
		diagnosisOf := map[approval.State]int64{}
		for _, st := range allStates {
			d := save(t0)
			r := newRequest(t, s, func(r *approval.Request) { r.DiagnosisID = d })
			walk(t, s, r.ID, st)
			r, err := s.Request(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			requests[st], diagnosisOf[st] = r, d
		}
		var loose []int64 // old, no request
		for i := range 5 {
			loose = append(loose, save(t0.Add(time.Duration(i)*time.Hour)))
		}
		atCutoff := save(cutoff)
		young := save(cutoff.Add(time.Hour))

		n, err := s.pruneDiagnoses(ctx, cutoff, 2) // batches of 2: several rounds
		if err != nil {
			t.Fatal(err)
		}
		open := map[approval.State]bool{approval.StatePending: true, approval.StateApproved: true, approval.StateApplying: true, approval.StateFailed: true}
		if want := int64(len(loose) + len(allStates) - len(open)); n != want {
			t.Errorf("PruneDiagnoses = %d, want %d", n, want)
		}
		kept := func(id int64) bool {
			_, err := s.Diagnosis(ctx, id)
			if err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil
		}
		for _, id := range loose {
			if kept(id) {
				t.Errorf("old diagnosis %d kept", id)
			}
		}
		for _, id := range []int64{atCutoff, young} {
			if !kept(id) {
				t.Errorf("diagnosis %d, made at or after the cutoff, pruned", id)
			}
		}
		for _, st := range allStates {
			before := requests[st]
			after, err := s.Request(ctx, before.ID)
			if err != nil {
				t.Fatalf("%s request after pruning: %v", st, err)
			}
			if kept(diagnosisOf[st]) != open[st] {
				t.Errorf("the diagnosis of a %s request: kept %v, want %v", st, !open[st], open[st])
			}
			want := before
			if !open[st] {
				want.DiagnosisID = 0
			}
			if fmt.Sprint(after) != fmt.Sprint(want) {
				t.Errorf("%s request after pruning:\n%+v\nwant\n%+v", st, after, want)
			}
			if recs, err := s.RequestAudit(ctx, before.ID); err != nil || len(recs) != 1+len(pathTo[st]) {
				t.Errorf("%s request's audit after pruning: %d records, %v", st, len(recs), err)
			}
		}
		// Settled, the open ones' diagnoses go too.
		for st, path := range map[approval.State][]approval.State{
			approval.StatePending:  {approval.StateExpired},
			approval.StateApproved: {approval.StateApplying, approval.StateApplied},
			approval.StateApplying: {approval.StateApplied},
			approval.StateFailed:   {approval.StateApplying, approval.StateApplied},
		} {
			from := st
			for _, to := range path {
				if _, err := s.Transition(ctx, requests[st].ID, leased(approval.Transition{From: from, To: to, At: cutoff})); err != nil {
					t.Fatalf("%s → %s: %v", from, to, err)
				}
				from = to
			}
		}
		if n, err := s.PruneDiagnoses(ctx, cutoff); err != nil || n != int64(len(open)) {
			t.Errorf("PruneDiagnoses after the open requests settled = %d, %v; want %d", n, err, len(open))
		}
		if n, err := s.PruneDiagnoses(ctx, cutoff); err != nil || n != 0 {
			t.Errorf("PruneDiagnoses again = %d, %v; want 0", n, err)
		}
		if !kept(atCutoff) || !kept(young) {
			t.Error("a diagnosis made at or after the cutoff was pruned")
		}
	})
}

func TestApprovers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, u := range []string{"U2", "U1", "U2"} {
			if err := s.AddApprover(ctx, "tenant-a", u, "UADMIN", t0); err != nil {
				t.Fatalf("AddApprover(%s): %v", u, err)
			}
		}
		if err := s.AddApprover(ctx, "tenant-b", "U3", "UADMIN", t0); err != nil {
			t.Fatal(err)
		}
		got, err := s.Approvers(ctx, "tenant-a")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0] != "U1" || got[1] != "U2" {
			t.Errorf("Approvers = %q, want [U1 U2]", got)
		}
		if err := s.RemoveApprover(ctx, "tenant-a", "U2"); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveApprover(ctx, "tenant-a", "U2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second RemoveApprover = %v, want ErrNotFound", err)
		}
		if err := s.RemoveApprover(ctx, "tenant-a", "U3"); !errors.Is(err, ErrNotFound) {
			t.Errorf("RemoveApprover of another tenant's approver = %v, want ErrNotFound", err)
		}
		got, _ = s.Approvers(ctx, "tenant-a")
		if len(got) != 1 || got[0] != "U1" {
			t.Errorf("Approvers after removal = %q, want [U1]", got)
		}
		if got, _ := s.Approvers(ctx, "tenant-c"); len(got) != 0 {
			t.Errorf("Approvers of a tenant without any = %q", got)
		}
	})
}

// TestSQLiteSettings: the file is in WAL mode, every connection enforces
// foreign keys, and reads cannot write.
func TestSQLiteSettings(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "ca-check.db"))
	var mode string
	if err := s.rdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	for name, db := range map[string]*sql.DB{"writer": s.db, "reader": s.rdb} {
		var fk int
		if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
			t.Errorf("%s: foreign_keys = %d, %v; want 1", name, fk, err)
		}
	}
	if _, err := s.rdb.ExecContext(ctx, `DELETE FROM claims`); err == nil {
		t.Error("the read-only pool wrote")
	}
}
