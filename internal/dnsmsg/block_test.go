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
