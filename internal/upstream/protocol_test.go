package upstream

import (
	"context"
	"errors"
	"testing"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// rcodeServer answers every query with rcode and no records.
func rcodeServer(t *testing.T, rcode int) *dnstest.Server {
	return dnstest.NewServer(t, dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		w.WriteMsg(new(dns.Msg).SetRcode(q, rcode))
	}))
}

// TestRefusalsTryNextUpstream checks that REFUSED, NOTAUTH and FORMERR
// from one upstream make the group ask the next, and that when every
// upstream refuses, the client gets an error with EDE 22 instead of the
// refusal (which would tell a stub that Hearth refuses it).
func TestRefusalsTryNextUpstream(t *testing.T) {
	live := dnstest.NewServer(t, testZone(t))
	for _, rcode := range []int{dns.RcodeRefused, dns.RcodeNotAuth, dns.RcodeFormatError} {
		bad := rcodeServer(t, rcode)
		bad2 := rcodeServer(t, rcode)
		for _, strategy := range []string{StrategyFailover, StrategyParallel} {
			t.Run(dns.RcodeToString[rcode]+"/"+strategy, func(t *testing.T) {
				g := newGroup(t, Config{Servers: []string{bad.Addr, live.Addr}, Strategy: strategy})
				exchange(t, g)

				only := newGroup(t, Config{Servers: []string{bad.Addr, bad2.Addr}, Strategy: strategy})
				m, err := only.Exchange(context.Background(), question("example.com.", dns.TypeA))
				if err == nil {
					t.Fatalf("Exchange = %s answer, want an error", dns.RcodeToString[m.Rcode])
				}
				var ee *dnsmsg.ExtendedError
				if !errors.As(err, &ee) || ee.Code != dnsmsg.EDENoReachableAuthority {
					t.Errorf("error %v, want EDE 22", err)
				}
			})
		}
	}
}

// TestHugeTTLsReadZero checks RFC 2181 section 8: a TTL with the top bit
// set means 0.
func TestHugeTTLsReadZero(t *testing.T) {
	tests := []struct {
		ttl  uint32
		want uint32
	}{
		{1<<32 - 1, 0},
		{1 << 31, 0},
		{1<<31 - 1, 1<<31 - 1},
		{300, 300},
	}
	for _, tc := range tests {
		up := dnstest.NewServer(t, dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
			m := new(dns.Msg).SetReply(q)
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: tc.ttl}, A: []byte{192, 0, 2, 1}}}
			w.WriteMsg(m)
		}))
		g := newGroup(t, Config{Servers: []string{up.Addr}})
		m, err := g.Exchange(context.Background(), question("example.com.", dns.TypeA))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Answer[0].Header().Ttl; got != tc.want {
			t.Errorf("TTL %d read as %d, want %d", tc.ttl, got, tc.want)
		}
	}
}

// TestRefusingUpstreamGoesLast checks that an upstream refusing every
// query is marked down like a dead one, so failover stops asking it first.
func TestRefusingUpstreamGoesLast(t *testing.T) {
	bad := rcodeServer(t, dns.RcodeRefused)
	live := dnstest.NewServer(t, testZone(t))
	g := newGroup(t, Config{Servers: []string{bad.Addr, live.Addr}, Strategy: StrategyFailover})
	for range 5 {
		exchange(t, g)
	}
	if n := bad.Queries(); n != downAfter {
		t.Errorf("refusing upstream saw %d queries, want %d (then down)", n, downAfter)
	}
	if n := live.Queries(); n != 5 {
		t.Errorf("live upstream saw %d queries, want 5", n)
	}
}
