package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/cacheck/ca-check/graphclient"
)

// baseTransport is what carries requests to Graph and Entra ID: the
// tests' c.graphTransport, or the default transport (proxy from the
// environment) with room for a diagnosis's parallel wave.
func (c *cli) baseTransport() http.RoundTripper {
	if c.graphTransport != nil {
		return c.graphTransport
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	// A diagnosis sends about seven requests at once; the default of two
	// idle connections per host would redo TLS handshakes every wave where
	// HTTP/2 is not negotiated.
	t.MaxIdleConnsPerHost = 16
	return t
}

// graph returns a Graph client for the CLI's live commands: ca-check's
// User-Agent on every request, and each step said on c.progress.
func (c *cli) graph(gc graphclient.Config, opts ...graphclient.Option) (*graphclient.Client, error) {
	rt := c.baseTransport()
	if c.progress != nil {
		rt = progressTransport(c.progress, rt)
	}
	rt = withUserAgent(c.buildVersion().UserAgent(), rt)
	opts = append([]graphclient.Option{graphclient.WithHTTPClient(&http.Client{Transport: rt})}, opts...)
	return graphclient.New(gc, opts...)
}

// say tells c.progress, if any, what a live command is doing.
func (c *cli) say(format string, args ...any) {
	if c.progress != nil {
		fmt.Fprintf(c.progress, "ca-check: "+format+"…\n", args...)
	}
}

// progressTransport says on w, once each, the steps that the requests
// passing through to next reveal: a token, the tenant's resolution, each
// read, What If. It watches the requests rather than being told by
// graphclient, which reads everything in one parallel wave and has no
// business knowing about terminals.
func progressTransport(w io.Writer, next http.RoundTripper) http.RoundTripper {
	var mu sync.Mutex
	said := map[string]bool{}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if step := progressStep(req); step != "" {
			mu.Lock()
			if !said[step] {
				said[step] = true
				fmt.Fprintf(w, "ca-check: %s…\n", step)
			}
			mu.Unlock()
		}
		return next.RoundTrip(req)
	})
}

// progressStep names the step a request to Entra ID or Graph is part of,
// or "" for one not worth a line.
func progressStep(req *http.Request) string {
	p := req.URL.Path
	switch {
	case strings.HasSuffix(p, "/oauth2/v2.0/token"), strings.HasSuffix(p, "/.well-known/openid-configuration"):
		// /{tenant}/oauth2/v2.0/token: the tenant is an ID or a domain.
		tenant, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
		return "getting a token for tenant " + tenant + " from " + req.URL.Host
	case strings.Contains(p, "/findTenantInformationByDomainName"):
		return "resolving the tenant's domain"
	case strings.Contains(p, "/tenantRelationships/delegatedAdminRelationships"):
		return "reading the partner's GDAP relationships"
	case strings.HasSuffix(p, "/identity/conditionalAccess/policies"):
		return "reading the Conditional Access policies"
	case strings.HasSuffix(p, "/identity/conditionalAccess/namedLocations"):
		return "reading the named locations"
	case strings.HasSuffix(p, "/auditLogs/signIns"):
		return "reading the sign-in log"
	case strings.Contains(p, "/policies/crossTenantAccessPolicy"):
		return "reading the cross-tenant access settings"
	case strings.HasSuffix(p, "/identity/conditionalAccess/evaluate"):
		return "asking Microsoft's What If evaluation"
	}
	return ""
}
