package filter

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/domainindex"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

func snapshot(t *testing.T) *policy.Snapshot {
	t.Helper()
	b := domainindex.NewBuilder(4)
	b.Add("bet365.com", 0, domainindex.Subtree)
	b.Add("tracker.example", 1, domainindex.Subtree)
	ix, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	s, err := policy.NewSnapshot(policy.Config{
		Tags:  []policy.TagInfo{{ID: "gambling"}, {ID: "trackers"}},
		Lists: []policy.ListInfo{{ID: "gambling-list", Tag: 0}, {ID: "tracker-list", Tag: 1}},
		IPs:   []policy.IPRule{{Addr: netip.MustParseAddr("192.0.2.66"), List: 1}, {Addr: netip.MustParseAddr("2001:db8::66"), List: 1}},
		Index: ix,
		Profiles: []policy.ProfileSpec{
			{Name: "kid", Block: policy.TagSet{}.With(0).With(1), SafeSearch: true, BypassProtection: true},
			{Name: "adult"},
		},
		DefaultProfile: "kid",
		SafeSearch: []policy.SafeSearchRule{
			{Engine: "google", Names: []string{"www.google.com"}, Target: "forcesafesearch.google.com"},
			{Engine: "yandex", Names: []string{"yandex.ru"}, Addrs: []netip.Addr{netip.MustParseAddr("213.180.193.56")}},
		},
		Canary: []string{"use-application-dns.net"},
		DDR:    []string{"_dns.resolver.arpa"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// upstreamLike answers like a cache: wire answers from a fixed zone.
func upstreamLike(t *testing.T) pipeline.Handler {
	zone := map[string][]string{
		"example.org.":                {"example.org. 60 IN A 192.0.2.10"},
		"forcesafesearch.google.com.": {"forcesafesearch.google.com. 120 IN A 216.239.38.120"},
		"cloaked.example.org.":        {"cloaked.example.org. 60 IN CNAME x.tracker.example.", "x.tracker.example. 60 IN A 192.0.2.66"},
		"cdn.example.org.":            {"cdn.example.org. 60 IN CNAME edge.example.net.", "edge.example.net. 60 IN A 192.0.2.77"},
		"badip.example.org.":          {"badip.example.org. 60 IN A 192.0.2.66"},
		"badip6.example.org.":         {"badip6.example.org. 60 IN AAAA 2001:db8::66"},
	}
	return pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
		m := new(dns.Msg).SetReply(r.Msg)
		for _, s := range zone[r.Name()] {
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		if r.Name() == "cdn.example.org." || r.Name() == "badip6.example.org." {
			return w.WriteMsg(m) // the miss path: an unpacked answer
		}
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return w.WriteWire(b) // the hit path: packed bytes
	})
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name      string
		qtype     uint16
		profile   string
		mode      dnsmsg.Blocking
		wantRcode int
		wantAns   []string // rdata of each answer record, in order
		wantSOA   bool
		wantEDE   string // substring of the EDE text; "" = no EDE
	}{
		{"bet365.com.", dns.TypeA, "kid", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, []string{"0.0.0.0"}, false, "blocked: category=gambling source=gambling-list rule=bet365.com profile=kid"},
		{"www.BET365.com.", dns.TypeAAAA, "kid", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, []string{"::"}, false, "rule=bet365.com"},
		{"bet365.com.", dns.TypeMX, "kid", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, nil, true, "category=gambling"},
		{"bet365.com.", dns.TypeA, "kid", dnsmsg.Blocking{Mode: dnsmsg.BlockNXDomain, TTL: 10}, dns.RcodeNameError, nil, true, "category=gambling"},
		{"bet365.com.", dns.TypeA, "kid", dnsmsg.Blocking{Mode: dnsmsg.BlockAddress, IPv4: netip.MustParseAddr("192.168.1.2"), TTL: 10}, dns.RcodeSuccess, []string{"192.168.1.2"}, false, "gambling"},
		{"bet365.com.", dns.TypeAAAA, "kid", dnsmsg.Blocking{Mode: dnsmsg.BlockAddress, IPv4: netip.MustParseAddr("192.168.1.2"), TTL: 10}, dns.RcodeSuccess, nil, true, "gambling"},
		{"bet365.com.", dns.TypeA, "adult", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, nil, false, ""},
		{"bet365.com.", dns.TypeA, "nobody", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, []string{"0.0.0.0"}, false, "profile=kid"}, // unknown profile: default
		{"example.org.", dns.TypeA, "kid", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, []string{"192.0.2.10"}, false, ""},
		{"use-application-dns.net.", dns.TypeA, "kid", dnsmsg.Blocking{TTL: 10}, dns.RcodeNameError, nil, true, "bypass=firefox-canary"},
		{"_dns.resolver.arpa.", dns.TypeSVCB, "kid", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, nil, true, "bypass=ddr"},
		{"www.google.com.", dns.TypeA, "kid", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, []string{"forcesafesearch.google.com.", "216.239.38.120"}, false, "safe-search=google"},
		{"yandex.ru.", dns.TypeA, "kid", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, []string{"213.180.193.56"}, false, "safe-search=yandex"},
		{"yandex.ru.", dns.TypeAAAA, "kid", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, nil, false, "safe-search=yandex"},
		{"www.google.com.", dns.TypeA, "adult", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, nil, false, ""},
		{"cloaked.example.org.", dns.TypeA, "kid", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, []string{"0.0.0.0"}, false, "category=trackers source=tracker-list rule=tracker.example profile=kid via=cname:cloaked.example.org."},
		{"cloaked.example.org.", dns.TypeA, "adult", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, []string{"x.tracker.example.", "192.0.2.66"}, false, ""},
		{"badip.example.org.", dns.TypeA, "kid", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, []string{"0.0.0.0"}, false, "category=trackers source=tracker-list rule=192.0.2.66 profile=kid via=answer-ip:badip.example.org."},
		{"badip6.example.org.", dns.TypeAAAA, "kid", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, []string{"::"}, false, "rule=2001:db8::66"},
		{"badip.example.org.", dns.TypeA, "adult", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, []string{"192.0.2.66"}, false, ""},
		{"cdn.example.org.", dns.TypeA, "kid", dnsmsg.Blocking{TTL: 10}, dns.RcodeSuccess, []string{"edge.example.net.", "192.0.2.77"}, false, ""},
	}
	snap := snapshot(t)
	for _, tc := range tests {
		t.Run(tc.profile+"/"+tc.name+"/"+dns.TypeToString[tc.qtype], func(t *testing.T) {
			f := New(Config{Blocking: tc.mode})
			h := f.Middleware()(upstreamLike(t))
			q := new(dns.Msg).SetQuestion(tc.name, tc.qtype)
			q.SetEdns0(1232, false)
			rec := &dnstest.Recorder{}
			req := &pipeline.Request{Msg: q, EDNS: true, MaxSize: 1232, Identity: pipeline.Identity{Profile: tc.profile}, Policy: snap}
			if err := h.ServeDNS(context.Background(), rec, req); err != nil {
				t.Fatal(err)
			}
			m := rec.Msg
			if m.Rcode != tc.wantRcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.wantRcode])
			}
			var got []string
			for _, rr := range m.Answer {
				got = append(got, dns.Field(rr, 1))
				if rr.Header().Name != tc.name && rr.Header().Rrtype != dns.TypeA {
					continue
				}
			}
			if tc.wantAns != nil && strings.Join(got, ",") != strings.Join(tc.wantAns, ",") {
				t.Errorf("answers %v, want %v", got, tc.wantAns)
			}
			if tc.wantSOA != (len(m.Ns) == 1 && m.Ns[0].Header().Rrtype == dns.TypeSOA) {
				t.Errorf("authority %v, want SOA %v", m.Ns, tc.wantSOA)
			}
			ede := ""
			if opt := m.IsEdns0(); opt != nil {
				for _, o := range opt.Option {
					if e, ok := o.(*dns.EDNS0_EDE); ok {
						ede = e.ExtraText
					}
				}
			}
			if (tc.wantEDE == "") != (ede == "") || !strings.Contains(ede, tc.wantEDE) {
				t.Errorf("EDE text %q, want %q", ede, tc.wantEDE)
			}
		})
	}
}

// TestFilterClock checks which instant schedules are evaluated at: a
// query's Received time when the filter has no clock of its own (so that
// a query reads the clock once), else the configured clock.
func TestFilterClock(t *testing.T) {
	s, err := policy.NewSnapshot(policy.Config{
		Profiles: []policy.ProfileSpec{{Name: "night", Windows: []policy.Window{
			{Days: [7]bool{true, true, true, true, true, true, true}, Start: 3 * 60, End: 3*60 + 1, Kind: policy.Pause, Name: "bedtime"},
		}}},
		DefaultProfile: "night",
	})
	if err != nil {
		t.Fatal(err)
	}
	inside := time.Date(2001, 1, 1, 3, 0, 30, 0, time.UTC)
	outside := inside.Add(2 * time.Minute)
	tests := []struct {
		name      string
		now       func() time.Time
		received  time.Time
		wantRcode int // RcodeNameError when paused (NXDOMAIN blocking)
	}{
		{"received inside the window", nil, inside, dns.RcodeNameError},
		{"received outside the window", nil, outside, dns.RcodeSuccess},
		{"own clock inside, received outside", func() time.Time { return inside }, outside, dns.RcodeNameError},
		{"own clock outside, received inside", func() time.Time { return outside }, inside, dns.RcodeSuccess},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := New(Config{Blocking: dnsmsg.Blocking{Mode: dnsmsg.BlockNXDomain, TTL: 10}, Now: tc.now})
			h := f.Middleware()(upstreamLike(t))
			rec := &dnstest.Recorder{}
			req := &pipeline.Request{Msg: new(dns.Msg).SetQuestion("example.org.", dns.TypeA), Identity: pipeline.Identity{Profile: "night"}, Policy: s, Received: tc.received}
			if err := h.ServeDNS(context.Background(), rec, req); err != nil {
				t.Fatal(err)
			}
			if rec.Msg.Rcode != tc.wantRcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[rec.Msg.Rcode], dns.RcodeToString[tc.wantRcode])
			}
		})
	}
}
