package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlite"
)

// syncedBackend is a Backend whose policy is always in step: the import
// is measured alone, without a resolver rebuilding its policy beside it.
type syncedBackend struct{ Backend }

func (syncedBackend) Sync(context.Context) error { return nil }

// BenchmarkImportAlone is BenchmarkImportBindings of internal/app without
// the running resolver: the HTTP stream, the line checks and the SQLite
// store only. HEARTH_BENCH_IMPORT_LINES sets the size (default 10000).
func BenchmarkImportAlone(b *testing.B) {
	lines := 10000
	if s := os.Getenv("HEARTH_BENCH_IMPORT_LINES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 1<<24 {
			b.Fatalf("HEARTH_BENCH_IMPORT_LINES=%q: want 1 to %d", s, 1<<24)
		}
		lines = n
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, &sqlite.Config{Path: filepath.Join(b.TempDir(), "hearth.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	for h := range 1000 {
		if _, err := s.PutHousehold(ctx, store.Household{ID: fmt.Sprintf("h%d", h)}); err != nil {
			b.Fatal(err)
		}
	}
	a := &API{c: Config{Store: s, Backend: syncedBackend{}, Now: time.Now}, log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(http.HandlerFunc(a.importBindings))
	b.Cleanup(srv.Close)
	next := 0
	for b.Loop() {
		first := next
		next += lines
		pr, pw := io.Pipe()
		go func() {
			for i := first; i < first+lines; i++ {
				if _, err := fmt.Fprintf(pw, "{\"kind\":\"ipv4\",\"key\":\"10.%d.%d.%d\",\"household\":\"h%d\"}\n", i>>16&255, i>>8&255, i&255, i%1000); err != nil {
					return
				}
			}
			pw.Close()
		}()
		start := time.Now()
		resp, err := http.Post(srv.URL, "application/x-ndjson", pr)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("import: %d %s", resp.StatusCode, body)
		}
		b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(lines), "ns/binding")
	}
}
