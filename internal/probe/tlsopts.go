package probe

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"

	"github.com/vigil-dev/vigil/internal/check"
)

// maxTLSTransports bounds the transports kept for jobs with TLS options of
// their own. Each keeps its own keep-alive pool, which is why checks with
// equal options share one; past the bound the cache starts over.
const maxTLSTransports = 256

// transportCache keeps one transport per distinct TLS options, so checks
// behind a private CA reuse connections like every other check.
type transportCache struct {
	build func(*tls.Config) *http.Transport
	mu    sync.Mutex
	m     map[string]*http.Transport
}

func newTransportCache(build func(*tls.Config) *http.Transport) *transportCache {
	return &transportCache{build: build, m: map[string]*http.Transport{}}
}

// get returns the transport for o, building it (and its TLS config) on
// first use.
func (c *transportCache) get(o *check.TLSOptions, base *tls.Config) (*http.Transport, error) {
	sum := sha256.Sum256([]byte(o.CAPEM))
	key := fmt.Sprintf("%t|%s|%s", o.InsecureSkipVerify, o.ServerName, hex.EncodeToString(sum[:]))
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.m[key]; ok {
		return t, nil
	}
	conf := base.Clone()
	conf.ServerName = o.ServerName
	// The check's owner asked for it, knowingly; the certificate is still
	// read for conditions and metrics.
	conf.InsecureSkipVerify = o.InsecureSkipVerify
	if o.CAPEM != "" {
		pool, err := check.ParseCAPEM(o.CAPEM)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_pem %w", err)
		}
		conf.RootCAs = pool
	}
	if len(c.m) >= maxTLSTransports {
		for _, t := range c.m {
			t.CloseIdleConnections()
		}
		c.m = map[string]*http.Transport{}
	}
	t := c.build(conf)
	c.m[key] = t
	return t, nil
}

func (c *transportCache) closeIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.m {
		t.CloseIdleConnections()
	}
}
