package upstream

import (
	"bytes"
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
	"github.com/miekg/dns"
)

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want string // in the error
	}{
		{"no servers", Config{}, "no upstream servers"},
		{"empty server", Config{Servers: []string{""}}, `upstream "": empty`},
		{"plain host name", Config{Servers: []string{"dns.google"}}, `upstream "dns.google": plain DNS needs an IP address`},
		{"udp host name", Config{Servers: []string{"udp://dns.google:53"}}, `upstream "udp://dns.google:53"`},
		{"bad port", Config{Servers: []string{"1.2.3.4:99999"}}, `upstream "1.2.3.4:99999": invalid port`},
		{"port zero", Config{Servers: []string{"tcp://1.2.3.4:0"}}, `upstream "tcp://1.2.3.4:0"`},
		{"scheme", Config{Servers: []string{"quic://1.2.3.4"}}, `upstream "quic://1.2.3.4": unsupported scheme "quic"`},
		{"tls bad host", Config{Servers: []string{"tls://bad host"}}, `upstream "tls://bad host": invalid host`},
		{"tls bad name", Config{Servers: []string{"tls://1.1.1.1#bad name"}}, `upstream "tls://1.1.1.1#bad name": invalid TLS server name`},
		{"tls path", Config{Servers: []string{"tls://1.1.1.1/x"}}, `upstream "tls://1.1.1.1/x"`},
		{"tls empty", Config{Servers: []string{"tls://"}}, `upstream "tls://": missing host`},
		{"https fragment", Config{Servers: []string{"https://dns.example/q#x"}}, `upstream "https://dns.example/q#x"`},
		{"https user", Config{Servers: []string{"https://u:p@dns.example/q"}}, `upstream "https://u:p@dns.example/q"`},
		{"bad v6", Config{Servers: []string{"[::g]:53"}}, `upstream "[::g]:53"`},
		{"good then bad", Config{Servers: []string{"9.9.9.9", "9.9.9.9:x"}}, `upstream "9.9.9.9:x"`},
		{"strategy", Config{Servers: []string{"9.9.9.9"}, Strategy: "random"}, `strategy "random"`},
		{"bootstrap name", Config{Servers: []string{"9.9.9.9"}, Bootstrap: []string{"dns.google"}}, `bootstrap "dns.google"`},
		{"timeout", Config{Servers: []string{"9.9.9.9"}, Timeout: -time.Second}, "timeout -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := New(tt.c)
			if err == nil {
				g.Close()
				t.Fatalf("New(%+v) = nil error, want one containing %q", tt.c, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestNewAcceptsServerForms(t *testing.T) {
	tests := []struct{ in, want string }{
		{"9.9.9.9", "udp://9.9.9.9:53"},
		{"9.9.9.9:5353", "udp://9.9.9.9:5353"},
		{"[::1]:53", "udp://[::1]:53"},
		{"::1", "udp://[::1]:53"},
		{"udp://1.2.3.4:53", "udp://1.2.3.4:53"},
		{"tcp://1.2.3.4", "tcp://1.2.3.4:53"},
		{"TCP://[2001:db8::1]", "tcp://[2001:db8::1]:53"},
		{"tls://1.1.1.1", "tls://1.1.1.1:853"},
		{"tls://dns.example:8853", "tls://dns.example:8853"},
		{"tls://DNS.Example.", "tls://dns.example:853"},
		{"tls://1.1.1.1#cloudflare-dns.com", "tls://1.1.1.1:853#cloudflare-dns.com"},
		{"tls://[2606:4700::1111]#one.one.one.one", "tls://[2606:4700::1111]:853#one.one.one.one"},
		{"https://dns.quad9.net/dns-query", "https://dns.quad9.net/dns-query"},
		{"https://dns.example", "https://dns.example/dns-query"},
		{"https://1.1.1.1:8443/q?x=1", "https://1.1.1.1:8443/q?x=1"},
	}
	for _, tt := range tests {
		g, err := New(Config{Servers: []string{tt.in}, Strategy: StrategyFailover})
		if err != nil {
			t.Errorf("New(%q): %v", tt.in, err)
			continue
		}
		if got, want := g.String(), "failover: "+tt.want; got != want {
			t.Errorf("New(%q).String() = %q, want %q", tt.in, got, want)
		}
		g.Close()
	}
}

func TestExchangeTransports(t *testing.T) {
	env := newTLSEnv(t)
	plain := dnstest.NewServer(t, testZone(t))
	dot := startDoT(t, env.cert, testZone(t))
	doh := startDoH(t, env.cert, testZone(t))
	for _, server := range []string{
		plain.Addr,
		"udp://" + plain.Addr,
		"tcp://" + plain.Addr,
		"tls://" + dot.Addr,
		"tls://" + dot.Addr + "#dns.test",
		"https://" + doh.Listener.Addr().String() + "/dns-query",
	} {
		t.Run(server, func(t *testing.T) {
			g := newGroup(t, Config{Servers: []string{server}, TLS: env.client})
			exchange(t, g)
		})
	}
}

func TestTruncatedUDPAnswerRetriesOverTCP(t *testing.T) {
	zone := testZone(t)
	rec := &recorder{h: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		if w.RemoteAddr().Network() == "udp" {
			m := new(dns.Msg)
			m.SetReply(q)
			m.Truncated = true
			w.WriteMsg(m)
			return
		}
		zone(w, q)
	})}
	s := dnstest.NewServer(t, rec)
	g := newGroup(t, Config{Servers: []string{s.Addr}})
	exchange(t, g)
	var nets []string
	for _, q := range rec.seen() {
		nets = append(nets, q.addr.Network())
	}
	if want := []string{"udp", "tcp"}; !reflect.DeepEqual(nets, want) {
		t.Errorf("upstream saw queries over %v, want %v", nets, want)
	}
}

func TestTCPUpstreamUsesOnlyTCP(t *testing.T) {
	rec := &recorder{h: testZone(t)}
	s := dnstest.NewServer(t, rec)
	g := newGroup(t, Config{Servers: []string{"tcp://" + s.Addr}})
	exchange(t, g)
	exchange(t, g)
	for _, q := range rec.seen() {
		if q.addr.Network() != "tcp" {
			t.Errorf("query over %s, want tcp", q.addr.Network())
		}
	}
}

func TestDoTReusesConnectionsAndResumesSessions(t *testing.T) {
	env := newTLSEnv(t)
	dot := startDoT(t, env.cert, testZone(t))
	g := newGroup(t, Config{Servers: []string{"tls://" + dot.Addr}, TLS: env.client})
	const queries = 10
	for range queries {
		exchange(t, g)
	}
	if n := dot.accepted.Load(); n != 1 {
		t.Errorf("server accepted %d connections for %d sequential queries, want 1", n, queries)
	}
	if n := dot.resumed.Load(); n != 0 {
		t.Errorf("%d queries on a resumed session before any reconnection", n)
	}

	// Drop the pooled connection: the next one must resume the session.
	dropIdle(g)
	exchange(t, g)
	if n := dot.accepted.Load(); n != 2 {
		t.Errorf("server accepted %d connections, want 2 after dropping the idle one", n)
	}
	if n := dot.resumed.Load(); n != 1 {
		t.Errorf("%d queries on resumed sessions, want 1", n)
	}
}

func TestDoTRetriesWhenPooledConnectionWasClosed(t *testing.T) {
	env := newTLSEnv(t)
	dot := startDoT(t, env.cert, testZone(t))
	g := newGroup(t, Config{Servers: []string{"tls://" + dot.Addr}, TLS: env.client})
	exchange(t, g)
	// Close the server side of the pooled connection, as a server does
	// with idle clients, by closing the raw connection under the TLS one.
	c := g.ups[0].ex.(*tlsClient)
	c.mu.Lock()
	if len(c.idle) != 1 {
		c.mu.Unlock()
		t.Fatalf("%d idle connections, want 1", len(c.idle))
	}
	c.idle[0].conn.NetConn().Close()
	c.mu.Unlock()
	exchange(t, g)
	if n := dot.accepted.Load(); n != 2 {
		t.Errorf("server accepted %d connections, want 2", n)
	}
	if n := g.ups[0].health.fails.Load(); n != 0 {
		t.Errorf("upstream has %d failures after a transparent retry, want 0", n)
	}
}

func TestDoHUsesHTTP2PostWithIDZero(t *testing.T) {
	env := newTLSEnv(t)
	doh := startDoH(t, env.cert, testZone(t))
	g := newGroup(t, Config{Servers: []string{"https://127.0.0.1:" + doh.Port + "/dns-query"}, TLS: env.client})
	const queries = 5
	for range queries {
		exchange(t, g)
	}
	reqs := doh.requests()
	if len(reqs) != queries {
		t.Fatalf("server saw %d requests, want %d", len(reqs), queries)
	}
	for i, r := range reqs {
		if r.protoMajor != 2 || r.method != "POST" || r.id != 0 {
			t.Errorf("request %d: HTTP/%d %s with DNS ID %d, want HTTP/2 POST with ID 0", i, r.protoMajor, r.method, r.id)
		}
	}
	if n := doh.conns.Load(); n != 1 {
		t.Errorf("server saw %d connections for %d queries, want 1", n, queries)
	}
}

func TestMismatchedAnswersAreDiscarded(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var bogus atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			send := func(m *dns.Msg) {
				b, _ := m.Pack()
				pc.WriteTo(b, from)
			}
			good := new(dns.Msg)
			good.SetReply(q)
			good.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.ParseIP(exampleIP),
			}}
			wrongID := good.Copy()
			wrongID.Id++
			wrongName := good.Copy()
			wrongName.Question[0].Name = "example.net."
			wrongType := good.Copy()
			wrongType.Question[0].Qtype = dns.TypeAAAA
			notResponse := good.Copy()
			notResponse.Response = false
			noQuestion := good.Copy()
			noQuestion.Question = nil
			for _, m := range []*dns.Msg{wrongID, wrongName, wrongType, notResponse, noQuestion} {
				m.Answer[0].(*dns.A).A = net.ParseIP("203.0.113.66")
				send(m)
				bogus.Add(1)
			}
			pc.WriteTo([]byte{0xde, 0xad}, from)
			// A name in other case is still the question (0x20 encoding).
			good.Question[0].Name = strings.ToUpper(good.Question[0].Name)
			send(good)
		}
	}()
	g := newGroup(t, Config{Servers: []string{pc.LocalAddr().String()}})
	exchange(t, g)
	if n := bogus.Load(); n != 5 {
		t.Errorf("server sent %d bogus answers, want 5", n)
	}
}

func TestFailoverSkipsDeadUpstream(t *testing.T) {
	live := dnstest.NewServer(t, testZone(t))
	dead := deadAddr(t)
	g := newGroup(t, Config{Servers: []string{dead, live.Addr}, Strategy: StrategyFailover})
	exchange(t, g)
	if n := live.Queries(); n != 1 {
		t.Errorf("live upstream got %d queries, want 1", n)
	}
	if n := g.ups[0].health.fails.Load(); n != 1 {
		t.Errorf("dead upstream has %d failures, want 1", n)
	}
}

func TestFailoverOrderFollowsHealth(t *testing.T) {
	first := dnstest.NewServer(t, testZone(t))
	second := dnstest.NewServer(t, testZone(t))
	clock := dnstest.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	g := newGroup(t, Config{Servers: []string{first.Addr, second.Addr}, Strategy: StrategyFailover})
	g.now = clock.Now

	exchange(t, g)
	if first.Queries() != 1 || second.Queries() != 0 {
		t.Fatalf("queries %d, %d; want 1, 0: failover starts with the first", first.Queries(), second.Queries())
	}
	// Two failures mark the first down for a second.
	for range downAfter {
		g.ups[0].health.failure(clock.Now(), time.Second)
	}
	exchange(t, g)
	if first.Queries() != 1 || second.Queries() != 1 {
		t.Fatalf("queries %d, %d; want 1, 1: a down upstream is skipped", first.Queries(), second.Queries())
	}
	clock.Advance(minBackoff)
	exchange(t, g)
	if first.Queries() != 2 || second.Queries() != 1 {
		t.Fatalf("queries %d, %d; want 2, 1: the first is tried again after its backoff", first.Queries(), second.Queries())
	}
	if n := g.ups[0].health.fails.Load(); n != 0 {
		t.Errorf("first upstream has %d failures after answering, want 0", n)
	}
}

func TestFailoverTriesDownUpstreamsLast(t *testing.T) {
	live := dnstest.NewServer(t, testZone(t))
	clock := dnstest.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	g := newGroup(t, Config{Servers: []string{deadAddr(t), live.Addr}, Strategy: StrategyFailover})
	g.now = clock.Now
	// Only upstream left, but down: it is tried anyway.
	for range downAfter {
		g.ups[1].health.failure(clock.Now(), time.Second)
	}
	exchange(t, g)
	if n := live.Queries(); n != 1 {
		t.Errorf("down but only live upstream got %d queries, want 1", n)
	}
}

func TestServfailTriesNextUpstream(t *testing.T) {
	servfail := dnstest.NewServer(t, dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		w.WriteMsg(new(dns.Msg).SetRcode(q, dns.RcodeServerFailure))
	}))
	live := dnstest.NewServer(t, testZone(t))
	for _, strategy := range []string{StrategyFailover, StrategyParallel} {
		t.Run(strategy, func(t *testing.T) {
			g := newGroup(t, Config{Servers: []string{servfail.Addr, live.Addr}, Strategy: strategy})
			exchange(t, g)

			only := newGroup(t, Config{Servers: []string{servfail.Addr}, Strategy: strategy})
			q := question("example.com.", dns.TypeA)
			m, err := only.Exchange(context.Background(), q)
			if err != nil {
				t.Fatalf("Exchange: %v, want the SERVFAIL answer", err)
			}
			if m.Rcode != dns.RcodeServerFailure || m.Id != q.Id {
				t.Errorf("answer rcode %s ID %#x, want SERVFAIL with %#x", dns.RcodeToString[m.Rcode], m.Id, q.Id)
			}
		})
	}
}

func TestParallelAnswersDespiteDeadUpstream(t *testing.T) {
	live := dnstest.NewServer(t, testZone(t))
	for _, servers := range [][]string{{deadAddr(t), live.Addr}, {live.Addr, deadAddr(t)}} {
		g := newGroup(t, Config{Servers: servers, Strategy: StrategyParallel})
		exchange(t, g)
	}
}

func TestParallelFirstAnswerWins(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Int64
	slow := dnstest.NewServer(t, dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		started.Add(1)
		<-release
	}))
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	fast := dnstest.NewServer(t, testZone(t))
	// With a long timeout, waiting for the slow one would fail the test's
	// time budget; the fast answer must come back alone.
	g := newGroup(t, Config{Servers: []string{slow.Addr, fast.Addr}, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q := question("example.com.", dns.TypeA)
	m, err := g.Exchange(ctx, q)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	checkAnswer(t, q, m)
	if n := fast.Queries(); n != 1 {
		t.Errorf("fast upstream got %d queries, want 1", n)
	}
	// The loser was cancelled, not counted as failing.
	if n := g.ups[0].health.fails.Load(); n != 0 {
		t.Errorf("slow upstream has %d failures, want 0", n)
	}
}

func TestParallelRacesTwoFastest(t *testing.T) {
	var servers []*dnstest.Server
	var addrs []string
	for range 4 {
		s := dnstest.NewServer(t, testZone(t))
		servers = append(servers, s)
		addrs = append(addrs, s.Addr)
	}
	g := newGroup(t, Config{Servers: addrs})
	// The third and the fourth are fastest; the second is down.
	for i, rtt := range []time.Duration{50, 1, 3, 2} {
		g.ups[i].health.srtt.Store(int64(rtt * time.Millisecond))
	}
	for range downAfter {
		g.ups[1].health.failure(time.Now(), time.Second)
	}
	exchange(t, g)
	// Both racers get the query, even though one answer wins, unless the
	// winner's cancellation reaches the other before it sends. Wait for
	// nothing: only check who may and may not have been asked.
	got := []int64{servers[0].Queries(), servers[1].Queries(), servers[2].Queries(), servers[3].Queries()}
	if got[0] != 0 || got[1] != 0 {
		t.Errorf("queries per upstream %v: the slow and the down upstream were asked", got)
	}
	if got[2]+got[3] == 0 {
		t.Errorf("queries per upstream %v: neither of the fastest was asked", got)
	}
}

func TestNoAnswerErrors(t *testing.T) {
	env := newTLSEnv(t)
	dot := startDoT(t, env.cert, testZone(t))
	tests := []struct {
		name     string
		c        Config
		wantCode uint16
	}{
		{"failover refused", Config{Servers: []string{deadAddr(t), deadAddr(t)}, Strategy: StrategyFailover}, dnsmsg.EDENetworkError},
		{"parallel refused", Config{Servers: []string{deadAddr(t), deadAddr(t), deadAddr(t)}}, dnsmsg.EDENetworkError},
		{"tcp refused", Config{Servers: []string{"tcp://" + deadAddr(t)}}, dnsmsg.EDENetworkError},
		{"dot refused", Config{Servers: []string{"tls://" + deadAddr(t)}, TLS: env.client}, dnsmsg.EDENetworkError},
		{"dot untrusted", Config{Servers: []string{"tls://" + dot.Addr}, TLS: untrusted()}, dnsmsg.EDENetworkError},
		{"dot wrong name", Config{Servers: []string{"tls://" + dot.Addr + "#other.test"}, TLS: env.client}, dnsmsg.EDENetworkError},
		{"doh refused", Config{Servers: []string{"https://" + deadAddr(t) + "/dns-query"}, TLS: env.client}, dnsmsg.EDENetworkError},
		{"timeout", Config{Servers: []string{blackhole(t), blackhole(t)}, Timeout: 50 * time.Millisecond}, dnsmsg.EDENoReachableAuthority},
		{"failover timeout", Config{Servers: []string{blackhole(t)}, Strategy: StrategyFailover, Timeout: 50 * time.Millisecond}, dnsmsg.EDENoReachableAuthority},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGroup(t, tt.c)
			m, err := g.Exchange(context.Background(), question("example.com.", dns.TypeA))
			if err == nil {
				t.Fatalf("Exchange = %v, want an error", m)
			}
			var ee *dnsmsg.ExtendedError
			if !errors.As(err, &ee) {
				t.Fatalf("error %q does not wrap *dnsmsg.ExtendedError", err)
			}
			if code, text := dnsmsg.EDEOf(err); code != tt.wantCode {
				t.Errorf("EDE = %d (%s), want %d; error: %v", code, text, tt.wantCode, err)
			}
		})
	}
}

func TestContextDeadlineBoundsExchange(t *testing.T) {
	g := newGroup(t, Config{Servers: []string{blackhole(t)}, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := g.Exchange(ctx, question("example.com.", dns.TypeA))
	if code, _ := dnsmsg.EDEOf(err); err == nil || code != dnsmsg.EDENoReachableAuthority {
		t.Fatalf("Exchange error %v, want EDE 22", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Exchange took %v with a 50ms context deadline", d)
	}
}

func TestCancelledContext(t *testing.T) {
	live := dnstest.NewServer(t, testZone(t))
	g := newGroup(t, Config{Servers: []string{live.Addr}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Exchange(ctx, question("example.com.", dns.TypeA)); !errors.Is(err, context.Canceled) {
		t.Errorf("Exchange error %v, want context.Canceled", err)
	}
	if n := g.ups[0].health.fails.Load(); n != 0 {
		t.Errorf("%d failures recorded for a cancelled query, want 0", n)
	}
}

func TestBootstrap(t *testing.T) {
	env := newTLSEnv(t)
	dot := startDoT(t, env.cert, testZone(t))
	doh := startDoH(t, env.cert, testZone(t))
	boot := dnstest.NewServer(t, dnstest.Zone(t, "dns.test. 300 IN A 127.0.0.1"))
	tests := []struct {
		name   string
		server string
	}{
		{"dot", "tls://dns.test:" + dot.Port},
		{"doh", "https://dns.test:" + doh.Port + "/dns-query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := dnstest.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
			g := newGroup(t, Config{Servers: []string{tt.server}, Bootstrap: []string{boot.Addr}, TLS: env.client})
			g.now = clock.Now
			before := boot.Queries()
			exchange(t, g)
			if n := boot.Queries() - before; n != 2 {
				t.Errorf("bootstrap got %d queries, want 2 (A and AAAA)", n)
			}
			// Cached for the TTL. Drop pooled connections so the next
			// exchange must dial, and dialing needs the addresses.
			dropIdle(g)
			clock.Advance(299 * time.Second)
			exchange(t, g)
			if n := boot.Queries() - before; n != 2 {
				t.Errorf("bootstrap got %d queries within the TTL, want 2", n)
			}
			dropIdle(g)
			clock.Advance(2 * time.Second)
			exchange(t, g)
			if n := boot.Queries() - before; n != 4 {
				t.Errorf("bootstrap got %d queries after the TTL, want 4", n)
			}
		})
	}
}

// TestBootstrapFailureKeepsLastAddresses: when the bootstrap server stops
// answering, an upstream whose addresses expired keeps using the last
// ones. The server is stopped two ways: closed (the kernel refuses the
// query at once with an ICMP port unreachable) and silent (nothing comes
// back, as when that ICMP is lost: the kernel rate-limits ICMP errors
// machine-wide, so under a busy test run a closed port sometimes looks
// silent). A silent bootstrap once took the query's whole deadline, so
// the exchange failed: the flake of 1 run in 3.
func TestBootstrapFailureKeepsLastAddresses(t *testing.T) {
	tests := []struct {
		name string
		stop func(boot *dnstest.Server, silent *atomic.Bool)
	}{
		{"closed", func(boot *dnstest.Server, _ *atomic.Bool) { boot.Close() }},
		{"silent", func(_ *dnstest.Server, silent *atomic.Bool) { silent.Store(true) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newTLSEnv(t)
			dot := startDoT(t, env.cert, testZone(t))
			var silent atomic.Bool
			zone := dnstest.Zone(t, "dns.test. 300 IN A 127.0.0.1")
			boot := dnstest.NewServer(t, dns.HandlerFunc(func(w dns.ResponseWriter, m *dns.Msg) {
				if !silent.Load() {
					zone.ServeDNS(w, m)
				}
			}))
			clock := dnstest.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
			g := newGroup(t, Config{Servers: []string{"tls://dns.test:" + dot.Port}, Bootstrap: []string{boot.Addr}, TLS: env.client, Timeout: 3 * time.Second})
			g.now = clock.Now
			exchange(t, g)
			tc.stop(boot, &silent)
			dropIdle(g)
			clock.Advance(time.Hour)
			exchange(t, g)
		})
	}
}

func TestBootstrapNotUsedForIPs(t *testing.T) {
	env := newTLSEnv(t)
	dot := startDoT(t, env.cert, testZone(t))
	doh := startDoH(t, env.cert, testZone(t))
	boot := dnstest.NewServer(t, dnstest.Zone(t, "dns.test. 300 IN A 127.0.0.1"))
	g := newGroup(t, Config{
		Servers:   []string{"tls://127.0.0.1:" + dot.Port + "#dns.test", "https://127.0.0.1:" + doh.Port + "/dns-query"},
		Strategy:  StrategyFailover,
		Bootstrap: []string{boot.Addr},
		TLS:       env.client,
	})
	exchange(t, g)
	g.ups[0].health.failure(time.Now(), time.Second)
	g.ups[0].health.failure(time.Now(), time.Second)
	exchange(t, g)
	if len(doh.requests()) != 1 {
		t.Errorf("DoH upstream got %d requests, want 1", len(doh.requests()))
	}
	if n := boot.Queries(); n != 0 {
		t.Errorf("bootstrap got %d queries for IP upstreams, want 0", n)
	}
}

func TestBootstrapFallsBackToSystemResolver(t *testing.T) {
	if _, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip4", "localhost"); err != nil {
		t.Skipf("system resolver cannot resolve localhost: %v", err)
	}
	env := newTLSEnv(t)
	dot := startDoT(t, env.cert, testZone(t))
	g := newGroup(t, Config{Servers: []string{"tls://localhost:" + dot.Port}, TLS: env.client})
	exchange(t, g)
}

func TestBootstrapNoAddresses(t *testing.T) {
	boot := dnstest.NewServer(t, dnstest.Zone(t, "other.test. 300 IN A 127.0.0.1"))
	g := newGroup(t, Config{Servers: []string{"tls://dns.test"}, Bootstrap: []string{boot.Addr}})
	_, err := g.Exchange(context.Background(), question("example.com.", dns.TypeA))
	if err == nil || !strings.Contains(err.Error(), `resolving "dns.test"`) {
		t.Errorf("Exchange error %v, want one about resolving dns.test", err)
	}
}

func TestQuerySentUpstream(t *testing.T) {
	opts := func() []dns.EDNS0 {
		return []dns.EDNS0{
			&dns.EDNS0_LOCAL{Code: 65001, Data: []byte{0, 1, 2, 3, 4, 5}},
			&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0123456789abcdef"},
			&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(198, 51, 100, 0).To4()},
		}
	}
	withEDNS := func(size uint16, do bool, o []dns.EDNS0) *dns.Msg {
		m := question("example.com.", dns.TypeA)
		m.SetEdns0(size, do)
		m.IsEdns0().Option = o
		return m
	}
	tests := []struct {
		name   string
		q      *dns.Msg
		wantDO bool
	}{
		{"no EDNS", question("example.com.", dns.TypeA), false},
		{"options", withEDNS(4096, false, opts()), false},
		{"options and DO", withEDNS(512, true, opts()), true},
		{"DO only", withEDNS(1232, true, nil), true},
	}
	env := newTLSEnv(t)
	rec := &recorder{h: testZone(t)}
	plain := dnstest.NewServer(t, rec)
	dot := startDoT(t, env.cert, rec)
	doh := startDoH(t, env.cert, rec)
	for _, server := range []string{plain.Addr, "tls://" + dot.Addr, "https://" + doh.Listener.Addr().String()} {
		g := newGroup(t, Config{Servers: []string{server}, TLS: env.client})
		for _, tt := range tests {
			t.Run(server+"/"+tt.name, func(t *testing.T) {
				tt.q.CheckingDisabled = true
				before, beforeWire := tt.q.String(), mustPack(t, tt.q)
				n := len(rec.seen())
				m, err := g.Exchange(context.Background(), tt.q)
				if err != nil {
					t.Fatalf("Exchange: %v", err)
				}
				checkAnswer(t, tt.q, m)
				if after := tt.q.String(); after != before || !bytes.Equal(mustPack(t, tt.q), beforeWire) {
					t.Errorf("Exchange changed the client's query:\n%v\nwant\n%v", after, before)
				}
				got := rec.seen()[n:]
				if len(got) != 1 {
					t.Fatalf("upstream saw %d queries, want 1", len(got))
				}
				sent := got[0].msg
				if len(sent.Extra) != 1 {
					t.Fatalf("upstream query has %d additional records, want only the OPT:\n%v", len(sent.Extra), sent)
				}
				opt := sent.IsEdns0()
				if opt == nil || opt.UDPSize() != dnsmsg.UDPSize || opt.Do() != tt.wantDO || len(opt.Option) != 0 {
					t.Errorf("upstream OPT = %v, want size %d, DO %v, no options", opt, dnsmsg.UDPSize, tt.wantDO)
				}
				if !sent.RecursionDesired || !sent.CheckingDisabled {
					t.Errorf("upstream query lost RD or CD: %v", sent.MsgHdr)
				}
				if !sent.AuthenticatedData {
					t.Errorf("upstream query does not ask for AD, so a shared cached answer could not say whether it was validated: %v", sent.MsgHdr)
				}
				if q := sent.Question[0]; q != tt.q.Question[0] {
					t.Errorf("upstream question %v, want %v", q, tt.q.Question[0])
				}
			})
		}
	}
}

func TestRandomIDsAndSourcePorts(t *testing.T) {
	rec := &recorder{h: testZone(t)}
	s := dnstest.NewServer(t, rec)
	g := newGroup(t, Config{Servers: []string{s.Addr}})
	const queries = 3 * udpSockUses
	for range queries {
		exchange(t, g)
	}
	ids := map[uint16]bool{}
	ports := map[int]int{}
	for _, q := range rec.seen() {
		ids[q.msg.Id] = true
		ports[q.addr.(*net.UDPAddr).Port]++
	}
	// With 16 random bits, 8 IDs all equal to the client's, or all the
	// same, happen once in 2^112 runs; ports likewise from the kernel's
	// ephemeral range.
	if len(ids) < 2 || ids[0xbeef] && len(ids) == 1 {
		t.Errorf("upstream saw IDs %v over %d queries, want random ones", ids, queries)
	}
	// A socket, and so a source port, serves at most udpSockUses queries.
	if len(ports) < queries/udpSockUses {
		t.Errorf("upstream saw source ports %v over %d queries, want at least %d", ports, queries, queries/udpSockUses)
	}
	for port, n := range ports {
		if n > udpSockUses {
			t.Errorf("source port %d served %d queries, more than %d", port, n, udpSockUses)
		}
	}
}

func TestExchangeRejectsBadQuery(t *testing.T) {
	g := newGroup(t, Config{Servers: []string{deadAddr(t)}})
	if _, err := g.Exchange(context.Background(), new(dns.Msg)); err == nil {
		t.Error("Exchange of a query without a question succeeded")
	}
}

func TestClose(t *testing.T) {
	env := newTLSEnv(t)
	dot := startDoT(t, env.cert, testZone(t))
	g := newGroup(t, Config{Servers: []string{"tls://" + dot.Addr}, TLS: env.client})
	exchange(t, g)
	c := g.ups[0].ex.(*tlsClient)
	c.mu.Lock()
	idle := c.idle[0].conn
	c.mu.Unlock()
	if err := g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := idle.SetDeadline(time.Time{}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("pooled connection still open after Close: %v", err)
	}
	if _, err := g.Exchange(context.Background(), question("example.com.", dns.TypeA)); err == nil {
		t.Error("Exchange after Close succeeded")
	}
}

func TestHealthBackoff(t *testing.T) {
	var h health
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if !h.up(now) {
		t.Fatal("new upstream is down")
	}
	wantBackoff := []time.Duration{0, 1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i, want := range wantBackoff {
		want *= time.Second
		if got := h.failure(now, time.Second); got != want {
			t.Errorf("failure %d: backoff %v, want %v", i+1, got, want)
		}
		if up := h.up(now); up != (want == 0) {
			t.Errorf("failure %d: up = %v", i+1, up)
		}
		if want > 0 && (h.up(now.Add(want-1)) || !h.up(now.Add(want))) {
			t.Errorf("failure %d: not down for exactly %v", i+1, want)
		}
	}
	h.success(10 * time.Millisecond)
	if !h.up(now) || h.fails.Load() != 0 {
		t.Error("success did not bring the upstream back up")
	}
}

func TestSmoothedRTT(t *testing.T) {
	var h health
	h.success(100 * time.Millisecond)
	if got := time.Duration(h.srtt.Load()); got != 100*time.Millisecond {
		t.Errorf("first sample: srtt %v, want 100ms", got)
	}
	h.success(20 * time.Millisecond)
	if got := time.Duration(h.srtt.Load()); got != 80*time.Millisecond {
		t.Errorf("second sample: srtt %v, want 80ms", got)
	}
	h.failure(time.Now(), 2*time.Second)
	if got := time.Duration(h.srtt.Load()); got != 80*time.Millisecond+(2*time.Second-80*time.Millisecond)/4 {
		t.Errorf("after failure: srtt %v", got)
	}
}

func mustPack(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("packing %v: %v", m, err)
	}
	return b
}

func TestObserveReportsExchanges(t *testing.T) {
	s := dnstest.NewServer(t, testZone(t))
	type obs struct {
		server string
		failed bool
	}
	var mu sync.Mutex
	var seen []obs
	// The dead upstream is a closed port on loopback: its failure is
	// reported too, then failover reaches the live one.
	dead := closedUDPAddr(t)
	g := newGroup(t, Config{Servers: []string{dead, s.Addr}, Strategy: StrategyFailover, Timeout: time.Second, Observe: func(server string, took time.Duration, failed bool) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, obs{server, failed})
	}})
	exchange(t, g)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || !seen[0].failed || seen[1].failed || !strings.Contains(seen[1].server, s.Addr) {
		t.Errorf("observed %+v, want a failure of %s then a success of %s", seen, dead, s.Addr)
	}
}

// closedUDPAddr returns a loopback address with no listener.
func closedUDPAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close()
	return addr
}
