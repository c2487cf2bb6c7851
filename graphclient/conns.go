package graphclient

import (
	"container/list"
	"sync"
)

// defaultMaxConns bounds the connection cache: far more customers than a
// partner diagnoses between restarts, few enough that tenant strings typed
// at the bot cannot grow the process without end.
const defaultMaxConns = 1024

// connCache keeps tenants' connections (credential with its token cache,
// Graph client), least recently used evicted first. A connection enters
// only once its credential got a token (see Client.conn), so what is kept
// is tenants that exist and consented, not every string asked about.
type connCache struct {
	mu    sync.Mutex
	max   int
	order list.List                // of *cacheEntry, most recently used first
	byKey map[string]*list.Element // the lower-case tenant ID or domain
}

type cacheEntry struct {
	key string
	cn  *conn
}

func newConnCache(max int) *connCache {
	return &connCache{max: max, byKey: map[string]*list.Element{}}
}

// get returns the connection kept under key and marks it used.
func (c *connCache) get(key string) (*conn, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheEntry).cn, true
}

// add keeps cn under key unless a connection is kept there already (a
// concurrent first use of the tenant), evicting the least recently used
// beyond the bound.
func (c *connCache) add(key string, cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.byKey[key] = c.order.PushFront(&cacheEntry{key: key, cn: cn})
	for c.order.Len() > max(c.max, 1) {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*cacheEntry).key)
	}
}

// keys returns the keys kept, most recently used first.
func (c *connCache) keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ks := make([]string, 0, c.order.Len())
	for e := c.order.Front(); e != nil; e = e.Next() {
		ks = append(ks, e.Value.(*cacheEntry).key)
	}
	return ks
}
