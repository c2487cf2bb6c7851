package graphclient

import (
	"fmt"
	"slices"
	"testing"
)

// The default bound holds however many tenants come: past it, the least
// recently used goes, and one just used stays.
func TestConnCacheDefaultBound(t *testing.T) {
	c := newConnCache(defaultMaxConns)
	key := func(i int) string { return fmt.Sprintf("tenant-%d.example", i) }
	for i := range defaultMaxConns {
		c.add(key(i), &conn{tenant: key(i)})
	}
	if cn, ok := c.get(key(0)); !ok || cn.tenant != key(0) {
		t.Fatalf("get(%s) = %v, %v", key(0), cn, ok)
	}
	for i := defaultMaxConns; i < 2*defaultMaxConns; i++ {
		c.add(key(i), &conn{tenant: key(i)})
		if i == defaultMaxConns+defaultMaxConns/2 {
			c.get(key(0))
		}
	}
	ks := c.keys()
	if len(ks) != defaultMaxConns || len(c.byKey) != defaultMaxConns {
		t.Fatalf("%d keys (%d in the index) kept, bound %d", len(ks), len(c.byKey), defaultMaxConns)
	}
	if ks[0] != key(2*defaultMaxConns-1) || !slices.Contains(ks, key(0)) || slices.Contains(ks, key(1)) {
		t.Errorf("kept %s … %s; want the newest first, the recently used %s kept, %s gone", ks[0], ks[len(ks)-1], key(0), key(1))
	}
	// A second add of a kept key keeps the first connection.
	first, _ := c.get(key(0))
	c.add(key(0), &conn{tenant: "other"})
	if cn, _ := c.get(key(0)); cn != first {
		t.Error("add replaced a kept connection")
	}
}
