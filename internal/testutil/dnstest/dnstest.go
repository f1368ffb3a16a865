// Package dnstest provides test helpers: local upstream DNS servers on
// loopback, a recording ResponseWriter and a fake clock.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server is a DNS server on 127.0.0.1 that listens on UDP and TCP on the
// same port, for use as an upstream in tests. It counts the queries it sees.
type Server struct {
	// Addr is "127.0.0.1:port", the same port for UDP and TCP.
	Addr string

	queries atomic.Int64
	udp     *dns.Server
	tcp     *dns.Server
	closed  sync.Once
}

// NewServer starts a server answering with h on UDP and TCP and registers
// its shutdown with t.Cleanup.
func NewServer(t testing.TB, h dns.Handler) *Server {
	t.Helper()
	s := &Server{}
	counting := dns.HandlerFunc(func(w dns.ResponseWriter, m *dns.Msg) {
		s.queries.Add(1)
		h.ServeDNS(w, m)
	})
	var pc net.PacketConn
	var ln net.Listener
	var err error
	// Pick a UDP port whose TCP twin is free too.
	for range 20 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("dnstest: listen udp: %v", err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatalf("dnstest: listen tcp: %v", err)
	}
	s.Addr = pc.LocalAddr().String()
	s.udp = &dns.Server{PacketConn: pc, Handler: counting}
	s.tcp = &dns.Server{Listener: ln, Handler: counting}
	start := func(srv *dns.Server) {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
	}
	start(s.udp)
	start(s.tcp)
	t.Cleanup(s.Close)
	return s
}

// Queries returns how many queries the server has received.
func (s *Server) Queries() int64 { return s.queries.Load() }

// Close stops the server; later queries to it time out or are refused.
func (s *Server) Close() {
	s.closed.Do(func() {
		s.udp.Shutdown()
		s.tcp.Shutdown()
	})
}

// Zone answers from a fixed set of records given in zone-file syntax
// ("example.com. 300 IN A 192.0.2.1"). Names it has no record of get
// NXDOMAIN with an SOA (minimum 60 s) in the authority section; names with
// records of other types get NODATA with the same SOA.
func Zone(t testing.TB, records ...string) dns.HandlerFunc {
	t.Helper()
	byName := map[string][]dns.RR{}
	for _, s := range records {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("dnstest: record %q: %v", s, err)
		}
		name := strings.ToLower(rr.Header().Name)
		byName[name] = append(byName[name], rr)
	}
	soa, _ := dns.NewRR("test. 60 IN SOA ns.test. admin.test. 1 3600 600 86400 60")
	return func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.RecursionAvailable = true
		qq := q.Question[0]
		rrs, ok := byName[strings.ToLower(qq.Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, rr := range rrs {
			if rr.Header().Rrtype == qq.Qtype || rr.Header().Rrtype == dns.TypeCNAME {
				m.Answer = append(m.Answer, dns.Copy(rr))
			}
		}
		if len(m.Answer) == 0 {
			m.Ns = []dns.RR{dns.Copy(soa)}
		}
		if opt := q.IsEdns0(); opt != nil {
			m.SetEdns0(opt.UDPSize(), opt.Do())
		}
		w.WriteMsg(m)
	}
}

// Clock is a fake clock for tests: Now returns a time that moves only when
// Advance is called, and the channels of After fire only when Advance
// reaches their deadline. It is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
	// armed receives the wait of every After call, so a test can wait
	// until the code under test is idle instead of sleeping.
	armed chan time.Duration
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

// After returns a channel that receives the clock's time once Advance
// has moved it d or more past now.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	select {
	case c.armedLocked() <- d:
	default: // nobody is watching; never block the code under test
	}
	c.mu.Unlock()
	return ch
}

func (c *Clock) armedLocked() chan time.Duration {
	if c.armed == nil {
		c.armed = make(chan time.Duration, 64)
	}
	return c.armed
}

// WaitAfter blocks until some goroutine calls After (or returns one such
// call that happened before and was not waited for yet) and returns its
// wait, or fails t when none comes within a minute, which only a broken
// test or a hung goroutine takes.
func (c *Clock) WaitAfter(t testing.TB) time.Duration {
	t.Helper()
	c.mu.Lock()
	armed := c.armedLocked()
	c.mu.Unlock()
	select {
	case d := <-armed:
		return d
	case <-time.After(time.Minute):
		t.Fatal("fake clock: nothing called After within a minute")
		return 0
	}
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and fires the After channels whose
// deadline it reached.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if tm.at.After(c.now) {
			kept = append(kept, tm)
			continue
		}
		tm.ch <- c.now
	}
	c.timers = kept
	c.mu.Unlock()
}
