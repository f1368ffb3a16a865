package shardmap

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/hearth-dns/hearth/internal/testutil/cycles"
)

// BenchmarkGetLarge looks up random keys of a table far larger than the
// CPU caches, as a node at a million households does: the cost is the
// cache misses of one lookup.
func BenchmarkGetLarge(b *testing.B) {
	for _, n := range []int{1 << 20} {
		keys := make([]string, n)
		m := New[string, string](n)
		e := m.Edit()
		for i := range keys {
			keys[i] = fmt.Sprintf("h%07d", i)
			e.Put(keys[i], keys[i])
		}
		m = e.Map()
		r := rand.New(rand.NewPCG(1, 2))
		order := make([]string, 1<<16)
		for i := range order {
			// A copy, so that comparing keys reads the table's bytes.
			order[i] = string([]byte(keys[r.IntN(n)]))
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			timeGets(b, func(i int) bool {
				_, ok := m.Get(order[i&(len(order)-1)])
				return ok
			})
		})
	}
}

// BenchmarkGetAddr looks up random 16-byte keys (an address table's)
// among 4 M, the size of a node's address table at a million households:
// 32,768 shards, whose directory a lookup reads at a random place
// before the shard's slots.
func BenchmarkGetAddr(b *testing.B) {
	const n = 1 << 22
	key := func(i int) (k [16]byte) {
		binary.BigEndian.PutUint64(k[8:], uint64(i)*0x9e3779b97f4a7c15)
		return k
	}
	m := New[[16]byte, uint64](n)
	e := m.Edit()
	for i := range n {
		e.Put(key(i), uint64(i))
	}
	m = e.Map()
	r := rand.New(rand.NewPCG(1, 2))
	order := make([][16]byte, 1<<16)
	for i := range order {
		order[i] = key(r.IntN(n))
	}
	timeGets(b, func(i int) bool {
		_, ok := m.Get(order[i&(len(order)-1)])
		return ok
	})
	b.ReportMetric(float64(m.Shards()), "shards")
}

// timeGets runs get(0), get(1), ... for b.N and reports the thread's CPU
// time per call: wall time on a shared machine counts the waits for a
// CPU. get reports whether the key was found.
func timeGets(b *testing.B, get func(i int) bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	i, cpu := 0, cycles.ThreadCPU()
	for b.Loop() {
		if !get(i) {
			b.Fatal("missing")
		}
		i++
	}
	b.ReportMetric(float64(cycles.ThreadCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkEditOne makes the next Map after one Put in a table of ISP
// size (4 M entries in 32,768 shards), as applying
// one change does for each table it touches: B/op is what the edit copies
// (and the collector then scans and frees).
func BenchmarkEditOne(b *testing.B) {
	const n = 1 << 22
	m := New[uint64, uint64](n)
	e := m.Edit()
	for i := range uint64(n) {
		e.Put(i, i)
	}
	m = e.Map()
	r := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		e := m.Edit()
		k := r.Uint64N(n)
		e.Put(k, k+1)
		if next := e.Map(); next.Len() != n {
			b.Fatalf("%d entries after replacing one of %d", next.Len(), n)
		}
	}
}
