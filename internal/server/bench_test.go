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

// BenchmarkHandle measures the server's own per-query work: header check,
// unpack, access, request building and a wire answer, without sockets.
func BenchmarkHandle(b *testing.B) {
	answer := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
	answer.Response = true
	rr, _ := dns.NewRR("www.example.com. 60 IN A 192.0.2.1")
	answer.Answer = []dns.RR{rr}
	wire, _ := answer.Pack()
	h := pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
		return w.WriteWire(wire)
	})
	s := newTestServer(b, h)
	q := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
	q.SetEdns0(1232, false)
	raw, _ := q.Pack()
	m := meta{transport: pipeline.UDP, client: netip.MustParseAddrPort("127.0.0.1:5353")}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		s.handle(raw, m, discard{}, buf, false)
	}
}
