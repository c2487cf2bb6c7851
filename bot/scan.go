package bot

import (
	"context"
	"strconv"
	"strings"

	"github.com/cacheck/ca-check/diagnose"
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
