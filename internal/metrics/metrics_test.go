package metrics

import (
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestRegistrationPanics(t *testing.T) {
	setup := func() *Registry {
		r := newBareRegistry()
		r.Counter("taken_total", "Taken.")
		r.Histogram("lat_seconds", "Latency.", []float64{1})
		return r
	}
	tests := []struct {
		name      string
		register  func(r *Registry)
		wantPanic string // "" means no panic
	}{
		{"fresh name", func(r *Registry) { r.Counter("fresh_total", "Fresh.") }, ""},
		{"colons allowed", func(r *Registry) { r.Gauge("hearth:ratio:5m", "Ratio.") }, ""},
		{"duplicate counter", func(r *Registry) { r.Counter("taken_total", "Again.") }, "previously registered"},
		{"duplicate across kinds", func(r *Registry) { r.Gauge("taken_total", "Again.") }, "previously registered"},
		{"duplicate func", func(r *Registry) { r.GaugeFunc("lat_seconds", "Again.", func() float64 { return 0 }) }, "previously registered"},
		{"duplicate collector", func(r *Registry) {
			r.Collect("taken_total", "Again.", TypeCounter, nil, func(EmitFunc) {})
		}, "previously registered"},
		{"empty name", func(r *Registry) { r.Counter("", "Empty.") }, "invalid metric name"},
		{"leading digit", func(r *Registry) { r.Counter("1st_total", "First.") }, "invalid metric name"},
		{"dash in name", func(r *Registry) { r.Gauge("cache-size", "Size.") }, "invalid metric name"},
		{"dot in name", func(r *Registry) { r.CounterFunc("dns.queries", "Q.", func() float64 { return 0 }) }, "invalid metric name"},
		{"empty help", func(r *Registry) { r.Counter("nohelp_total", "") }, "empty help"},
		{"invalid label", func(r *Registry) { r.CounterVec("x_total", "X.", "device-id") }, `invalid label name "device-id"`},
		{"colon in label", func(r *Registry) { r.CounterVec("x_total", "X.", "a:b") }, "invalid label name"},
		{"leading digit label", func(r *Registry) { r.CounterVec("x_total", "X.", "0a") }, "invalid label name"},
		{"empty label", func(r *Registry) { r.CounterVec("x_total", "X.", "") }, "invalid label name"},
		{"reserved label", func(r *Registry) { r.CounterVec("x_total", "X.", "__name__") }, `"__name__" is not a valid label name`},
		{"duplicate label", func(r *Registry) { r.CounterVec("x_total", "X.", "a", "b", "a") }, "duplicate label names"},
		{"le in histogram", func(r *Registry) { r.HistogramVec("x_seconds", "X.", []float64{1}, "le") }, `"le" is reserved`},
		{"le in counter is fine", func(r *Registry) { r.CounterVec("x_total", "X.", "le") }, ""},
		{"collector label", func(r *Registry) { r.Collect("x", "X.", TypeGauge, []string{"a b"}, func(EmitFunc) {}) }, "invalid label name"},
		{"collector type", func(r *Registry) { r.Collect("x", "X.", "histogram", nil, func(EmitFunc) {}) }, "Collect type"},
		{"nil collector", func(r *Registry) { r.Collect("x", "X.", TypeGauge, nil, nil) }, "nil collect func"},
		{"nil gauge func", func(r *Registry) { r.GaugeFunc("x", "X.", nil) }, "nil func"},
		{"no buckets", func(r *Registry) { r.Histogram("x", "X.", nil) }, "no buckets"},
		{"only +Inf bucket", func(r *Registry) { r.Histogram("x", "X.", []float64{math.Inf(1)}) }, "no buckets"},
		{"unsorted buckets", func(r *Registry) { r.Histogram("x", "X.", []float64{1, 0.5}) }, "strictly increasing"},
		{"repeated bucket", func(r *Registry) { r.Histogram("x", "X.", []float64{1, 1}) }, "strictly increasing"},
		{"NaN bucket", func(r *Registry) { r.Histogram("x", "X.", []float64{math.NaN()}) }, "strictly increasing"},
		{"-Inf bucket", func(r *Registry) { r.Histogram("x", "X.", []float64{math.Inf(-1), 1}) }, "strictly increasing"},
		{"too few label values", func(r *Registry) { r.CounterVec("x_total", "X.", "a", "b").With("1") }, "expected 2 label values but got 1"},
		{"too many label values", func(r *Registry) { r.CounterVec("x_total", "X.", "a").With("1", "2") }, "expected 1 label values but got 2"},
		{"label values on histogram", func(r *Registry) { r.HistogramVec("x", "X.", []float64{1}).With("1") }, "expected 0 label values but got 1"},
		{"exponential factor", func(r *Registry) { ExponentialBuckets(1, 1, 3) }, "ExponentialBuckets"},
		{"exponential start", func(r *Registry) { ExponentialBuckets(0, 2, 3) }, "ExponentialBuckets"},
		{"exponential count", func(r *Registry) { ExponentialBuckets(1, 2, 0) }, "ExponentialBuckets"},
		{"linear width", func(r *Registry) { r.Histogram("x", "X.", LinearBuckets(0, 0, 3)) }, "strictly increasing"},
		{"linear count", func(r *Registry) { LinearBuckets(0, 1, 0) }, "LinearBuckets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := setup()
			got := catchPanic(func() { tt.register(r) })
			switch {
			case tt.wantPanic == "" && got != "":
				t.Errorf("unexpected panic: %s", got)
			case tt.wantPanic != "" && !strings.Contains(got, tt.wantPanic):
				t.Errorf("panic %q, want one containing %q", got, tt.wantPanic)
			}
			// A failed registration leaves the registry usable and intact.
			if _, err := r.WriteTo(io.Discard); err != nil {
				t.Errorf("registry broken after %s: %v", tt.name, err)
			}
		})
	}
}

// catchPanic runs f and returns its panic value as text, or "".
func catchPanic(f func()) (msg string) {
	defer func() {
		if v := recover(); v != nil {
			msg = fmt.Sprint(v)
		}
	}()
	f()
	return ""
}

// TestFailedRegistrationTakesNoName checks that a registration rejected
// for its labels or buckets does not reserve its name.
func TestFailedRegistrationTakesNoName(t *testing.T) {
	r := newBareRegistry()
	if catchPanic(func() { r.CounterVec("x_total", "X.", "bad-label") }) == "" {
		t.Fatal("no panic for a bad label")
	}
	if catchPanic(func() { r.Histogram("y", "Y.", []float64{2, 1}) }) == "" {
		t.Fatal("no panic for bad buckets")
	}
	if msg := catchPanic(func() { r.Counter("x_total", "X."); r.Histogram("y", "Y.", []float64{1}) }); msg != "" {
		t.Errorf("names taken by failed registrations: %s", msg)
	}
}

func TestWithReturnsSameChild(t *testing.T) {
	r := newBareRegistry()
	cv := r.CounterVec("x_total", "X.", "a", "b")
	first := cv.With("p", "q")
	if cv.With("p", "q") != first {
		t.Error("With returned a new counter for the same label values")
	}
	// Length-prefixed keys: joining with a separator would confuse these.
	for _, values := range [][]string{{"p,q", ""}, {"", "p,q"}, {"p", ",q"}, {"p\x00", "q"}} {
		if cv.With(values...) == first {
			t.Errorf("With(%q) aliases With(p, q)", values)
		}
	}
	// Mutating the caller's slice afterwards must not rename the series.
	values := []string{"m", "n"}
	cv.With(values...).Inc()
	values[0] = "changed"
	if got := value(t, render(t, r), "x_total", "a=m", "b=n"); got != 1 {
		t.Errorf("x_total{a=m,b=n} = %v after caller mutation, want 1", got)
	}
}

func TestValues(t *testing.T) {
	r := newBareRegistry()
	c := r.Counter("c_total", "C.")
	c.Inc()
	c.Add(41)
	if c.Value() != 42 {
		t.Errorf("counter %d, want 42", c.Value())
	}
	g := r.Gauge("g", "G.")
	g.Set(10)
	g.Add(-2.5)
	g.Add(0.25)
	if g.Value() != 7.75 {
		t.Errorf("gauge %v, want 7.75", g.Value())
	}
	h := r.Histogram("h_seconds", "H.", []float64{0.01, 0.1})
	h.ObserveDuration(50 * time.Millisecond)
	h.ObserveDuration(2 * time.Second)
	if h.Count() != 2 || h.Sum() != 2.05 {
		t.Errorf("histogram count %d sum %v, want 2 and 2.05", h.Count(), h.Sum())
	}
	b := render(t, r)["h_seconds"].GetMetric()[0].GetHistogram().GetBucket()
	if b[1].GetUpperBound() != 0.1 || b[1].GetCumulativeCount() != 1 {
		t.Errorf("le=0.1 bucket %v, want 1 observation", b[1])
	}
}

func TestBucketHelpers(t *testing.T) {
	tests := []struct {
		name string
		got  []float64
		want []float64
	}{
		{"exponential", ExponentialBuckets(0.001, 2, 4), []float64{0.001, 0.002, 0.004, 0.008}},
		{"exponential one", ExponentialBuckets(5, 10, 1), []float64{5}},
		{"linear", LinearBuckets(-1, 0.5, 5), []float64{-1, -0.5, 0, 0.5, 1}},
	}
	for _, tt := range tests {
		if fmt.Sprint(tt.got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	// The caller may reuse its slice: the histogram keeps a copy.
	r := newBareRegistry()
	b := []float64{1, 2}
	h := r.Histogram("h", "H.", b)
	b[0] = 100
	h.Observe(1)
	if got := render(t, r)["h"].GetMetric()[0].GetHistogram().GetBucket()[0]; got.GetUpperBound() != 1 || got.GetCumulativeCount() != 1 {
		t.Errorf("histogram changed by caller mutation: first bucket %v", got)
	}
}

// TestNilMetrics checks that a component given no metrics can call them.
func TestNilMetrics(t *testing.T) {
	var (
		c *Counter
		g *Gauge
		h *Histogram
	)
	c.Inc()
	c.Add(3)
	g.Set(1)
	g.Add(1)
	h.Observe(1)
	h.ObserveDuration(time.Second)
	if c.Value() != 0 || g.Value() != 0 || h.Count() != 0 || h.Sum() != 0 {
		t.Error("nil metrics report values")
	}
}

func TestZeroAllocs(t *testing.T) {
	r := newBareRegistry()
	c := r.Counter("c_total", "C.")
	child := r.CounterVec("v_total", "V.", "reason", "device").With("category", "kid-tablet")
	cv := r.CounterVec("w_total", "W.", "reason")
	cv.With("schedule")
	g := r.Gauge("g", "G.")
	h := r.Histogram("h_seconds", "H.", ExponentialBuckets(0.0005, 2, 14))
	hchild := r.HistogramVec("hv_seconds", "HV.", ExponentialBuckets(0.0005, 2, 14), "upstream").With("tls://1.1.1.1")
	tests := []struct {
		name string
		f    func()
	}{
		{"Counter.Inc", func() { c.Inc() }},
		{"Counter.Add", func() { c.Add(7) }},
		{"CounterVec child Inc", func() { child.Inc() }},
		{"CounterVec.With existing child", func() { cv.With("schedule").Inc() }},
		{"Gauge.Set", func() { g.Set(3.5) }},
		{"Gauge.Add", func() { g.Add(-1) }},
		{"Histogram.Observe", func() { h.Observe(0.0123) }},
		{"Histogram.Observe +Inf", func() { h.Observe(1e9) }},
		{"Histogram.ObserveDuration", func() { h.ObserveDuration(3 * time.Millisecond) }},
		{"HistogramVec child Observe", func() { hchild.Observe(0.2) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tt.name, n)
		}
	}
}

// TestConcurrent records from many goroutines while others resolve the
// same children and scrape; run with -race. Final values must be exact.
func TestConcurrent(t *testing.T) {
	const (
		workers = 8
		perG    = 2000
	)
	r := newBareRegistry()
	c := r.Counter("c_total", "C.")
	cv := r.CounterVec("v_total", "V.", "device")
	g := r.Gauge("g", "G.")
	h := r.Histogram("h_seconds", "H.", []float64{1, 2})
	hv := r.HistogramVec("hv_seconds", "HV.", []float64{1}, "upstream")
	r.Collect("k", "K.", TypeGauge, []string{"w"}, func(emit EmitFunc) { emit(g.Value(), "x") })

	start := make(chan struct{})
	stop := make(chan struct{})
	scraped := make(chan error)
	go func() {
		// Scrape continuously until the workers finish, validating each.
		for {
			var b strings.Builder
			_, err := r.WriteTo(&b)
			if err == nil {
				p := expfmt.NewTextParser(model.LegacyValidation)
				_, err = p.TextToMetricFamilies(strings.NewReader(b.String()))
			}
			select {
			case <-stop:
				scraped <- err
				return
			default:
			}
			if err != nil {
				<-stop
				scraped <- err
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			shared := cv.With("shared") // every worker races to create it
			own := cv.With(fmt.Sprintf("dev%d", w))
			up := hv.With("up")
			for i := range perG {
				c.Inc()
				shared.Inc()
				own.Add(2)
				g.Add(1)
				h.Observe(float64(i % 3)) // 0, 1, 2: sums are exact
				up.Observe(0.5)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(stop)
	if err := <-scraped; err != nil {
		t.Fatalf("concurrent scrape: %v", err)
	}

	const total = workers * perG
	var le1, sum float64 // of h, from the values observed
	for i := range perG {
		v := float64(i % 3)
		sum += workers * v
		if v <= 1 {
			le1 += workers
		}
	}
	mfs := render(t, r)
	hist := mfs["h_seconds"].GetMetric()[0].GetHistogram()
	if got := hist.GetBucket()[0].GetCumulativeCount(); float64(got) != le1 {
		t.Errorf("h_seconds le=1 = %d, want %v", got, le1)
	}
	if hist.GetSampleCount() != total || hist.GetSampleSum() != sum {
		t.Errorf("h_seconds count %d sum %v, want %d %v", hist.GetSampleCount(), hist.GetSampleSum(), total, sum)
	}
	if s := mfs["hv_seconds"].GetMetric()[0].GetHistogram().GetSampleSum(); s != total/2 {
		t.Errorf("hv_seconds sum %v, want %v", s, total/2)
	}
	want := []struct {
		name   string
		labels []string
		v      float64
	}{
		{"c_total", nil, total},
		{"v_total", []string{"device=shared"}, total},
		{"v_total", []string{"device=dev0"}, 2 * perG},
		{"v_total", []string{"device=dev7"}, 2 * perG},
		{"g", nil, total},
		{"hv_seconds", []string{"upstream=up"}, total},
		{"k", []string{"w=x"}, total},
	}
	for _, w := range want {
		if got := value(t, mfs, w.name, w.labels...); got != w.v {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.v)
		}
	}
	if n := len(mfs["v_total"].GetMetric()); n != workers+1 {
		t.Errorf("v_total has %d series, want %d", n, workers+1)
	}
}
