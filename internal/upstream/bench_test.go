package upstream

import (
	"context"
	"testing"

	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
	"github.com/miekg/dns"
)

func benchmarkExchange(b *testing.B, c Config) {
	g := newGroup(b, c)
	q := question("example.com.", dns.TypeA)
	q.SetEdns0(4096, true)
	ctx := context.Background()
	exchange(b, g) // dial and handshake outside the loop
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := g.Exchange(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExchangeUDP(b *testing.B) {
	s := dnstest.NewServer(b, testZone(b))
	benchmarkExchange(b, Config{Servers: []string{s.Addr}})
}

func BenchmarkExchangeUDPParallelStrategy(b *testing.B) {
	s1 := dnstest.NewServer(b, testZone(b))
	s2 := dnstest.NewServer(b, testZone(b))
	benchmarkExchange(b, Config{Servers: []string{s1.Addr, s2.Addr}})
}

func BenchmarkExchangeDoT(b *testing.B) {
	env := newTLSEnv(b)
	dot := startDoT(b, env.cert, testZone(b))
	benchmarkExchange(b, Config{Servers: []string{"tls://" + dot.Addr}, TLS: env.client})
}

func BenchmarkExchangeDoH(b *testing.B) {
	env := newTLSEnv(b)
	doh := startDoH(b, env.cert, testZone(b))
	benchmarkExchange(b, Config{Servers: []string{"https://" + doh.Listener.Addr().String()}, TLS: env.client})
}
