package bot

import (
	"context"

	"github.com/cacheck/ca-check/approval"
)

// ReconcileOne settles one request as the sweep would, whatever its age:
// for tests of a reconciliation that works from a stale read.
func (b *Bot) ReconcileOne(ctx context.Context, r approval.Request) error {
	return b.reconcileOne(ctx, r)
}
