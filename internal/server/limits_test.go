package server

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/access"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// limitServer starts a server on loopback with every listener, answering
// with echoHandler behind the limiter's Access step when lim is not nil.
// Only 127.0.0.1 is allowed unless allow says otherwise.
func limitServer(t *testing.T, c Config, lim *access.Limiter) (*Server, Addrs, *dnstest.Cert) {
	t.Helper()
	cert := dnstest.NewCert(t)
	c.DNS, c.DoT, c.DoH = []string{"127.0.0.1:0"}, []string{"127.0.0.1:0"}, []string{"127.0.0.1:0"}
	c.TLS = cert.TLS
	c.Handler = echoHandler
	if lim != nil {
		c.Handler = pipeline.Build(pipeline.Steps{Access: lim.Middleware(), Resolve: echoHandler})
		c.Limiter = lim
	}
	if c.Allow == nil {
		c.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s, s.Addrs(), cert
}

// dial opens a stream connection from src: plain TCP, or TLS for "dot".
func dial(t *testing.T, transport, src, addr string, cert *dnstest.Cert) net.Conn {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if transport == "dot" {
		return tls.Client(c, &tls.Config{RootCAs: cert.Pool, ServerName: "dns.test"})
	}
	return c
}

// closedAtOnce reports whether the server closes c before sending
// anything. The 5 s deadline only bounds a broken test: a server that
// closes at accept does so in microseconds, one that waits for the idle
// timeout (an hour in these tests) never does.
func closedAtOnce(c net.Conn) bool {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1)) // a TLS client's first read shakes hands
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// streamQuery sends q over c with the 2-byte length prefix and returns
// the answer.
func streamQuery(t *testing.T, c net.Conn, q *dns.Msg) *dns.Msg {
	t.Helper()
	b := pack(t, q)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)); err != nil {
		t.Fatal(err)
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		t.Fatalf("reading answer: %v", err)
	}
	raw := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, raw); err != nil {
		t.Fatal(err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(raw); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestIdleStreamsCannotLockOut runs the lock-out attacks over TCP
// and DoT: idle connections from a refused source, idle connections from
// one allowed source past its cap, and connections opened as the
// listener fills. Each must be closed at once (or soon), and a fresh
// allowed client must still be answered.
func TestIdleStreamsCannotLockOut(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/30")} // .0 to .3
	tests := []struct {
		name    string
		holders []string // sources whose idle connections are held open
		attack  string   // source of the connection that must be closed
	}{
		{"refused source", nil, "127.0.0.9"},
		{"per-source cap", []string{"127.0.0.2", "127.0.0.2", "127.0.0.2"}, "127.0.0.2"},
		// The connection that fills the listener gets the shortest idle
		// timeout (200 ms instead of an hour), and its slot goes to the
		// fresh client.
		{"listener full", []string{"127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"}, "127.0.0.3"},
	}
	for _, transport := range []string{"tcp", "dot"} {
		for _, tc := range tests {
			t.Run(transport+"/"+tc.name, func(t *testing.T) {
				_, addrs, cert := limitServer(t, Config{Allow: allow, TCPIdle: time.Hour, TCPConnections: 5, TCPPerSource: 3}, nil)
				addr := addrs.TCP[0]
				if transport == "dot" {
					addr = addrs.DoT[0]
				}
				for _, src := range tc.holders {
					c := dial(t, transport, src, addr, cert)
					if tc, ok := c.(*tls.Conn); ok {
						if err := tc.Handshake(); err != nil {
							t.Fatal(err)
						}
					}
				}
				if !closedAtOnce(dial(t, transport, tc.attack, addr, cert)) {
					t.Fatalf("connection from %s stayed open", tc.attack)
				}
				// The fresh client takes the last slot.
				fresh := dial(t, transport, "127.0.0.1", addr, cert)
				if r := streamQuery(t, fresh, new(dns.Msg).SetQuestion("example.com.", dns.TypeA)); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
					t.Fatalf("fresh client got %v", r)
				}
			})
		}
	}
}

// TestMalformedStreamMessageCloses sends garbage over TCP and DoT and
// checks that the connection is closed at once, after a FORMERR for a
// message that has a header.
func TestMalformedStreamMessageCloses(t *testing.T) {
	_, addrs, cert := limitServer(t, Config{TCPIdle: time.Hour}, nil)
	response := pack(t, new(dns.Msg).SetQuestion("example.com.", dns.TypeA))
	response[2] |= 0x80
	tests := []struct {
		name        string
		msg         []byte
		wantFormErr bool
	}{
		{"does not unpack", []byte{0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 200, 1, 2}, true},
		{"a response", response, false},
		{"runt", []byte{1, 2, 3}, false},
	}
	for _, transport := range []string{"tcp", "dot"} {
		for _, tc := range tests {
			t.Run(transport+"/"+tc.name, func(t *testing.T) {
				addr := addrs.TCP[0]
				if transport == "dot" {
					addr = addrs.DoT[0]
				}
				c := dial(t, transport, "127.0.0.1", addr, cert)
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(tc.msg))), tc.msg...)); err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(c)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatal("connection left open after a malformed message")
				}
				if tc.wantFormErr {
					if len(got) < 14 || got[5]&0xF != dns.RcodeFormatError {
						t.Fatalf("got %x, want a FORMERR", got)
					}
				} else if len(got) != 0 {
					t.Fatalf("got %x, want nothing", got)
				}
			})
		}
	}
}

// udpFrom sends q from src over UDP and returns the answer, or nil when
// none came within wait.
func udpFrom(t *testing.T, src, addr string, q *dns.Msg, wait time.Duration) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: "udp", Timeout: wait, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}}}
	r, _, err := c.Exchange(q, addr)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		t.Fatal(err)
	}
	return r
}

// TestQueryRateLimit floods from one client over UDP and TCP and checks
// that it gets its burst, then no answer over UDP and REFUSED over TCP,
// while another client is answered as usual; the fake clock gives the
// flooder one more token a second.
func TestQueryRateLimit(t *testing.T) {
	clock := dnstest.NewClock(time.Unix(1_800_000_000, 0))
	lim, err := access.New(access.Config{QPS: 1, Burst: 5, Slip: 1, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	_, addrs, _ := limitServer(t, Config{Allow: allow}, lim)
	q := func(i int) *dns.Msg { return new(dns.Msg).SetQuestion(fmtName(i), dns.TypeA) }
	var answered, dropped int
	for i := range 8 {
		// The first five are answered at once; waiting out the client's
		// timeout on the others is the test: nothing may come, not even a
		// truncated answer (slip is for RRL only).
		r := udpFrom(t, "127.0.0.5", addrs.UDP[0], q(i), 300*time.Millisecond)
		switch {
		case r == nil:
			dropped++
		case r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1:
			answered++
		default:
			t.Fatalf("unexpected answer %v", r)
		}
	}
	if answered != 5 || dropped != 3 {
		t.Fatalf("flooder: %d answered, %d dropped; want 5 and 3", answered, dropped)
	}
	tcp := &dns.Client{Net: "tcp", Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}}}
	if r, _, err := tcp.Exchange(q(99), addrs.TCP[0]); err != nil || r.Rcode != dns.RcodeRefused {
		t.Fatalf("flooder over TCP: %v %v, want REFUSED", r, err)
	}
	if r := udpFrom(t, "127.0.0.6", addrs.UDP[0], q(100), 5*time.Second); r == nil || len(r.Answer) != 1 {
		t.Fatalf("another client got %v", r)
	}
	clock.Advance(time.Second)
	if r := udpFrom(t, "127.0.0.5", addrs.UDP[0], q(101), 5*time.Second); r == nil || len(r.Answer) != 1 {
		t.Fatalf("flooder after a second got %v, want one answer", r)
	}
}

func fmtName(i int) string {
	return strings.Repeat("a", i%7+1) + "-" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + ".example."
}

// TestResponseRateLimit checks RRL: REFUSED answers to a stranger's
// network and repeated identical answers to an allowed network are
// limited, the rest slipped (TC=1, no larger than the query, so nothing
// is amplified) or dropped.
func TestResponseRateLimit(t *testing.T) {
	tests := []struct {
		name      string
		cfg       access.Config
		src       string
		sameName  bool
		n         int
		wantFirst int // answered in full before the limit
		wantRcode int
	}{
		{"refused per /24", access.Config{RefusedQPS: 3, Slip: 1}, "127.0.0.9", false, 8, 3, dns.RcodeRefused},
		{"repeated answers", access.Config{RepeatQPS: 3, Slip: 1}, "127.0.0.1", true, 8, 3, dns.RcodeSuccess},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Now = dnstest.NewClock(time.Unix(1_800_000_000, 0)).Now
			lim, err := access.New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, addrs, _ := limitServer(t, Config{}, lim)
			full, slipped := 0, 0
			for i := range tc.n {
				name := fmtName(i)
				if tc.sameName {
					name = "same.example."
				}
				q := new(dns.Msg).SetQuestion(name, dns.TypeA).SetEdns0(1232, false)
				r := udpFrom(t, tc.src, addrs.UDP[0], q, 5*time.Second)
				if r == nil {
					t.Fatal("no answer with slip 1")
				}
				if r.Truncated {
					slipped++
					if rl, ql := len(pack(t, r)), len(pack(t, q)); rl > ql {
						t.Errorf("slipped answer of %d bytes to a query of %d", rl, ql)
					}
					continue
				}
				if r.Rcode != tc.wantRcode {
					t.Fatalf("rcode %s", dns.RcodeToString[r.Rcode])
				}
				full++
			}
			if full != tc.wantFirst || slipped != tc.n-tc.wantFirst {
				t.Fatalf("%d full, %d slipped; want %d and %d", full, slipped, tc.wantFirst, tc.n-tc.wantFirst)
			}
			if tc.sameName {
				q := new(dns.Msg).SetQuestion("other.example.", dns.TypeA)
				if r := udpFrom(t, tc.src, addrs.UDP[0], q, 5*time.Second); r == nil || r.Truncated || len(r.Answer) != 1 {
					t.Fatalf("another name got %v", r)
				}
			}
		})
	}
}

// TestRateLimitDrops checks that with slip 0 a limited UDP query gets no
// answer at all.
func TestRateLimitDrops(t *testing.T) {
	lim, err := access.New(access.Config{QPS: 1, Burst: 1, Now: dnstest.NewClock(time.Unix(1_800_000_000, 0)).Now})
	if err != nil {
		t.Fatal(err)
	}
	_, addrs, _ := limitServer(t, Config{}, lim)
	if r := udpFrom(t, "127.0.0.1", addrs.UDP[0], new(dns.Msg).SetQuestion("a.example.", dns.TypeA), 5*time.Second); r == nil {
		t.Fatal("first query not answered")
	}
	// Waiting out the client's timeout is the test: nothing may come.
	if r := udpFrom(t, "127.0.0.1", addrs.UDP[0], new(dns.Msg).SetQuestion("b.example.", dns.TypeA), 300*time.Millisecond); r != nil {
		t.Fatalf("limited query answered: %v", r)
	}
}

// TestMalformedFloodKeepsServing sends 20,000 garbage datagrams (a
// scaled-down version of the million in scripts/bench-abuse) from an
// allowed and a refused source, then checks that the server still answers
// and that its heap did not grow with the flood.
func TestMalformedFloodKeepsServing(t *testing.T) {
	_, addrs, _ := limitServer(t, Config{}, nil)
	q := new(dns.Msg).SetQuestion("example.com.", dns.TypeA)
	if r := udpFrom(t, "127.0.0.1", addrs.UDP[0], q, 5*time.Second); r == nil {
		t.Fatal("no answer before the flood")
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, src := range []string{"127.0.0.1", "127.0.0.9"} {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addrs.UDP[0])))
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 64)
		for i := range 10_000 {
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			b[2] &^= 0x80 // a query, so it is parsed
			b[5] = 1      // one question, whose name is garbage
			c.Write(b[:12+i%50])
		}
		c.Close()
	}
	// The kernel may drop part of the flood when the reader falls
	// behind; what counts is that the server answers after it.
	// The queued garbage may take the reader a while under the race
	// detector: ask up to six times, 5 s each.
	var r *dns.Msg
	for range 6 {
		if r = udpFrom(t, "127.0.0.1", addrs.UDP[0], q, 5*time.Second); r != nil {
			break
		}
	}
	if r == nil || len(r.Answer) != 1 {
		t.Fatalf("after the flood: %v", r)
	}
	if after := heap(); after > before+4<<20 {
		t.Errorf("heap grew from %d to %d bytes with the flood", before, after)
	}
}
