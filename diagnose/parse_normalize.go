package diagnose

// Paste normalisation: what chat clients, terminals and serializers do to an
// error on its way into a paste, undone before scanning.

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

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
		case c == '|' && psGutter(out, text[i+1:]):
			// PowerShell 7 wraps an error record's lines behind a
			// "     | " gutter: without it, a value wrapped onto the next
			// line reads like any wrapped line.
			out = append(out, ' ')
			i++
		default: // '%', or a '|' or '>' outside a Slack link
			percent = percent || c == '%'
			out = append(out, c)
			i++
		}
	}
	return out, percent
}

// psGutter reports whether a '|' between out (the line so far) and rest is
// the gutter PowerShell 7 puts before each line of an error record: only
// blanks and a line number before it on its line, a blank or the line end
// after it.
func psGutter(out []byte, rest string) bool {
	if len(rest) > 0 && rest[0] != ' ' && rest[0] != '\n' && rest[0] != '\r' {
		return false
	}
	for k := len(out) - 1; k >= 0 && out[k] != '\n'; k-- {
		if len(out)-k > 12 || out[k] != ' ' && out[k] != '\t' && !isDigit(out[k]) {
			return false
		}
	}
	return true
}

// hasFormPlus reports whether b holds a '+' where form encoding put it for a
// space: after ':', '.', ',' or ';' and before a letter or digit
// ("AADSTS53003:+Access+has+been+blocked…+Trace+ID:+…"). Base64, which
// has '+' too, never has those punctuation marks.
func hasFormPlus(b []byte) bool {
	for i := 1; i+1 < len(b); i++ {
		k := bytes.IndexByte(b[i:len(b)-1], '+')
		if k < 0 {
			return false
		}
		i += k
		if strings.IndexByte(":.,;", b[i-1]) >= 0 && isAlnumASCII(b[i+1]) {
			return true
		}
	}
	return false
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
// hold a %XX escape: redirect URLs, claims= parameters; with form, also
// those that hold a '+' where a space was (hasFormPlus: MSAL on iOS and
// macOS writes its errors so). Other tokens are left alone, so a '+' in
// plain text or base64 stays a '+'. A token encoded twice is decoded twice.
func decodePercentTokens(b []byte, form bool) []byte {
	var out []byte
	done := 0 // b[:done] is in out already
	for i := 0; i+2 < len(b); i++ {
		var k int
		if form {
			k = bytes.IndexAny(b[i:len(b)-2], "%+")
		} else {
			k = bytes.IndexByte(b[i:len(b)-2], '%') // vectorised: most of a log has no '%'
		}
		if k < 0 {
			break
		}
		i += k
		switch {
		case b[i] == '%' && isHex(b[i+1]) && isHex(b[i+2]):
		case b[i] == '+' && i > 0 && strings.IndexByte(":.,;", b[i-1]) >= 0 && isAlnumASCII(b[i+1]):
		default:
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
