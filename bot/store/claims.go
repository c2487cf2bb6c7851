package store

import (
	"context"
	"fmt"
	"time"
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
