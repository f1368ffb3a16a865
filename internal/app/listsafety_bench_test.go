package app

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// BenchmarkPipelineHitIPRules is BenchmarkPipelineHit with response-IP
// rules in force (single addresses and CIDR ranges, as the bypass and
// malware IP lists bring), for an allowed A, DNS64 AAAA and HTTPS answer
// with hints: what checking answer addresses costs a cache hit.
func BenchmarkPipelineHitIPRules(b *testing.B) {
	up := dnstest.NewServer(b, dnstest.Zone(b,
		"example.com. 300 IN A 192.0.2.1",
		"v6.example.com. 300 IN AAAA 64:ff9b::c000:201",
		`svc.example.com. 300 IN HTTPS 1 . alpn="h2" ipv4hint="192.0.2.1,192.0.2.2" ipv6hint="2001:db8::1"`,
	))
	dir := b.TempDir()
	ips := filepath.Join(dir, "ips.txt")
	var list []byte
	for i := range 2000 {
		list = fmt.Appendf(list, "198.%d.%d.%d\n", 18+i/65536%2, i/256%256, i%256)
	}
	list = append(list, "203.0.113.0/24\n100.64.0.0/10\n2001:db8:bad::/48\n"...)
	if err := os.WriteFile(ips, list, 0o644); err != nil {
		b.Fatal(err)
	}
	doc := fmt.Sprintf("listen: {dns: [\"127.0.0.1:0\"], http: \"\"}\nupstream: {servers: [%q], strategy: failover}\ndata_dir: %s\ndefault_profile: kid\nsources:\n  - {tag: malware, file: %q, format: ip-list}\n", up.Addr, dir, ips)
	cfg, err := config.Parse("bench.yaml", []byte(doc))
	if err != nil {
		b.Fatal(err)
	}
	a, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Shutdown(context.Background())
	h := a.built.handler
	for _, c := range []struct {
		name  string
		qtype uint16
	}{{"example.com.", dns.TypeA}, {"v6.example.com.", dns.TypeAAAA}, {"svc.example.com.", dns.TypeHTTPS}} {
		b.Run(dns.TypeToString[c.qtype], func(b *testing.B) {
			q := new(dns.Msg).SetQuestion(c.name, c.qtype)
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
		})
	}
}
