package access

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

func newLimiter(t testing.TB, c Config, clock *dnstest.Clock) *Limiter {
	t.Helper()
	c.Now = clock.Now
	l, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestBuckets checks each limit's burst, refill and keying against a fake
// clock.
func TestBuckets(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		name  string
		cfg   Config
		spend func(l *Limiter, i int) Verdict
		// passes is how many of 10 calls at one instant pass; after a
		// second, afterSecond more pass.
		passes, afterSecond int
	}{
		{"client burst", Config{QPS: 2, Burst: 4}, func(l *Limiter, i int) Verdict { return l.Query(a("10.0.0.1")) }, 4, 2},
		{"clients apart", Config{QPS: 1, Burst: 1}, func(l *Limiter, i int) Verdict { return l.Query(a("10.0.0.1").Next()) }, 1, 1},
		{"each client its own", Config{QPS: 1, Burst: 1}, func(l *Limiter, i int) Verdict {
			return l.Query(netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}))
		}, 10, 10},
		{"refused per /24", Config{RefusedQPS: 3}, func(l *Limiter, i int) Verdict {
			return l.Refused(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
		}, 3, 3},
		{"refused per /56", Config{RefusedQPS: 3}, func(l *Limiter, i int) Verdict {
			b := a("2001:db8:0:100::").As16()
			b[7] = byte(i) // inside the /56
			return l.Refused(netip.AddrFrom16(b))
		}, 3, 3},
		{"repeat ignores case", Config{RepeatQPS: 2}, func(l *Limiter, i int) Verdict {
			name := "Example.COM."
			if i%2 == 0 {
				name = "example.com."
			}
			return l.Repeat(a("10.0.0.1"), name, dns.TypeA)
		}, 2, 2},
		{"repeat per type", Config{RepeatQPS: 2}, func(l *Limiter, i int) Verdict {
			return l.Repeat(a("10.0.0.1"), "example.com.", uint16(i+1))
		}, 10, 10},
		{"exempt forwarder", Config{QPS: 1, Burst: 1, Exempt: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}, func(l *Limiter, i int) Verdict {
			return l.Query(a("10.0.0.1"))
		}, 10, 10},
		{"off", Config{}, func(l *Limiter, i int) Verdict { return l.Query(a("10.0.0.1")) }, 10, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := dnstest.NewClock(time.Unix(1_800_000_000, 0))
			l := newLimiter(t, tc.cfg, clock)
			count := func() int {
				n := 0
				for i := range 10 {
					if tc.spend(l, i) == Pass {
						n++
					}
				}
				return n
			}
			if got := count(); got != tc.passes {
				t.Fatalf("%d of 10 passed, want %d", got, tc.passes)
			}
			clock.Advance(time.Second)
			if got := count(); got != tc.afterSecond {
				t.Fatalf("after a second %d of 10 passed, want %d", got, tc.afterSecond)
			}
		})
	}
}

// TestSlipEveryNth checks that of the queries over a limit every Slip-th
// slips and the rest are dropped.
func TestSlipEveryNth(t *testing.T) {
	l := newLimiter(t, Config{RefusedQPS: 1, QPS: 1, Burst: 1, Slip: 3}, dnstest.NewClock(time.Unix(1_800_000_000, 0)))
	src := netip.MustParseAddr("10.0.0.1")
	l.Refused(src)
	var got []Verdict
	for range 6 {
		got = append(got, l.Refused(src))
	}
	// A client over its own query rate never slips.
	l.Query(src)
	if v := l.Query(src); v != Drop {
		t.Errorf("client over its rate: %v, want Drop", v)
	}
	want := []Verdict{Drop, Drop, Slip, Drop, Drop, Slip}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("verdicts %v, want %v", got, want)
		}
	}
	if l.Limited.Load() != 7 || l.Slipped.Load() != 2 {
		t.Errorf("counters %d limited, %d slipped", l.Limited.Load(), l.Slipped.Load())
	}
}

// TestTableIsBounded floods the table with a million sources and checks
// that its memory does not grow and that a client that keeps asking is
// still limited (sharing its slot with strangers only forgives it).
func TestTableIsBounded(t *testing.T) {
	l := newLimiter(t, Config{QPS: 1, Burst: 1, TableSize: 1024}, dnstest.NewClock(time.Unix(1_800_000_000, 0)))
	before := len(l.clients.shards[0].slots)
	for i := range 1_000_000 {
		l.Query(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if after := len(l.clients.shards[0].slots); after != before || before*shards != 1024 {
		t.Fatalf("table has %d slots a shard after the flood, %d before", after, before)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default", DefaultConfig(), true},
		{"off", Config{}, true},
		{"no burst", Config{QPS: 10}, false},
		{"negative", Config{RefusedQPS: -1}, false},
		{"huge table", Config{TableSize: 1 << 30}, false},
	}
	for _, tc := range tests {
		if _, err := New(tc.cfg); (err == nil) != tc.ok {
			t.Errorf("%s: New error %v", tc.name, err)
		}
	}
}

type nopWriter struct{ n int }

func (w *nopWriter) WriteMsg(*dns.Msg) error { w.n++; return nil }
func (w *nopWriter) WriteWire([]byte) error  { w.n++; return nil }

// TestAllowedPathAllocatesNothing guards the hot path: an allowed UDP
// query through the Access step allocates nothing.
func TestAllowedPathAllocatesNothing(t *testing.T) {
	l := newLimiter(t, DefaultConfig(), dnstest.NewClock(time.Unix(1_800_000_000, 0)))
	h := l.Middleware()(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error { return nil }))
	req := &pipeline.Request{Msg: new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA), Transport: pipeline.UDP, Client: netip.MustParseAddrPort("192.168.1.20:5353")}
	ctx := context.Background()
	w := &nopWriter{}
	allocs := testing.AllocsPerRun(100, func() {
		req.Msg.Question[0].Qtype++ // a new question each run: never over the repeat limit
		if err := h.ServeDNS(ctx, w, req); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per allowed query, want 0", allocs)
	}
}

// BenchmarkAllowed measures the Access step on an allowed UDP query.
func BenchmarkAllowed(b *testing.B) {
	l, _ := New(DefaultConfig())
	h := l.Middleware()(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error { return nil }))
	req := &pipeline.Request{Msg: new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA), Transport: pipeline.UDP}
	ctx := context.Background()
	w := &nopWriter{}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		// Many clients, so that neither limit is reached.
		req.Client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 53)
		req.Msg.Question[0].Qtype = uint16(i)
		h.ServeDNS(ctx, w, req)
	}
}
