package policy

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// ipSnapshot lists single addresses and ranges under malware (list 0)
// and gambling (list 2), with one configured DNS64 prefix.
func ipSnapshot(t testing.TB) *Snapshot {
	t.Helper()
	s, err := NewSnapshot(Config{
		Tags:  []TagInfo{{ID: "malware"}, {ID: "phishing"}, {ID: "gambling"}},
		Lists: []ListInfo{{ID: "bad-ips", Tag: tagMalware}, {ID: "phish", Tag: tagPhishing}, {ID: "casino-ranges", Tag: tagGambling}},
		Profiles: []ProfileSpec{
			{Name: "kid", Block: TagSet{}.With(tagMalware).With(tagGambling)},
			{Name: "adult", Block: TagSet{}.With(tagMalware)},
		},
		DefaultProfile: "kid",
		IPs: []IPRule{
			{Addr: netip.MustParseAddr("192.0.2.66"), List: 0},
			{Prefix: netip.MustParsePrefix("198.51.100.0/24"), List: 2},
			{Prefix: netip.MustParsePrefix("198.51.100.128/25"), List: 0},
			{Prefix: netip.MustParsePrefix("2001:db8:bad::/48"), List: 2},
			{Prefix: netip.MustParsePrefix("203.0.113.7/32"), List: 0},
		},
		NAT64: []netip.Prefix{netip.MustParsePrefix("2001:db8:64::/96"), netip.MustParsePrefix("2001:db8:6464::/64"), netip.MustParsePrefix("2001:db8:32::/32")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDecideIP(t *testing.T) {
	s := ipSnapshot(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		profile, ip string
		want        string // Explain text contains this; "" means allowed
	}{
		{"kid", "192.0.2.66", "category=malware source=bad-ips rule=192.0.2.66"},
		{"kid", "::ffff:192.0.2.66", "source=bad-ips"},
		{"kid", "192.0.2.67", ""},
		{"kid", "198.51.100.1", "category=gambling source=casino-ranges"},
		{"adult", "198.51.100.1", ""},
		{"kid", "198.51.100.200", "category=malware source=bad-ips"}, // the more specific range
		{"adult", "198.51.100.200", "source=bad-ips"},
		{"kid", "198.51.101.1", ""},
		{"kid", "203.0.113.7", "source=bad-ips"}, // a /32 range is an address
		{"kid", "2001:db8:bad:ffff::1", "source=casino-ranges"},
		{"kid", "2001:db8:bae::1", ""},
		// DNS64: the well-known prefix and configured ones of every length.
		{"kid", "64:ff9b::c000:242", "source=bad-ips"},
		{"kid", "64:ff9b::c633:6401", "source=casino-ranges"},
		{"kid", "64:ff9b::c000:243", ""},
		{"kid", "2001:db8:64::c000:242", "source=bad-ips"},
		{"kid", "2001:db8:6464:0:c0:2:4200:0", "source=bad-ips"},
		{"kid", "2001:db8:c000:242::", "source=bad-ips"},
		{"kid", "2001:db8:65::c000:242", ""}, // not a DNS64 prefix
	}
	for _, tc := range tests {
		p, _ := s.Profile(tc.profile)
		ip := netip.MustParseAddr(tc.ip)
		d := s.DecideIP(p, now, ip)
		if (d.Action == Block) != (tc.want != "") {
			t.Errorf("%s %s: %s, want blocked %v", tc.profile, tc.ip, d.Action, tc.want != "")
			continue
		}
		if got := s.Explain(d, ip.String()); tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s %s: %q, want %q", tc.profile, tc.ip, got, tc.want)
		}
	}
}

func TestDecideIPAllocatesNothing(t *testing.T) {
	s := ipSnapshot(t)
	kid, _ := s.Profile("kid")
	now := time.Now()
	for _, a := range []string{"198.51.100.200", "203.0.113.99", "2001:db8:6464:0:c0:2:4200:0", "2001:db8::1"} {
		ip := netip.MustParseAddr(a)
		if n := testing.AllocsPerRun(100, func() { s.DecideIP(kid, now, ip) }); n != 0 {
			t.Errorf("DecideIP(%s) allocates %.0f times", a, n)
		}
	}
}

func TestNAT64PrefixErrors(t *testing.T) {
	for _, p := range []string{"2001:db8::/33", "2001:db8::/128", "10.0.0.0/8"} {
		_, err := NewSnapshot(Config{Profiles: []ProfileSpec{{Name: "a"}}, DefaultProfile: "a", NAT64: []netip.Prefix{netip.MustParsePrefix(p)}})
		if err == nil {
			t.Errorf("NAT64 prefix %s accepted", p)
		}
	}
}

func BenchmarkDecideIP(b *testing.B) {
	s := ipSnapshot(b)
	kid, _ := s.Profile("kid")
	now := time.Now()
	for _, a := range []string{"192.0.2.1", "2001:db8::1", "64:ff9b::c000:201"} {
		ip := netip.MustParseAddr(a)
		b.Run(a, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.DecideIP(kid, now, ip)
			}
		})
	}
}
