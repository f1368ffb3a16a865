package cycles

import (
	"runtime"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	var c Clock
	c.Start()
	a := Ticks()
	deadline := time.Now().Add(20 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	b := Ticks()
	c.Stop()
	if b <= a {
		t.Fatalf("ticks did not advance: %d then %d", a, b)
	}
	ns := c.Nanoseconds(b - a)
	if ns < 15e6 || ns > 200e6 {
		t.Fatalf("20 ms of spinning measured as %.0f ns", ns)
	}
}

func BenchmarkTicks(b *testing.B) {
	for b.Loop() {
		Ticks()
	}
}

func TestThreadCPU(t *testing.T) {
	for _, c := range []struct {
		name  string
		clock func() time.Duration
	}{{"ThreadCPU", ThreadCPU}, {"ProcessCPU", ProcessCPU}} {
		t.Run(c.name, func(t *testing.T) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			a := c.clock()
			if a <= 0 {
				t.Fatalf("CPU time %v", a)
			}
			// Spinning must show as CPU time; the wall-clock bound only
			// stops a clock that never moves.
			start := time.Now()
			for c.clock()-a < time.Millisecond {
				if time.Since(start) > 10*time.Second {
					t.Fatalf("10 s of spinning and the CPU time moved %v", c.clock()-a)
				}
			}
		})
	}
}

// TestWalk: a walk's reads follow its permutation's one cycle through
// every line, so that Check holds after any number of them and fails for
// a walk moved off its place.
func TestWalk(t *testing.T) {
	w := NewWalk(64*1000, 3) // rounded up to 1,024 lines
	if w.Bytes() != 64*1024 {
		t.Fatalf("Bytes = %d, want %d", w.Bytes(), 64*1024)
	}
	seen := map[uint32]bool{w.at: true}
	for range 1023 {
		w.Step(1)
		seen[w.at] = true
	}
	if len(seen) != 1024 {
		t.Errorf("1,024 reads visited %d lines, want every one", len(seen))
	}
	w.Time(make([]uint64, 5000))
	if err := w.Check(); err != nil {
		t.Fatal(err)
	}
	w.at = w.lines[w.at].next
	if w.Check() == nil {
		t.Error("Check passed for a walk one line ahead of its reads")
	}
}
