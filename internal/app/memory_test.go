package app

import (
	"testing"

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

// TestGCPercent: memory_limit auto sets GOGC 25 (a heap goal of 1.25
// times the live heap: RSS at most Unbound's, docs/performance.md),
// unless GOGC is in the environment or the limit is set by hand or off.
func TestGCPercent(t *testing.T) {
	tests := []struct {
		limit, gogc string
		want        int
	}{
		{"auto", "", 25},
		{"", "", 25},
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
		if got := gcPercent(cfg, env); got != tc.want {
			t.Errorf("memory_limit %q, GOGC %q: gcPercent = %d, want %d", tc.limit, tc.gogc, got, tc.want)
		}
	}
}
