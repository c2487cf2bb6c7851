package graphclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	khttp "github.com/microsoft/kiota-http-go"
)

// defaultRetryBase is the first backoff delay when Graph sends no
// Retry-After; each retry doubles it.
const defaultRetryBase = 500 * time.Millisecond

// retrier is the Graph pipeline's retry middleware, in place of kiota's
// RetryHandler, which retries only 429, 503 and 504 and sleeps through a
// Retry-After even when the call's deadline comes first.
//
// It retries, at most max times within the call's deadline:
//   - 429 and 503, any method: Graph did not process the request;
//   - 504, 500 and 502, and transport errors (refused or dropped
//     connections, an attempt that timed out), for requests that only read:
//     GET, and a POST marked readOnly (What If). A PATCH is never retried
//     after them: it may have landed.
//
// Retry-After is honoured; without it the delay is exponential with
// jitter. When the delay would outlast the deadline it answers at once with
// what it has (the 429 says how long to wait), rather than sleeping into a
// timeout. A read that still has retries left gets half the remaining
// deadline per attempt, so one hung connection is retried, not waited out.
type retrier struct {
	max  int
	base time.Duration
}

// readOnly marks a POST that reads (What If) as safe to retry like a GET.
type readOnly struct{}

var readOnlyKey = abs.RequestOptionKey{Key: "cacheck.graphclient.readOnly"}

func (readOnly) GetKey() abs.RequestOptionKey { return readOnlyKey }

// idempotent reports whether req only reads.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	case http.MethodPost:
		_, ok := req.Context().Value(readOnlyKey).(readOnly)
		return ok
	}
	return false
}

func (m *retrier) Intercept(p khttp.Pipeline, i int, req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	reads := idempotent(req)
	// Each attempt sends a clone with the body as built (kiota's is a byte
	// slice): the compression handler downstream gzips the body of the
	// request it is given and marks its headers, which must not leak into
	// the next attempt.
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("graphclient: reading the request body: %w", err)
		}
		body = b
	}
	for attempt := 0; ; attempt++ {
		last := attempt >= m.max
		actx, cancel := ctx, context.CancelFunc(func() {})
		if reads && !last {
			if d, ok := ctx.Deadline(); ok {
				actx, cancel = context.WithTimeout(ctx, time.Until(d)/2)
			}
		}
		areq := req.Clone(actx)
		if body != nil {
			areq.Body = io.NopCloser(bytes.NewReader(body))
			areq.ContentLength = int64(len(body))
			areq.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
		if attempt > 0 {
			areq.Header.Set("Retry-Attempt", strconv.Itoa(attempt))
		}
		res, err := p.Next(areq, i)
		if last || ctx.Err() != nil || !retriable(reads, res, err) {
			return keepUntilClosed(res, cancel), err
		}
		delay, told := retryAfter(res, time.Now())
		if !told {
			delay = m.backoff(attempt + 1)
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < delay {
			// Waiting would end in a timeout that hides why: answer now.
			return keepUntilClosed(res, cancel), err
		}
		if res != nil {
			io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
			res.Body.Close()
		}
		cancel()
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// retriable reports whether an attempt's outcome is worth another try.
func retriable(reads bool, res *http.Response, err error) bool {
	if err != nil {
		return reads
	}
	switch res.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return reads
	}
	return false
}

// backoff is the delay before retry n (1, 2, ...) when Graph names none:
// base doubled each time, with jitter in its upper half so that the
// parallel reads of a diagnosis do not retry in step.
func (m *retrier) backoff(n int) time.Duration {
	d := m.base << min(n-1, 10)
	return d/2 + rand.N(d/2+1)
}

// keepUntilClosed ties an attempt's context to its response body, which
// the adapter reads after the middleware returns.
func keepUntilClosed(res *http.Response, cancel context.CancelFunc) *http.Response {
	if res == nil || res.Body == nil {
		cancel()
		return res
	}
	res.Body = &cancelOnClose{ReadCloser: res.Body, cancel: cancel}
	return res
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(res *http.Response, now time.Time) (time.Duration, bool) {
	if res == nil {
		return 0, false
	}
	return parseRetryAfter(res.Header.Get("Retry-After"), now)
}

func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
