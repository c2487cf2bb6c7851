package store

import (
	"context"
	"errors"
	"sync"
	"testing"
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
		if got, err := s.Request(ctx, r.ID); err != nil || got.State != StatePending {
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
		if got, err := s.Request(ctx, r.ID); err != nil || got.State != StatePending {
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
