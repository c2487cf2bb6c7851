package bot

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/diagnose"
)

// Slack's Block Kit limits (https://api.slack.com/reference/block-kit).
const (
	maxBlocks          = 50   // blocks in a message
	maxHomeBlocks      = 100  // blocks in a Home tab view
	maxSectionText     = 3000 // characters in a section's text
	maxContextElements = 10   // elements in a context block
	maxButtonText      = 75   // characters of a button's or option's text
	maxOptions         = 100  // options in a static select
	maxBlockID         = 255  // characters of a block_id
	maxFallbackText    = 3000 // notification text we send (Slack allows 40,000)
	// maxMessageBytes caps a follow-up message built from several
	// sections: Slack takes more, but clients collapse long messages.
	maxMessageBytes = 12000
	// topPolicies is how many blocking policies the answer shows; the rest
	// are one click away (Show all), posted in the thread.
	topPolicies = 5
)

// Action IDs of the interactive elements.
const (
	actionRequestApproval = "request_approval"
	actionShowGuide       = "show_guide"
	actionRecheck         = "recheck"
	actionShowAll         = "show_all"
	actionPickTenant      = "pick_tenant"
	actionConsent         = "open_consent" // a link button; its click needs only an ack
)

// message is one Slack message: blocks and the notification text that goes
// with them (also what a client without Block Kit shows).
type message struct {
	Text   string
	Blocks []slack.Block
}

func mrkdwn(s string) *slack.TextBlockObject {
	// verbatim: Slack must not auto-parse tenant or user text into links or
	// mentions; the control sequences we mean are written out explicitly.
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, truncateRunes(s, maxButtonText), false, false)
}

// sections returns text as section blocks of at most maxSectionText each.
func sections(text string) []slack.Block {
	var out []slack.Block
	for _, part := range splitMrkdwn(text, maxSectionText) {
		out = append(out, slack.NewSectionBlock(mrkdwn(part), nil, nil))
	}
	return out
}

func button(actionID, value, text string) *slack.ButtonBlockElement {
	return slack.NewButtonBlockElement(actionID, value, plain(text))
}

func contextBlock(elements ...string) *slack.ContextBlock {
	if len(elements) > maxContextElements {
		elements = elements[:maxContextElements]
	}
	mixed := make([]slack.MixedElement, len(elements))
	for i, e := range elements {
		mixed[i] = mrkdwn(truncateMrkdwn(e, maxSectionText))
	}
	return slack.NewContextBlock("", mixed...)
}

// slackDate is a date Slack shows in the reader's time zone.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// userRef mentions a Slack user by ID; anything that is not an ID (it came
// from a payload, so it should be) is shown escaped instead.
func userRef(id string) string {
	if isUserID(id) {
		return "<@" + id + ">"
	}
	return diagnose.EscapeMrkdwn(id)
}

// diagnosisMessage is the answer: verdict, pasted errors, the blocking
// policies with their reasons, and the buttons. id is the saved record (0
// when saving failed: no buttons then, since they need it).
func diagnosisMessage(d *diagnose.Diagnosis, errs []diagnose.SignInError, id int64, user string) message {
	var blocks []slack.Block
	blocks = append(blocks, sections(diagnose.MrkdwnSummary(d))...)
	meta := []string{}
	if user != "" {
		meta = append(meta, "Asked by "+userRef(user))
	}
	if d.SignInsUsed > 0 {
		meta = append(meta, fmt.Sprintf(":white_check_mark: %d sign-in log %s used", d.SignInsUsed, plural(d.SignInsUsed, "entry", "entries")))
	}
	if id > 0 {
		meta = append(meta, "diagnosis #"+strconv.FormatInt(id, 10))
	}
	if len(meta) > 0 {
		blocks = append(blocks, contextBlock(strings.Join(meta, " · ")))
	}
	if len(errs) > 0 {
		blocks = append(blocks, sections(diagnose.MrkdwnErrors(errs))...)
	}

	blocking := d.Blocking()
	if len(blocking) > 0 {
		blocks = append(blocks, slack.NewDividerBlock())
		shown := blocking[:min(len(blocking), topPolicies)]
		for _, r := range shown {
			blocks = append(blocks, sections(diagnose.MrkdwnPolicy(r))...)
		}
		if rest := len(blocking) - len(shown); rest > 0 {
			text := fmt.Sprintf("…and %d more blocking %s.", rest, plural(rest, "policy", "policies"))
			var acc *slack.Accessory
			if id > 0 {
				acc = slack.NewAccessory(button(actionShowAll, strconv.FormatInt(id, 10), "Show all"))
			}
			blocks = append(blocks, slack.NewSectionBlock(mrkdwn(text), nil, acc))
		}
	}
	if len(d.Disagreements) > 0 {
		lines := make([]string, len(d.Disagreements))
		for i, s := range d.Disagreements {
			lines[i] = "• " + diagnose.EscapeMrkdwn(s)
		}
		blocks = append(blocks, sections(":mag: *Where the engine and the evidence disagree* (the evidence was followed):\n"+strings.Join(lines, "\n"))...)
	}

	if id > 0 {
		v := strconv.FormatInt(id, 10)
		var buttons []slack.BlockElement
		if len(blocking) > 0 {
			buttons = append(buttons,
				button(actionRequestApproval, v, "Request approval from the customer admin").WithStyle(slack.StylePrimary),
				button(actionShowGuide, v, "Show guide"))
		}
		buttons = append(buttons, button(actionRecheck, v, "Re-check"))
		blocks = append(blocks, slack.NewActionBlock("actions-"+v, buttons...))
	}
	return message{Text: fallback(diagnose.Headline(d)), Blocks: fitBlocks(blocks, maxBlocks)}
}

// noAccessMessage is the answer when the tenant's evidence cannot be read:
// what the error means, how to find the policy by hand, the generic fix, and
// the admin-consent link if the error carries one.
func noAccessMessage(t diagnose.Tenant, errs []diagnose.SignInError, err error, why string) message {
	name := tenantLabel(t)
	var blocks []slack.Block
	blocks = append(blocks, sections(fmt.Sprintf(":lock: *I can't read the Conditional Access policies of %s*, so I can't name the policy.\n%s", name, why))...)
	if u := consentURL(err); u != "" {
		blocks = append(blocks,
			slack.NewSectionBlock(mrkdwn("A Global Administrator of the customer tenant can grant ca-check read access here; then ask me again."),
				nil, slack.NewAccessory(slack.NewButtonBlockElement(actionConsent, "consent", plain("Grant admin consent")).WithURL(u))))
	}
	if len(errs) > 0 {
		blocks = append(blocks, sections(diagnose.MrkdwnErrors(errs))...)
	}
	blocks = append(blocks, sections(findPolicyMrkdwn(errs))...)
	blocks = append(blocks, sections(genericGuideMrkdwn())...)
	return message{Text: fallback("Can't read the Conditional Access policies of " + plainLabel(t)), Blocks: fitBlocks(blocks, maxBlocks)}
}

// findPolicyMrkdwn tells how to find the blocking policy in the customer's
// sign-in log, by the pasted correlation ID when there is one.
func findPolicyMrkdwn(errs []diagnose.SignInError) string {
	filter := "*Cross tenant access type: Service provider* and the time of the failure"
	for _, e := range errs {
		if e.CorrelationID != "" {
			filter = "*Correlation ID* `" + diagnose.EscapeMrkdwn(strings.ReplaceAll(e.CorrelationID, "`", "")) + "`"
			break
		}
	}
	return "*Find the policy* (a customer admin, or you through GDAP with a Security Reader role):\n" +
		"1. In the customer's Microsoft Entra admin center, open *Entra ID > Monitoring & health > Sign-in logs*.\n" +
		"2. Filter by " + filter + ", and open the failed sign-in.\n" +
		"3. On its *Conditional Access* tab, the policies with the result *Failure* are the ones that blocked."
}

// genericGuideMrkdwn is the fix without knowing the policy.
func genericGuideMrkdwn() string {
	return "*Fix it* (a customer admin with at least the Conditional Access Administrator role), for each policy found:\n" +
		"1. Open *Entra ID > Conditional Access > Policies* and select the policy.\n" +
		"2. Under *Assignments > Users*, on the *Exclude* tab, check *Guest or external users*, then *Service provider users*.\n" +
		"3. Under *Specify external Microsoft Entra organizations*, choose *Select* and add your partner tenant ID.\n" +
		"4. *Save*. Nothing else in the policy changes, and your staff still sign in with MFA, enforced in your partner tenant."
}

// pickerMessage asks which customer a question is about. blockID carries
// the pasted errors to the click; customers fill the menu (a static one up
// to Slack's 100 options, an external one that searches beyond that).
func pickerMessage(customers []diagnose.Relationship, blockID string, listErr bool) message {
	text := ":question: *Which customer is this about?* The paste names no tenant and this channel is not linked to one."
	hint := "Tip: `/ca-check link contoso.com` links this channel to a customer, so I won't ask again."
	blocks := []slack.Block{slack.NewSectionBlock(mrkdwn(text), nil, nil)}
	opts := customerOptions(customers, "", maxOptions+1) // one more tells whether they fit
	switch {
	case listErr || len(customers) == 0:
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn("I could not list your GDAP customers. Ask again with the tenant: `/ca-check contoso.com` (a domain, a tenant ID, or the customer's name)."), nil, nil))
	case len(opts) <= maxOptions:
		sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose a customer"), actionPickTenant, opts...)
		blocks = append(blocks, slack.NewActionBlock(blockID, sel))
	default:
		sel := slack.NewOptionsSelectBlockElement(slack.OptTypeExternal, plain("Type a customer's name"), actionPickTenant)
		one := 1
		sel.MinQueryLength = &one
		blocks = append(blocks, slack.NewActionBlock(blockID, sel))
	}
	blocks = append(blocks, contextBlock(hint))
	return message{Text: "Which customer is this about?", Blocks: blocks}
}

// customerOptions are the picker's options: one per customer tenant (a
// customer can have several relationships), active first, then by name,
// those matching query (case-insensitive substring) only, at most limit.
func customerOptions(customers []diagnose.Relationship, query string, limit int) []*slack.OptionBlockObject {
	type entry struct {
		name, id string
		active   bool
	}
	seen := map[string]int{}
	var list []entry
	now := time.Now()
	for _, r := range customers {
		id := strings.ToLower(strings.TrimSpace(r.CustomerTenantID))
		if id == "" {
			continue
		}
		name := strings.TrimSpace(r.CustomerName)
		if name == "" {
			name = id
		}
		if query != "" && !strings.Contains(strings.ToLower(name), strings.ToLower(query)) && !strings.Contains(id, strings.ToLower(query)) {
			continue
		}
		active := r.Active(now)
		if i, ok := seen[id]; ok {
			list[i].active = list[i].active || active
			continue
		}
		seen[id] = len(list)
		list = append(list, entry{name, id, active})
	}
	sortEntries := func(a, b entry) int {
		if a.active != b.active {
			if a.active {
				return -1
			}
			return 1
		}
		return strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name))
	}
	slices.SortFunc(list, sortEntries)
	if len(list) > limit {
		list = list[:limit]
	}
	opts := make([]*slack.OptionBlockObject, len(list))
	for i, e := range list {
		label := e.name
		if !e.active {
			label += " (GDAP not active)"
		}
		// Option text is plain_text: Slack shows it literally, so no escaping.
		opts[i] = slack.NewOptionBlockObject(e.id, plain(label), nil)
	}
	return opts
}

// policyMessages are follow-up messages listing policies in full.
func policyMessages(title string, rs []diagnose.PolicyResult) []message {
	var parts []string
	for _, r := range rs {
		parts = append(parts, diagnose.MrkdwnPolicy(r))
	}
	return sectionMessages(title, parts)
}

// guideMessages are the step-by-step guide, in as many messages as it takes.
func guideMessages(d *diagnose.Diagnosis) []message {
	return sectionMessages("Step-by-step guide for "+plainLabel(tenantOf(d)), []string{diagnose.GuideMrkdwn(d)})
}

// sectionMessages packs mrkdwn texts into messages of at most maxBlocks
// sections and maxMessageBytes each, every text split at maxSectionText.
func sectionMessages(title string, texts []string) []message {
	var out []message
	var cur []slack.Block
	size := 0
	flush := func() {
		if len(cur) > 0 {
			out = append(out, message{Blocks: cur})
			cur, size = nil, 0
		}
	}
	for _, t := range texts {
		for _, part := range splitMrkdwn(t, maxSectionText) {
			if len(cur) >= maxBlocks || size+len(part) > maxMessageBytes {
				flush()
			}
			cur = append(cur, slack.NewSectionBlock(mrkdwn(part), nil, nil))
			size += len(part)
		}
	}
	flush()
	for i := range out {
		out[i].Text = fallback(title)
		if len(out) > 1 {
			out[i].Text = fallback(fmt.Sprintf("%s (%d/%d)", title, i+1, len(out)))
		}
	}
	return out
}

// fitBlocks keeps a message within Slack's block limit, saying what was cut.
func fitBlocks(blocks []slack.Block, limit int) []slack.Block {
	if len(blocks) <= limit {
		return blocks
	}
	// Keep the last block (the buttons) and make room for the notice.
	last := blocks[len(blocks)-1]
	kept := append([]slack.Block{}, blocks[:limit-2]...)
	kept = append(kept, contextBlock(fmt.Sprintf("…%d more blocks did not fit in one Slack message.", len(blocks)-limit+1)), last)
	return kept
}

// splitMrkdwn splits text into pieces of at most limit bytes, at line
// breaks where it can, and keeps ``` code blocks balanced: a piece that ends
// inside one closes it, and the next reopens it.
func splitMrkdwn(text string, limit int) []string {
	const fence = "```"
	const closing = "\n" + fence
	text = strings.TrimRight(text, "\n")
	if len(text) <= limit {
		if strings.TrimSpace(text) == "" {
			return nil
		}
		return []string{text}
	}
	var (
		out      []string
		cur      []string // lines of the piece being built
		curLen   int      // len(strings.Join(cur, "\n"))
		open     bool     // a code block is open at the end of cur
		reopened bool     // cur starts with a fence reopening the previous piece's block
	)
	hasContent := func() bool { return len(cur) > 1 || len(cur) == 1 && !reopened }
	emit := func() {
		s := strings.Join(cur, "\n")
		if open {
			s += closing
		}
		out = append(out, s)
		cur, curLen, reopened = nil, 0, false
		if open {
			cur, curLen, reopened = []string{fence}, len(fence), true
		}
	}
	add := func(line string) {
		if len(cur) > 0 {
			curLen++
		}
		cur = append(cur, line)
		curLen += len(line)
	}
	// room is what a line may add to cur, leaving space to close a block
	// that is open after it.
	room := func(openAfter bool) int {
		r := limit - curLen
		if len(cur) > 0 {
			r--
		}
		if openAfter {
			r -= len(closing)
		}
		return r
	}
	toggles := func(s string) bool { return strings.Count(s, fence)%2 == 1 }
	for _, line := range strings.Split(text, "\n") {
		if len(line) > room(open != toggles(line)) && hasContent() {
			emit()
		}
		for len(line) > room(open != toggles(line)) {
			// A line longer than a piece: cut it on a rune boundary, not
			// inside an &entity;.
			r := room(true) // the cut part may leave a block open
			if r <= 0 {
				emit()
				continue
			}
			part := line[:cutPoint(line, r)]
			line = line[len(part):]
			add(part)
			open = open != toggles(part)
			emit()
		}
		add(line)
		open = open != toggles(line)
	}
	if hasContent() {
		s := strings.Join(cur, "\n")
		if open {
			s += closing
		}
		out = append(out, s)
	}
	return out
}

// cutPoint is the largest index ≤ max at which s can be cut: a rune boundary
// outside an HTML entity.
func cutPoint(s string, max int) int {
	if max >= len(s) {
		return len(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if amp := strings.LastIndexByte(s[:cut], '&'); amp >= 0 && amp > cut-8 && !strings.Contains(s[amp:cut], ";") {
		cut = amp
	}
	if cut == 0 {
		cut = max
	}
	return cut
}

// truncateMrkdwn cuts escaped mrkdwn to max bytes, ending in "…".
func truncateMrkdwn(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return s[:cutPoint(s, max-len("…"))] + "…"
}

// truncateRunes cuts plain text to max characters, ending in "…".
func truncateRunes(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// fallback is notification text: plain, escaped, short.
func fallback(s string) string {
	return truncateMrkdwn(diagnose.EscapeMrkdwn(strings.Join(strings.Fields(s), " ")), maxFallbackText)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func tenantOf(d *diagnose.Diagnosis) diagnose.Tenant {
	if d.Tenant != nil {
		return *d.Tenant
	}
	return diagnose.Tenant{}
}

// tenantLabel names a tenant in mrkdwn, escaped: "*Contoso* (contoso.com)".
func tenantLabel(t diagnose.Tenant) string {
	return diagnose.EscapeMrkdwn(plainLabel(t))
}

// plainLabel names a tenant in plain text.
func plainLabel(t diagnose.Tenant) string {
	name := strings.Join(strings.Fields(t.DisplayName), " ")
	extra := t.DefaultDomain
	if extra == "" {
		extra = t.ID
	}
	switch {
	case name == "" && extra == "":
		return "the customer tenant"
	case name == "":
		return extra
	case extra == "" || strings.EqualFold(extra, name):
		return name
	}
	return name + " (" + extra + ")"
}
