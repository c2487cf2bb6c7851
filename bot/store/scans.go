package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Scan states (DESIGN.md "Fleet scan"): listing the partner's customers,
// running the tenants, finished, or failed when the customers could not be
// listed.
const (
	ScanListing  = "listing"
	ScanRunning  = "running"
	ScanFinished = "finished"
	ScanFailed   = "failed"
)

// ScanRecord is one fleet scan.
type ScanRecord struct {
	ID          string
	RequestedBy string // Slack user ID, or "schedule"
	ChannelID   string // where its progress and digest go
	// Full is set for a scan of every active customer (no tenant list):
	// only full scans are compared with each other.
	Full    bool
	Options []byte // JSON, opaque here
	State   string
	// Total is the number of tenants, known once listed.
	Total        int
	CreatedAt    time.Time // zero means now
	FinishedAt   time.Time // zero until finished or failed
	Error        string    // why it failed
	Summary      []byte    // JSON, set when finished
	DigestSentAt time.Time // zero until its digest is delivered
}

// ScanResult is one tenant's entry in a scan.
type ScanResult struct {
	ScanID     string
	TenantID   string
	Verdict    string // "" when the tenant could not be read
	Result     []byte // JSON, opaque here
	FinishedAt time.Time
}

// CreateScan stores a new scan in state listing.
func (s *Store) CreateScan(ctx context.Context, r ScanRecord) error {
	if err := required("scan ID", r.ID); err != nil {
		return err
	}
	if err := checkJSON("scan options", r.Options); err != nil {
		return err
	}
	at, err := normTime(r.CreatedAt, "CreatedAt", true)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.d.rebind(`
		INSERT INTO scans (id, requested_by, channel_id, full_scan, options, state, total, created_at, error)
		VALUES (?, ?, ?, ?, ?, ?, 0, ?, '')`),
		r.ID, r.RequestedBy, r.ChannelID, r.Full, nullBytes(r.Options), ScanListing, s.d.timeArg(at))
	var se *sqlite.Error
	if isUniqueViolation(err) || errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
		return fmt.Errorf("%w: scan %s exists", ErrConflict, r.ID)
	}
	if err != nil {
		return fmt.Errorf("store: create scan: %w", err)
	}
	return nil
}

// StartScan moves a scan from listing to running with its number of
// tenants. A scan already running with the same total is not an error (the
// listing job ran twice); any other state is ErrConflict.
func (s *Store) StartScan(ctx context.Context, id string, total int) error {
	if total < 0 {
		return fmt.Errorf("%w: total %d is negative", ErrInvalid, total)
	}
	res, err := s.db.ExecContext(ctx, s.d.rebind(`UPDATE scans SET state = ?, total = ? WHERE id = ? AND state = ?`),
		ScanRunning, total, id, ScanListing)
	if err != nil {
		return fmt.Errorf("store: start scan: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	r, err := s.Scan(ctx, id)
	if err != nil {
		return err
	}
	if r.State == ScanRunning && r.Total == total {
		return nil
	}
	return fmt.Errorf("%w: scan %s is %s with %d tenants", ErrConflict, id, r.State, r.Total)
}

// SaveScanResult stores a tenant's result unless the scan has one for the
// tenant already; it reports whether it stored it, and how many results the
// scan now has. The count is read after the write, so of the replicas that
// store a scan's last results at once, at least one sees them all.
func (s *Store) SaveScanResult(ctx context.Context, r ScanResult) (stored bool, done int, err error) {
	if err := required("scan ID", r.ScanID); err != nil {
		return false, 0, err
	}
	if err := required("tenant ID", r.TenantID); err != nil {
		return false, 0, err
	}
	if len(r.Result) == 0 {
		return false, 0, fmt.Errorf("%w: scan result is empty", ErrInvalid)
	}
	if err := checkJSON("scan result", r.Result); err != nil {
		return false, 0, err
	}
	at, err := normTime(r.FinishedAt, "FinishedAt", true)
	if err != nil {
		return false, 0, err
	}
	res, err := s.db.ExecContext(ctx, s.d.rebind(`
		INSERT INTO scan_results (scan_id, tenant_id, verdict, result, finished_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (scan_id, tenant_id) DO NOTHING`),
		r.ScanID, r.TenantID, r.Verdict, r.Result, s.d.timeArg(at))
	if err != nil {
		return false, 0, fmt.Errorf("store: save scan result: %w", err)
	}
	n, _ := res.RowsAffected()
	if err := s.db.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM scan_results WHERE scan_id = ?`), r.ScanID).Scan(&done); err != nil {
		return false, 0, fmt.Errorf("store: count scan results: %w", err)
	}
	return n == 1, done, nil
}

// EndScan moves a running scan to finished with its summary, or a listing
// or running one to failed with reason (summary nil). It reports whether
// this call made the change: of two replicas ending a scan, one does.
func (s *Store) EndScan(ctx context.Context, id, state string, summary []byte, reason string, now time.Time) (bool, error) {
	from := []any{ScanRunning, ScanRunning}
	switch state {
	case ScanFinished:
	case ScanFailed:
		from = []any{ScanListing, ScanRunning}
	default:
		return false, fmt.Errorf("%w: a scan cannot end %q", ErrIllegalTransition, state)
	}
	if err := checkJSON("scan summary", summary); err != nil {
		return false, err
	}
	at, err := normTime(now, "now", true)
	if err != nil {
		return false, err
	}
	res, err := s.db.ExecContext(ctx, s.d.rebind(`
		UPDATE scans SET state = ?, summary = ?, error = ?, finished_at = ? WHERE id = ? AND state IN (?, ?)`),
		state, nullBytes(summary), reason, s.d.timeArg(at), id, from[0], from[1])
	if err != nil {
		return false, fmt.Errorf("store: end scan: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// MarkDigestSent records that a finished or failed scan's digest was
// delivered; it reports whether this call recorded it.
func (s *Store) MarkDigestSent(ctx context.Context, id string, now time.Time) (bool, error) {
	at, err := normTime(now, "now", true)
	if err != nil {
		return false, err
	}
	res, err := s.db.ExecContext(ctx, s.d.rebind(`
		UPDATE scans SET digest_sent_at = ? WHERE id = ? AND digest_sent_at IS NULL AND state IN (?, ?)`),
		s.d.timeArg(at), id, ScanFinished, ScanFailed)
	if err != nil {
		return false, fmt.Errorf("store: mark digest sent: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

const scanColumns = `id, requested_by, channel_id, full_scan, options, state, total, created_at, finished_at, error, summary, digest_sent_at`

func scanScan(row interface{ Scan(...any) error }) (ScanRecord, error) {
	var r ScanRecord
	err := row.Scan(&r.ID, &r.RequestedBy, &r.ChannelID, &r.Full, &r.Options, &r.State, &r.Total,
		timeScanner{&r.CreatedAt}, nullTime{&r.FinishedAt}, &r.Error, &r.Summary, nullTime{&r.DigestSentAt})
	return r, err
}

// Scan returns the scan with the given ID; ErrNotFound if none.
func (s *Store) Scan(ctx context.Context, id string) (ScanRecord, error) {
	r, err := scanScan(s.rdb.QueryRowContext(ctx, s.d.rebind(`SELECT `+scanColumns+` FROM scans WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w: scan %s", ErrNotFound, id)
	}
	if err != nil {
		return r, fmt.Errorf("store: read scan: %w", err)
	}
	return r, nil
}

// LastFullScan returns the newest finished full scan created before
// before; ErrNotFound if none.
func (s *Store) LastFullScan(ctx context.Context, before time.Time) (ScanRecord, error) {
	at, err := normTime(before, "before", false)
	if err != nil {
		return ScanRecord{}, err
	}
	r, err := scanScan(s.rdb.QueryRowContext(ctx, s.d.rebind(`SELECT `+scanColumns+` FROM scans
		WHERE full_scan = ? AND state = ? AND created_at < ? ORDER BY created_at DESC, id DESC LIMIT 1`),
		true, ScanFinished, s.d.timeArg(at)))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w: no finished full scan", ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("store: read last scan: %w", err)
	}
	return r, nil
}

// ScanResults returns a scan's results, by tenant ID.
func (s *Store) ScanResults(ctx context.Context, scanID string) ([]ScanResult, error) {
	rows, err := s.rdb.QueryContext(ctx, s.d.rebind(`
		SELECT scan_id, tenant_id, verdict, result, finished_at FROM scan_results WHERE scan_id = ? ORDER BY tenant_id`), scanID)
	if err != nil {
		return nil, fmt.Errorf("store: read scan results: %w", err)
	}
	defer rows.Close()
	var out []ScanResult
	for rows.Next() {
		var r ScanResult
		if err := rows.Scan(&r.ScanID, &r.TenantID, &r.Verdict, &r.Result, timeScanner{&r.FinishedAt}); err != nil {
			return nil, fmt.Errorf("store: read scan results: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read scan results: %w", err)
	}
	return out, nil
}

// nullTime reads a nullable time column: NULL is the zero time.
type nullTime struct{ t *time.Time }

func (n nullTime) Scan(v any) error {
	if v == nil {
		*n.t = time.Time{}
		return nil
	}
	return timeScanner(n).Scan(v)
}

// DB is the store's database handle for writes, so that River's jobs
// (package scan) live in the same database: the SQLite writer pool (one
// connection, as River's SQLite driver wants), or the PostgreSQL pool.
func (s *Store) DB() *sql.DB { return s.db }

// Postgres reports whether the store is PostgreSQL (else SQLite).
func (s *Store) Postgres() bool { return s.d.postgres }
