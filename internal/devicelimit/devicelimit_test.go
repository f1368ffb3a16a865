package devicelimit

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestAdmit(t *testing.T) {
	type step struct {
		advance time.Duration
		addr    string
		want    bool
	}
	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{
			name: "outside the LAN never",
			cfg:  Config{Networks: prefixes("192.168.1.0/24")},
			steps: []step{
				{0, "192.168.2.7", false}, {0, "8.8.8.8", false}, {0, "::ffff:8.8.8.8", false},
				{0, "192.168.1.7", true}, {0, "::ffff:192.168.1.8", true},
			},
		},
		{
			name: "one per source per window",
			cfg:  Config{Networks: prefixes("10.0.0.0/8"), PerSource: 1, Window: time.Hour},
			steps: []step{
				{0, "10.0.0.1", true}, {0, "10.0.0.1", false}, {59 * time.Minute, "10.0.0.1", false},
				{0, "10.0.0.2", true}, {time.Minute, "10.0.0.1", true}, {0, "10.0.0.1", false},
			},
		},
		{
			name: "IPv6 counted per /64",
			cfg:  Config{Networks: prefixes("fd00::/8"), PerSource: 2, Window: time.Hour},
			steps: []step{
				{0, "fd00:1:2:3::1", true}, {0, "fd00:1:2:3::2", true}, {0, "fd00:1:2:3:ffff::9", false},
				{0, "fd00:1:2:4::1", true}, {30 * time.Minute, "fd00:1:2:3::77", true}, {0, "fd00:1:2:3::78", false},
			},
		},
		{
			name: "bounded table fails closed while full",
			cfg:  Config{Networks: prefixes("10.0.0.0/8"), PerSource: 1, Window: time.Hour, MaxSources: 2},
			steps: []step{
				{0, "10.0.0.1", true}, {0, "10.0.0.2", true}, {0, "10.0.0.3", false},
				{time.Hour, "10.0.0.3", true}, {0, "10.0.0.4", true}, {0, "10.0.0.5", false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)}
			tt.cfg.Now = c.now
			l, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				c.t = c.t.Add(s.advance)
				if got := l.Admit(netip.MustParseAddr(s.addr)); got != s.want {
					t.Errorf("step %d: Admit(%s) = %v, want %v", i, s.addr, got, s.want)
				}
			}
			if n := l.Sources(); n > max(tt.cfg.MaxSources, 4096) {
				t.Errorf("%d sources tracked", n)
			}
		})
	}
}

// TestAdmitMemoryBounded: a flood of distinct sources never grows the
// table past MaxSources.
func TestAdmitMemoryBounded(t *testing.T) {
	c := &clock{time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)}
	l, err := New(Config{Networks: prefixes("10.0.0.0/8"), MaxSources: 100, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	admitted := 0
	for i := range 10000 {
		c.t = c.t.Add(time.Second)
		if l.Admit(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})) {
			admitted++
		}
		if n := l.Sources(); n > 100 {
			t.Fatalf("after %d sources the table holds %d", i+1, n)
		}
	}
	if admitted == 0 || admitted == 10000 {
		t.Errorf("%d of 10000 admitted: the bound should refuse some and recover for others", admitted)
	}
}

func TestInLANAllocs(t *testing.T) {
	l, _ := New(Config{Networks: prefixes("10.0.0.0/8", "192.168.0.0/16", "fd00::/8")})
	a := netip.MustParseAddr("8.8.8.8")
	if n := testing.AllocsPerRun(100, func() { l.InLAN(a) }); n != 0 {
		t.Errorf("InLAN allocates %.0f times", n)
	}
}

func TestEvict(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	devs := []Unclaimed{{"c", t0.Add(2 * time.Hour)}, {"a", t0}, {"b", t0}, {"d", t0.Add(time.Hour)}}
	tests := []struct {
		max  int
		want []string
	}{
		{0, nil}, {5, nil}, {4, []string{"a"}}, {3, []string{"a", "b"}}, {1, []string{"a", "b", "d", "c"}},
	}
	for _, tt := range tests {
		if got := Evict(devs, tt.max); !slices.Equal(got, tt.want) {
			t.Errorf("Evict(max %d) = %v, want %v", tt.max, got, tt.want)
		}
	}
}

func TestDefaultNetworks(t *testing.T) {
	tests := []struct {
		allow []string
		want  string
	}{
		{[]string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fe80::/10"},
			"[10.0.0.0/8 100.64.0.0/10 127.0.0.0/8 172.16.0.0/12 192.168.0.0/16 ::1/128 fc00::/7 fe80::/10]"},
		{[]string{"192.168.1.0/24", "203.0.113.0/24"}, "[192.168.1.0/24]"},
		{[]string{"0.0.0.0/0"}, "[10.0.0.0/8 100.64.0.0/10 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12 192.168.0.0/16]"},
		{[]string{"8.8.8.8/32", "2001:db8::/32"}, "[]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(DefaultNetworks(prefixes(tt.allow...))); got != tt.want {
			t.Errorf("DefaultNetworks(%v) = %s, want %s", tt.allow, got, tt.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, c := range []Config{{}, {Networks: []netip.Prefix{{}}}, {Networks: prefixes("10.0.0.0/8"), PerSource: -1}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
}
