package app

import (
	"os"
	"runtime/debug"

	"github.com/hearth-dns/hearth/internal/config"
)

// memoryBase is what Hearth holds besides the cache and the lists: the
// runtime, listeners, buffers, the query log's queue, the store's pages.
// Measured idle at 20-30 MiB of RSS (scripts/bench); the rest is room.
const memoryBase = 64 << 20

// memoryLimit returns the soft memory limit for the garbage collector, in
// bytes, or -1 to leave the runtime's own (memory_limit: off, or a
// GOMEMLIMIT in the environment, which the runtime has read already).
// With "auto" it is the sum of the budgets: the cache's max_bytes, twice
// the list index (while a new one is built the old one still serves), and
// memoryBase. Without a limit the collector lets the heap grow to twice
// the live heap before it runs (GOGC=100), so a full cache costs twice
// its budget in RSS; with one, it collects earlier as the heap nears the
// limit, and the headroom is what the budgets leave.
func memoryLimit(cfg *config.Config, indexBytes int64, env func(string) string) int64 {
	if env("GOMEMLIMIT") != "" {
		return -1
	}
	switch cfg.MemoryLimit {
	case "off":
		return -1
	case "", "auto":
		cache, _ := config.ParseBytes(cfg.Cache.MaxBytes) // checked by Validate
		return memoryBase + cache + 2*indexBytes
	}
	n, _ := config.ParseBytes(cfg.MemoryLimit) // checked by Validate
	return n
}

// setMemoryLimit sets the runtime's soft memory limit for cfg and an index
// of indexBytes, and returns it (-1: left as it was).
func setMemoryLimit(cfg *config.Config, indexBytes int64) int64 {
	n := memoryLimit(cfg, indexBytes, os.Getenv)
	if n > 0 {
		debug.SetMemoryLimit(n)
	}
	return n
}
