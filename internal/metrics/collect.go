package metrics

import (
	"fmt"
	"slices"
	"strings"
)

// EmitFunc reports one series of a collected family: its value and one
// label value per label name, in order.
type EmitFunc func(value float64, labelValues ...string)

// collectFamily is a family whose series are produced at scrape time.
type collectFamily struct {
	desc
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
// values twice.
func (r *Registry) Collect(name, help string, typ Type, labelNames []string, collect func(emit EmitFunc)) {
	if typ != TypeCounter && typ != TypeGauge {
		panic(fmt.Sprintf("metrics: %s: Collect type %q, want %q or %q", name, typ, TypeCounter, TypeGauge))
	}
	if collect == nil {
		panic("metrics: " + name + ": nil collect func")
	}
	r.register(&collectFamily{
		desc:    desc{name: name, help: help, typ: typ, labelNames: slices.Clone(labelNames)},
		collect: collect,
	})
}

func (f *collectFamily) describe() *desc { return &f.desc }

type collected struct {
	values []string
	v      float64
}

func (f *collectFamily) write(w *textWriter) error {
	var (
		samples []collected
		err     error
	)
	f.collect(func(v float64, labelValues ...string) {
		if len(labelValues) != len(f.labelNames) {
			if err == nil {
				err = fmt.Errorf("collect %s: emitted %d label values %q, want %d", f.name, len(labelValues), labelValues, len(f.labelNames))
			}
			return
		}
		samples = append(samples, collected{values: slices.Clone(labelValues), v: v})
	})
	if err != nil {
		return err
	}
	if len(samples) == 0 {
		return nil
	}
	slices.SortFunc(samples, func(a, b collected) int { return slices.Compare(a.values, b.values) })
	for i := 1; i < len(samples); i++ {
		if slices.Equal(samples[i-1].values, samples[i].values) {
			return fmt.Errorf("collect %s: series {%s} emitted twice", f.name, strings.Join(samples[i].values, ","))
		}
	}
	w.header(&f.desc)
	for _, s := range samples {
		w.series(&f.desc, "", s.values, "")
		w.float(s.v)
	}
	return nil
}
