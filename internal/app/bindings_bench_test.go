package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// BenchmarkImportBindings imports HEARTH_BENCH_IMPORT_LINES (default
// 10000) new IPv4 bindings, spread over 1000 households, in one NDJSON
// import through the running API, on SQLite and on PostgreSQL (through
// scripts/postgres), up to the answer: the import has then been stored
// and the running policy has it. Run a million with
//
//	HEARTH_BENCH_IMPORT_LINES=1000000 scripts/postgres go test -run XXX \
//	  -bench ImportBindings -benchtime 1x -timeout 30m ./internal/app/
func BenchmarkImportBindings(b *testing.B) {
	lines := 10000
	if s := os.Getenv("HEARTH_BENCH_IMPORT_LINES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 1<<24 {
			b.Fatalf("HEARTH_BENCH_IMPORT_LINES=%q: want 1 to %d", s, 1<<24)
		}
		lines = n
	}
	for _, backend := range []struct {
		name  string
		store func(b *testing.B) string
	}{
		{"sqlite", func(*testing.B) string { return "" }},
		{"postgres", func(b *testing.B) string { return pgStoreConfig(b) }},
	} {
		b.Run(backend.name, func(b *testing.B) {
			e := startHTTP(b, apiConfig(b)+backend.store(b), dnstest.Zone(b))
			c := newAPIClient(b, e)
			c.http.Timeout = 0 // a million lines take longer than the client's default
			ctx := context.Background()
			for h := range 1000 {
				if _, err := e.app.store.PutHousehold(ctx, store.Household{ID: fmt.Sprintf("h%d", h)}); err != nil {
					b.Fatal(err)
				}
			}
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
				code, res := c.importNDJSON(pr, "application/x-ndjson")
				pr.Close()
				if code != http.StatusOK || res.Changed != lines {
					b.Fatalf("import: %d %+v", code, res)
				}
				b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(lines), "ns/binding")
			}
		})
	}
}
