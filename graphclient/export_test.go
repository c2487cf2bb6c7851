package graphclient

import "time"

// SetRetryBase sets the first backoff delay of c's retries (Graph calls,
// and the token requests of tenants not yet used), so that tests do not
// wait for real backoffs.
func SetRetryBase(c *Client, d time.Duration) { c.retry.base = d }

// SetReadBackDelay sets the first wait before a written policy is read
// again.
func SetReadBackDelay(c *Client, d time.Duration) { c.readBackWait = d }
