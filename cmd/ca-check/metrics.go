package main

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// graphMetrics counts the requests graphclient sends, under the Graph SDK's
// retry middleware, so that every attempt and every throttle is seen.
type graphMetrics struct {
	requests  *prometheus.CounterVec
	throttled *prometheus.CounterVec
}

func newGraphMetrics(reg prometheus.Registerer) *graphMetrics {
	m := &graphMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cacheck_graph_requests_total",
			Help: "HTTP requests to Microsoft Graph and Entra ID (endpoint graph or login), retries included, by status code (0: no response).",
		}, []string{"endpoint", "code"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cacheck_graph_throttled_total",
			Help: "Responses 429 (throttled) from Microsoft Graph and Entra ID, by endpoint; 5xx are in cacheck_graph_requests_total by code.",
		}, []string{"endpoint"}),
	}
	reg.MustRegister(m.requests, m.throttled)
	return m
}

// wrap returns a transport that counts what passes through next.
func (m *graphMetrics) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		endpoint := "graph"
		if p := req.URL.Path; strings.Contains(p, "/oauth2/") || strings.Contains(p, "/.well-known/") || strings.Contains(p, "/discovery/") {
			endpoint = "login"
		}
		resp, err := next.RoundTrip(req)
		code := 0
		if err == nil {
			code = resp.StatusCode
		}
		m.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
		if code == http.StatusTooManyRequests {
			m.throttled.WithLabelValues(endpoint).Inc()
		}
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
