package cycles_test

import (
	"fmt"
	"testing"

	"github.com/hearth-dns/hearth/internal/testutil/cycles"
)

// BenchmarkRandomRead is what one dependent read at a random place costs
// on this machine, by the size of the memory read (cycles.Walk), each
// read timed alone by the time-stamp counter like a lookup in
// BenchmarkScale. Below the cache's size a read is a hit, above it a
// miss, and past what the TLB and the caches' copies of the page tables
// cover, a page walk as well (docs/performance.md, "What one read costs
// here").
//
//	go test -run '^$' -bench BenchmarkRandomRead -benchtime 1x ./internal/testutil/cycles/
func BenchmarkRandomRead(b *testing.B) {
	for _, mb := range []int{1, 4, 16, 64, 256, 1024, 1536} {
		b.Run(fmt.Sprintf("MB=%d", mb), func(b *testing.B) {
			w := cycles.NewWalk(mb<<20, 7)
			// One pass first (up to 4 M reads), so that the pages are
			// mapped and the caches hold what they can.
			w.Step(min(w.Bytes()/64, 4<<20))
			cycles.BenchWalk(b, w)
		})
	}
}
