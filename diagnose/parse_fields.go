package diagnose

// The field readers: the labels a paste names fields with, and the readers
// of a value at an offset (GUIDs, codes, timestamps, IP addresses, free
// text, an error's message, a claims challenge's policy IDs), each bounded
// and allocation-free where it can be.

import (
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

// fieldKind is a field a label in a paste names.
type fieldKind uint8

const (
	fieldCorrelation fieldKind = iota
	fieldTrace
	fieldTenant     // the tenant signed in to, by ID
	fieldTenantName // the tenant signed in to, by domain or name
	fieldAppID
	fieldAppName
	fieldResourceID  // the resource app signed in to, by ID
	fieldResourceURI // the resource app signed in to, by URI
	fieldIP
	fieldPlatform
	fieldState
	numStringFields // not a field: the count of the string-valued ones above

	fieldTimestamp // the only time-valued field
	fieldCode      // a number that is an error code
	fieldResource  // a resource app by ID or URI: fieldResourceID or fieldResourceURI
	fieldApp       // an app by ID, with its name after it ('<id>'(name), '<id>' named '<name>'), or by name on a form
	fieldMessage   // the error's description where a form or a log gives it apart from the code
	fieldSkip      // a value to step over: the user's home tenant is never the one signed in to
	fieldIgnored   // a known label whose value is not kept; it ends free text
)

func (k fieldKind) isGUID() bool {
	return k == fieldCorrelation || k == fieldTrace || k == fieldTenant || k == fieldAppID || k == fieldResourceID
}

// isProse reports whether the label's words also occur in error messages
// ("Device is not in required device state: compliant."), where they are not
// a field.
func (k fieldKind) isProse() bool {
	switch k {
	case fieldAppName, fieldPlatform, fieldState, fieldIP, fieldIgnored, fieldMessage, fieldSkip:
		return true
	}
	return false
}

// labelUse says where a label counts besides "label: value".
type labelUse uint8

const (
	useAny    labelUse = iota
	useQuoted          // only before a quoted value: words of a sentence ("to access '<app>'", "in the directory '<tenant>'")
	useForm            // only as a form's label on a line of its own, the value on the next line
)

// pasteLabel is a field label as words; between the words a paste may have a
// space, '_', '-', '+', '.', a line wrap, or nothing (camelCase), so one entry
// matches "Correlation ID", "correlation_id", "correlationId" and
// "Correlation+ID".
type pasteLabel struct {
	words []string
	kind  fieldKind
	use   labelUse
}

// pasteLabels lists longer labels before their prefixes ("tenant id" before
// "tenant").
var pasteLabels = []pasteLabel{
	{[]string{"correlation", "id"}, fieldCorrelation, useAny},
	{[]string{"client", "request", "id"}, fieldCorrelation, useAny}, // MSAL sends the correlation ID under this name
	{[]string{"trace", "id"}, fieldTrace, useAny},
	{[]string{"request", "id"}, fieldTrace, useAny}, // the browser page's name for the trace ID
	{[]string{"timestamp"}, fieldTimestamp, useAny},
	{[]string{"home", "tenant", "id"}, fieldSkip, useAny}, // the sign-in log's: the partner's own tenant
	{[]string{"home", "tenant", "name"}, fieldSkip, useAny},
	{[]string{"home", "tenant"}, fieldSkip, useAny},
	{[]string{"resource", "tenant", "id"}, fieldTenant, useAny}, // the sign-in log's: the customer's
	{[]string{"resource", "tenant"}, fieldTenant, useAny},
	{[]string{"resource", "principal", "named"}, fieldResource, useAny}, // AADSTS500011
	{[]string{"resource", "id"}, fieldResourceID, useAny},
	{[]string{"resource"}, fieldResource, useAny},
	{[]string{"tenant", "named"}, fieldTenant, useAny}, // AADSTS500011
	{[]string{"tenant", "id"}, fieldTenant, useAny},
	{[]string{"tenant"}, fieldTenant, useAny},
	{[]string{"directory"}, fieldTenant, useQuoted}, // AADSTS700016
	{[]string{"organization"}, fieldTenant, useQuoted},
	{[]string{"access"}, fieldResource, useQuoted},  // AADSTS50076: "to access '<app>'"
	{[]string{"service"}, fieldResource, useQuoted}, // AADSTS650052: "a service '<app>'(<name>)"
	{[]string{"scopes"}, fieldResource, useAny},
	{[]string{"scope"}, fieldResource, useAny},
	{[]string{"app", "id"}, fieldAppID, useAny},
	{[]string{"application", "with", "identifier"}, fieldApp, useAny}, // AADSTS700016
	{[]string{"application", "with", "id"}, fieldApp, useAny},         // AADSTS65001
	{[]string{"application", "id"}, fieldAppID, useAny},
	{[]string{"client", "app", "id"}, fieldAppID, useAny},
	{[]string{"client", "id"}, fieldAppID, useAny},
	{[]string{"app", "display", "name"}, fieldAppName, useAny},
	{[]string{"app", "name"}, fieldAppName, useAny},
	{[]string{"application", "name"}, fieldAppName, useAny},
	{[]string{"application"}, fieldApp, useAny}, // AADSTS50020: "the application '<id>'(<name>)"; a form's "Application"
	{[]string{"ip", "address"}, fieldIP, useAny},
	{[]string{"client", "ip"}, fieldIP, useAny},
	{[]string{"ip"}, fieldIP, useAny},
	{[]string{"device", "platform"}, fieldPlatform, useAny},
	{[]string{"operating", "system"}, fieldPlatform, useAny}, // the sign-in log's device details
	{[]string{"device", "state"}, fieldState, useAny},
	{[]string{"error", "codes"}, fieldCode, useAny},
	{[]string{"error", "code"}, fieldCode, useAny},
	{[]string{"result", "type"}, fieldCode, useAny}, // Log Analytics SigninLogs
	{[]string{"failure", "reason"}, fieldMessage, useAny},
	{[]string{"message"}, fieldMessage, useForm},
	{[]string{"device", "identifier"}, fieldIgnored, useAny},
	{[]string{"message"}, fieldIgnored, useAny},
	{[]string{"advanced", "diagnostics"}, fieldIgnored, useAny},
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
		form := false
		if !sep && quote == 0 {
			if fv, ok := formValue(s, i, end); ok {
				v, sep, form = fv, true, true
			}
		}
		if l.use == useQuoted && quote == 0 || l.use == useForm && !form {
			continue
		}
		// A GUID, a URI or a code is recognisable by itself, so a flag
		// ("--tenant <id>", "-TenantId <id>") or a label without a colon
		// will do; free text needs the colon, a quote or a form.
		switch {
		case l.kind.isGUID():
			if !sep && v == end {
				continue
			}
			id, vend, ok := parseGUIDAt(s, v)
			if ok {
				p.field(l.kind, id)
				return vend, true
			}
			if l.kind == fieldTenant {
				named := len(l.words) == 2 && l.words[1] == "named"
				if name, vend, ok := tenantNameAt(s, v, quote, sep || form, named); ok {
					p.field(fieldTenantName, name)
					return vend, true
				}
			}
			continue
		case l.kind == fieldResource:
			if !sep && quote == 0 && v == end {
				continue
			}
			if vend, ok := p.resourceAt(v, sep || quote != 0); ok {
				return vend, true
			}
		case l.kind == fieldApp:
			if sep || quote != 0 || v != end {
				if id, vend, ok := parseGUIDAt(s, v); ok {
					p.field(fieldAppID, id)
					return p.appNameAfter(vend), true
				}
			}
			// By name only as a form's label: "msal.application: …" is
			// a logger's name, not a field.
			if form && i >= p.msgEnd {
				if text, vend := p.textAt(v, quote); text != "" {
					p.field(fieldAppName, text)
					return vend, true
				}
			}
		case l.kind == fieldCode:
			if !sep && v == end {
				continue
			}
			if vend, ok := p.codeList(v); ok {
				return vend, true
			}
		case !sep:
			continue
		case l.kind == fieldMessage:
			if d := p.target(); d.msgAt < 0 {
				d.msgAt = v
			}
			// Label words in the message are prose, as after a code.
			_, p.msgEnd = p.message(v, false)
			return v, true
		case l.kind == fieldSkip:
			if _, vend, ok := parseGUIDAt(s, v); ok {
				return vend, true
			}
			_, vend := p.textAt(v, quote)
			return vend, true
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

// formValue reports where the value of a label on a line of its own starts:
// the sign-in log's details and the error page, copied from a browser, put
// each label on a short line and its value on the next ("Sign-in error
// code" / "53003"). The label's line is at most 40 bytes, so that a
// sentence that ends in a label's words is not taken for one.
func formValue(s string, i, end int) (int, bool) {
	for ls := i; ls > 0 && s[ls-1] != '\n'; ls-- {
		if i-ls >= 40 {
			return 0, false
		}
	}
	j := end
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	if j >= len(s) || s[j] != '\n' {
		return 0, false
	}
	for j++; j < len(s) && (s[j] == ' ' || s[j] == '\t'); j++ {
	}
	if j >= len(s) || s[j] == '\n' {
		return 0, false // an empty value: the next line is not this label's
	}
	return j, true
}

// resourceAt reads the resource app a label names at i: a GUID, or a URI
// (https://graph.microsoft.com/.default, api://<id>). In a list or a quoted
// value (scope: "openid profile https://…/.default"), the first of up to 8
// items that is one.
func (p *pasteScanner) resourceAt(i int, list bool) (int, bool) {
	s := p.s
	j := i
	if j < len(s) && s[j] == '[' {
		list = true
		j++
	}
	for n := 0; n < 8 && j < len(s); n++ {
		for j < len(s) && (s[j] == ' ' || s[j] == '"' || s[j] == '\'' || s[j] == ',') {
			j++
		}
		if id, end, ok := parseGUIDAt(s, j); ok {
			p.field(fieldResourceID, id)
			return end, true
		}
		if uri, end, ok := parseURIAt(s, j); ok {
			p.field(fieldResourceURI, uri)
			return end, true
		}
		if !list {
			break
		}
		k := j
		for k < len(s) && k-j < 200 && !strings.ContainsRune(" \"',]}\n", rune(s[k])) {
			k++
		}
		if k == j || k >= len(s) || s[k] == ']' || s[k] == '}' || s[k] == '\n' {
			break
		}
		j = k
	}
	return 0, false
}

// appNameAfter reads the name that follows an app's ID in a message:
// "'<id>'(Azure Portal)" or "'<id>' named 'Contoso HR'", and returns where
// scanning resumes.
func (p *pasteScanner) appNameAfter(i int) int {
	s := p.s
	j := i
	if j < len(s) && (s[j] == '\'' || s[j] == '"') {
		j++
	}
	k := j
	for k < len(s) && s[k] == ' ' {
		k++
	}
	if k < len(s) && s[k] == '(' {
		if end := strings.IndexByte(s[k+1:min(len(s), k+1+maxTextValue)], ')'); end > 0 {
			if name := cleanText(s[k+1 : k+1+end]); name != "" {
				p.field(fieldAppName, name)
			}
			return k + 2 + end
		}
		return j
	}
	if end, ok := matchLabelWords(s, k, "named"); ok {
		if v, _, quote := labelValueStart(s, end); quote != 0 {
			if text, vend := p.textAt(v, quote); text != "" {
				p.field(fieldAppName, text)
				return vend
			}
		}
	}
	return j
}

// tenantNameAt reads a tenant named by domain or display name where a label
// expects a tenant ID: quoted ("in tenant 'Contoso'", "the directory
// 'contoso.onmicrosoft.com'"), to the end of the sentence after "tenant
// named", or a domain after a colon or a flag ("-TenantId
// contoso.onmicrosoft.com"). Placeholders ("{tenant}", "<tenant>") and URLs
// are not names.
func tenantNameAt(s string, i int, quote byte, sep, named bool) (string, int, bool) {
	var raw string
	end := i
	switch {
	case quote != 0:
		k := strings.IndexByte(s[i:min(len(s), i+maxTextValue)], quote)
		if k <= 0 {
			return "", i, false
		}
		raw, end = s[i:i+k], i+k+1
	case named:
		k := i
		for k < len(s) && k-i < maxTextValue && s[k] != '\n' && s[k] != '"' && s[k] != ',' && s[k] != ';' &&
			!(s[k] == '.' && (k+1 == len(s) || s[k+1] == ' ' || s[k+1] == '\n')) {
			k++
		}
		raw, end = s[i:k], k
	default:
		k := i
		for k < len(s) && k-i < maxTextValue && (isAlnumASCII(s[k]) || s[k] == '.' || s[k] == '-') {
			k++
		}
		raw = strings.TrimRight(s[i:k], ".-")
		end = i + len(raw)
		if !strings.Contains(raw, ".") || !sep && k < len(s) && isWordByte(s[k]) {
			return "", i, false // not a domain
		}
	}
	name := cleanText(raw)
	if name == "" || strings.ContainsAny(name, "{}<>$%") || strings.Contains(name, "://") {
		return "", i, false
	}
	return name, end, true
}

// cleanText is a value as one clean line: whitespace collapsed, valid UTF-8.
func cleanText(s string) string {
	return strings.Join(strings.Fields(strings.ToValidUTF8(s, "")), " ")
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
		if l.use != useAny {
			continue
		}
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
// quote (JSON keys), blanks, one ':', '=' or '|', blanks (a line break too, for
// pages laid out in two columns), and an opening quote. sep reports whether
// a ':' or '=' was there; quote is the opening quote skipped, or 0.
func labelValueStart(s string, j int) (v int, sep bool, quote byte) {
	if j < len(s) && (s[j] == '"' || s[j] == '\'') {
		j++
	}
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	if j < len(s) && (s[j] == ':' || s[j] == '=' || s[j] == '|') { // '|': a table's cell
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
		if isWordByte(c) && (j == i || !isWordByte(s[j-1])) && (p.labelAt(j, false) || hasPrefixFold(s[j:], "aadsts")) {
			break // a code ends the value too: it must not be skipped over
		}
	}
	v := cleanText(s[i:j])
	switch strings.ToLower(v) {
	case "not available", "n/a", "none", "null", "unknown", "-":
		v = ""
	}
	return v, j
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

// maxURI bounds a resource URI.
const maxURI = 200

// parseURIAt reads an app's URI at i (https://, http:// or api://), up to a
// quote, a blank or a delimiter, and returns it as the resource it names:
// scheme and host in lower case, without a scope's "/.default" or trailing
// slashes. Sign-in and help pages (login.*, aka.ms) name no resource.
func parseURIAt(s string, i int) (string, int, bool) {
	var scheme string
	for _, sc := range []string{"https://", "http://", "api://"} {
		if hasPrefixFold(s[i:], sc) {
			scheme = sc
			break
		}
	}
	if scheme == "" {
		return "", i, false
	}
	j := i + len(scheme)
	hostStart := j
	for j < len(s) && j-i < maxURI && !strings.ContainsRune(" \t\n\"'<>()[]{},;|`", rune(s[j])) {
		j++
	}
	end := j
	for end > hostStart && strings.IndexByte(".:", s[end-1]) >= 0 {
		end-- // "…/.default." ends a sentence
	}
	rest := s[hostStart:end]
	host, path, _ := strings.Cut(rest, "/")
	host = strings.ToLower(host)
	if host == "" || !utf8.ValidString(rest) || strings.HasPrefix(host, "login.") || host == "aka.ms" {
		return "", i, false
	}
	path = strings.TrimSuffix(strings.TrimRight(path, "/"), ".default")
	path = strings.TrimRight(path, "/")
	uri := scheme + host
	if path != "" {
		uri += "/" + path
	}
	return uri, end, true
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
