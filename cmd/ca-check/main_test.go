package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The shipped example tenant export (README.md, "Quick start").
const (
	exampleDir     = "../../diagnose/testdata/tenant"
	examplePartner = "4e8a1c55-7f1b-4c6e-9d2a-1b3c5d7e9f00"
	exampleTenant  = "a1b2c3d4-0000-4000-8000-000000000001"
)

// result is what one command line did.
type result struct {
	status         int
	stdout, stderr string
}

// cmd runs a command line in-process with stdin.
func cmd(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}
	status := run(t.Context(), args, c)
	return result{status, out.String(), errb.String()}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output (run go test -update after checking it):\n%s", path, got)
	}
}

func exampleArgs(extra ...string) []string {
	return append([]string{"diagnose",
		"--partner-tenant", examplePartner,
		"--policies", exampleDir + "/policies.json",
		"--named-locations", exampleDir + "/named-locations.json",
		"--sign-ins", exampleDir + "/sign-ins.json",
		"--cross-tenant", exampleDir + "/cross-tenant.json",
		"--error-file", exampleDir + "/error.txt",
	}, extra...)
}

// The diagnose --json contract of issue 2, checked on the example tenant:
// every input policy exactly once, wouldBe only for report_only, a patch
// only for blocks and may_block, and the paste's facts in the scenario.
func TestDiagnoseJSONContract(t *testing.T) {
	r := cmd(t, "", exampleArgs("--json")...)
	if r.status != 0 || r.stderr != "" {
		t.Fatalf("status %d, stderr %q", r.status, r.stderr)
	}
	golden(t, "example-diagnose.json", r.stdout)

	var out struct {
		Verdict   string `json:"verdict"`
		Confirmed bool   `json:"confirmed"`
		Tenant    struct {
			ID string `json:"id"`
		} `json:"tenant"`
		Scenario map[string]any `json:"scenario"`
		Policies []struct {
			ID      string          `json:"id"`
			Effect  string          `json:"effect"`
			WouldBe string          `json:"wouldBe"`
			Reasons []string        `json:"reasons"`
			Patch   json.RawMessage `json:"patch"`
		} `json:"policies"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if out.Verdict != "blocked" || !out.Confirmed {
		t.Errorf("verdict %q confirmed %v, want blocked and confirmed by the sign-in log", out.Verdict, out.Confirmed)
	}
	if out.Tenant.ID != exampleTenant {
		t.Errorf("tenant %q, want the paste's sign-in tenant %s", out.Tenant.ID, exampleTenant)
	}
	for k, want := range map[string]string{"ipAddress": "203.0.113.7", "platform": "windows", "correlationId": "7d2c4b91-3f5e-4a8b-b1c6-0e9f2a4d6c83"} {
		if got, _ := out.Scenario[k].(string); got != want {
			t.Errorf("scenario.%s = %q, want %q from the error file", k, got, want)
		}
	}

	raw, err := os.ReadFile(exampleDir + "/policies.json")
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, p := range out.Policies {
		seen[p.ID]++
		if (p.WouldBe != "") != (p.Effect == "report_only") {
			t.Errorf("policy %s: effect %s with wouldBe %q", p.ID, p.Effect, p.WouldBe)
		}
		if blocking := p.Effect == "blocks" || p.Effect == "may_block"; blocking != (len(p.Patch) > 0) {
			t.Errorf("policy %s: effect %s with patch %s", p.ID, p.Effect, p.Patch)
		}
		if len(p.Reasons) == 0 {
			t.Errorf("policy %s: no reasons", p.ID)
		}
	}
	if len(out.Policies) != len(in.Value) {
		t.Errorf("%d policies out, %d in", len(out.Policies), len(in.Value))
	}
	for _, p := range in.Value {
		if seen[p.ID] != 1 {
			t.Errorf("policy %s reported %d times", p.ID, seen[p.ID])
		}
	}
}

// Flags win over the error file; the text output names the tenant in the
// guide instead of a placeholder.
func TestDiagnoseTextAndGuide(t *testing.T) {
	r := cmd(t, "", exampleArgs("--guide", "--platform", "macOS")...)
	if r.status != 0 {
		t.Fatalf("status %d: %s", r.status, r.stderr)
	}
	golden(t, "example-diagnose-guide.txt", r.stdout)
	if !strings.Contains(r.stdout, "Device platform: macOS") {
		t.Error("--platform macOS did not win over the paste's Windows 10")
	}
	if strings.Contains(r.stdout, "CUSTOMER-TENANT-ID") || !strings.Contains(r.stdout, exampleTenant) {
		t.Error("the guide does not name the customer tenant from the paste")
	}
	if !strings.Contains(r.stdout, "Update-MgIdentityConditionalAccessPolicy") {
		t.Error("the guide has no PowerShell step")
	}
}

func TestParse(t *testing.T) {
	paste, err := os.ReadFile("../../diagnose/testdata/paste/browser_53003.txt")
	if err != nil {
		t.Fatal(err)
	}
	r := cmd(t, string(paste), "parse", "--json", "-")
	if r.status != 0 {
		t.Fatalf("status %d: %s", r.status, r.stderr)
	}
	golden(t, "parse-browser.json", r.stdout)
	var out struct {
		Errors []struct {
			Code     int    `json:"code"`
			Category string `json:"category"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) != 1 || out.Errors[0].Code != 53003 || out.Errors[0].Category != "conditional_access" {
		t.Errorf("errors = %+v, want one 53003 conditional_access", out.Errors)
	}

	var many strings.Builder
	for i := range 1001 {
		fmt.Fprintf(&many, "AADSTS53003 Correlation Id: 00000000-0000-4000-8000-%012d\n", i)
	}
	r = cmd(t, many.String(), "parse", "--json")
	if r.status != 0 || !strings.Contains(r.stdout, `"truncated": true`) || !strings.Contains(r.stderr, "only the first 1000 errors") {
		t.Errorf("1001 errors: status %d, stderr %q, truncated not said", r.status, r.stderr)
	}

	if r := cmd(t, "nothing to see", "parse", "--json"); r.status != 0 || strings.TrimSpace(r.stdout) != `{
  "errors": []
}` {
		t.Errorf("a paste with no error: status %d, %q", r.status, r.stdout)
	}
}

// Bad usage and bad input: exit 2 and one line that names the file and
// what is wrong with it; help exits 0.
func TestBadUsage(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	truncated := write("truncated.json", `{"value":[{"id":"x","displayName":"Block`)
	wrongKind := write("locations.json", `{"value":[{"@odata.type":"#microsoft.graph.ipNamedLocation","id":"l1","displayName":"Office","ipRanges":[]}]}`)
	binary := write("binary.json", "\x00\x01\x02\xff\xfe")
	noError := write("paste.txt", "the user says it does not work")
	twice := filepath.Join(dir, "twice")
	example, err := os.ReadFile(exampleDir + "/policies.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.json", "b.json"} {
		if err := os.MkdirAll(twice, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(twice, name), example, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name   string
		args   []string
		status int
		want   []string // in stderr
	}{
		{"no command", nil, 2, []string{"Usage: ca-check COMMAND"}},
		{"unknown command", []string{"fix"}, 2, []string{`unknown command "fix"`}},
		{"unknown flag", []string{"diagnose", "--polices", "x"}, 2, []string{"flag provided but not defined: -polices"}},
		{"no evidence", []string{"diagnose", "--partner-tenant", examplePartner}, 2, []string{"give --policies PATH (offline) or --tenant TENANT (live)"}},
		{"no partner", []string{"diagnose", "--policies", truncated}, 2, []string{"the partner tenant is required"}},
		{"bad partner", []string{"diagnose", "--partner-tenant", "contoso", "--policies", truncated}, 2, []string{`--partner-tenant "contoso" is not a tenant ID`}},
		{"missing file", []string{"diagnose", "--partner-tenant", examplePartner, "--policies", filepath.Join(dir, "nope.json")}, 2, []string{"nope.json", "no such file"}},
		{"truncated JSON", []string{"diagnose", "--partner-tenant", examplePartner, "--policies", truncated}, 2, []string{"truncated.json"}},
		{"wrong kind", []string{"diagnose", "--partner-tenant", examplePartner, "--policies", wrongKind}, 2, []string{"locations.json"}},
		{"binary", []string{"diagnose", "--partner-tenant", examplePartner, "--policies", binary}, 2, []string{"binary.json"}},
		{"error file without error", append(exampleArgs()[:5], "--error-file", noError), 2, []string{"paste.txt: no AADSTS error code found"}},
		{"bad platform", exampleArgs("--platform", "amiga"), 2, []string{`--platform "amiga"`}},
		{"bad ip", exampleArgs("--ip", "300.1.1.1"), 2, []string{`--ip "300.1.1.1" is not an IP address`}},
		{"a directory with one export twice", []string{"diagnose", "--partner-tenant", examplePartner, "--policies", twice}, 2, []string{"twice: policy 0b8f4c1e-5a2d-4e7b-9c3f-1d6a8e2b4f01 appears twice"}},
		{"misspelt role", exampleArgs("--roles", "Global Administrator,Globl Admin"), 2, []string{`--roles: "Globl Admin" is neither`}},
		{"misspelt app", exampleArgs("--app", "Exchnge"), 2, []string{`--app "Exchnge" is neither`}},
		{"json and markdown", exampleArgs("--json", "--markdown"), 2, []string{"--json and --markdown exclude each other"}},
		{"live and offline", exampleArgs("--tenant", "contoso.com"), 2, []string{"exclude each other"}},
		{"help", []string{"diagnose", "--help"}, 0, []string{"Usage: ca-check diagnose", "-policies"}},
		{"help command", []string{"help", "nope"}, 2, []string{`no help for "nope"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cmd(t, "", tt.args...)
			if r.status != tt.status {
				t.Errorf("status %d, want %d; stderr:\n%s", r.status, tt.status, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not say %q", r.stderr, w)
				}
			}
			if tt.status == 2 && len(tt.want) > 0 && !strings.HasPrefix(tt.want[0], "Usage") && !strings.HasPrefix(tt.want[0], "flag") && strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 && !strings.Contains(r.stderr, "Usage") {
				t.Errorf("more than one line on stderr:\n%s", r.stderr)
			}
		})
	}
}

// Every variable of both configurations is listed with its default.
func TestHelpEnv(t *testing.T) {
	r := cmd(t, "", "help", "env")
	if r.status != 0 {
		t.Fatalf("status %d: %s", r.status, r.stderr)
	}
	for _, v := range []string{
		"CACHECK_SLACK_APP_TOKEN", "CACHECK_SLACK_BOT_TOKEN", "CACHECK_SLACK_SIGNING_SECRET", "CACHECK_HTTP_ADDR",
		"CACHECK_SLACK_API_URL (default https://slack.com/api/)", "CACHECK_DB (default ./ca-check.db)",
		"CACHECK_PARTNER_TENANT_ID", "CACHECK_CLIENT_ID", "CACHECK_CLIENT_SECRET", "CACHECK_CLIENT_CERTIFICATE_PATH",
		"CACHECK_CLOUD (default public)", "CACHECK_GRAPH_URL", "CACHECK_AUTHORITY_HOST",
	} {
		if !strings.Contains(r.stdout, v) {
			t.Errorf("help env does not list %s", v)
		}
	}
}

// serve with nothing configured names everything missing in one message,
// and never starts.
func TestServeMissingConfig(t *testing.T) {
	for _, k := range []string{"CACHECK_SLACK_BOT_TOKEN", "CACHECK_SLACK_APP_TOKEN", "CACHECK_PARTNER_TENANT_ID", "CACHECK_CLIENT_ID", "CACHECK_CLIENT_SECRET"} {
		t.Setenv(k, "")
	}
	// A value of the wrong type is one more problem in the same message.
	t.Setenv("CACHECK_WORKERS", "many")
	r := cmd(t, "", "serve")
	if r.status != 2 || !strings.Contains(r.stderr, `CACHECK_WORKERS is "many", not a whole number`) || !strings.Contains(r.stderr, "CACHECK_SLACK_BOT_TOKEN is not set") {
		t.Errorf("status %d, stderr %q", r.status, r.stderr)
	}
	os.Unsetenv("CACHECK_WORKERS") // t.Setenv restores it
	t.Setenv("CACHECK_CLIENT_SECRET", "very-secret-value")
	r = cmd(t, "", "serve")
	for _, w := range []string{"CACHECK_SLACK_BOT_TOKEN is not set", "CACHECK_PARTNER_TENANT_ID is required", "CACHECK_CLIENT_ID is required", "ca-check help env"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
		}
	}
	if r.status != 2 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("status %d, want 2 and one line:\n%s", r.status, r.stderr)
	}
	if strings.Contains(r.stderr, "very-secret-value") {
		t.Error("the error shows the client secret")
	}
}

func TestHealthcheck(t *testing.T) {
	healthy := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || !healthy {
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	if r := cmd(t, "", "healthcheck", "--addr", addr); r.status != 0 {
		t.Errorf("healthy: status %d, %s", r.status, r.stderr)
	}
	healthy = false
	t.Setenv("CACHECK_HEALTH_ADDR", addr)
	if r := cmd(t, "", "healthcheck"); r.status != 1 || !strings.Contains(r.stderr, "503") {
		t.Errorf("unhealthy: status %d, %s", r.status, r.stderr)
	}
}

// The README's Configuration section lists every variable 'help env' does,
// so that a variable added to a Config is documented too.
func TestREADMEListsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	r := cmd(t, "", "help", "env")
	n := 0
	for line := range strings.Lines(r.stdout) {
		if !strings.HasPrefix(line, "CACHECK_") {
			continue
		}
		n++
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if !bytes.Contains(readme, []byte("| `"+name+"` |")) {
			t.Errorf("README.md's Configuration tables do not list %s", name)
		}
	}
	if n < 20 {
		t.Errorf("help env listed %d variables", n)
	}
}

// Roles and apps may be named as people know them; the scenario holds IDs.
func TestRolesAndAppsByName(t *testing.T) {
	r := cmd(t, "", exampleArgs("--json", "--roles", "global administrator, 11111111-2222-4333-8444-555555555555", "--app", "office 365 exchange online")...)
	if r.status != 0 {
		t.Fatalf("status %d: %s", r.status, r.stderr)
	}
	var out struct {
		Scenario struct {
			Apps       []string `json:"apps"`
			Roles      []string `json:"roles"`
			RolesKnown bool     `json:"rolesKnown"`
		} `json:"scenario"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	sc := out.Scenario
	if strings.Join(sc.Roles, ",") != "62e90394-69f5-4237-9190-012177145e10,11111111-2222-4333-8444-555555555555" || !sc.RolesKnown {
		t.Errorf("roles %q (known %v)", sc.Roles, sc.RolesKnown)
	}
	if strings.Join(sc.Apps, ",") != "00000002-0000-0ff1-ce00-000000000000" {
		t.Errorf("apps %q, want Exchange Online's ID", sc.Apps)
	}
}

// A folder of exports where a file cannot be read: the file is named with
// why on stderr and in missing, the rest is evaluated, and the answer is
// never not_blocked while something was skipped.
func TestDiagnoseFolderWithUnreadableFile(t *testing.T) {
	const baseline = "../../diagnose/testdata/export/baseline"
	r := cmd(t, "", "diagnose", "--partner-tenant", examplePartner, "--policies", baseline, "--json")
	if r.status != 0 {
		t.Fatalf("status %d: %s", r.status, r.stderr)
	}
	broken := filepath.Join(baseline, "CA102-Require-MFA-for-all-users.json")
	if !strings.Contains(r.stderr, "ca-check: skipped "+broken+": a placeholder, <ExclusionGroup>, at line 8") {
		t.Errorf("stderr does not name the unreadable file and why: %q", r.stderr)
	}
	var out struct {
		Verdict        string   `json:"verdict"`
		Missing        []string `json:"missing"`
		UnreadPolicies []string `json:"unreadPolicies"`
		Policies       []struct {
			DisplayName string `json:"displayName"`
		} `json:"policies"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Policies) != 2 {
		t.Errorf("%d policies evaluated, want the 2 readable ones", len(out.Policies))
	}
	if len(out.UnreadPolicies) != 1 || !strings.Contains(strings.Join(out.Missing, "\n"), broken) {
		t.Errorf("missing %q, unreadPolicies %q: want the unreadable file named", out.Missing, out.UnreadPolicies)
	}

	// What was read blocks nothing: still not an all-clear.
	dir := t.TempDir()
	mfa := `{"id":"7e1a3c5b-0000-4000-8000-000000000001","displayName":"Require MFA","state":"enabled","conditions":{"users":{"includeUsers":["All"]},"applications":{"includeApplications":["All"]}},"grantControls":{"operator":"OR","builtInControls":["mfa"]}}`
	for name, content := range map[string]string{"mfa.json": mfa, "cut.json": `{"id":"x","displayName":"Block`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r = cmd(t, "", "diagnose", "--partner-tenant", examplePartner, "--policies", dir)
	if r.status != 0 {
		t.Fatalf("status %d: %s", r.status, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "Possibly blocked: no policy read blocks service provider users of "+examplePartner+"; 1 policy export could not be read") ||
		!strings.Contains(r.stdout, "cut.json: truncated JSON") || !strings.Contains(r.stderr, "skipped "+filepath.Join(dir, "cut.json")) {
		t.Errorf("status %d\nstdout:\n%s\nstderr:\n%s", r.status, r.stdout, r.stderr)
	}

	// Nothing readable at all is bad input.
	if err := os.Remove(filepath.Join(dir, "mfa.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "binary.json"), []byte{0, 1, 2, 0xff}, 0o644); err != nil {
		t.Fatal(err)
	}
	r = cmd(t, "", "diagnose", "--partner-tenant", examplePartner, "--policies", dir)
	if r.status != 2 || !strings.Contains(r.stderr, "none of its 2 .json files could be read") {
		t.Errorf("no file readable: status %d, stderr %q", r.status, r.stderr)
	}
}

// The README's export commands, tried against the shipped example: the
// example tenant as Get-MgIdentityConditionalAccessPolicy,
// Get-MgIdentityConditionalAccessNamedLocation, Get-MgAuditLogSignIn and
// Get-MgPolicyCrossTenantAccessPolicyPartner write it (| ConvertTo-Json
// -Depth 10) gives the diagnosis of its Graph export, byte for byte.
func TestExportFormsOfTheExample(t *testing.T) {
	graph := cmd(t, "", exampleArgs("--json")...)
	const ps = "../../diagnose/testdata/tenant-powershell"
	r := cmd(t, "", "diagnose", "--partner-tenant", examplePartner,
		"--policies", ps+"/policies.json", "--named-locations", ps+"/named-locations.json",
		"--sign-ins", ps+"/sign-ins.json", "--cross-tenant", ps+"/cross-tenant.json",
		"--error-file", exampleDir+"/error.txt", "--json")
	if r.status != 0 || graph.status != 0 {
		t.Fatalf("status %d (%s), %d (%s)", r.status, r.stderr, graph.status, graph.stderr)
	}
	if r.stdout != graph.stdout {
		t.Errorf("the PowerShell export diagnoses differently from the Graph export:\n%s", r.stdout)
	}
}
