package metrics

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// scrape fetches r over a real loopback HTTP server and returns the body,
// failing the test unless the status and headers are right.
func scrape(t *testing.T, r *Registry) string {
	t.Helper()
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, body %q", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Content-Type"); got != ContentType {
		t.Errorf("Content-Type %q, want %q", got, ContentType)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length %d, body %d bytes", resp.ContentLength, len(body))
	}
	return string(body)
}

// render returns r's exposition without HTTP.
func render(t *testing.T, r *Registry) string {
	t.Helper()
	var b strings.Builder
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	return b.String()
}

// TestExpositionGolden builds a registry with every kind of family and
// compares a scrape with the exact expected text.
func TestExpositionGolden(t *testing.T) {
	r := NewRegistry()
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
	sources := []struct {
		name    string
		entries int
		age     float64
	}{{"oisd", 120000, 3600.5}, {"local", 35, 0}}
	r.Collect("hearth_list_entries", "Domains in each block list source.", TypeGauge, []string{"source"},
		func(emit EmitFunc) {
			for _, s := range sources {
				emit(float64(s.entries), s.name)
			}
		})
	r.Collect("hearth_list_age_seconds", "Age of each block list source.", TypeGauge, []string{"source"},
		func(emit EmitFunc) {
			for _, s := range sources {
				if s.age > 0 {
					emit(s.age, s.name)
				}
			}
		})

	want := `# HELP hearth_blocked_total Queries blocked, by reason and device.
# TYPE hearth_blocked_total counter
hearth_blocked_total{reason="category",device="kid-tablet"} 3
hearth_blocked_total{reason="category",device="laptop"} 1
hearth_blocked_total{reason="schedule",device="kid-tablet"} 1
# HELP hearth_cache_entries Answers in the cache.
# TYPE hearth_cache_entries gauge
hearth_cache_entries 1234
# HELP hearth_inflight_queries Queries being answered.
# TYPE hearth_inflight_queries gauge
hearth_inflight_queries 1.5
# HELP hearth_list_age_seconds Age of each block list source.
# TYPE hearth_list_age_seconds gauge
hearth_list_age_seconds{source="oisd"} 3600.5
# HELP hearth_list_entries Domains in each block list source.
# TYPE hearth_list_entries gauge
hearth_list_entries{source="local"} 35
hearth_list_entries{source="oisd"} 120000
# HELP hearth_queries_total DNS queries received.
# TYPE hearth_queries_total counter
hearth_queries_total 42
# HELP hearth_query_duration_seconds Time to answer a query.
# TYPE hearth_query_duration_seconds histogram
hearth_query_duration_seconds_bucket{le="0.25"} 1
hearth_query_duration_seconds_bucket{le="1"} 3
hearth_query_duration_seconds_bucket{le="2"} 3
hearth_query_duration_seconds_bucket{le="+Inf"} 4
hearth_query_duration_seconds_sum 5.75
hearth_query_duration_seconds_count 4
# HELP hearth_upstream_duration_seconds Time to get an answer, by upstream.
# TYPE hearth_upstream_duration_seconds histogram
hearth_upstream_duration_seconds_bucket{upstream="tls://1.1.1.1",le="0.125"} 1
hearth_upstream_duration_seconds_bucket{upstream="tls://1.1.1.1",le="0.25"} 1
hearth_upstream_duration_seconds_bucket{upstream="tls://1.1.1.1",le="0.5"} 1
hearth_upstream_duration_seconds_bucket{upstream="tls://1.1.1.1",le="+Inf"} 1
hearth_upstream_duration_seconds_sum{upstream="tls://1.1.1.1"} 0.1
hearth_upstream_duration_seconds_count{upstream="tls://1.1.1.1"} 1
hearth_upstream_duration_seconds_bucket{upstream="udp://9.9.9.9",le="0.125"} 0
hearth_upstream_duration_seconds_bucket{upstream="udp://9.9.9.9",le="0.25"} 0
hearth_upstream_duration_seconds_bucket{upstream="udp://9.9.9.9",le="0.5"} 0
hearth_upstream_duration_seconds_bucket{upstream="udp://9.9.9.9",le="+Inf"} 1
hearth_upstream_duration_seconds_sum{upstream="udp://9.9.9.9"} 1
hearth_upstream_duration_seconds_count{upstream="udp://9.9.9.9"} 1
# HELP hearth_upstream_exchanges_total Exchanges sent upstream.
# TYPE hearth_upstream_exchanges_total counter
hearth_upstream_exchanges_total 7
`
	got := scrape(t, r)
	if got != want {
		t.Errorf("exposition mismatch\n--- got\n%s--- want\n%s", got, want)
	}
	if _, err := parseExposition(got); err != nil {
		t.Errorf("exposition does not validate: %v", err)
	}
	if again := render(t, r); again != got {
		t.Errorf("WriteTo differs from ServeHTTP\n%s", again)
	}
}

func TestEscaping(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantLabel string // inside the quotes of a label value
		wantHelp  string // after "# HELP name "
	}{
		{"plain", "kid tablet", `kid tablet`, `kid tablet`},
		{"backslash", `C:\dns`, `C:\\dns`, `C:\\dns`},
		{"quote", `say "hi"`, `say \"hi\"`, `say "hi"`},
		{"newline", "a\nb", `a\nb`, `a\nb`},
		{"all", "\\\"\n", `\\\"\n`, `\\"\n`},
		{"escape sequence is not re-read", `\n`, `\\n`, `\\n`},
		{"utf8 kept", "Zoë's iPad", `Zoë's iPad`, `Zoë's iPad`},
		{"invalid utf8 replaced", "a\xffb", "a\uFFFDb", "a\uFFFDb"},
		{"tab and carriage return kept", "a\tb\rc", "a\tb\rc", "a\tb\rc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			r.CounterVec("esc_total", tt.in, "device").With(tt.in).Inc()
			got := render(t, r)
			wantHelp := "# HELP esc_total " + tt.wantHelp + "\n"
			if !strings.HasPrefix(got, wantHelp) {
				t.Errorf("HELP line: got %q, want prefix %q", got, wantHelp)
			}
			wantSample := "\nesc_total{device=\"" + tt.wantLabel + "\"} 1\n"
			if !strings.Contains(got, wantSample) {
				t.Errorf("sample: got %q, want %q", got, wantSample)
			}
			samples, err := parseExposition(got)
			if err != nil {
				t.Fatalf("does not validate: %v\n%s", err, got)
			}
			// The parser unescapes; valid UTF-8 must round-trip.
			if utf8.ValidString(tt.in) {
				for _, s := range samples {
					if s.labels["device"] != tt.in {
						t.Errorf("round trip: got %q, want %q", s.labels["device"], tt.in)
					}
				}
			}
		})
	}
}

func TestHistogramBuckets(t *testing.T) {
	tests := []struct {
		name      string
		buckets   []float64
		observe   []float64
		wantCum   []uint64 // cumulative, one per bucket then +Inf
		wantSum   float64
		wantLe    []string
		wantNaNSm bool
	}{
		{
			name:    "boundaries are inclusive",
			buckets: []float64{1, 2, 5},
			observe: []float64{0, 1, 1.5, 2, 2.5, 5, 5.5, 100},
			wantCum: []uint64{2, 4, 6, 8},
			wantSum: 117.5,
			wantLe:  []string{"1", "2", "5", "+Inf"},
		},
		{
			name:    "trailing +Inf bucket is implied",
			buckets: []float64{0.5, math.Inf(1)},
			observe: []float64{0.25, 0.75},
			wantCum: []uint64{1, 2},
			wantSum: 1,
			wantLe:  []string{"0.5", "+Inf"},
		},
		{
			name:    "negative values and infinities",
			buckets: []float64{-1, 0},
			observe: []float64{-2, -1, -0.5, math.Inf(-1)},
			wantCum: []uint64{3, 4, 4},
			wantSum: math.Inf(-1),
			wantLe:  []string{"-1", "0", "+Inf"},
		},
		{
			name:      "NaN goes to +Inf",
			buckets:   []float64{1},
			observe:   []float64{0.5, math.NaN()},
			wantCum:   []uint64{1, 2},
			wantNaNSm: true,
			wantLe:    []string{"1", "+Inf"},
		},
		{
			name:    "no observations",
			buckets: ExponentialBuckets(0.001, 10, 3),
			wantCum: []uint64{0, 0, 0, 0},
			wantLe:  []string{"0.001", "0.01", "0.1", "+Inf"},
		},
		{
			name:    "many buckets",
			buckets: LinearBuckets(1, 1, 20),
			observe: []float64{1, 10, 10.5, 20, 21},
			wantCum: []uint64{1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 5},
			wantSum: 62.5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			h := r.Histogram("h_seconds", "H.", tt.buckets)
			for _, v := range tt.observe {
				h.Observe(v)
			}
			samples, err := parseExposition(render(t, r))
			if err != nil {
				t.Fatal(err)
			}
			var cum []uint64
			var le []string
			for _, s := range samples {
				if s.name == "h_seconds_bucket" {
					cum = append(cum, uint64(s.value))
					le = append(le, s.labels["le"])
				}
			}
			if fmt.Sprint(cum) != fmt.Sprint(tt.wantCum) {
				t.Errorf("cumulative buckets %v, want %v", cum, tt.wantCum)
			}
			if tt.wantLe != nil && fmt.Sprint(le) != fmt.Sprint(tt.wantLe) {
				t.Errorf("le %q, want %q", le, tt.wantLe)
			}
			n := uint64(len(tt.observe))
			if h.Count() != n || uint64(sampleValue(t, samples, "h_seconds_count")) != n {
				t.Errorf("count %d / %v, want %d", h.Count(), sampleValue(t, samples, "h_seconds_count"), n)
			}
			sum := sampleValue(t, samples, "h_seconds_sum")
			if tt.wantNaNSm {
				if !math.IsNaN(sum) || !math.IsNaN(h.Sum()) {
					t.Errorf("sum %v / %v, want NaN", sum, h.Sum())
				}
			} else if sum != tt.wantSum || h.Sum() != tt.wantSum {
				t.Errorf("sum %v / %v, want %v", sum, h.Sum(), tt.wantSum)
			}
		})
	}
}

func sampleValue(t *testing.T, samples []sample, series string) float64 {
	t.Helper()
	for _, s := range samples {
		if s.series == series {
			return s.value
		}
	}
	t.Fatalf("no series %s", series)
	return 0
}

func TestFloatFormat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{1, "1"},
		{-2.5, "-2.5"},
		{0.1, "0.1"},
		{1e-05, "1e-05"},
		{123456, "123456"},
		{1234567, "1.234567e+06"},
		{math.Inf(1), "+Inf"},
		{math.Inf(-1), "-Inf"},
		{math.NaN(), "NaN"},
	}
	for _, tt := range tests {
		if got := string(appendFloat(nil, tt.in)); got != tt.want {
			t.Errorf("appendFloat(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCollectErrors(t *testing.T) {
	tests := []struct {
		name    string
		collect func(emit EmitFunc)
		wantErr string
	}{
		{"too few label values", func(emit EmitFunc) { emit(1) }, "emitted 0 label values"},
		{"too many label values", func(emit EmitFunc) { emit(1, "a", "b") }, "emitted 2 label values"},
		{"same series twice", func(emit EmitFunc) { emit(1, "a"); emit(2, "b"); emit(3, "a") }, "{a} emitted twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
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

			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), tt.wantErr) {
				t.Errorf("ServeHTTP %d %q, want 500 with %q", rec.Code, rec.Body.String(), tt.wantErr)
			}
		})
	}
}

// TestCollectEmpty checks that a collector emitting nothing leaves its
// family out, like a vec without children.
func TestCollectEmpty(t *testing.T) {
	r := NewRegistry()
	r.Collect("empty", "Empty.", TypeCounter, nil, func(EmitFunc) {})
	if got := render(t, r); got != "" {
		t.Errorf("got %q, want nothing", got)
	}
}

func TestWriteToError(t *testing.T) {
	r := NewRegistry()
	r.Counter("c_total", "C.")
	if _, err := r.WriteTo(failWriter{}); !errors.Is(err, errFail) {
		t.Errorf("WriteTo error %v, want %v", err, errFail)
	}
}

var errFail = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFail }

// sample is one parsed sample line.
type sample struct {
	series string            // as written, e.g. `h_bucket{le="1"}`
	name   string            // metric name
	labels map[string]string // unescaped
	value  float64
}

// parseExposition checks that text is well-formed text exposition format
// 0.0.4 as this package writes it, and returns its samples in order. It is
// deliberately strict: every family has HELP then TYPE then at least one
// sample, families are contiguous and sorted, each sample's name belongs to
// its family, label names are valid and unique, values are escaped, and a
// histogram's buckets are cumulative, end with +Inf and agree with _count.
func parseExposition(text string) ([]sample, error) {
	if text == "" {
		return nil, nil
	}
	if !strings.HasSuffix(text, "\n") {
		return nil, errors.New("does not end in a newline")
	}
	var (
		samples  []sample
		seen     = map[string]bool{} // series
		families = map[string]bool{}
		family   string // current family
		typ      string
		help     bool
		prevFam  string
		nSamples int
		// histogram state for the current series
		lastLe  = math.Inf(-1)
		lastCum = -1.0
		infCum  = -1.0
	)
	endFamily := func() error {
		if family != "" && nSamples == 0 {
			return fmt.Errorf("family %s has no samples", family)
		}
		if infCum >= 0 || lastCum >= 0 {
			return fmt.Errorf("histogram %s: series not finished by _count", family)
		}
		return nil
	}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(format string, a ...any) error {
			return fmt.Errorf("line %d %q: %s", i+1, line, fmt.Sprintf(format, a...))
		}
		switch {
		case strings.HasPrefix(line, "# HELP "):
			rest := strings.TrimPrefix(line, "# HELP ")
			name, text, ok := strings.Cut(rest, " ")
			if !ok || !validMetricName(name) {
				return nil, fail("bad HELP")
			}
			if _, err := unescape(text, false); err != nil {
				return nil, fail("%v", err)
			}
			if err := endFamily(); err != nil {
				return nil, err
			}
			if families[name] {
				return nil, fail("family %s repeated", name)
			}
			if name < prevFam {
				return nil, fail("family %s after %s: not sorted", name, prevFam)
			}
			families[name] = true
			family, prevFam, typ, help, nSamples = name, name, "", true, 0
		case strings.HasPrefix(line, "# TYPE "):
			name, t, ok := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			if !ok || name != family || !help || typ != "" {
				return nil, fail("TYPE must follow the HELP of its family")
			}
			switch t {
			case "counter", "gauge", "histogram":
				typ = t
			default:
				return nil, fail("unknown type %q", t)
			}
		case line == "" || strings.HasPrefix(line, "#"):
			return nil, fail("unexpected blank or comment line")
		default:
			if typ == "" {
				return nil, fail("sample before TYPE")
			}
			s, err := parseSample(line)
			if err != nil {
				return nil, fail("%v", err)
			}
			if seen[s.series] {
				return nil, fail("duplicate series")
			}
			seen[s.series] = true
			nSamples++
			le, hasLe := s.labels["le"]
			switch {
			case typ != "histogram":
				if s.name != family {
					return nil, fail("sample name is not family %s", family)
				}
			case s.name == family+"_bucket":
				if !hasLe {
					return nil, fail("bucket without le")
				}
				bound, err := strconv.ParseFloat(le, 64)
				if err != nil {
					return nil, fail("le %q: %v", le, err)
				}
				if bound <= lastLe || s.value < lastCum {
					return nil, fail("buckets not increasing or not cumulative")
				}
				lastLe, lastCum = bound, s.value
				if math.IsInf(bound, 1) {
					infCum = s.value
				}
			case s.name == family+"_sum":
				if hasLe || infCum < 0 {
					return nil, fail("_sum must follow the +Inf bucket and have no le")
				}
			case s.name == family+"_count":
				if hasLe || s.value != infCum {
					return nil, fail("_count %v does not match +Inf bucket %v", s.value, infCum)
				}
				lastLe, lastCum, infCum = math.Inf(-1), -1, -1
			default:
				return nil, fail("sample name does not belong to histogram %s", family)
			}
			if typ != "histogram" && hasLe {
				return nil, fail("le label outside a histogram")
			}
			samples = append(samples, s)
		}
	}
	if err := endFamily(); err != nil {
		return nil, err
	}
	return samples, nil
}

// parseSample parses `name{label="value",...} value`.
func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	i := 0
	for i < len(line) && line[i] != '{' && line[i] != ' ' {
		i++
	}
	s.name = line[:i]
	if !validMetricName(s.name) {
		return s, fmt.Errorf("invalid metric name %q", s.name)
	}
	if i < len(line) && line[i] == '{' {
		i++
		for {
			j := strings.IndexByte(line[i:], '=')
			if j < 0 {
				return s, errors.New("label without =")
			}
			name := line[i : i+j]
			if !validLabelName(name) {
				return s, fmt.Errorf("invalid label name %q", name)
			}
			if _, dup := s.labels[name]; dup {
				return s, fmt.Errorf("duplicate label %q", name)
			}
			i += j + 1
			if i >= len(line) || line[i] != '"' {
				return s, errors.New("label value not quoted")
			}
			i++
			start := i
			for i < len(line) && line[i] != '"' {
				if line[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(line) {
				return s, errors.New("unterminated label value")
			}
			v, err := unescape(line[start:i], true)
			if err != nil {
				return s, err
			}
			s.labels[name] = v
			i++
			if i < len(line) && line[i] == ',' {
				i++
				continue
			}
			if i < len(line) && line[i] == '}' {
				i++
				break
			}
			return s, errors.New("expected , or } after label")
		}
	}
	s.series = line[:i]
	if i >= len(line) || line[i] != ' ' {
		return s, errors.New("no space before value")
	}
	val := line[i+1:]
	if strings.ContainsAny(val, " \t") {
		return s, fmt.Errorf("trailing fields after value %q", val)
	}
	v, err := strconv.ParseFloat(val, 64)
	if err != nil {
		return s, fmt.Errorf("value: %v", err)
	}
	s.value = v
	return s, nil
}

// unescape undoes the format's escaping: \\ and \n, and \" in label values.
// Any other escape, a raw newline, a bare quote in a label value or
// invalid UTF-8 is an error.
func unescape(s string, quoted bool) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("invalid UTF-8 in %q", s)
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			return "", fmt.Errorf("raw newline in %q", s)
		case c == '"' && quoted:
			return "", fmt.Errorf("unescaped quote in %q", s)
		case c != '\\':
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("trailing backslash in %q", s)
		}
		i++
		switch e := s[i]; {
		case e == '\\':
			b.WriteByte('\\')
		case e == 'n':
			b.WriteByte('\n')
		case e == '"' && quoted:
			b.WriteByte('"')
		default:
			return "", fmt.Errorf("bad escape \\%c in %q", e, s)
		}
	}
	return b.String(), nil
}

// TestParseExpositionRejects makes sure the validator used by the other
// tests can fail: each input has one format mistake.
func TestParseExpositionRejects(t *testing.T) {
	const head = "# HELP m_total M.\n# TYPE m_total counter\n"
	const hist = "# HELP h H.\n# TYPE h histogram\n"
	tests := []struct {
		name string
		text string
	}{
		{"no trailing newline", head + "m_total 1"},
		{"no value", head + "m_total\n"},
		{"two spaces", head + "m_total  1\n"},
		{"timestamp", head + "m_total 1 1700000000\n"},
		{"bad value", head + "m_total one\n"},
		{"bad metric name", head + "9m_total 1\n"},
		{"wrong family", head + "other_total 1\n"},
		{"unquoted label", head + "m_total{a=b} 1\n"},
		{"unterminated label", head + "m_total{a=\"b} 1\n"},
		{"unescaped quote", head + "m_total{a=\"b\"c\"} 1\n"},
		{"bad escape", head + "m_total{a=\"\\t\"} 1\n"},
		{"trailing comma", head + "m_total{a=\"b\",} 1\n"},
		{"bad label name", head + "m_total{a-b=\"c\"} 1\n"},
		{"duplicate label", head + "m_total{a=\"b\",a=\"c\"} 1\n"},
		{"duplicate series", head + "m_total 1\nm_total 2\n"},
		{"missing TYPE", "# HELP m_total M.\nm_total 1\n"},
		{"TYPE before HELP", "# TYPE m_total counter\n# HELP m_total M.\nm_total 1\n"},
		{"unknown type", "# HELP m M.\n# TYPE m summaryish\nm 1\n"},
		{"family without samples", head},
		{"unsorted families", "# HELP z Z.\n# TYPE z gauge\nz 1\n# HELP a A.\n# TYPE a gauge\na 1\n"},
		{"blank line", head + "\nm_total 1\n"},
		{"HELP bad escape", "# HELP m \\q\n# TYPE m gauge\nm 1\n"},
		{"invalid utf8", head + "m_total{a=\"\xff\"} 1\n"},
		{"bucket without le", hist + "h_bucket 1\nh_sum 1\nh_count 1\n"},
		{"buckets not cumulative", hist + "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"},
		{"no +Inf bucket", hist + "h_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n"},
		{"count disagrees", hist + "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n"},
		{"histogram cut short", hist + "h_bucket{le=\"+Inf\"} 1\n" + head + "m_total 1\n"},
		{"no count", hist + "h_bucket{le=\"+Inf\"} 2\nh_sum 1\n"},
		{"le outside histogram", head + "m_total{le=\"1\"} 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseExposition(tt.text); err == nil {
				t.Errorf("accepted:\n%s", tt.text)
			}
		})
	}
	ok := hist + "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n" +
		head + "m_total{a=\"x\\\\y\\\"z\\n\"} 1\n"
	if _, err := parseExposition(ok); err != nil {
		t.Errorf("rejected valid text: %v", err)
	}
}
