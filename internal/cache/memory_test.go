package cache

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"runtime/metrics"
	"testing"
	"unsafe"

	"github.com/miekg/dns"
)

// BenchmarkEntryMemory fills a cache with n distinct answers (one A record
// each, the common case) and reports the live heap each entry holds,
// measured with runtime.ReadMemStats after a GC before and after the fill
// (heapB/entry), beside what the cache's own accounting charges per entry
// against MaxBytes (costB/entry). The accounting must not undercount: a
// client filling the cache would otherwise grow it past MaxBytes.
func BenchmarkEntryMemory(b *testing.B) {
	const n = 100_000
	up := oneAddress()
	reqs := make([]query, n)
	for i := range reqs {
		reqs[i] = query{name: fmt.Sprintf("host%d.example%d.test.", i, i%1000), qtype: dns.TypeA, edns: true}
	}
	var heap, cost float64
	for b.Loop() {
		c, err := New(Config{Size: 2 * n, MaxBytes: 1 << 30}, up)
		if err != nil {
			b.Fatal(err)
		}
		before := liveHeap()
		for _, q := range reqs {
			if err := c.ServeDNS(context.Background(), &nopWriter{}, q.req()); err != nil {
				b.Fatal(err)
			}
		}
		after := liveHeap()
		if got := c.Len(); got != n {
			b.Fatalf("cache holds %d entries, want %d", got, n)
		}
		heap = float64(after-before) / n
		cost = float64(c.Bytes()) / n
		if cost < heap {
			b.Errorf("the cache charges %.0f B per entry but each holds %.0f B of heap", cost, heap)
		}
		runtime.KeepAlive(c)
		c.Shutdown(context.Background())
	}
	b.ReportMetric(heap, "heapB/entry")
	b.ReportMetric(cost, "costB/entry")
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestEntriesAreNotScanned fills a cache and checks that its entries add
// almost nothing to the heap the garbage collector must scan: one ring
// pointer each. When each answer was a struct pointing at its key, answer
// and TTL offsets, in a map keyed by strings, a full cache made every
// collection scan 170 bytes per answer, and near the memory limit
// the misses waited in mark assists: miss throughput halved (issue #14).
func TestEntriesAreNotScanned(t *testing.T) {
	const n = 10_000
	c, err := New(Config{Size: 2 * n, MaxBytes: 1 << 30}, oneAddress())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	before := scannableHeap()
	for i := range n {
		q := query{name: fmt.Sprintf("host%d.example.test.", i), qtype: dns.TypeA, edns: true}
		if err := c.ServeDNS(context.Background(), &nopWriter{}, q.req()); err != nil {
			t.Fatal(err)
		}
	}
	after := scannableHeap()
	if got := c.Len(); got != n {
		t.Fatalf("cache holds %d entries, want %d", got, n)
	}
	// The ring's 8 bytes per entry, its growth and the flights' small
	// maps; a pointer per entry more would exceed it.
	if per := float64(int64(after)-int64(before)) / n; per > 24 {
		t.Errorf("each cached answer adds %.1f bytes of heap to scan at every GC, want at most 24", per)
	}
	runtime.KeepAlive(c)
}

// scannableHeap returns the heap the collector scans, after a collection.
func scannableHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// oneAddress is an upstream that answers every A query with one address.
func oneAddress() *fakeUpstream {
	return &fakeUpstream{reply: func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(q)
		m.RecursionAvailable = true
		m.Answer = []dns.RR{&dns.A{
			Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
			A:   net.IPv4(192, 0, 2, 1).To4(),
		}}
		return m
	}}
}

// TestEntrySize keeps the entry header at 40 bytes: every cached answer
// pays for it.
func TestEntrySize(t *testing.T) {
	if got := unsafe.Sizeof(entry{}); got > 40 || got%8 != 0 {
		t.Errorf("entry header is %d bytes, want at most 40 and a multiple of 8", got)
	}
}
