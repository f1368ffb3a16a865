package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// EmitFunc reports one series of a collected family: its value and one
// label value per label name, in order.
type EmitFunc func(value float64, labelValues ...string)

// collector is a family whose series are produced at scrape time.
type collector struct {
	desc    *prometheus.Desc
	typ     prometheus.ValueType
	collect func(emit EmitFunc)
}

// Collect registers a family whose series are produced at scrape time by
// collect, which calls emit once per series. Use it when the label sets
// are not known at setup, e.g. the size and age of each block list source.
// collect may run concurrently with itself (concurrent scrapes) and must
// call emit only from its own goroutine, before returning.
//
// typ must be TypeCounter or TypeGauge. Registration panics like
// CounterVec's. A scrape fails (ServeHTTP answers 500, WriteTo returns an
// error) if collect emits a wrong number of label values or the same label
// values twice. Invalid UTF-8 in a label value is replaced by U+FFFD.
func (r *Registry) Collect(name, help string, typ Type, labelNames []string, collect func(emit EmitFunc)) {
	var vt prometheus.ValueType
	switch typ {
	case TypeCounter:
		vt = prometheus.CounterValue
	case TypeGauge:
		vt = prometheus.GaugeValue
	default:
		panic(fmt.Sprintf("metrics: %s: Collect type %q, want %q or %q", name, typ, TypeCounter, TypeGauge))
	}
	if collect == nil {
		panic("metrics: " + name + ": nil collect func")
	}
	r.register(name, help, labelNames, &collector{desc: prometheus.NewDesc(name, help, labelNames, nil), typ: vt, collect: collect})
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. A series client_golang refuses
// becomes an invalid metric, which fails the whole scrape.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.collect(func(v float64, labelValues ...string) {
		m, err := prometheus.NewConstMetric(c.desc, c.typ, v, validLabelValues(labelValues)...)
		if err != nil {
			m = prometheus.NewInvalidMetric(c.desc, fmt.Errorf("emitted label values %q: %w", labelValues, err))
		}
		ch <- m
	})
}
