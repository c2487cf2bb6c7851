package diagnose

// The scanner: one pass over a normalized paste that finds the codes and
// labels (the words it acts on), and files every field under the error it
// belongs to (ParseErrors' rules 1 to 5).

import (
	"encoding/base64"
	"sort"
	"time"
)

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
	return d.vals == [numStringFields]string{} && d.ts.IsZero() && len(d.pols) == 0 && d.msgAt < 0
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
			TenantName:     d.vals[fieldTenantName],
			AppID:          d.vals[fieldAppID],
			AppName:        d.vals[fieldAppName],
			ResourceID:     d.vals[fieldResourceID],
			ResourceURI:    d.vals[fieldResourceURI],
			IPAddress:      d.vals[fieldIP],
			DevicePlatform: d.vals[fieldPlatform],
			DeviceState:    d.vals[fieldState],
			DeviceCodeFlow: p.deviceFlow,
		}
		if e.ResourceID == "" && e.ResourceURI != "" {
			if a, ok := AppByURI(e.ResourceURI); ok {
				e.ResourceID = a.ID
			}
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
