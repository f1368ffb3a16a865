package app

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// End-to-end tests of issue #10's protocol gaps and resolver-side bounds:
// a real Hearth on loopback ports, real upstream servers, real clients.

// rcodeHandler answers every query with rcode.
func rcodeHandler(rcode int) dns.HandlerFunc {
	return func(w dns.ResponseWriter, q *dns.Msg) {
		w.WriteMsg(new(dns.Msg).SetRcode(q, rcode))
	}
}

// TestUpstreamRefusalIsServfail checks that an upstream's REFUSED, NOTAUTH
// or FORMERR never reaches the client: the next upstream is asked, and
// when none answers better the client gets SERVFAIL with EDE 22.
func TestUpstreamRefusalIsServfail(t *testing.T) {
	live := dnstest.NewServer(t, dnstest.Zone(t, upstreamRecords...))
	for _, rcode := range []int{dns.RcodeRefused, dns.RcodeNotAuth, dns.RcodeFormatError} {
		t.Run(dns.RcodeToString[rcode], func(t *testing.T) {
			bad := dnstest.NewServer(t, rcodeHandler(rcode))
			for _, tc := range []struct {
				name      string
				servers   string
				wantRcode int
			}{
				{"next upstream answers", fmt.Sprintf("[%q, %q]", bad.Addr, live.Addr), dns.RcodeSuccess},
				{"only refusals", fmt.Sprintf("[%q]", bad.Addr), dns.RcodeServerFailure},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e := start(t, "upstream: {servers: "+tc.servers+", strategy: failover, timeout: 2s}\n", nil)
					q := query("example.com", dns.TypeA)
					q.SetEdns0(1232, false)
					r := exchange(t, &dns.Client{Net: "udp"}, q, e.udp)
					if r.Rcode != tc.wantRcode {
						t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.wantRcode])
					}
					if tc.wantRcode == dns.RcodeServerFailure {
						if code, ok := ede(r); !ok || code != dnsmsg.EDENoReachableAuthority {
							t.Errorf("EDE %d (present %v), want 22", code, ok)
						}
					}
				})
			}
		})
	}
}

// TestLocallyServedZones checks that RFC 6761 / RFC 6303 names are
// answered by Hearth and never reach the upstream, except where a forward
// to the home router is configured.
func TestLocallyServedZones(t *testing.T) {
	router := dnstest.NewServer(t, dnstest.Zone(t, "1.1.168.192.in-addr.arpa. 60 IN PTR router.lan."))
	e := start(t, fmt.Sprintf("local: {forward: {\"1.168.192.in-addr.arpa\": %q}}\n", router.Addr), nil)
	c := &dns.Client{Net: "udp"}
	tests := []struct {
		name      string
		qtype     uint16
		wantRcode int
		wantAns   string
	}{
		{"localhost", dns.TypeA, dns.RcodeSuccess, "127.0.0.1"},
		{"www.localhost", dns.TypeAAAA, dns.RcodeSuccess, "::1"},
		{"printer.home.arpa", dns.TypeA, dns.RcodeNameError, ""},
		{"expyuzz4wqqyqhjn.onion", dns.TypeA, dns.RcodeNameError, ""},
		{"foo.invalid", dns.TypeA, dns.RcodeNameError, ""},
		{"1.0.0.127.in-addr.arpa", dns.TypePTR, dns.RcodeSuccess, "localhost."},
		{"5.0.0.10.in-addr.arpa", dns.TypePTR, dns.RcodeNameError, ""},
		{"5.0.20.172.in-addr.arpa", dns.TypePTR, dns.RcodeNameError, ""},
		{"7.7.168.192.in-addr.arpa", dns.TypePTR, dns.RcodeNameError, ""},
		{"1.1.254.169.in-addr.arpa", dns.TypePTR, dns.RcodeNameError, ""},
		{"1.0.64.100.in-addr.arpa", dns.TypePTR, dns.RcodeNameError, ""},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", dns.TypePTR, dns.RcodeNameError, ""},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa", dns.TypePTR, dns.RcodeNameError, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := exchange(t, c, query(tc.name, tc.qtype), e.udp)
			if r.Rcode != tc.wantRcode || !r.Authoritative {
				t.Fatalf("rcode %s AA %v, want %s from Hearth", dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[tc.wantRcode])
			}
			got := ""
			if len(r.Answer) > 0 {
				got = strings.Fields(r.Answer[0].String())[4]
			}
			if got != tc.wantAns {
				t.Errorf("answer %q, want %q", got, tc.wantAns)
			}
			if tc.wantRcode == dns.RcodeNameError {
				if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
					t.Errorf("authority %v, want the zone's SOA", r.Ns)
				}
			}
		})
	}
	if n := e.up.Queries(); n != 0 {
		t.Errorf("upstream saw %d queries for locally served names", n)
	}
	// The LAN's own reverse zone still goes to the router when configured.
	r := exchange(t, c, query("1.1.168.192.in-addr.arpa", dns.TypePTR), e.udp)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || router.Queries() != 1 {
		t.Errorf("forwarded reverse name: %v, router saw %d queries", r, router.Queries())
	}
}

// TestADOnlyWhenAsked checks RFC 6840 section 5.7 end to end: the
// upstream validated the answer, and each client sees AD only if it sent
// AD or DO, whichever client's query filled the cache.
func TestADOnlyWhenAsked(t *testing.T) {
	zone := dnstest.Zone(t, upstreamRecords...)
	var sawAD atomic.Int64
	e := start(t, "", dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		if q.AuthenticatedData {
			sawAD.Add(1)
		}
		zone(&adWriter{w}, q)
	}))
	c := &dns.Client{Net: "udp"}
	ask := func(ad, do bool) bool {
		q := query("example.com", dns.TypeA)
		q.AuthenticatedData = ad
		if do {
			q.SetEdns0(1232, true)
		}
		return exchange(t, c, q, e.udp).AuthenticatedData
	}
	for i, tc := range []struct{ ad, do, want bool }{
		{false, false, false}, // fills the cache
		{true, false, true},
		{false, false, false},
		{false, true, true}, // DO: a separate entry
		{true, false, true},
	} {
		if got := ask(tc.ad, tc.do); got != tc.want {
			t.Errorf("query %d (AD %v, DO %v): AD %v, want %v", i, tc.ad, tc.do, got, tc.want)
		}
	}
	if n := e.up.Queries(); n != 2 || sawAD.Load() != n {
		t.Errorf("upstream saw %d queries, %d asking for AD; want 2, both", n, sawAD.Load())
	}
}

// adWriter sets AD on every answer, as a validating upstream does for a
// query that asks for it.
type adWriter struct{ dns.ResponseWriter }

func (w *adWriter) WriteMsg(m *dns.Msg) error {
	m.AuthenticatedData = true
	return w.ResponseWriter.WriteMsg(m)
}

// TestClassesAnsweredAtOnce checks that class CH identity queries are
// answered by Hearth (REFUSED by default, the configured text otherwise)
// and that other classes get REFUSED at once; the upstream would never
// answer them, so a forwarded query would time out.
func TestClassesAnsweredAtOnce(t *testing.T) {
	zone := dnstest.Zone(t, upstreamRecords...)
	silentForOtherClasses := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		if q.Question[0].Qclass == dns.ClassINET {
			zone(w, q)
		}
	})
	for _, tc := range []struct {
		name     string
		extra    string
		qname    string
		class    uint16
		want     int
		wantText string
	}{
		{"version.bind refused", "", "version.bind", dns.ClassCHAOS, dns.RcodeRefused, ""},
		{"id.server refused", "", "id.server", dns.ClassCHAOS, dns.RcodeRefused, ""},
		{"hostname.bind refused", "", "hostname.bind", dns.ClassCHAOS, dns.RcodeRefused, ""},
		{"version configured", "local: {chaos: {version: hearth-test}}\n", "version.bind", dns.ClassCHAOS, dns.RcodeSuccess, "hearth-test"},
		{"id.server configured", "local: {chaos: {hostname: den}}\n", "id.server", dns.ClassCHAOS, dns.RcodeSuccess, "den"},
		{"other CH name", "", "example.com", dns.ClassCHAOS, dns.RcodeRefused, ""},
		{"HS", "", "example.com", dns.ClassHESIOD, dns.RcodeRefused, ""},
		{"NONE", "", "example.com", dns.ClassNONE, dns.RcodeRefused, ""},
		{"unassigned class", "", "example.com", 42, dns.RcodeRefused, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, tc.extra, silentForOtherClasses)
			q := query(tc.qname, dns.TypeTXT)
			q.Question[0].Qclass = tc.class
			r := exchange(t, &dns.Client{Net: "udp", Timeout: time.Second}, q, e.udp)
			if r.Rcode != tc.want {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.want])
			}
			got := ""
			if len(r.Answer) == 1 {
				got = r.Answer[0].(*dns.TXT).Txt[0]
			}
			if got != tc.wantText {
				t.Errorf("answer %q, want %q", got, tc.wantText)
			}
			if n := e.up.Queries(); n != 0 {
				t.Errorf("upstream saw %d queries", n)
			}
		})
	}
}

// TestTTLBoundsEndToEnd checks RFC 2181 section 8 (TTL 2^31 and above is 0)
// and that no TTL a client sees exceeds cache.max_ttl.
func TestTTLBoundsEndToEnd(t *testing.T) {
	e := start(t, "cache: {max_ttl: 1h}\nlocal: {records: [\"nas.lan 86400 A 192.168.1.2\"]}\n", dnstest.Zone(t,
		"huge.example. 4294967295 IN A 192.0.2.1",
		"half.example. 2147483648 IN A 192.0.2.2",
		"week.example. 604800 IN A 192.0.2.3",
		"max.example. 2147483647 IN A 192.0.2.4",
	))
	c := &dns.Client{Net: "udp"}
	for _, tc := range []struct {
		name string
		want uint32
	}{{"huge.example", 0}, {"half.example", 0}, {"week.example", 3600}, {"max.example", 3600}, {"nas.lan", 3600}, {"localhost", 3600}} {
		for i := range 2 { // the miss, then the hit (or a second miss)
			r := exchange(t, c, query(tc.name, dns.TypeA), e.udp)
			if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != tc.want {
				t.Errorf("%s ask %d: %v, want TTL %d", tc.name, i, r.Answer, tc.want)
			}
		}
	}
}

// TestMalformedEDNSAndOpcodes checks two OPT records (FORMERR, RFC 6891
// 6.1.1) and an unknown opcode (NOTIMP in the form RFC 8906 tests expect:
// opcode, question and OPT echoed, nothing else).
func TestMalformedEDNSAndOpcodes(t *testing.T) {
	e := start(t, "", nil)
	c := &dns.Client{Net: "udp"}
	t.Run("two OPT records", func(t *testing.T) {
		q := query("example.com", dns.TypeA)
		q.SetEdns0(1232, false)
		q.Extra = append(q.Extra, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 4096}})
		r := exchange(t, c, q, e.udp)
		if r.Rcode != dns.RcodeFormatError || len(r.Answer) != 0 {
			t.Errorf("answer %v, want FORMERR", r)
		}
	})
	for _, edns := range []bool{false, true} {
		t.Run(fmt.Sprintf("opcode 15, EDNS %v", edns), func(t *testing.T) {
			q := query("example.com", dns.TypeSOA)
			q.Opcode = 15
			q.RecursionDesired = false
			if edns {
				q.SetEdns0(1232, false)
			}
			r := exchange(t, c, q, e.udp)
			if r.Rcode != dns.RcodeNotImplemented || r.Opcode != 15 || r.Authoritative || r.RecursionAvailable {
				t.Errorf("header %+v, want NOTIMP, opcode 15, no AA or RA", r.MsgHdr)
			}
			if len(r.Question) != 1 || r.Question[0] != q.Question[0] || len(r.Answer)+len(r.Ns) != 0 {
				t.Errorf("answer %v, want the question alone", r)
			}
			if (r.IsEdns0() != nil) != edns {
				t.Errorf("OPT %v, want one exactly when the query had one", r.IsEdns0())
			}
		})
	}
	if n := e.up.Queries(); n != 0 {
		t.Errorf("upstream saw %d queries", n)
	}
}

// TestFailingNameNotHammered checks the RFC 9520 failure cache end to
// end: many queries for a name whose upstream fails make one upstream
// query per servfail_ttl, each answered SERVFAIL (EDE 13 once cached).
func TestFailingNameNotHammered(t *testing.T) {
	e := start(t, "cache: {servfail_ttl: 5s, serve_stale: 0s}\n", rcodeHandler(dns.RcodeServerFailure))
	c := &dns.Client{Net: "udp"}
	q := query("broken.example", dns.TypeA)
	q.SetEdns0(1232, false)
	for i := range 20 {
		r := exchange(t, c, q, e.udp)
		if r.Rcode != dns.RcodeServerFailure {
			t.Fatalf("ask %d: %s", i, dns.RcodeToString[r.Rcode])
		}
		if code, _ := ede(r); i > 0 && code != dnsmsg.EDECachedError {
			t.Errorf("ask %d: EDE %d, want 13 (cached error)", i, code)
		}
	}
	if n := e.up.Queries(); n != 1 {
		t.Errorf("upstream saw %d queries within servfail_ttl, want 1", n)
	}
	e.clock.Advance(5 * time.Second)
	exchange(t, c, q, e.udp)
	if n := e.up.Queries(); n != 2 {
		t.Errorf("after servfail_ttl upstream saw %d queries, want 2", n)
	}
}

// TestCacheMaxBytesEndToEnd checks that large answers cannot grow the
// cache past cache.max_bytes.
func TestCacheMaxBytesEndToEnd(t *testing.T) {
	// A long upstream timeout: in two full runs of this package under
	// the race detector on a loaded 2-CPU machine, one query of 600 got
	// SERVFAIL, which the base config's 500 ms explains (it never failed
	// alone, 20 runs each on main and after the cache's packed entries).
	e := start(t, "cache: {max_bytes: 1MiB}\n"+`upstream: {servers: ["UPSTREAM_ADDR"], strategy: failover, timeout: 10s}`+"\n", dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg).SetReply(q)
		for i := range 8 {
			m.Answer = append(m.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 3600},
				Txt: []string{fmt.Sprintf("%d%s", i, strings.Repeat("z", 250))}})
		}
		w.WriteMsg(m)
	}))
	c := &dns.Client{Net: "tcp"}
	conn, err := c.Dial(e.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 600 { // about 2 KB each: 1.2 MB of answers plus keys
		r, _, err := c.ExchangeWithConn(query(fmt.Sprintf("n%d.big.example", i), dns.TypeTXT), conn)
		if err != nil || len(r.Answer) != 8 {
			t.Fatalf("query %d: %v %v", i, err, r)
		}
	}
	cache := e.app.built.cache
	if b := cache.Bytes(); b > 1<<20 {
		t.Errorf("cache holds %d bytes, over max_bytes 1MiB", b)
	}
	if cache.Stats().Evictions == 0 {
		t.Error("nothing evicted")
	}
}

// TestRandomSubdomainFloodHurtsOnlyFlooder is the attack of issue #10: one
// device floods random names under a domain whose servers never answer.
// The upstream, like a home router's dnsmasq, serves only so many queries
// at once and refuses the rest. Without per-client caps the flood's
// pending queries would take every upstream slot and other devices would
// get SERVFAIL; with them, the flooder is held to its share, answered
// SERVFAIL at once beyond it, and every other device is served. The same
// holds for a domain forwarded to the home router (local.forward), whose
// exchanges share the caps.
func TestRandomSubdomainFloodHurtsOnlyFlooder(t *testing.T) {
	for _, domain := range []string{"example", "lan"} {
		t.Run(domain, func(t *testing.T) { floodTest(t, domain) })
	}
}

func floodTest(t *testing.T, domain string) {
	const upstreamCapacity = 30
	var busy, floodSeen atomic.Int64
	done := make(chan struct{})
	zone := dnstest.Zone(t, upstreamRecords...)
	up := dnstest.NewServer(t, dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		if busy.Add(1) > upstreamCapacity {
			busy.Add(-1)
			w.WriteMsg(new(dns.Msg).SetRcode(q, dns.RcodeRefused))
			return
		}
		defer busy.Add(-1)
		name := q.Question[0].Name
		if strings.HasSuffix(name, ".flood."+domain+".") {
			floodSeen.Add(1)
			<-done // the victim's servers do not answer while the test runs
			w.WriteMsg(new(dns.Msg).SetRcode(q, dns.RcodeServerFailure))
			return
		}
		if strings.HasSuffix(name, ".legit."+domain+".") {
			m := new(dns.Msg).SetReply(q)
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 77)}}
			w.WriteMsg(m)
			return
		}
		zone(w, q)
	}))
	// A long upstream timeout: the flood's queries stay pending for the
	// whole test, as they would against servers that never answer.
	e := start(t, fmt.Sprintf(`upstream: {servers: [%q], strategy: failover, timeout: 10s}
local: {forward: {lan: %q}}
cache: {max_inflight: 25, max_inflight_per_client: 10}
`, up.Addr, up.Addr), nil)
	// Runs first: the pending flood queries get their answer, so the
	// shutdown does not wait out their timeout.
	t.Cleanup(func() { close(done) })

	// The flood: 500 random names from 127.0.0.2, sent without waiting.
	flooder, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(e.udp)))
	if err != nil {
		t.Fatal(err)
	}
	defer flooder.Close()
	const floodSize = 500
	for i := range floodSize {
		q := query(fmt.Sprintf("x%08x.flood.%s", i*7919, domain), dns.TypeA)
		if _, err := flooder.Write(pack(t, q)); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until the flood is on: the flooder's share is in flight
	// upstream and its other queries are being answered SERVFAIL. (Some
	// of the burst may be dropped by the socket, so not all 490.)
	cache := e.app.built.cache
	const enough = 100
	deadline := time.Now().Add(10 * time.Second)
	for cache.Stats().Busy < enough || floodSeen.Load() < 10 {
		if time.Now().After(deadline) {
			// Go on: the legitimate device's queries show the harm.
			t.Errorf("flood not held back: busy %d, upstream saw %d", cache.Stats().Busy, floodSeen.Load())
			break
		}
		runtime.Gosched()
	}
	if n := floodSeen.Load(); n > 10 {
		t.Errorf("upstream saw %d flood queries, want at most the per-client cap 10", n)
	}
	answers := 0
	buf := make([]byte, 512)
	flooder.SetReadDeadline(time.Now().Add(2 * time.Second))
	for answers < enough {
		n, err := flooder.Read(buf)
		if err != nil {
			break
		}
		if n >= 12 && buf[3]&0xF == dns.RcodeServerFailure {
			answers++
		}
	}
	if answers < enough {
		t.Errorf("flooder got %d SERVFAIL answers, want at least %d at once", answers, enough)
	}

	// Meanwhile another device is served, every query, new names included.
	// (A generous timeout: what counts is that it is answered, not how
	// fast on a loaded test machine; without the caps it gets SERVFAIL.)
	legit := clientFrom("127.0.0.3")
	legit.Timeout = 10 * time.Second
	for i := range 50 {
		r := exchange(t, legit, query(fmt.Sprintf("n%d.legit.%s", i, domain), dns.TypeA), e.udp)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("legit query %d during the flood: %s %v", i, dns.RcodeToString[r.Rcode], r.Answer)
		}
	}
	if q, _ := cache.Inflight(); q > 10 {
		t.Errorf("%d upstream queries in flight, want the flooder's 10", q)
	}
}
