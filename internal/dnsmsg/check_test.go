package dnsmsg

import (
	"testing"

	"github.com/miekg/dns"
)

func TestReject(t *testing.T) {
	query := func(class uint16, opcode int, edns bool) *dns.Msg {
		q := new(dns.Msg).SetQuestion("example.com.", dns.TypeSOA)
		q.Id = 777
		q.Question[0].Qclass = class
		q.Opcode = opcode
		q.RecursionDesired = true
		if edns {
			q.SetEdns0(4096, true)
		}
		return q
	}
	twoOPT := query(dns.ClassINET, dns.OpcodeQuery, true)
	twoOPT.Extra = append(twoOPT.Extra, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 512}})
	tests := []struct {
		name      string
		q         *dns.Msg
		wantNil   bool
		wantRcode int
		wantOPT   bool
		wantRA    bool
	}{
		{"IN query passes", query(dns.ClassINET, dns.OpcodeQuery, true), true, 0, false, false},
		{"CH query passes (local answers it)", query(dns.ClassCHAOS, dns.OpcodeQuery, false), true, 0, false, false},
		{"opcode 15 without EDNS", query(dns.ClassINET, 15, false), false, dns.RcodeNotImplemented, false, false},
		{"opcode 15 with EDNS echoes OPT", query(dns.ClassINET, 15, true), false, dns.RcodeNotImplemented, true, false},
		{"NOTIFY", query(dns.ClassINET, dns.OpcodeNotify, false), false, dns.RcodeNotImplemented, false, false},
		{"two OPT records", twoOPT, false, dns.RcodeFormatError, false, false},
		{"class HS", query(dns.ClassHESIOD, dns.OpcodeQuery, false), false, dns.RcodeRefused, false, true},
		{"class NONE", query(dns.ClassNONE, dns.OpcodeQuery, true), false, dns.RcodeRefused, true, true},
		{"class ANY", query(dns.ClassANY, dns.OpcodeQuery, false), false, dns.RcodeRefused, false, true},
		{"unassigned class", query(5, dns.OpcodeQuery, false), false, dns.RcodeRefused, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := Reject(tc.q)
			if tc.wantNil {
				if m != nil {
					t.Fatalf("rejected: %v", m)
				}
				return
			}
			if m == nil {
				t.Fatal("not rejected")
			}
			// Through the wire, as the client sees it.
			b, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			got := new(dns.Msg)
			if err := got.Unpack(b); err != nil {
				t.Fatal(err)
			}
			if got.Rcode != tc.wantRcode || !got.Response || got.Id != tc.q.Id || got.Opcode != tc.q.Opcode {
				t.Errorf("rcode %s response %v id %d opcode %d", dns.RcodeToString[got.Rcode], got.Response, got.Id, got.Opcode)
			}
			if !got.RecursionDesired {
				t.Error("RD not echoed")
			}
			if got.RecursionAvailable != tc.wantRA || got.Authoritative || got.AuthenticatedData {
				t.Errorf("flags RA %v AA %v AD %v", got.RecursionAvailable, got.Authoritative, got.AuthenticatedData)
			}
			if len(got.Question) != 1 || got.Question[0] != tc.q.Question[0] {
				t.Errorf("question %v, want %v", got.Question, tc.q.Question)
			}
			if len(got.Answer)+len(got.Ns) != 0 {
				t.Errorf("records in answer: %v", got)
			}
			if (got.IsEdns0() != nil) != tc.wantOPT {
				t.Errorf("OPT present %v, want %v", got.IsEdns0() != nil, tc.wantOPT)
			}
			if n := len(got.Extra); n > 1 {
				t.Errorf("%d additional records", n)
			}
		})
	}
}

func TestFromUpstreamAD(t *testing.T) {
	resp := new(dns.Msg).SetQuestion("example.com.", dns.TypeA)
	resp.Response = true
	resp.AuthenticatedData = true
	tests := []struct {
		name     string
		ad, edns bool
		do       bool
		want     bool
	}{
		{"plain query", false, false, false, false},
		{"EDNS without DO", false, true, false, false},
		{"AD set", true, false, false, true},
		{"DO set", false, true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := new(dns.Msg).SetQuestion("example.com.", dns.TypeA)
			q.AuthenticatedData = tc.ad
			if tc.edns {
				q.SetEdns0(1232, tc.do)
			}
			if got := FromUpstream(q, resp).AuthenticatedData; got != tc.want {
				t.Errorf("AD %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTTLFixes(t *testing.T) {
	m := new(dns.Msg).SetQuestion("example.com.", dns.TypeA)
	for _, ttl := range []uint32{0, 300, 1<<31 - 1, 1 << 31, 1<<32 - 1} {
		rr, _ := dns.NewRR("example.com. 0 IN A 192.0.2.1")
		rr.Header().Ttl = ttl
		m.Answer = append(m.Answer, rr)
	}
	m.SetEdns0(1232, false)
	FixTTLs(m)
	var got []uint32
	for _, rr := range m.Answer {
		got = append(got, rr.Header().Ttl)
	}
	want := []uint32{0, 300, 1<<31 - 1, 0, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("after FixTTLs: %v, want %v", got, want)
		}
	}
	CapTTLs(m, 100)
	for _, rr := range m.Answer {
		if rr.Header().Ttl > 100 {
			t.Errorf("TTL %d above cap", rr.Header().Ttl)
		}
	}
	if m.IsEdns0() == nil || m.IsEdns0().Hdr.Ttl != 0 {
		t.Error("OPT record changed")
	}
}
