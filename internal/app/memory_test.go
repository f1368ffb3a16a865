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
		gomemlim string
		want     int64
	}{
		{"auto: base, cache budget, index twice", "auto", "256MiB", 20 * mib, "", memoryBase + 256*mib + 40*mib},
		{"empty reads as auto", "", "64MiB", 0, "", memoryBase + 64*mib},
		{"a size", "512MiB", "64MiB", 20 * mib, "", 512 * mib},
		{"off", "off", "64MiB", 20 * mib, "", -1},
		{"GOMEMLIMIT in the environment wins", "auto", "64MiB", 20 * mib, "1GiB", -1},
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
			if got := memoryLimit(cfg, tc.index, env); got != tc.want {
				t.Errorf("memoryLimit = %d, want %d", got, tc.want)
			}
		})
	}
}
