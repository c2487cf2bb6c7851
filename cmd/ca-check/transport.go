package main

import (
	"net/http"

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

// graph returns a Graph client for the CLI's live commands, with
// ca-check's User-Agent on every request.
func (c *cli) graph(gc graphclient.Config, opts ...graphclient.Option) (*graphclient.Client, error) {
	rt := withUserAgent(c.buildVersion().UserAgent(), c.baseTransport())
	opts = append([]graphclient.Option{graphclient.WithHTTPClient(&http.Client{Transport: rt})}, opts...)
	return graphclient.New(gc, opts...)
}
