package diagnose

// The paste parser. ParseErrors is its entry: normalizePaste
// (parse_normalize.go) undoes what chat clients and serializers did to the
// text, pasteScanner (parse_scan.go) walks it once and decides which error
// each field belongs to, and the field readers (parse_fields.go) read a
// label's value at an offset.

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
	if looksUTF16(text) {
		text = string(textOf([]byte(text))) // a file Windows PowerShell wrote
	}
	norm, percent := normalizePaste(text)
	if form := hasFormPlus(norm); percent || form {
		norm = decodePercentTokens(norm, form)
	}
	sc := pasteScanner{s: string(norm)}
	sc.scan()
	return sc.results()
}
