// Package metrics owns Hearth's Prometheus instrumentation: counters,
// gauges, histograms and scrape-time collectors, exposed by a Registry in
// the Prometheus text format 0.0.4.
//
// It replaces client_golang so that the per-query path stays lock-free and
// allocation-free and the binary small. Its life has three phases:
//
//   - Setup: Registry.Counter, CounterVec.With and the like take locks,
//     validate names and panic on programming errors (a duplicate or
//     malformed name, a wrong number of label values). Resolve labelled
//     children here and keep the *Counter or *Histogram.
//   - Recording: Counter.Inc, Gauge.Set and Histogram.Observe are atomic
//     operations that never lock and never allocate.
//   - Scraping: Registry.ServeHTTP copies the list of series under short
//     locks, then reads their atomics; it never blocks a writer.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ContentType is the media type of the text exposition format 0.0.4 that
// Registry serves.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Type is a metric family type as written on its # TYPE line.
type Type string

// The family types a Collect callback may produce.
const (
	TypeCounter Type = "counter"
	TypeGauge   Type = "gauge"
)

// typeHistogram is not accepted by Collect: histograms are registered with
// Registry.Histogram.
const typeHistogram Type = "histogram"

// desc describes a family: what its # HELP and # TYPE lines say and the
// names of its labels.
type desc struct {
	name       string
	help       string
	typ        Type
	labelNames []string
}

// family is one registered metric family.
type family interface {
	describe() *desc
	// write appends the family's lines to w. It returns an error only for
	// a collector that produced inconsistent series; w is then discarded.
	write(w *textWriter) error
}

// Registry holds metric families and serves them to Prometheus. Register
// everything at setup; registration panics on a programming error. The
// zero value is not usable: call NewRegistry.
type Registry struct {
	mu       sync.Mutex
	families []family          // sorted by name
	taken    map[string]string // family and sample names -> owning family
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{taken: make(map[string]string)}
}

// register adds f, reserving its family name and the sample names it
// writes (a histogram writes name_bucket, name_sum and name_count), so that
// no two families can ever produce the same series.
func (r *Registry) register(f family, suffixes ...string) {
	d := f.describe()
	if !validMetricName(d.name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", d.name))
	}
	if d.help == "" {
		panic(fmt.Sprintf("metrics: %s: empty help", d.name))
	}
	seen := make(map[string]bool, len(d.labelNames))
	for _, l := range d.labelNames {
		switch {
		case !validLabelName(l):
			panic(fmt.Sprintf("metrics: %s: invalid label name %q", d.name, l))
		case strings.HasPrefix(l, "__"):
			panic(fmt.Sprintf("metrics: %s: label name %q is reserved (leading __)", d.name, l))
		case d.typ == typeHistogram && l == "le":
			panic(fmt.Sprintf("metrics: %s: label name \"le\" is reserved in histograms", d.name))
		case seen[l]:
			panic(fmt.Sprintf("metrics: %s: duplicate label name %q", d.name, l))
		}
		seen[l] = true
	}
	names := []string{d.name}
	for _, s := range suffixes {
		names = append(names, d.name+s)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range names {
		if owner, ok := r.taken[n]; ok {
			if owner == d.name {
				panic(fmt.Sprintf("metrics: duplicate registration of %q", d.name))
			}
			panic(fmt.Sprintf("metrics: %q collides with family %q", d.name, owner))
		}
	}
	for _, n := range names {
		r.taken[n] = d.name
	}
	i, _ := slices.BinarySearchFunc(r.families, d.name, func(f family, name string) int {
		return strings.Compare(f.describe().name, name)
	})
	r.families = slices.Insert(r.families, i, f)
}

// gather renders every family. Only the family list is read under the
// registry lock; families and their series are read after it is released.
func (r *Registry) gather() ([]byte, error) {
	r.mu.Lock()
	fams := slices.Clone(r.families)
	r.mu.Unlock()

	w := &textWriter{}
	for _, f := range fams {
		if err := f.write(w); err != nil {
			return nil, err
		}
	}
	return w.b, nil
}

// WriteTo writes the text exposition of every family to w. Nothing is
// written if a collector fails.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	b, err := r.gather()
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	if err != nil {
		return int64(n), fmt.Errorf("write metrics: %w", err)
	}
	return int64(n), nil
}

// ServeHTTP serves the text exposition of every family, or 500 if a
// collector produced inconsistent series (Prometheus then records the
// scrape as failed rather than ingesting a partial one).
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	b, err := r.gather()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	// A write error means the scraper went away; there is no one to tell.
	_, _ = w.Write(b)
}

// validMetricName reports whether s matches [a-zA-Z_:][a-zA-Z0-9_:]*.
func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// validLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]*.
func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}
