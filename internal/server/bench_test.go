package server

import (
	"context"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/pipeline"
)

type discard struct{}

func (discard) send([]byte) error { return nil }

// wireAnswerer answers every query with the same packed answer, as a
// cache hit does.
func wireAnswerer(t testing.TB) pipeline.Handler {
	answer := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
	answer.Response = true
	rr, err := dns.NewRR("www.example.com. 60 IN A 192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	answer.Answer = []dns.RR{rr}
	wire := pack(t, answer)
	return pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
		return w.WriteWire(wire)
	})
}

// ednsQuery is a packed query with an EDNS record without options.
func ednsQuery(t testing.TB) []byte {
	q := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
	q.SetEdns0(1232, false)
	return pack(t, q)
}

// BenchmarkHandle measures the server's own per-query work: header check,
// unpack, access, request building and a wire answer, without sockets.
// Sub-benchmark "reused" keeps the query state, as UDP's pooled packets do.
func BenchmarkHandle(b *testing.B) {
	s := newTestServer(b, wireAnswerer(b))
	raw := ednsQuery(b)
	m := meta{transport: pipeline.UDP, client: netip.MustParseAddrPort("127.0.0.1:5353")}
	buf := make([]byte, 0, 2048)
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.handle(raw, m, discard{}, buf, false)
		}
	})
	b.Run("reused", func(b *testing.B) {
		qs := new(queryState)
		b.ReportAllocs()
		for b.Loop() {
			s.handleWith(qs, raw, m, discard{}, buf, true)
		}
	})
}

// TestHandleAllocations guards the UDP path's allocations per query: with
// the query state reused, unpacking a common query allocates its name and
// nothing else (dnsmsg.UnpackQuery).
func TestHandleAllocations(t *testing.T) {
	s := newTestServer(t, wireAnswerer(t))
	raw := ednsQuery(t)
	m := meta{transport: pipeline.UDP, client: netip.MustParseAddrPort("127.0.0.1:5353")}
	buf := make([]byte, 0, 2048)
	qs := new(queryState)
	allocs := testing.AllocsPerRun(200, func() {
		if got := s.handleWith(qs, raw, m, discard{}, buf, true); got != answered {
			t.Fatalf("outcome %d, want answered", got)
		}
	})
	if allocs > 1 {
		t.Errorf("%.0f allocations per query, want at most 1 (the name)", allocs)
	}
}
