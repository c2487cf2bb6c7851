package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"modernc.org/sqlite"               // registers "sqlite"; its Error carries the result code
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/cacheck/ca-check/approval"
)

// Errors a caller tells apart with errors.Is. The first four are
// approval's: the approval service declares what its store returns.
var (
	// ErrNotFound: no row with that key.
	ErrNotFound = approval.ErrNotFound
	// ErrConflict: a compare-and-swap lost; another caller (a double click, a
	// retried delivery, another replica) changed the state first. Re-read and
	// report the state as it now is; do not act.
	ErrConflict = approval.ErrConflict
	// ErrIllegalTransition: the state machine has no such edge. A bug in the
	// caller, never a race.
	ErrIllegalTransition = approval.ErrIllegalTransition
	// ErrExpired: an approval of a request whose ExpiresAt has passed.
	ErrExpired = approval.ErrExpired
	// ErrInvalid: the argument is malformed (an empty ID, an unknown state,
	// a document that is not JSON); the message says which.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrSchemaTooNew: the database was migrated by a newer ca-check; this
	// binary refuses to touch it rather than misread it.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")
)

// DefaultSQLitePath is the database Open uses for the DSN "".
const DefaultSQLitePath = "ca-check.db"

// Store is the bot's state in one database. It is safe for concurrent use, and
// several Stores (replicas) may share one database.
type Store struct {
	d dialect
	// db runs writes and transactions. For SQLite it holds a single connection:
	// SQLite has one writer at a time anyway, and queueing writers in
	// database/sql rather than in SQLite's busy handler keeps one replica from
	// ever seeing SQLITE_BUSY. For PostgreSQL it is the only pool.
	db *sql.DB
	// rdb runs reads. For SQLite it is a separate pool of read-only
	// connections, which WAL lets read while the writer writes; otherwise it
	// is db.
	rdb *sql.DB
}

// SQLite connection settings, as modernc.org/sqlite DSN parameters.
// busy_timeout covers the waits no pool can prevent: another process (a
// second replica on the same file) holding the write lock. _txlock=immediate
// takes the write lock at BEGIN, so a transaction never fails halfway while
// upgrading a read lock to a write lock (SQLITE_BUSY, which busy_timeout does
// not retry). journal_mode=WAL is not among them: see enableWAL.
const (
	sqliteCommon = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	sqliteWriter = sqliteCommon + "&_pragma=synchronous(NORMAL)&_txlock=immediate"
	sqliteReader = sqliteCommon + "&_pragma=query_only(1)"
)

// Open opens the store named by dsn and brings its schema up to date.
//
//   - "" is the SQLite file DefaultSQLitePath in the working directory;
//   - a path or a "file:" URI is a SQLite database (":memory:" works, for one
//     Store);
//   - "postgres://…" or "postgresql://…" is a PostgreSQL database, in the
//     libpq URL syntax pgx accepts (a search_path parameter selects a schema).
//
// Open runs the embedded migrations the database lacks, in one transaction; two
// replicas opening at once are serialised. A database migrated by a newer
// binary is refused with ErrSchemaTooNew.
func Open(ctx context.Context, dsn string) (*Store, error) {
	var (
		s   *Store
		err error
	)
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s, err = openPostgres(dsn)
	case strings.Contains(dsn, "://"):
		return nil, fmt.Errorf("%w: unsupported database URL scheme in %q (want postgres://, postgresql://, file: or a path)", ErrInvalid, redact(dsn))
	default:
		s, err = openSQLite(dsn)
		if err == nil {
			err = enableWAL(ctx, s.db)
			if err != nil {
				s.Close()
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func openPostgres(dsn string) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres %s: %w", redact(dsn), err)
	}
	// A few connections per replica are plenty for a Slack bot, and bound
	// what several replicas take from the server's max_connections.
	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(10)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &Store{d: postgresDialect, db: db, rdb: db}, nil
}

func openSQLite(dsn string) (*Store, error) {
	if dsn == "" {
		dsn = DefaultSQLitePath
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	w, err := sql.Open("sqlite", dsn+sep+sqliteWriter)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", dsn, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	// An in-memory database lives in its connection: a second pool would see
	// another, empty database. Read through the writer instead.
	if dsn == ":memory:" || strings.Contains(dsn, ":memory:") || strings.Contains(dsn, "mode=memory") {
		return &Store{d: sqliteDialect, db: w, rdb: w}, nil
	}
	r, err := sql.Open("sqlite", dsn+sep+sqliteReader)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", dsn, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	return &Store{d: sqliteDialect, db: w, rdb: r}, nil
}

// enableWAL switches the database to write-ahead logging, so readers do not
// block the writer or each other. The mode is stored in the file: once set, it
// holds for every connection. Switching needs the database to itself, and
// SQLite answers SQLITE_BUSY at once, without its busy handler, when another
// connection is open (another replica starting at the same moment): hence the
// retries, instead of a journal_mode parameter on every connection.
func enableWAL(ctx context.Context, db *sql.DB) error {
	const timeout = 10 * time.Second
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		// An in-memory database stays in "memory" mode; that is fine.
		if err == nil && (strings.EqualFold(mode, "wal") || strings.EqualFold(mode, "memory")) {
			return nil
		}
		retry := isBusy(err)
		if err == nil {
			// SQLite may also keep the old mode and say so rather than fail.
			err, retry = fmt.Errorf("journal mode is still %q", mode), true
		}
		if !retry || time.Now().After(deadline) {
			return fmt.Errorf("store: enable WAL: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: enable WAL: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
}

// isUniqueViolation reports whether err is a unique constraint's refusal,
// in either dialect.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	var pe *pgconn.PgError
	return (errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE) ||
		(errors.As(err, &pe) && pe.Code == "23505") // unique_violation
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or one of its extended codes.
func isBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

// redact hides a password in a database URL, for error messages.
func redact(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return dsn
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok || strings.ContainsAny(userinfo, "/?") {
		return dsn
	}
	if user, _, ok := strings.Cut(userinfo, ":"); ok {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return dsn
}

// Close closes the database connections.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.rdb != s.db {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// Ping reports whether the database answers, for /readyz.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	if s.rdb != s.db {
		if err := s.rdb.PingContext(ctx); err != nil {
			return fmt.Errorf("store: ping readers: %w", err)
		}
	}
	return nil
}

// inTx runs fn in a write transaction and commits it when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// The range of times the store accepts: what both backends can hold exactly
// (SQLite's Unix nanoseconds end in 2262), with room for any real date.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// normTime returns t in UTC at the precision both backends keep, or now for the
// zero time when defaultNow is set.
func normTime(t time.Time, field string, defaultNow bool) (time.Time, error) {
	if t.IsZero() {
		if !defaultNow {
			return time.Time{}, fmt.Errorf("%w: %s is not set", ErrInvalid, field)
		}
		t = time.Now()
	}
	if t.Before(minTime) || !t.Before(maxTime) {
		return time.Time{}, fmt.Errorf("%w: %s %v is out of range", ErrInvalid, field, t)
	}
	return t.UTC().Truncate(time.Microsecond), nil
}

// required reports an empty argument.
func required(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalid, field)
	}
	return nil
}

// nullBytes stores an empty document as NULL, so nil and empty read back alike.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nullString stores "" as NULL, for optional references.
func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// checkLimit bounds a list query.
func checkLimit(limit int) error {
	if limit <= 0 {
		return fmt.Errorf("%w: limit %d is not positive", ErrInvalid, limit)
	}
	return nil
}

// checkJSON refuses a document that is not JSON: the columns are opaque to the
// store, but a caller storing something else has a bug worth hearing about
// before a reader trips on it.
func checkJSON(field string, b []byte) error {
	if len(b) > 0 && !json.Valid(b) {
		return fmt.Errorf("%w: %s is not valid JSON", ErrInvalid, field)
	}
	return nil
}
