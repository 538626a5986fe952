package forward

import (
	"container/list"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"github.com/elazarl/goproxy"
	"golang.org/x/sync/singleflight"
)

// renewBefore is how long before a cached leaf expires it is replaced, so a
// handshake never gets a certificate that lapses mid-connection.
const renewBefore = time.Hour

// certCache is a bounded LRU of minted leaf certificates keyed by host name.
// Minting costs a key generation and a signature, so concurrent handshakes
// for the same host share one generation (singleflight).
type certCache struct {
	size int
	now  func() time.Time

	mu    sync.Mutex
	ll    *list.List // front = most recently used
	items map[string]*list.Element
	sf    singleflight.Group
}

type cacheEntry struct {
	host string
	cert *tls.Certificate
}

var _ goproxy.CertStorage = (*certCache)(nil)

func newCertCache(size int) *certCache {
	return &certCache{size: size, now: time.Now, ll: list.New(), items: make(map[string]*list.Element)}
}

// Fetch returns the cached certificate for host or stores what gen returns.
func (c *certCache) Fetch(host string, gen func() (*tls.Certificate, error)) (*tls.Certificate, error) {
	if cert := c.get(host); cert != nil {
		return cert, nil
	}
	v, err, _ := c.sf.Do(host, func() (any, error) {
		if cert := c.get(host); cert != nil {
			return cert, nil
		}
		cert, err := gen()
		if err != nil {
			return nil, err
		}
		c.put(host, cert)
		return cert, nil
	})
	if err != nil {
		return nil, fmt.Errorf("mint certificate for %q: %w", host, err)
	}
	return v.(*tls.Certificate), nil
}

// Len returns the number of cached certificates.
func (c *certCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

func (c *certCache) get(host string) *tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[host]
	if !ok {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if e.cert.Leaf != nil && c.now().Add(renewBefore).After(e.cert.Leaf.NotAfter) {
		c.ll.Remove(el)
		delete(c.items, host)
		return nil
	}
	c.ll.MoveToFront(el)
	return e.cert
}

func (c *certCache) put(host string, cert *tls.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[host]; ok {
		el.Value.(*cacheEntry).cert = cert
		c.ll.MoveToFront(el)
		return
	}
	c.items[host] = c.ll.PushFront(&cacheEntry{host: host, cert: cert})
	for c.ll.Len() > c.size {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).host)
	}
}
