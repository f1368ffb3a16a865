package metrics

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches r over a real loopback HTTP server with the given Accept
// header ("" for none) and returns the Content-Type and body, failing the
// test unless the status is 200.
func scrape(t *testing.T, r *Registry, accept string) (contentType, body string) {
	t.Helper()
	srv := httptest.NewServer(r)
	defer srv.Close()
	code, ct, b := get(t, srv.URL+"/metrics", accept)
	if code != http.StatusOK {
		t.Fatalf("status %d, body %q", code, b)
	}
	return ct, b
}

func get(t *testing.T, url, accept string) (code int, contentType, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// parse parses a text-format exposition with Prometheus's own parser,
// which rejects any format mistake.
func parse(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, body)
	}
	return mfs
}

// render returns r's exposition without HTTP, parsed.
func render(t *testing.T, r *Registry) map[string]*dto.MetricFamily {
	t.Helper()
	var b strings.Builder
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	return parse(t, b.String())
}

// value returns the value of the series of family name whose labels are
// exactly labels ("k=v" pairs, any order); for a histogram, its count. It
// fails the test if there is no such series.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("no family %s", name)
	}
	for _, m := range mf.GetMetric() {
		var got []string
		for _, l := range m.GetLabel() {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(labels))) {
			continue
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// buildHearthLike registers one family of every kind, as Hearth does.
func buildHearthLike(r *Registry) {
	r.Counter("hearth_queries_total", "DNS queries received.").Add(42)
	blocked := r.CounterVec("hearth_blocked_total", "Queries blocked, by reason and device.", "reason", "device")
	blocked.With("schedule", "kid-tablet").Inc()
	blocked.With("category", "laptop").Inc()
	blocked.With("category", "kid-tablet").Add(3)
	r.CounterVec("hearth_unused_total", "A vec with no series is left out.", "x")
	r.GaugeFunc("hearth_cache_entries", "Answers in the cache.", func() float64 { return 1234 })
	r.CounterFunc("hearth_upstream_exchanges_total", "Exchanges sent upstream.", func() float64 { return 7 })
	g := r.Gauge("hearth_inflight_queries", "Queries being answered.")
	g.Set(3)
	g.Add(-1.5)
	h := r.Histogram("hearth_query_duration_seconds", "Time to answer a query.", []float64{0.25, 1, 2})
	for _, v := range []float64{0.25, 0.5, 1, 4} {
		h.Observe(v)
	}
	hv := r.HistogramVec("hearth_upstream_duration_seconds", "Time to get an answer, by upstream.",
		ExponentialBuckets(0.125, 2, 3), "upstream")
	hv.With("udp://9.9.9.9").Observe(1)
	hv.With("tls://1.1.1.1").ObserveDuration(100 * time.Millisecond)
	r.Collect("hearth_list_entries", "Domains in each block list source.", TypeGauge, []string{"source"},
		func(emit EmitFunc) {
			emit(120000, "oisd")
			emit(35, "local")
		})
}

// TestExposition scrapes every kind of family over HTTP and checks, with
// Prometheus's parser, that each appears with its type, help and values.
func TestExposition(t *testing.T) {
	r := newBareRegistry()
	buildHearthLike(r)
	ct, body := scrape(t, r, "")
	if want := "text/plain; version=0.0.4"; !strings.HasPrefix(ct, want) {
		t.Errorf("Content-Type %q, want %q", ct, want)
	}
	mfs := parse(t, body)
	tests := []struct {
		name   string
		typ    dto.MetricType
		help   string
		labels []string
		want   float64
	}{
		{"hearth_queries_total", dto.MetricType_COUNTER, "DNS queries received.", nil, 42},
		{"hearth_blocked_total", dto.MetricType_COUNTER, "Queries blocked, by reason and device.", []string{"reason=category", "device=kid-tablet"}, 3},
		{"hearth_blocked_total", dto.MetricType_COUNTER, "Queries blocked, by reason and device.", []string{"reason=schedule", "device=kid-tablet"}, 1},
		{"hearth_cache_entries", dto.MetricType_GAUGE, "Answers in the cache.", nil, 1234},
		{"hearth_upstream_exchanges_total", dto.MetricType_COUNTER, "Exchanges sent upstream.", nil, 7},
		{"hearth_inflight_queries", dto.MetricType_GAUGE, "Queries being answered.", nil, 1.5},
		{"hearth_query_duration_seconds", dto.MetricType_HISTOGRAM, "Time to answer a query.", nil, 4},
		{"hearth_upstream_duration_seconds", dto.MetricType_HISTOGRAM, "Time to get an answer, by upstream.", []string{"upstream=tls://1.1.1.1"}, 1},
		{"hearth_list_entries", dto.MetricType_GAUGE, "Domains in each block list source.", []string{"source=oisd"}, 120000},
		{"hearth_list_entries", dto.MetricType_GAUGE, "Domains in each block list source.", []string{"source=local"}, 35},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.name, tt.labels), func(t *testing.T) {
			mf := mfs[tt.name]
			if mf == nil {
				t.Fatalf("family %s missing", tt.name)
			}
			if mf.GetType() != tt.typ || mf.GetHelp() != tt.help {
				t.Errorf("type %v help %q, want %v %q", mf.GetType(), mf.GetHelp(), tt.typ, tt.help)
			}
			if got := value(t, mfs, tt.name, tt.labels...); got != tt.want {
				t.Errorf("value %v, want %v", got, tt.want)
			}
		})
	}
	if _, ok := mfs["hearth_unused_total"]; ok {
		t.Error("a vec with no series is exposed")
	}
	if len(mfs) != 8 {
		t.Errorf("%d families, want 8: %v", len(mfs), slices.Sorted(func(yield func(string) bool) {
			for k := range mfs {
				if !yield(k) {
					return
				}
			}
		}))
	}
	// Buckets are cumulative and le is inclusive.
	var cum []string
	for _, b := range mfs["hearth_query_duration_seconds"].GetMetric()[0].GetHistogram().GetBucket() {
		cum = append(cum, fmt.Sprintf("%g:%d", b.GetUpperBound(), b.GetCumulativeCount()))
	}
	if got, want := strings.Join(cum, " "), "0.25:1 1:3 2:3 +Inf:4"; got != want {
		t.Errorf("buckets %s, want %s", got, want)
	}
	if sum := mfs["hearth_query_duration_seconds"].GetMetric()[0].GetHistogram().GetSampleSum(); sum != 5.75 {
		t.Errorf("sum %v, want 5.75", sum)
	}
}

// TestOpenMetrics checks that a scraper asking for OpenMetrics gets it.
func TestOpenMetrics(t *testing.T) {
	r := newBareRegistry()
	buildHearthLike(r)
	ct, body := scrape(t, r, "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
	if !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("Content-Type %q, want OpenMetrics", ct)
	}
	for _, want := range []string{
		"# TYPE hearth_queries counter\n",
		"hearth_queries_total 42.0\n",
		"# TYPE hearth_query_duration_seconds histogram\n",
		`hearth_query_duration_seconds_bucket{le="+Inf"} 4` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("OpenMetrics body lacks %q:\n%s", want, body)
		}
	}
	if !strings.HasSuffix(body, "# EOF\n") {
		t.Errorf("OpenMetrics body does not end with # EOF")
	}
}

// TestRuntimeCollectors checks that NewRegistry exposes the Go runtime and
// process collectors beside Hearth's own families.
func TestRuntimeCollectors(t *testing.T) {
	r := NewRegistry()
	r.Counter("hearth_queries_total", "Q.").Inc()
	_, body := scrape(t, r, "")
	mfs := parse(t, body)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_open_fds", "hearth_queries_total"} {
		if mfs[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	if v := value(t, mfs, "process_resident_memory_bytes"); v <= 0 {
		t.Errorf("process_resident_memory_bytes = %v", v)
	}
}

// TestInvalidUTF8LabelValues: a label value is often a name an API user
// typed (a list or device id). Invalid UTF-8 in one must neither panic
// (client_golang's With does) nor fail the scrape (its const metrics do):
// it is replaced, and every other series is still served.
func TestInvalidUTF8LabelValues(t *testing.T) {
	r := newBareRegistry()
	cv := r.CounterVec("hearth_x_total", "X.", "device")
	hv := r.HistogramVec("hearth_y_seconds", "Y.", []float64{1}, "upstream")
	r.Collect("hearth_source_rules", "Rules.", TypeGauge, []string{"source"}, func(emit EmitFunc) {
		emit(3, "bad\xffsource")
		emit(4, "good")
	})
	if msg := catchPanic(func() {
		cv.With("kid\xfftablet").Inc()
		hv.With("\xc3").Observe(0.5)
	}); msg != "" {
		t.Fatalf("With panicked on invalid UTF-8: %s", msg)
	}
	mfs := parse(t, mustScrape(t, r))
	if got := value(t, mfs, "hearth_x_total", "device=kid\uFFFDtablet"); got != 1 {
		t.Errorf("hearth_x_total = %v, want 1", got)
	}
	if got := value(t, mfs, "hearth_y_seconds", "upstream=\uFFFD"); got != 1 {
		t.Errorf("hearth_y_seconds count = %v, want 1", got)
	}
	if got := value(t, mfs, "hearth_source_rules", "source=bad\uFFFDsource"); got != 3 {
		t.Errorf("bad source = %v, want 3", got)
	}
	if got := value(t, mfs, "hearth_source_rules", "source=good"); got != 4 {
		t.Errorf("good source = %v, want 4", got)
	}
}

func mustScrape(t *testing.T, r *Registry) string {
	t.Helper()
	_, body := scrape(t, r, "")
	return body
}

// TestEscaping checks that help texts and label values with characters
// the format escapes round-trip through a scrape.
func TestEscaping(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"plain", "kid tablet"},
		{"backslash", `C:\dns`},
		{"quote", `say "hi"`},
		{"newline", "a\nb"},
		{"all", "\\\"\n"},
		{"escape sequence is not re-read", `\n`},
		{"utf8 kept", "Zoë's iPad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newBareRegistry()
			r.CounterVec("esc_total", tt.in, "device").With(tt.in).Inc()
			mfs := parse(t, mustScrape(t, r))
			if got := mfs["esc_total"].GetHelp(); got != tt.in {
				t.Errorf("help %q, want %q", got, tt.in)
			}
			if got := mfs["esc_total"].GetMetric()[0].GetLabel()[0].GetValue(); got != tt.in {
				t.Errorf("label %q, want %q", got, tt.in)
			}
		})
	}
}

func TestCollectErrors(t *testing.T) {
	tests := []struct {
		name    string
		collect func(emit EmitFunc)
		wantErr string
	}{
		{"too few label values", func(emit EmitFunc) { emit(1) }, "inconsistent label cardinality"},
		{"too many label values", func(emit EmitFunc) { emit(1, "a", "b") }, "inconsistent label cardinality"},
		{"same series twice", func(emit EmitFunc) { emit(1, "a"); emit(2, "b"); emit(3, "a") }, "collected before with the same name and label values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newBareRegistry()
			r.Counter("fine_total", "Fine.").Inc()
			r.Collect("bad", "Bad.", TypeGauge, []string{"source"}, tt.collect)

			var b strings.Builder
			_, err := r.WriteTo(&b)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("WriteTo error %v, want %q", err, tt.wantErr)
			}
			if b.Len() != 0 {
				t.Errorf("WriteTo wrote %q despite the error", b.String())
			}

			srv := httptest.NewServer(r)
			defer srv.Close()
			code, _, body := get(t, srv.URL+"/metrics", "")
			if code != http.StatusInternalServerError || !strings.Contains(body, tt.wantErr) {
				t.Errorf("GET /metrics %d %q, want 500 with %q", code, body, tt.wantErr)
			}
		})
	}
}

// TestCollectEmpty checks that a collector emitting nothing leaves its
// family out, like a vec without children.
func TestCollectEmpty(t *testing.T) {
	r := newBareRegistry()
	r.Collect("empty", "Empty.", TypeCounter, nil, func(EmitFunc) {})
	if got := mustScrape(t, r); got != "" {
		t.Errorf("got %q, want nothing", got)
	}
}

// TestScrapesInFlightCapped: scrapes gather every family, so a client with
// a metrics token must not pile them up. Scrapes beyond the cap get 503
// while the first ones are held (by a collector waiting on a channel).
func TestScrapesInFlightCapped(t *testing.T) {
	r := newBareRegistry()
	entered := make(chan struct{}, maxScrapesInFlight)
	release := make(chan struct{})
	r.GaugeFunc("slow", "Slow.", func() float64 {
		entered <- struct{}{}
		<-release
		return 1
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	var wg sync.WaitGroup
	codes := make(chan int, maxScrapesInFlight)
	for range maxScrapesInFlight {
		wg.Go(func() {
			code, _, _ := get(t, srv.URL+"/metrics", "")
			codes <- code
		})
	}
	for range maxScrapesInFlight {
		<-entered // every held scrape is inside the registry
	}
	code, _, _ := get(t, srv.URL+"/metrics", "")
	close(release)
	wg.Wait()
	close(codes)
	if code != http.StatusServiceUnavailable {
		t.Errorf("scrape beyond the cap: %d, want 503", code)
	}
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("held scrape: %d, want 200", c)
		}
	}
}

func TestWriteToError(t *testing.T) {
	r := newBareRegistry()
	r.Counter("c_total", "C.")
	if _, err := r.WriteTo(failWriter{}); !errors.Is(err, errFail) {
		t.Errorf("WriteTo error %v, want %v", err, errFail)
	}
}

var errFail = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFail }

func TestHistogramBuckets(t *testing.T) {
	tests := []struct {
		name      string
		buckets   []float64
		observe   []float64
		wantCum   []uint64 // cumulative, one per bucket then +Inf
		wantSum   float64
		wantNaNSm bool
	}{
		{"boundaries are inclusive", []float64{1, 2, 5}, []float64{0, 1, 1.5, 2, 2.5, 5, 5.5, 100}, []uint64{2, 4, 6, 8}, 117.5, false},
		{"trailing +Inf bucket is implied", []float64{0.5, math.Inf(1)}, []float64{0.25, 0.75}, []uint64{1, 2}, 1, false},
		{"negative values and infinities", []float64{-1, 0}, []float64{-2, -1, -0.5, math.Inf(-1)}, []uint64{3, 4, 4}, math.Inf(-1), false},
		{"NaN goes to +Inf", []float64{1}, []float64{0.5, math.NaN()}, []uint64{1, 2}, 0, true},
		{"no observations", ExponentialBuckets(0.001, 10, 3), nil, []uint64{0, 0, 0, 0}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newBareRegistry()
			h := r.Histogram("h_seconds", "H.", tt.buckets)
			for _, v := range tt.observe {
				h.Observe(v)
			}
			hist := render(t, r)["h_seconds"].GetMetric()[0].GetHistogram()
			var cum []uint64
			for _, b := range hist.GetBucket() {
				cum = append(cum, b.GetCumulativeCount())
			}
			if fmt.Sprint(cum) != fmt.Sprint(tt.wantCum) {
				t.Errorf("cumulative buckets %v, want %v", cum, tt.wantCum)
			}
			n := uint64(len(tt.observe))
			if h.Count() != n || hist.GetSampleCount() != n {
				t.Errorf("count %d / %d, want %d", h.Count(), hist.GetSampleCount(), n)
			}
			if tt.wantNaNSm {
				if !math.IsNaN(hist.GetSampleSum()) || !math.IsNaN(h.Sum()) {
					t.Errorf("sum %v / %v, want NaN", hist.GetSampleSum(), h.Sum())
				}
			} else if hist.GetSampleSum() != tt.wantSum || h.Sum() != tt.wantSum {
				t.Errorf("sum %v / %v, want %v", hist.GetSampleSum(), h.Sum(), tt.wantSum)
			}
		})
	}
}
