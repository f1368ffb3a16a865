package local

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// TestSpecialZones checks that the locally served zones are answered
// here, as Unbound's default local-zones answer them, and never reach the
// next step (the cache and the upstreams), unless a forward is configured.
func TestSpecialZones(t *testing.T) {
	router := &fakeExchanger{name: "router"}
	rr, err := ParseRecord("nas.home.arpa A 192.168.1.2")
	if err != nil {
		t.Fatal(err)
	}
	z := New([]dns.RR{rr}, map[string]Exchanger{"1.168.192.in-addr.arpa": router})
	next := 0
	h := z.Middleware()(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
		next++
		return w.WriteMsg(new(dns.Msg).SetReply(r.Msg))
	}))
	tests := []struct {
		name      string
		qtype     uint16
		wantRcode int
		wantAns   string // first answer's rdata, "" for none
		wantSOA   string // owner of the SOA in the authority section, "" for none
		wantVia   string // "local", "router", "next"
	}{
		{"localhost.", dns.TypeA, dns.RcodeSuccess, "127.0.0.1", "", "local"},
		{"LocalHost.", dns.TypeAAAA, dns.RcodeSuccess, "::1", "", "local"},
		{"foo.localhost.", dns.TypeA, dns.RcodeSuccess, "127.0.0.1", "", "local"},
		{"localhost.", dns.TypeMX, dns.RcodeSuccess, "", "localhost.", "local"},
		{"localhost.", dns.TypeSOA, dns.RcodeSuccess, "localhost. nobody.invalid. 1 3600 1200 604800 10800", "", "local"},
		{"foo.invalid.", dns.TypeA, dns.RcodeNameError, "", "invalid.", "local"},
		{"x.test.", dns.TypeA, dns.RcodeSuccess, "", "", "next"},
		{"duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion.", dns.TypeA, dns.RcodeNameError, "", "onion.", "local"},
		{"x.home.arpa.", dns.TypeA, dns.RcodeNameError, "", "home.arpa.", "local"},
		{"nas.home.arpa.", dns.TypeA, dns.RcodeSuccess, "192.168.1.2", "", "local"},
		{"home.arpa.", dns.TypeNS, dns.RcodeSuccess, "localhost.", "", "local"},
		{"1.0.0.127.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, "localhost.", "", "local"},
		{"0.0.127.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, "", "127.in-addr.arpa.", "local"},
		{"2.0.0.127.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, "", "127.in-addr.arpa.", "local"},
		{"1.0.0.10.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, "", "10.in-addr.arpa.", "local"},
		{"1.0.16.172.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, "", "16.172.in-addr.arpa.", "local"},
		{"1.0.31.172.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, "", "31.172.in-addr.arpa.", "local"},
		{"1.0.32.172.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, "", "", "next"},
		{"1.2.168.192.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, "", "168.192.in-addr.arpa.", "local"},
		{"5.1.168.192.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, "", "", "router"},
		{"1.1.254.169.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, "", "254.169.in-addr.arpa.", "local"},
		{"1.0.64.100.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, "", "64.100.in-addr.arpa.", "local"},
		{"1.0.127.100.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, "", "127.100.in-addr.arpa.", "local"},
		{"1.0.128.100.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, "", "", "next"},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.", dns.TypePTR, dns.RcodeSuccess, "localhost.", "", "local"},
		{"2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR, dns.RcodeNameError, "", "d.f.ip6.arpa.", "local"},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa.", dns.TypePTR, dns.RcodeNameError, "", "8.e.f.ip6.arpa.", "local"},
		{"8.8.8.8.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, "", "", "next"},
		{"example.com.", dns.TypeA, dns.RcodeSuccess, "", "", "next"},
		{"localhost.example.com.", dns.TypeA, dns.RcodeSuccess, "", "", "next"},
	}
	for _, tc := range tests {
		t.Run(tc.name+dns.TypeToString[tc.qtype], func(t *testing.T) {
			next, router.calls = 0, 0
			q := new(dns.Msg).SetQuestion(tc.name, tc.qtype)
			rec := &dnstest.Recorder{}
			if err := h.ServeDNS(context.Background(), rec, &pipeline.Request{Msg: q}); err != nil {
				t.Fatal(err)
			}
			via := "local"
			switch {
			case next > 0:
				via = "next"
			case router.calls > 0:
				via = "router"
			}
			if via != tc.wantVia {
				t.Fatalf("answered by %s, want %s", via, tc.wantVia)
			}
			if via != "local" {
				return
			}
			m := rec.Msg
			if m.Rcode != tc.wantRcode || !m.Authoritative {
				t.Errorf("rcode %s AA %v, want %s AA", dns.RcodeToString[m.Rcode], m.Authoritative, dns.RcodeToString[tc.wantRcode])
			}
			got := ""
			if len(m.Answer) > 0 {
				got = rdata(m.Answer[0])
				if m.Answer[0].Header().Name != tc.name {
					t.Errorf("answer owner %q, want %q", m.Answer[0].Header().Name, tc.name)
				}
			}
			if got != tc.wantAns {
				t.Errorf("answer %q, want %q", got, tc.wantAns)
			}
			soa := ""
			if len(m.Ns) == 1 {
				if s, ok := m.Ns[0].(*dns.SOA); ok {
					soa = s.Hdr.Name
				}
			}
			if soa != tc.wantSOA {
				t.Errorf("authority SOA %q, want %q", soa, tc.wantSOA)
			}
		})
	}
}

func rdata(rr dns.RR) string {
	switch rr := rr.(type) {
	case *dns.A:
		return rr.A.String()
	case *dns.AAAA:
		return rr.AAAA.String()
	case *dns.PTR:
		return rr.Ptr
	case *dns.NS:
		return rr.Ns
	case *dns.SOA:
		return rr.Ns + " " + rr.Mbox + " 1 3600 1200 604800 10800"
	case *dns.TXT:
		return rr.Txt[0]
	}
	return rr.String()
}

// TestChaos checks that class CH queries are answered here, REFUSED by
// default and with the configured text otherwise, and never go on.
func TestChaos(t *testing.T) {
	tests := []struct {
		name      string
		chaos     Chaos
		qname     string
		qtype     uint16
		wantRcode int
		wantText  string
	}{
		{"default version.bind", Chaos{}, "version.bind.", dns.TypeTXT, dns.RcodeRefused, ""},
		{"default id.server", Chaos{}, "id.server.", dns.TypeTXT, dns.RcodeRefused, ""},
		{"default hostname.bind", Chaos{}, "hostname.bind.", dns.TypeTXT, dns.RcodeRefused, ""},
		{"configured version", Chaos{Version: "hearth"}, "VERSION.BIND.", dns.TypeTXT, dns.RcodeSuccess, "hearth"},
		{"configured version.server", Chaos{Version: "hearth"}, "version.server.", dns.TypeTXT, dns.RcodeSuccess, "hearth"},
		{"configured hostname", Chaos{Hostname: "den"}, "hostname.bind.", dns.TypeTXT, dns.RcodeSuccess, "den"},
		{"configured id.server", Chaos{Hostname: "den"}, "id.server.", dns.TypeTXT, dns.RcodeSuccess, "den"},
		{"configured, other type", Chaos{Version: "hearth"}, "version.bind.", dns.TypeA, dns.RcodeSuccess, ""},
		{"version set, hostname asked", Chaos{Version: "hearth"}, "id.server.", dns.TypeTXT, dns.RcodeRefused, ""},
		{"other CH name", Chaos{Version: "hearth"}, "example.com.", dns.TypeA, dns.RcodeRefused, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next := 0
			h := New(nil, nil, WithChaos(tc.chaos)).Middleware()(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
				next++
				return nil
			}))
			q := new(dns.Msg).SetQuestion(tc.qname, tc.qtype)
			q.Question[0].Qclass = dns.ClassCHAOS
			rec := &dnstest.Recorder{}
			if err := h.ServeDNS(context.Background(), rec, &pipeline.Request{Msg: q}); err != nil {
				t.Fatal(err)
			}
			if next != 0 {
				t.Fatal("class CH query went on to the next step")
			}
			if rec.Msg.Rcode != tc.wantRcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[rec.Msg.Rcode], dns.RcodeToString[tc.wantRcode])
			}
			got := ""
			if len(rec.Msg.Answer) > 0 {
				got = rdata(rec.Msg.Answer[0])
				if rec.Msg.Answer[0].Header().Class != dns.ClassCHAOS {
					t.Error("answer not in class CH")
				}
			}
			if got != tc.wantText {
				t.Errorf("answer %q, want %q", got, tc.wantText)
			}
		})
	}
}

// TestPassThroughDoesNotAllocate guards the hot path: a query for an
// ordinary name costs the local step no allocation.
func TestPassThroughDoesNotAllocate(t *testing.T) {
	h := New(nil, nil).Middleware()(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
		return nil
	}))
	req := &pipeline.Request{Msg: new(dns.Msg).SetQuestion("www.Example.com.", dns.TypeA)}
	if n := testing.AllocsPerRun(100, func() { h.ServeDNS(context.Background(), nil, req) }); n != 0 {
		t.Errorf("%v allocations per query", n)
	}
}

// fakeLimiter allows max slots in all.
type fakeLimiter struct {
	max, held, peak int
	clients         []netip.Addr
}

func (l *fakeLimiter) AcquireUpstream(c netip.Addr) bool {
	if l.held >= l.max {
		return false
	}
	l.held++
	l.peak = max(l.peak, l.held)
	l.clients = append(l.clients, c)
	return true
}

func (l *fakeLimiter) ReleaseUpstream(c netip.Addr) { l.held-- }

// TestForwardTakesUpstreamSlot checks that a forward takes an upstream
// slot for its client and gives it back, and that a client without one
// gets SERVFAIL at once, the router not asked.
func TestForwardTakesUpstreamSlot(t *testing.T) {
	router := &fakeExchanger{name: "router"}
	for _, tc := range []struct {
		name      string
		max       int
		wantRcode int
		wantCalls int
	}{
		{"slot free", 1, dns.RcodeSuccess, 1},
		{"over the cap", 0, dns.RcodeServerFailure, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			router.calls = 0
			l := &fakeLimiter{max: tc.max}
			h := New(nil, map[string]Exchanger{"lan": router}, WithLimiter(l)).Middleware()(nil)
			q := new(dns.Msg).SetQuestion("x1234.lan.", dns.TypeA)
			rec := &dnstest.Recorder{}
			client := netip.MustParseAddrPort("192.168.1.66:5353")
			if err := h.ServeDNS(context.Background(), rec, &pipeline.Request{Msg: q, Client: client}); err != nil {
				t.Fatal(err)
			}
			if rec.Msg.Rcode != tc.wantRcode || router.calls != tc.wantCalls {
				t.Errorf("rcode %s, router asked %d times; want %s, %d", dns.RcodeToString[rec.Msg.Rcode], router.calls, dns.RcodeToString[tc.wantRcode], tc.wantCalls)
			}
			if l.held != 0 {
				t.Errorf("%d slots still held", l.held)
			}
			if tc.wantCalls > 0 && (len(l.clients) != 1 || l.clients[0] != client.Addr()) {
				t.Errorf("slot taken for %v, want %v", l.clients, client.Addr())
			}
		})
	}
}

// TestMaxTTL checks that every TTL answered here is capped: records,
// locally served zones (answers and negative SOAs) and forwarded answers.
func TestMaxTTL(t *testing.T) {
	rr, err := ParseRecord("nas.lan 86400 A 192.168.1.2")
	if err != nil {
		t.Fatal(err)
	}
	router := &fakeExchanger{name: "router"} // answers TTL 60
	h := New([]dns.RR{rr}, map[string]Exchanger{"corp": router}, WithMaxTTL(30*time.Second)).Middleware()(nil)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"nas.lan.", dns.TypeA}, {"localhost.", dns.TypeA}, {"x.home.arpa.", dns.TypeA}, {"host.corp.", dns.TypeTXT}} {
		rec := &dnstest.Recorder{}
		if err := h.ServeDNS(context.Background(), rec, &pipeline.Request{Msg: new(dns.Msg).SetQuestion(q.name, q.qtype)}); err != nil {
			t.Fatal(err)
		}
		rrs := append(append([]dns.RR{}, rec.Msg.Answer...), rec.Msg.Ns...)
		if len(rrs) == 0 {
			t.Fatalf("%s: no records", q.name)
		}
		for _, rr := range rrs {
			if rr.Header().Ttl > 30 {
				t.Errorf("%s: TTL %d over the cap: %v", q.name, rr.Header().Ttl, rr)
			}
		}
	}
	// The zones' own records are untouched by the capping of answers.
	rec := &dnstest.Recorder{}
	New(nil, nil).Middleware()(nil).ServeDNS(context.Background(), rec, &pipeline.Request{Msg: new(dns.Msg).SetQuestion("x.home.arpa.", dns.TypeA)})
	if ttl := rec.Msg.Ns[0].Header().Ttl; ttl != specialTTL {
		t.Errorf("uncapped zone's SOA TTL %d, want %d", ttl, specialTTL)
	}
}
