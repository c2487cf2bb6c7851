package graphclient

import "time"

// SetRetryBase sets the first backoff delay of c's retries (Graph calls,
// and the token requests of tenants not yet used), so that tests do not
// wait for real backoffs.
func SetRetryBase(c *Client, d time.Duration) { c.retry.base = d }

// SetReadBackDelay sets the first wait before a written policy is read
// again.
func SetReadBackDelay(c *Client, d time.Duration) { c.readBackWait = d }

// CachedTenants returns the tenants (IDs and domains, lower case) whose
// connection c keeps, most recently used first.
func CachedTenants(c *Client) []string { return c.conns.keys() }

// SetMaxConns bounds c's connection cache at n tenants.
func SetMaxConns(c *Client, n int) { c.conns.max = n }
