package cycles

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// Walk is a cycle through 64-byte lines of memory in random order: each
// step is one dependent read at a random place, the reference that tells
// a lookup's cache and TLB misses from its work (docs/performance.md,
// "What one read costs here").
type Walk struct {
	lines []walkLine
	perm  []int
	at    uint32
	steps int
}

type walkLine struct {
	next uint32
	_    [60]byte
}

// NewWalk returns a walk through bytes of memory (at least 1,024 lines),
// in the order of a random permutation seeded by seed.
func NewWalk(bytes int, seed uint64) *Walk {
	n := max(1<<10, bytes/64)
	w := &Walk{lines: make([]walkLine, n), perm: rand.New(rand.NewPCG(seed, seed+1)).Perm(n)}
	for i, p := range w.perm {
		w.lines[p].next = uint32(w.perm[(i+1)%n])
	}
	w.at = uint32(w.perm[0])
	return w
}

// Bytes returns the memory the walk reads.
func (w *Walk) Bytes() int { return 64 * len(w.lines) }

// Step makes n reads without timing them (to map the pages and warm the
// caches first).
func (w *Walk) Step(n int) {
	p := w.at
	for range n {
		p = w.lines[p].next
	}
	w.at, w.steps = p, w.steps+n
}

// Time makes len(ticks) reads, each timed alone by Ticks.
func (w *Walk) Time(ticks []uint64) {
	p := w.at
	for i := range ticks {
		t := Ticks()
		p = w.lines[p].next
		ticks[i] = Ticks() - t
	}
	w.at, w.steps = p, w.steps+len(ticks)
}

// Check returns an error unless the walk stands where the permutation's
// one cycle puts it after the reads so far: the reads were made, not
// optimised away.
func (w *Walk) Check() error {
	if want := uint32(w.perm[w.steps%len(w.perm)]); w.at != want {
		return fmt.Errorf("after %d reads at line %d, want %d", w.steps, w.at, want)
	}
	return nil
}

// Percentile returns the p-th percentile (0 to 1) of ticks, sorted, in
// nanoseconds.
func (c *Clock) Percentile(sorted []uint64, p float64) float64 {
	return c.Nanoseconds(sorted[min(len(sorted)-1, int(float64(len(sorted))*p))])
}

// BenchWalk times w's reads for b, 1 M reads a loop, each alone, on a
// thread of their own, then checks the walk and reports their p50-ns and
// p99-ns.
func BenchWalk(b *testing.B, w *Walk) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ticks := make([]uint64, 1<<20)
	var clock Clock
	b.ResetTimer()
	clock.Start()
	for b.Loop() {
		w.Time(ticks)
	}
	b.StopTimer()
	clock.Stop()
	if err := w.Check(); err != nil {
		b.Fatal(err)
	}
	slices.Sort(ticks)
	b.ReportMetric(clock.Percentile(ticks, 0.5), "p50-ns")
	b.ReportMetric(clock.Percentile(ticks, 0.99), "p99-ns")
}
