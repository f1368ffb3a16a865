package cache

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"unsafe"

	"github.com/miekg/dns"
)

// BenchmarkEntryMemory fills a cache of 32 MiB with more distinct answers
// than it holds (one A record each, the common case) and reports, per
// answer held, the live heap (runtime.ReadMemStats after a GC before and
// after the fill: heapB/entry) and what the cache's own accounting
// charges against MaxBytes (costB/entry). The accounting must not
// undercount: a client filling the cache would otherwise grow it past
// MaxBytes.
func BenchmarkEntryMemory(b *testing.B) {
	const (
		n        = 300_000
		maxBytes = 32 << 20
	)
	up := oneAddress()
	reqs := make([]query, n)
	for i := range reqs {
		reqs[i] = query{name: fmt.Sprintf("host%d.example%d.test.", i, i%1000), qtype: dns.TypeA, edns: true}
	}
	var heap, cost float64
	var held int
	for b.Loop() {
		before := liveHeap() // with -benchtime 1x: no earlier cache's workers hold it
		c, err := New(Config{Size: 2 * n, MaxBytes: maxBytes}, up)
		if err != nil {
			b.Fatal(err)
		}
		for _, q := range reqs {
			if err := c.ServeDNS(context.Background(), &nopWriter{}, q.req()); err != nil {
				b.Fatal(err)
			}
		}
		after := liveHeap()
		held = c.Len()
		if c.Stats().Evictions == 0 {
			b.Fatalf("cache of %d entries not full", held)
		}
		heap = (float64(after) - float64(before)) / float64(held)
		cost = float64(c.Bytes()) / float64(held)
		if cost < heap {
			b.Errorf("the cache charges %.0f B per entry but each holds %.0f B of heap", cost, heap)
		}
		if c.Bytes() > maxBytes {
			b.Errorf("the cache holds %d bytes, over %d", c.Bytes(), maxBytes)
		}
		runtime.KeepAlive(c)
		c.Shutdown(context.Background())
	}
	b.ReportMetric(heap, "heapB/entry")
	b.ReportMetric(cost, "costB/entry")
	b.ReportMetric(float64(held), "entries")
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestEntriesAreNotScanned fills a cache and checks that its entries add
// almost nothing to the heap the garbage collector must scan: no pointer
// per entry. When each answer was a struct pointing at its key, answer
// and TTL offsets, in a map keyed by strings, a full cache made every
// collection scan 170 bytes per answer, and near the memory limit
// the misses waited in mark assists: miss throughput halved (issue #14).
func TestEntriesAreNotScanned(t *testing.T) {
	const n = 20_000
	c, err := New(Config{Size: 4 * n, MaxBytes: 1 << 30}, oneAddress())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	fill := func(from, to int) uint64 {
		for i := from; i < to; i++ {
			q := query{name: fmt.Sprintf("host%d.example.test.", i), qtype: dns.TypeA, edns: true}
			if err := c.ServeDNS(context.Background(), &nopWriter{}, q.req()); err != nil {
				t.Fatal(err)
			}
		}
		return scannableHeap()
	}
	// The first n entries: the shards' first segments and maps, the
	// flights' small maps. The next n add what grows with the entries.
	mid := fill(0, n)
	after := fill(n, 2*n)
	if got := c.Len(); got != 2*n {
		t.Fatalf("cache holds %d entries, want %d", got, 2*n)
	}
	// The segments and the map hold no pointers; a pointer per entry
	// would add 8 bytes.
	per := float64(int64(after)-int64(mid)) / n
	t.Logf("%.2f bytes to scan per cached answer", per)
	if per > 1 {
		t.Errorf("each cached answer adds %.1f bytes of heap to scan at every GC, want at most 1", per)
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

// BenchmarkMissFullCache measures misses with the cache full and the heap
// near its limit, as `memory_limit: auto` sets it for a server whose
// memory is mostly the cache (64 MiB + MaxBytes, GOGC 50: what auto set
// when its figures were recorded; auto sets 25 since 2026-12-07): where the
// collector marking one object per cached answer made misses collapse
// (issue #14). It reports the collector's CPU per miss (gc-ns/op, from
// runtime/metrics: background marking, assists, pauses) beside ns/op.
func BenchmarkMissFullCache(b *testing.B) {
	const maxBytes = 128 << 20
	c, err := New(Config{Size: 1 << 24, MaxBytes: maxBytes}, oneAddress())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	defer debug.SetGCPercent(debug.SetGCPercent(50))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(64<<20 + maxBytes))
	w := &nopWriter{}
	ask := func(i int) {
		r := query{name: fmt.Sprintf("u%09d.miss.test.", i), qtype: dns.TypeA, edns: true}.req()
		if err := c.ServeDNS(context.Background(), w, r); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for c.Stats().Evictions == 0 { // fill
		ask(i)
		i++
	}
	gc := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(gc)
	before := gc[0].Value.Float64()
	b.ResetTimer()
	for range b.N {
		ask(i)
		i++
	}
	b.StopTimer()
	metrics.Read(gc)
	b.ReportMetric((gc[0].Value.Float64()-before)*1e9/float64(b.N), "gc-ns/op")
	b.ReportMetric(float64(c.Len()), "entries")
}
