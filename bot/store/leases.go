package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cacheck/ca-check/approval"
)

// A request in a working state (approved, applying, reverting) or with a
// report due is leased by the process at work on it, until lease_until;
// that process renews the lease while it works. A lease that lapsed is the
// mark of a process that died, and any process may take it over.
//
// legacyLease stands in for the lease of a request that an older ca-check
// (from before leases, or one still running beside this one during an
// upgrade) left approved or applying without one: like that ca-check, take
// it for abandoned this long after its last change.
const legacyLease = 5 * time.Minute

// lapsed is the condition of a request whose lease has lapsed by the first
// argument, or that has none and was left by an older ca-check before the
// second.
const lapsed = `((lease_until IS NOT NULL AND lease_until <= ?)
	OR (lease_until IS NULL AND state IN ('approved', 'applying') AND updated_at <= ?))`

// Lapsed returns the requests whose lease lapsed by now, in a working state
// or with a report due, oldest change first: what a dead process left.
// Both parts are index scans however many requests were ever settled: the
// leased requests by lease_until, the older ca-check's by state and last
// change.
func (s *Store) Lapsed(ctx context.Context, now time.Time) ([]approval.Request, error) {
	at, err := normTime(now, "time", false)
	if err != nil {
		return nil, err
	}
	rs, err := s.queryRequests(ctx, s.rdb, `
		SELECT `+requestColumns+` FROM requests WHERE lease_until IS NOT NULL AND lease_until <= ?
		UNION ALL
		SELECT `+requestColumns+` FROM requests WHERE lease_until IS NULL AND state IN ('approved', 'applying') AND updated_at <= ?
		ORDER BY updated_at, id`,
		s.d.timeArg(at), s.d.timeArg(at.Add(-legacyLease)))
	if err != nil {
		return nil, fmt.Errorf("store: lapsed requests: %w", err)
	}
	return rs, nil
}

// TakeLease gives l to the request at version whose lease lapsed by now
// (as Lapsed finds it), and returns the request; ErrConflict when it
// changed since it was read or its lease is held, ErrNotFound when it does
// not exist. Taking a lease is no transition: the version stays.
func (s *Store) TakeLease(ctx context.Context, id string, version int64, l approval.Lease, now time.Time) (approval.Request, error) {
	if err := required("request ID", id); err != nil {
		return approval.Request{}, err
	}
	if err := required("lease holder", l.Holder); err != nil {
		return approval.Request{}, err
	}
	until, err := normTime(l.Until, "lease expiry", false)
	if err != nil {
		return approval.Request{}, err
	}
	at, err := normTime(now, "time", false)
	if err != nil {
		return approval.Request{}, err
	}
	rs, err := s.queryRequests(ctx, s.db, `
		UPDATE requests SET lease_holder = ?, lease_until = ?
		WHERE id = ? AND version = ? AND `+lapsed+`
		RETURNING `+requestColumns,
		l.Holder, s.d.timeArg(until), id, version, s.d.timeArg(at), s.d.timeArg(at.Add(-legacyLease)))
	if err != nil {
		return approval.Request{}, fmt.Errorf("store: take the lease of request %s: %w", id, err)
	}
	if len(rs) == 0 {
		if _, err := s.Request(ctx, id); err != nil {
			return approval.Request{}, err
		}
		return approval.Request{}, fmt.Errorf("request %s changed or is held: %w", id, ErrConflict)
	}
	return rs[0], nil
}

// RenewLease moves the request's lease to l.Until while l.Holder holds it,
// lapsed or not (nobody took it over), and reports whether it still does.
// An expiry in the past releases the lease to the next taker at once.
func (s *Store) RenewLease(ctx context.Context, id string, l approval.Lease) (held bool, err error) {
	if err := required("request ID", id); err != nil {
		return false, err
	}
	if err := required("lease holder", l.Holder); err != nil {
		return false, err
	}
	until, err := normTime(l.Until, "lease expiry", false)
	if err != nil {
		return false, err
	}
	res, err := s.db.ExecContext(ctx, s.d.rebind(`UPDATE requests SET lease_until = ? WHERE id = ? AND lease_holder = ? AND lease_until IS NOT NULL`),
		s.d.timeArg(until), id, l.Holder)
	if err != nil {
		return false, fmt.Errorf("store: renew the lease of request %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: renew the lease of request %s: %w", id, err)
	}
	return n == 1, nil
}

// Reported clears the request's due report and releases its lease, if
// holder holds it, and appends rec (the record that the outcome was told)
// when not nil, in one transaction; ErrConflict when holder does not hold
// it or no report is due.
func (s *Store) Reported(ctx context.Context, id, holder string, rec *approval.AuditRecord) error {
	if err := required("request ID", id); err != nil {
		return err
	}
	if err := required("lease holder", holder); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.rebind(`
			UPDATE requests SET report_due = ?, lease_holder = '', lease_until = NULL
			WHERE id = ? AND lease_holder = ? AND report_due`), false, id, holder)
		if err != nil {
			return fmt.Errorf("store: request %s reported: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: request %s reported: %w", id, err)
		} else if n == 0 {
			return fmt.Errorf("request %s has no report due held by %q: %w", id, holder, ErrConflict)
		}
		if rec == nil {
			return nil
		}
		return s.appendAudit(ctx, tx, *rec)
	})
}
