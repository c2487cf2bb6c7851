package bot

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/scan"
)

// requestFromScan is a digest's Request approval: the tenant is read again
// (the scan may be hours old, and a request shows the policies as they are
// now), the diagnosis saved, and approval requested from it as from an
// answer's button.
func (b *Bot) requestFromScan(ctx context.Context, c click, tenantID string) {
	tenantID = strings.ToLower(strings.TrimSpace(tenantID))
	if !diagnose.IsGUID(tenantID) {
		b.say(ctx, c.dst(), ":warning: That button does not name a customer tenant. Run `/ca-check scan` again.")
		return
	}
	if !b.allowedHere(ctx, c.dst(), "click", tenantID) {
		return
	}
	d, err := b.diag.Diagnose(ctx, tenantID, diagnose.Scenario{})
	if err != nil {
		b.logger(ctx).Warn("diagnosis for a scan's request failed", "tenant", tenantID, "code", diagnose.ErrorCode(err), "err", err)
		b.say(ctx, c.dst(), userMessage(ctx, err))
		return
	}
	if d.Tenant == nil || d.Tenant.ID == "" {
		d.Tenant = &diagnose.Tenant{ID: tenantID}
	}
	id, err := b.save(ctx, c.dst(), d, nil)
	if err != nil {
		b.storeError(ctx, "save diagnosis", err)
		b.say(ctx, c.dst(), userMessage(ctx, err))
		return
	}
	b.requestApproval(ctx, c, strconv.FormatInt(id, 10))
}

// postDigest posts a scan's digest in channel (in thread when set) and the
// whole result as a CSV file beside it. The CSV's cells are defused (a
// name starting with = or + is not a formula there).
func (b *Bot) postDigest(ctx context.Context, channel, thread string, rep *scan.Report, changes *scan.Changes, by string) error {
	dst := destination{Channel: channel, ThreadTS: thread}
	for _, m := range digestMessages(rep, changes, by) {
		if b.deliver(ctx, dst, m) == "" {
			return fmt.Errorf("bot: the scan digest could not be posted in %s", channel)
		}
	}
	var csv bytes.Buffer
	if err := scan.WriteCSV(&csv, rep); err != nil {
		return fmt.Errorf("bot: the scan's CSV: %w", err)
	}
	name := "ca-check-scan-" + rep.ScannedAt.UTC().Format("2006-01-02T1504Z") + ".csv"
	if _, err := b.api.UploadFileContext(ctx, slack.UploadFileParameters{
		Reader: &csv, FileSize: csv.Len(), Filename: name, Title: "Fleet scan " + rep.ScannedAt.UTC().Format(time.RFC3339),
		Channel: channel, ThreadTimestamp: thread, SnippetType: "csv",
	}); err != nil {
		b.apiError(ctx, "files.uploadV2", err)
		return fmt.Errorf("bot: upload the scan's CSV: %w", err)
	}
	return nil
}
