package bot

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
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

// Scans runs fleet scans as durable jobs; *scan.Queue implements it.
type Scans interface {
	// Start starts working the queue (and the schedule, on one replica).
	Start(ctx context.Context) error
	// Stop stops taking jobs and waits for those running.
	Stop(ctx context.Context) error
	// Request queues a scan and returns its ID.
	Request(ctx context.Context, r scan.Request) (string, error)
}

// WithScans enables fleet scans: open is called once, by New, with the bot,
// which delivers the scans' progress and digests, and returns what runs
// them (the caller builds the queue over the store's database).
func WithScans(open func(scan.Notifier) (Scans, error)) Option {
	return func(b *Bot) { b.openScans = open }
}

// progressEvery is how often a scan's progress message is updated at most:
// chat.update allows about one a second per channel, and people need less.
const progressEvery = 2 * time.Second

// maxScansWatched bounds the progress messages remembered: one per scan
// this process started and has not finished.
const maxScansWatched = 100

// progressMsg is a scan's progress message, which this process posted.
type progressMsg struct {
	channel, ts, by string
	updated         time.Time
}

// scanProgress remembers the progress messages of the scans this process
// started. Another replica's tenants report progress there too; a replica
// that did not start the scan has no message to update and skips it.
type scanProgress struct {
	mu   sync.Mutex
	msgs map[string]*progressMsg // by scan ID
}

func (p *scanProgress) put(id string, m *progressMsg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.msgs == nil {
		p.msgs = map[string]*progressMsg{}
	}
	if len(p.msgs) >= maxScansWatched {
		for k := range p.msgs {
			delete(p.msgs, k)
			break
		}
	}
	p.msgs[id] = m
}

// due returns the message to update now, or nil.
func (p *scanProgress) due(id string, now time.Time, last bool) *progressMsg {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.msgs[id]
	if m == nil || !last && now.Sub(m.updated) < progressEvery {
		return nil
	}
	m.updated = now
	c := *m
	return &c
}

func (p *scanProgress) take(id string) *progressMsg {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.msgs[id]
	delete(p.msgs, id)
	return m
}

// cmdScan is /ca-check scan [tenant, …] [--sign-ins].
func (b *Bot) cmdScan(ctx context.Context, s slash) *ackMessage {
	var r scan.Request
	var names []string
	for _, f := range strings.Fields(s.rest) {
		if strings.EqualFold(f, "--sign-ins") {
			r.SignIns = true
			continue
		}
		names = append(names, f)
	}
	for t := range strings.SplitSeq(strings.Join(names, " "), ",") {
		if t = strings.TrimSpace(t); t != "" {
			r.Tenants = append(r.Tenants, t)
		}
	}
	if len(r.Tenants) > maxScanTenants || len(s.rest) > 20*maxQueryLen {
		return ephemeral(fmt.Sprintf(":warning: Name at most %d customers, or none to scan them all.", maxScanTenants))
	}
	r.RequestedBy, r.ChannelID = s.dst.User, s.dst.Channel
	ack := "Starting a scan of every GDAP customer…"
	if len(r.Tenants) > 0 {
		ack = fmt.Sprintf("Starting a scan of %d %s…", len(r.Tenants), plural(len(r.Tenants), "customer", "customers"))
	}
	return b.queue(ctx, s, "scan", func(ctx context.Context) { b.startScan(ctx, s.dst, r) }, ack)
}

// maxScanTenants bounds the customers one /ca-check scan names.
const maxScanTenants = 200

// startScan checks that the channel may hear about every customer, posts
// the progress message, and queues the scan.
func (b *Bot) startScan(ctx context.Context, dst destination, r scan.Request) {
	if b.scans == nil {
		b.say(ctx, dst, ":construction: Fleet scans are not configured in this ca-check.")
		return
	}
	if why := b.fleetChannel(ctx, dst.Channel); why != "" {
		b.refused(ctx, refusal{asker: asker{User: dst.User}, Channel: dst.Channel, Path: "scan", Why: why})
		b.say(ctx, dst, refusalText(why))
		return
	}
	pub := dst
	pub.Private = false
	ts := b.deliver(ctx, pub, message{Text: "Fleet scan started", Blocks: sections(progressText(dst.User, 0, 0))})
	id, err := b.scans.Request(ctx, r)
	if err != nil {
		b.storeError(ctx, "request scan", err)
		b.say(ctx, dst, userMessage(ctx, err))
		return
	}
	b.logger(ctx).Info("scan requested", "scan", id, "channel", dst.Channel, "by", dst.User, "tenants", len(r.Tenants), "sign_ins", r.SignIns)
	if ts != "" {
		b.progress.put(id, &progressMsg{channel: dst.Channel, ts: ts, by: dst.User})
	}
}

// Progress updates the progress message of a scan this process started
// (scan.Notifier).
func (b *Bot) Progress(ctx context.Context, s scan.ScanInfo, done, total int) error {
	m := b.progress.due(s.ID, b.now(), done >= total)
	if m == nil {
		return nil
	}
	_, _, _, err := b.api.UpdateMessageContext(ctx, m.channel, m.ts, slack.MsgOptionText("Fleet scan in progress", false),
		slack.MsgOptionBlocks(sections(progressText(m.by, done, total))...))
	if err != nil {
		b.apiError(ctx, "chat.update", err)
	}
	return err
}

// Digest posts a finished scan's digest and CSV where it was asked for, or
// in CACHECK_SCAN_CHANNEL for the schedule's (scan.Notifier). A channel
// that may not hear about every customer (linked to one, or shared with
// another organization since) gets nothing; that is logged.
func (b *Bot) Digest(ctx context.Context, d scan.Digest) error {
	by := d.Scan.RequestedBy
	if by == scan.ScheduledBy {
		by = ""
	}
	if m := b.progress.take(d.Scan.ID); m != nil {
		done := fmt.Sprintf(":satellite: %s's fleet scan has finished; the digest follows.", userRef(m.by))
		if d.Report == nil {
			done = fmt.Sprintf(":warning: %s's fleet scan failed.", userRef(m.by))
		}
		if _, _, _, err := b.api.UpdateMessageContext(ctx, m.channel, m.ts, slack.MsgOptionText("Fleet scan finished", false), slack.MsgOptionBlocks(sections(done)...)); err != nil {
			b.apiError(ctx, "chat.update", err)
		}
	}
	if why := b.fleetChannel(ctx, d.Scan.ChannelID); why != "" {
		b.logger(ctx).Error("scan digest not posted: the channel may not hear about every customer", "scan", d.Scan.ID, "channel", d.Scan.ChannelID, "why", why)
		return nil
	}
	if d.Report == nil {
		b.deliver(ctx, destination{Channel: d.Scan.ChannelID}, message{Text: "Fleet scan failed",
			Blocks: sections(":warning: The fleet scan could not list the partner's GDAP customers: " + diagnose.EscapeMrkdwn(oneLine(d.Error)))})
		return nil
	}
	return b.postDigest(ctx, d.Scan.ChannelID, "", d.Report, d.Changes, by)
}
