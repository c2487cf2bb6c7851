package bot

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/diagnose"
)

func TestSplitMrkdwn(t *testing.T) {
	long := strings.Repeat("word ", 1000) // one 5,000-byte line
	fenced := "Run this:\n```\n" + strings.Repeat("Set-Something -Value 1234567890\n", 200) + "```\nThen save."
	entities := strings.Repeat("&lt;!channel&gt; ", 400)
	cases := []struct {
		name  string
		text  string
		limit int
		parts int // 0: any
	}{
		{"short", "hello", 3000, 1},
		{"empty", "", 3000, 0},
		{"exact", strings.Repeat("x", 3000), 3000, 1},
		{"lines", strings.Repeat("a line of text\n", 500), 3000, 3},
		{"one long line", long, 3000, 2},
		{"code block", fenced, 3000, 0},
		{"entities", entities, 1000, 0},
		{"multibyte", strings.Repeat("é", 4000), 3000, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parts := splitMrkdwn(c.text, c.limit)
			if c.parts > 0 && len(parts) != c.parts {
				t.Errorf("%d parts, want %d", len(parts), c.parts)
			}
			var joined strings.Builder
			for i, p := range parts {
				if len(p) > c.limit {
					t.Errorf("part %d is %d bytes; limit %d", i, len(p), c.limit)
				}
				if !utf8.ValidString(p) {
					t.Errorf("part %d cut a character", i)
				}
				if strings.Count(p, "```")%2 != 0 {
					t.Errorf("part %d leaves a code block open", i)
				}
				if strings.TrimSpace(p) == "" || strings.TrimSpace(p) == "```\n```" {
					t.Errorf("part %d is empty", i)
				}
				if amp := strings.LastIndexByte(p, '&'); amp >= 0 && !strings.Contains(p[amp:], ";") {
					t.Errorf("part %d ends inside an entity: %q", i, p[max(0, len(p)-10):])
				}
				joined.WriteString(strings.TrimSuffix(strings.TrimPrefix(p, "```\n"), "\n```"))
			}
			// Nothing is lost: every word of the input survives.
			got := strings.Join(strings.Fields(strings.ReplaceAll(joined.String(), "```", "")), "")
			want := strings.Join(strings.Fields(strings.ReplaceAll(c.text, "```", "")), "")
			if got != want {
				t.Errorf("content changed: %d bytes in, %d out", len(want), len(got))
			}
		})
	}
}

// manyPolicies is a tenant with n blocking policies with long names, as an
// abuse of Slack's limits.
func manyPolicies(n int) *diagnose.Diagnosis {
	var pols []diagnose.Policy
	for i := range n {
		pols = append(pols, diagnose.Policy{
			ID:          fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
			DisplayName: fmt.Sprintf("<!here> policy %d %s", i, strings.Repeat("very long name ", 40)),
			State:       diagnose.StateEnabled,
			Conditions: diagnose.Conditions{
				Users:          &diagnose.UsersCondition{IncludeUsers: []string{"All"}},
				Applications:   &diagnose.ApplicationsCondition{IncludeApplications: []string{"All"}},
				ClientAppTypes: []string{"all"},
			},
			GrantControls: &diagnose.GrantControls{Operator: "OR", BuiltInControls: []string{"block"}},
		})
	}
	t := diagnose.Tenant{ID: "22222222-2222-4222-8222-222222222222", DisplayName: "Contoso"}
	return diagnose.Evaluate(diagnose.Evidence{Tenant: &t, Policies: pols}, diagnose.Scenario{PartnerTenantID: "4e8a1c55-7f1b-4c6e-9d2a-1b3c5d7e9f00"})
}

// However many policies block, the answer fits Slack's limits, shows the top
// ones and offers the rest; Show all's messages fit too and hold them all.
func TestDiagnosisMessageFitsSlack(t *testing.T) {
	for _, n := range []int{1, topPolicies, topPolicies + 1, 60} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			d := manyPolicies(n)
			errs := diagnose.ParseErrors("AADSTS53003 Correlation Id: 7d2c4b91-3f5e-4a8b-b1c6-0e9f2a4d6c83")
			msg := diagnosisMessage(d, errs, 42, "U0ENGINEER")
			checkMessage(t, msg)
			hasShowAll := false
			for _, b := range msg.Blocks {
				if s, ok := b.(*slack.SectionBlock); ok && s.Accessory != nil && s.Accessory.ButtonElement != nil && s.Accessory.ButtonElement.ActionID == actionShowAll {
					hasShowAll = true
					if !strings.Contains(s.Text.Text, fmt.Sprintf("…and %d more", n-topPolicies)) {
						t.Errorf("show-all text %q", s.Text.Text)
					}
				}
			}
			if hasShowAll != (n > topPolicies) {
				t.Errorf("Show all button present = %v with %d policies", hasShowAll, n)
			}
			if n > topPolicies {
				rest := policyMessages("More", d.Blocking()[topPolicies:])
				shown := 0
				for _, m := range rest {
					checkMessage(t, m)
					shown += strings.Count(allText(m), "policy ")
				}
				if shown < n-topPolicies {
					t.Errorf("Show all posts %d of %d policies", shown, n-topPolicies)
				}
			}
		})
	}
}

func checkMessage(t *testing.T, m message) {
	t.Helper()
	if len(m.Blocks) > maxBlocks {
		t.Errorf("%d blocks", len(m.Blocks))
	}
	if len(m.Text) > maxFallbackText {
		t.Errorf("fallback text %d bytes", len(m.Text))
	}
	for _, b := range m.Blocks {
		switch b := b.(type) {
		case *slack.SectionBlock:
			if utf8.RuneCountInString(b.Text.Text) > maxSectionText {
				t.Errorf("section of %d characters", utf8.RuneCountInString(b.Text.Text))
			}
		case *slack.ActionBlock:
			if len(b.BlockID) > maxBlockID {
				t.Errorf("block_id of %d characters", len(b.BlockID))
			}
			for _, e := range b.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok && utf8.RuneCountInString(btn.Text.Text) > maxButtonText {
					t.Errorf("button text %q", btn.Text.Text)
				}
			}
		case *slack.ContextBlock:
			if len(b.ContextElements.Elements) > maxContextElements {
				t.Errorf("context of %d elements", len(b.ContextElements.Elements))
			}
		}
	}
	if strings.Contains(allText(m), "<!here>") {
		t.Error("raw <!here> in the message")
	}
}

func allText(m message) string {
	var b strings.Builder
	for _, blk := range m.Blocks {
		if s, ok := blk.(*slack.SectionBlock); ok && s.Text != nil {
			b.WriteString(s.Text.Text + "\n")
		}
	}
	return b.String()
}

func TestGuideMessagesFitSlack(t *testing.T) {
	d := manyPolicies(30)
	msgs := guideMessages(d)
	if len(msgs) < 2 {
		t.Errorf("a 30-policy guide fit in %d message(s)?", len(msgs))
	}
	for _, m := range msgs {
		checkMessage(t, m)
	}
}

func TestPickerEncoding(t *testing.T) {
	cases := []string{
		"AADSTS53003 Correlation Id: 7d2c4b91-3f5e-4a8b-b1c6-0e9f2a4d6c83 App id: 1950a258-227b-4e31-a9cf-717495945fc2 IP address: 2001:db8:ffff:ffff:ffff:ffff:ffff:ffff Device platform: Windows 10",
		"AADSTS50020 then AADSTS53000 Correlation Id: 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
		// The resource app the message names decides which policies apply.
		"AADSTS53003: Access has been blocked by Conditional Access policies. App id: 1950a258-227b-4e31-a9cf-717495945fc2. You must use multi-factor authentication to access '00000003-0000-0000-c000-000000000000'. Correlation ID: 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
		`AADSTS53003: Access has been blocked by Conditional Access policies. Timestamp: 2025-03-14 09:41:27Z Correlation ID: 7d2c4b91-3f5e-4a8b-b1c6-0e9f2a4d6c83 claims={"access_token":{"capolids":{"essential":true,"values":["0b8f4c1e-5a2d-4e7b-9c3f-1d6a8e2b4f01","2d0b6e3a-7c4f-4a9d-9e5b-3f8c0a4d6b03"]}}}`,
		strings.Repeat("AADSTS53003 Correlation Id: 7d2c4b91-3f5e-4a8b-b1c6-0e9f2a4d6c83\n", 1) + strings.Repeat("AADSTS50076 ", 1) + "AADSTS50158 AADSTS53000 AADSTS53001 AADSTS530002 AADSTS50097 AADSTS50131 AADSTS65001 AADSTS90094 AADSTS500011 AADSTS700016 AADSTS50105 AADSTS500212 AADSTS500213 AADSTS530034 AADSTS50126 AADSTS50053 AADSTS50055 AADSTS50057 AADSTS50133 AADSTS50173",
	}
	for _, paste := range cases {
		errs := diagnose.ParseErrors(paste)
		if len(errs) == 0 {
			t.Fatalf("no errors in %q", paste)
		}
		id := encodePick(errs)
		if len(id) > maxBlockID {
			t.Errorf("block_id of %d characters", len(id))
		}
		back := decodePick(id)
		if len(back) == 0 {
			t.Fatalf("nothing decoded from %q", id)
		}
		want, got := diagnose.PastedScenario(errs), diagnose.PastedScenario(back)
		if got.CorrelationID != want.CorrelationID || got.Platform != want.Platform || got.IP != want.IP || strings.Join(got.Apps, ",") != strings.Join(want.Apps, ",") ||
			!got.ErrorTime.Equal(want.ErrorTime.Truncate(time.Second)) || strings.Join(got.ErrorPolicyIDs, ",") != strings.Join(want.ErrorPolicyIDs, ",") {
			t.Errorf("scenario lost in the picker:\nwant %+v\n got %+v", want, got)
		}
	}
}

func TestCustomerOptions(t *testing.T) {
	var rels []diagnose.Relationship
	for i := range 150 {
		rels = append(rels, diagnose.Relationship{CustomerTenantID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), CustomerName: fmt.Sprintf("Customer %03d %s", i, strings.Repeat("x", 100)), Status: "active"})
	}
	// A second relationship with the same customer is one option.
	rels = append(rels, diagnose.Relationship{CustomerTenantID: rels[0].CustomerTenantID, CustomerName: rels[0].CustomerName, Status: "expired"})
	opts := customerOptions(rels, "", maxOptions)
	if len(opts) != maxOptions {
		t.Errorf("%d options, want %d", len(opts), maxOptions)
	}
	for _, o := range opts {
		if utf8.RuneCountInString(o.Text.Text) > maxButtonText {
			t.Errorf("option text of %d characters", utf8.RuneCountInString(o.Text.Text))
		}
	}
	if got := customerOptions(rels, "customer 149", maxOptions); len(got) != 1 || got[0].Value != rels[149].CustomerTenantID {
		t.Errorf("search found %d", len(got))
	}
	m := pickerMessage(rels, "pick?", false)
	for _, b := range m.Blocks {
		if a, ok := b.(*slack.ActionBlock); ok {
			if sel := a.Elements.ElementSet[0].(*slack.SelectBlockElement); sel.Type != slack.OptTypeExternal {
				t.Errorf("over 100 customers should use an external select, got %s", sel.Type)
			}
		}
	}
}
