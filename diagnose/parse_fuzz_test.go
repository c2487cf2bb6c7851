package diagnose

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzParseErrors checks the promises ParseErrors makes whatever the paste:
// no panic, codes in range, IDs as a user would copy them, UTC timestamps,
// one entry per (code, correlation ID), the cap, and the same answer twice.
func FuzzParseErrors(f *testing.F) {
	for _, text := range pasteFixtures(f) {
		f.Add(text)
	}
	for _, s := range []string{
		"AADSTS53003",
		"aadsts 50076 Correlation ID: 2ba27739-7daf-49e7-9\n49c-2e16e3c42079",
		`{"error_codes":[53003,50076],"correlation_id":"2ba27739-7daf-49e7-949c-2e16e3c42079","claims":"{\"access_token\":{\"capolids\":{\"values\":[\"8f1d3c2a-6b4e-4f0a-9d2c-1e5b7a9c3d4f\"]}}}"}`,
		"<https://x/?error_description=AADSTS53003%3a+x%0d%0aCorrelation+ID%3a+2ba27739-7daf-49e7-949c-2e16e3c42079|x> &amp;",
		"Timestamp: 2024-01-02T03:04:05.9999999999+14:00 AADSTS53003",
		`\\\\u201c\\r\\nAADSTS530034\u2028IP address: ::ffff:1.2.3.4`,
		"Trace+ID:+2ba27739-7daf-49e7-949c-2e16e3c42079+AADSTS53003:+x",
		"  12 | x\n     | AADSTS53003: Correlation ID:\n     | 2ba27739-7daf-49e7-949c-2e16e3c42079",
		"Sign-in error code\n50199\nFailure reason\nx\nResource tenant ID\n\nHome tenant ID\n2ba27739-7daf-49e7-949c-2e16e3c42079",
		"AADSTS50020: in tenant '' and application ''() named ' to access 'api://' scope: [https:// api://2ba27739-7daf-49e7-949c-2e16e3c42079",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got := ParseErrors(text)
		checkInvariants(t, got)
		if again := ParseErrors(text); !reflect.DeepEqual(got, again) {
			t.Fatalf("not deterministic:\n%+v\n%+v", got, again)
		}
	})
}

// checkInvariants fails t if errs breaks a promise of ParseErrors.
func checkInvariants(t *testing.T, errs []SignInError) {
	t.Helper()
	if len(errs) > MaxPasteErrors {
		t.Fatalf("%d errors, more than the cap", len(errs))
	}
	if errs != nil && len(errs) == 0 {
		t.Fatal("empty non-nil result")
	}
	seen := map[pasteKey]bool{}
	for i, e := range errs {
		if e.Code < 10000 || e.Code > 9999999 {
			t.Fatalf("error %d: code %d out of range", i, e.Code)
		}
		if info := LookupCode(e.Code); e.Name != info.Name || e.Category != info.Category {
			t.Fatalf("error %d: name %q category %q, table says %q %q", i, e.Name, e.Category, info.Name, info.Category)
		}
		if e.CorrelationID != "" {
			k := pasteKey{e.Code, e.CorrelationID}
			if seen[k] {
				t.Fatalf("error %d: duplicate (code, correlation) %v", i, k)
			}
			seen[k] = true
		}
		for name, id := range map[string]string{"correlation": e.CorrelationID, "trace": e.TraceID, "tenant": e.TenantID, "app": e.AppID, "resource": e.ResourceID} {
			if id != "" && !isLowerGUID(id) {
				t.Fatalf("error %d: %s ID %q is not a lower-case GUID", i, name, id)
			}
		}
		for _, id := range e.PolicyIDs {
			if !isLowerGUID(id) {
				t.Fatalf("error %d: policy ID %q is not a lower-case GUID", i, id)
			}
		}
		if len(e.PolicyIDs) > maxPolicyIDs {
			t.Fatalf("error %d: %d policy IDs", i, len(e.PolicyIDs))
		}
		if !e.Timestamp.IsZero() && e.Timestamp.Location() != time.UTC {
			t.Fatalf("error %d: timestamp %v not UTC", i, e.Timestamp)
		}
		if len(e.Message) > maxMessageLen {
			t.Fatalf("error %d: message of %d bytes", i, len(e.Message))
		}
		for name, s := range map[string]string{"message": e.Message, "app name": e.AppName, "platform": e.DevicePlatform, "state": e.DeviceState, "tenant name": e.TenantName, "resource URI": e.ResourceURI} {
			if !utf8Valid(s) || strings.ContainsAny(s, "\n\r") || strings.TrimSpace(s) != s {
				t.Fatalf("error %d: %s %q is not one clean line", i, name, s)
			}
		}
		if strings.ContainsAny(e.ResourceURI, " \t\"'") || e.ResourceURI != "" && !strings.Contains(e.ResourceURI, "://") {
			t.Fatalf("error %d: resource URI %q is not a URI", i, e.ResourceURI)
		}
		if e.DeviceCodeFlow != errs[0].DeviceCodeFlow {
			t.Fatalf("error %d: device code flow differs within one paste", i)
		}
	}
	// An occurrence without a correlation ID joins an entry with the same
	// code, so such an entry is the only one with its code.
	perCode := map[int]int{}
	for _, e := range errs {
		perCode[e.Code]++
	}
	for i, e := range errs {
		if e.CorrelationID == "" && perCode[e.Code] > 1 {
			t.Fatalf("error %d: code %d has an entry without correlation ID beside others", i, e.Code)
		}
	}
}

func isLowerGUID(s string) bool {
	if len(s) != 36 || s == nilGUID {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(isDigit(c) || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

func utf8Valid(s string) bool {
	return strings.ToValidUTF8(s, "\uFFFD") == s && !strings.ContainsRune(s, '\uFFFD')
}
