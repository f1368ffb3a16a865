package cache

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// t0 is where every test clock starts.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testSOA is the SOA of the fake zone: TTL 900, MINIMUM 120, so negative
// answers are cached for 120 s.
const testSOA = "test. 900 IN SOA ns.test. admin.test. 1 3600 600 86400 120"

// fakeUpstream is an Upstream that answers with reply, counts its calls,
// and can fail or block on demand. Like a real upstream it sets AA and
// adds its own OPT record with NSID and a cookie, which the cache must not
// pass on.
type fakeUpstream struct {
	reply func(q *dns.Msg) *dns.Msg
	calls atomic.Int64
	// entered, if set, receives a value each time Exchange is called,
	// before it blocks.
	entered chan struct{}
	// release, if set, blocks Exchange until it is closed.
	release chan struct{}

	mu   sync.Mutex
	fail error
}

func (u *fakeUpstream) Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	u.calls.Add(1)
	if u.entered != nil {
		u.entered <- struct{}{}
	}
	if u.release != nil {
		select {
		case <-u.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	u.mu.Lock()
	err := u.fail
	u.mu.Unlock()
	if err != nil {
		return nil, err
	}
	m := u.reply(q)
	m.Id = q.Id
	m.Authoritative = true
	m.Extra = append(m.Extra, &dns.OPT{
		Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 4096},
		Option: []dns.EDNS0{
			&dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: "6e73"},
			&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"},
		},
	})
	return m, nil
}

func (u *fakeUpstream) setFail(err error) {
	u.mu.Lock()
	u.fail = err
	u.mu.Unlock()
}

// zone returns a reply function answering from records like dnstest.Zone,
// but following CNAMEs inside the zone like a recursive resolver: NXDOMAIN
// for unknown names and NODATA for known names without the type, both with
// testSOA.
func zone(t testing.TB, records ...string) func(q *dns.Msg) *dns.Msg {
	t.Helper()
	byName := map[string][]dns.RR{}
	for _, s := range records {
		rr := mustRR(t, s)
		name := strings.ToLower(rr.Header().Name)
		byName[name] = append(byName[name], rr)
	}
	soa := mustRR(t, testSOA)
	return func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(q)
		m.RecursionAvailable = true
		qq := q.Question[0]
		name := strings.ToLower(qq.Name)
	chase:
		for range 8 {
			rrs, ok := byName[name]
			if !ok {
				m.Rcode = dns.RcodeNameError
				break
			}
			for _, rr := range rrs {
				if rr.Header().Class != qq.Qclass {
					continue
				}
				if cname, ok := rr.(*dns.CNAME); ok && qq.Qtype != dns.TypeCNAME {
					m.Answer = append(m.Answer, dns.Copy(rr))
					name = strings.ToLower(cname.Target)
					continue chase
				}
				if rr.Header().Rrtype == qq.Qtype {
					m.Answer = append(m.Answer, dns.Copy(rr))
				}
			}
			break
		}
		if len(m.Answer) == 0 {
			m.Ns = []dns.RR{dns.Copy(soa)}
		}
		return m
	}
}

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("record %q: %v", s, err)
	}
	return rr
}

// query describes a client query.
type query struct {
	name   string
	qtype  uint16
	qclass uint16 // 0 means IN
	edns   bool
	do     bool
	cd     bool
	noRD   bool
	ad     bool
	id     uint16 // 0 means 4242
	client netip.AddrPort
}

func (q query) req() *pipeline.Request {
	m := new(dns.Msg)
	m.SetQuestion(q.name, q.qtype)
	if q.qclass != 0 {
		m.Question[0].Qclass = q.qclass
	}
	m.Id = q.id
	if m.Id == 0 {
		m.Id = 4242
	}
	m.RecursionDesired = !q.noRD
	m.CheckingDisabled = q.cd
	m.AuthenticatedData = q.ad
	if q.edns {
		m.SetEdns0(dnsmsg.UDPSize, q.do)
	}
	return &pipeline.Request{
		Msg: m, Transport: pipeline.UDP, EDNS: q.edns, DO: q.do,
		MaxSize: dnsmsg.UDPSize, Received: t0, Client: q.client,
	}
}

func a(name string) query { return query{name: name, qtype: dns.TypeA} }

// newTestCache returns a cache on a fake clock in front of u.
func newTestCache(t testing.TB, c Config, u Upstream) (*Cache, *dnstest.Clock) {
	t.Helper()
	clock := dnstest.NewClock(t0)
	c.Now = clock.Now
	ca, err := New(c, u)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := ca.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return ca, clock
}

// ask sends q through the cache and returns the recorded answer and the
// handler's error.
func ask(t testing.TB, c *Cache, q query) (*dns.Msg, error) {
	t.Helper()
	rec := &dnstest.Recorder{}
	r := q.req()
	err := c.ServeDNS(context.Background(), rec, r)
	if rec.Writes != 1 {
		t.Fatalf("%s: %d answers written, want 1 (err %v)", q.name, rec.Writes, err)
	}
	checkReply(t, r, rec.Msg)
	return rec.Msg, err
}

// mustAsk is ask for queries that must not fail.
func mustAsk(t testing.TB, c *Cache, q query) *dns.Msg {
	t.Helper()
	m, err := ask(t, c, q)
	if err != nil {
		t.Fatalf("%s: ServeDNS: %v", q.name, err)
	}
	return m
}

// checkReply checks what every answer must look like: the client's ID,
// question and RD/CD bits, AA clear, and Hearth's own OPT record exactly
// when the client sent one.
func checkReply(t testing.TB, r *pipeline.Request, m *dns.Msg) {
	t.Helper()
	q := r.Msg
	if m.Id != q.Id || !m.Response || m.Authoritative || !m.RecursionAvailable ||
		m.RecursionDesired != q.RecursionDesired || m.CheckingDisabled != q.CheckingDisabled {
		t.Errorf("header %+v does not answer query %+v", m.MsgHdr, q.MsgHdr)
	}
	if len(m.Question) != 1 || m.Question[0] != q.Question[0] {
		t.Errorf("question %v, want %v", m.Question, q.Question)
	}
	opt := m.IsEdns0()
	switch {
	case !r.EDNS && opt != nil:
		t.Errorf("answer has OPT %v, client sent none", opt)
	case r.EDNS && opt == nil:
		t.Errorf("answer has no OPT, client sent one")
	case r.EDNS:
		if opt.UDPSize() != dnsmsg.UDPSize || opt.Do() != r.DO {
			t.Errorf("OPT size %d DO %v, want %d %v", opt.UDPSize(), opt.Do(), dnsmsg.UDPSize, r.DO)
		}
		for _, o := range opt.Option {
			if o.Option() != dns.EDNS0EDE {
				t.Errorf("answer carries upstream option %v", o)
			}
		}
	}
	n := 0
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			n++
		}
	}
	if n > 1 {
		t.Errorf("%d OPT records", n)
	}
}

// ttls returns the TTLs of m's answer and authority records.
func ttls(m *dns.Msg) []uint32 {
	var out []uint32
	for _, rr := range append(append([]dns.RR(nil), m.Answer...), m.Ns...) {
		out = append(out, rr.Header().Ttl)
	}
	return out
}

// ede returns the code of m's Extended DNS Error, or -1.
func ede(m *dns.Msg) int {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				return int(e.InfoCode)
			}
		}
	}
	return -1
}

// nopWriter is a ResponseWriter that checks the answer's length and ID
// without allocating.
type nopWriter struct {
	n  int
	id uint16
}

func (w *nopWriter) WriteMsg(m *dns.Msg) error {
	w.n++
	w.id = m.Id
	return nil
}

func (w *nopWriter) WriteWire(b []byte) error {
	w.n++
	w.id = uint16(b[0])<<8 | uint16(b[1])
	return nil
}
