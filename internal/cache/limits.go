package cache

import (
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
)

// errBusy is why a miss gets SERVFAIL without an upstream exchange: its
// client, or the whole cache, has as many upstream queries in flight as
// allowed. It is answered at once rather than queued, so that a client
// flooding random names fills only its own share and waits only on itself.
var errBusy = &dnsmsg.ExtendedError{Code: dnsmsg.EDEOther, Text: "too many upstream queries in flight"}

// inflight counts the upstream queries in flight, in total and per client,
// and refuses new ones beyond the caps. Its table of clients holds only
// clients with a query in flight, so it never has more than max entries.
type inflight struct {
	max, perClient int

	mu       sync.Mutex
	total    int
	byClient map[netip.Addr]int
}

func newInflight(max, perClient int) *inflight {
	return &inflight{max: max, perClient: perClient, byClient: make(map[netip.Addr]int)}
}

// acquire takes a slot for one more upstream query from client (the zero
// Addr for the cache's own prefetches, which count only in the total), or
// reports false when a cap is reached.
func (l *inflight) acquire(client netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max {
		return false
	}
	if client.IsValid() {
		n := l.byClient[client]
		if n >= l.perClient {
			return false
		}
		l.byClient[client] = n + 1
	}
	l.total++
	return true
}

// release gives back a slot taken by acquire for client.
func (l *inflight) release(client netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if client.IsValid() {
		if n := l.byClient[client]; n <= 1 {
			delete(l.byClient, client)
		} else {
			l.byClient[client] = n - 1
		}
	}
}

// counts returns the queries in flight in total and the number of clients
// with one in flight.
func (l *inflight) counts() (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, len(l.byClient)
}

// AcquireUpstream takes one of client's upstream slots for an exchange the
// cache does not make itself (a local forward to the home router), so
// that MaxInflight and MaxInflightPerClient cover every upstream query. It
// reports false when a cap is reached; otherwise the caller must call
// ReleaseUpstream with the same client when the exchange ends.
func (c *Cache) AcquireUpstream(client netip.Addr) bool {
	if !c.inflight.acquire(client.Unmap()) {
		c.busy.Add(1)
		return false
	}
	return true
}

// ReleaseUpstream gives back a slot taken by AcquireUpstream.
func (c *Cache) ReleaseUpstream(client netip.Addr) {
	c.inflight.release(client.Unmap())
}

// clientKey returns the address a request's upstream queries are counted
// against.
func clientKey(ap netip.AddrPort) netip.Addr {
	return ap.Addr().Unmap()
}

// failure is a cached resolution failure (RFC 9520): until it expires,
// the same question is answered SERVFAIL without asking the upstreams
// again, so a failing name cannot make Hearth hammer them.
type failure struct {
	until time.Time
	// text is the EDE text of the answer: the original error's, marked
	// as cached.
	text string
}

// failureFor returns the failure to cache for a flight that ended with err
// or with resp, and whether the outcome is a failure worth caching: an
// upstream error or SERVFAIL, but not a shutdown or a cancellation.
func failureFor(resp *dns.Msg, err error) (string, bool) {
	switch {
	case err == nil:
		if resp != nil && resp.Rcode == dns.RcodeServerFailure {
			return "cached failure: upstream answered SERVFAIL", true
		}
		return "", false
	case errors.Is(err, errShutdown), errors.Is(err, errBusy):
		return "", false
	}
	_, text := dnsmsg.EDEOf(err)
	return "cached failure: " + text, true
}

// addFailure records a failure for key in s, evicting an arbitrary other
// one when the shard holds its share already. The caller holds s.mu.
func (s *shard) addFailure(key string, f failure, now time.Time) {
	if _, ok := s.fails[key]; !ok && len(s.fails) >= s.maxFails {
		evicted := false
		for k, old := range s.fails {
			if !now.Before(old.until) {
				delete(s.fails, k)
				evicted = true
			}
		}
		if !evicted {
			for k := range s.fails {
				delete(s.fails, k)
				break
			}
		}
	}
	s.fails[key] = f
}
