package filter

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/policy"
)

// discard is a ResponseWriter that keeps nothing.
type discard struct{ wire int }

func (d *discard) WriteMsg(*dns.Msg) error  { return nil }
func (d *discard) WriteWire(b []byte) error { d.wire = len(b); return nil }

// wireAnswer answers every query with the packed records rrs.
func wireAnswer(t *testing.T, q *dns.Msg, rrs ...string) pipeline.Handler {
	m := new(dns.Msg).SetReply(q)
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
		return w.WriteWire(b)
	})
}

// TestWireChecksAllocateNothingMore: reading HTTPS hints and DNAME
// targets on the cached (packed) path costs no allocation beyond what an
// allowed A answer costs.
func TestWireChecksAllocateNothingMore(t *testing.T) {
	s := snapshot(t)
	allocs := func(qtype uint16, rrs ...string) float64 {
		q := new(dns.Msg).SetQuestion("svc.example.org.", qtype)
		f := New(Config{Blocking: dnsmsg.Blocking{TTL: 10}})
		h := f.Middleware()(wireAnswer(t, q, rrs...))
		req := &pipeline.Request{Msg: q, MaxSize: 1232, Identity: pipeline.Identity{Profile: "kid"}, Policy: s}
		w := &discard{}
		return testing.AllocsPerRun(200, func() { h.ServeDNS(context.Background(), w, req) })
	}
	base := allocs(dns.TypeA, "svc.example.org. 60 IN A 192.0.2.10")
	for _, tc := range []struct {
		qtype uint16
		rrs   []string
	}{
		{dns.TypeHTTPS, []string{`svc.example.org. 60 IN HTTPS 1 . alpn="h2" ipv4hint="192.0.2.1,192.0.2.2" ipv6hint="2001:db8::1"`}},
		{dns.TypeA, []string{"example.org. 60 IN DNAME example.net.", "svc.example.org. 60 IN CNAME svc.example.net.", "svc.example.net. 60 IN A 192.0.2.10"}},
	} {
		if got := allocs(tc.qtype, tc.rrs...); got > base {
			t.Errorf("%s answer: %.0f allocations, an A answer %.0f", dns.TypeToString[tc.qtype], got, base)
		}
	}
}

// TestWireHintsBlocked: a listed address in a packed HTTPS answer's hints
// blocks the answer.
func TestWireHintsBlocked(t *testing.T) {
	q := new(dns.Msg).SetQuestion("svc.example.org.", dns.TypeHTTPS)
	q.SetEdns0(1232, false)
	f := New(Config{Blocking: dnsmsg.Blocking{TTL: 10}})
	snap := snapshot(t)
	for _, tc := range []struct{ rr, wantEDE string }{
		{`svc.example.org. 60 IN HTTPS 1 . alpn="h2" ipv4hint="192.0.2.1,192.0.2.66"`, "rule=192.0.2.66 profile=kid via=svcb-hint"},
		{`svc.example.org. 60 IN HTTPS 1 pool.example.org. ipv6hint="2001:db8::66"`, "rule=2001:db8::66 profile=kid via=svcb-hint"},
		{`svc.example.org. 60 IN HTTPS 1 . alpn="h2" ipv4hint="192.0.2.1"`, ""},
	} {
		h := f.Middleware()(wireAnswer(t, q, tc.rr))
		rec := &recorderMsg{}
		req := &pipeline.Request{Msg: q, EDNS: true, MaxSize: 1232, Identity: pipeline.Identity{Profile: "kid"}, Policy: snap}
		if err := h.ServeDNS(context.Background(), rec, req); err != nil {
			t.Fatal(err)
		}
		ede := ""
		if opt := rec.msg.IsEdns0(); opt != nil {
			for _, o := range opt.Option {
				if e, ok := o.(*dns.EDNS0_EDE); ok {
					ede = e.ExtraText
				}
			}
		}
		if (tc.wantEDE == "") != (ede == "") || !strings.Contains(ede, tc.wantEDE) {
			t.Errorf("%s: EDE %q, want %q", tc.rr, ede, tc.wantEDE)
		}
	}
}

type recorderMsg struct{ msg *dns.Msg }

func (r *recorderMsg) WriteMsg(m *dns.Msg) error { r.msg = m; return nil }
func (r *recorderMsg) WriteWire(b []byte) error {
	r.msg = new(dns.Msg)
	return r.msg.Unpack(b)
}

// FuzzCheckWire feeds arbitrary packed answers (as a cache or upstream
// might hand over, truncated or hostile) through the answer checks: CNAME
// and DNAME targets, addresses, HTTPS/SVCB hints. Nothing may panic or
// read out of bounds.
func FuzzCheckWire(f *testing.F) {
	q := new(dns.Msg).SetQuestion("svc.example.org.", dns.TypeHTTPS)
	for _, rrs := range [][]string{
		{`svc.example.org. 60 IN HTTPS 1 . alpn="h2" ipv4hint="192.0.2.1,192.0.2.66" ipv6hint="2001:db8::66"`},
		{`svc.example.org. 60 IN SVCB 1 pool.example.org. port="853" ipv4hint="192.0.2.2"`},
		{"example.org. 60 IN DNAME tracker.example.", "svc.example.org. 60 IN CNAME svc.tracker.example.", "svc.tracker.example. 60 IN A 192.0.2.10"},
	} {
		m := new(dns.Msg).SetReply(q)
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				f.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var (
		once sync.Once
		s    *policy.Snapshot
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		once.Do(func() { s = snapshot(t) })
		fl := New(Config{Blocking: dnsmsg.Blocking{TTL: 10}})
		h := fl.Middleware()(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
			return w.WriteWire(append([]byte(nil), b...))
		}))
		req := &pipeline.Request{Msg: q, MaxSize: 1232, Identity: pipeline.Identity{Profile: "kid"}, Policy: s}
		h.ServeDNS(context.Background(), &discard{}, req)
	})
}
