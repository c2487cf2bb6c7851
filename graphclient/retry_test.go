package graphclient_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient"
	"github.com/cacheck/ca-check/graphclient/graphtest"
)

const (
	policiesPath = "/identity/conditionalAccess/policies"
	whatIfPath   = "/identity/conditionalAccess/evaluate"
)

// TestRetries: reads are retried after 500, 502 and transport failures
// (a dropped connection, a hung attempt), within MaxRetries; a Retry-After
// longer than the deadline is reported at once, as throttling.
func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		fault    graphtest.Fault
		timeout  time.Duration
		wantCode string
		wantMsg  []string
		path     string // route whose requests are counted
		method   string
		wantReqs int
	}{
		{name: "500 retried then success", fault: graphtest.Fault{Path: policiesPath, Status: 500, Code: "InternalServerError", Times: 2},
			path: policiesPath, method: "GET", wantReqs: 3},
		{name: "502 retried then success", fault: graphtest.Fault{Path: policiesPath, Status: 502, Code: "BadGateway", Times: 3},
			path: policiesPath, method: "GET", wantReqs: 4},
		{name: "500 until retries run out", fault: graphtest.Fault{Path: policiesPath, Status: 500, Code: "InternalServerError"},
			wantCode: diagnose.EUNAVAILABLE, wantMsg: []string{"Microsoft Graph failed reading the Conditional Access policies", "(500)"},
			path: policiesPath, method: "GET", wantReqs: 4},
		{name: "hung attempt retried", fault: graphtest.Fault{Path: policiesPath, Hang: true, Times: 1}, timeout: time.Second,
			path: policiesPath, method: "GET", wantReqs: 2},
		{name: "What If dropped connection retried", fault: graphtest.Fault{Path: whatIfPath, Drop: true, Times: 2},
			path: whatIfPath, method: "POST", wantReqs: 3},
		{name: "What If 500 retried", fault: graphtest.Fault{Path: whatIfPath, Status: 500, Times: 1},
			path: whatIfPath, method: "POST", wantReqs: 2},
		{name: "Retry-After beyond the deadline", fault: graphtest.Fault{Path: policiesPath, Status: 429, Code: "TooManyRequests", RetryAfter: "30"},
			wantCode: diagnose.EUNAVAILABLE, wantMsg: []string{"Microsoft Graph is throttling ca-check in tenant " + customerID, "retry after 30 s"},
			path: policiesPath, method: "GET", wantReqs: 1},
		{name: "503 Retry-After beyond the deadline", fault: graphtest.Fault{Path: policiesPath, Status: 503, RetryAfter: "120"},
			wantCode: diagnose.EUNAVAILABLE, wantMsg: []string{"(503); retry after 120 s"},
			path: policiesPath, method: "GET", wantReqs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			s.Fail(tt.fault)
			c := newClient(t, s, func(cfg *graphclient.Config) {
				if tt.timeout != 0 {
					cfg.GraphTimeout = tt.timeout
				}
			})
			graphclient.SetRetryBase(c, time.Millisecond)
			d, err := c.Diagnose(context.Background(), customerID, scenario())
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Diagnose: %v", err)
				}
				if len(d.Missing) != 0 || len(d.Policies) != 4 {
					t.Errorf("missing = %q, %d policies; want everything read", d.Missing, len(d.Policies))
				}
			} else {
				if got := diagnose.ErrorCode(err); got != tt.wantCode {
					t.Fatalf("Diagnose = %v (code %q), want %s", err, got, tt.wantCode)
				}
				for _, w := range tt.wantMsg {
					if !strings.Contains(diagnose.ErrorMessage(err), w) {
						t.Errorf("message %q does not say %q", diagnose.ErrorMessage(err), w)
					}
				}
			}
			if n := len(s.GraphRequests(tt.method, tt.path)); n != tt.wantReqs {
				t.Errorf("%d %s %s requests, want %d", n, tt.method, tt.path, tt.wantReqs)
			}
		})
	}
}

// TestWriteNotRetried: a PATCH is resent only when Graph says it was not
// processed (429, 503), never after a 500 or a dropped connection, where it
// may have landed.
func TestWriteNotRetried(t *testing.T) {
	tests := []struct {
		name     string
		fault    graphtest.Fault
		wantErr  string // substring of the message; "" for success
		wantReqs int
	}{
		{"500", graphtest.Fault{Method: "PATCH", Status: 500, Times: 1}, "(500)", 1},
		{"502", graphtest.Fault{Method: "PATCH", Status: 502, Times: 1}, "(502)", 1},
		{"dropped connection", graphtest.Fault{Method: "PATCH", Drop: true, Times: 1}, "the connection was closed without an answer; check", 1},
		{"503 retried", graphtest.Fault{Method: "PATCH", Status: 503, RetryAfter: "0", Times: 1}, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			c := newClient(t, s, nil)
			graphclient.SetRetryBase(c, time.Millisecond)
			plan := planFor(t, c, polBlock)
			s.Fail(tt.fault)
			_, err := c.Apply(context.Background(), customerID, plan)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Apply: %v", err)
			case tt.wantErr != "" && !strings.Contains(diagnose.ErrorMessage(err), tt.wantErr):
				t.Errorf("Apply = %v, want a message with %q", err, tt.wantErr)
			}
			if n := len(s.GraphRequests("PATCH", policiesPath)); n != tt.wantReqs {
				t.Errorf("%d PATCHes, want %d", n, tt.wantReqs)
			}
		})
	}
}

// TestAuthorityUnreachable: a token endpoint that cannot be reached, or
// does not answer, is a network problem named by host, not a missing
// consent, nor Graph's timeout.
func TestAuthorityUnreachable(t *testing.T) {
	tests := []struct {
		name      string
		authority string
		want      []string
	}{
		{"connection refused", "https://127.0.0.1:1/", []string{"could not reach Entra ID at 127.0.0.1:1 to read the Conditional Access policies in tenant " + customerID + ": connection refused; check that 127.0.0.1:1 is the right address (CACHECK_CLOUD / CACHECK_AUTHORITY_HOST)"}},
		{"no answer", "", []string{"Entra ID at 127.0.0.1:", "did not issue a token for tenant " + customerID + " within 300ms"}},
		{"no such host", "https://login.ca-check-test.invalid/", []string{"could not reach Entra ID at login.ca-check-test.invalid to read the Conditional Access policies in tenant " + customerID + ": the host name does not resolve; check the host name (CACHECK_CLOUD / CACHECK_AUTHORITY_HOST) and this machine's DNS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			// The sandbox's resolver may be slow or absent: the dialer
			// answers for .invalid as a resolver does, at once.
			tr := s.Client().Transport.(*http.Transport).Clone()
			var d net.Dialer
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				if host, _, _ := net.SplitHostPort(addr); strings.HasSuffix(host, ".invalid") {
					return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
				}
				return d.DialContext(ctx, network, addr)
			}
			if tt.authority == "" {
				s.Fail(graphtest.Fault{Path: "/oauth2/v2.0/token", Hang: true})
			}
			c := newClient(t, s, func(cfg *graphclient.Config) {
				if tt.authority != "" {
					cfg.AuthorityHost = tt.authority
				}
				cfg.GraphTimeout = 300 * time.Millisecond
			}, graphclient.WithHTTPClient(&http.Client{Transport: tr}))
			graphclient.SetRetryBase(c, time.Millisecond)
			_, err := c.Diagnose(context.Background(), customerID, scenario())
			msg := diagnose.ErrorMessage(err)
			if diagnose.ErrorCode(err) != diagnose.EUNAVAILABLE || strings.Contains(msg, "consent") {
				t.Errorf("Diagnose = %q (code %q), want EUNAVAILABLE and no word of consent", msg, diagnose.ErrorCode(err))
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not say %q", msg, w)
				}
			}
		})
	}
}
