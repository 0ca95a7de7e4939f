package cond

import (
	"sync"
)

// DefaultCacheSize is how many distinct condition lists a worker keeps
// compiled: more than the checks a worker usually serves, and each entry
// is a few KiB.
const DefaultCacheSize = 10_000

// Cache keeps compiled condition lists by their text, so a worker compiles
// a check's conditions once rather than on every probe. It is safe for
// concurrent use and bounded: when full, it drops everything and starts
// again, which costs one compile per live list and needs no bookkeeping on
// the hot path.
type Cache struct {
	max int
	mu  sync.RWMutex
	m   map[string]entry
}

type entry struct {
	set *Set
	err error
}

// NewCache returns a cache of at most size lists (DefaultCacheSize when
// size <= 0).
func NewCache(size int) *Cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &Cache{max: size, m: map[string]entry{}}
}

// Get returns the compiled form of exprs, compiling them on first use. A
// list that does not compile is remembered too, with its error.
func (c *Cache) Get(exprs []string) (*Set, error) {
	if len(exprs) == 0 {
		return nil, nil //nolint:nilnil // no conditions: the nil *Set has Len 0 and judges nothing
	}
	// The key is the list joined by NULs, built on the stack: a lookup
	// with string(key) copies nothing, so a hit, every probe but the
	// first, allocates nothing.
	var stack [512]byte
	key := append(stack[:0], exprs[0]...)
	for _, x := range exprs[1:] {
		key = append(append(key, 0), x...)
	}
	c.mu.RLock()
	e, ok := c.m[string(key)]
	c.mu.RUnlock()
	if ok {
		return e.set, e.err
	}
	set, err := Compile(exprs)
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = map[string]entry{}
	}
	c.m[string(key)] = entry{set: set, err: err}
	c.mu.Unlock()
	return set, err
}

// Len is how many lists the cache holds.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
