package graphclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient"
)

// staleReads serves the policy as it was before the PATCH to the first
// reads after it, as a directory replica the write has not reached would.
type staleReads struct {
	base   http.RoundTripper
	before []byte

	mu      sync.Mutex
	patched bool
	stale   int // reads after the PATCH still to answer with before
	reads   int // reads after the PATCH
}

func (s *staleReads) RoundTrip(req *http.Request) (*http.Response, error) {
	onPolicy := strings.Contains(req.URL.Path, policiesPath+"/")
	s.mu.Lock()
	if onPolicy && req.Method == http.MethodPatch {
		s.patched = true
	}
	readBack := onPolicy && req.Method == http.MethodGet && s.patched
	if readBack {
		s.reads++
	}
	serveStale := readBack && s.stale > 0
	if serveStale {
		s.stale--
	}
	s.mu.Unlock()
	if serveStale {
		return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/json"}, "Request-Id": {"stale-read"}},
			Body:   io.NopCloser(bytes.NewReader(s.before)), ContentLength: int64(len(s.before)), Request: req}, nil
	}
	return s.base.RoundTrip(req)
}

// TestApplyReadBackLag: a read-back that does not show the write yet is
// read again, a bounded number of times, before the write is reported as
// not taken.
func TestApplyReadBackLag(t *testing.T) {
	tests := []struct {
		name      string
		stale     int
		wantErr   string // "" for success
		wantReads int    // reads of the policy after the PATCH
	}{
		{"up to date", 0, "", 1},
		{"one stale read", 1, "", 2},
		{"two stale reads", 2, "", 3},
		{"never shows the write", 10, "reading it back shows a different exclusion", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			before, err := json.Marshal(s.Policy(customerID, polBlock))
			if err != nil {
				t.Fatal(err)
			}
			tr := &staleReads{base: s.Client().Transport, before: before, stale: tt.stale}
			c := newClient(t, s, nil, graphclient.WithHTTPClient(&http.Client{Transport: tr}))
			graphclient.SetReadBackDelay(c, time.Millisecond)
			plan := planFor(t, c, polBlock)

			res, err := c.Apply(context.Background(), customerID, plan)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Apply: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(diagnose.ErrorMessage(err), tt.wantErr)):
				t.Fatalf("Apply = %v, want a message with %q", err, tt.wantErr)
			}
			if tt.wantErr == "" && (res.Effect != diagnose.EffectExcluded || !res.After.Excludes(partnerID)) {
				t.Errorf("result: effect %s, after %s", res.Effect, diagnose.DescribeExclusion(res.After))
			}
			if tr.reads != tt.wantReads {
				t.Errorf("%d reads after the PATCH, want %d", tr.reads, tt.wantReads)
			}
			if n := len(s.GraphRequests(http.MethodPatch, policiesPath)); n != 1 {
				t.Errorf("%d PATCHes, want 1", n)
			}
		})
	}
}
