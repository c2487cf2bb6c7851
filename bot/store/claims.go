package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cacheck/ca-check/approval"
)

// Claim records key and reports whether this caller is the first to claim it.
// The key names a piece of work to do once: a Slack event ID, a retried
// delivery, "thread:<channel>:<thread_ts>:<code>". The database decides between
// callers, replicas included; only the one that gets first == true acts.
func (s *Store) Claim(ctx context.Context, key string, now time.Time) (first bool, err error) {
	if err := required("claim key", key); err != nil {
		return false, err
	}
	at, err := normTime(now, "claim time", true)
	if err != nil {
		return false, err
	}
	res, err := s.db.ExecContext(ctx, s.d.rebind(`INSERT INTO claims (claim_key, claimed_at) VALUES (?, ?) ON CONFLICT (claim_key) DO NOTHING`),
		key, s.d.timeArg(at))
	if err != nil {
		return false, fmt.Errorf("store: claim %q: %w", key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: claim %q: %w", key, err)
	}
	return n == 1, nil
}

// ClaimAudited is Claim and AppendAudit in one transaction: the claim is
// taken if and only if the audit record a is written, so a failure of
// either leaves neither, and the work the key names stays open to the next
// caller. The claim time is a.At (now when zero).
//
// A claim made before staleBefore is taken over: its holder is taken for
// dead (a crash, or an older ca-check that took claims and their records
// apart). The zero staleBefore never takes a claim over.
func (s *Store) ClaimAudited(ctx context.Context, key string, staleBefore time.Time, a approval.AuditRecord) (first bool, err error) {
	if err := required("claim key", key); err != nil {
		return false, err
	}
	at, err := normTime(a.At, "claim time", true)
	if err != nil {
		return false, err
	}
	a.At = at
	query := `INSERT INTO claims (claim_key, claimed_at) VALUES (?, ?) ON CONFLICT (claim_key) DO NOTHING`
	args := []any{key, s.d.timeArg(at)}
	if !staleBefore.IsZero() {
		stale, err := normTime(staleBefore, "stale time", false)
		if err != nil {
			return false, err
		}
		query = `INSERT INTO claims (claim_key, claimed_at) VALUES (?, ?)
			ON CONFLICT (claim_key) DO UPDATE SET claimed_at = excluded.claimed_at WHERE claims.claimed_at < ?`
		args = append(args, s.d.timeArg(stale))
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.checkAuditRequest(ctx, tx, a.RequestID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.d.rebind(query), args...)
		if err != nil {
			return fmt.Errorf("store: claim %q: %w", key, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: claim %q: %w", key, err)
		}
		if first = n == 1; !first {
			return nil
		}
		return s.appendAudit(ctx, tx, a)
	})
	if err != nil {
		return false, err
	}
	return first, nil
}

// PruneClaims forgets claims made before the given time and reports how many.
// Keep claims longer than anything can be redelivered (Slack retries for
// minutes; an hour or a day is safe).
func (s *Store) PruneClaims(ctx context.Context, before time.Time) (int64, error) {
	at, err := normTime(before, "prune time", false)
	if err != nil {
		return 0, err
	}
	res, err := s.db.ExecContext(ctx, s.d.rebind(`DELETE FROM claims WHERE claimed_at < ?`), s.d.timeArg(at))
	if err != nil {
		return 0, fmt.Errorf("store: prune claims: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: prune claims: %w", err)
	}
	return n, nil
}
