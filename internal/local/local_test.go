package local

import (
	"context"
	"errors"
	"testing"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

type fakeExchanger struct {
	name  string
	calls int
	err   error
}

func (f *fakeExchanger) Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	m := new(dns.Msg)
	m.SetReply(q)
	rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN TXT " + f.name)
	m.Answer = []dns.RR{rr}
	return m, nil
}

func TestZones(t *testing.T) {
	var recs []dns.RR
	for _, s := range []string{"router.lan A 192.168.1.1", "nas.lan 60 AAAA fd00::2", "www.lan CNAME router.lan."} {
		rr, err := ParseRecord(s)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rr)
	}
	lan := &fakeExchanger{name: "lan-router"}
	corp := &fakeExchanger{name: "corp"}
	z := New(recs, map[string]Exchanger{"lan": lan, "corp.example": corp})
	var nextCalls int
	h := z.Middleware()(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
		nextCalls++
		return w.WriteMsg(new(dns.Msg).SetRcode(r.Msg, dns.RcodeRefused))
	}))
	tests := []struct {
		name      string
		qtype     uint16
		wantRcode int
		wantAns   string // first answer's rdata as text, "" for none
		wantVia   string // "local", "lan", "corp", "next"
	}{
		{"router.lan.", dns.TypeA, dns.RcodeSuccess, "192.168.1.1", "local"},
		{"ROUTER.lan.", dns.TypeA, dns.RcodeSuccess, "192.168.1.1", "local"},
		{"router.lan.", dns.TypeAAAA, dns.RcodeSuccess, "", "local"},
		{"nas.lan.", dns.TypeAAAA, dns.RcodeSuccess, "fd00::2", "local"},
		{"www.lan.", dns.TypeA, dns.RcodeSuccess, "router.lan.", "local"},
		{"1.1.168.192.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, "router.lan.", "local"},
		{"printer.lan.", dns.TypeA, dns.RcodeSuccess, "lan-router", "lan"},
		{"a.b.corp.example.", dns.TypeA, dns.RcodeSuccess, "corp", "corp"},
		{"corp.example.", dns.TypeA, dns.RcodeSuccess, "corp", "corp"},
		{"notcorp.example.", dns.TypeA, dns.RcodeRefused, "", "next"},
		{"example.com.", dns.TypeA, dns.RcodeRefused, "", "next"},
	}
	for _, tc := range tests {
		t.Run(tc.name+dns.TypeToString[tc.qtype], func(t *testing.T) {
			lan.calls, corp.calls, nextCalls = 0, 0, 0
			q := new(dns.Msg).SetQuestion(tc.name, tc.qtype)
			rec := &dnstest.Recorder{}
			if err := h.ServeDNS(context.Background(), rec, &pipeline.Request{Msg: q}); err != nil {
				t.Fatal(err)
			}
			if rec.Msg.Rcode != tc.wantRcode {
				t.Fatalf("rcode = %s, want %s", dns.RcodeToString[rec.Msg.Rcode], dns.RcodeToString[tc.wantRcode])
			}
			got := ""
			if len(rec.Msg.Answer) > 0 {
				f := dns.Field(rec.Msg.Answer[0], 1)
				got = f
				if rec.Msg.Answer[0].Header().Name != tc.name {
					t.Errorf("answer owner %q, want the query's spelling %q", rec.Msg.Answer[0].Header().Name, tc.name)
				}
			}
			if got != tc.wantAns {
				t.Errorf("answer = %q, want %q", got, tc.wantAns)
			}
			via := map[string]int{"lan": lan.calls, "corp": corp.calls, "next": nextCalls}
			for k, n := range via {
				if want := 0; k == tc.wantVia {
					want = 1
					if n != want {
						t.Errorf("%s called %d times, want 1", k, n)
					}
				} else if n != 0 {
					t.Errorf("%s called %d times, want 0", k, n)
				}
			}
		})
	}
}

func TestForwardFailureIsServfail(t *testing.T) {
	z := New(nil, map[string]Exchanger{"lan": &fakeExchanger{err: errors.New("router down")}})
	h := z.Middleware()(nil)
	rec := &dnstest.Recorder{}
	q := new(dns.Msg).SetQuestion("tv.lan.", dns.TypeA)
	if err := h.ServeDNS(context.Background(), rec, &pipeline.Request{Msg: q}); err != nil {
		t.Fatal(err)
	}
	if rec.Msg.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode = %s, want SERVFAIL", dns.RcodeToString[rec.Msg.Rcode])
	}
}

func TestParseRecordErrors(t *testing.T) {
	for _, s := range []string{"", "router.lan A 300.1.1.1", "router.lan BOGUS x", "a.lan A 1.2.3.4\nb.lan A 1.2.3.5"} {
		if _, err := ParseRecord(s); err == nil {
			t.Errorf("ParseRecord(%q) succeeded", s)
		}
	}
	rr, err := ParseRecord("router.lan A 192.168.1.1")
	if err != nil || rr.Header().Ttl != DefaultTTL || rr.Header().Name != "router.lan." {
		t.Errorf("ParseRecord = %v, %v", rr, err)
	}
}
