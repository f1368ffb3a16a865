package metrics

import (
	"slices"
	"sync/atomic"
)

// Counter is a monotonically increasing count. Inc and Add are single
// atomic operations: safe for concurrent use, lock-free and allocation-free.
// A nil *Counter is a valid no-op, so a component can take optional metrics.
type Counter struct {
	v atomic.Uint64
	// Pad to a cache line: counters are allocated together at setup and
	// bumped from every core, so neighbours would otherwise false-share
	// (see BenchmarkCountersFalseSharing).
	_ [56]byte
}

// Inc adds one to c.
func (c *Counter) Inc() {
	if c != nil {
		c.v.Add(1)
	}
}

// Add adds n to c.
func (c *Counter) Add(n uint64) {
	if c != nil {
		c.v.Add(n)
	}
}

// Value returns the current count; 0 for a nil Counter.
func (c *Counter) Value() uint64 {
	if c == nil {
		return 0
	}
	return c.v.Load()
}

// CounterVec is a counter family partitioned by labels.
type CounterVec struct {
	v vec[Counter]
}

// With returns the counter for labelValues (one per label name, in order),
// creating it on first use. It takes a lock: call it at setup and keep the
// *Counter for the hot path. It panics on a wrong number of values.
func (cv *CounterVec) With(labelValues ...string) *Counter {
	return cv.v.with(labelValues)
}

func (cv *CounterVec) describe() *desc { return &cv.v.desc }

func (cv *CounterVec) write(w *textWriter) error {
	children := cv.v.snapshot()
	if len(children) == 0 {
		return nil
	}
	w.header(&cv.v.desc)
	for _, c := range children {
		w.series(&cv.v.desc, "", c.values, "")
		w.uint(c.m.Value())
	}
	return nil
}

// Counter registers and returns an unlabelled counter. It panics if name is
// invalid or taken, or help is empty.
func (r *Registry) Counter(name, help string) *Counter {
	return r.CounterVec(name, help).With()
}

// CounterVec registers and returns a counter family with the given label
// names. It panics if a name is invalid or taken, or help is empty.
func (r *Registry) CounterVec(name, help string, labelNames ...string) *CounterVec {
	cv := &CounterVec{v: newVec(desc{name: name, help: help, typ: TypeCounter, labelNames: slices.Clone(labelNames)},
		func() *Counter { return new(Counter) })}
	r.register(cv)
	return cv
}
