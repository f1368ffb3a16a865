package app

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// discardWriter drops answers without allocating.
type discardWriter struct{ n int }

func (d *discardWriter) WriteMsg(m *dns.Msg) error { d.n++; return nil }
func (d *discardWriter) WriteWire(b []byte) error  { d.n++; return nil }

// BenchmarkPipelineHit measures the whole chain (identity, policy, local,
// cache) for a cached, allowed answer: the work a cache hit costs beyond
// the listener's unpacking and the socket.
func BenchmarkPipelineHit(b *testing.B) {
	up := dnstest.NewServer(b, dnstest.Zone(b, upstreamRecords...))
	cfg := parseBenchConfig(b, up.Addr)
	a, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Shutdown(context.Background())
	h := a.built.handler
	q := new(dns.Msg).SetQuestion("example.com.", dns.TypeA)
	q.SetEdns0(1232, false)
	req := &pipeline.Request{Msg: q, Transport: pipeline.UDP, Client: netip.MustParseAddrPort("127.0.0.2:5353"), EDNS: true, MaxSize: 1232, Received: time.Now()}
	w := &discardWriter{}
	if err := h.ServeDNS(context.Background(), w, req); err != nil { // fill the cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := *req
		h.ServeDNS(context.Background(), w, &r)
	}
}

func parseBenchConfig(b *testing.B, upstream string) *config.Config {
	cfg, err := config.Parse("bench.yaml", []byte("listen: {dns: [\"127.0.0.1:0\"], http: \"\"}\nupstream: {servers: [\""+upstream+"\"], strategy: failover}\ndata_dir: "+b.TempDir()+"\n"))
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}
