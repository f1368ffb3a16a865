package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
	"github.com/miekg/dns"
)

// exampleIP is the address of example.com in testZone.
const exampleIP = "192.0.2.1"

// testZone is what every test upstream serves.
func testZone(t testing.TB) dns.HandlerFunc {
	return dnstest.Zone(t,
		"example.com. 300 IN A "+exampleIP,
		"example.com. 300 IN AAAA 2001:db8::1",
	)
}

// seen is one query an upstream received.
type seen struct {
	msg  *dns.Msg
	addr net.Addr
}

// recorder wraps a handler and keeps every query it receives.
type recorder struct {
	h  dns.Handler
	mu sync.Mutex
	qs []seen
}

func (r *recorder) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	r.mu.Lock()
	r.qs = append(r.qs, seen{msg: q.Copy(), addr: w.RemoteAddr()})
	r.mu.Unlock()
	r.h.ServeDNS(w, q)
}

func (r *recorder) seen() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.qs...)
}

// deadAddr returns "127.0.0.1:port" where nothing listens on UDP or TCP,
// so queries to it are refused at once.
func deadAddr(t testing.TB) string {
	t.Helper()
	s := dnstest.NewServer(t, dns.HandlerFunc(func(dns.ResponseWriter, *dns.Msg) {}))
	s.Close()
	return s.Addr
}

// blackhole returns "127.0.0.1:port" of a UDP socket that reads nothing,
// so queries to it time out.
func blackhole(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// dotServer is a DNS-over-TLS server on 127.0.0.1.
type dotServer struct {
	Addr     string
	Port     string
	accepted atomic.Int64 // TCP connections accepted
	resumed  atomic.Int64 // queries on resumed TLS sessions
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func startDoT(t testing.TB, cert tls.Certificate, h dns.Handler) *dotServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dotServer{Addr: ln.Addr().String()}
	_, s.Port, _ = net.SplitHostPort(s.Addr)
	tl := tls.NewListener(countingListener{ln, &s.accepted}, &tls.Config{Certificates: []tls.Certificate{cert}})
	srv := &dns.Server{
		Listener: tl,
		Net:      "tcp-tls",
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
			if cs, ok := w.(dns.ConnectionStater); ok {
				if st := cs.ConnectionState(); st != nil && st.DidResume {
					s.resumed.Add(1)
				}
			}
			h.ServeDNS(w, q)
		}),
	}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return s
}

// dohServer is a DNS-over-HTTPS server on 127.0.0.1 with HTTP/2.
type dohServer struct {
	*httptest.Server
	Port  string
	conns atomic.Int64
	mu    sync.Mutex
	reqs  []dohRequest
}

// dohRequest is what the DoH server saw of one request.
type dohRequest struct {
	protoMajor int
	id         uint16
	method     string
}

func (s *dohServer) requests() []dohRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]dohRequest(nil), s.reqs...)
}

func startDoH(t testing.TB, cert tls.Certificate, h dns.Handler) *dohServer {
	t.Helper()
	s := &dohServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != dohMediaType {
			http.Error(w, "want POST of "+dohMediaType, http.StatusUnsupportedMediaType)
			return
		}
		body, err := io.ReadAll(r.Body)
		q := new(dns.Msg)
		if err == nil {
			err = q.Unpack(body)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, dohRequest{protoMajor: r.ProtoMajor, id: q.Id, method: r.Method})
		s.mu.Unlock()
		cw := &captureWriter{}
		h.ServeDNS(cw, q)
		out, err := cw.msg.Pack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", dohMediaType)
		w.Write(out)
	}))
	s.EnableHTTP2 = true
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	_, s.Port, _ = net.SplitHostPort(s.Listener.Addr().String())
	return s
}

// captureWriter is a dns.ResponseWriter keeping the answer, for the DoH
// server to reuse dns.Handlers.
type captureWriter struct{ msg *dns.Msg }

func (w *captureWriter) LocalAddr() net.Addr       { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (w *captureWriter) RemoteAddr() net.Addr      { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (w *captureWriter) WriteMsg(m *dns.Msg) error { w.msg = m; return nil }
func (w *captureWriter) Write([]byte) (int, error) { panic("captureWriter: Write not supported") }
func (w *captureWriter) Close() error              { return nil }
func (w *captureWriter) TsigStatus() error         { return nil }
func (w *captureWriter) TsigTimersOnly(bool)       {}
func (w *captureWriter) Hijack()                   {}
func (w *captureWriter) Network() string           { return "tcp" }
func (w *captureWriter) String() string            { return "captureWriter" }

// tlsEnv is a certificate shared by a test's DoT and DoH servers and the
// client configuration trusting it.
type tlsEnv struct {
	cert   tls.Certificate
	client *tls.Config
}

func newTLSEnv(t testing.TB) tlsEnv {
	cert, pool := testCert(t)
	return tlsEnv{cert: cert, client: &tls.Config{RootCAs: pool}}
}

// untrusted returns a client TLS configuration that trusts no one.
func untrusted() *tls.Config { return &tls.Config{RootCAs: x509.NewCertPool()} }

// newGroup builds a Group for c, closed at the end of the test.
func newGroup(t testing.TB, c Config) *Group {
	t.Helper()
	if c.Timeout == 0 {
		// Long enough never to fire on a healthy loopback, short enough
		// that a test stuck on it fails well within the suite's budget.
		c.Timeout = 5 * time.Second
	}
	g, err := New(c)
	if err != nil {
		t.Fatalf("New(%+v): %v", c, err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// question returns a recursive query for name and qtype with a fixed ID.
func question(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = 0xbeef
	return m
}

// exchange asks g for example.com A and checks the answer.
func exchange(t testing.TB, g *Group) *dns.Msg {
	t.Helper()
	q := question("example.com.", dns.TypeA)
	m, err := g.Exchange(context.Background(), q)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	checkAnswer(t, q, m)
	return m
}

// checkAnswer checks that m answers q (example.com A) with exampleIP.
func checkAnswer(t testing.TB, q, m *dns.Msg) {
	t.Helper()
	if m.Id != q.Id {
		t.Errorf("answer ID = %#x, want the client's %#x", m.Id, q.Id)
	}
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("answer rcode %s with %d records, want NOERROR with 1:\n%v", dns.RcodeToString[m.Rcode], len(m.Answer), m)
	}
	a, ok := m.Answer[0].(*dns.A)
	if !ok || a.A.String() != exampleIP {
		t.Fatalf("answer %v, want A %s", m.Answer[0], exampleIP)
	}
}

// dropIdle closes g's idle DoT and DoH connections, so that the next
// exchange must dial.
func dropIdle(g *Group) {
	for _, u := range g.ups {
		switch ex := u.ex.(type) {
		case *tlsClient:
			ex.closeIdle(false)
		case *httpsClient:
			ex.transport.CloseIdleConnections()
		}
	}
}
