package cycles

import (
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
