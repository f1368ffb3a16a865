package cycles_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/hearth-dns/hearth/internal/testutil/cycles"
)

// BenchmarkRandomRead is what one dependent read at a random place costs
// on this machine, by the size of the memory read: a walk through 64-byte
// lines in random order (one cycle of a permutation), each read timed
// alone by the time-stamp counter like a lookup in BenchmarkScale. It
// tells a lookup's cache and TLB misses apart from its work: below the
// cache's size a read is a hit, above it a miss, and past what the TLB
// and the caches' copies of the page tables cover, a page walk as well
// (docs/performance.md, "What one read costs").
//
//	go test -run '^$' -bench BenchmarkRandomRead -benchtime 1x ./internal/testutil/cycles/
func BenchmarkRandomRead(b *testing.B) {
	for _, mb := range []int{1, 4, 16, 64, 256, 1024, 1536} {
		b.Run(fmt.Sprintf("MB=%d", mb), func(b *testing.B) {
			type line struct {
				next uint32
				_    [60]byte
			}
			lines := mb << 20 / 64
			a := make([]line, lines)
			perm := rand.New(rand.NewPCG(7, 8)).Perm(lines)
			for i, p := range perm {
				a[p].next = uint32(perm[(i+1)%lines])
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			// One pass first (up to 4 M reads), so that the array's
			// pages are mapped and the caches hold what they can.
			p := uint32(perm[0])
			warm := min(lines, 4<<20)
			for range warm {
				p = a[p].next
			}
			const steps = 1 << 20
			ticks := make([]uint64, steps)
			var clock cycles.Clock
			b.ResetTimer()
			clock.Start()
			for b.Loop() {
				for i := range ticks {
					t := cycles.Ticks()
					p = a[p].next
					ticks[i] = cycles.Ticks() - t
				}
			}
			b.StopTimer()
			clock.Stop()
			// The walk follows the permutation's one cycle.
			if want := uint32(perm[(warm+b.N*steps)%lines]); p != want {
				b.Fatalf("after %d reads at line %d, want %d", warm+b.N*steps, p, want)
			}
			slices.Sort(ticks)
			b.ReportMetric(clock.Nanoseconds(ticks[steps/2]), "p50-ns")
			b.ReportMetric(clock.Nanoseconds(ticks[steps*99/100]), "p99-ns")
		})
	}
}
