package bot

import (
	"context"

	"github.com/cacheck/ca-check/scan"
)

// PostDigest posts a scan's digest and CSV, as the scan's notifier does.
func (b *Bot) PostDigest(ctx context.Context, channel, thread string, rep *scan.Report, changes *scan.Changes, by string) error {
	return b.postDigest(ctx, channel, thread, rep, changes, by)
}
