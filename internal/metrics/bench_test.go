package metrics

import (
	"io"
	"math"
	"strconv"
	"sync/atomic"
	"testing"
)

// The benchmarks run the client_golang-backed metrics side by side with
// handCounter and handHistogram, minimal copies of the hand-written
// metrics this package had before it moved to client_golang (a padded
// atomic counter; a binary search, an atomic add and a CAS on the sum).
// They are the reference for the decision recorded in the package
// comment: on the query path a counter costs the same either way.
//
//	go test -run x -bench . -benchtime 200000x -count 3 ./internal/metrics

// handCounter is the former hand-written Counter.
type handCounter struct {
	v atomic.Uint64
	_ [56]byte
}

func (c *handCounter) Inc() { c.v.Add(1) }

// handHistogram is the former hand-written Histogram.
type handHistogram struct {
	upper  []float64
	counts []atomic.Uint64
	sum    atomic.Uint64
}

func newHandHistogram(upper []float64) *handHistogram {
	return &handHistogram{upper: upper, counts: make([]atomic.Uint64, len(upper)+1)}
}

func (h *handHistogram) Observe(v float64) {
	lo, hi := 0, len(h.upper)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if h.upper[m] >= v {
			hi = m
		} else {
			lo = m + 1
		}
	}
	h.counts[lo].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func BenchmarkCounterInc(b *testing.B) {
	b.Run("handwritten", func(b *testing.B) {
		c := new(handCounter)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Inc()
			}
		})
	})
	b.Run("client_golang", func(b *testing.B) {
		c := newBareRegistry().Counter("bench_total", "Bench.")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Inc()
			}
		})
		if c.Value() != uint64(b.N) {
			b.Fatalf("count %d, want %d", c.Value(), b.N)
		}
	})
}

func BenchmarkCounterIncSerial(b *testing.B) {
	b.Run("handwritten", func(b *testing.B) {
		c := new(handCounter)
		b.ReportAllocs()
		for b.Loop() {
			c.Inc()
		}
	})
	b.Run("client_golang", func(b *testing.B) {
		c := newBareRegistry().Counter("bench_total", "Bench.")
		b.ReportAllocs()
		for b.Loop() {
			c.Inc()
		}
	})
}

// observeLoop feeds o values from 0.1 ms to 10 s, as upstream times are.
func observeLoop(pb *testing.PB, o func(float64)) {
	v := 0.0001
	for pb.Next() {
		o(v)
		if v *= 2; v > 10 {
			v = 0.0001
		}
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	buckets := ExponentialBuckets(0.0005, 2, 14)
	b.Run("handwritten", func(b *testing.B) {
		h := newHandHistogram(buckets)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) { observeLoop(pb, h.Observe) })
	})
	b.Run("client_golang", func(b *testing.B) {
		h := newBareRegistry().Histogram("bench_seconds", "Bench.", buckets)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) { observeLoop(pb, h.Observe) })
		if h.Count() != uint64(b.N) {
			b.Fatalf("count %d, want %d", h.Count(), b.N)
		}
	})
}

// BenchmarkScrape renders a registry of a realistic size: 20 counters, a
// 50-series vec and 5 labelled histograms of 15 buckets.
func BenchmarkScrape(b *testing.B) {
	r := newBareRegistry()
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
