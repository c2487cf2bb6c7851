package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Every attempt is counted by endpoint and status, throttles apart.
func TestGraphMetrics(t *testing.T) {
	status := map[string]int{"/v1.0/identity/conditionalAccess/policies": 429, "/v1.0/identity/conditionalAccess/namedLocations": 503, "/tenant/oauth2/v2.0/token": 200}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status[r.URL.Path])
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	m := newGraphMetrics(reg)
	hc := &http.Client{Transport: m.wrap(http.DefaultTransport)}
	for _, path := range []string{"/v1.0/identity/conditionalAccess/policies", "/v1.0/identity/conditionalAccess/policies", "/v1.0/identity/conditionalAccess/namedLocations", "/tenant/oauth2/v2.0/token"} {
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	tests := []struct {
		c    prometheus.Collector
		want float64
	}{
		{m.requests.WithLabelValues("graph", "429"), 2},
		{m.requests.WithLabelValues("login", "200"), 1},
		{m.requests.WithLabelValues("graph", "503"), 1},
		{m.throttled.WithLabelValues("graph"), 2},
		{m.throttled.WithLabelValues("login"), 0},
	}
	for i, tt := range tests {
		if got := testutil.ToFloat64(tt.c); got != tt.want {
			t.Errorf("series %d = %v, want %v", i, got, tt.want)
		}
	}
}
