package cache

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// TestOnlyClassIN checks that the cache never forwards a class other than
// IN, whatever reaches it.
func TestOnlyClassIN(t *testing.T) {
	for _, class := range []uint16{dns.ClassCHAOS, dns.ClassHESIOD, dns.ClassNONE, dns.ClassANY, 5} {
		t.Run(dns.ClassToString[class], func(t *testing.T) {
			u := &fakeUpstream{reply: zone(t, testRecords...)}
			c, _ := newTestCache(t, Config{}, u)
			m := mustAsk(t, c, query{name: "version.test.", qtype: dns.TypeTXT, qclass: class})
			if m.Rcode != dns.RcodeRefused {
				t.Errorf("rcode %s, want REFUSED", dns.RcodeToString[m.Rcode])
			}
			if n := u.calls.Load(); n != 0 {
				t.Errorf("upstream saw %d queries", n)
			}
		})
	}
}

// TestADOnlyWhenAsked checks RFC 6840 section 5.7 through the cache: the
// upstream validated the answer (AD), and each client sees AD only if its
// query had AD or DO, whichever client filled the entry.
func TestADOnlyWhenAsked(t *testing.T) {
	validated := zone(t, testRecords...)
	u := &fakeUpstream{reply: func(q *dns.Msg) *dns.Msg {
		m := validated(q)
		m.AuthenticatedData = true
		return m
	}}
	plain := a("www.example.test.")
	withAD := query{name: "www.example.test.", qtype: dns.TypeA, ad: true}
	withDO := query{name: "www.example.test.", qtype: dns.TypeA, edns: true, do: true}
	ednsOnly := query{name: "www.example.test.", qtype: dns.TypeA, edns: true}
	tests := []struct {
		name   string
		asks   []query
		wantAD []bool
	}{
		{"plain then AD", []query{plain, withAD, plain}, []bool{false, true, false}},
		{"AD then plain", []query{withAD, plain, ednsOnly, withAD}, []bool{true, false, false, true}},
		{"DO", []query{withDO, withDO}, []bool{true, true}},
		{"EDNS without DO", []query{ednsOnly, withAD}, []bool{false, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, clock := newTestCache(t, Config{ServeStale: time.Hour}, u)
			for i, q := range tc.asks {
				if m := mustAsk(t, c, q); m.AuthenticatedData != tc.wantAD[i] {
					t.Errorf("ask %d: AD %v, want %v", i, m.AuthenticatedData, tc.wantAD[i])
				}
			}
			// Stale answers follow the same rule.
			clock.Advance(400 * time.Second)
			u.setFail(errors.New("down"))
			defer u.setFail(nil)
			for i, q := range tc.asks {
				if m := mustAsk(t, c, q); m.AuthenticatedData != tc.wantAD[i] {
					t.Errorf("stale ask %d: AD %v, want %v", i, m.AuthenticatedData, tc.wantAD[i])
				}
			}
		})
	}
}

// TestTTLBounds checks RFC 2181 section 8 (a TTL of 2^31 or more is 0)
// and that MaxTTL caps every TTL a client sees, cached or not.
func TestTTLBounds(t *testing.T) {
	big := func(ttl uint32, n int) func(q *dns.Msg) *dns.Msg {
		return func(q *dns.Msg) *dns.Msg {
			m := new(dns.Msg).SetReply(q)
			for i := range n {
				m.Answer = append(m.Answer, &dns.TXT{
					Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl},
					Txt: []string{fmt.Sprintf("%03d%s", i, strings.Repeat("x", 200))}})
			}
			return m
		}
	}
	tests := []struct {
		name       string
		ttl        uint32
		records    int // 30 records make an answer too large to cache
		wantTTL    uint32
		wantCached bool
	}{
		{"2^32-1 reads 0", 1<<32 - 1, 1, 0, false},
		{"2^31 reads 0", 1 << 31, 1, 0, false},
		{"2^31-1 capped", 1<<31 - 1, 1, 3600, true},
		{"uncacheable answer capped", 86400 * 7, 30, 3600, false},
		{"uncacheable huge reads 0", 1<<32 - 1, 30, 0, false},
		{"below cap", 60, 1, 60, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &fakeUpstream{reply: big(tc.ttl, tc.records)}
			c, _ := newTestCache(t, Config{MaxTTL: time.Hour}, u)
			q := query{name: "txt.test.", qtype: dns.TypeTXT, edns: true}
			for i := range 2 {
				rec := &dnstest.Recorder{}
				r := q.req()
				r.MaxSize = dns.MaxMsgSize
				if err := c.ServeDNS(context.Background(), rec, r); err != nil {
					t.Fatal(err)
				}
				for _, rr := range rec.Msg.Answer {
					if rr.Header().Ttl != tc.wantTTL {
						t.Fatalf("ask %d: TTL %d, want %d", i, rr.Header().Ttl, tc.wantTTL)
					}
				}
			}
			if cached := u.calls.Load() == 1; cached != tc.wantCached {
				t.Errorf("cached %v (upstream saw %d), want %v", cached, u.calls.Load(), tc.wantCached)
			}
		})
	}
}

// TestMaxBytes checks that the cache holds no more bytes than MaxBytes,
// however large the answers asked for, and stays near it.
func TestMaxBytes(t *testing.T) {
	for _, size := range []int{200, 1500, 3500} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			u := &fakeUpstream{reply: func(q *dns.Msg) *dns.Msg {
				m := new(dns.Msg).SetReply(q)
				m.Answer = []dns.RR{&dns.TXT{
					Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
					Txt: splitTXT(strings.Repeat("y", size))}}
				return m
			}}
			const maxBytes = 1 << 20
			c, _ := newTestCache(t, Config{Size: 100000, MaxBytes: maxBytes}, u)
			n := 3 * maxBytes / size
			for i := range n {
				q := query{name: fmt.Sprintf("n%d.test.", i), qtype: dns.TypeTXT, edns: true}
				r := q.req()
				r.MaxSize = dns.MaxMsgSize
				if err := c.ServeDNS(context.Background(), &dnstest.Recorder{}, r); err != nil {
					t.Fatal(err)
				}
				if b := c.Bytes(); b > maxBytes {
					t.Fatalf("after %d answers of %d bytes: %d bytes held, over %d", i+1, size, b, maxBytes)
				}
			}
			if b := c.Bytes(); b < maxBytes*3/4 {
				t.Errorf("%d bytes held, want close to %d", b, maxBytes)
			}
			if got, want := c.Stats().Evictions, uint64(n-c.Len()); got != want {
				t.Errorf("evictions = %d, want %d", got, want)
			}
		})
	}
}

func splitTXT(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}

// TestFailureCache checks RFC 9520: a failure is remembered for
// FailureTTL, during which the question is answered SERVFAIL with EDE 13
// without asking the upstream, then asked again; a stale answer still wins.
func TestFailureCache(t *testing.T) {
	servfail := func(q *dns.Msg) *dns.Msg { return new(dns.Msg).SetRcode(q, dns.RcodeServerFailure) }
	tests := []struct {
		name  string
		reply func(q *dns.Msg) *dns.Msg
		err   error
	}{
		{"upstream error", nil, &dnsmsg.ExtendedError{Code: dnsmsg.EDENoReachableAuthority, Text: "upstreams timed out"}},
		{"upstream SERVFAIL", servfail, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &fakeUpstream{reply: zone(t, testRecords...)}
			if tc.reply != nil {
				u.reply = tc.reply
			}
			u.setFail(tc.err)
			c, clock := newTestCache(t, Config{FailureTTL: 5 * time.Second}, u)
			q := query{name: "www.example.test.", qtype: dns.TypeA, edns: true}
			m, _ := ask(t, c, q)
			if m.Rcode != dns.RcodeServerFailure {
				t.Fatalf("first answer %s", dns.RcodeToString[m.Rcode])
			}
			for range 3 {
				m, err := ask(t, c, q)
				if err != nil || m.Rcode != dns.RcodeServerFailure || ede(m) != int(dnsmsg.EDECachedError) {
					t.Fatalf("within FailureTTL: err %v, answer %v, want SERVFAIL with EDE 13", err, m)
				}
			}
			if n := u.calls.Load(); n != 1 {
				t.Fatalf("upstream saw %d queries within FailureTTL, want 1", n)
			}
			if got := c.Stats().Failures; got != 3 {
				t.Errorf("Stats.Failures = %d, want 3", got)
			}
			// Expired: asked again, and a success clears it.
			clock.Advance(5 * time.Second)
			u.setFail(nil)
			u.reply = zone(t, testRecords...)
			if m := mustAsk(t, c, q); m.Rcode != dns.RcodeSuccess {
				t.Fatalf("after FailureTTL: %s", dns.RcodeToString[m.Rcode])
			}
			if n := u.calls.Load(); n != 2 {
				t.Errorf("upstream saw %d queries, want 2", n)
			}
		})
	}

	t.Run("stale answer wins", func(t *testing.T) {
		u := &fakeUpstream{reply: zone(t, testRecords...)}
		c, clock := newTestCache(t, Config{FailureTTL: 5 * time.Second, ServeStale: time.Hour}, u)
		q := query{name: "short.test.", qtype: dns.TypeA, edns: true}
		mustAsk(t, c, q)
		clock.Advance(10 * time.Second)
		u.setFail(errors.New("down"))
		for range 3 {
			if m := mustAsk(t, c, q); ede(m) != int(dnsmsg.EDEStaleAnswer) {
				t.Errorf("answer %v, want the stale one", m)
			}
		}
		if n := u.calls.Load(); n != 2 {
			t.Errorf("upstream saw %d queries, want 2 (the failure cached)", n)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		u := &fakeUpstream{reply: zone(t, testRecords...)}
		u.setFail(errors.New("down"))
		c, _ := newTestCache(t, Config{Size: 64, FailureTTL: time.Minute}, u)
		for i := range 1000 {
			ask(t, c, a(fmt.Sprintf("n%d.test.", i)))
		}
		held := 0
		for i := range c.shards {
			held += len(c.shards[i].fails)
		}
		if limit := max(64/8, 8*len(c.shards)); held > limit || held == 0 {
			t.Errorf("%d failures held, want 1 to %d", held, limit)
		}
	})

	t.Run("off", func(t *testing.T) {
		u := &fakeUpstream{reply: zone(t, testRecords...)}
		u.setFail(errors.New("down"))
		c, _ := newTestCache(t, Config{}, u)
		for range 3 {
			ask(t, c, a("www.example.test."))
		}
		if n := u.calls.Load(); n != 3 {
			t.Errorf("upstream saw %d queries, want 3", n)
		}
	})
}

// TestInflightCaps checks that a client with MaxInflightPerClient upstream
// queries in flight gets SERVFAIL at once for one more, while other
// clients are still served, and that MaxInflight bounds them all.
func TestInflightCaps(t *testing.T) {
	u := &fakeUpstream{reply: zone(t, testRecords...), entered: make(chan struct{}, 100), release: make(chan struct{})}
	c, _ := newTestCache(t, Config{MaxInflight: 6, MaxInflightPerClient: 4}, u)
	from := func(client string, name string) query {
		return query{name: name, qtype: dns.TypeA, edns: true, client: netip.MustParseAddrPort(client)}
	}
	var wg sync.WaitGroup
	start := func(q query) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := &dnstest.Recorder{}
			c.ServeDNS(context.Background(), rec, q.req())
		}()
	}
	// The flooder fills its share with four distinct names.
	for i := range 4 {
		start(from("192.168.1.66:1000", fmt.Sprintf("n%d.flood.test.", i)))
		<-u.entered
	}
	// Its fifth is answered at once, without an upstream query.
	m, err := ask(t, c, from("192.168.1.66:1001", "n4.flood.test."))
	if err != nil || m.Rcode != dns.RcodeServerFailure || ede(m) != int(dnsmsg.EDEOther) {
		t.Fatalf("over the per-client cap: err %v answer %v, want SERVFAIL with EDE 0", err, m)
	}
	// An identical query joins a flight in progress: no slot needed.
	joined := make(chan struct{})
	go func() {
		defer close(joined)
		ask(t, c, from("192.168.1.66:1002", "n0.flood.test."))
	}()
	// Another client is served: it gets a slot of its own.
	start(from("192.168.1.20:2000", "www.example.test."))
	<-u.entered
	start(from("[fd00::20]:2000", "www.example.test.")) // coalesced
	start(from("[fd00::21]:2000", "short.test."))
	<-u.entered
	// Now six in flight: the total cap refuses a third client.
	if q, clients := c.Inflight(); q != 6 || clients != 3 {
		t.Errorf("Inflight = %d queries from %d clients, want 6 from 3", q, clients)
	}
	m, _ = ask(t, c, from("192.168.1.30:3000", "long.test."))
	if m.Rcode != dns.RcodeServerFailure {
		t.Errorf("over the total cap: %s, want SERVFAIL", dns.RcodeToString[m.Rcode])
	}
	if got := c.Stats().Busy; got != 2 {
		t.Errorf("Stats.Busy = %d, want 2", got)
	}
	close(u.release)
	wg.Wait()
	<-joined
	if q, clients := c.Inflight(); q != 0 || clients != 0 {
		t.Errorf("after the flights: Inflight = %d, %d, want 0, 0", q, clients)
	}
	// Busy answers were not cached as failures: asked again, it resolves.
	u2 := mustAsk(t, c, from("192.168.1.66:1003", "n4.flood.test."))
	if u2.Rcode == dns.RcodeServerFailure {
		t.Error("the busy answer was cached")
	}
	if n := u.calls.Load(); n != 7 {
		t.Errorf("upstream saw %d queries, want 7", n)
	}
}
