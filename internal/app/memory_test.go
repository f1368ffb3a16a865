package app

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hearth-dns/hearth/internal/config"
)

func TestMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name     string
		limit    string
		cacheMax string
		index    int64
		qlog     int64
		other    int64
		gomemlim string
		want     int64
	}{
		{"auto: base, cache budget, index and policy twice", "auto", "256MiB", 20 * mib, 0, 5 * mib, "", memoryBase + 256*mib + 40*mib + 10*mib},
		{"auto counts the query log's bound once", "auto", "100MiB", 0, 30 * mib, 0, "", memoryBase + 100*mib + 30*mib},
		{"empty reads as auto", "", "64MiB", 0, 0, 0, "", memoryBase + 64*mib},
		{"a million households' policy", "auto", "64MiB", 0, 0, 1500 * mib, "", memoryBase + 64*mib + 3000*mib},
		{"negative other (the cache counted high) adds nothing", "auto", "64MiB", 0, 0, -mib, "", memoryBase + 64*mib},
		{"a size", "512MiB", "64MiB", 20 * mib, 30 * mib, 0, "", 512 * mib},
		{"off", "off", "64MiB", 20 * mib, 30 * mib, 0, "", -1},
		{"GOMEMLIMIT in the environment wins", "auto", "64MiB", 20 * mib, 30 * mib, 0, "1GiB", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{MemoryLimit: tc.limit, Cache: config.Cache{MaxBytes: tc.cacheMax}}
			env := func(k string) string {
				if k == "GOMEMLIMIT" {
					return tc.gomemlim
				}
				return ""
			}
			if got := memoryLimit(cfg, tc.index, tc.qlog, tc.other, env); got != tc.want {
				t.Errorf("memoryLimit = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestAutoGCPercent: under memory_limit auto the heap grows gcHeadroom
// and a quarter of what is not the cache past the live heap between
// collections, within [minGCPercent, maxGCPercent].
func TestAutoGCPercent(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name         string
		live, cached int64
		want         int
	}{
		{"nothing known yet", 0, 0, maxGCPercent},
		{"negative", -1, 0, maxGCPercent},
		{"a home: small heap", 64 * mib, 16 * mib, maxGCPercent},
		{"no cache at 128 MiB: 32 + 32 MiB", 128 * mib, 0, 50},
		{"no cache at 256 MiB: 32 + 64 MiB", 256 * mib, 0, 37},
		{"a full 240 MiB cache: 32 + 4 MiB", 256 * mib, 240 * mib, 14},
		{"a cache of 320 MiB alone", 320 * mib, 320 * mib, 10},
		{"a huge cache", 4096 * mib, 4096 * mib, minGCPercent},
		{"a million households' policy and a cache", 2048 * mib, 256 * mib, 23},
		{"the cache counted above the live heap", 64 * mib, 100 * mib, 50},
	}
	for _, tc := range tests {
		if got := autoGCPercent(tc.live, tc.cached); got != tc.want {
			t.Errorf("%s: autoGCPercent(%d MiB, %d MiB cached) = %d, want %d", tc.name, tc.live/mib, tc.cached/mib, got, tc.want)
		}
	}
}

// TestGCPercent: memory_limit auto sets GOGC from the live heap
// (autoGCPercent), unless GOGC is in the environment or the limit is set
// by hand or off.
func TestGCPercent(t *testing.T) {
	const live, cached = 256 << 20, 240 << 20
	tests := []struct {
		limit, gogc string
		want        int
	}{
		{"auto", "", 14},
		{"", "", 14},
		{"auto", "100", -1},
		{"512MiB", "", -1},
		{"off", "", -1},
	}
	for _, tc := range tests {
		cfg := &config.Config{MemoryLimit: tc.limit}
		env := func(k string) string {
			if k == "GOGC" {
				return tc.gogc
			}
			return ""
		}
		if got := gcPercent(cfg, live, cached, env); got != tc.want {
			t.Errorf("memory_limit %q, GOGC %q: gcPercent = %d, want %d", tc.limit, tc.gogc, got, tc.want)
		}
	}
}

// TestTuneGC: the App follows the live heap every gcTuneInterval, and
// sets the runtime's GOGC to autoGCPercent of it.
func TestTuneGC(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Fatal("TestTuneGC needs GOGC unset: gcPercent leaves a GOGC from the environment alone")
	}
	// 100 is outside autoGCPercent's range: still 100 means not set.
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	gogc := func() int { p := debug.SetGCPercent(100); debug.SetGCPercent(p); return p }
	synctest.Test(t, func(t *testing.T) {
		a := &App{}
		a.cur.Store(&built{cfg: &config.Config{MemoryLimit: "auto"}})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { a.tuneGC(ctx); close(done) }()
		synctest.Wait()
		if got := gogc(); got != 100 {
			t.Fatalf("GOGC set to %d before the first interval", got)
		}
		// Between the two reads of the live heap the App read it too.
		runtime.GC()
		live0 := liveHeap()
		time.Sleep(gcTuneInterval)
		synctest.Wait()
		live1 := liveHeap()
		lo, hi := autoGCPercent(max(live0, live1), 0), autoGCPercent(min(live0, live1), 0)
		if got := gogc(); got < lo || got > hi {
			t.Errorf("after one interval, the runtime's GOGC is %d, want %d-%d (live heap %d-%d)", got, lo, hi, live0, live1)
		}
		cancel()
		<-done
	})
}
