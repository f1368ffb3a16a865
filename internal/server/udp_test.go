package server

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/pipeline"
)

// udpHandler answers like echoHandler, with 60 A records for "big.test."
// (too large for 512 bytes), deferring "slow.test." on the reader's
// NoWait run so a worker answers it through the writer, and holding
// "hold.test." until release is closed (after telling held).
type udpHandler struct {
	held    chan struct{}
	release chan struct{}
}

func (h *udpHandler) ServeDNS(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
	m := dnsmsg.Reply(r.Msg, dns.RcodeSuccess)
	switch r.Name() {
	case "slow.test.":
		if r.NoWait {
			return pipeline.ErrWouldBlock
		}
	case "hold.test.":
		if r.NoWait {
			return pipeline.ErrWouldBlock
		}
		h.held <- struct{}{}
		<-h.release
	case "big.test.":
		for i := range 60 {
			rr, _ := dns.NewRR(fmt.Sprintf("big.test. 60 IN A 192.0.2.%d", i))
			m.Answer = append(m.Answer, rr)
		}
		return w.WriteMsg(m)
	}
	rr, _ := dns.NewRR(r.Name() + " 60 IN A 192.0.2.1")
	m.Answer = append(m.Answer, rr)
	return w.WriteMsg(m)
}

// udpModes runs f with readers that wait in the kernel (fdIO, GOMAXPROCS
// 2 or more on Linux) and with readers in the netpoller (netIO, which
// openUDP chooses on Linux when GOMAXPROCS is 1).
func udpModes(t *testing.T, f func(t *testing.T)) {
	for _, mode := range []struct {
		name  string
		procs int
	}{{"kernel", max(2, runtime.GOMAXPROCS(0))}, {"netpoller", 1}} {
		t.Run(mode.name, func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(mode.procs))
			f(t)
		})
	}
}

func udpServer(t *testing.T, h pipeline.Handler, addrs ...string) *Server {
	t.Helper()
	s, err := New(Config{DNS: addrs, Handler: h, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

// TestUDPReadLoop sends real datagrams to a started server over IPv4 and
// IPv6 loopback: answers come back from the server's port with the
// query's ID, in line or through a worker and the writer; answers too
// large for the client are truncated with TC; an oversized datagram is
// dropped and the next query answered.
func TestUDPReadLoop(t *testing.T) {
	udpModes(t, func(t *testing.T) {
		addrs := []string{"127.0.0.1:0"}
		if ln, err := net.ListenPacket("udp", "[::1]:0"); err == nil {
			ln.Close()
			addrs = append(addrs, "[::1]:0")
		} else {
			t.Logf("no IPv6 loopback here (%v): IPv4 only", err)
		}
		s := udpServer(t, &udpHandler{}, addrs...)
		tests := []struct {
			name      string
			qname     string
			edns      uint16 // 0: no OPT record
			oversized bool   // a 5,000-byte datagram first
			wantTC    bool
			wantN     int // answer records (with TC: at most)
		}{
			{name: "hit in line", qname: "a.example.", wantN: 1},
			{name: "deferred to a worker", qname: "slow.test.", wantN: 1},
			{name: "truncated at 512", qname: "big.test.", wantTC: true, wantN: 59},
			{name: "fits 1232 with EDNS", qname: "big.test.", edns: 1232, wantN: 60},
			{name: "oversized datagram dropped", qname: "after.example.", oversized: true, wantN: 1},
		}
		for _, addr := range s.Addrs().UDP {
			src := "127.0.0.1"
			if netip.MustParseAddrPort(addr).Addr().Is6() {
				src = "::1"
			}
			for _, tc := range tests {
				t.Run(addr+"/"+tc.name, func(t *testing.T) {
					if tc.oversized {
						c, err := net.Dial("udp", addr)
						if err != nil {
							t.Fatal(err)
						}
						q := pack(t, new(dns.Msg).SetQuestion("x.example.", dns.TypeA))
						if _, err := c.Write(append(q, make([]byte, 5000)...)); err != nil {
							t.Fatal(err)
						}
						c.Close()
					}
					q := new(dns.Msg).SetQuestion(tc.qname, dns.TypeA)
					if tc.edns > 0 {
						q.SetEdns0(tc.edns, false)
					}
					r := udpFrom(t, src, addr, q, 5*time.Second)
					if r == nil {
						t.Fatal("no answer")
					}
					if r.Id != q.Id || r.Rcode != dns.RcodeSuccess {
						t.Fatalf("answer id %d rcode %d, want id %d NOERROR", r.Id, r.Rcode, q.Id)
					}
					if r.Truncated != tc.wantTC {
						t.Errorf("TC %v, want %v", r.Truncated, tc.wantTC)
					}
					r.Compress = true // as packed by the server
					if tc.wantTC && (len(r.Answer) > tc.wantN || r.Len() > dns.MinMsgSize) {
						t.Errorf("truncated answer has %d records, %d bytes", len(r.Answer), r.Len())
					}
					if !tc.wantTC && len(r.Answer) != tc.wantN {
						t.Errorf("%d answer records, want %d", len(r.Answer), tc.wantN)
					}
				})
			}
		}
	})
}

// TestUDPShutdownAnswersInFlight holds a query in a worker, shuts the
// server down meanwhile and checks that the answer still reaches the
// client and that Shutdown then returns: the reader stops, the writer
// keeps sending until in-flight queries are done.
func TestUDPShutdownAnswersInFlight(t *testing.T) {
	udpModes(t, func(t *testing.T) {
		h := &udpHandler{held: make(chan struct{}), release: make(chan struct{})}
		s := udpServer(t, h, "127.0.0.1:0")
		addr := s.Addrs().UDP[0]
		answer := make(chan *dns.Msg, 1)
		go func() {
			c := &dns.Client{Net: "udp", Timeout: 10 * time.Second}
			r, _, err := c.Exchange(new(dns.Msg).SetQuestion("hold.test.", dns.TypeA), addr)
			if err != nil {
				r = nil
			}
			answer <- r
		}()
		<-h.held
		shut := make(chan error, 1)
		go func() { shut <- s.Shutdown(context.Background()) }()
		for !s.closing.Load() {
			runtime.Gosched() // Shutdown has begun before the answer is released
		}
		close(h.release)
		if r := <-answer; r == nil || len(r.Answer) != 1 {
			t.Fatalf("in-flight query during shutdown: answer %v", r)
		}
		select {
		case err := <-shut:
			if err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Shutdown did not return")
		}
		// The port is released: a new socket can bind it.
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatalf("port still held after Shutdown: %v", err)
		}
		c.Close()
	})
}
