package metrics

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// Histogram counts observations in buckets. Observe is lock-free and
// allocation-free: one atomic add on the bucket and a compare-and-swap on
// the sum. A nil *Histogram is a valid no-op.
//
// A scrape reads the buckets one by one while observations continue, so
// it may see an observation in the sum but not yet in its bucket (or the
// reverse); _count is always the +Inf bucket, so buckets and count agree.
type Histogram struct {
	upper  []float64       // bucket upper bounds, ascending, without +Inf; shared
	counts []atomic.Uint64 // per bucket (not cumulative); the last is +Inf
	sum    atomic.Uint64   // math.Float64bits of the sum of observations
}

func newHistogram(upper []float64) *Histogram {
	return &Histogram{upper: upper, counts: make([]atomic.Uint64, len(upper)+1)}
}

// Observe records v. NaN lands in the +Inf bucket and turns the sum to NaN,
// as in client_golang.
func (h *Histogram) Observe(v float64) {
	if h == nil {
		return
	}
	// Binary search for the first bound >= v (le is inclusive); written
	// out so that NaN, failing every comparison, falls to +Inf.
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
	addFloat(&h.sum, v)
}

// ObserveDuration records d in seconds, the Prometheus base unit.
func (h *Histogram) ObserveDuration(d time.Duration) {
	h.Observe(d.Seconds())
}

// Count returns the number of observations; 0 for a nil Histogram.
func (h *Histogram) Count() uint64 {
	if h == nil {
		return 0
	}
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Sum returns the sum of observations; 0 for a nil Histogram.
func (h *Histogram) Sum() float64 {
	if h == nil {
		return 0
	}
	return math.Float64frombits(h.sum.Load())
}

// HistogramVec is a histogram family partitioned by labels; every child
// has the same buckets.
type HistogramVec struct {
	v  vec[Histogram]
	le []string // formatted upper bounds, then "+Inf"
}

// With returns the histogram for labelValues (one per label name, in
// order), creating it on first use. It takes a lock: call it at setup and
// keep the *Histogram for the hot path. It panics on a wrong number of
// values.
func (hv *HistogramVec) With(labelValues ...string) *Histogram {
	return hv.v.with(labelValues)
}

func (hv *HistogramVec) describe() *desc { return &hv.v.desc }

func (hv *HistogramVec) write(w *textWriter) error {
	children := hv.v.snapshot()
	if len(children) == 0 {
		return nil
	}
	d := &hv.v.desc
	w.header(d)
	for _, c := range children {
		h := c.m
		var cum uint64
		for i := range h.counts {
			cum += h.counts[i].Load()
			w.series(d, "_bucket", c.values, hv.le[i])
			w.uint(cum)
		}
		w.series(d, "_sum", c.values, "")
		w.float(h.Sum())
		w.series(d, "_count", c.values, "")
		w.uint(cum)
	}
	return nil
}

// Histogram registers and returns an unlabelled histogram with the given
// bucket upper bounds (see HistogramVec).
func (r *Registry) Histogram(name, help string, buckets []float64) *Histogram {
	return r.HistogramVec(name, help, buckets).With()
}

// HistogramVec registers and returns a histogram family with the given
// bucket upper bounds and label names. Buckets must be non-empty and
// strictly increasing; a trailing +Inf is implied and may be omitted. It
// panics on bad buckets, if a name is invalid or taken (the family also
// takes name_bucket, name_sum and name_count; "le" is reserved), or if help
// is empty.
func (r *Registry) HistogramVec(name, help string, buckets []float64, labelNames ...string) *HistogramVec {
	upper := slices.Clone(buckets)
	if n := len(upper); n > 0 && math.IsInf(upper[n-1], 1) {
		upper = upper[:n-1]
	}
	if len(upper) == 0 {
		panic(fmt.Sprintf("metrics: %s: no buckets", name))
	}
	for i, b := range upper {
		if math.IsNaN(b) || math.IsInf(b, 0) || i > 0 && b <= upper[i-1] {
			panic(fmt.Sprintf("metrics: %s: buckets %v are not finite and strictly increasing", name, buckets))
		}
	}
	le := make([]string, 0, len(upper)+1)
	for _, b := range upper {
		le = append(le, string(appendFloat(nil, b)))
	}
	le = append(le, "+Inf")

	hv := &HistogramVec{
		v: newVec(desc{name: name, help: help, typ: typeHistogram, labelNames: slices.Clone(labelNames)},
			func() *Histogram { return newHistogram(upper) }),
		le: le,
	}
	r.register(hv, "_bucket", "_sum", "_count")
	return hv
}

// ExponentialBuckets returns count bucket bounds: start, start*factor,
// start*factor², and so on. It panics unless start > 0, factor > 1 and
// count >= 1.
func ExponentialBuckets(start, factor float64, count int) []float64 {
	if !(start > 0) || !(factor > 1) || count < 1 {
		panic(fmt.Sprintf("metrics: ExponentialBuckets(%v, %v, %d): need start > 0, factor > 1, count >= 1", start, factor, count))
	}
	b := make([]float64, count)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

// LinearBuckets returns count bucket bounds: start, start+width,
// start+2*width, and so on. It panics unless width > 0 and count >= 1.
func LinearBuckets(start, width float64, count int) []float64 {
	if !(width > 0) || count < 1 || math.IsNaN(start) || math.IsInf(start, 0) {
		panic(fmt.Sprintf("metrics: LinearBuckets(%v, %v, %d): need finite start, width > 0, count >= 1", start, width, count))
	}
	b := make([]float64, count)
	for i := range b {
		b[i] = start + float64(i)*width
	}
	return b
}
