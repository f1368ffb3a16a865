package metrics

import (
	"io"
	"strconv"
	"sync/atomic"
	"testing"
)

func BenchmarkCounterInc(b *testing.B) {
	c := NewRegistry().Counter("bench_total", "Bench.")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
		}
	})
	if c.Value() != uint64(b.N) {
		b.Fatalf("count %d, want %d", c.Value(), b.N)
	}
}

func BenchmarkCounterIncSerial(b *testing.B) {
	c := NewRegistry().Counter("bench_total", "Bench.")
	b.ReportAllocs()
	for b.Loop() {
		c.Inc()
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	h := NewRegistry().Histogram("bench_seconds", "Bench.", ExponentialBuckets(0.0005, 2, 14))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		v := 0.0001
		for pb.Next() {
			h.Observe(v)
			if v *= 2; v > 10 {
				v = 0.0001
			}
		}
	})
	if h.Count() != uint64(b.N) {
		b.Fatalf("count %d, want %d", h.Count(), b.N)
	}
}

func BenchmarkHistogramObserveSerial(b *testing.B) {
	h := NewRegistry().Histogram("bench_seconds", "Bench.", ExponentialBuckets(0.0005, 2, 14))
	b.ReportAllocs()
	v := 0.0001
	for b.Loop() {
		h.Observe(v)
		if v *= 2; v > 10 {
			v = 0.0001
		}
	}
}

// BenchmarkCountersFalseSharing bumps two distinct counters from parallel
// goroutines, half on each: "adjacent" keeps them in one cache line,
// "padded" uses *Counter as allocated by a Registry.
func BenchmarkCountersFalseSharing(b *testing.B) {
	b.Run("adjacent", func(b *testing.B) {
		var pair [2]atomic.Uint64
		var id atomic.Uint32
		b.RunParallel(func(pb *testing.PB) {
			c := &pair[id.Add(1)%2]
			for pb.Next() {
				c.Add(1)
			}
		})
	})
	b.Run("padded", func(b *testing.B) {
		r := NewRegistry()
		pair := [2]*Counter{r.Counter("a_total", "A."), r.Counter("b_total", "B.")}
		var id atomic.Uint32
		b.RunParallel(func(pb *testing.PB) {
			c := pair[id.Add(1)%2]
			for pb.Next() {
				c.Inc()
			}
		})
	})
}

// BenchmarkScrape renders a registry of a realistic size: 20 counters, a
// 50-series vec and 5 labelled histograms of 15 buckets.
func BenchmarkScrape(b *testing.B) {
	r := NewRegistry()
	for i := range 20 {
		r.Counter("bench_"+strconv.Itoa(i)+"_total", "Bench.").Add(uint64(i))
	}
	cv := r.CounterVec("bench_vec_total", "Bench.", "device")
	for i := range 50 {
		cv.With("device-" + strconv.Itoa(i)).Inc()
	}
	hv := r.HistogramVec("bench_seconds", "Bench.", ExponentialBuckets(0.0005, 2, 15), "upstream")
	for i := range 5 {
		hv.With("up" + strconv.Itoa(i)).Observe(0.01)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
