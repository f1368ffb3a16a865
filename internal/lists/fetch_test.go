package lists

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// listServer is a loopback list server whose behaviour a test changes
// between fetches.
type listServer struct {
	mu      sync.Mutex
	handler http.HandlerFunc
	reqs    []*http.Request // headers of every request, in order
}

func newListServer(t *testing.T) (*listServer, *httptest.Server) {
	ls := &listServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ls.mu.Lock()
		ls.reqs = append(ls.reqs, r.Clone(context.Background()))
		h := ls.handler
		ls.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return ls, srv
}

func (ls *listServer) set(h http.HandlerFunc) {
	ls.mu.Lock()
	ls.handler = h
	ls.mu.Unlock()
}

func (ls *listServer) last() *http.Request {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.reqs[len(ls.reqs)-1]
}

// serveETag serves body with an ETag and answers a matching If-None-Match
// with 304.
func serveETag(body, etag string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2026 15:04:05 GMT")
		io.WriteString(w, body)
	}
}

func newFetcher(t *testing.T) (*Fetcher, string) {
	t.Helper()
	dir := t.TempDir()
	f, err := New(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f, dir
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if len(m) > 0 {
		t.Errorf("temporary files left behind: %q", m)
	}
}

func TestFetchConditional(t *testing.T) {
	ls, srv := newListServer(t)
	f, dir := newFetcher(t)
	src := Source{ID: "ads", URL: srv.URL + "/ads.txt", Format: FormatDomains}
	ctx := context.Background()

	if p, ok := f.Cached(src); ok {
		t.Fatalf("Cached before any fetch = %q, true", p)
	}

	const v1 = "a.example.com\nb.example.com\n"
	ls.set(serveETag(v1, `"v1"`))
	res, err := f.Fetch(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.ETag != `"v1"` || res.LastModified == "" || res.FetchedAt.IsZero() {
		t.Errorf("first fetch: %+v", res)
	}
	if got := readFile(t, res.Path); got != v1 {
		t.Errorf("copy = %q, want %q", got, v1)
	}
	if p, ok := f.Cached(src); !ok || p != res.Path {
		t.Errorf("Cached = %q, %v; want %q", p, ok, res.Path)
	}
	var m meta
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "ads.meta.json"))), &m); err != nil || m.ETag != `"v1"` {
		t.Errorf("sidecar = %+v, %v", m, err)
	}
	if h := ls.last().Header; h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" {
		t.Errorf("first request was conditional: %v", h)
	}

	// Second fetch: conditional, 304, copy kept.
	res2, err := f.Fetch(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	h := ls.last().Header
	if h.Get("If-None-Match") != `"v1"` || h.Get("If-Modified-Since") != "Mon, 02 Jan 2026 15:04:05 GMT" {
		t.Errorf("second request headers: If-None-Match %q, If-Modified-Since %q", h.Get("If-None-Match"), h.Get("If-Modified-Since"))
	}
	if res2.Changed || res2.Path != res.Path || res2.ETag != `"v1"` {
		t.Errorf("after 304: %+v", res2)
	}
	if got := readFile(t, res2.Path); got != v1 {
		t.Errorf("copy after 304 = %q", got)
	}

	// New content: replaced.
	const v2 = "c.example.com\n"
	ls.set(serveETag(v2, `"v2"`))
	res3, err := f.Fetch(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if !res3.Changed || res3.ETag != `"v2"` || readFile(t, res3.Path) != v2 {
		t.Errorf("after change: %+v, copy %q", res3, readFile(t, res3.Path))
	}

	// Same bytes again without validators: not reported as a change.
	ls.set(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, v2) })
	res4, err := f.Fetch(ctx, src)
	if err != nil || res4.Changed {
		t.Errorf("same content: %+v, %v", res4, err)
	}

	// A new URL for the same source: the old validators do not apply.
	src.URL = srv.URL + "/moved"
	if _, err := f.Fetch(ctx, src); err != nil {
		t.Fatal(err)
	}
	if h := ls.last().Header; h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" {
		t.Errorf("request to a new URL sent the old validators: %v", h)
	}
	noTempFiles(t, dir)
}

// TestFetchFailureKeepsCopy checks that no failed download replaces the
// last good copy and that the copy is returned with the error.
func TestFetchFailureKeepsCopy(t *testing.T) {
	const good = "good.example.com\n"
	big := strings.Repeat("x.example.com\n", 100) // 1400 bytes
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		io.WriteString(zw, s)
		zw.Close()
		return b.Bytes()
	}
	cases := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
	}{
		{"server error", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, "500"},
		{"not found", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, "404"},
		{"over MaxBytes with length", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, big)
		}, "exceeds the limit"},
		{"over MaxBytes chunked", func(w http.ResponseWriter, r *http.Request) {
			for range 100 {
				io.WriteString(w, "x.example.com\n")
				w.(http.Flusher).Flush()
			}
		}, "exceeds the limit"},
		{"gzip over MaxBytes after decompression", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gz(big))
		}, "exceeds the limit"},
		{"aborted download", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "500")
			io.WriteString(w, "partial.example.com\n")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}, "unexpected EOF"},
		{"aborted chunked download", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "partial.example.com\n")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}, "download after"},
		{"corrupt gzip", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			b := gz(good)
			b[len(b)-5] ^= 0xff // break the CRC
			w.Write(b)
		}, "checksum"},
		{"empty body", func(w http.ResponseWriter, r *http.Request) {}, "empty"},
		{"unknown encoding", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "br")
			io.WriteString(w, good)
		}, "content encoding"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // hold the response until the client gives up
		}, "deadline exceeded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ls, srv := newListServer(t)
			f, dir := newFetcher(t)
			// Only the timeout case waits for the timeout; the others get
			// one that a loaded machine (and the race detector) cannot
			// hit: 200 ms for every case made them fail with "deadline
			// exceeded" at a load average of 33.
			timeout := 30 * time.Second
			if tc.name == "timeout" {
				timeout = 200 * time.Millisecond
			}
			src := Source{ID: "list-1", URL: srv.URL, Format: FormatDomains, MaxBytes: 1000, Timeout: timeout}
			ls.set(serveETag(good, `"g"`))
			first, err := f.Fetch(context.Background(), src)
			if err != nil {
				t.Fatal(err)
			}
			ls.set(tc.handler) // fails whatever the validators say
			res, err := f.Fetch(context.Background(), src)
			if err == nil {
				t.Fatalf("no error; result %+v", res)
			}
			if !strings.Contains(err.Error(), `fetch list "list-1"`) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want it to name the list and contain %q", err, tc.wantErr)
			}
			if ls.last().Header.Get("If-None-Match") != `"g"` {
				t.Errorf("second request was not conditional")
			}
			if res.Path != first.Path || res.Changed || res.ETag != `"g"` {
				t.Errorf("result with error = %+v, want the last good copy %q", res, first.Path)
			}
			if got := readFile(t, first.Path); got != good {
				t.Errorf("copy replaced by %q", got)
			}
			noTempFiles(t, dir)
		})
	}
}

func TestFetchFailureWithoutCopy(t *testing.T) {
	ls, srv := newListServer(t)
	f, _ := newFetcher(t)
	ls.set(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) })
	src := Source{ID: "x", URL: srv.URL, Format: FormatHosts}
	res, err := f.Fetch(context.Background(), src)
	if err == nil || res.Path != "" {
		t.Errorf("Fetch = %+v, %v; want an error and no path", res, err)
	}
	if _, ok := f.Cached(src); ok {
		t.Error("Cached reports a copy after a failed first fetch")
	}
}

func TestFetchGzip(t *testing.T) {
	const body = "0.0.0.0 a.example.com\n"
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	io.WriteString(zw, body)
	zw.Close()
	for _, tc := range []struct {
		name     string
		encoding string
	}{
		{"content-encoding", "gzip"},
		{"gz file", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls, srv := newListServer(t)
			f, _ := newFetcher(t)
			ls.set(func(w http.ResponseWriter, r *http.Request) {
				if tc.encoding != "" {
					w.Header().Set("Content-Encoding", tc.encoding)
				} else {
					w.Header().Set("Content-Type", "application/gzip")
				}
				w.Write(b.Bytes())
			})
			res, err := f.Fetch(context.Background(), Source{ID: "gz", URL: srv.URL + "/list.gz", Format: FormatHosts})
			if err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, res.Path); got != body {
				t.Errorf("copy = %q, want the decompressed list", got)
			}
			if ae := ls.last().Header.Get("Accept-Encoding"); ae != "gzip" {
				t.Errorf("Accept-Encoding = %q", ae)
			}
		})
	}
}

func TestFetchFile(t *testing.T) {
	f, _ := newFetcher(t)
	path := filepath.Join(t.TempDir(), "local.txt")
	if err := os.WriteFile(path, []byte("a.example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := Source{ID: "local", File: path, Format: FormatDomains}
	if p, ok := f.Cached(src); !ok || p != path {
		t.Errorf("Cached = %q, %v", p, ok)
	}
	for i, want := range []bool{true, false} {
		res, err := f.Fetch(context.Background(), src)
		if err != nil || res.Path != path || res.Changed != want {
			t.Errorf("fetch %d: %+v, %v; want Changed %v", i, res, err, want)
		}
	}
	if err := os.WriteFile(path, []byte("a.example.com\nb.example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := f.Fetch(context.Background(), src); err != nil || !res.Changed {
		t.Errorf("after edit: %+v, %v; want Changed", res, err)
	}
	src.MaxBytes = 5
	if _, err := f.Fetch(context.Background(), src); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("file over MaxBytes: %v", err)
	}
	src.File = filepath.Join(t.TempDir(), "missing")
	if res, err := f.Fetch(context.Background(), src); err == nil || res.Path != "" {
		t.Errorf("missing file: %+v, %v", res, err)
	}
}

func TestSourceValidate(t *testing.T) {
	ok := Source{ID: "ut1.adult_v2-x", URL: "https://example.com/l.txt", Format: FormatDomains}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid source: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Source)
		want string
	}{
		{"empty id", func(s *Source) { s.ID = "" }, "invalid id"},
		{"path in id", func(s *Source) { s.ID = "../x" }, "invalid id"},
		{"dot id", func(s *Source) { s.ID = ".hidden" }, "invalid id"},
		{"no location", func(s *Source) { s.URL = "" }, "neither"},
		{"both", func(s *Source) { s.File = "/tmp/x" }, "both"},
		{"ftp", func(s *Source) { s.URL = "ftp://example.com/x" }, "http or https"},
		{"no host", func(s *Source) { s.URL = "https:///x" }, "http or https"},
		{"format", func(s *Source) { s.Format = "csv" }, "unknown list format"},
		{"negative", func(s *Source) { s.MaxBytes = -1 }, "negative"},
	} {
		s := ok
		tc.mod(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.want)
		}
	}
	f, _ := newFetcher(t)
	bad := ok
	bad.ID = "a/b"
	if _, err := f.Fetch(context.Background(), bad); err == nil {
		t.Error("Fetch accepted an invalid source")
	}
	if _, err := New("", nil, nil); err == nil {
		t.Error("New accepted an empty directory")
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	const body = "a.example.com\n"
	plain := filepath.Join(dir, "l.txt")
	os.WriteFile(plain, []byte(body), 0o644)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	io.WriteString(zw, body)
	zw.Close()
	gzPath := filepath.Join(dir, "l.txt.gz")
	os.WriteFile(gzPath, b.Bytes(), 0o644)
	for _, p := range []string{plain, gzPath} {
		rc, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != body {
			t.Errorf("Open(%s) read %q, %v", p, got, err)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing")); err == nil {
		t.Error("Open of a missing file: no error")
	}
}

// TestFetchThenParse is the caller's path: fetch, open the copy, parse.
func TestFetchThenParse(t *testing.T) {
	ls, srv := newListServer(t)
	f, _ := newFetcher(t)
	ls.set(serveETag("||a.example.com^\n@@||b.example.com^\n||x^\n", `"1"`))
	src := Source{ID: "ab", URL: srv.URL, Format: FormatAdblock}
	res, err := f.Fetch(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := Open(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	st, err := Parse(rc, src.Format, src.ParseOptions(), nil)
	if err != nil || st.Rules != 2 || st.Exceptions != 1 || st.Bad != 1 {
		t.Errorf("Parse = %+v, %v", st, err)
	}
}
