package bot

import (
	"context"

	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/scan"
)

// ReconcileOne settles one request as the sweep would, whatever its age:
// for tests of a reconciliation that works from a stale read.
func (b *Bot) ReconcileOne(ctx context.Context, r store.Request) error { return b.reconcileOne(ctx, r) }

// PostDigest posts a scan's digest and CSV, as the scan's notifier does.
func (b *Bot) PostDigest(ctx context.Context, channel, thread string, rep *scan.Report, changes *scan.Changes, by string) error {
	return b.postDigest(ctx, channel, thread, rep, changes, by)
}
