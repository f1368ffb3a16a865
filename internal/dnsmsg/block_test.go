package dnsmsg

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// TestAppendBlockedMatchesBlocked checks that the hand-packed blocked
// answer says exactly what the dns.Msg-built one says.
func TestAppendBlockedMatchesBlocked(t *testing.T) {
	modes := []Blocking{
		{Mode: BlockNull, TTL: 10},
		{Mode: BlockNXDomain, TTL: 30},
		{Mode: BlockAddress, IPv4: netip.MustParseAddr("192.168.1.2"), TTL: 10},
		{Mode: BlockAddress, IPv6: netip.MustParseAddr("fd00::2"), TTL: 10},
	}
	for _, b := range modes {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeHTTPS} {
			for _, edns := range []bool{false, true} {
				q := new(dns.Msg).SetQuestion("Www.Bet365.com.", qtype)
				q.Id = 4242
				q.CheckingDisabled = true
				if edns {
					q.SetEdns0(4096, true)
				}
				want := b.Blocked(q, "blocked: category=gambling")
				wire, ok := b.AppendBlocked(nil, q, edns, edns, []byte("blocked: category=gambling"))
				if !ok {
					t.Fatal("AppendBlocked failed")
				}
				got := new(dns.Msg)
				if err := got.Unpack(wire); err != nil {
					t.Fatalf("mode %d %s edns %v: unpack: %v", b.Mode, dns.TypeToString[qtype], edns, err)
				}
				want.Compress = false
				if got.String() != want.String() {
					t.Errorf("mode %d %s edns %v:\ngot  %s\nwant %s", b.Mode, dns.TypeToString[qtype], edns, got, want)
				}
			}
		}
	}
}

func TestAppendBlockedAllocatesNothing(t *testing.T) {
	b := Blocking{TTL: 10}
	q := new(dns.Msg).SetQuestion("www.bet365.com.", dns.TypeA)
	buf := make([]byte, 0, 512)
	text := []byte("blocked: category=gambling")
	if n := testing.AllocsPerRun(100, func() { b.AppendBlocked(buf[:0], q, true, false, text) }); n != 0 {
		t.Errorf("AppendBlocked allocates %.0f times", n)
	}
}

func TestClampTTLs(t *testing.T) {
	m := new(dns.Msg).SetQuestion("a.example.", dns.TypeA)
	for _, s := range []string{"a.example. 300 IN CNAME b.example.", "b.example. 20 IN A 192.0.2.1"} {
		rr, _ := dns.NewRR(s)
		m.Answer = append(m.Answer, rr)
	}
	soa, _ := dns.NewRR("example. 3600 IN SOA ns. h. 1 2 3 4 5")
	m.Ns = []dns.RR{soa}
	m.SetEdns0(1232, true)
	wire, _ := m.Pack()
	if !ClampTTLs(wire, 60) {
		t.Fatal("ClampTTLs failed")
	}
	got := new(dns.Msg)
	if err := got.Unpack(wire); err != nil {
		t.Fatal(err)
	}
	for i, want := range []uint32{60, 20} {
		if ttl := got.Answer[i].Header().Ttl; ttl != want {
			t.Errorf("answer %d TTL %d, want %d", i, ttl, want)
		}
	}
	if got.Ns[0].Header().Ttl != 60 || !got.IsEdns0().Do() {
		t.Errorf("authority TTL %d, DO %v", got.Ns[0].Header().Ttl, got.IsEdns0().Do())
	}
	if ClampTTLs(wire[:20], 1) {
		t.Error("truncated message walked")
	}
	if n := testing.AllocsPerRun(100, func() { ClampTTLs(wire, 30) }); n != 0 {
		t.Errorf("ClampTTLs allocates %.0f times", n)
	}
}
