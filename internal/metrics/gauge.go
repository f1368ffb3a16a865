package metrics

import (
	"math"
	"sync/atomic"
)

// Gauge is a value that goes up and down. Set and Add are lock-free and
// allocation-free. A nil *Gauge is a valid no-op.
type Gauge struct {
	bits atomic.Uint64 // math.Float64bits of the value
}

// Set sets g to v.
func (g *Gauge) Set(v float64) {
	if g != nil {
		g.bits.Store(math.Float64bits(v))
	}
}

// Add adds d (which may be negative) to g.
func (g *Gauge) Add(d float64) {
	if g != nil {
		addFloat(&g.bits, d)
	}
}

// Value returns the current value; 0 for a nil Gauge.
func (g *Gauge) Value() float64 {
	if g == nil {
		return 0
	}
	return math.Float64frombits(g.bits.Load())
}

// addFloat adds d to the float64 stored as bits in u.
func addFloat(u *atomic.Uint64, d float64) {
	for {
		old := u.Load()
		if u.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// gaugeFamily is an unlabelled gauge.
type gaugeFamily struct {
	desc
	g *Gauge
}

func (f *gaugeFamily) describe() *desc { return &f.desc }

func (f *gaugeFamily) write(w *textWriter) error {
	w.header(&f.desc)
	w.series(&f.desc, "", nil, "")
	w.float(f.g.Value())
	return nil
}

// Gauge registers and returns an unlabelled gauge. It panics if name is
// invalid or taken, or help is empty.
func (r *Registry) Gauge(name, help string) *Gauge {
	f := &gaugeFamily{desc: desc{name: name, help: help, typ: TypeGauge}, g: new(Gauge)}
	r.register(f)
	return f.g
}

// funcFamily is an unlabelled counter or gauge read at scrape time.
type funcFamily struct {
	desc
	f func() float64
}

func (f *funcFamily) describe() *desc { return &f.desc }

func (f *funcFamily) write(w *textWriter) error {
	v := f.f()
	w.header(&f.desc)
	w.series(&f.desc, "", nil, "")
	w.float(v)
	return nil
}

// GaugeFunc registers a gauge whose value is f(), called at every scrape
// (possibly by concurrent scrapes). It panics if name is invalid or taken,
// help is empty or f is nil.
func (r *Registry) GaugeFunc(name, help string, f func() float64) {
	r.registerFunc(name, help, TypeGauge, f)
}

// CounterFunc registers a counter whose value is f(), called at every
// scrape (possibly by concurrent scrapes); f must never decrease. Use it to
// expose a count another component already keeps. It panics if name is
// invalid or taken, help is empty or f is nil.
func (r *Registry) CounterFunc(name, help string, f func() float64) {
	r.registerFunc(name, help, TypeCounter, f)
}

func (r *Registry) registerFunc(name, help string, typ Type, f func() float64) {
	if f == nil {
		panic("metrics: " + name + ": nil func")
	}
	r.register(&funcFamily{desc: desc{name: name, help: help, typ: typ}, f: f})
}
