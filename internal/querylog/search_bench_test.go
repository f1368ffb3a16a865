package querylog

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/testutil/cycles"
)

// searchBenchRows is the size of BenchmarkSearch's log.
const searchBenchRows = 1_000_000

// BenchmarkSearch times searches over a log of searchBenchRows rows
// (benchEntries: 5,000 names over 10 devices, a quarter blocked), written
// at rate rows a second of the entries' time, in which rare.example is 5
// rows spread over the log. A rare name is the worst case of schema 3:
// each bucket that holds it is scanned whole, and a bucket holds
// rate*4.2 s rows.
func BenchmarkSearch(b *testing.B) {
	for _, rate := range []int{20_000, 200} {
		b.Run("rate="+strconv.Itoa(rate), func(b *testing.B) {
			w := searchBenchLog(b, rate)
			for _, bc := range []struct {
				name string
				q    Query
			}{
				{"device", Query{Device: "device-3"}},
				{"device-blocked", Query{Device: "device-2", Action: "blocked"}},
				{"rare-name", Query{Name: "rare.example"}},
				{"name-substring", Query{Name: "host12"}},
			} {
				b.Run(bc.name, func(b *testing.B) {
					ctx := context.Background()
					var rows int
					b.ReportAllocs()
					b.ResetTimer()
					cpu0 := cycles.ProcessCPU()
					for range b.N {
						got, err := w.Search(ctx, bc.q)
						if err != nil {
							b.Fatal(err)
						}
						rows = len(got)
					}
					b.ReportMetric(float64((cycles.ProcessCPU()-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
					b.ReportMetric(float64(rows), "rows")
				})
			}
		})
	}
}

func searchBenchLog(b *testing.B, rate int) *Writer {
	b.Helper()
	w, err := New(Config{Path: filepath.Join(b.TempDir(), "q.db"), TruncateIPv4Bits: 24})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	entries := benchEntries(65536, 5000)
	rare := make([]byte, 0, 16)
	rare = append(rare, "rare.example."...)
	ctx := context.Background()
	step := int64(time.Second) / int64(rate)
	for i := 0; i < searchBenchRows; {
		n := min(searchBenchRows-i, DefaultBuffer)
		for j := range n {
			e := entries[(i+j)%len(entries)]
			e.Time = t0.UnixNano() + int64(i+j)*step
			if (i+j)%(searchBenchRows/5) == searchBenchRows/10 {
				e.SetName(rare)
			}
			w.Log(&e)
		}
		if err := w.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		i += n
	}
	return w
}

// BenchmarkUpgradeV2 opens a version 2 log of searchBenchRows rows (the
// old DDL, filled by one INSERT ... SELECT: 5,000 names, 10 devices, a
// quarter blocked, 20,000 rows a second) and reports how long the
// upgrade to version 3 takes: New fills spans and drops the indexes
// before it returns.
func BenchmarkUpgradeV2(b *testing.B) {
	for range b.N {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "q.db")
		db, err := sql.Open("sqlite", path+"?_pragma=page_size(8192)")
		if err != nil {
			b.Fatal(err)
		}
		for _, stmt := range append(schema2[:len(schema2)-1:len(schema2)-1],
			`WITH RECURSIVE g(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM g WHERE value < 10)
				INSERT INTO strs (id, s) SELECT value, 'device-' || value FROM g`,
			`WITH RECURSIVE g(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM g WHERE value < 5000)
				INSERT INTO names (id, name) SELECT value, 'host' || value || '.example' FROM g`,
			fmt.Sprintf(`WITH RECURSIVE g(value) AS (SELECT 0 UNION ALL SELECT value + 1 FROM g WHERE value < %d)
				INSERT INTO log (time, device, name_id, action, rec)
				SELECT %d + value * 50, 1 + value %% 10, 1 + value %% 5000, value %% 4 = 0, x'01' FROM g`,
				searchBenchRows-1, t0.UnixMicro()),
			`PRAGMA user_version = 2`) {
			if _, err := db.Exec(stmt); err != nil {
				b.Fatalf("%.60s: %v", stmt, err)
			}
		}
		db.Close()
		b.StartTimer()
		cpu0 := cycles.ProcessCPU()
		w, err := New(Config{Path: path})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric((cycles.ProcessCPU() - cpu0).Seconds(), "cpu-s/op")
		b.StopTimer()
		w.Close()
	}
}
