package main

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/cacheck/ca-check/diagnose"
)

// buildVersion is what the Go toolchain recorded about this binary: the
// module version ('go install …@v1.2.3' sets it; a build from a clone is
// "(devel)" unless the Dockerfile's VERSION says otherwise) and, for a build
// from a git clone, the commit, its time and whether the tree had
// uncommitted changes. Go records no build time (builds are reproducible),
// so the commit's time stands for it.
type buildVersion struct {
	Version  string // v1.2.3, a pseudo-version, or (devel)
	Commit   string // full hash, or ""
	Time     string // RFC 3339 commit time, or ""
	Modified bool   // built from a tree with uncommitted changes
	Go       string // the toolchain, e.g. go1.26.8
}

// version is set by the Dockerfile (-ldflags -X main.version=…), whose
// build context holds no .git from which Go could read the commit.
var version string

// readVersion reads the binary's build information.
func readVersion() buildVersion {
	bi, _ := debug.ReadBuildInfo()
	return versionOf(bi, version)
}

// versionOf is readVersion for a given build information and -X version.
func versionOf(bi *debug.BuildInfo, override string) buildVersion {
	v := buildVersion{Version: "(devel)", Go: runtime.Version()}
	if bi != nil {
		if bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			v.Go = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if override != "" {
		v.Version = override
	}
	return v
}

// shortCommit is the commit's first 12 hex digits, as git and Go's
// pseudo-versions show it.
func (v buildVersion) shortCommit() string {
	if len(v.Commit) > 12 {
		return v.Commit[:12]
	}
	return v.Commit
}

// String is the line 'ca-check version' prints.
func (v buildVersion) String() string {
	var b strings.Builder
	b.WriteString("ca-check " + v.Version)
	if v.Commit != "" {
		b.WriteString(", commit " + v.shortCommit())
		if v.Modified {
			b.WriteString(" with uncommitted changes")
		}
	}
	if v.Time != "" {
		b.WriteString(", committed " + v.Time)
	}
	b.WriteString(", " + v.Go)
	return b.String()
}

// UserAgent is the product token sent to Graph, Entra ID and Slack, so that
// their logs (and a partner's proxy) tell which ca-check asked:
// "ca-check/v1.2.3 (commit 0123456789ab; 2026-12-01T10:00:00Z)".
func (v buildVersion) UserAgent() string {
	// A product version is a token: "(devel)" is not one.
	ua := "ca-check/" + strings.Trim(v.Version, "()")
	var comment []string
	if v.Commit != "" {
		c := "commit " + v.shortCommit()
		if v.Modified {
			c += "+dirty"
		}
		comment = append(comment, c)
	}
	if v.Time != "" {
		comment = append(comment, v.Time)
	}
	if len(comment) > 0 {
		ua += " (" + strings.Join(comment, "; ") + ")"
	}
	return ua
}

// logAttrs are the version's fields for the start-up log line.
func (v buildVersion) logAttrs() []any {
	return []any{"version", v.Version, "commit", v.Commit, "commit_time", v.Time, "modified", v.Modified, "go", v.Go}
}

func runVersion(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "version", "", "Prints the module version, the commit it was built from and the commit's time;\nthe same is in the start-up log and the User-Agent sent to Graph and Slack.\n")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return diagnose.Errorf(diagnose.EINVALID, "version takes no arguments")
	}
	_, err := fmt.Fprintln(c.stdout, c.buildVersion().String())
	return err
}

// withUserAgent returns a transport that puts ua first in every request's
// User-Agent, ahead of what the SDK above it set (kiota's, azidentity's),
// over next.
func withUserAgent(ua string, next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		// A RoundTripper must not change the caller's request.
		req = req.Clone(req.Context())
		switch cur := req.Header.Get("User-Agent"); {
		case cur == "":
			req.Header.Set("User-Agent", ua)
		case !strings.HasPrefix(cur, ua):
			req.Header.Set("User-Agent", ua+" "+cur)
		}
		return next.RoundTrip(req)
	})
}
