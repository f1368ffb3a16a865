// Package metrics owns Hearth's Prometheus instrumentation. It is a thin
// layer over prometheus/client_golang that keeps the small API the rest of
// Hearth was written against (Registry.Counter, CounterVec.With,
// Histogram.Observe and so on) and adds what Hearth needs on top:
//
//   - A Registry serves /metrics with promhttp: the text format 0.0.4 or,
//     when the scraper asks for it, OpenMetrics, gzip-compressed on request,
//     and with the Go runtime (go_*) and process (process_*) collectors.
//   - Nil metrics are valid no-ops, so a component can take optional ones.
//   - Label values are made valid UTF-8 before they reach client_golang,
//     which would otherwise panic (With) or fail the scrape (Collect): a
//     name an API user typed must never stop the server or /metrics.
//   - Registration panics on programming errors (an invalid or duplicate
//     name, empty help, bad buckets), so they show in the first test run.
//
// Its life has three phases. Setup: Registry.Counter, CounterVec.With and
// the like take locks; resolve labelled children here and keep the
// *Counter or *Histogram. Recording: Counter.Inc, Gauge.Set and
// Histogram.Observe are client_golang's atomic operations, which never
// lock and never allocate. Scraping: ServeHTTP gathers the families and
// never blocks a writer.
//
// No hand-written metric is left: bench_test.go runs client_golang side by
// side with copies of the former hand-written counter and histogram. A
// counter, the only metric on the per-query path (the Observe step), costs
// no more (7-11 ns against 9-14 ns on a shared 2-core machine, parallel or
// serial, 0 allocations), and BenchmarkPipelineHit in internal/app shows
// no difference either. A histogram observation costs about twice as much
// (30-35 against 13-16 ns), but histograms record upstream exchanges
// only, which take at least tens of microseconds.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// maxScrapesInFlight caps concurrent scrapes: a scrape gathers every
// family, so a client holding a metrics token must not be able to pile
// them up. Prometheus scrapes one at a time; the rest get 503.
const maxScrapesInFlight = 4

// Type is a metric family type, as Collect takes it.
type Type string

// The family types a Collect callback may produce.
const (
	TypeCounter Type = "counter"
	TypeGauge   Type = "gauge"
)

// Registry holds metric families and serves them to Prometheus. Register
// everything at setup; registration panics on a programming error. The
// zero value is not usable: call NewRegistry.
type Registry struct {
	reg     *prometheus.Registry
	handler http.Handler
}

// NewRegistry returns a Registry holding only the Go runtime and process
// collectors.
func NewRegistry() *Registry {
	r := newBareRegistry()
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return r
}

// newBareRegistry returns a Registry without the runtime collectors, for
// tests that compare whole expositions.
func newBareRegistry() *Registry {
	reg := prometheus.NewPedanticRegistry()
	return &Registry{
		reg: reg,
		handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			// A collector that produced inconsistent series fails the
			// scrape (500), so Prometheus records it as failed rather
			// than ingesting part of it.
			ErrorHandling:       promhttp.HTTPErrorOnError,
			EnableOpenMetrics:   true,
			MaxRequestsInFlight: maxScrapesInFlight,
		}),
	}
}

// register adds c, panicking with the family name on a programming error.
// Names must be valid in the classic scheme ([a-zA-Z_:][a-zA-Z0-9_:]*,
// labels without the colon), which client_golang no longer insists on
// but which every Hearth name, dashboard and alert rule is written in.
func (r *Registry) register(name, help string, labelNames []string, c prometheus.Collector) {
	switch {
	case !model.IsValidLegacyMetricName(name):
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	case help == "":
		panic(fmt.Sprintf("metrics: %s: empty help", name))
	}
	for _, l := range labelNames {
		if !model.LabelName(l).IsValidLegacy() {
			panic(fmt.Sprintf("metrics: %s: invalid label name %q", name, l))
		}
	}
	if err := r.reg.Register(c); err != nil {
		panic(fmt.Sprintf("metrics: registering %q: %v", name, err))
	}
}

// ServeHTTP serves every family in the format the scraper negotiates, or
// 500 if a collector produced inconsistent series.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.handler.ServeHTTP(w, req)
}

// WriteTo writes every family to w in the text format 0.0.4. Nothing is
// written if a collector fails.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	mfs, err := r.reg.Gather()
	if err != nil {
		return 0, fmt.Errorf("gathering metrics: %w", err)
	}
	cw := &countingWriter{w: w}
	enc := expfmt.NewEncoder(cw, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return cw.n, fmt.Errorf("writing metrics: %w", err)
		}
	}
	return cw.n, nil
}

// countingWriter counts what WriteTo wrote.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// validLabelValues returns values with invalid UTF-8 replaced by U+FFFD.
// It copies only when something needs replacing, so the common case costs
// a scan and no allocation.
func validLabelValues(values []string) []string {
	for i, v := range values {
		if !utf8.ValidString(v) {
			fixed := slices.Clone(values)
			for j := i; j < len(fixed); j++ {
				fixed[j] = strings.ToValidUTF8(fixed[j], "\uFFFD")
			}
			return fixed
		}
	}
	return values
}
