package graphtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

func TestFilterItems(t *testing.T) {
	items := []map[string]any{
		{"id": "1", "correlationId": "abc", "crossTenantAccessType": "serviceProvider", "homeTenantId": "P", "status": map[string]any{"errorCode": 53003.0}, "createdDateTime": "2025-11-25T10:00:00Z"},
		{"id": "2", "correlationId": "def", "crossTenantAccessType": "none", "homeTenantId": "C", "status": map[string]any{"errorCode": 0.0}, "createdDateTime": "2025-11-24T10:00:00Z"},
		{"id": "3", "correlationId": "o'brien", "mail": "x@y", "status": map[string]any{"errorCode": 50126.0}, "createdDateTime": "2025-11-20T10:00:00Z"},
	}
	tests := []struct {
		filter string
		want   []string
	}{
		{"", []string{"1", "2", "3"}},
		{"correlationId eq 'abc'", []string{"1"}},
		{"correlationId eq 'ABC'", []string{"1"}},
		{"correlationId eq 'o''brien'", []string{"3"}},
		{"status/errorCode ne 0", []string{"1", "3"}},
		{"createdDateTime ge 2025-11-24T00:00:00Z and crossTenantAccessType eq 'serviceProvider' and homeTenantId eq 'p' and status/errorCode ne 0", []string{"1"}},
		{"mail eq 'x@y' or correlationId eq 'def'", []string{"2", "3"}},
	}
	for _, tt := range tests {
		got, err := filterItems(items, tt.filter)
		if err != nil {
			t.Fatalf("%q: %v", tt.filter, err)
		}
		var ids []string
		for _, it := range got {
			ids = append(ids, it["id"].(string))
		}
		if len(ids) != len(tt.want) {
			t.Errorf("%q matched %v, want %v", tt.filter, ids, tt.want)
			continue
		}
		for i := range ids {
			if ids[i] != tt.want[i] {
				t.Errorf("%q matched %v, want %v", tt.filter, ids, tt.want)
			}
		}
	}
	if _, err := filterItems(items, "id like 'x'"); err == nil {
		t.Errorf("an unsupported operator was accepted")
	}
}

func TestMergePolicy(t *testing.T) {
	var p, patch map[string]any
	json.Unmarshal([]byte(`{"id":"p","state":"enabled","conditions":{"users":{"includeUsers":["All"],"excludeUsers":["u1"]},"applications":{"includeApplications":["All"]}}}`), &p)
	json.Unmarshal([]byte(`{"conditions":{"users":{"includeUsers":["All"]}}}`), &patch)
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	got := mergePolicy(p, patch, now)
	b, _ := json.Marshal(got)
	want := `{"conditions":{"applications":{"includeApplications":["All"]},"users":{"includeUsers":["All"]}},"id":"p","modifiedDateTime":"2025-01-02T03:04:05Z","state":"enabled"}`
	if string(b) != want {
		t.Errorf("merged =\n%s\nwant\n%s", b, want)
	}
	if _, ok := p["modifiedDateTime"]; ok {
		t.Errorf("mergePolicy modified its input")
	}
}

func TestLateEnumMembersHidden(t *testing.T) {
	p := map[string]any{"id": "p", "conditions": map[string]any{"platforms": map[string]any{
		"includePlatforms": []any{"linux", "windows"}, "excludePlatforms": []any{"linux"}}}}
	tests := []struct {
		prefer      string
		wantInclude []any
	}{
		{"", []any{"unknownFutureValue", "windows"}},
		{"include-unknown-enum-members", []any{"linux", "windows"}},
		{"odata.maxpagesize=10, include-unknown-enum-members", []any{"linux", "windows"}},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/v1.0/identity/conditionalAccess/policies", nil)
		if tt.prefer != "" {
			r.Header.Set("Prefer", tt.prefer)
		}
		got := asSeenBy(r, []map[string]any{p})[0]["conditions"].(map[string]any)["platforms"].(map[string]any)
		if !reflect.DeepEqual(got["includePlatforms"], tt.wantInclude) {
			t.Errorf("Prefer %q: includePlatforms = %v, want %v", tt.prefer, got["includePlatforms"], tt.wantInclude)
		}
	}
	if got := p["conditions"].(map[string]any)["platforms"].(map[string]any)["excludePlatforms"].([]any)[0]; got != "linux" {
		t.Errorf("the stored policy was changed: %v", got)
	}
}

// get sends a Graph GET as tenant's app would and returns the status and
// Retry-After.
func get(t *testing.T, s *Server, tenant, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.GraphURL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+Token(tenant, "app", time.Now().Add(time.Hour)))
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Retry-After")
}

// The policy-read limit counts each tenant's Conditional Access reads
// apart, answers the excess 429 without Retry-After, and leaves other
// routes alone.
func TestPolicyReadLimit(t *testing.T) {
	s := New(t)
	for _, id := range []string{"t1", "t2"} {
		s.AddTenant(&Tenant{ID: id})
	}
	s.SetPolicyReadLimit(1, time.Hour)
	steps := []struct {
		tenant, path string
		status       int
	}{
		{"t1", "/identity/conditionalAccess/policies", 200},
		{"t1", "/identity/conditionalAccess/namedLocations", 429},
		{"t1", "/identity/conditionalAccess/policies", 429},
		{"t2", "/identity/conditionalAccess/policies", 200},
		{"t1", "/policies/crossTenantAccessPolicy/default", 200},
	}
	for _, st := range steps {
		status, ra := get(t, s, st.tenant, st.path)
		if status != st.status || ra != "" {
			t.Errorf("%s %s: %d Retry-After %q, want %d without", st.tenant, st.path, status, ra, st.status)
		}
	}
	s.SetPolicyReadLimit(1, 50*time.Millisecond)
	if status, _ := get(t, s, "t1", "/identity/conditionalAccess/policies"); status != 200 {
		t.Fatalf("first read: %d", status)
	}
	time.Sleep(60 * time.Millisecond)
	if status, _ := get(t, s, "t1", "/identity/conditionalAccess/policies"); status != 200 {
		t.Errorf("a read after the window: %d, want 200", status)
	}
}

// SetThrottle answers about the share asked for 429, with its Retry-After.
func TestThrottle(t *testing.T) {
	s := New(t)
	s.AddTenant(&Tenant{ID: "t1"})
	s.KeepLog(false)
	s.SetThrottle(0.2, "1")
	n, throttled := 500, 0
	for range n {
		status, ra := get(t, s, "t1", "/policies/crossTenantAccessPolicy/default")
		if status == 429 {
			throttled++
			if ra != "1" {
				t.Fatalf("Retry-After %q, want 1", ra)
			}
		}
	}
	if throttled < n/10 || throttled > 3*n/10 {
		t.Errorf("%d of %d throttled, want about 20 %%", throttled, n)
	}
	if len(s.Requests()) != 0 {
		t.Errorf("KeepLog(false) logged %d requests", len(s.Requests()))
	}
}
