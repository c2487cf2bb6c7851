package main

import (
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionOf(t *testing.T) {
	vcs := func(rev, tm, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: tm}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name     string
		bi       *debug.BuildInfo
		override string
		line, ua string
	}{
		{
			"go install of a tag",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/cacheck/ca-check", Version: "v1.2.3"}},
			"", "ca-check v1.2.3, go1.26.8", "ca-check/v1.2.3",
		},
		{
			"a clone with changes",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "2026-12-01T10:00:00Z", "true")},
			"", "ca-check (devel), commit 0123456789ab with uncommitted changes, committed 2026-12-01T10:00:00Z, go1.26.8",
			"ca-check/devel (commit 0123456789ab+dirty; 2026-12-01T10:00:00Z)",
		},
		{
			"a clean clone",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.3.0"}, Settings: vcs(rev, "2026-12-01T10:00:00Z", "false")},
			"", "ca-check v1.3.0, commit 0123456789ab, committed 2026-12-01T10:00:00Z, go1.26.8",
			"ca-check/v1.3.0 (commit 0123456789ab; 2026-12-01T10:00:00Z)",
		},
		{
			"the Dockerfile's VERSION",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"v1.4.0-3-gabcdef1", "ca-check v1.4.0-3-gabcdef1, go1.26.8", "ca-check/v1.4.0-3-gabcdef1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := versionOf(tt.bi, tt.override)
			if got := v.String(); got != tt.line {
				t.Errorf("String() = %q, want %q", got, tt.line)
			}
			if got := v.UserAgent(); got != tt.ua {
				t.Errorf("UserAgent() = %q, want %q", got, tt.ua)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	r := cmd(t, "", "version")
	if r.status != 0 || !strings.HasPrefix(r.stdout, "ca-check ") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("version: status %d, %q, stderr %q", r.status, r.stdout, r.stderr)
	}
	if r := cmd(t, "", "version", "extra"); r.status != 2 {
		t.Errorf("version extra: status %d", r.status)
	}
}

// ca-check's product comes first, ahead of what the SDKs set; a request
// without one gets ours alone; the caller's request is left as it was.
func TestWithUserAgent(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("User-Agent"))
	}))
	defer srv.Close()
	hc := &http.Client{Transport: withUserAgent("ca-check/v1", http.DefaultTransport)}
	for _, ua := range []string{"", "kiota-go/1.5", "ca-check/v1 kiota-go/1.5"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		if ua != "" {
			req.Header.Set("User-Agent", ua)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if req.Header.Get("User-Agent") != ua {
			t.Errorf("the caller's request was changed: %q", req.Header.Get("User-Agent"))
		}
	}
	want := []string{"ca-check/v1", "ca-check/v1 kiota-go/1.5", "ca-check/v1 kiota-go/1.5"}
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Errorf("the server saw %q, want %q", seen, want)
	}
}
