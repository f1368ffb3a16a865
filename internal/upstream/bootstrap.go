package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
)

const (
	// minAddrTTL and maxAddrTTL bound how long bootstrapped addresses are
	// kept: a zero TTL would mean a bootstrap query before every
	// connection, a huge one would pin an address the operator moved.
	minAddrTTL = 10 * time.Second
	maxAddrTTL = 24 * time.Hour
	// systemAddrTTL is how long addresses from the system resolver are
	// kept; it does not tell us the record TTL.
	systemAddrTTL = time.Minute
	// retryAddrTTL is how long stale addresses are used after a failed
	// refresh before the next try.
	retryAddrTTL = 10 * time.Second
	// refreshWait bounds how long a query waits for the refresh of
	// addresses it already has: a bootstrap server that stops answering
	// (or whose ICMP refusal the kernel's rate limit drops) must not take
	// the query's whole deadline, leaving none to reach the upstream.
	refreshWait = 500 * time.Millisecond
)

// bootstrap resolves the host names of encrypted upstreams: through the
// configured plain DNS servers, A and AAAA over UDP, or through the system
// resolver when there are none.
type bootstrap struct {
	servers []*plainClient
	system  *net.Resolver
	now     func() time.Time
	log     *slog.Logger
}

// hostAddrs is the address list of one upstream's host: fixed for an IP
// literal, else resolved through the bootstrap and cached for its TTL.
type hostAddrs struct {
	host string
	b    *bootstrap

	// mu is held for the whole resolution, so that concurrent first
	// queries wait for one lookup instead of sending one each.
	mu      sync.Mutex
	addrs   []netip.Addr
	expires time.Time
	fixed   bool
}

// newHostAddrs returns the address list for host; ip, when valid, is its
// literal address and no lookup is ever made.
func newHostAddrs(host string, ip netip.Addr, b *bootstrap) *hostAddrs {
	if ip.IsValid() {
		return &hostAddrs{host: host, addrs: []netip.Addr{ip}, fixed: true}
	}
	return &hostAddrs{host: host, b: b}
}

// get returns the host's addresses, IPv4 first. When a refresh fails it
// keeps using the last addresses it had, if any.
func (h *hostAddrs) get(ctx context.Context) ([]netip.Addr, error) {
	if h.fixed {
		return h.addrs, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.b.now()
	if now.Before(h.expires) {
		return h.addrs, nil
	}
	rctx := ctx
	if len(h.addrs) > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, refreshWait)
		defer cancel()
	}
	addrs, ttl, err := h.b.resolve(rctx, h.host)
	if err != nil {
		if len(h.addrs) == 0 {
			return nil, fmt.Errorf("resolving %q: %w", h.host, err)
		}
		h.b.log.LogAttrs(ctx, slog.LevelWarn, "bootstrap failed, using previous addresses",
			slog.String("host", h.host), slog.Any("err", err))
		h.expires = now.Add(retryAddrTTL)
		return h.addrs, nil
	}
	h.addrs, h.expires = addrs, now.Add(ttl)
	return addrs, nil
}

// resolve looks up host's A and AAAA records, returning the addresses and
// how long to keep them.
func (b *bootstrap) resolve(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) {
	if len(b.servers) == 0 {
		addrs, err := b.system.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, 0, fmt.Errorf("system resolver: %w", err)
		}
		return sortAddrs(addrs), systemAddrTTL, nil
	}
	type result struct {
		addrs []netip.Addr
		ttl   time.Duration
		err   error
	}
	var res [2]result
	var wg sync.WaitGroup
	for i, qtype := range [2]uint16{dns.TypeA, dns.TypeAAAA} {
		wg.Go(func() {
			r := &res[i]
			r.addrs, r.ttl, r.err = b.lookup(ctx, host, qtype)
		})
	}
	wg.Wait()
	addrs := append(res[0].addrs, res[1].addrs...)
	if len(addrs) == 0 {
		if err := errors.Join(res[0].err, res[1].err); err != nil {
			return nil, 0, err
		}
		return nil, 0, errors.New("no A or AAAA records")
	}
	ttl := maxAddrTTL
	for _, r := range res {
		if len(r.addrs) > 0 {
			ttl = min(ttl, r.ttl)
		}
	}
	return addrs, max(ttl, minAddrTTL), nil
}

// lookup asks the bootstrap servers in turn for host's records of qtype.
func (b *bootstrap) lookup(ctx context.Context, host string, qtype uint16) ([]netip.Addr, time.Duration, error) {
	cq := new(dns.Msg)
	cq.SetQuestion(dns.Fqdn(host), qtype)
	q, err := newQuery(cq, nil)
	if err != nil {
		return nil, 0, err
	}
	var errs []error
	for _, s := range b.servers {
		m, err := s.exchange(ctx, q)
		if err != nil {
			errs = append(errs, fmt.Errorf("bootstrap %s: %w", s.addr, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
			errs = append(errs, fmt.Errorf("bootstrap %s: rcode %s", s.addr, dns.RcodeToString[m.Rcode]))
			continue
		}
		var addrs []netip.Addr
		ttl := maxAddrTTL
		// Records of any owner name count: the answer may follow CNAMEs.
		for _, rr := range m.Answer {
			var ip net.IP
			switch rr := rr.(type) {
			case *dns.A:
				ip = rr.A
			case *dns.AAAA:
				ip = rr.AAAA
			default:
				continue
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				addrs = append(addrs, a.Unmap())
				ttl = min(ttl, time.Duration(rr.Header().Ttl)*time.Second)
			}
		}
		return addrs, ttl, nil
	}
	return nil, 0, errors.Join(errs...)
}

// sortAddrs puts IPv4 addresses first, keeping the order otherwise.
func sortAddrs(addrs []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if a.Unmap().Is4() {
			out = append(out, a.Unmap())
		}
	}
	for _, a := range addrs {
		if !a.Unmap().Is4() {
			out = append(out, a)
		}
	}
	return out
}
