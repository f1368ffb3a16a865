package shardmap

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			i, cpu := 0, threadCPU()
			for b.Loop() {
				if _, ok := m.Get(order[i&(len(order)-1)]); !ok {
					b.Fatal("missing")
				}
				i++
			}
			// Wall time on a shared machine counts the waits for a CPU.
			b.ReportMetric(float64(threadCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// threadCPU is the CPU time of the calling thread (lock it first).
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
