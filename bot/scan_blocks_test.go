package bot

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/approval"
	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/scan"
)

// fleet is a report of n affected tenants, one of them named to attack
// Slack's markup, and two unreadable tenants.
func fleet(n int) *scan.Report {
	var rs []scan.TenantResult
	for i := range n {
		name := fmt.Sprintf("Customer %03d", i)
		if i == 0 {
			name = "<!channel> *Evil* <https://evil.example|click>"
		}
		r := scan.TenantResult{
			Tenant:  scan.Tenant{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), DisplayName: name},
			Verdict: diagnose.VerdictLikelyBlocked,
		}
		for j := range 7 {
			r.Blocking = append(r.Blocking, scan.Policy{ID: fmt.Sprintf("p%d", j), DisplayName: fmt.Sprintf("Policy %d of %s", j, name), Effect: diagnose.EffectBlocks})
		}
		rs = append(rs, r)
	}
	rs = append(rs,
		scan.TenantResult{Tenant: scan.Tenant{ID: "11111111-0000-4000-8000-000000000001", DisplayName: "Unconsented"}, Error: "ca-check has no access: nobody consented", ErrorCode: "unauthorized"},
		scan.TenantResult{Tenant: scan.Tenant{ID: "11111111-0000-4000-8000-000000000002", DisplayName: "Fine"}, Verdict: diagnose.VerdictNotBlocked})
	return scan.NewReport("4e8a1c55-7f1b-4c6e-9d2a-1b3c5d7e9f00", time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC), rs)
}

// A digest names every affected tenant with a Request approval button, the
// unreadable ones with their reason, and the counts, across as many
// messages as Slack's limits need, with every tenant text escaped.
func TestDigestMessages(t *testing.T) {
	rep := fleet(80)
	msgs := digestMessages(rep, nil, "U0ENGINEER")
	if len(msgs) < 2 {
		t.Fatalf("80 affected tenants in %d message(s)", len(msgs))
	}
	buttons := map[string]bool{}
	var all strings.Builder
	for i, m := range msgs {
		if len(m.Blocks) > maxBlocks {
			t.Errorf("message %d has %d blocks", i, len(m.Blocks))
		}
		raw, _ := json.Marshal(m.Blocks)
		all.Write(raw)
		for _, b := range m.Blocks {
			sec, ok := b.(*slack.SectionBlock)
			if !ok {
				continue
			}
			if len(sec.Text.Text) > maxSectionText {
				t.Errorf("section of %d bytes", len(sec.Text.Text))
			}
			if sec.Accessory != nil && sec.Accessory.ButtonElement != nil {
				btn := sec.Accessory.ButtonElement
				if btn.ActionID != actionScanRequest || !diagnose.IsGUID(btn.Value) {
					t.Errorf("button %s=%q", btn.ActionID, btn.Value)
				}
				buttons[btn.Value] = true
			}
		}
	}
	if len(buttons) != 80 {
		t.Errorf("%d Request approval buttons, want one per affected tenant (80)", len(buttons))
	}
	text := all.String()
	for _, bad := range []string{"<!channel>", "<https://evil.example"} {
		if strings.Contains(text, bad) {
			t.Errorf("a tenant's name reached Slack unescaped: %q", bad)
		}
	}
	for _, want := range []string{"Unconsented", "nobody consented", "80 likely blocked", "1 unreadable", "…and 2 more"} {
		if !strings.Contains(text, want) {
			t.Errorf("the digest lacks %q", want)
		}
	}
	if strings.Contains(text, "Fine") {
		t.Error("a tenant that is not blocked is listed")
	}
}

// A scheduled digest leads with what changed.
func TestDigestLeadsWithChanges(t *testing.T) {
	prev, cur := fleet(2), fleet(3)
	cur.Tenants[0].Blocking = append(cur.Tenants[0].Blocking, scan.Policy{ID: "new", DisplayName: "Block <everyone>", Effect: diagnose.EffectBlocks})
	ch := scan.Compare(prev, cur, cur.ScannedAt)
	msgs := digestMessages(cur, &ch, "")
	first := msgs[0].Blocks[1].(*slack.SectionBlock).Text.Text
	for _, want := range []string{"Since the last scan", "Block &lt;everyone&gt;", "new customer *Customer 002"} {
		if !strings.Contains(first, want) {
			t.Errorf("the changes lack %q:\n%s", want, first)
		}
	}
}

// A request shows the fix first and then the optional changes, each saying
// what decides it and what excluding service providers from it gives up.
func TestRequestShowsOptionalPlans(t *testing.T) {
	a := approval.Request{ID: "0123456789abcdef0123456789abcdef", TenantID: "22222222-2222-4222-8222-222222222222", TenantName: "Contoso",
		RequestedBy: "U0ENGINEER", ExpiresAt: time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC), Plans: []diagnose.Plan{
			{PolicyID: "p1", DisplayName: "Block outside the office", PartnerTenantID: "4e8a1c55-7f1b-4c6e-9d2a-1b3c5d7e9f00",
				After: &diagnose.GuestsOrExternalUsers{GuestOrExternalUserTypes: "serviceProvider"}},
			{PolicyID: "p2", DisplayName: "Compliant device on iOS", PartnerTenantID: "4e8a1c55-7f1b-4c6e-9d2a-1b3c5d7e9f00", Optional: true,
				DecidedBy: []string{"the device platform"}, GivesUp: "the compliant-device check for <partner staff>",
				After: &diagnose.GuestsOrExternalUsers{GuestOrExternalUserTypes: "serviceProvider"}},
		}}
	var text strings.Builder
	for _, m := range requestMessages(a, "Northwind", "") {
		for _, b := range m.Blocks {
			if sec, ok := b.(*slack.SectionBlock); ok && sec.Text != nil {
				text.WriteString(sec.Text.Text + "\n")
			}
		}
	}
	s := text.String()
	fix, opt := strings.Index(s, "Block outside the office"), strings.Index(s, "Compliant device on iOS")
	if fix < 0 || opt < fix {
		t.Errorf("the fix is not shown before the optional change")
	}
	for _, want := range []string{"_Optional:_ it may block, depending on the device platform", "gives up: the compliant-device check for &lt;partner staff&gt;"} {
		if !strings.Contains(s, want) {
			t.Errorf("the request lacks %q", want)
		}
	}
	if strings.Count(s, "_Optional:_") != 1 {
		t.Errorf("only the second plan is optional")
	}
}
