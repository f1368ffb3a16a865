package querylog

import (
	"context"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/testutil/cycles"
)

// benchEntries returns n entries with names drawn from a pool of
// distinct names (0 = every name new), over 10 devices, a quarter
// blocked with a tag and an explanation.
func benchEntries(n, distinctNames int) []Entry {
	devices := make([]string, 10)
	for i := range devices {
		devices[i] = "device-" + strconv.Itoa(i)
	}
	tags := []string{"ads", "gambling", "tiktok", "adult"}
	out := make([]Entry, n)
	for i := range out {
		e := &out[i]
		e.Time = t0.UnixNano() + int64(i)*int64(time.Millisecond)
		e.Client = netip.AddrFrom4([4]byte{192, 168, 1, byte(i % 250)})
		e.Device = devices[i%len(devices)]
		e.Profile = "kid"
		e.Reason = "none"
		e.QType = []uint16{1, 28, 65}[i%3]
		e.Transport = TransportUDP
		e.Duration = uint32(i % 5000)
		e.Cached = i%2 == 0
		k := i
		if distinctNames > 0 {
			k = i % distinctNames
		}
		e.SetName([]byte("host" + strconv.Itoa(k) + ".service-" + strconv.Itoa(k%97) + ".example.com."))
		if i%4 == 0 {
			e.Action, e.Reason, e.Tag = ActionBlocked, "tag", tags[i%len(tags)]
			e.SetText([]byte("blocked: category=" + e.Tag + " source=hagezi-" + e.Tag + " rule=example.com profile=kid"))
		} else {
			e.SetText([]byte("allowed: no-rule"))
		}
	}
	return out
}

// BenchmarkWriterThroughput logs b.N entries and writes them, a buffer
// at a time, to a fresh file; rows/s is the writer's rate.
func BenchmarkWriterThroughput(b *testing.B) {
	for _, bc := range []struct {
		name     string
		distinct int
		step     int64 // between entries, in nanoseconds
		held     bool  // write as the writer goroutine does, not Flush
	}{
		{"names=5000", 5000, 50_000, false},
		{"names=all-new", 0, 50_000, false},
		// The cache-hits run at full load: 1,000 names at 130,000
		// queries a second, written as the writer goroutine does (rows
		// held until their second is over, so that a row stands for
		// dozens of entries) with the clock at the last entry's time.
		{"names=1000-130k", 1000, 7_692, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pool := 65536
			if bc.distinct == 0 {
				pool = min(b.N, 1<<19) // every name new, up to 512k rows
			}
			entries := benchEntries(pool, bc.distinct)
			var last atomic.Int64
			last.Store(t0.UnixNano())
			cfg := Config{Path: filepath.Join(b.TempDir(), "q.db"), TruncateIPv4Bits: 24}
			if bc.held {
				cfg.Now = func() time.Time { return time.Unix(0, last.Load()) }
			}
			w, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cycles.ProcessCPU()
			for i := 0; i < b.N; {
				n := min(b.N-i, DefaultBuffer)
				for j := range n {
					e := &entries[(i+j)%len(entries)]
					// 20,000 queries a second (or step's rate), logged up
					// to 6 ms out of order, as slow upstream answers are.
					e.Time = t0.UnixNano() + int64(i+j)*bc.step - int64((i+j)%7)*1_000_000
					w.Log(e)
					last.Store(max(last.Load(), e.Time))
				}
				i += n
				if bc.held && i < b.N {
					if err := w.write(ctx, keepOpen); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if err := w.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
			// Per CPU second too: the wall-clock rate moves with the load
			// of a shared machine, the CPU cost much less.
			b.ReportMetric(float64(b.N)/(cycles.ProcessCPU()-cpu0).Seconds(), "rows/cpu-s")
			if s := w.Stats(); s.Dropped != 0 || s.Written != uint64(b.N) {
				b.Fatalf("stats %+v, want %d written and no drops", s, b.N)
			}
			// How many table rows the entries became: repeats of one
			// second share a row.
			var stored int64
			if err := w.db.QueryRow(`SELECT count(*) FROM log`).Scan(&stored); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(stored)/float64(b.N), "stored/entry")
		})
	}
}

// BenchmarkLogParallel measures Log from all Ps at once. In "accepting"
// each goroutine also empties the buffer every 1024 calls (an infinitely
// fast writer, without the scheduling of a separate goroutine), so Log
// takes the accepting path; in "full" nothing drains and Log drops.
func BenchmarkLogParallel(b *testing.B) {
	for _, drain := range []bool{true, false} {
		name := "full"
		if drain {
			name = "accepting"
		}
		b.Run(name, func(b *testing.B) {
			w, err := New(Config{Path: filepath.Join(b.TempDir(), "q.db")})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			entries := benchEntries(1024, 1000)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					w.Log(&entries[i%len(entries)])
					i++
					if drain && i%1024 == 0 {
						w.mu.Lock()
						w.head = (w.head + w.n) % len(w.ring)
						w.n = 0
						w.mu.Unlock()
					}
				}
			})
			b.StopTimer()
			s := w.Stats()
			b.ReportMetric(float64(s.Dropped)/float64(b.N), "drops/op")
			w.mu.Lock()
			w.n = 0 // nothing to write at Close
			w.mu.Unlock()
		})
	}
}

// BenchmarkSustained20kQPS feeds 20,000 entries a second (paced by a
// ticker: the load itself, not synchronisation) for b.N seconds, with the
// writer goroutine running as in production, and reports how many entries
// were dropped: the target is 0. Run with -benchtime 3x.
func BenchmarkSustained20kQPS(b *testing.B) {
	w := newWriter(b, Config{})
	w.Start(context.Background())
	const rate, tick = 20_000, 5 * time.Millisecond
	entries := benchEntries(rate, 2000)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	b.ResetTimer()
	want := rate * b.N
	total := 0
	start := time.Now()
	for total < want {
		<-ticker.C
		// Catch up when ticks were missed, so the rate holds.
		due := min(want, int(time.Since(start)*rate/time.Second))
		for ; total < due; total++ {
			w.Log(&entries[total%len(entries)])
		}
	}
	flush(b, w)
	s := w.Stats()
	b.ReportMetric(float64(s.Dropped), "dropped")
	b.ReportMetric(float64(s.Written), "written")
	if s.Dropped != 0 || s.Failed != 0 {
		b.Errorf("at %d/s: %+v, want no drops", rate, s)
	}
}
