package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Gauge is a value that goes up and down: a client_golang gauge, whose Set
// and Add are lock-free and allocation-free. A nil *Gauge is a valid no-op.
type Gauge struct {
	g prometheus.Gauge
}

// Set sets g to v.
func (g *Gauge) Set(v float64) {
	if g != nil {
		g.g.Set(v)
	}
}

// Add adds d (which may be negative) to g.
func (g *Gauge) Add(d float64) {
	if g != nil {
		g.g.Add(d)
	}
}

// Value returns the current value; 0 for a nil Gauge. It allocates: it is
// meant for tests, not the query path.
func (g *Gauge) Value() float64 {
	if g == nil {
		return 0
	}
	var m dto.Metric
	if err := g.g.Write(&m); err != nil {
		return 0
	}
	return m.GetGauge().GetValue()
}

// Gauge registers and returns an unlabelled gauge. It panics if name is
// invalid or taken, or help is empty.
func (r *Registry) Gauge(name, help string) *Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	r.register(name, help, nil, g)
	return &Gauge{g: g}
}

// GaugeFunc registers a gauge whose value is f(), called at every scrape
// (possibly by concurrent scrapes). It panics if name is invalid or taken,
// help is empty or f is nil.
func (r *Registry) GaugeFunc(name, help string, f func() float64) {
	if f == nil {
		panic("metrics: " + name + ": nil func")
	}
	r.register(name, help, nil, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}
