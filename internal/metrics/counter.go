package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Counter is a monotonically increasing count: a client_golang counter,
// whose Inc and Add are single atomic operations, safe for concurrent use,
// lock-free and allocation-free. A nil *Counter is a valid no-op, so a
// component can take optional metrics.
type Counter struct {
	c prometheus.Counter
}

// Inc adds one to c.
func (c *Counter) Inc() {
	if c != nil {
		c.c.Inc()
	}
}

// Add adds n to c.
func (c *Counter) Add(n uint64) {
	if c != nil {
		c.c.Add(float64(n))
	}
}

// Value returns the current count; 0 for a nil Counter. It allocates: it
// is meant for tests, not the query path.
func (c *Counter) Value() uint64 {
	if c == nil {
		return 0
	}
	var m dto.Metric
	if err := c.c.Write(&m); err != nil {
		return 0
	}
	return uint64(m.GetCounter().GetValue())
}

// CounterVec is a counter family partitioned by labels.
type CounterVec struct {
	v *prometheus.CounterVec
	// children maps each client_golang child to the *Counter handed out
	// for it, so that With returns the same *Counter every time and does
	// not allocate for an existing child.
	children sync.Map // prometheus.Counter -> *Counter
}

// With returns the counter for labelValues (one per label name, in order),
// creating it on first use. It takes a read lock: call it at setup and
// keep the *Counter for the hot path. It panics on a wrong number of
// values; invalid UTF-8 in a value is replaced by U+FFFD.
func (cv *CounterVec) With(labelValues ...string) *Counter {
	pc := cv.v.WithLabelValues(validLabelValues(labelValues)...)
	if c, ok := cv.children.Load(pc); ok {
		return c.(*Counter)
	}
	c, _ := cv.children.LoadOrStore(pc, &Counter{c: pc})
	return c.(*Counter)
}

// Counter registers and returns an unlabelled counter. It panics if name is
// invalid or taken, or help is empty.
func (r *Registry) Counter(name, help string) *Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	r.register(name, help, nil, c)
	return &Counter{c: c}
}

// CounterVec registers and returns a counter family with the given label
// names. It panics if a name is invalid or taken, or help is empty.
func (r *Registry) CounterVec(name, help string, labelNames ...string) *CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labelNames)
	r.register(name, help, labelNames, v)
	return &CounterVec{v: v}
}

// CounterFunc registers a counter whose value is f(), called at every
// scrape (possibly by concurrent scrapes); f must never decrease. Use it to
// expose a count another component already keeps. It panics if name is
// invalid or taken, help is empty or f is nil.
func (r *Registry) CounterFunc(name, help string, f func() float64) {
	if f == nil {
		panic("metrics: " + name + ": nil func")
	}
	r.register(name, help, nil, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}
