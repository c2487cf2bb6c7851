package diagnose

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// pasteFixtures returns the paste fixtures by base name.
func pasteFixtures(t testing.TB) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "paste", "*.txt"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no paste fixtures: %v", err)
	}
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(p), ".txt")] = string(b)
	}
	return out
}

// parseJSON is the document ca-check parse --json prints.
func parseJSON(t testing.TB, errs []SignInError) []byte {
	t.Helper()
	if errs == nil {
		errs = []SignInError{}
	}
	b, err := json.MarshalIndent(struct {
		Errors []SignInError `json:"errors"`
	}{errs}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func TestParseErrorsGolden(t *testing.T) {
	for name, text := range pasteFixtures(t) {
		t.Run(name, func(t *testing.T) {
			golden(t, "paste/"+name+".json", parseJSON(t, ParseErrors(text)))
		})
	}
}

// want is what a support engineer reads off a parsed paste: per error, the
// code and the IDs they would copy into the customer's sign-in log search.
type want struct {
	code        int
	correlation string
	trace       string
	tenant      string
	tenantName  string
	resource    string // ResourceID
	app         string // AppID, checked when set
	policies    []string
	deviceCode  bool
	message     string // a prefix
}

func checkErrors(t *testing.T, got []SignInError, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d errors, want %d: %+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		g := got[i]
		if g.Code != w.code {
			t.Errorf("error %d: code %d, want %d", i, g.Code, w.code)
		}
		if g.CorrelationID != w.correlation {
			t.Errorf("error %d (%d): correlation ID %q, want %q", i, g.Code, g.CorrelationID, w.correlation)
		}
		if w.trace != "" && g.TraceID != w.trace {
			t.Errorf("error %d (%d): trace ID %q, want %q", i, g.Code, g.TraceID, w.trace)
		}
		if g.TenantID != w.tenant {
			t.Errorf("error %d (%d): tenant %q, want %q", i, g.Code, g.TenantID, w.tenant)
		}
		if g.TenantName != w.tenantName {
			t.Errorf("error %d (%d): tenant name %q, want %q", i, g.Code, g.TenantName, w.tenantName)
		}
		if g.ResourceID != w.resource {
			t.Errorf("error %d (%d): resource %q, want %q", i, g.Code, g.ResourceID, w.resource)
		}
		if w.app != "" && g.AppID != w.app {
			t.Errorf("error %d (%d): app %q, want %q", i, g.Code, g.AppID, w.app)
		}
		if !slices.Equal(g.PolicyIDs, w.policies) {
			t.Errorf("error %d (%d): policy IDs %q, want %q", i, g.Code, g.PolicyIDs, w.policies)
		}
		if g.DeviceCodeFlow != w.deviceCode {
			t.Errorf("error %d (%d): device code flow %v, want %v", i, g.Code, g.DeviceCodeFlow, w.deviceCode)
		}
		if !strings.HasPrefix(g.Message, w.message) {
			t.Errorf("error %d (%d): message %q, want it to start with %q", i, g.Code, g.Message, w.message)
		}
	}
}

const (
	customerTenant = "3bf45f2f-2b0d-4ad1-9b07-918267581792"
	policyA        = "8f1d3c2a-6b4e-4f0a-9d2c-1e5b7a9c3d4f"
	policyB        = "2c6e8a1b-3d5f-4a7c-9e1b-5d3f7a9c1e2b"
	policyC        = "e7b2a9d4-1c3f-4e5a-8b6d-0f2a4c6e8b1d"
	msgBlocked     = "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance."
	msgMFA         = "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication"
)

// TestParseErrorsFixtures checks, per paste format, what the golden files
// hold that matters most, so a careless -update cannot hide a regression.
func TestParseErrorsFixtures(t *testing.T) {
	fixtures := pasteFixtures(t)
	tests := map[string][]want{
		"browser_53003": {{code: 53003, correlation: "d2ac789d-d4e4-4f34-9738-b651e33758b0", trace: "babc8323-82e4-4fbf-89ad-356afe011182", message: msgBlocked}},
		"browser_two_pages": {
			{code: 53003, correlation: "409a3b5e-dd68-4ffa-9d9e-ca2ea7a43b4f", trace: "1846413e-66c5-4bf8-a47e-1315c2010eed", message: msgBlocked},
			{code: 53003, correlation: "cc624238-3dac-4c6c-b344-95833ab80260", trace: "c5919923-5e3e-46c2-acaf-b12d0f619de8", message: msgBlocked},
		},
		"msal_net_50076":           {{code: 50076, correlation: "409a3b5e-dd68-4ffa-9d9e-ca2ea7a43b4f", trace: "1846413e-66c5-4bf8-a47e-1315c2010eed", resource: AppAzureServiceMgmt, policies: []string{policyA}, message: msgMFA}},
		"adal_50158":               {{code: 50158, correlation: "87d3f358-7a53-4c19-a60c-77d3ad2ac5d4", trace: "7cdf1e9c-70c5-4be5-81a8-fdfee4fe66e4", message: "External security challenge not satisfied."}},
		"exo_powershell_53003":     {{code: 53003, correlation: "743b9eee-909f-4544-b0a2-9e9d2516900c", trace: "5c3ed966-cdec-406f-ae80-303b99c4d368", message: msgBlocked}},
		"mggraph_device_53000":     {{code: 53000, correlation: "c5919923-5e3e-46c2-acaf-b12d0f619de8", tenant: customerTenant, deviceCode: true, message: "Device is not in required device state: compliant."}},
		"azaccount_50076":          {{code: 50076, correlation: "d1829fb7-f258-49ad-aa8b-6a474c4a946a", tenant: customerTenant, resource: AppAzureServiceMgmt, message: msgMFA}},
		"azcli_50076_claims":       {{code: 50076, correlation: "3b0e5f4c-9a2d-4b1e-8c7f-6d5a4e3b2c1d", tenant: customerTenant, resource: AppAzureServiceMgmt, policies: []string{policyA, policyB}, message: msgMFA}},
		"oauth_json_53003":         {{code: 53003, correlation: "743b9eee-909f-4544-b0a2-9e9d2516900c", trace: "5c3ed966-cdec-406f-ae80-303b99c4d368", tenant: customerTenant, policies: []string{policyA, policyB}, message: msgBlocked}},
		"redirect_query_53003":     {{code: 53003, correlation: "d1829fb7-f258-49ad-aa8b-6a474c4a946a", trace: "04844aca-c76e-434f-bd5a-a2cb29646dce", policies: []string{policyC}, message: msgBlocked}},
		"redirect_fragment_530034": {{code: 530034, correlation: "7cdf1e9c-70c5-4be5-81a8-fdfee4fe66e4", trace: "87d3f358-7a53-4c19-a60c-77d3ad2ac5d4", message: "Delegated admin user is blocked"}},
		"log_json_lines": {
			{code: 53003, correlation: "1846413e-66c5-4bf8-a47e-1315c2010eed", trace: "babc8323-82e4-4fbf-89ad-356afe011182", tenant: customerTenant, message: msgBlocked},
			{code: 53003, correlation: "409a3b5e-dd68-4ffa-9d9e-ca2ea7a43b4f", trace: "d2ac789d-d4e4-4f34-9738-b651e33758b0", message: msgBlocked},
			{code: 65001, correlation: "5c3ed966-cdec-406f-ae80-303b99c4d368", trace: "743b9eee-909f-4544-b0a2-9e9d2516900c", app: AppAzureCLI, message: "The user or administrator has not consented"},
		},
		"log_plain": {
			// az's advice after the last error, "az login --scope https://graph.microsoft.com//.default", goes with it.
			{code: 530003, correlation: "56cad67e-d30c-460c-9719-48455d8add34", trace: "04844aca-c76e-434f-bd5a-a2cb29646dce", resource: AppMicrosoftGraph, message: "Your device is required to be managed to access this resource."},
			{code: 530003, correlation: "d1829fb7-f258-49ad-aa8b-6a474c4a946a", trace: "87d3f358-7a53-4c19-a60c-77d3ad2ac5d4", message: "Your device is required to be managed to access this resource."},
		},
		"slack_mangled": {
			{code: 53003, correlation: "cc624238-3dac-4c6c-b344-95833ab80260", trace: "c5919923-5e3e-46c2-acaf-b12d0f619de8", message: msgBlocked},
			{code: 50105, correlation: "409a3b5e-dd68-4ffa-9d9e-ca2ea7a43b4f", trace: "1846413e-66c5-4bf8-a47e-1315c2010eed", message: "Your administrator has configured the application Contoso HR ('d2ac789d-d4e4-4f34-9738-b651e33758b0')"},
			{code: 50158, correlation: "743b9eee-909f-4544-b0a2-9e9d2516900c", message: "External security challenge not satisfied."},
		},
		"www_authenticate_53003": {{code: 53003, correlation: "babc8323-82e4-4fbf-89ad-356afe011182", trace: customerTenant, policies: []string{policyC}, message: msgBlocked}},
		"multi_errors": {
			{code: 50126, correlation: "1846413e-66c5-4bf8-a47e-1315c2010eed", message: "Error validating credentials"},
			{code: 53003, correlation: "409a3b5e-dd68-4ffa-9d9e-ca2ea7a43b4f", trace: "babc8323-82e4-4fbf-89ad-356afe011182", message: msgBlocked},
			{code: 500011, correlation: "5c3ed966-cdec-406f-ae80-303b99c4d368", tenantName: "Contoso Ltd", resource: AppMicrosoftGraph, message: "The resource principal named https://graph.microsoft.com was not found"},
			{code: 9999999}, // not in the table, but a code all the same
		},
		// PowerShell 7 wraps a record behind a "     | " gutter: a label's
		// value, a GUID and a timestamp are split across it.
		"powershell7_gutter_53003": {{code: 53003, correlation: "9a3e7c15-4b2d-4f6a-8e1c-3d5b7f9a2c46", trace: "2f6c0d8e-5a1b-4c3e-9f7d-8b4a6e2c1d05", message: msgBlocked}},
		// MSAL on iOS and macOS: '+' for every space.
		"msal_ios_form_53003": {{code: 53003, correlation: "c41e9a27-83d5-4f0b-a6e2-7b1d3f5c9e84", trace: "6d2b8f41-0c7e-4a95-b3d1-5e9f2a7c8b60", message: msgBlocked}},
		// Two sign-ins copied from the sign-in log: labels on lines of their
		// own, codes without AADSTS; the home (partner) tenant is not the
		// tenant signed in to.
		"portal_signin_details": {
			{code: 50199, correlation: "8b1d3f5a-7c9e-4b2d-9f4a-6c8e0a2b4d17", trace: "0e4a6c8d-2f1b-4d3c-a5e7-9b1d3f5a7c90", message: "For security reasons, user confirmation is required"},
			{code: 53003, correlation: "5b7d9f1a-3c5e-4a7b-8d9f-1b3d5f7a9c2e", trace: "1c3e5a7b-9d2f-4e6a-8b0c-2d4f6a8c0e31", tenant: "7d1e3a52-94c6-4b0e-a8f1-2c5d9e3b6a17",
				resource: AppAzureServiceMgmt, app: AppAzurePortal, message: msgBlocked},
		},
		// az --debug: MSAL's cache event and token response; the client ID,
		// the scope and the token endpoint's tenant, not the home account's.
		"msal_python_debug_53000": {{code: 53000, correlation: "e7a9c1b3-5d2f-4e8a-9c0b-4f6a8c2e0d19", trace: "4c6e8a0b-2d4f-4b6a-8c0e-7a9c1e3b5d28", tenant: "7d1e3a52-94c6-4b0e-a8f1-2c5d9e3b6a17",
			resource: AppAzureServiceMgmt, app: AppAzureCLI, message: "Device is not in required device state: compliant."}},
		// Messages that name the app and the tenant.
		"messages_name_app_and_tenant": {
			{code: 500011, correlation: "6f8a0c2e-4b1d-4e3f-9a5b-7c9e1a3b5d64", tenantName: "Fabrikam Inc", resource: AppMicrosoftGraph, message: "The resource principal named"},
			{code: 700016, correlation: "2b4d6f8a-0c1e-4d3f-a5b7-9d1f3b5d7f86", tenantName: "fabrikam.onmicrosoft.com", app: "a5f3c2e1-9b7d-4e6a-8c4f-1d3b5a7e9c20", message: "Application with identifier"},
			{code: 650052, correlation: "0d2f4b6c-8e1a-4f5b-b7c9-1e3a5c7e9b08", tenant: "e2b4d6f8-1a3c-4e5f-8a9b-0c1d2e3f4a5b", resource: "00000007-0000-0000-c000-000000000000", message: "The app is trying to access a service"},
			{code: 50020, correlation: "8f0b2d4e-6a1c-4e7f-b9a1-3c5e7a9c1e20", tenantName: "Fabrikam Inc", app: AppAzurePortal, message: "User account"},
		},
		// A token response inside an exception inside a log record inside
		// a container log: escaped three times over.
		"json_escaped_thrice_50076": {{code: 50076, correlation: "4a6c8e0b-2d1f-4b3c-9e5f-7a9b1d3f5b52", trace: "1f3b5d7e-9a2c-4e4f-8b6d-0c2e4a6c8e41", resource: AppExchangeOnline, message: msgMFA}},
		"none":                      nil,
	}
	for name, wants := range tests {
		t.Run(name, func(t *testing.T) {
			text, ok := fixtures[name]
			if !ok {
				t.Fatalf("no fixture testdata/paste/%s.txt", name)
			}
			checkErrors(t, ParseErrors(text), wants)
		})
	}
	for name := range fixtures {
		if _, ok := tests[name]; !ok {
			t.Errorf("fixture %s has no expectations here", name)
		}
	}
}

// TestParseErrorsBrowserFields checks every troubleshooting field of the
// browser page, the richest source.
func TestParseErrorsBrowserFields(t *testing.T) {
	got := ParseErrors(pasteFixtures(t)["browser_53003"])
	if len(got) != 1 {
		t.Fatalf("got %d errors, want 1", len(got))
	}
	want := SignInError{
		Code: 53003, Name: "BlockedByConditionalAccess", Category: CategoryConditionalAccess,
		Message:        msgBlocked,
		CorrelationID:  "d2ac789d-d4e4-4f34-9738-b651e33758b0",
		TraceID:        "babc8323-82e4-4fbf-89ad-356afe011182",
		Timestamp:      time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		AppID:          "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
		AppName:        "Microsoft Azure",
		IPAddress:      "203.0.113.7",
		DevicePlatform: "Windows 10",
		DeviceState:    "Unregistered",
	}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("got  %+v\nwant %+v", got[0], want)
	}
}

func TestParseErrorsCases(t *testing.T) {
	const (
		corr1 = "2ba27739-7daf-49e7-949c-2e16e3c42079"
		corr2 = "a400dd29-ad31-4de1-933e-3e3995a7c6cc"
	)
	tests := []struct {
		name  string
		text  string
		wants []want
	}{
		{"CRLF line ends",
			"AADSTS53003: Access has been blocked by Conditional Access policies.\r\nTrace ID: e0ea6353-40e5-4496-8bd5-294facea2e00\r\nCorrelation ID: " + corr1 + "\r\nTimestamp: 2022-02-11 13:06:36Z\r\n",
			[]want{{code: 53003, correlation: corr1, trace: "e0ea6353-40e5-4496-8bd5-294facea2e00", message: "Access has been blocked by Conditional Access policies."}}},
		{"console wrapped a GUID, a timestamp and a sentence",
			`{"error":"interaction_required","error_description":"AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does not allow
token issuance.\r\nTrace ID: e0ea6353-40e5-4496-8bd5-294facea2e00\r\nCorrelation ID: 2ba27739-7daf-49e7-949c-2e16e3c42079\r\nTimestamp: 2022-02-11
13:06:36Z","error_codes":[53003],"timestamp":"2022-02-11 13:06:36Z","trace_id":"e0ea6353-40e5-4496-8bd5-294facea2e00","correlation_id":"2ba27739-7daf-49e7-9
49c-2e16e3c42079","error_uri":"https://login.microsoft.com/error?code=53003","suberror":"message_only"}`,
			[]want{{code: 53003, correlation: corr1, message: msgBlocked}}},
		{"lower case, space and colon after AADSTS",
			"getting aadsts 53003 and then AADSTS:50158 on retry",
			[]want{{code: 53003}, {code: 50158}}},
		{"code glued to the word before it",
			"Error:AADSTS50076:Due to a configuration change made by your administrator",
			[]want{{code: 50076, message: "Due to a configuration change made by your administrator"}}},
		{"same code, two correlation IDs",
			"AADSTS53003 Correlation ID: " + corr1 + "\nAADSTS53003 Correlation ID: " + corr2,
			[]want{{code: 53003, correlation: corr1}, {code: 53003, correlation: corr2}}},
		{"same code and correlation ID twice",
			"AADSTS53003 Correlation ID: " + corr1 + "\nAADSTS53003 Correlation ID: " + strings.ToUpper(corr1),
			[]want{{code: 53003, correlation: corr1}}},
		{"a mention without IDs joins the full error",
			"we keep getting AADSTS53003 again\n\nAADSTS53003: blocked.\nCorrelation ID: " + corr1,
			[]want{{code: 53003, correlation: corr1}}},
		{"fields before the first code belong to it",
			"Correlation ID: " + corr1 + "\nTimestamp: 2024-01-02 03:04:05Z\nMessage: AADSTS50158: External security challenge not satisfied.",
			[]want{{code: 50158, correlation: corr1, message: "External security challenge not satisfied."}}},
		{"error_codes only: fields after the list go to its last code",
			`{"error":"invalid_grant","error_codes":[50076,50079],"correlation_id":"` + corr1 + `"}`,
			[]want{{code: 50076}, {code: 50079, correlation: corr1}}},
		{"error code labels",
			"Error Code: 530033\nRequest Id: e0ea6353-40e5-4496-8bd5-294facea2e00\nCorrelation Id: " + corr1 + "\nErrorCode: invalid_grant\nStatusCode: 400",
			[]want{{code: 530033, correlation: corr1, trace: "e0ea6353-40e5-4496-8bd5-294facea2e00"}}},
		{"HTML entities and smart quotes from Slack",
			"&lt;error&gt; AADSTS53003: blocked &amp; sad. \u201ccorrelation_id\u201d: \u201c" + corr1 + "\u201d",
			[]want{{code: 53003, correlation: corr1, message: "blocked & sad."}}},
		{"numeric HTML entity and JSON unicode escape",
			`AADSTS53003&#58; x. Correlation\u0020ID\u003a ` + corr1,
			[]want{{code: 53003, correlation: corr1}}},
		{"double-escaped JSON in a log",
			`"body":"{\\\"error_description\\\":\\\"AADSTS50076: MFA.\\\\r\\\\nCorrelation ID: ` + corr1 + `\\\"}"`,
			[]want{{code: 50076, correlation: corr1, message: "MFA."}}},
		{"device code hints",
			"DeviceCodeCredential authentication failed: AADSTS53003: blocked.",
			[]want{{code: 53003, deviceCode: true, message: "blocked."}}},
		{"device code hint glued inside an identifier",
			"at acquireTokenByDeviceCode: AADSTS50158",
			[]want{{code: 50158, deviceCode: true}}},
		{"device flow code",
			"AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.\nlater: AADSTS53003",
			[]want{{code: 70016, deviceCode: true, message: "OAuth 2.0 device flow error."}, {code: 53003, deviceCode: true}}},
		{"no device code for a device identifier",
			"Device identifier: Not available\nAADSTS53003",
			[]want{{code: 53003}}},
		{"claims challenge before any code goes to every CA error",
			`claims="eyJhY2Nlc3NfdG9rZW4iOnsiY2Fwb2xpZHMiOnsiZXNzZW50aWFsIjp0cnVlLCJ2YWx1ZXMiOlsiZTdiMmE5ZDQtMWMzZi00ZTVhLThiNmQtMGYyYTRjNmU4YjFkIl19fX0"` +
				"\nAADSTS50126: bad password\nAADSTS53003: blocked\nAADSTS53000: not compliant",
			[]want{{code: 50126, message: "bad password"}, {code: 53003, policies: []string{policyC}, message: "blocked"}, {code: 53000, policies: []string{policyC}, message: "not compliant"}}},
		{"claims challenge before the only code goes to it whatever its category",
			`"claims":"{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"` + strings.ToUpper(policyA) + `\"]}}}" AADSTS50076`,
			[]want{{code: 50076, policies: []string{policyA}}}},
		{"claims padded standard base64 in a URL, percent-encoded",
			"https://login.microsoftonline.com/" + customerTenant + "/oauth2/v2.0/authorize?client_id=04b07795-8ddb-461a-bbee-02f9e1bf7b46&claims=eyJhY2Nlc3NfdG9rZW4iOnsiY2Fwb2xpZHMiOnsiZXNzZW50aWFsIjp0cnVlLCJ2YWx1ZXMiOlsiZTdiMmE5ZDQtMWMzZi00ZTVhLThiNmQtMGYyYTRjNmU4YjFkIl19fX0%3D\nAADSTS53003",
			[]want{{code: 53003, tenant: customerTenant, policies: []string{policyC}}}},
		{"claims in the URL base64 alphabet, padded",
			"WWW-Authenticate: Bearer error=\"insufficient_claims\", claims=\"eyJhY2Nlc3NfdG9rZW4iOnsiY2Fwb2xpZHMiOnsiZXNzZW50aWFsIjp0cnVlLCJ2YWx1ZXMiOlsiZTdiMmE5ZDQtMWMzZi00ZTVhLThiNmQtMGYyYTRjNmU4YjFkIl19fSwieG1zX2NjIjoifj9-P34_In0=\"\nAADSTS53003",
			[]want{{code: 53003, policies: []string{policyC}}}},
		{"claims in the standard base64 alphabet, unpadded",
			"AADSTS53003 --claims-challenge eyJhY2Nlc3NfdG9rZW4iOnsiY2Fwb2xpZHMiOnsiZXNzZW50aWFsIjp0cnVlLCJ2YWx1ZXMiOlsiZTdiMmE5ZDQtMWMzZi00ZTVhLThiNmQtMGYyYTRjNmU4YjFkIl19fSwieG1zX2NjIjoifj9+P34/In0",
			[]want{{code: 53003, policies: []string{policyC}}}},
		{"a JWT is not a claims challenge",
			"AADSTS53003 Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJjYXBvbGlkcyI6WyJlN2IyYTlkNC0xYzNmLTRlNWEtOGI2ZC0wZjJhNGM2ZThiMWQiXX0.c2ln",
			[]want{{code: 53003}}},
		{"an empty value does not swallow the next label",
			"AADSTS53003\nApp name:\nApp id: c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
			[]want{{code: 53003}}},
		{"sign-in log export: each entry's fields precede its error code",
			`[
  {
    "createdDateTime": "2024-01-02T03:04:05Z",
    "appDisplayName": "Azure Portal",
    "correlationId": "` + corr1 + `",
    "ipAddress": "203.0.113.7",
    "status": { "errorCode": 53003, "failureReason": "Access has been blocked by Conditional Access policies." }
  },
  {
    "createdDateTime": "2024-01-02T03:09:05Z",
    "appDisplayName": "Azure Portal",
    "correlationId": "` + corr2 + `",
    "ipAddress": "203.0.113.8",
    "status": { "errorCode": 53000, "failureReason": "Device is not compliant." }
  }
]`,
			[]want{{code: 53003, correlation: corr1}, {code: 53000, correlation: corr2}}},
		{"a different correlation ID without a code after it is dropped",
			"AADSTS53003\nCorrelation ID: " + corr1 + "\nretry\nCorrelation ID: " + corr2 + "\n",
			[]want{{code: 53003, correlation: corr1}}},
		{"not a code: too short, too long, leading zero",
			"AADSTS1234 AADSTS12345678 AADSTS01234 error code 500 AADSTS",
			nil},
		{"nil GUID is not an ID",
			"AADSTS53003 Correlation ID: 00000000-0000-0000-0000-000000000000",
			[]want{{code: 53003}}},
		{"longer hex run is not a GUID",
			"AADSTS53003 Correlation ID: " + corr1 + "abcdef",
			[]want{{code: 53003}}},
		{"empty", "", nil},

		// The tenant and the resource app, as messages and commands name them.
		{"tenant named by domain in a message",
			"AADSTS90002: Tenant 'contoso.example' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.",
			[]want{{code: 90002, tenantName: "contoso.example", message: "Tenant 'contoso.example' not found."}}},
		{"tenant named by domain in a flag",
			"PS> Connect-MgGraph -TenantId contoso.onmicrosoft.com -Scopes Policy.Read.All\nAADSTS53003: blocked.",
			[]want{{code: 53003, tenantName: "contoso.onmicrosoft.com", message: "blocked."}}},
		{"placeholders and words are not tenants",
			"AADSTS90002: Tenant '{tenant}' not found.\nAADSTS50128: Invalid domain name - No tenant-identifying information found in either the request or implied by any provided credentials.",
			[]want{{code: 90002, message: "Tenant '{tenant}' not found."}, {code: 50128, message: "Invalid domain name"}}},
		{"resource in a scope list",
			`{"scope":"openid profile offline_access https://graph.microsoft.com/.default","error":"interaction_required","error_codes":[53003]}`,
			[]want{{code: 53003, resource: AppMicrosoftGraph}}},
		{"resource in a scope array, national cloud",
			`"scope": ["https://graph.microsoft.us/.default"], "error_description": "AADSTS53003: blocked."`,
			[]want{{code: 53003, resource: AppMicrosoftGraph, message: "blocked."}}},
		{"an app's own URI names its ID",
			"AADSTS53003: blocked. resource=api://" + policyA + "/access_as_user",
			[]want{{code: 53003, resource: policyA, message: "blocked."}}},
		{"a help link is not the resource",
			"AADSTS500014: The service principal for resource 'https://contoso.example/api' is disabled. See https://aka.ms/aadsts500014 and the resource list.",
			[]want{{code: 500014, message: "The service principal for resource"}}},
		{"a sign-in page is not the resource",
			"the resource: https://login.microsoftonline.com/common/oauth2/authorize AADSTS53003",
			[]want{{code: 53003}}},

		// Forms: labels on lines of their own.
		{"a form's code without AADSTS",
			"Error code\n530032\nRequest Id\n" + corr2 + "\nCorrelation Id\n" + corr1 + "\nTimestamp\n2025-02-18T14:22:37.512Z\nMessage\nBlocked by security defaults.",
			[]want{{code: 530032, correlation: corr1, trace: corr2, message: "Blocked by security defaults."}}},
		{"a form's empty value does not take the next label",
			"Sign-in error code\n53003\nApplication\n\nApplication ID\nc44b4083-3bb0-49c1-b47d-974e53cbdf3c",
			[]want{{code: 53003, app: AppAzurePortal}}},
		{"a sentence that ends in a label's words is not a form",
			"AADSTS53003: Access has been blocked. Please ask the administrator of the tenant\n3bf45f2f-2b0d-4ad1-9b07-918267581792 is what we tried",
			[]want{{code: 53003, message: "Access has been blocked."}}},
		{"a Markdown table",
			"| Field | Value |\n|---|---|\n| Error code | 53003 |\n| Correlation ID | " + corr1 + " |\n| Resource ID | 00000003-0000-0000-c000-000000000000 |",
			[]want{{code: 53003, correlation: corr1, resource: AppMicrosoftGraph}}},

		// Wraps and encodings.
		{"form encoding, '+' for a space",
			"UserInfo={MSALErrorDescriptionKey=AADSTS50076:+Due+to+a+configuration+change+made+by+your+administrator,+you+must+use+multi-factor+authentication+to+access+'00000003-0000-0000-c000-000000000000'.+Trace+ID:+" + corr2 + "+Correlation+ID:+" + corr1 + "+Timestamp:+2021-02-09+11:17:03Z, MSALOAuthErrorKey=invalid_grant}",
			[]want{{code: 50076, correlation: corr1, trace: corr2, resource: AppMicrosoftGraph, message: "Due to a configuration change made by your administrator, you must use"}}},
		{"base64 keeps its '+'",
			"AADSTS53003 --claims-challenge eyJhY2Nlc3NfdG9rZW4iOnsiY2Fwb2xpZHMiOnsiZXNzZW50aWFsIjp0cnVlLCJ2YWx1ZXMiOlsiZTdiMmE5ZDQtMWMzZi00ZTVhLThiNmQtMGYyYTRjNmU4YjFkIl19fSwieG1zX2NjIjoifj9+P34/In0 note: done.+ok",
			[]want{{code: 53003, policies: []string{policyC}}}},
		{"PowerShell gutter splits a label from its value and a GUID",
			"Connect-MgGraph: AADSTS53003: Access has been blocked by Conditional Access policies. Correlation ID:\n     | " + corr1[:20] + "\n     | " + corr1[20:] + " Timestamp: 2025-01-02\n     | 03:04:05Z",
			[]want{{code: 53003, correlation: corr1, message: "Access has been blocked by Conditional Access policies."}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrors(t, ParseErrors(tt.text), tt.wants)
		})
	}
}

func TestParseErrorsTimestamps(t *testing.T) {
	tests := []struct {
		text string
		want time.Time
	}{
		{"Timestamp: 2024-01-02T03:04:05.000Z", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"Timestamp: 2024-01-02 03:04:05Z", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{`"timestamp":"2024-01-02 03:04:05Z"`, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"Timestamp: 2024-01-02T03:04:05.1234567Z", time.Date(2024, 1, 2, 3, 4, 5, 123456700, time.UTC)},
		{"Timestamp: 2024-01-02T05:04:05+02:00", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"Timestamp: 2024-01-01T22:04:05-0500", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"Timestamp: 2024-01-02 03:04:05 UTC", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"Timestamp: 2024-01-02 03:04:05", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"Timestamp: 2024-1-2\n3:04:05Z", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"Timestamp: 2024-02-30 03:04:05Z", time.Time{}},
		{"Timestamp: 2024-01-02 25:04:05Z", time.Time{}},
		{"Timestamp: yesterday", time.Time{}},
	}
	for _, tt := range tests {
		got := ParseErrors("AADSTS53003 " + tt.text)
		if len(got) != 1 {
			t.Fatalf("%q: got %d errors", tt.text, len(got))
		}
		if !got[0].Timestamp.Equal(tt.want) || got[0].Timestamp.Location() != time.UTC {
			t.Errorf("%q: timestamp %v, want %v UTC", tt.text, got[0].Timestamp, tt.want)
		}
	}
}

func TestParseErrorsIPAddress(t *testing.T) {
	tests := map[string]string{
		"IP address: 203.0.113.7":               "203.0.113.7",
		`"ipAddress":"2001:DB8::1"`:             "2001:db8::1",
		"Client IP: ::ffff:198.51.100.4":        "198.51.100.4",
		"IP address: 203.0.113.7.":              "203.0.113.7",
		"IP address: 203.0.113.7:443":           "203.0.113.7",
		"IP address: 999.0.113.7":               "",
		"ip: a lot of them":                     "",
		"IP address:\u00a0198.51.100.23\u200b ": "198.51.100.23",
	}
	for text, want := range tests {
		got := ParseErrors("AADSTS53003\n" + text)
		if len(got) != 1 || got[0].IPAddress != want {
			t.Errorf("%q: got %+v, want IP %q", text, got, want)
		}
	}
}

// TestParseErrorsOneLineBrowserPage: chat clients sometimes join the lines
// of the troubleshooting details; each value must still end at the next
// label.
func TestParseErrorsOneLineBrowserPage(t *testing.T) {
	got := ParseErrors("Message: AADSTS53003: Access has been blocked by Conditional Access policies. App name: Microsoft Azure App id: c44b4083-3bb0-49c1-b47d-974e53cbdf3c Device platform: Windows 10 Device state: Hybrid Azure AD joined")
	if len(got) != 1 {
		t.Fatalf("got %d errors", len(got))
	}
	g := got[0]
	if g.Message != "Access has been blocked by Conditional Access policies." || g.AppName != "Microsoft Azure" ||
		g.AppID != "c44b4083-3bb0-49c1-b47d-974e53cbdf3c" || g.DevicePlatform != "Windows 10" || g.DeviceState != "Hybrid Azure AD joined" {
		t.Errorf("got %+v", g)
	}
}

func TestParseErrorsMessageLimit(t *testing.T) {
	for _, r := range []string{"é", "€", "𝄞", "a€"} {
		got := ParseErrors("AADSTS53003: " + strings.Repeat(r, 400) + ".")
		if len(got) != 1 {
			t.Fatalf("got %d errors", len(got))
		}
		m := got[0].Message
		if len(m) > maxMessageLen || len(m) < maxMessageLen-8 || !strings.HasPrefix(m, r+r) || !utf8.ValidString(m) {
			t.Errorf("%q: message of %d bytes: %q", r, len(m), m)
		}
	}
}

func TestParseErrorsCap(t *testing.T) {
	var b strings.Builder
	for i := range MaxPasteErrors + 50 {
		// distinct codes, no correlation IDs: each is its own entry
		b.WriteString("AADSTS")
		b.WriteString(strconv.Itoa(1000000 + i))
		b.WriteString("\n")
	}
	got := ParseErrors(b.String())
	if len(got) != MaxPasteErrors {
		t.Fatalf("got %d errors, want the cap %d", len(got), MaxPasteErrors)
	}
	if got[0].Code != 1000000 || got[MaxPasteErrors-1].Code != 1000000+MaxPasteErrors-1 {
		t.Errorf("kept %d..%d, want the first ones", got[0].Code, got[len(got)-1].Code)
	}
}

// TestParseErrorsHostileInput: pastes no person writes still get a prompt,
// sane answer.
func TestParseErrorsHostileInput(t *testing.T) {
	tests := map[string]struct {
		text  string
		codes int
	}{
		"AADSTS repeated":            {strings.Repeat("AADSTS", 1<<20/6), 0},
		"AADSTS and 100k digits":     {"AADSTS" + strings.Repeat("7", 100_000), 0},
		"one code repeated":          {strings.Repeat("AADSTS53003 ", 1<<20/12), 1},
		"codes glued together":       {strings.Repeat("AADSTS53003", 1<<20/11), 1},
		"invalid UTF-8":              {"\xff\xfe AADSTS53003 \xc3\x28 Correlation ID: \xe2\x82 2ba27739-7daf-49e7-949c-2e16e3c42079", 1},
		"binary":                     {string([]byte{0, 1, 2, 0x80, 0xff, '\\', 'u', '0', 0}) + "AADSTS50076\x00", 1},
		"unterminated Slack links":   {strings.Repeat("<https://x", 100_000), 0},
		"backslashes":                {strings.Repeat(`\`, 100_000) + "AADSTS53003", 1},
		"percent signs":              {strings.Repeat("%4", 100_000) + " AADSTS53003%3a", 1},
		"labels without values":      {strings.Repeat("Correlation ID: Trace ID: Timestamp: error_codes: [", 20_000), 0},
		"capolids without values":    {strings.Repeat(`"capolids":{"values":[`, 20_000), 0},
		"base64 lookalikes":          {strings.Repeat("eyJ", 300_000), 0},
		"many distinct correlations": {manyCorrelations(3000), 1000},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			got := ParseErrors(tt.text)
			if len(got) != tt.codes {
				t.Errorf("got %d errors, want %d", len(got), tt.codes)
			}
			checkInvariants(t, got)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func manyCorrelations(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("AADSTS53003 Correlation ID: ")
		b.WriteString(strings.Replace("00000000-0000-4000-8000-000000000000", "00000000-", padHex(i+1), 1))
		b.WriteString("\n")
	}
	return b.String()
}

func padHex(n int) string {
	const hex = "0123456789abcdef"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = hex[n&15]
		n >>= 4
	}
	return string(b[:]) + "-"
}

func TestParseErrors10MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("10 MiB paste")
	}
	text := realisticLog(10 << 20)
	start := time.Now()
	got := ParseErrors(text)
	d := time.Since(start)
	if len(got) != 2 {
		t.Errorf("got %d errors, want 2", len(got))
	}
	checkInvariants(t, got)
	if d > 5*time.Second {
		t.Errorf("10 MiB took %v", d)
	}
}

func TestSignInErrorJSON(t *testing.T) {
	e := SignInError{
		Code: 53003, Name: "BlockedByConditionalAccess", Category: CategoryConditionalAccess,
		Message: "m", CorrelationID: "c", TraceID: "t",
		Timestamp: time.Date(2024, 1, 2, 4, 4, 5, 0, time.FixedZone("", 3600)),
		TenantID:  "tn", AppID: "a", AppName: "an", IPAddress: "ip", DevicePlatform: "dp", DeviceState: "ds",
		PolicyIDs: []string{"p"}, DeviceCodeFlow: true,
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"code":53003,"name":"BlockedByConditionalAccess","category":"conditional_access","message":"m","correlationId":"c","traceId":"t","timestamp":"2024-01-02T03:04:05Z","tenantId":"tn","appId":"a","appName":"an","ipAddress":"ip","devicePlatform":"dp","deviceState":"ds","policyIds":["p"],"deviceCodeFlow":true}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back SignInError
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Timestamp.Equal(e.Timestamp) || back.Timestamp.Location() != time.UTC {
		t.Errorf("timestamp round trip: %v", back.Timestamp)
	}
	back.Timestamp = e.Timestamp
	if !reflect.DeepEqual(back, e) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, e)
	}

	b, _ = json.Marshal(SignInError{Code: 12345, Category: CategoryOther})
	if string(b) != `{"code":12345,"category":"other"}` {
		t.Errorf("empty fields not omitted: %s", b)
	}
	if err := json.Unmarshal([]byte(`{"code":1,"timestamp":"yesterday"}`), &back); err == nil {
		t.Error("bad timestamp accepted")
	}
}

// realisticLog is about size bytes of application log with two sign-in
// errors in it, the shape a support engineer attaches to a ticket.
func realisticLog(size int) string {
	lines := []string{
		`2024-06-01T10:00:00.123Z INFO  http: GET https://graph.microsoft.com/v1.0/users?$top=999 200 OK in 182ms request-id=5e7c1f2a`,
		`{"time":"2024-06-01T10:00:00.456Z","level":"DEBUG","msg":"cache hit","key":"tenant/3bf45f2f/policies","ttl":"4m59s","size":48213}`,
		`2024-06-01 10:00:01,002 DEBUG msal.application: Found 1 RTs matching {'environment': 'login.microsoftonline.com', 'client_id': '04b07795'}`,
		`2024-06-01T10:00:02.789Z WARN  sync: mailbox quota at 91% for 14 users in tenant Contoso Ltd; notifying admins via webhook`,
		`    at System.Net.Http.HttpClient.SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) in /src/Http/HttpClient.cs:line 512`,
	}
	errLines := []string{
		`2024-06-01T10:00:03.000Z ERROR auth: {"error":"interaction_required","error_description":"AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.\r\nTrace ID: babc8323-82e4-4fbf-89ad-356afe011182\r\nCorrelation ID: 1846413e-66c5-4bf8-a47e-1315c2010eed\r\nTimestamp: 2024-06-01 10:00:03Z","error_codes":[53003],"timestamp":"2024-06-01 10:00:03Z","trace_id":"babc8323-82e4-4fbf-89ad-356afe011182","correlation_id":"1846413e-66c5-4bf8-a47e-1315c2010eed"}`,
		`2024-06-01T10:00:04.000Z ERROR auth: MsalUiRequiredException: AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication. Trace ID: d2ac789d-d4e4-4f34-9738-b651e33758b0 Correlation ID: 409a3b5e-dd68-4ffa-9d9e-ca2ea7a43b4f Timestamp: 2024-06-01 10:00:04Z`,
	}
	var b strings.Builder
	b.Grow(size + 512)
	for i := 0; b.Len() < size; i++ {
		if i%997 == 500 {
			b.WriteString(errLines[(i/997)%2])
		} else {
			b.WriteString(lines[i%len(lines)])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func BenchmarkParse1MiB(b *testing.B) {
	text := realisticLog(1 << 20)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		ParseErrors(text)
	}
}

func BenchmarkParseAADSTSRepeated(b *testing.B) {
	text := strings.Repeat("AADSTS", 1<<20/6)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		ParseErrors(text)
	}
}

func BenchmarkParseBrowserPage(b *testing.B) {
	text := pasteFixtures(b)["browser_53003"]
	b.ReportAllocs()
	for b.Loop() {
		ParseErrors(text)
	}
}
