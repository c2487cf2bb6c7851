package store

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cacheck/ca-check/approval"
)

func latestVersion(t *testing.T, d dialect) int {
	t.Helper()
	ms, err := d.migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	return ms[len(ms)-1].version
}

// migrationCount is how many migrations d has: one row each in
// schema_migrations (versions may have gaps while branches merge).
func migrationCount(t *testing.T, d dialect) int {
	t.Helper()
	ms, err := d.migrations()
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// TestMigrationsMatch: both dialects know the same versions, so a replica
// never depends on which backend it runs on.
func TestMigrationsMatch(t *testing.T) {
	lite, err := sqliteDialect.migrations()
	if err != nil {
		t.Fatal(err)
	}
	pg, err := postgresDialect.migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) != len(pg) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].version != pg[i].version || lite[i].name != pg[i].name {
			t.Errorf("migration %d: SQLite %s, PostgreSQL %s", i, lite[i].name, pg[i].name)
		}
	}
}

// TestReopen: opening an existing database again applies nothing and keeps
// every row.
func TestReopen(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		r := newRequest(t, s)
		if err := s.LinkChannel(ctx, Link{ChannelID: "C1", TenantID: "tenant-a", LinkedAt: t0}); err != nil {
			t.Fatal(err)
		}
		s.Close()

		s = openStore(t, dsn)
		v, err := s.schemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := latestVersion(t, s.d); v != want {
			t.Errorf("schema version %d, want %d", v, want)
		}
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != migrationCount(t, s.d) {
			t.Errorf("schema_migrations has %d rows (%v)", n, err)
		}
		if got, err := s.Request(ctx, r.ID); err != nil || got.State != approval.StatePending {
			t.Errorf("request after reopening: %+v, %v", got, err)
		}
		if _, err := s.ChannelLink(ctx, "C1"); err != nil {
			t.Errorf("link after reopening: %v", err)
		}
	})
}

// TestConcurrentOpen: replicas starting at once on a new database migrate it
// once between them.
func TestConcurrentOpen(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		const n = 5
		var wg sync.WaitGroup
		stores := make([]*Store, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stores[i], errs[i] = Open(context.Background(), dsn)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				continue
			}
			defer stores[i].Close()
		}
		if t.Failed() {
			return
		}
		var rows int
		if err := stores[0].db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if want := migrationCount(t, stores[0].d); rows != want {
			t.Errorf("schema_migrations has %d rows, want %d", rows, want)
		}
	})
}

// TestSchemaTooNew: a binary older than the database refuses to open it, and
// the data stays.
func TestSchemaTooNew(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		r := newRequest(t, s)
		future := latestVersion(t, s.d) + 1
		if _, err := s.db.ExecContext(ctx, s.d.rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
			future, "9999_from_the_future.sql", s.d.timeArg(t0)); err != nil {
			t.Fatal(err)
		}
		s.Close()

		if s, err := Open(ctx, dsn); !errors.Is(err, ErrSchemaTooNew) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("Open of a newer schema = %v, want ErrSchemaTooNew", err)
		} else {
			t.Logf("error: %v", err)
		}

		// Look with the migration's record removed: everything is still there.
		raw, err := openRaw(dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := raw.db.ExecContext(ctx, raw.d.rebind(`DELETE FROM schema_migrations WHERE version = ?`), future); err != nil {
			t.Fatal(err)
		}
		s = openStore(t, dsn)
		if got, err := s.Request(ctx, r.ID); err != nil || got.State != approval.StatePending {
			t.Errorf("request after the refused open: %+v, %v", got, err)
		}
	})
}

// openRaw connects without migrating.
func openRaw(dsn string) (*Store, error) {
	if dsn[:8] == "postgres" {
		return openPostgres(dsn)
	}
	return openSQLite(dsn)
}

// openAtVersion returns a store on a new database migrated only up to
// version v, as an older ca-check left it.
func openAtVersion(t *testing.T, dsn string, v int) *Store {
	t.Helper()
	s, err := openRaw(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ms, err := s.d.migrations()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m migration) bool { return m.version > v })
	if i < 0 {
		t.Fatalf("no migration after version %d", v)
	}
	if err := s.apply(context.Background(), ms[:i]); err != nil {
		t.Fatalf("migrate to version %d: %v", v, err)
	}
	return s
}

// TestMigrateDuplicatePending: a database made before migration 0002 can
// hold several pending requests for one diagnosis (two clicks at once).
// Upgrading it keeps the newest pending, supersedes the others with an
// audit record saying why, leaves every other request alone, and from then
// on refuses a second pending request for the diagnosis.
func TestMigrateDuplicatePending(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		old := openAtVersion(t, dsn, 1)
		diag := func() int64 {
			id, err := old.SaveDiagnosis(ctx, DiagnosisRecord{TenantID: "tenant-a", Verdict: "blocked", CreatedAt: t0})
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		a, b := diag(), diag()
		at := func(diagnosis int64, minutes int) func(*approval.Request) {
			return func(r *approval.Request) {
				r.DiagnosisID = diagnosis
				r.CreatedAt = t0.Add(time.Duration(minutes) * time.Minute)
			}
		}
		first := newRequest(t, old, at(a, 0))
		second := newRequest(t, old, at(a, 1))
		newest := newRequest(t, old, at(a, 2))
		// Decided later than newest: not pending, so not the one kept.
		decided := newRequest(t, old, at(a, 3))
		setState(t, old, decided.ID, approval.StateRejected, t0.Add(4*time.Minute))
		onlyB := newRequest(t, old, at(b, 0))
		loose := []approval.Request{newRequest(t, old), newRequest(t, old)} // no diagnosis
		old.Close()

		start := time.Now().Add(-time.Second)
		s := openStore(t, dsn)
		if v, err := s.schemaVersion(ctx); err != nil || v != latestVersion(t, s.d) {
			t.Fatalf("schema version %d, %v after migrating", v, err)
		}
		want := map[string]approval.State{
			first.ID: approval.StateSuperseded, second.ID: approval.StateSuperseded, newest.ID: approval.StatePending,
			decided.ID: approval.StateRejected, onlyB.ID: approval.StatePending, loose[0].ID: approval.StatePending, loose[1].ID: approval.StatePending,
		}
		for id, st := range want {
			r, err := s.Request(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if r.State != st {
				t.Errorf("request %s is %s after the migration, want %s", id, r.State, st)
			}
			recs, err := s.RequestAudit(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			last := recs[len(recs)-1]
			if st != approval.StateSuperseded {
				if last.Action == string(approval.StateSuperseded) {
					t.Errorf("request %s, left %s, has a superseded audit record", id, st)
				}
				continue
			}
			if r.Version != 2 || r.UpdatedAt.Before(start) || r.DecidedBy != "" {
				t.Errorf("superseded request: version %d, updated %v, decided by %q; want version 2, updated now, undecided", r.Version, r.UpdatedAt, r.DecidedBy)
			}
			var detail struct{ Why, NewRequest string }
			if err := json.Unmarshal(last.Detail, &detail); err != nil {
				t.Errorf("audit detail %q: %v", last.Detail, err)
			}
			if last.Action != string(approval.StateSuperseded) || last.From != approval.StatePending || last.To != approval.StateSuperseded ||
				last.Actor != botActor || last.TenantID != "tenant-a" || last.At.Before(start) ||
				detail.NewRequest != newest.ID || !strings.Contains(detail.Why, newest.ID[:8]) {
				t.Errorf("audit record of the superseded request %s: %+v (detail %s)", id, last, last.Detail)
			}
		}
		r := approval.Request{ID: mustID(t), TenantID: "tenant-a", DiagnosisID: a, RequestedBy: "UENG", State: approval.StatePending,
			Plans: onePlan, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		if err := s.CreateRequest(ctx, r); !errors.Is(err, ErrConflict) {
			t.Errorf("a second pending request for the diagnosis after the migration: %v, want ErrConflict", err)
		}
	})
}

// setState moves a request as an older ca-check would have, on a database
// of its schema (Transition needs the current one).
func setState(t *testing.T, s *Store, id string, state approval.State, at time.Time) {
	t.Helper()
	if _, err := s.db.ExecContext(context.Background(), s.d.rebind(`UPDATE requests SET state = ?, version = version + 1, updated_at = ? WHERE id = ?`),
		string(state), s.d.timeArg(at), id); err != nil {
		t.Fatal(err)
	}
}

// A database from before leases (migration 0005): a request an older
// ca-check left applying is taken for abandoned 5 minutes after its last
// change, as that ca-check did; an applied request's revert window starts
// at its last change; an outcome settled in the last day and not reported
// is due (and leased for the 5 minutes that ca-check would have waited),
// one reported, or settled longer ago, is not.
func TestMigrateLeases(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		old := openAtVersion(t, dsn, 3)
		now := time.Now().UTC().Truncate(time.Second)
		settle := func(state approval.State, at time.Time, details ...string) approval.Request {
			r := newRequest(t, old, func(r *approval.Request) { r.CreatedAt, r.ExpiresAt = at.Add(-time.Hour), at.Add(time.Hour) })
			setState(t, old, r.ID, state, at)
			for _, d := range details {
				rec := approval.AuditRecord{RequestID: r.ID, TenantID: r.TenantID, Actor: "ca-check", Action: d, At: at}
				if d == "settled" {
					rec.Action, rec.From, rec.To, rec.Detail = string(state), approval.StateApplying, state, []byte(`{"outcomes":[],"reportDue":true}`)
				}
				if err := old.AppendAudit(ctx, rec); err != nil {
					t.Fatal(err)
				}
			}
			return r
		}
		applying := settle(approval.StateApplying, now.Add(-time.Minute))
		unreported := settle(approval.StateApplied, now.Add(-time.Hour), "settled")
		reported := settle(approval.StateFailed, now.Add(-time.Hour), "settled", "reported")
		lastWeek := settle(approval.StateSuperseded, now.Add(-48*time.Hour), "settled")
		old.Close()

		s := openStore(t, dsn)
		due := map[string]bool{}
		for id := range map[string]bool{applying.ID: true, unreported.ID: true, reported.ID: true, lastWeek.ID: true} {
			r, err := s.Request(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			due[id] = r.ReportDue
			if id == unreported.ID && (!r.AppliedAt.Equal(now.Add(-time.Hour)) || !r.Lease.Until.Equal(now.Add(-time.Hour+5*time.Minute))) {
				t.Errorf("the unreported request: applied at %v, lease until %v; want its last change, and 5 minutes later", r.AppliedAt, r.Lease.Until)
			}
		}
		maps.DeleteFunc(due, func(_ string, v bool) bool { return !v })
		if want := map[string]bool{unreported.ID: true}; !maps.Equal(due, want) {
			t.Errorf("reports due after the migration: %v, want only %s", due, unreported.ID)
		}
		lapsed := func(at time.Time) []string {
			rs, err := s.Lapsed(ctx, at)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range rs {
				ids = append(ids, r.ID)
			}
			return ids
		}
		if got := lapsed(now); !slices.Equal(got, []string{unreported.ID}) {
			t.Errorf("lapsed now: %v, want the unreported request alone", got)
		}
		if got := lapsed(now.Add(5 * time.Minute)); !slices.Equal(got, []string{unreported.ID, applying.ID}) {
			t.Errorf("lapsed in 5 minutes: %v, want the unreported and the applying requests", got)
		}
		if _, err := s.TakeLease(ctx, applying.ID, 2, approval.Lease{Holder: "P2", Until: now.Add(6 * time.Minute)}, now); !errors.Is(err, ErrConflict) {
			t.Errorf("took the lease of a request left applying a minute ago: %v", err)
		}
		if r, err := s.TakeLease(ctx, applying.ID, 2, approval.Lease{Holder: "P2", Until: now.Add(6 * time.Minute)}, now.Add(5*time.Minute)); err != nil || r.Lease.Holder != "P2" {
			t.Errorf("TakeLease of the abandoned request: %+v, %v", r.Lease, err)
		}
	})
}

func mustID(t *testing.T) string {
	t.Helper()
	id, err := approval.NewID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}
