package diagnose

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxPasteErrors caps the entries ParseErrors returns. A paste with more
// distinct (code, correlation ID) pairs is a log dump, not a question; the
// first MaxPasteErrors by appearance are kept and later ones dropped.
const MaxPasteErrors = 1000

const (
	maxMessageLen   = 500      // bytes of SignInError.Message
	maxTextValue    = 200      // bytes of a free-text field (app name, device platform)
	maxPolicyIDs    = 64       // per SignInError
	maxClaimsBase64 = 64 << 10 // longest base64 token decoded in search of a claims challenge
)

// SignInError is one AADSTS error found in a paste.
//
// Its JSON form (ca-check parse --json) has the fields in this order, each
// omitted when empty: code, name, category, message, correlationId, traceId,
// timestamp (RFC 3339, UTC), tenantId, appId, appName, ipAddress,
// devicePlatform, deviceState, policyIds, deviceCodeFlow. Message sits with
// the code it describes; the identifiers a support engineer copies follow.
type SignInError struct {
	Code     int      `json:"code"`
	Name     string   `json:"name,omitempty"`
	Category Category `json:"category"`
	// Message is the error's own description, whitespace collapsed, at most
	// 500 bytes.
	Message string `json:"message,omitempty"`
	// CorrelationID is what the customer's sign-in log is searched by.
	CorrelationID string `json:"correlationId,omitempty"`
	// TraceID is the STS request ID ("Request Id" on the browser error page).
	TraceID   string    `json:"traceId,omitempty"`
	Timestamp time.Time `json:"-"` // UTC; see MarshalJSON
	// TenantID is the tenant signed in to (the customer), when the paste
	// names it: a tenant ID field, --tenant / -TenantId, or the authority URL.
	TenantID       string `json:"tenantId,omitempty"`
	AppID          string `json:"appId,omitempty"`
	AppName        string `json:"appName,omitempty"`
	IPAddress      string `json:"ipAddress,omitempty"`
	DevicePlatform string `json:"devicePlatform,omitempty"`
	DeviceState    string `json:"deviceState,omitempty"`
	// PolicyIDs are the Conditional Access policy IDs of a claims challenge
	// (capolids) that came with the error: the policies that demand more.
	PolicyIDs []string `json:"policyIds,omitempty"`
	// DeviceCodeFlow is set when the paste shows the device code flow, which
	// an authentication flows policy may block.
	DeviceCodeFlow bool `json:"deviceCodeFlow,omitempty"`
}

// signInErrorJSON is SignInError with the timestamp as text, in the field
// order the JSON output promises.
type signInErrorJSON struct {
	Code           int      `json:"code"`
	Name           string   `json:"name,omitempty"`
	Category       Category `json:"category"`
	Message        string   `json:"message,omitempty"`
	CorrelationID  string   `json:"correlationId,omitempty"`
	TraceID        string   `json:"traceId,omitempty"`
	Timestamp      string   `json:"timestamp,omitempty"`
	TenantID       string   `json:"tenantId,omitempty"`
	AppID          string   `json:"appId,omitempty"`
	AppName        string   `json:"appName,omitempty"`
	IPAddress      string   `json:"ipAddress,omitempty"`
	DevicePlatform string   `json:"devicePlatform,omitempty"`
	DeviceState    string   `json:"deviceState,omitempty"`
	PolicyIDs      []string `json:"policyIds,omitempty"`
	DeviceCodeFlow bool     `json:"deviceCodeFlow,omitempty"`
}

// MarshalJSON writes the timestamp as RFC 3339 in UTC, and leaves it out when
// zero (encoding/json cannot omit a zero struct-typed time by itself in the
// field order wanted here).
func (e SignInError) MarshalJSON() ([]byte, error) {
	j := signInErrorJSON{
		Code: e.Code, Name: e.Name, Category: e.Category, Message: e.Message,
		CorrelationID: e.CorrelationID, TraceID: e.TraceID,
		TenantID: e.TenantID, AppID: e.AppID, AppName: e.AppName, IPAddress: e.IPAddress,
		DevicePlatform: e.DevicePlatform, DeviceState: e.DeviceState,
		PolicyIDs: e.PolicyIDs, DeviceCodeFlow: e.DeviceCodeFlow,
	}
	if !e.Timestamp.IsZero() {
		j.Timestamp = e.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *SignInError) UnmarshalJSON(data []byte) error {
	var j signInErrorJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	var ts time.Time
	if j.Timestamp != "" {
		t, err := time.Parse(time.RFC3339Nano, j.Timestamp)
		if err != nil {
			return fmt.Errorf("timestamp: %w", err)
		}
		ts = t.UTC()
	}
	*e = SignInError{
		Code: j.Code, Name: j.Name, Category: j.Category, Message: j.Message,
		CorrelationID: j.CorrelationID, TraceID: j.TraceID, Timestamp: ts,
		TenantID: j.TenantID, AppID: j.AppID, AppName: j.AppName, IPAddress: j.IPAddress,
		DevicePlatform: j.DevicePlatform, DeviceState: j.DeviceState,
		PolicyIDs: j.PolicyIDs, DeviceCodeFlow: j.DeviceCodeFlow,
	}
	return nil
}

// ParseErrors finds every AADSTS error in a paste: one entry per distinct
// (code, correlation ID), in order of first appearance, at most
// MaxPasteErrors. It returns nil when the paste holds no error code. It never
// fails: whatever cannot be read is left out.
//
// What it reads: the browser sign-in error page, MSAL and ADAL exceptions,
// PowerShell (Connect-ExchangeOnline, Connect-MgGraph, Connect-AzAccount) and
// Azure CLI output, OAuth JSON error bodies, URL-encoded redirects, logs, and
// all of these as chat clients mangle them (Slack links and entities, smart
// quotes, code fences, escaped JSON, wrapped lines, CRLF).
//
// Codes are "AADSTS" followed by 5 to 7 digits, and numbers labelled as error
// codes ("error_codes":[53003], "Error Code: 53003", "errorCode": 53003).
//
// Which error a field belongs to, in this order:
//  1. A field follows the error before it, up to the next code.
//  2. Fields on a line before that line's first code belong to that code (log
//     lines often put the correlation ID before the message).
//  3. A correlation or trace ID that differs from the current error's starts a
//     new context: it and the fields after it wait for the next code (two
//     pasted error pages), and are dropped if no code follows.
//  4. Fields before the first code belong to the first error.
//  5. Within one error the first value of a field, in paste order, wins.
//
// Repeats are merged: occurrences with the same code and correlation ID are
// one entry; an occurrence without a correlation ID joins the first entry with
// the same code. Policy IDs of a claims challenge go with their error like any
// field; those whose error is unclear (before the first code, or in a context
// no code followed) go to every Conditional Access error, or to the first
// error when none is. DeviceCodeFlow is a property of the paste, set on every
// entry.
func ParseErrors(text string) []SignInError {
	norm, percent := normalizePaste(text)
	if percent {
		norm = decodePercentTokens(norm)
	}
	sc := pasteScanner{s: string(norm)}
	sc.scan()
	return sc.results()
}

// fieldKind is a field a label in a paste names.
type fieldKind uint8

const (
	fieldCorrelation fieldKind = iota
	fieldTrace
	fieldTenant
	fieldAppID
	fieldAppName
	fieldIP
	fieldPlatform
	fieldState
	numStringFields // not a field: the count of the string-valued ones above

	fieldTimestamp // the only time-valued field
	fieldCode      // a number that is an error code
	fieldIgnored   // a known label whose value is not kept; it ends free text
)

func (k fieldKind) isGUID() bool {
	return k == fieldCorrelation || k == fieldTrace || k == fieldTenant || k == fieldAppID
}

// isProse reports whether the label's words also occur in error messages
// ("Device is not in required device state: compliant."), where they are not
// a field.
func (k fieldKind) isProse() bool {
	return k == fieldAppName || k == fieldPlatform || k == fieldState || k == fieldIP || k == fieldIgnored
}

// pasteLabel is a field label as words; between the words a paste may have a
// space, '_', '-', '+', '.', a line wrap, or nothing (camelCase), so one entry
// matches "Correlation ID", "correlation_id", "correlationId" and
// "Correlation+ID".
type pasteLabel struct {
	words []string
	kind  fieldKind
}

// pasteLabels lists longer labels before their prefixes ("tenant id" before
// "tenant").
var pasteLabels = []pasteLabel{
	{[]string{"correlation", "id"}, fieldCorrelation},
	{[]string{"client", "request", "id"}, fieldCorrelation}, // MSAL sends the correlation ID under this name
	{[]string{"trace", "id"}, fieldTrace},
	{[]string{"request", "id"}, fieldTrace}, // the browser page's name for the trace ID
	{[]string{"timestamp"}, fieldTimestamp},
	{[]string{"tenant", "id"}, fieldTenant},
	{[]string{"tenant"}, fieldTenant},
	{[]string{"app", "id"}, fieldAppID},
	{[]string{"application", "id"}, fieldAppID},
	{[]string{"client", "app", "id"}, fieldAppID},
	{[]string{"client", "id"}, fieldAppID},
	{[]string{"app", "display", "name"}, fieldAppName},
	{[]string{"app", "name"}, fieldAppName},
	{[]string{"application", "name"}, fieldAppName},
	{[]string{"ip", "address"}, fieldIP},
	{[]string{"client", "ip"}, fieldIP},
	{[]string{"ip"}, fieldIP},
	{[]string{"device", "platform"}, fieldPlatform},
	{[]string{"device", "state"}, fieldState},
	{[]string{"error", "codes"}, fieldCode},
	{[]string{"error", "code"}, fieldCode},
	{[]string{"result", "type"}, fieldCode}, // Log Analytics SigninLogs
	{[]string{"device", "identifier"}, fieldIgnored},
	{[]string{"message"}, fieldIgnored},
	{[]string{"advanced", "diagnostics"}, fieldIgnored},
}

// pasteLabelIndex lists, per first letter, the pasteLabels starting with it,
// so that most words are rejected after one table look-up.
var pasteLabelIndex = func() (idx [26][]int) {
	for i, l := range pasteLabels {
		c := l.words[0][0] - 'a'
		idx[c] = append(idx[c], i)
	}
	return idx
}()

// wordStarts holds the first three letters of every word the scanner acts
// on, so that most words of a paste are passed over after one look-up. Two-
// letter words ("ip", and "ey"/"ew" starting base64) take every third byte.
var wordStarts = func() (t [27 * 27 * 27]bool) {
	words := []string{"aadsts", "authorization", "capolids", "device", "login"}
	for _, l := range pasteLabels {
		words = append(words, l.words[0])
	}
	for _, w := range words {
		t[prefixIndex(w, 0)] = true
	}
	for _, w := range []string{"ip", "ey", "ew"} {
		for c := range 27 {
			t[(letterIndex[w[0]]*27+letterIndex[w[1]])*27+c] = true
		}
	}
	return t
}()

// letterIndex maps a letter, either case, to 0..25 and any other byte to 26.
var letterIndex = func() (t [256]int) {
	for c := range 256 {
		t[c] = 26
		if l := c | 0x20; l >= 'a' && l <= 'z' {
			t[c] = l - 'a'
		}
	}
	return t
}()

// prefixIndex is the wordStarts index of the (up to) three bytes at s[i:].
func prefixIndex(s string, i int) int {
	n := 0
	for k := i; k < i+3; k++ {
		c := 26
		if k < len(s) {
			c = letterIndex[s[k]]
		}
		n = n*27 + c
	}
	return n
}

// tenantHosts are sign-in authorities whose first path segment is the tenant
// signed in to. sts.windows.net is left out on purpose: AADSTS50020 names the
// user's home (partner) tenant with it.
var tenantHosts = []string{
	"login.microsoftonline.com/",
	"login.microsoftonline.us/",
	"login.partner.microsoftonline.cn/",
	"login.chinacloudapi.cn/",
	"login.windows.net/",
	"login.microsoft.com/",
}

// deviceFlowCodes are codes only the device code flow returns.
var deviceFlowCodes = map[int]bool{70016: true, 70018: true, 70019: true, 50134: true}

// pastePart is what is known of one error occurrence (or of the fields
// waiting for one) while scanning.
type pastePart struct {
	code  int
	pos   int // byte offset of the code in the normalized paste: orders the output
	msgAt int // offset of the message after the code, or -1; read lazily since most repeats are merged away
	vals  [numStringFields]string
	ts    time.Time
	pols  []string
}

func (d *pastePart) empty() bool {
	return d.vals == [numStringFields]string{} && d.ts.IsZero() && len(d.pols) == 0
}

func (d *pastePart) addPolicies(ids []string) {
	for _, id := range ids {
		if len(d.pols) >= maxPolicyIDs {
			return
		}
		dup := false
		for _, have := range d.pols {
			if have == id {
				dup = true
				break
			}
		}
		if !dup {
			d.pols = append(d.pols, id)
		}
	}
}

// fill sets d's empty fields from src and adds src's policy IDs: d's own
// values win.
func (d *pastePart) fill(src *pastePart) {
	for k, v := range src.vals {
		if d.vals[k] == "" {
			d.vals[k] = v
		}
	}
	if d.ts.IsZero() {
		d.ts = src.ts
	}
	if d.msgAt < 0 {
		d.msgAt = src.msgAt
	}
	d.addPolicies(src.pols)
}

type pasteKey struct {
	code        int
	correlation string
}

// pasteScanner walks a normalized paste once, left to right.
type pasteScanner struct {
	s string

	cur         pastePart // the error whose fields are being collected
	hasCur      bool
	pre         pastePart // fields before the first code
	buf         pastePart // fields of the current line before its first code, or of a new context (holding)
	holding     bool
	bufSet      bool // buf may have been written since the line began
	lineHasCode bool
	opened      bool // the first error has been opened (pre is spent)
	msgEnd      int  // end of the last code's message: label words in it are prose ("required device state: compliant")

	entries    []pastePart
	byKey      map[pasteKey]int
	firstCode  map[int]int // code → index of its first entry with a correlation ID
	pending    []pastePart // occurrences without a correlation ID, merged per code
	pendCode   map[int]int
	unclear    []string // policy IDs whose error is unclear
	deviceFlow bool
}

func (p *pasteScanner) scan() {
	p.byKey = map[pasteKey]int{}
	p.firstCode = map[int]int{}
	p.pendCode = map[int]int{}
	p.buf.msgAt, p.pre.msgAt = -1, -1
	s := p.s
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\n' {
			p.endLine()
			i++
			continue
		}
		if byteClass[c] == 0 {
			i++
			continue
		}
		if end, ok := p.word(i); ok {
			i = end
			continue
		}
		// Not a word of interest: skip it, but find codes and "DeviceCode"
		// glued to other words ("Error:AADSTS50076", "AcquireTokenByDeviceCode").
		for i++; i < len(s) && byteClass[s[i]] != 0; i++ {
			if byteClass[s[i]] != 2 {
				continue
			}
			if hasPrefixFold(s[i:], "aadsts") {
				i = p.aadsts(i) - 1
			} else if hasPrefixFold(s[i:], "devicecode") {
				p.deviceFlow = true
			}
		}
	}
	p.endLine()
	p.commit()
	if p.holding {
		p.unclear = append(p.unclear, p.buf.pols...)
	}
	for _, d := range p.pending {
		if idx, ok := p.firstCode[d.code]; ok {
			e := &p.entries[idx]
			e.fill(&d)
			e.pos = min(e.pos, d.pos)
			continue
		}
		if len(p.entries) < MaxPasteErrors {
			p.entries = append(p.entries, d)
		}
	}
}

// word handles the word starting at i, and reports where scanning resumes,
// or false when the word is of no interest.
func (p *pasteScanner) word(i int) (int, bool) {
	s := p.s
	if !wordStarts[prefixIndex(s, i)] {
		return 0, false
	}
	switch s[i] | 0x20 {
	case 'a':
		if hasPrefixFold(s[i:], "aadsts") {
			return p.aadsts(i), true
		}
		if end, ok := matchLabelWords(s, i, "authorization", "pending"); ok {
			p.deviceFlow = true
			return end, true
		}
	case 'c':
		if hasPrefixFold(s[i:], "capolids") {
			ids, end := capolidsAt(s, i+len("capolids"))
			p.policies(ids)
			return end, true
		}
	case 'd':
		if end, ok := matchLabelWords(s, i, "device", "code"); ok {
			p.deviceFlow = true
			return end, true
		}
		for _, w := range []string{"devicelogin", "devicecode"} {
			if hasPrefixFold(s[i:], w) {
				p.deviceFlow = true
				return i + len(w), true
			}
		}
	case 'e':
		if end, ok := p.label(i); ok {
			return end, true
		}
		if i+1 < len(s) && s[i] == 'e' && (s[i+1] == 'y' || s[i+1] == 'w') {
			// base64 of a JSON object: a claims challenge, maybe.
			return p.base64Claims(i), true
		}
		return 0, false
	case 'l':
		for _, h := range tenantHosts {
			if hasPrefixFold(s[i:], h) {
				j := i + len(h)
				if id, end, ok := parseGUIDAt(s, j); ok {
					p.field(fieldTenant, id)
					return end, true
				}
				return j, true
			}
		}
		return 0, false
	}
	return p.label(i)
}

// aadsts reads "AADSTS53003" (also "AADSTS 53003", "AADSTS:53003") at i and
// returns the offset after it.
func (p *pasteScanner) aadsts(i int) int {
	s := p.s
	j := i + len("aadsts")
	if j+1 < len(s) && (s[j] == ' ' || s[j] == ':') && isDigit(s[j+1]) {
		j++
	}
	start := j
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	if code, ok := codeNumber(s[start:j]); ok {
		p.code(code, i, j)
		_, p.msgEnd = p.message(j, false)
	}
	return j
}

// codeNumber accepts 5 to 7 digits without a leading zero: the AADSTS code
// range. Longer runs are not codes, so 100k digits cost one pass and no
// overflow.
func codeNumber(digits string) (int, bool) {
	if len(digits) < 5 || len(digits) > 7 || digits[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(digits); i++ {
		n = n*10 + int(digits[i]-'0')
	}
	return n, true
}

// label reads a field label at i and its value.
func (p *pasteScanner) label(i int) (int, bool) {
	s := p.s
	c := s[i] | 0x20
	if c < 'a' || c > 'z' {
		return 0, false
	}
	for _, li := range pasteLabelIndex[c-'a'] {
		l := &pasteLabels[li]
		if l.kind == fieldIgnored || i < p.msgEnd && l.kind.isProse() {
			continue
		}
		end, ok := matchLabelWords(s, i, l.words...)
		if !ok {
			continue
		}
		v, sep, quote := labelValueStart(s, end)
		// A GUID or a code is recognisable by itself, so a flag ("--tenant
		// <id>", "-TenantId <id>") or a label without a colon will do; free
		// text needs the colon.
		switch {
		case l.kind.isGUID():
			if !sep && v == end {
				continue
			}
			id, vend, ok := parseGUIDAt(s, v)
			if !ok {
				continue
			}
			p.field(l.kind, id)
			return vend, true
		case l.kind == fieldCode:
			if !sep && v == end {
				continue
			}
			if vend, ok := p.codeList(v); ok {
				return vend, true
			}
		case !sep:
			continue
		case l.kind == fieldTimestamp:
			if t, vend, ok := parseTimeAt(s, v); ok {
				p.timestamp(t)
				return vend, true
			}
		case l.kind == fieldIP:
			if ip, vend, ok := parseIPAt(s, v); ok {
				p.field(fieldIP, ip)
				return vend, true
			}
		default:
			if text, vend := p.textAt(v, quote); text != "" {
				p.field(l.kind, text)
				return vend, true
			}
		}
	}
	return 0, false
}

// labelAt reports whether a label followed by ':' or '=' starts at i: the end
// of a free-text value or of a message. In a message (inProse), a label whose
// words also occur in prose counts only at the start of a sentence or field.
func (p *pasteScanner) labelAt(i int, inProse bool) bool {
	s := p.s
	c := s[i] | 0x20
	if c < 'a' || c > 'z' {
		return false
	}
	for _, li := range pasteLabelIndex[c-'a'] {
		l := &pasteLabels[li]
		end, ok := matchLabelWords(s, i, l.words...)
		if !ok {
			continue
		}
		if _, sep, _ := labelValueStart(s, end); !sep {
			continue
		}
		if !inProse || !l.kind.isProse() {
			return true
		}
		k := i - 1
		for k >= 0 && (s[k] == ' ' || s[k] == '\t') {
			k--
		}
		if k < 0 || strings.IndexByte(".;,|\"'{[\n", s[k]) >= 0 {
			return true
		}
	}
	return false
}

// labelValueStart skips what lies between a label and its value: a closing
// quote (JSON keys), blanks, one ':' or '=', blanks (a line break too, for
// pages laid out in two columns), and an opening quote. sep reports whether
// a ':' or '=' was there; quote is the opening quote skipped, or 0.
func labelValueStart(s string, j int) (v int, sep bool, quote byte) {
	if j < len(s) && (s[j] == '"' || s[j] == '\'') {
		j++
	}
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	if j < len(s) && (s[j] == ':' || s[j] == '=') {
		sep = true
		j++
		for k := j; k < len(s) && k-j < 16 && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n'); k++ {
			if s[k] == '\n' {
				j = k + 1 // the value is on the next line
			}
		}
	}
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	if j < len(s) && (s[j] == '"' || s[j] == '\'') {
		quote = s[j]
		j++
	}
	return j, sep, quote
}

// matchLabelWords matches words case-insensitively at i, with separators
// between them as pasteLabel describes, and requires a word boundary after.
func matchLabelWords(s string, i int, words ...string) (int, bool) {
	j := i
	for w, word := range words {
		if w > 0 {
			k, breaks := j, 0
			for k < len(s) && k-j < 8 {
				c := s[k]
				if c == ' ' || c == '_' || c == '-' || c == '+' || c == '.' {
					k++
				} else if c == '\n' && breaks == 0 {
					breaks++
					k++
				} else {
					break
				}
			}
			j = k
		}
		if !hasPrefixFold(s[j:], word) {
			return 0, false
		}
		j += len(word)
	}
	if j < len(s) && isWordByte(s[j]) {
		return 0, false
	}
	return j, true
}

// codeList reads one code, or a JSON array of them, at i.
func (p *pasteScanner) codeList(i int) (int, bool) {
	s := p.s
	j := i
	list := j < len(s) && s[j] == '['
	if list {
		j++
	}
	found := false
	for n := 0; n < 64 && j < len(s); n++ {
		for j < len(s) && (s[j] == ' ' || s[j] == '\n' || s[j] == '"' || s[j] == ',') {
			j++
		}
		start := j
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if start == j {
			break
		}
		if j < len(s) && isWordByte(s[j]) {
			break // "0x80070005", "500ms": not a code
		}
		if code, ok := codeNumber(s[start:j]); ok {
			p.code(code, start, -1)
			found = true
		}
		if !list {
			break
		}
	}
	if list && j < len(s) && s[j] == ']' {
		j++
	}
	return j, found
}

// code starts a new error occurrence at pos; msgAt is where its message
// starts, or -1.
func (p *pasteScanner) code(code, pos, msgAt int) {
	if deviceFlowCodes[code] {
		p.deviceFlow = true
	}
	p.commit()
	p.cur = pastePart{code: code, pos: pos, msgAt: msgAt}
	if !p.opened {
		// Rule 4; opened now rather than at commit, so that a second page's
		// different IDs are seen as a new context (rule 3).
		p.opened = true
		p.unclear = append(p.unclear, p.pre.pols...)
		p.pre.pols = nil
		p.cur.fill(&p.pre)
	}
	p.cur.fill(&p.buf)
	p.buf = pastePart{msgAt: -1}
	p.hasCur = true
	p.holding = false
	p.lineHasCode = true
}

// field records a string field for the error it belongs to (rules 1 to 3 of
// ParseErrors).
func (p *pasteScanner) field(k fieldKind, v string) {
	if v == nilGUID {
		return // a placeholder, never an ID worth searching for
	}
	if p.hasCur && !p.holding && (k == fieldCorrelation || k == fieldTrace) {
		if old := p.cur.vals[k]; old != "" && old != v {
			p.holding = true
		}
	}
	d := p.target()
	if d.vals[k] == "" {
		d.vals[k] = v
	}
}

func (p *pasteScanner) timestamp(t time.Time) {
	if d := p.target(); d.ts.IsZero() {
		d.ts = t
	}
}

func (p *pasteScanner) policies(ids []string) {
	p.target().addPolicies(ids)
}

func (p *pasteScanner) target() *pastePart {
	if p.holding || !p.lineHasCode {
		p.bufSet = true
		return &p.buf
	}
	return &p.cur
}

func (p *pasteScanner) endLine() {
	if !p.holding && !p.lineHasCode && p.bufSet && !p.buf.empty() {
		if p.hasCur {
			p.cur.fill(&p.buf)
		} else {
			p.pre.fill(&p.buf)
		}
		p.buf = pastePart{msgAt: -1}
	}
	p.bufSet = false
	p.lineHasCode = false
}

// commit files the current occurrence under its (code, correlation ID).
func (p *pasteScanner) commit() {
	if !p.hasCur {
		return
	}
	d := p.cur
	p.hasCur = false
	if corr := d.vals[fieldCorrelation]; corr != "" {
		key := pasteKey{d.code, corr}
		if idx, ok := p.byKey[key]; ok {
			p.entries[idx].fill(&d)
			return
		}
		if len(p.entries) >= MaxPasteErrors {
			return
		}
		p.byKey[key] = len(p.entries)
		if _, ok := p.firstCode[d.code]; !ok {
			p.firstCode[d.code] = len(p.entries)
		}
		p.entries = append(p.entries, d)
		return
	}
	if idx, ok := p.pendCode[d.code]; ok {
		p.pending[idx].fill(&d)
		return
	}
	if len(p.pending) >= MaxPasteErrors {
		return
	}
	p.pendCode[d.code] = len(p.pending)
	p.pending = append(p.pending, d)
}

func (p *pasteScanner) results() []SignInError {
	if len(p.entries) == 0 {
		return nil
	}
	sort.SliceStable(p.entries, func(a, b int) bool { return p.entries[a].pos < p.entries[b].pos })
	out := make([]SignInError, len(p.entries))
	anyCA := false
	for i := range p.entries {
		d := &p.entries[i]
		info := LookupCode(d.code)
		anyCA = anyCA || info.Category == CategoryConditionalAccess
		e := SignInError{
			Code:           d.code,
			Name:           info.Name,
			Category:       info.Category,
			CorrelationID:  d.vals[fieldCorrelation],
			TraceID:        d.vals[fieldTrace],
			Timestamp:      d.ts,
			TenantID:       d.vals[fieldTenant],
			AppID:          d.vals[fieldAppID],
			AppName:        d.vals[fieldAppName],
			IPAddress:      d.vals[fieldIP],
			DevicePlatform: d.vals[fieldPlatform],
			DeviceState:    d.vals[fieldState],
			DeviceCodeFlow: p.deviceFlow,
		}
		if d.msgAt >= 0 {
			e.Message, _ = p.message(d.msgAt, true)
		}
		if len(d.pols) > 0 {
			e.PolicyIDs = d.pols
		}
		out[i] = e
	}
	if len(p.unclear) > 0 {
		for i := range out {
			if out[i].Category == CategoryConditionalAccess || (!anyCA && i == 0) {
				d := pastePart{pols: out[i].PolicyIDs}
				d.addPolicies(p.unclear)
				out[i].PolicyIDs = d.pols
			}
		}
	}
	return out
}

// message reads an error's description from just after its code, and
// returns it (when build is set) and where it ends: at the end of a JSON
// string, a field label, another code, or a line end after a full sentence. A
// line that ends mid-sentence and is followed by one starting in lower case
// was wrapped by a console, and continues.
func (p *pasteScanner) message(i int, build bool) (string, int) {
	s := p.s
	for i < len(s) && (s[i] == ':' || s[i] == ' ' || s[i] == '-') {
		i++
	}
	var b strings.Builder
	space, n, last := false, 0, byte(0) // n and last: length and last byte of the message so far
	j := i
	for ; j < len(s) && j-i < 4*maxMessageLen && n < maxMessageLen; j++ {
		c := s[j]
		switch {
		case c == '"':
			return finishMessage(b.String()), j
		case c == '\n':
			if n == 0 || last == '.' || last == '!' || last == '?' {
				return finishMessage(b.String()), j
			}
			k := j + 1
			for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
				k++
			}
			if k >= len(s) || s[k] < 'a' || s[k] > 'z' || p.labelAt(k, true) {
				return finishMessage(b.String()), j
			}
			space = true
			j = k - 1
		case c == ' ' || c == '\t':
			space = true
		default:
			if (c|0x20) == 'a' && hasPrefixFold(s[j:], "aadsts") {
				return finishMessage(b.String()), j
			}
			if isWordByte(c) && !isWordByte(s[j-1]) && p.labelAt(j, true) {
				return finishMessage(b.String()), j
			}
			if space && n > 0 {
				n++
				if build {
					b.WriteByte(' ')
				}
			}
			space = false
			n++
			last = c
			if build {
				b.WriteByte(c)
			}
		}
	}
	return finishMessage(b.String()), j
}

func finishMessage(m string) string {
	if len(m) > maxMessageLen {
		cut := maxMessageLen
		for cut > 0 && !utf8.RuneStart(m[cut]) {
			cut--
		}
		m = m[:cut]
	}
	// The byte-wise builder may end inside a rune; ToValidUTF8 drops the part.
	m = strings.ToValidUTF8(m, "")
	return strings.TrimSpace(strings.TrimRight(m, " \\,;"))
}

// textAt reads a free-text value (app name, device platform) at i: up to the
// closing quote, the line end, a JSON delimiter, or the next label (pages
// pasted as one line).
func (p *pasteScanner) textAt(i int, quote byte) (string, int) {
	s := p.s
	j := i
	for ; j < len(s) && j-i < maxTextValue; j++ {
		c := s[j]
		if c == '\n' || c == '"' || c == quote || c == '|' || c == '<' || c == '>' ||
			c == '{' || c == '}' || c == '[' || c == ']' {
			break
		}
		if quote == 0 && (c == ',' || c == ';') {
			break
		}
		if isWordByte(c) && (j == i || !isWordByte(s[j-1])) && p.labelAt(j, false) {
			break
		}
	}
	v := strings.Join(strings.Fields(strings.ToValidUTF8(s[i:j], "")), " ")
	switch strings.ToLower(v) {
	case "not available", "n/a", "none", "null", "unknown", "-":
		v = ""
	}
	return v, j
}

// base64Claims decodes the base64 token at i and takes the policy IDs of the
// claims challenge it may hold (az --claims-challenge, WWW-Authenticate
// claims="..."). Standard and URL alphabets, padded or not.
func (p *pasteScanner) base64Claims(i int) int {
	s := p.s
	j := i
	url, std := false, false
	for j < len(s) {
		c := s[j]
		switch {
		case isAlnumASCII(c):
		case c == '-' || c == '_':
			url = true
		case c == '+' || c == '/':
			std = true
		default:
			goto done
		}
		j++
	}
done:
	end := j
	for end < len(s) && s[end] == '=' {
		end++
	}
	tok := s[i:j]
	if len(tok) < 16 || len(tok) > maxClaimsBase64 || (url && std) {
		return end
	}
	if len(tok)%4 == 1 {
		tok = tok[:len(tok)-1]
	}
	enc := base64.RawStdEncoding
	if url {
		enc = base64.RawURLEncoding
	}
	dec, err := enc.DecodeString(tok)
	if err != nil {
		return end
	}
	ds := string(dec)
	for k := 0; k < len(ds); {
		at := indexFold(ds[k:], "capolids")
		if at < 0 {
			break
		}
		ids, next := capolidsAt(ds, k+at+len("capolids"))
		p.policies(ids)
		k = next
	}
	return end
}

// capolidsAt reads the values of a capolids claim whose key ends at i:
// "capolids":{"essential":true,"values":["<id>","<id>"]}, in whatever
// escaping survived normalization.
func capolidsAt(s string, i int) ([]string, int) {
	window := s[i:min(len(s), i+96)]
	at := indexFold(window, "values")
	if at < 0 {
		return nil, i
	}
	j := i + at + len("values")
	k := j
	for k < len(s) && k-j < 8 && s[k] != '[' {
		k++
	}
	if k >= len(s) || s[k] != '[' {
		return nil, j
	}
	j = k + 1
	var ids []string
	for len(ids) < maxPolicyIDs && j < len(s) {
		for j < len(s) && (s[j] == '"' || s[j] == '\\' || s[j] == ',' || s[j] == ' ' || s[j] == '\n') {
			j++
		}
		id, end, ok := parseGUIDAt(s, j)
		if !ok {
			break
		}
		if id != nilGUID {
			ids = append(ids, id)
		}
		j = end
	}
	return ids, j
}

const nilGUID = "00000000-0000-0000-0000-000000000000"

// parseGUIDAt reads a GUID (optionally in braces) at i and returns it in lower
// case. A line wrap inside it, as consoles and chat clients insert, is
// skipped; a longer run of word characters is not a GUID.
func parseGUIDAt(s string, i int) (string, int, bool) {
	j := i
	brace := j < len(s) && s[j] == '{'
	if brace {
		j++
	}
	var buf [36]byte
	n := 0
	for g, size := range [5]int{8, 4, 4, 4, 12} {
		if g > 0 {
			j = skipWrap(s, j)
			if j >= len(s) || s[j] != '-' {
				return "", i, false
			}
			buf[n] = '-'
			n++
			j = skipWrap(s, j+1)
		}
		for k := 0; k < size; k++ {
			if k > 0 {
				j = skipWrap(s, j)
			}
			if j >= len(s) || !isHex(s[j]) {
				return "", i, false
			}
			buf[n] = s[j] | 0x20
			n++
			j++
		}
	}
	if j < len(s) && isWordByte(s[j]) {
		return "", i, false
	}
	if brace && j < len(s) && s[j] == '}' {
		j++
	}
	return string(buf[:]), j, true
}

// skipWrap skips blanks at j if they hold a line break: a wrap inside a
// value. Plain spaces are not skipped; they end the value.
func skipWrap(s string, j int) int {
	k, wrapped := j, false
	for k < len(s) && k-j < 16 {
		if s[k] == '\n' {
			wrapped = true
		} else if s[k] != ' ' && s[k] != '\t' {
			break
		}
		k++
	}
	if wrapped {
		return k
	}
	return j
}

// parseTimeAt reads an ISO 8601 timestamp at i as AAD and its clients write
// them: "2024-01-02T03:04:05.000Z", "2024-01-02 03:04:05Z", an offset instead
// of Z, or no zone at all (AAD's clock is UTC). A line wrap may replace the
// space between date and time.
func parseTimeAt(s string, i int) (time.Time, int, bool) {
	j := i
	num := func(minDigits, maxDigits int) int {
		start, n := j, 0
		for j < len(s) && j-start < maxDigits && isDigit(s[j]) {
			n = n*10 + int(s[j]-'0')
			j++
		}
		if j-start < minDigits {
			return -1
		}
		return n
	}
	lit := func(c byte) bool {
		if j < len(s) && s[j] == c {
			j++
			return true
		}
		return false
	}
	year := num(4, 4)
	if year < 0 || !lit('-') {
		return time.Time{}, i, false
	}
	month := num(1, 2)
	if month < 0 || !lit('-') {
		return time.Time{}, i, false
	}
	day := num(1, 2)
	if day < 0 {
		return time.Time{}, i, false
	}
	if j < len(s) && (s[j] == 'T' || s[j] == 't') {
		j++
	} else {
		k := j
		for k < len(s) && k-j < 16 && (s[k] == ' ' || s[k] == '\n') {
			k++
		}
		if k == j {
			return time.Time{}, i, false
		}
		j = k
	}
	hour := num(1, 2)
	if hour < 0 || !lit(':') {
		return time.Time{}, i, false
	}
	minute := num(2, 2)
	if minute < 0 || !lit(':') {
		return time.Time{}, i, false
	}
	sec := num(2, 2)
	if sec < 0 {
		return time.Time{}, i, false
	}
	nsec := 0
	if j+1 < len(s) && (s[j] == '.' || s[j] == ',') && isDigit(s[j+1]) {
		j++
		// Digits past nanoseconds scale to zero but are still consumed.
		for scale := int(time.Second / 10); j < len(s) && isDigit(s[j]); j++ {
			nsec += int(s[j]-'0') * scale
			scale /= 10
		}
	}
	loc := time.UTC
	k := j
	for k < len(s) && s[k] == ' ' {
		k++
	}
	switch {
	case k < len(s) && (s[k] == 'Z' || s[k] == 'z') && (k+1 >= len(s) || !isWordByte(s[k+1])):
		j = k + 1
	case hasPrefixFold(s[k:], "utc") || hasPrefixFold(s[k:], "gmt"):
		j = k + 3
	case k == j && k+2 < len(s) && (s[k] == '+' || s[k] == '-') && isDigit(s[k+1]) && isDigit(s[k+2]):
		j = k + 1
		oh := num(2, 2)
		lit(':')
		om := num(2, 2)
		if om < 0 {
			om = 0
		}
		if oh > 14 || om > 59 {
			return time.Time{}, i, false
		}
		off := oh*3600 + om*60
		if s[k] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, i, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if t.Day() != day { // 31 February
		return time.Time{}, i, false
	}
	return t.UTC(), j, true
}

// parseIPAt reads an IPv4 or IPv6 address (a port after it is dropped).
func parseIPAt(s string, i int) (string, int, bool) {
	j := i
	for j < len(s) && j-i < 64 && (isHex(s[j]) || s[j] == '.' || s[j] == ':') {
		j++
	}
	cand := s[i:j]
	for len(cand) > 0 {
		if a, err := netip.ParseAddr(cand); err == nil {
			return a.Unmap().String(), i + len(cand), true
		}
		if ap, err := netip.ParseAddrPort(cand); err == nil {
			return ap.Addr().Unmap().String(), i + len(cand), true
		}
		last := cand[len(cand)-1]
		if last != '.' && last != ':' {
			break
		}
		cand = cand[:len(cand)-1] // "… 203.0.113.7." ends a sentence
	}
	return "", i, false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || (c|0x20) >= 'a' && (c|0x20) <= 'f'
}

func isAlnumASCII(c byte) bool {
	return isDigit(c) || (c|0x20) >= 'a' && (c|0x20) <= 'z'
}

// isWordByte treats every non-ASCII byte as a letter, so words in other
// scripts stay whole.
func isWordByte(c byte) bool { return byteClass[c] != 0 }

// byteClass is 0 for a byte that ends a word, 1 for a word byte, 2 for the
// first letters of "AADSTS" and "DeviceCode", which the scanner finds inside
// words too.
var byteClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c|0x20 == 'a' || c|0x20 == 'd':
			t[c] = 2
		case isAlnumASCII(byte(c)) || c >= 0x80:
			t[c] = 1
		}
	}
	return t
}()

// hasPrefixFold reports whether s starts with prefix, ASCII case-insensitively;
// prefix is lower case letters, digits and punctuation below '@'. Setting bit
// 0x20 lower-cases a letter; it could also turn a control byte into a match,
// but normalizePaste has replaced those.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if s[i]|0x20 != prefix[i] {
			return false
		}
	}
	return true
}

// indexFold is strings.Index, ASCII case-insensitive; sub is lower case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if (s[i]|0x20) == sub[0] && hasPrefixFold(s[i:], sub) {
			return i
		}
	}
	return -1
}

// normalizePaste undoes what chat clients, terminals and serializers do to an
// error on its way into a paste, in one pass: invalid UTF-8, CRLF, smart quotes,
// non-breaking and zero-width spaces, Unicode dashes, HTML entities (Slack sends
// &amp; &lt; &gt;), Slack links <url|label> and <mailto:…>, backticks of code
// fences, and JSON string escapes at any depth (\r\n, \", \u0026), so that
// an error_description reads like the page it came from.
func normalizePaste(text string) (out []byte, percent bool) {
	out = make([]byte, 0, len(text)+16)
	linkBar, linkEnd := -1, -1 // offsets of a Slack link's '|' and '>'
	for i := 0; i < len(text); {
		j := i
		for j < len(text) && !pasteSpecial[text[j]] {
			j++
		}
		out = append(out, text[i:j]...)
		if i = j; i >= len(text) {
			break
		}
		c := text[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(text[i:])
			if r == utf8.RuneError && size == 1 {
				out = append(out, ' ')
			} else {
				out = appendPasteRune(out, r)
			}
			i += size
			continue
		}
		switch {
		case i == linkBar:
			out = append(out, ' ')
			i++
		case i == linkEnd:
			linkBar, linkEnd = -1, -1
			i++
		case c == '\r':
			out = append(out, '\n')
			i++
			if i < len(text) && text[i] == '\n' {
				i++
			}
		case c == '\n':
			out = append(out, '\n')
			i++
		case c < 0x20 || c == 0x7f || c == '`':
			out = append(out, ' ')
			i++
		case c == '&':
			r, n := htmlEntity(text[i:])
			if n == 0 {
				out = append(out, '&')
				i++
			} else {
				out = appendPasteRune(out, r)
				i += n
			}
		case c == '<' && linkEnd < 0:
			if bar, end, skip := slackLink(text, i); end > 0 {
				linkBar, linkEnd = bar, end
				i = skip
			} else {
				out = append(out, '<')
				i++
			}
		case c == '\\':
			var n int
			out, n = appendUnescaped(out, text[i:])
			i += n
		default: // '%', or a '|' or '>' outside a Slack link
			percent = percent || c == '%'
			out = append(out, c)
			i++
		}
	}
	return out, percent
}

// pasteSpecial marks the bytes normalizePaste must look at; runs of other
// bytes are copied as they are.
var pasteSpecial = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 && c != '\n' || c >= 0x7f || strings.IndexByte("`&<\\%|>", byte(c)) >= 0
	}
	return t
}()

// appendPasteRune appends r with the look-alikes chat clients and word
// processors substitute mapped back to ASCII.
func appendPasteRune(out []byte, r rune) []byte {
	switch r {
	case '\u201c', '\u201d', '\u201e', '\u201f', '\u2033', '\u00ab', '\u00bb', '\uff02':
		return append(out, '"')
	case '\u2018', '\u2019', '\u201a', '\u201b', '\u2032', '\uff07':
		return append(out, '\'')
	case '\u00a0', '\u2000', '\u2001', '\u2002', '\u2003', '\u2004', '\u2005', '\u2006',
		'\u2007', '\u2008', '\u2009', '\u200a', '\u202f', '\u205f', '\u3000':
		return append(out, ' ')
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad':
		return out
	case '\u2028', '\u2029', '\u0085':
		return append(out, '\n')
	case '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212':
		return append(out, '-')
	case '\uff1a':
		return append(out, ':')
	}
	if r < 0x20 || r == 0x7f {
		if r == '\n' {
			return append(out, '\n')
		}
		return append(out, ' ')
	}
	if r == utf8.RuneError || !utf8.ValidRune(r) {
		return append(out, ' ')
	}
	return utf8.AppendRune(out, r)
}

// htmlEntity decodes the entity at the start of s; n is 0 when there is none.
func htmlEntity(s string) (r rune, n int) {
	for _, e := range [...]struct {
		name string
		r    rune
	}{{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}, {"&nbsp;", ' '}} {
		if strings.HasPrefix(s, e.name) {
			return e.r, len(e.name)
		}
	}
	if len(s) < 4 || s[1] != '#' {
		return 0, 0
	}
	j, base := 2, 10
	if s[j] == 'x' || s[j] == 'X' {
		j, base = 3, 16
	}
	start := j
	for j < len(s) && j-start < 7 && (isDigit(s[j]) || base == 16 && isHex(s[j])) {
		v := rune(s[j] - '0')
		if !isDigit(s[j]) {
			v = rune(s[j]|0x20-'a') + 10
		}
		r = r*rune(base) + v
		j++
	}
	if j == start || j >= len(s) || s[j] != ';' {
		return 0, 0
	}
	return r, j + 1
}

// slackLink recognises a Slack link at text[i] == '<': <https://…|label>,
// <https://…>, <mailto:a@b|a@b>. It returns the offsets of its '|' (or -1)
// and '>' (end 0: not a link) and where to resume: the URL is kept (it may be
// the redirect carrying the error), a mailto address is not. The search stops
// at the next '<' or line end, so scanning stays linear.
func slackLink(text string, i int) (bar, end, resume int) {
	rest := text[i+1:]
	mailto := hasPrefixFold(rest, "mailto:")
	if !mailto && !hasPrefixFold(rest, "http://") && !hasPrefixFold(rest, "https://") {
		return -1, 0, 0
	}
	bar = -1
	for j := i + 1; j < len(text); j++ {
		switch text[j] {
		case '|':
			if bar < 0 {
				bar = j
			}
		case '>':
			switch {
			case !mailto:
				return bar, j, i + 1
			case bar >= 0:
				return -1, j, bar + 1
			default:
				return -1, j, i + 1 + len("mailto:")
			}
		case '<', '\n':
			return -1, 0, 0
		}
	}
	return -1, 0, 0
}

// appendUnescaped decodes the JSON escape at the start of s, however many
// times it was escaped ("\\r\\n" in a log of a JSON body); n is the bytes
// consumed. An escaped CRLF becomes one line break. A backslash that starts no
// escape (a Windows path) is kept.
func appendUnescaped(out []byte, s string) ([]byte, int) {
	j := 0
	for j < len(s) && s[j] == '\\' {
		j++
	}
	if j == len(s) {
		return append(out, '\\'), j
	}
	switch s[j] {
	case 'n':
		return append(out, '\n'), j + 1
	case 'r':
		k := j + 1
		for k < len(s) && s[k] == '\\' {
			k++
		}
		if k > j+1 && k < len(s) && s[k] == 'n' {
			return append(out, '\n'), k + 1
		}
		return append(out, '\n'), j + 1
	case 't':
		return append(out, ' '), j + 1
	case '"', '/', '\'':
		return append(out, s[j]), j + 1
	case 'u':
		if j+5 <= len(s) && isHex(s[j+1]) && isHex(s[j+2]) && isHex(s[j+3]) && isHex(s[j+4]) {
			var r rune
			for _, c := range []byte(s[j+1 : j+5]) {
				v := rune(c - '0')
				if !isDigit(c) {
					v = rune(c|0x20-'a') + 10
				}
				r = r<<4 | v
			}
			return appendPasteRune(out, r), j + 5
		}
	}
	return append(out, '\\'), j
}

// decodePercentTokens form-decodes the whitespace-separated tokens of b that
// hold a %XX escape: redirect URLs, claims= parameters. Tokens without one are
// left alone, so a '+' in plain text or base64 stays a '+'. A token encoded
// twice is decoded twice.
func decodePercentTokens(b []byte) []byte {
	var out []byte
	done := 0 // b[:done] is in out already
	for i := 0; i+2 < len(b); i++ {
		k := bytes.IndexByte(b[i:len(b)-2], '%') // vectorised: most of a log has no '%'
		if k < 0 {
			break
		}
		if i += k; !isHex(b[i+1]) || !isHex(b[i+2]) {
			continue
		}
		start, end := i, i
		for start > done && b[start-1] != ' ' && b[start-1] != '\n' {
			start--
		}
		for end < len(b) && b[end] != ' ' && b[end] != '\n' {
			end++
		}
		if out == nil {
			out = make([]byte, 0, len(b))
		}
		out = append(out, b[done:start]...)
		dec := percentDecode(b[start:end], true)
		for round := 0; round < 2 && hasPercentEscape(dec); round++ {
			dec = percentDecode(dec, false)
		}
		// What was encoded gets the same clean-up as the rest of the paste,
		// so the scanner only ever sees valid UTF-8.
		for k := 0; k < len(dec); {
			c := dec[k]
			switch {
			case c == '\r':
				out = append(out, '\n')
				if k+1 < len(dec) && dec[k+1] == '\n' {
					k++
				}
				k++
			case c >= utf8.RuneSelf:
				r, size := utf8.DecodeRune(dec[k:])
				if r == utf8.RuneError && size == 1 {
					out = append(out, ' ')
				} else {
					out = appendPasteRune(out, r)
				}
				k += size
			default:
				out = appendPasteRune(out, rune(c))
				k++
			}
		}
		done, i = end, end
	}
	if out == nil {
		return b
	}
	return append(out, b[done:]...)
}

func hasPercentEscape(b []byte) bool {
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' && isHex(b[i+1]) && isHex(b[i+2]) {
			return true
		}
	}
	return false
}

func percentDecode(b []byte, plusIsSpace bool) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '%' && i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]):
			out = append(out, hexVal(b[i+1])<<4|hexVal(b[i+2]))
			i += 2
		case c == '+' && plusIsSpace:
			out = append(out, ' ')
		default:
			out = append(out, c)
		}
	}
	return out
}

func hexVal(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}
