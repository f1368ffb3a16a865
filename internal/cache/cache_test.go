package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

var testRecords = []string{
	"www.example.test. 300 IN A 192.0.2.1",
	"www.example.test. 300 IN AAAA 2001:db8::1",
	"short.test. 5 IN A 192.0.2.5",
	"long.test. 604800 IN A 192.0.2.7",
	"zero.test. 0 IN A 192.0.2.9",
	"alias.test. 3600 IN CNAME www.example.test.",
	"version.test. 60 CH TXT \"hearth\"",
}

func TestNewValidates(t *testing.T) {
	u := &fakeUpstream{}
	tests := []struct {
		name string
		c    Config
		up   Upstream
		ok   bool
	}{
		{"defaults", Config{}, u, true},
		{"all set", Config{Size: 10, MinTTL: time.Second, MaxTTL: time.Hour, Prefetch: true, ServeStale: time.Hour}, u, true},
		{"no upstream", Config{}, nil, false},
		{"negative size", Config{Size: -1}, u, false},
		{"negative min ttl", Config{MinTTL: -time.Second}, u, false},
		{"max ttl below 1s", Config{MaxTTL: time.Millisecond}, u, false},
		{"min above max", Config{MinTTL: 2 * time.Hour, MaxTTL: time.Hour}, u, false},
		{"negative serve stale", Config{ServeStale: -time.Second}, u, false},
		{"max bytes 1 TiB", Config{MaxBytes: 1 << 40}, u, true},
		{"max bytes over 1 TiB", Config{MaxBytes: 1<<40 + 1}, u, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.c, tc.up)
			if (err == nil) != tc.ok {
				t.Fatalf("New(%+v) error = %v, want ok %v", tc.c, err, tc.ok)
			}
			if c != nil {
				c.Shutdown(context.Background())
			}
		})
	}
}

// TestHitAfterMiss checks that a second identical query is answered from
// the cache, and that both answers carry the same data.
func TestHitAfterMiss(t *testing.T) {
	u := &fakeUpstream{reply: zone(t, testRecords...)}
	c, _ := newTestCache(t, Config{}, u)
	first := mustAsk(t, c, query{name: "www.example.test.", qtype: dns.TypeA, id: 1})
	second := mustAsk(t, c, query{name: "www.example.test.", qtype: dns.TypeA, id: 2})
	if n := u.calls.Load(); n != 1 {
		t.Errorf("upstream saw %d queries, want 1", n)
	}
	for _, m := range []*dns.Msg{first, second} {
		if len(m.Answer) != 1 || m.Answer[0].String() != "www.example.test.\t300\tIN\tA\t192.0.2.1" {
			t.Errorf("answer = %v", m.Answer)
		}
	}
	st := c.Stats()
	if st.Hits != 1 || st.Misses != 1 || st.Upstream != 1 {
		t.Errorf("stats = %+v, want 1 hit, 1 miss, 1 upstream query", st)
	}
	if c.Len() != 1 {
		t.Errorf("Len = %d, want 1", c.Len())
	}
}

// TestRealUpstream runs the cache in front of a DNS server on loopback,
// through a miekg/dns client, as the upstream group would.
func TestRealUpstream(t *testing.T) {
	srv := dnstest.NewServer(t, dnstest.Zone(t, "www.example.test. 300 IN A 192.0.2.1"))
	c, clock := newTestCache(t, Config{}, &clientUpstream{addr: srv.Addr})
	for i, q := range []query{
		{name: "www.example.test.", qtype: dns.TypeA, edns: true, do: true},
		{name: "WWW.example.test.", qtype: dns.TypeA},
		{name: "nope.example.test.", qtype: dns.TypeA, edns: true},
		{name: "nope.example.test.", qtype: dns.TypeA},
	} {
		clock.Advance(10 * time.Second)
		m := mustAsk(t, c, q)
		wantRcode := dns.RcodeSuccess
		if i >= 2 {
			wantRcode = dns.RcodeNameError
		}
		if m.Rcode != wantRcode {
			t.Errorf("%s: rcode %s, want %s", q.name, dns.RcodeToString[m.Rcode], dns.RcodeToString[wantRcode])
		}
	}
	// DO is part of the key, EDNS alone is not.
	if n := srv.Queries(); n != 3 {
		t.Errorf("server saw %d queries, want 3", n)
	}
}

// clientUpstream is a minimal Upstream over UDP.
type clientUpstream struct{ addr string }

func (u *clientUpstream) Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	m := q.Copy()
	dnsmsg.StripOPT(m)
	m.SetEdns0(dnsmsg.UDPSize, q.IsEdns0() != nil && q.IsEdns0().Do())
	resp, _, err := (&dns.Client{Net: "udp"}).ExchangeContext(ctx, m, u.addr)
	return resp, err
}

// TestTTL checks that answers carry the remaining, clamped TTL, and that
// entries expire after it.
func TestTTL(t *testing.T) {
	tests := []struct {
		name      string
		qname     string
		min, max  time.Duration
		advance   time.Duration
		wantTTL   uint32
		wantCalls int64
	}{
		{"fresh", "www.example.test.", 0, 0, 0, 300, 1},
		{"decrement", "www.example.test.", 0, 0, 100 * time.Second, 200, 1},
		{"partial second rounds down", "www.example.test.", 0, 0, 100*time.Second + 500*time.Millisecond, 199, 1},
		{"last second is 1 not 0", "www.example.test.", 0, 0, 299*time.Second + 500*time.Millisecond, 1, 1},
		{"expired", "www.example.test.", 0, 0, 300 * time.Second, 300, 2},
		{"min clamp", "short.test.", time.Minute, 0, 0, 60, 1},
		{"min clamp keeps entry", "short.test.", time.Minute, 0, 30 * time.Second, 30, 1},
		{"no min clamp expires", "short.test.", 0, 0, 6 * time.Second, 5, 2},
		{"max clamp", "long.test.", 0, time.Hour, 0, 3600, 1},
		{"default max clamp is 24h", "long.test.", 0, 0, 0, 86400, 1},
		{"cname chain takes min", "alias.test.", 0, 0, 0, 300, 1},
		{"ttl 0 is not cached", "zero.test.", 0, 0, 0, 0, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &fakeUpstream{reply: zone(t, testRecords...)}
			c, clock := newTestCache(t, Config{MinTTL: tc.min, MaxTTL: tc.max}, u)
			mustAsk(t, c, a(tc.qname))
			clock.Advance(tc.advance)
			m := mustAsk(t, c, a(tc.qname))
			if len(m.Answer) == 0 {
				t.Fatalf("no answer: %v", m)
			}
			for _, ttl := range ttls(m) {
				if ttl != tc.wantTTL {
					t.Errorf("TTLs = %v, want all %d", ttls(m), tc.wantTTL)
					break
				}
			}
			if n := u.calls.Load(); n != tc.wantCalls {
				t.Errorf("upstream saw %d queries, want %d", n, tc.wantCalls)
			}
		})
	}
}

// TestNegativeCaching checks RFC 2308: NXDOMAIN and NODATA are cached for
// min(SOA TTL, SOA MINIMUM), negative answers without SOA and failures are
// not cached.
func TestNegativeCaching(t *testing.T) {
	withSOA := func(rcode int, soa string) func(*dns.Msg) *dns.Msg {
		return func(q *dns.Msg) *dns.Msg {
			m := new(dns.Msg)
			m.SetRcode(q, rcode)
			if soa != "" {
				m.Ns = []dns.RR{mustRR(t, soa)}
			}
			return m
		}
	}
	tests := []struct {
		name      string
		reply     func(*dns.Msg) *dns.Msg
		qtype     uint16
		wantRcode int
		wantTTL   uint32        // of the SOA on the second answer
		cachedFor time.Duration // 0: not cached
	}{
		{"nxdomain uses soa minimum", zone(t, testRecords...), dns.TypeA, dns.RcodeNameError, 120, 120 * time.Second},
		{"nodata uses soa minimum", zone(t, "www.example.test. 300 IN A 192.0.2.1"), dns.TypeAAAA, dns.RcodeSuccess, 120, 120 * time.Second},
		{"soa ttl below minimum", withSOA(dns.RcodeNameError, "test. 30 IN SOA ns.test. admin.test. 1 3600 600 86400 120"), dns.TypeA, dns.RcodeNameError, 30, 30 * time.Second},
		{"nxdomain without soa", withSOA(dns.RcodeNameError, ""), dns.TypeA, dns.RcodeNameError, 0, 0},
		{"nodata without soa", withSOA(dns.RcodeSuccess, ""), dns.TypeA, dns.RcodeSuccess, 0, 0},
		{"servfail", withSOA(dns.RcodeServerFailure, testSOA), dns.TypeA, dns.RcodeServerFailure, 900, 0},
		{"refused", withSOA(dns.RcodeRefused, ""), dns.TypeA, dns.RcodeRefused, 0, 0},
		{"truncated", func(q *dns.Msg) *dns.Msg {
			m := zone(t, testRecords...)(q)
			m.Truncated = true
			return m
		}, dns.TypeA, dns.RcodeSuccess, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &fakeUpstream{reply: tc.reply}
			c, clock := newTestCache(t, Config{}, u)
			q := query{name: "www.example.test.", qtype: tc.qtype, edns: true}
			if tc.name == "nxdomain uses soa minimum" {
				q.name = "nope.test."
			}
			mustAsk(t, c, q)
			m := mustAsk(t, c, q)
			if m.Rcode != tc.wantRcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.wantRcode])
			}
			if tc.wantTTL != 0 && (len(m.Ns) != 1 || m.Ns[0].Header().Ttl != tc.wantTTL) {
				t.Errorf("authority %v, want the SOA with TTL %d", m.Ns, tc.wantTTL)
			}
			wantCalls := int64(1)
			if tc.cachedFor == 0 {
				wantCalls = 2
			}
			if n := u.calls.Load(); n != wantCalls {
				t.Fatalf("upstream saw %d queries after 2, want %d", n, wantCalls)
			}
			if tc.cachedFor == 0 {
				return
			}
			clock.Advance(tc.cachedFor - time.Second)
			mustAsk(t, c, q)
			if n := u.calls.Load(); n != 1 {
				t.Errorf("entry gone before %v", tc.cachedFor)
			}
			clock.Advance(time.Second)
			mustAsk(t, c, q)
			if n := u.calls.Load(); n != 2 {
				t.Errorf("entry still served at %v", tc.cachedFor)
			}
		})
	}
}

// TestKey checks what the key includes: DO, CD and type do; name case and
// EDNS without DO do not. (Only class IN is cached: TestOnlyClassIN.)
func TestKey(t *testing.T) {
	tests := []struct {
		name          string
		first, second query
		wantHit       bool
	}{
		{"same", a("www.example.test."), a("www.example.test."), true},
		{"case insensitive", a("www.example.test."), a("WwW.ExAmPlE.TEST."), true},
		{"case insensitive reverse", a("WWW.EXAMPLE.TEST."), a("www.example.test."), true},
		{"rd does not matter", a("www.example.test."), query{name: "www.example.test.", qtype: dns.TypeA, noRD: true}, true},
		{"edns without do shares", a("www.example.test."), query{name: "www.example.test.", qtype: dns.TypeA, edns: true}, true},
		{"no edns shares with edns", query{name: "www.example.test.", qtype: dns.TypeA, edns: true}, a("www.example.test."), true},
		{"do does not hit non-do", a("www.example.test."), query{name: "www.example.test.", qtype: dns.TypeA, edns: true, do: true}, false},
		{"non-do does not hit do", query{name: "www.example.test.", qtype: dns.TypeA, edns: true, do: true}, a("www.example.test."), false},
		{"cd does not hit non-cd", a("www.example.test."), query{name: "www.example.test.", qtype: dns.TypeA, cd: true}, false},
		{"type", a("www.example.test."), query{name: "www.example.test.", qtype: dns.TypeAAAA}, false},
		{"name", a("www.example.test."), a("www.example.test.example."), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &fakeUpstream{reply: zone(t, testRecords...)}
			c, _ := newTestCache(t, Config{}, u)
			mustAsk(t, c, tc.first)
			mustAsk(t, c, tc.second) // checks the question echoes tc.second's case
			wantCalls := int64(2)
			if tc.wantHit {
				wantCalls = 1
			}
			if n := u.calls.Load(); n != wantCalls {
				t.Errorf("upstream saw %d queries, want %d", n, wantCalls)
			}
		})
	}
}

// TestOPT checks that the answer has Hearth's OPT record exactly when the
// client sent one, without the upstream's NSID and cookie, on a miss and on
// a hit; checkReply does the checking.
func TestOPT(t *testing.T) {
	for _, q := range []query{
		a("www.example.test."),
		{name: "www.example.test.", qtype: dns.TypeA, edns: true},
		{name: "www.example.test.", qtype: dns.TypeA, edns: true, do: true},
		{name: "nope.test.", qtype: dns.TypeA, edns: true, do: true},
	} {
		t.Run(fmt.Sprintf("edns=%v,do=%v,%s", q.edns, q.do, q.name), func(t *testing.T) {
			u := &fakeUpstream{reply: zone(t, testRecords...)}
			c, _ := newTestCache(t, Config{}, u)
			miss := mustAsk(t, c, q)
			hit := mustAsk(t, c, q)
			if u.calls.Load() != 1 {
				t.Fatalf("second query was not a hit")
			}
			if miss.String() != hit.String() {
				t.Errorf("hit differs from miss:\n%v\n%v", miss, hit)
			}
		})
	}
}

// TestEviction checks that the cache never holds more than Size entries
// and that CLOCK keeps recently used entries over unused ones.
func TestEviction(t *testing.T) {
	for _, size := range []int{1, 4, 10, 100, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			u := &fakeUpstream{reply: func(q *dns.Msg) *dns.Msg {
				m := new(dns.Msg)
				m.SetReply(q)
				m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 1)}}
				return m
			}}
			c, _ := newTestCache(t, Config{Size: size}, u)
			n := 3*size + 10
			for i := range n {
				mustAsk(t, c, a(fmt.Sprintf("n%d.test.", i)))
				if c.Len() > size {
					t.Fatalf("after %d names Len = %d > Size %d", i+1, c.Len(), size)
				}
			}
			if got, want := c.Stats().Evictions, uint64(n-c.Len()); got != want {
				t.Errorf("evictions = %d, want %d", got, want)
			}
			if c.Len() < size*3/4 {
				t.Errorf("Len = %d, want close to Size %d", c.Len(), size)
			}
		})
	}

	t.Run("clock keeps used entries", func(t *testing.T) {
		u := &fakeUpstream{reply: zone(t,
			"a.test. 300 IN A 192.0.2.1", "b.test. 300 IN A 192.0.2.1", "c.test. 300 IN A 192.0.2.1",
			"d.test. 300 IN A 192.0.2.1", "e.test. 300 IN A 192.0.2.1")}
		c, _ := newTestCache(t, Config{Size: 4}, u) // one shard of 4
		for _, n := range []string{"a.test.", "b.test.", "c.test.", "d.test.", "a.test.", "e.test."} {
			mustAsk(t, c, a(n))
		}
		calls := u.calls.Load()
		mustAsk(t, c, a("a.test."))
		if u.calls.Load() != calls {
			t.Errorf("recently used a.test. was evicted")
		}
		mustAsk(t, c, a("b.test."))
		if u.calls.Load() != calls+1 {
			t.Errorf("unused b.test. was not the one evicted")
		}
	})
}

// TestCoalescing checks that 50 concurrent identical misses make one
// upstream query, and that each client gets the answer with its own ID.
func TestCoalescing(t *testing.T) {
	const clients = 50
	u := &fakeUpstream{reply: zone(t, testRecords...), release: make(chan struct{})}
	c, _ := newTestCache(t, Config{}, u)
	var joined sync.WaitGroup
	joined.Add(clients)
	c.joinHook = joined.Done

	answers := make([]*dnstest.Recorder, clients)
	errs := make([]error, clients)
	reqs := make([]*pipeline.Request, clients)
	var done sync.WaitGroup
	for i := range clients {
		answers[i] = &dnstest.Recorder{}
		reqs[i] = query{name: "www.example.test.", qtype: dns.TypeA, id: uint16(1000 + i), edns: i%2 == 0}.req()
		done.Add(1)
		go func() {
			defer done.Done()
			errs[i] = c.ServeDNS(context.Background(), answers[i], reqs[i])
		}()
	}
	waitOrFail(t, &joined, "all clients to join the flight")
	close(u.release)
	done.Wait()

	if n := u.calls.Load(); n != 1 {
		t.Errorf("upstream saw %d queries, want 1", n)
	}
	for i, rec := range answers {
		if errs[i] != nil || rec.Writes != 1 {
			t.Fatalf("client %d: err %v, %d writes", i, errs[i], rec.Writes)
		}
		checkReply(t, reqs[i], rec.Msg)
		if len(rec.Msg.Answer) != 1 {
			t.Errorf("client %d: answer %v", i, rec.Msg.Answer)
		}
	}
	if st := c.Stats(); st.Coalesced != clients-1 || st.Misses != clients || st.Upstream != 1 {
		t.Errorf("stats = %+v, want %d misses, %d coalesced, 1 upstream", st, clients, clients-1)
	}
}

// TestCoalescingClientGivesUp checks that the client that started a flight
// giving up does not fail the others waiting on it.
func TestCoalescingClientGivesUp(t *testing.T) {
	u := &fakeUpstream{reply: zone(t, testRecords...), entered: make(chan struct{}, 1), release: make(chan struct{})}
	c, _ := newTestCache(t, Config{}, u)
	var joined sync.WaitGroup
	joined.Add(2)
	c.joinHook = joined.Done

	ctx, cancel := context.WithCancel(context.Background())
	leader := &dnstest.Recorder{}
	leaderDone := make(chan error)
	go func() { leaderDone <- c.ServeDNS(ctx, leader, a("www.example.test.").req()) }()
	<-u.entered

	follower := &dnstest.Recorder{}
	followerDone := make(chan error)
	go func() { followerDone <- c.ServeDNS(context.Background(), follower, a("www.example.test.").req()) }()
	waitOrFail(t, &joined, "the follower to join")

	cancel()
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: err %v, want context.Canceled", err)
	}
	if leader.Writes != 1 || leader.Msg.Rcode != dns.RcodeServerFailure {
		t.Errorf("leader: want one SERVFAIL, got %d writes %v", leader.Writes, leader.Msg)
	}
	close(u.release)
	if err := <-followerDone; err != nil {
		t.Fatalf("follower: %v", err)
	}
	if follower.Msg.Rcode != dns.RcodeSuccess || len(follower.Msg.Answer) != 1 {
		t.Errorf("follower: %v", follower.Msg)
	}
	if n := u.calls.Load(); n != 1 {
		t.Errorf("upstream saw %d queries, want 1", n)
	}
}

func waitOrFail(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a guard against hanging, not synchronisation
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestPrefetch checks that an entry hit at least twice is refreshed in the
// background once less than a tenth of its TTL remains, and that clients
// then get the refreshed answer past the old expiry.
func TestPrefetch(t *testing.T) {
	// versioned answers 192.0.2.N on the upstream's Nth query.
	versioned := func(u *fakeUpstream, ttl uint32) func(q *dns.Msg) *dns.Msg {
		return func(q *dns.Msg) *dns.Msg {
			m := new(dns.Msg)
			m.SetReply(q)
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
				A:   net.IPv4(192, 0, 2, byte(u.calls.Load())),
			}}
			return m
		}
	}
	tests := []struct {
		name         string
		prefetch     bool
		ttl          uint32
		hits         []time.Duration // when the client asks again, from t0
		wantPrefetch bool
	}{
		{"popular and expiring", true, 300, []time.Duration{10 * time.Second, 275 * time.Second}, true},
		{"second hit triggers", true, 300, []time.Duration{275 * time.Second, 276 * time.Second}, true},
		{"one hit is not popular", true, 300, []time.Duration{275 * time.Second}, false},
		{"not yet expiring", true, 300, []time.Duration{10 * time.Second, 269 * time.Second}, false},
		{"off", false, 300, []time.Duration{10 * time.Second, 275 * time.Second}, false},
		{"short ttl never", true, 5, []time.Duration{1 * time.Second, 4*time.Second + 600*time.Millisecond}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &fakeUpstream{}
			u.reply = versioned(u, tc.ttl)
			c, clock := newTestCache(t, Config{Prefetch: tc.prefetch}, u)
			mustAsk(t, c, a("pop.test."))
			at := time.Duration(0)
			for _, h := range tc.hits {
				clock.Advance(h - at)
				at = h
				if m := mustAsk(t, c, a("pop.test.")); m.Answer[0].(*dns.A).A[3] != 1 {
					t.Fatalf("hit at %v did not serve the cached answer: %v", h, m.Answer)
				}
			}
			c.bg.Wait() // the background refresh, if any, has landed
			wantCalls := int64(1)
			if tc.wantPrefetch {
				wantCalls = 2
			}
			if n := u.calls.Load(); n != wantCalls {
				t.Fatalf("upstream saw %d queries, want %d", n, wantCalls)
			}
			if got := c.Stats().Prefetches; got != uint64(wantCalls-1) {
				t.Errorf("Prefetches = %d, want %d", got, wantCalls-1)
			}
			if !tc.wantPrefetch {
				return
			}
			// More hits on the refreshed entry do not prefetch again.
			mustAsk(t, c, a("pop.test."))
			mustAsk(t, c, a("pop.test."))
			// Past the original expiry the refreshed entry serves, with
			// its TTL counted from the refresh.
			clock.Advance(time.Duration(tc.ttl)*time.Second - at + 100*time.Second)
			m := mustAsk(t, c, a("pop.test."))
			c.bg.Wait()
			if n := u.calls.Load(); n != 2 {
				t.Errorf("upstream saw %d queries, want 2", n)
			}
			if got := m.Answer[0].(*dns.A).A[3]; got != 2 {
				t.Errorf("answer from query %d, want the prefetched one (2)", got)
			}
			// Refreshed at the last hit, at, so it expires at at+ttl; we are
			// at ttl+100 s.
			if got, want := m.Answer[0].Header().Ttl, uint32(at/time.Second)-100; got != want {
				t.Errorf("TTL %d, want %d", got, want)
			}
		})
	}
}

// TestServeStale checks RFC 8767: when the upstream fails, an expired entry
// within ServeStale is served with TTL 30 and EDE 3; beyond it, or without
// an entry, the client gets SERVFAIL with the upstream error's EDE.
func TestServeStale(t *testing.T) {
	upErr := &dnsmsg.ExtendedError{Code: dnsmsg.EDENoReachableAuthority, Text: "no upstream answered", Err: errors.New("i/o timeout")}
	tests := []struct {
		name       string
		serveStale time.Duration
		advance    time.Duration
		failure    error // nil: the upstream answers SERVFAIL
		edns       bool
		wantStale  bool
	}{
		{"stale within window", time.Hour, 400 * time.Second, upErr, true, true},
		{"stale without edns has no ede", time.Hour, 400 * time.Second, upErr, false, true},
		{"stale on upstream servfail", time.Hour, 400 * time.Second, nil, true, true},
		{"fresh entry is a plain hit", time.Hour, 100 * time.Second, upErr, true, false},
		{"beyond window", time.Hour, 300*time.Second + time.Hour, upErr, true, false},
		{"serve stale off", 0, 400 * time.Second, upErr, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			good := zone(t, testRecords...)
			u := &fakeUpstream{reply: good}
			c, clock := newTestCache(t, Config{ServeStale: tc.serveStale}, u)
			q := query{name: "www.example.test.", qtype: dns.TypeA, edns: tc.edns}
			mustAsk(t, c, q)
			if tc.failure != nil {
				u.setFail(tc.failure)
			} else {
				u.reply = func(q *dns.Msg) *dns.Msg { return dnsmsg.Reply(q, dns.RcodeServerFailure) }
			}
			clock.Advance(tc.advance)
			m, err := ask(t, c, q)
			fresh := tc.advance < 300*time.Second
			switch {
			case fresh:
				if err != nil || m.Rcode != dns.RcodeSuccess || ede(m) != -1 || m.Answer[0].Header().Ttl != uint32(300-tc.advance/time.Second) {
					t.Errorf("fresh hit: err %v, answer %v", err, m)
				}
			case tc.wantStale:
				if err != nil {
					t.Errorf("stale answer returned error %v", err)
				}
				if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
					t.Errorf("stale answer = %v", m)
				}
				if m.Answer[0].Header().Ttl != staleTTL {
					t.Errorf("stale TTL %d, want %d", m.Answer[0].Header().Ttl, staleTTL)
				}
				wantEDE := -1
				if tc.edns {
					wantEDE = int(dnsmsg.EDEStaleAnswer)
				}
				if got := ede(m); got != wantEDE {
					t.Errorf("EDE %d, want %d", got, wantEDE)
				}
				if c.Stats().Stale != 1 {
					t.Errorf("Stale = %d, want 1", c.Stats().Stale)
				}
			case tc.failure == nil:
				if m.Rcode != dns.RcodeServerFailure {
					t.Errorf("rcode %s, want the upstream's SERVFAIL", dns.RcodeToString[m.Rcode])
				}
			default:
				if !errors.Is(err, upErr) {
					t.Errorf("err %v, want the upstream's", err)
				}
				if m.Rcode != dns.RcodeServerFailure || ede(m) != int(dnsmsg.EDENoReachableAuthority) {
					t.Errorf("want SERVFAIL with EDE 22, got %v", m)
				}
				if c.Stats().Stale != 0 {
					t.Errorf("Stale = %d, want 0", c.Stats().Stale)
				}
			}
			// Once the upstream recovers, the entry is refreshed.
			u.setFail(nil)
			u.reply = good
			m = mustAsk(t, c, q)
			if m.Rcode != dns.RcodeSuccess || ede(m) != -1 || m.Answer[0].Header().Ttl == staleTTL && !fresh {
				t.Errorf("after recovery: %v", m)
			}
		})
	}
}

// TestServFailNothingCached checks the SERVFAIL of a failing upstream with
// an empty cache: it carries the error's EDE, and the failure is not cached.
func TestServFailNothingCached(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode int
	}{
		{"extended", &dnsmsg.ExtendedError{Code: dnsmsg.EDENetworkError, Text: "network unreachable"}, int(dnsmsg.EDENetworkError)},
		{"plain", errors.New("boom"), int(dnsmsg.EDEOther)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &fakeUpstream{reply: zone(t, testRecords...)}
			u.setFail(tc.err)
			c, _ := newTestCache(t, Config{ServeStale: time.Hour}, u)
			for range 2 {
				m, err := ask(t, c, query{name: "www.example.test.", qtype: dns.TypeA, edns: true})
				if !errors.Is(err, tc.err) {
					t.Errorf("err %v, want %v", err, tc.err)
				}
				if m.Rcode != dns.RcodeServerFailure || ede(m) != tc.wantCode {
					t.Errorf("want SERVFAIL with EDE %d, got %v", tc.wantCode, m)
				}
			}
			if n := u.calls.Load(); n != 2 {
				t.Errorf("upstream saw %d queries, want 2", n)
			}
			if c.Len() != 0 {
				t.Errorf("Len = %d, want 0", c.Len())
			}
		})
	}
}

// TestUncacheable checks that queries the cache cannot key go to the
// upstream every time.
func TestUncacheable(t *testing.T) {
	tests := []struct {
		name   string
		modify func(m *dns.Msg)
	}{
		{"two questions", func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }},
		{"notify", func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }},
		{"overlong name", func(m *dns.Msg) { m.Question[0].Name = string(make([]byte, maxKeyName+1)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &fakeUpstream{reply: zone(t, testRecords...)}
			c, _ := newTestCache(t, Config{}, u)
			for range 2 {
				r := a("www.example.test.").req()
				tc.modify(r.Msg)
				rec := &dnstest.Recorder{}
				if err := c.ServeDNS(context.Background(), rec, r); err != nil || rec.Writes != 1 {
					t.Fatalf("err %v, %d writes", err, rec.Writes)
				}
			}
			if n := u.calls.Load(); n != 2 {
				t.Errorf("upstream saw %d queries, want 2", n)
			}
		})
	}
}

// TestShutdown checks that Shutdown cancels a background refresh and waits
// for it, and that misses afterwards get SERVFAIL.
func TestShutdown(t *testing.T) {
	u := &fakeUpstream{reply: zone(t, testRecords...)}
	c, clock := newTestCache(t, Config{Prefetch: true}, u)
	mustAsk(t, c, a("www.example.test."))
	u.entered = make(chan struct{}, 1)
	u.release = make(chan struct{}) // never closed: only cancellation ends the refresh
	clock.Advance(290 * time.Second)
	mustAsk(t, c, a("www.example.test."))
	mustAsk(t, c, a("www.example.test.")) // second hit: prefetch
	<-u.entered
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	m, err := ask(t, c, a("other.test."))
	if err == nil || m.Rcode != dns.RcodeServerFailure {
		t.Errorf("after shutdown: err %v, answer %v", err, m)
	}
}

// TestHitDoesNotAllocate guards the hot path.
func TestHitDoesNotAllocate(t *testing.T) {
	for _, q := range []query{
		a("www.example.test."),
		{name: "WWW.Example.Test.", qtype: dns.TypeA, edns: true, do: true},
		{name: "nope.test.", qtype: dns.TypeA, edns: true},
	} {
		u := &fakeUpstream{reply: zone(t, testRecords...)}
		c, _ := newTestCache(t, Config{Prefetch: true, ServeStale: time.Hour}, u)
		r := q.req()
		w := &nopWriter{}
		ctx := context.Background()
		if err := c.ServeDNS(ctx, w, r); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			if err := c.ServeDNS(ctx, w, r); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: a hit allocates %v times, want 0", q.name, allocs)
		}
		if w.id != r.Msg.Id || u.calls.Load() != 1 {
			t.Errorf("%s: not answered from the cache", q.name)
		}
	}
}

// TestConcurrent hammers a small cache from many goroutines, with the clock
// moving, evictions, prefetches, coalescing and a flaky upstream; run it
// with -race.
func TestConcurrent(t *testing.T) {
	var names, records []string
	for i := range 40 {
		names = append(names, fmt.Sprintf("h%d.test.", i))
		records = append(records, fmt.Sprintf("h%d.test. %d IN A 192.0.2.%d", i, 5+i*7, i))
	}
	u := &fakeUpstream{reply: zone(t, records...)}
	c, clock := newTestCache(t, Config{Size: 16, Prefetch: true, ServeStale: time.Minute}, u)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 2000 {
				q := query{name: names[rng.IntN(len(names))], qtype: dns.TypeA, id: uint16(i), edns: rng.IntN(2) == 0}
				q.do = q.edns && rng.IntN(4) == 0
				if rng.IntN(3) == 0 {
					q.qtype = dns.TypeAAAA
				}
				switch rng.IntN(200) {
				case 0:
					clock.Advance(time.Duration(rng.IntN(20)) * time.Second)
				case 1:
					u.setFail(errors.New("flaky"))
				case 2:
					u.setFail(nil)
				}
				w := &dnstest.Recorder{}
				r := q.req()
				c.ServeDNS(context.Background(), w, r)
				if w.Writes != 1 {
					t.Errorf("%d writes", w.Writes)
					return
				}
				checkReply(t, r, w.Msg)
				if rc := w.Msg.Rcode; rc != dns.RcodeSuccess && rc != dns.RcodeServerFailure {
					t.Errorf("rcode %s", dns.RcodeToString[rc])
				}
				if c.Len() > 16 {
					t.Errorf("Len %d > 16", c.Len())
				}
			}
		}()
	}
	wg.Wait()
	st := c.Stats()
	if st.Hits+st.Misses != 8*2000 {
		t.Errorf("hits+misses = %d, want %d", st.Hits+st.Misses, 8*2000)
	}
	t.Logf("stats: %+v", st)
}

// TestOversizedAndPanics checks that answers too large for the hit path's
// buffer go to the upstream every time, and that a panicking upstream
// becomes SERVFAIL rather than a crash.
func TestOversizedAndPanics(t *testing.T) {
	big := func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(q)
		for i := range 20 {
			txt := make([]byte, 250)
			for j := range txt {
				txt[j] = 'a' + byte(i)
			}
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: []string{string(txt)}})
		}
		return m
	}
	u := &fakeUpstream{reply: big}
	c, _ := newTestCache(t, Config{}, u)
	for range 2 {
		m := mustAsk(t, c, query{name: "big.test.", qtype: dns.TypeTXT})
		if len(m.Answer) != 20 {
			t.Fatalf("answer has %d records, want 20", len(m.Answer))
		}
	}
	if n := u.calls.Load(); n != 2 {
		t.Errorf("upstream saw %d queries, want 2: oversized answer was cached", n)
	}

	u.reply = func(q *dns.Msg) *dns.Msg { panic("bug") }
	m, err := ask(t, c, query{name: "www.example.test.", qtype: dns.TypeA, edns: true})
	if err == nil || m.Rcode != dns.RcodeServerFailure {
		t.Errorf("panicking upstream: err %v, answer %v", err, m)
	}
}
