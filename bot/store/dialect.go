package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dialect holds what differs between SQLite and PostgreSQL; everything else is
// shared SQL, written with ? placeholders.
type dialect struct {
	name     string // "sqlite" or "postgres": the directory under migrations/
	postgres bool
}

var (
	sqliteDialect   = dialect{name: "sqlite"}
	postgresDialect = dialect{name: "postgres", postgres: true}
)

// rebind turns the ? placeholders of the shared SQL into PostgreSQL's $1, $2, ….
// The store's queries contain no ? inside string literals.
func (d dialect) rebind(query string) string {
	if !d.postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// timeArg is how a time is passed to the database: timestamptz in PostgreSQL,
// INTEGER Unix nanoseconds in SQLite (sortable and compared as numbers, where
// text would depend on a fixed-width format).
func (d dialect) timeArg(t time.Time) any {
	t = t.UTC()
	if d.postgres {
		return t
	}
	return t.UnixNano()
}

// migrationTable creates the table that records applied migrations.
func (d dialect) migrationTable() string {
	typ := "INTEGER"
	if d.postgres {
		typ = "timestamptz"
	}
	return `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at ` + typ + ` NOT NULL
)`
}

// lockMigrations serialises migrations between replicas opening the same
// database at once. PostgreSQL needs an explicit lock, held until the migration
// transaction ends; it is scoped to the schema, so replicas sharing a schema
// wait for each other and tests in separate schemas do not. SQLite's migration
// transaction already began with BEGIN IMMEDIATE, which holds the database's one
// write lock.
func (d dialect) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	if !d.postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('ca-check schema_migrations ' || current_schema()))`); err != nil {
		return fmt.Errorf("store: lock migrations: %w", err)
	}
	return nil
}

// timeScanner reads a time column of either dialect into a UTC time.Time;
// NULL is the zero time.
type timeScanner struct{ t *time.Time }

func (s timeScanner) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.t = time.Time{}
	case int64:
		*s.t = time.Unix(0, v).UTC()
	case time.Time:
		*s.t = v.UTC()
	default:
		return fmt.Errorf("store: cannot read a time from %T", v)
	}
	return nil
}
