package metrics

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Histogram counts observations in buckets: a client_golang histogram,
// whose Observe is lock-free and allocation-free. A nil *Histogram is a
// valid no-op.
type Histogram struct {
	h prometheus.Histogram
}

// Observe records v. NaN lands in the +Inf bucket and turns the sum to NaN.
func (h *Histogram) Observe(v float64) {
	if h != nil {
		h.h.Observe(v)
	}
}

// ObserveDuration records d in seconds, the Prometheus base unit.
func (h *Histogram) ObserveDuration(d time.Duration) {
	h.Observe(d.Seconds())
}

// Count returns the number of observations; 0 for a nil Histogram. It
// allocates: it is meant for tests, not the query path.
func (h *Histogram) Count() uint64 {
	return h.read().GetSampleCount()
}

// Sum returns the sum of observations; 0 for a nil Histogram. It
// allocates: it is meant for tests, not the query path.
func (h *Histogram) Sum() float64 {
	return h.read().GetSampleSum()
}

func (h *Histogram) read() *dto.Histogram {
	if h == nil {
		return nil
	}
	var m dto.Metric
	if err := h.h.Write(&m); err != nil {
		return nil
	}
	return m.GetHistogram()
}

// HistogramVec is a histogram family partitioned by labels; every child
// has the same buckets.
type HistogramVec struct {
	v *prometheus.HistogramVec
	// children maps each client_golang child to the *Histogram handed out
	// for it, as in CounterVec.
	children sync.Map // prometheus.Observer -> *Histogram
}

// With returns the histogram for labelValues (one per label name, in
// order), creating it on first use. It takes a read lock: call it at setup
// and keep the *Histogram for the hot path. It panics on a wrong number of
// values; invalid UTF-8 in a value is replaced by U+FFFD.
func (hv *HistogramVec) With(labelValues ...string) *Histogram {
	o := hv.v.WithLabelValues(validLabelValues(labelValues)...)
	if h, ok := hv.children.Load(o); ok {
		return h.(*Histogram)
	}
	h, _ := hv.children.LoadOrStore(o, &Histogram{h: o.(prometheus.Histogram)})
	return h.(*Histogram)
}

// Histogram registers and returns an unlabelled histogram with the given
// bucket upper bounds (see HistogramVec).
func (r *Registry) Histogram(name, help string, buckets []float64) *Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: checkBuckets(name, buckets)})
	r.register(name, help, nil, h)
	return &Histogram{h: h}
}

// HistogramVec registers and returns a histogram family with the given
// bucket upper bounds and label names. Buckets must be non-empty, finite
// and strictly increasing; a trailing +Inf is implied and may be omitted.
// It panics on bad buckets, if a name is invalid or taken ("le" is
// reserved), or if help is empty.
func (r *Registry) HistogramVec(name, help string, buckets []float64, labelNames ...string) *HistogramVec {
	if slices.Contains(labelNames, "le") {
		// client_golang would panic only when the first child is made.
		panic(fmt.Sprintf(`metrics: %s: label name "le" is reserved in histograms`, name))
	}
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: checkBuckets(name, buckets)}, labelNames)
	r.register(name, help, labelNames, v)
	return &HistogramVec{v: v}
}

// checkBuckets returns a copy of buckets without a trailing +Inf, and
// panics unless what is left is non-empty, finite and strictly increasing.
// client_golang would quietly use its default buckets for an empty list
// and accept NaN.
func checkBuckets(name string, buckets []float64) []float64 {
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
	return upper
}

// ExponentialBuckets returns count bucket bounds: start, start*factor,
// start*factor², and so on. It panics unless start > 0, factor > 1 and
// count >= 1.
func ExponentialBuckets(start, factor float64, count int) []float64 {
	return prometheus.ExponentialBuckets(start, factor, count)
}

// LinearBuckets returns count bucket bounds: start, start+width,
// start+2*width, and so on. It panics unless count >= 1; a width that is
// not positive makes Histogram panic.
func LinearBuckets(start, width float64, count int) []float64 {
	return prometheus.LinearBuckets(start, width, count)
}
