package app

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// env is one running Hearth with its upstream, for end-to-end tests.
type env struct {
	app   *App
	up    *dnstest.Server
	cert  *dnstest.Cert
	clock *dnstest.Clock
	udp   string
	tcp   string
	dot   string
	doh   string
}

// bigTXT makes enough TXT records that the answer exceeds 1232 bytes.
func bigTXT(name string) []string {
	var rrs []string
	for i := range 20 {
		rrs = append(rrs, fmt.Sprintf("%s 300 IN TXT \"%s\"", name, strings.Repeat(string(rune('a'+i)), 100)))
	}
	return rrs
}

var upstreamRecords = append([]string{
	"example.com. 300 IN A 192.0.2.1",
	"example.com. 300 IN AAAA 2001:db8::1",
	"short.example. 30 IN A 192.0.2.30",
}, bigTXT("big.example.")...)

// start runs Hearth on loopback ports with extra YAML appended to a base
// config whose upstream is a local test server answering upstreamRecords.
func start(t *testing.T, extra string, upstreamHandler dns.Handler) *env {
	t.Helper()
	return startListening(t, `http: ""`, extra, upstreamHandler)
}

func pack(t *testing.T, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testConfigDoc is the base test config (lines 1-3, then the upstream on
// line 4, each unless extra has its own) followed by extra.
func testConfigDoc(t testing.TB, cert *dnstest.Cert, upstream, extra string) string {
	doc := fmt.Sprintf(`listen: {dns: ["127.0.0.1:0"], dot: ["127.0.0.1:0"], doh: ["127.0.0.1:0"], http: ""}
tls: {cert: %q, key: %q}
`, cert.CertFile, cert.KeyFile)
	if !strings.Contains(extra, "data_dir:") {
		doc += fmt.Sprintf("data_dir: %q\n", t.TempDir())
	}
	if !strings.Contains(extra, "upstream:") {
		doc += fmt.Sprintf("upstream: {servers: [%q], strategy: failover, timeout: 500ms}\n", upstream)
	}
	// An extra with its own upstream section names the test's upstream
	// server as UPSTREAM_ADDR.
	return doc + strings.ReplaceAll(extra, "UPSTREAM_ADDR", upstream)
}

// parseTestConfig parses the base test config with extra, for tests of
// configuration errors that need no running server.
func parseTestConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(testConfigDoc(t, dnstest.NewCert(t), "127.0.0.1:9", extra)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func query(name string, qtype uint16) *dns.Msg {
	return new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
}

func exchange(t *testing.T, c *dns.Client, m *dns.Msg, addr string) *dns.Msg {
	t.Helper()
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %s: %v", c.Net, m.Question[0].Name, err)
	}
	if r.Id != m.Id {
		t.Fatalf("answer ID %d, query ID %d", r.Id, m.Id)
	}
	return r
}

func firstA(t *testing.T, r *dns.Msg) string {
	t.Helper()
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String()
		}
	}
	t.Fatalf("no A record in %v", r)
	return ""
}

func ede(r *dns.Msg) (uint16, bool) {
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				return e.InfoCode, true
			}
		}
	}
	return 0, false
}

func TestTransports(t *testing.T) {
	e := start(t, "", nil)
	tlsCfg := &tls.Config{RootCAs: e.cert.Pool, ServerName: "dns.test"}
	clients := []struct {
		name string
		c    *dns.Client
		addr string
	}{
		{"udp", &dns.Client{Net: "udp"}, e.udp},
		{"tcp", &dns.Client{Net: "tcp"}, e.tcp},
		{"dot", &dns.Client{Net: "tcp-tls", TLSConfig: tlsCfg}, e.dot},
	}
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			r := exchange(t, cl.c, query("example.com", dns.TypeA), cl.addr)
			if r.Rcode != dns.RcodeSuccess || firstA(t, r) != "192.0.2.1" {
				t.Fatalf("answer %v", r)
			}
			if r.Authoritative {
				t.Error("AA set on a forwarded answer")
			}
			if !r.RecursionAvailable {
				t.Error("RA not set")
			}
		})
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}}
	for _, method := range []string{"GET", "POST"} {
		t.Run("doh-"+method, func(t *testing.T) {
			q := query("example.com", dns.TypeA)
			q.Id = 0 // RFC 8484 4.1
			wire, _ := q.Pack()
			url := "https://" + e.doh + "/dns-query"
			var req *http.Request
			if method == "GET" {
				req, _ = http.NewRequest("GET", url+"?dns="+base64.RawURLEncoding.EncodeToString(wire), nil)
			} else {
				req, _ = http.NewRequest("POST", url, bytes.NewReader(wire))
				req.Header.Set("Content-Type", "application/dns-message")
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/dns-message" {
				t.Fatalf("status %d, type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if resp.ProtoMajor != 2 {
				t.Errorf("DoH over HTTP/%d, want HTTP/2", resp.ProtoMajor)
			}
			r := new(dns.Msg)
			if err := r.Unpack(body); err != nil {
				t.Fatal(err)
			}
			if r.Id != 0 || firstA(t, r) != "192.0.2.1" {
				t.Errorf("answer %v", r)
			}
		})
	}
	t.Run("doh-bad-request", func(t *testing.T) {
		resp, err := hc.Get("https://" + e.doh + "/dns-query?dns=!!!")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
	})
}

func TestTruncationAndEDNSSizes(t *testing.T) {
	e := start(t, "", nil)
	tests := []struct {
		name    string
		edns    uint16 // 0 = no EDNS
		wantTC  bool
		maxSize int
	}{
		{"no edns", 0, true, 512},
		{"edns 512", 512, true, 512},
		{"edns 1232", 1232, true, 1232},
		{"edns 4096 capped at 1232", 4096, true, 1232},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := query("big.example", dns.TypeTXT)
			if tc.edns > 0 {
				q.SetEdns0(tc.edns, false)
			}
			raw := rawUDP(t, e.udp, pack(t, q), 5*time.Second)
			if raw == nil {
				t.Fatal("no answer")
			}
			if len(raw) > tc.maxSize {
				t.Errorf("answer is %d bytes, over %d", len(raw), tc.maxSize)
			}
			r := new(dns.Msg)
			if err := r.Unpack(raw); err != nil {
				t.Fatal(err)
			}
			if r.Truncated != tc.wantTC {
				t.Errorf("TC = %v, want %v", r.Truncated, tc.wantTC)
			}
			// The client retries over TCP and gets everything.
			full := exchange(t, &dns.Client{Net: "tcp"}, q, e.tcp)
			if full.Truncated || len(full.Answer) != 20 {
				t.Errorf("TCP answer TC=%v with %d records, want 20", full.Truncated, len(full.Answer))
			}
		})
	}
	// A small answer is not truncated.
	r := exchange(t, &dns.Client{Net: "udp"}, query("example.com", dns.TypeA), e.udp)
	if r.Truncated {
		t.Error("small answer truncated")
	}
}

// rawUDP sends b and returns the answer, or nil when none comes in time.
func rawUDP(t *testing.T, addr string, b []byte, wait time.Duration) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func TestProtocolErrors(t *testing.T) {
	e := start(t, "", nil)
	good := pack(t, query("example.com", dns.TypeA))

	t.Run("formerr for a broken question", func(t *testing.T) {
		b := append([]byte{}, good[:12]...)
		b = append(b, 0x07, 'e', 'x') // label runs past the end
		r := rawUDP(t, e.udp, b, 2*time.Second)
		if r == nil {
			t.Fatal("no answer")
		}
		if rcode := r[3] & 0xF; rcode != dns.RcodeFormatError || r[2]&0x80 == 0 || r[0] != b[0] || r[1] != b[1] {
			t.Errorf("answer header % x, want FORMERR reply with the query ID", r[:4])
		}
	})
	t.Run("formerr for two questions", func(t *testing.T) {
		q := query("example.com", dns.TypeA)
		q.Question = append(q.Question, q.Question[0])
		r := exchange(t, &dns.Client{Net: "udp"}, q, e.udp)
		if r.Rcode != dns.RcodeFormatError {
			t.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("notimp for other opcodes", func(t *testing.T) {
		q := query("example.com", dns.TypeSOA)
		q.Opcode = dns.OpcodeNotify
		r := exchange(t, &dns.Client{Net: "udp"}, q, e.udp)
		if r.Rcode != dns.RcodeNotImplemented {
			t.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("responses are dropped", func(t *testing.T) {
		b := append([]byte{}, good...)
		b[2] |= 0x80
		if r := rawUDP(t, e.udp, b, 300*time.Millisecond); r != nil {
			t.Errorf("answered a response: % x", r)
		}
	})
	t.Run("runt is dropped, server lives on", func(t *testing.T) {
		if r := rawUDP(t, e.udp, []byte{1, 2, 3}, 300*time.Millisecond); r != nil {
			t.Errorf("answered a runt")
		}
		exchange(t, &dns.Client{Net: "udp"}, query("example.com", dns.TypeA), e.udp)
	})
	t.Run("badvers", func(t *testing.T) {
		q := query("example.com", dns.TypeA)
		q.SetEdns0(1232, false)
		q.IsEdns0().SetVersion(1)
		r := exchange(t, &dns.Client{Net: "udp"}, q, e.udp)
		if r.Rcode != dns.RcodeBadVers {
			t.Errorf("rcode %s, want BADVERS", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("ANY gets the RFC 8482 answer", func(t *testing.T) {
		before := e.up.Queries()
		r := exchange(t, &dns.Client{Net: "udp"}, query("example.com", dns.TypeANY), e.udp)
		if len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeHINFO {
			t.Errorf("answer %v, want one HINFO", r.Answer)
		}
		if e.up.Queries() != before {
			t.Error("ANY went upstream")
		}
	})
}

func TestRefusedOutsideAllowedNetworks(t *testing.T) {
	e := start(t, `access: {allow: ["127.0.0.2/32"]}`+"\n", nil)
	from := func(ip string) *dns.Client {
		return &dns.Client{Net: "udp", Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(ip)}}}
	}
	q := query("example.com", dns.TypeA)
	q.SetEdns0(1232, false)
	r := exchange(t, from("127.0.0.3"), q, e.udp)
	if r.Rcode != dns.RcodeRefused {
		t.Fatalf("rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	if code, ok := ede(r); !ok || code != dnsmsg.EDEProhibited {
		t.Errorf("EDE %d (present %v), want 18", code, ok)
	}
	if len(r.Answer) != 0 {
		t.Error("refused answer carries records")
	}
	if e.up.Queries() != 0 {
		t.Error("a refused query went upstream")
	}
	r = exchange(t, from("127.0.0.2"), q, e.udp)
	if r.Rcode != dns.RcodeSuccess {
		t.Errorf("allowed source got %s", dns.RcodeToString[r.Rcode])
	}
	// Over TCP a refused source's connection is closed at accept.
	tcp := &dns.Client{Net: "tcp", Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}}
	if r, _, err := tcp.Exchange(q, e.tcp); err == nil {
		t.Errorf("tcp from a refused source answered %s, want the connection closed", dns.RcodeToString[r.Rcode])
	}
}

func TestCacheTTLDecrementAndNegativeCaching(t *testing.T) {
	e := start(t, "", nil)
	c := &dns.Client{Net: "udp"}
	r := exchange(t, c, query("example.com", dns.TypeA), e.udp)
	if ttl := r.Answer[0].Header().Ttl; ttl != 300 {
		t.Fatalf("first TTL %d, want 300", ttl)
	}
	e.clock.Advance(100 * time.Second)
	r = exchange(t, c, query("example.com", dns.TypeA), e.udp)
	if ttl := r.Answer[0].Header().Ttl; ttl != 200 {
		t.Errorf("cached TTL %d, want 200", ttl)
	}
	if n := e.up.Queries(); n != 1 {
		t.Errorf("upstream saw %d queries, want 1", n)
	}

	// NXDOMAIN is cached for the SOA minimum (60 s in the test zone).
	for range 3 {
		r = exchange(t, c, query("nope.example", dns.TypeA), e.udp)
		if r.Rcode != dns.RcodeNameError {
			t.Fatalf("rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
		}
	}
	if n := e.up.Queries(); n != 2 {
		t.Errorf("upstream saw %d queries after 3 NXDOMAIN lookups, want 2", n)
	}
	e.clock.Advance(61 * time.Second)
	exchange(t, c, query("nope.example", dns.TypeA), e.udp)
	if n := e.up.Queries(); n != 3 {
		t.Errorf("upstream saw %d queries after the negative entry expired, want 3", n)
	}
}

func TestServeStaleAfterUpstreamDies(t *testing.T) {
	e := start(t, "", nil)
	c := &dns.Client{Net: "udp"}
	q := query("short.example", dns.TypeA)
	q.SetEdns0(1232, false)
	exchange(t, c, q, e.udp)
	e.up.Close()
	e.clock.Advance(5 * time.Minute) // past the 30 s TTL, within serve_stale
	r := exchange(t, c, q, e.udp)
	if r.Rcode != dns.RcodeSuccess || firstA(t, r) != "192.0.2.30" {
		t.Fatalf("stale answer %v", r)
	}
	if code, ok := ede(r); !ok || code != dnsmsg.EDEStaleAnswer {
		t.Errorf("EDE %d (present %v), want 3 (stale answer)", code, ok)
	}
	// A name never seen gets SERVFAIL with a network EDE.
	q2 := query("example.com", dns.TypeAAAA)
	q2.SetEdns0(1232, false)
	r = exchange(t, c, q2, e.udp)
	if r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	if code, ok := ede(r); !ok || (code != dnsmsg.EDENetworkError && code != dnsmsg.EDENoReachableAuthority) {
		t.Errorf("EDE %d (present %v), want 22 or 23", code, ok)
	}
}

func TestConcurrentMissesCoalesce(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	zone := dnstest.Zone(t, upstreamRecords...)
	arrived := make(chan struct{})
	// The upstream holds the first query until all 50 have reached the
	// cache, which on a loaded machine can take longer than the usual
	// 500 ms test timeout: give the exchange time enough.
	e := start(t, `upstream: {servers: ["UPSTREAM_ADDR"], strategy: failover, timeout: 30s}`+"\n", dns.HandlerFunc(func(w dns.ResponseWriter, m *dns.Msg) {
		once.Do(func() { close(arrived) })
		<-release
		zone(w, m)
	}))
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _, err := (&dns.Client{Net: "tcp", Timeout: 10 * time.Second}).Exchange(query("example.com", dns.TypeA), e.tcp)
			if err == nil && (r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1) {
				err = fmt.Errorf("answer %v", r)
			}
			errs <- err
		}()
	}
	<-arrived
	// Release the upstream only when every query has reached the cache:
	// by then all but the first are waiting on the first one's result.
	for e.app.built.cache.Stats().Misses < n {
		runtime.Gosched() // wait on the counter, not on a timing guess
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := e.up.Queries(); got != 1 {
		t.Errorf("upstream saw %d queries for %d identical misses, want 1", got, n)
	}
}

func TestFailoverToLiveUpstream(t *testing.T) {
	dead := dnstest.NewServer(t, dns.HandlerFunc(func(w dns.ResponseWriter, m *dns.Msg) {}))
	dead.Close()
	live := dnstest.NewServer(t, dnstest.Zone(t, upstreamRecords...))
	e := start(t, fmt.Sprintf("upstream: {servers: [%q, %q], strategy: failover, timeout: 500ms}\n", dead.Addr, live.Addr), nil)
	for _, name := range []string{"example.com", "short.example"} {
		r := exchange(t, &dns.Client{Net: "udp", Timeout: 5 * time.Second}, query(name, dns.TypeA), e.udp)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("%s: answer %v", name, r)
		}
	}
	if live.Queries() != 2 {
		t.Error("live upstream never asked")
	}
}

func TestReloadKeepsOldConfigOnError(t *testing.T) {
	e := start(t, "local: {records: [\"router.lan A 192.168.1.1\"]}\n", nil)
	c := &dns.Client{Net: "udp"}
	if got := firstA(t, exchange(t, c, query("router.lan", dns.TypeA), e.udp)); got != "192.168.1.1" {
		t.Fatalf("router.lan = %s", got)
	}
	bad, err := config.Parse("bad.yaml", []byte(fmt.Sprintf("upstream: {servers: [%q]}\nlocal: {records: [\"router.lan A 999.1.1.1\"]}\ndata_dir: %q\n", e.up.Addr, t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	err = e.app.Reload(bad)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:2: local.records[0]") {
		t.Fatalf("Reload error = %v, want one naming bad.yaml:2: local.records[0]", err)
	}
	if got := firstA(t, exchange(t, c, query("router.lan", dns.TypeA), e.udp)); got != "192.168.1.1" {
		t.Errorf("after a failed reload router.lan = %s, want the old record", got)
	}
	good, err := config.Parse("good.yaml", []byte(fmt.Sprintf("upstream: {servers: [%q]}\nlocal: {records: [\"router.lan A 192.168.1.254\"]}\ndata_dir: %q\n", e.up.Addr, t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.app.Reload(good); err != nil {
		t.Fatal(err)
	}
	if got := firstA(t, exchange(t, c, query("router.lan", dns.TypeA), e.udp)); got != "192.168.1.254" {
		t.Errorf("after reload router.lan = %s, want 192.168.1.254", got)
	}
}
