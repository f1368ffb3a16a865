// Package upstream owns Hearth's forwarding clients: plain DNS over UDP
// (with a TCP retry on truncation) and TCP, DNS over TLS and DNS over
// HTTPS; the failover and parallel strategies that pick among them; their
// health tracking; and the bootstrap resolution of encrypted upstreams'
// host names.
//
// Every query goes upstream with a fresh random ID, from a fresh UDP
// socket, and carries only Hearth's own OPT record: client EDNS options
// (cookies, ECS, device ids, MAC addresses) never leave Hearth. Answers
// whose ID or question does not match are discarded.
package upstream

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/miekg/dns"
)

// Strategies for Config.Strategy.
const (
	// StrategyParallel races the two best upstreams by smoothed RTT.
	StrategyParallel = "parallel"
	// StrategyFailover tries the upstreams in the configured order.
	StrategyFailover = "failover"
)

// DefaultTimeout is the time one upstream exchange may take when
// Config.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// Config describes a Group of upstream servers.
type Config struct {
	// Servers are the upstreams, in order of preference for failover:
	// "9.9.9.9", "9.9.9.9:53", "[::1]:53", "udp://1.2.3.4:53" (UDP with a
	// TCP retry when truncated), "tcp://1.2.3.4" (TCP only),
	// "tls://1.1.1.1", "tls://dns.example:853", "tls://1.1.1.1#name" (an
	// IP with its TLS server name) and "https://dns.example/dns-query".
	// Plain DNS needs an IP address; the default ports are 53, 853 and
	// 443, the default DoH path /dns-query.
	Servers []string
	// Strategy is StrategyFailover or StrategyParallel (the default).
	Strategy string
	// Bootstrap lists plain DNS servers (ip or ip:port) that resolve the
	// host names of encrypted upstreams. When empty, the system resolver
	// is used, which must then not be Hearth itself.
	Bootstrap []string
	// Timeout bounds each exchange with one upstream, including dialing
	// and bootstrap; the context's deadline applies when earlier. Zero
	// means DefaultTimeout.
	Timeout time.Duration
	// TLS is the base configuration for DoT and DoH connections, cloned
	// per upstream with its server name set; nil uses the system roots.
	TLS *tls.Config
	// Logger receives failures and health changes; nil discards them.
	Logger *slog.Logger
	// Observe, when set, hears of every exchange with one upstream: its
	// name as configured, how long it took and whether it failed (an
	// exchange cancelled because another upstream won is not reported).
	// It is called on the query path and must not block.
	Observe func(server string, took time.Duration, failed bool)
}

// Group forwards queries to a fixed set of upstreams. It is safe for
// concurrent use.
type Group struct {
	ups      []*upstream
	parallel bool
	timeout  time.Duration
	log      *slog.Logger
	// now is the clock of health backoff and bootstrap TTLs; tests
	// replace it.
	now     func() time.Time
	closed  atomic.Bool
	observe func(server string, took time.Duration, failed bool)
}

// upstream is one configured server.
type upstream struct {
	name   string
	ex     exchanger
	health health
}

// New validates c and builds its Group. It opens no connection.
func New(c Config) (*Group, error) {
	if len(c.Servers) == 0 {
		return nil, errors.New("no upstream servers")
	}
	g := &Group{timeout: c.Timeout, log: c.Logger, now: time.Now, observe: c.Observe}
	switch c.Strategy {
	case "", StrategyParallel:
		g.parallel = true
	case StrategyFailover:
	default:
		return nil, fmt.Errorf("strategy %q: want %q or %q", c.Strategy, StrategyFailover, StrategyParallel)
	}
	if c.Timeout < 0 {
		return nil, fmt.Errorf("timeout %v: must not be negative", c.Timeout)
	}
	if g.timeout == 0 {
		g.timeout = DefaultTimeout
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	bufs := &bufPool{}
	boot := &bootstrap{
		system: &net.Resolver{},
		log:    g.log,
		now:    func() time.Time { return g.now() },
	}
	for _, s := range c.Bootstrap {
		ap, err := parseBootstrap(s)
		if err != nil {
			return nil, fmt.Errorf("bootstrap %q: %w", s, err)
		}
		boot.servers = append(boot.servers, newPlainClient(ap, false, bufs))
	}
	for _, s := range c.Servers {
		ep, err := parseServer(s)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", s, err)
		}
		u := &upstream{name: ep.String()}
		switch ep.proto {
		case protoUDP, protoTCP:
			u.ex = newPlainClient(netip.AddrPortFrom(ep.ip, ep.port), ep.proto == protoTCP, bufs)
		case protoTLS:
			u.ex = &tlsClient{
				addrs: newHostAddrs(ep.host, ep.ip, boot),
				port:  ep.port,
				conf:  tlsConfig(c.TLS, ep.serverName),
				bufs:  bufs,
			}
		case protoHTTPS:
			u.ex = newHTTPSClient(ep.url, newHostAddrs(ep.host, ep.ip, boot), ep.port,
				tlsConfig(c.TLS, ep.serverName), g.timeout, bufs)
		}
		g.ups = append(g.ups, u)
	}
	return g, nil
}

// tlsConfig clones base for one upstream: its server name, at least TLS
// 1.2 (RFC 8310 section 9), and a session cache so reconnections resume.
func tlsConfig(base *tls.Config, serverName string) *tls.Config {
	var conf *tls.Config
	if base != nil {
		conf = base.Clone()
	} else {
		conf = &tls.Config{}
	}
	conf.ServerName = serverName
	conf.MinVersion = max(conf.MinVersion, tls.VersionTLS12)
	if conf.ClientSessionCache == nil {
		conf.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	}
	return conf
}

// String describes the group for logs: its strategy and upstreams.
func (g *Group) String() string {
	var b strings.Builder
	if g.parallel {
		b.WriteString(StrategyParallel)
	} else {
		b.WriteString(StrategyFailover)
	}
	for i, u := range g.ups {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(u.name)
	}
	return b.String()
}

// Close closes pooled connections. Exchanges after Close fail.
func (g *Group) Close() error {
	g.closed.Store(true)
	var errs []error
	for _, u := range g.ups {
		if err := u.ex.close(); err != nil {
			errs = append(errs, fmt.Errorf("upstream %s: %w", u.name, err))
		}
	}
	return errors.Join(errs...)
}

// Exchange forwards q to the upstreams and returns the first good answer,
// with q's ID. q must have exactly one question and is not modified. The
// answer is otherwise the upstream's message as received, OPT record
// included: dnsmsg.FromUpstream makes the client's reply from it. An
// upstream SERVFAIL is an answer, returned when no upstream tried does
// better. REFUSED, NOTAUTH and FORMERR are not: they say the upstream
// would not serve this query, so the next upstream is tried, and if none
// does better the error says so (as Unbound answers SERVFAIL, never
// passing such an rcode on to a client). TTLs of 2^31 and above in the
// answer read 0 (RFC 2181 section 8). When no upstream answers, the error
// wraps a *dnsmsg.ExtendedError: EDE 22 (No Reachable Authority) when
// every try timed out, was cancelled or was refused, else EDE 23 (Network
// Error).
func (g *Group) Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	if g.closed.Load() {
		return nil, errors.New("upstream group is closed")
	}
	qr, err := newQuery(q, nil)
	if err != nil {
		return nil, err
	}
	var m *dns.Msg
	if g.parallel {
		m, err = g.race(ctx, qr)
	} else {
		m, err = g.failover(ctx, qr)
	}
	if err != nil {
		return nil, err
	}
	m.Id = q.Id
	dnsmsg.FixTTLs(m)
	return m, nil
}

// failover tries the upstreams that are up in the configured order, then
// those that are down, until one answers other than SERVFAIL.
func (g *Group) failover(ctx context.Context, q *query) (*dns.Msg, error) {
	now := g.now()
	var downBuf [8]bool
	down := downBuf[:0]
	for _, u := range g.ups {
		down = append(down, !u.health.up(now))
	}
	var errs []error
	var servfail *dns.Msg
	for _, pass := range [2]bool{false, true} {
		for i, u := range g.ups {
			if down[i] != pass {
				continue
			}
			m, err := g.attempt(ctx, u, q)
			if err == nil && refused(m) {
				err = &refusedError{server: u.name, rcode: m.Rcode}
			}
			switch {
			case err != nil:
				errs = append(errs, err)
				if ctx.Err() != nil {
					return nil, noAnswer(ctx, errs)
				}
			case m.Rcode == dns.RcodeServerFailure:
				if servfail == nil {
					servfail = m
				}
			default:
				return m, nil
			}
		}
	}
	if servfail != nil {
		return servfail, nil
	}
	return nil, noAnswer(ctx, errs)
}

// race sends q to the two best upstreams at once and returns the first
// good answer, cancelling the other. Upstreams that are up rank by
// smoothed RTT, those that are down by when they come back; when both of
// a pair fail, the next pair races.
func (g *Group) race(ctx context.Context, q *query) (*dns.Msg, error) {
	ups := g.rank(g.now())
	var errs []error
	for i := 0; i < len(ups); i += 2 {
		pair := ups[i:min(i+2, len(ups))]
		if len(pair) == 2 && pair[0].up != pair[1].up {
			// Never race a down upstream beside one that is up.
			pair = pair[:1]
			i--
		}
		m, perrs := g.racePair(ctx, pair, q)
		if m != nil {
			return m, nil
		}
		errs = append(errs, perrs...)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, noAnswer(ctx, errs)
}

// ranked is an upstream with its state when a query started.
type ranked struct {
	u         *upstream
	up        bool
	srtt      int64
	downUntil int64
}

// rank orders the upstreams for race: up before down; up by smoothed RTT,
// never measured first; down by the end of their backoff.
func (g *Group) rank(now time.Time) []ranked {
	rs := make([]ranked, len(g.ups))
	for i, u := range g.ups {
		rs[i] = ranked{u: u, up: u.health.up(now), srtt: u.health.srtt.Load(), downUntil: u.health.downUntil.Load()}
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		switch {
		case a.up != b.up:
			if a.up {
				return -1
			}
			return 1
		case a.up:
			return cmp.Compare(a.srtt, b.srtt)
		}
		return cmp.Compare(a.downUntil, b.downUntil)
	})
	return rs
}

// racePair runs q against one or two upstreams concurrently. It returns
// the first answer other than SERVFAIL, else a SERVFAIL answer, else the
// errors.
func (g *Group) racePair(ctx context.Context, pair []ranked, q *query) (*dns.Msg, []error) {
	if len(pair) == 1 {
		m, err := g.attempt(ctx, pair[0].u, q)
		if err == nil && refused(m) {
			err = &refusedError{server: pair[0].u.name, rcode: m.Rcode}
		}
		if err != nil {
			return nil, []error{err}
		}
		return m, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		m   *dns.Msg
		err error
	}
	// Buffered, so the loser never blocks after we return.
	results := make(chan result, len(pair))
	for _, r := range pair {
		go func() {
			m, err := g.attempt(ctx, r.u, q)
			if err == nil && refused(m) {
				m, err = nil, &refusedError{server: r.u.name, rcode: m.Rcode}
			}
			results <- result{m, err}
		}()
	}
	var errs []error
	var servfail *dns.Msg
	for range pair {
		r := <-results
		switch {
		case r.err != nil:
			errs = append(errs, r.err)
		case r.m.Rcode == dns.RcodeServerFailure:
			servfail = r.m
		default:
			return r.m, nil
		}
	}
	if servfail != nil {
		return servfail, nil
	}
	return nil, errs
}

// attempt runs one exchange with u under the group's timeout and records
// its outcome in u's health; a refusal (see refused) counts as a failure.
func (g *Group) attempt(ctx context.Context, u *upstream, q *query) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	start := time.Now()
	m, err := u.ex.exchange(ctx, q)
	if err == nil {
		took := time.Since(start)
		if refused(m) {
			// An upstream that will not serve us is as good as down:
			// after a few refusals it is tried last, until it answers.
			u.health.failure(g.now(), took)
		} else {
			u.health.success(took)
		}
		if g.observe != nil {
			g.observe(u.name, took, refused(m))
		}
		return m, nil
	}
	err = fmt.Errorf("upstream %s: %w", u.name, err)
	if errors.Is(err, context.Canceled) {
		// The race was won by another upstream, or the client gave up:
		// nothing learned about u.
		return nil, err
	}
	if g.observe != nil {
		g.observe(u.name, time.Since(start), true)
	}
	g.log.LogAttrs(ctx, slog.LevelDebug, "upstream exchange failed",
		slog.String("upstream", u.name), slog.Any("err", err))
	if backoff := u.health.failure(g.now(), g.timeout); backoff > 0 {
		g.log.LogAttrs(ctx, slog.LevelWarn, "upstream down",
			slog.String("upstream", u.name), slog.Duration("retry_after", backoff), slog.Any("err", err))
	}
	return nil, err
}

// noAnswer builds the error for a query no upstream answered.
func noAnswer(ctx context.Context, errs []error) error {
	err := errors.Join(errs...)
	if err == nil {
		err = ctx.Err()
	}
	timedOut, refusals := true, 0
	for _, e := range errs {
		var re *refusedError
		switch {
		case errors.As(e, &re):
			refusals++
		case !isTimeout(e) && !errors.Is(e, context.Canceled):
			timedOut = false
		}
	}
	if refusals > 0 && timedOut {
		// Refused by some, and the others timed out or were cancelled.
		return &dnsmsg.ExtendedError{Code: dnsmsg.EDENoReachableAuthority, Text: "upstreams refused the query", Err: err}
	}
	if timedOut {
		return &dnsmsg.ExtendedError{Code: dnsmsg.EDENoReachableAuthority, Text: "upstreams timed out", Err: err}
	}
	return &dnsmsg.ExtendedError{Code: dnsmsg.EDENetworkError, Text: "upstreams unreachable", Err: err}
}

// refused reports whether m is an answer that says the upstream will not
// serve the query: REFUSED (an access list, or a server that does not
// recurse), NOTAUTH, or FORMERR (it could not read our query).
func refused(m *dns.Msg) bool {
	switch m.Rcode {
	case dns.RcodeRefused, dns.RcodeNotAuth, dns.RcodeFormatError:
		return true
	}
	return false
}

// refusedError is an upstream's refusal to serve a query.
type refusedError struct {
	server string
	rcode  int
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("upstream %s: answered %s", e.server, dns.RcodeToString[e.rcode])
}
