package bot_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/bot"
	"github.com/cacheck/ca-check/bot/slacktest"
	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/scan"
)

// fakeScans stands for the River queue: it records the scans asked for and
// lets the test play the queue's notifications.
type fakeScans struct {
	n        scan.Notifier
	mu       sync.Mutex
	requests []scan.Request
	started  bool
	stopped  bool
}

func (f *fakeScans) Start(context.Context) error {
	f.mu.Lock()
	f.started = true
	f.mu.Unlock()
	return nil
}
func (f *fakeScans) Stop(context.Context) error {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	return nil
}
func (f *fakeScans) Request(_ context.Context, r scan.Request) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r)
	return "scan-" + string(rune('a'+len(f.requests)-1)), nil
}

func (f *fakeScans) asked() []scan.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]scan.Request(nil), f.requests...)
}

func startScans(t *testing.T) (*harness, *fakeScans) {
	f := &fakeScans{}
	h := launch(t, nil, nil, []bot.Option{bot.WithScans(func(n scan.Notifier) (bot.Scans, error) { f.n = n; return f, nil })})
	return h, f
}

func scanReport() *scan.Report {
	return scan.NewReport(partnerID, time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC), []scan.TenantResult{
		{Tenant: scan.Tenant{ID: contosoID, DisplayName: "Contoso <Ltd>"}, Verdict: diagnose.VerdictLikelyBlocked,
			Blocking: []scan.Policy{{ID: "p1", DisplayName: "Require compliant device", Effect: diagnose.EffectBlocks}}},
		{Tenant: scan.Tenant{ID: fabrikamID, DisplayName: "Fabrikam"}, Error: "nobody consented", ErrorCode: "unauthorized"},
	})
}

// /ca-check scan queues a scan, shows one progress message that follows
// the tenants, and posts the digest with its CSV and a Request approval
// button per affected tenant.
func TestScanCommand(t *testing.T) {
	h, f := startScans(t)
	if _, ack := h.command("scan contoso.com, Fabrikam Inc --sign-ins"); !strings.Contains(ack, "Starting a scan of 2 customers") {
		t.Errorf("ack %q", ack)
	}
	progress := h.wait(1, "chat.postMessage")[0]
	if !strings.Contains(progress.Text(), "started a scan") {
		t.Errorf("progress message %q", progress.Text())
	}
	h.settle()
	asked := f.asked()
	if len(asked) != 1 || asked[0].RequestedBy != engineer || asked[0].ChannelID != channel || !asked[0].SignIns ||
		strings.Join(asked[0].Tenants, "|") != "contoso.com|Fabrikam Inc" {
		t.Fatalf("scans asked for: %+v", asked)
	}
	info := scan.ScanInfo{ID: "scan-a", RequestedBy: engineer, ChannelID: channel}
	if err := f.n.Progress(t.Context(), info, 2, 2); err != nil {
		t.Fatal(err)
	}
	if upd := h.wait(1, "chat.update")[0]; upd.Arg("ts") != "1700000000.000001" || !strings.Contains(upd.Text(), "2 done") {
		t.Errorf("progress not updated in place: ts %s %q", upd.Arg("ts"), upd.Text())
	}
	if err := f.n.Digest(t.Context(), scan.Digest{Scan: info, Report: scanReport()}); err != nil {
		t.Fatal(err)
	}
	digest := h.wait(2, "chat.postMessage")[1]
	if btn, _ := digest.Button("scan_request_approval"); btn == nil || btn.Value != contosoID || !strings.Contains(digest.Text(), "nobody consented") {
		t.Errorf("digest:\n%s", digest.Text())
	}
	if up := h.wait(1, slacktest.MethodFileUpload)[0]; !strings.Contains(string(up.Body), contosoID) {
		t.Errorf("CSV:\n%s", up.Body)
	}
}

// A fleet scan names every customer: it is refused in a channel linked to
// one customer and in one shared with another organization, and the
// schedule's digest is not posted in a channel that has become shared.
func TestScanRefusedWhereOutsidersRead(t *testing.T) {
	h, f := startScans(t)
	h.command("link contoso.com")
	h.wait(1, "chat.postMessage")
	h.command("scan")
	if r := h.wait(1, slacktest.MethodResponseURL)[0]; !strings.Contains(r.Text(), "linked to a customer") {
		t.Errorf("scan in a linked channel answered %q", r.Text())
	}
	h.slack.SharedExternally("C0SHARED")
	h.post("/slack/commands", slacktest.ContentForm, h.slack.CommandBody(slack.SlashCommand{ChannelID: "C0SHARED", UserID: engineer, Text: "scan"}), time.Time{})
	if r := h.wait(2, slacktest.MethodResponseURL)[1]; !strings.Contains(r.Text(), "shared with another organization") {
		t.Errorf("scan in a shared channel answered %q", r.Text())
	}
	if n := len(f.asked()); n != 0 {
		t.Errorf("%d scans queued where outsiders read", n)
	}
	h.slack.Reset()
	if err := f.n.Digest(t.Context(), scan.Digest{Scan: scan.ScanInfo{ID: "sched", RequestedBy: scan.ScheduledBy, ChannelID: "C0SHARED", Full: true}, Report: scanReport()}); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if n := len(h.slack.Calls("chat.postMessage", "files.completeUploadExternal")); n != 0 {
		t.Errorf("the schedule's digest was posted in a shared channel (%d calls)", n)
	}
	if !strings.Contains(h.logs.String(), "scan digest not posted") {
		t.Error("the digest not posted was not logged")
	}
}

// The App Home tells engineers how the last full fleet scan went.
func TestAppHomeShowsLastScan(t *testing.T) {
	h := start(t)
	open := func(ev string) string {
		h.slack.Reset()
		h.event(ev, map[string]any{"type": "app_home_opened", "user": engineer, "channel": "D0HOME", "tab": "home", "event_ts": "1700000800.000100"})
		return h.wait(1, "views.publish")[0].Text()
	}
	if home := open("EvHomeScan1"); !strings.Contains(home, "No full fleet scan yet") {
		t.Errorf("home before any scan:\n%s", home)
	}
	ctx := t.Context()
	now := time.Now()
	if err := h.store.CreateScan(ctx, store.ScanRecord{ID: "scan-1", RequestedBy: scan.ScheduledBy, ChannelID: "C0DIGEST", Full: true, CreatedAt: now.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := h.store.StartScan(ctx, "scan-1", 2); err != nil {
		t.Fatal(err)
	}
	summary := []byte(`{"blocked":0,"likely_blocked":1,"possibly_blocked":0,"not_blocked":0,"error":1}`)
	if _, err := h.store.EndScan(ctx, "scan-1", store.ScanFinished, summary, "", now); err != nil {
		t.Fatal(err)
	}
	home := open("EvHomeScan2")
	for _, want := range []string{"Last full scan", "on the schedule", "2 customers", "1 likely", "1 unreadable"} {
		if !strings.Contains(home, want) {
			t.Errorf("home lacks %q:\n%s", want, home)
		}
	}
}
