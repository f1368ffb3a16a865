package app

import (
	"os"
	"runtime/debug"
	"runtime/metrics"

	"github.com/hearth-dns/hearth/internal/config"
)

// memoryBase is what Hearth holds besides the cache, the lists, the
// policy and the query log: the runtime's own memory (stacks, metadata),
// listeners and upstream buffers, and the collector's headroom. With the
// log off and a full 100 MiB cache the live heap is the cache's and 2-3
// MB more (scripts/bench-misses, docs/performance.md); the rest is room.
// It was 64 MiB while the query log's memory (up to 120 MB with every
// name new, about 40 MB measured) was taken from it.
const memoryBase = 48 << 20

// memoryLimit returns the soft memory limit for the garbage collector, in
// bytes, or -1 to leave the runtime's own (memory_limit: off, or a
// GOMEMLIMIT in the environment, which the runtime has read already).
//
// With "auto" it is the sum of the budgets: memoryBase, the cache's
// max_bytes, the query log's bound logBytes (querylog.MemoryBound; 0 with
// the log off), twice the list index (while a new index is built the old
// one still serves) and twice the rest of the live heap, other (the
// policy snapshot, which a million households make large, and which is
// rebuilt beside the one serving). Without a limit the collector lets the heap
// grow to twice the live heap before it runs (GOGC=100), so a full cache
// costs twice its budget in RSS; with one, it collects earlier as the heap
// nears the limit, and the headroom is what the budgets leave.
func memoryLimit(cfg *config.Config, indexBytes, logBytes, other int64, env func(string) string) int64 {
	if env("GOMEMLIMIT") != "" {
		return -1
	}
	switch cfg.MemoryLimit {
	case "off":
		return -1
	case "", "auto":
		cache, _ := config.ParseBytes(cfg.Cache.MaxBytes) // checked by Validate
		return memoryBase + cache + logBytes + 2*indexBytes + 2*max(other, 0)
	}
	n, _ := config.ParseBytes(cfg.MemoryLimit) // checked by Validate
	return n
}

// autoGCPercent is the collector's GOGC under memory_limit: auto. With
// the default of 100 the heap grows to twice the live heap between
// collections, and with a cache of a million answers that headroom was
// most of the RSS. 50 took 80 MiB off at 800,000 names for 8 % more CPU
// per cache miss; 25 takes 23 MiB more off at 1.5 M names (a heap goal
// of 1.25 times the live heap; 344 MiB, Unbound 356 with the same
// budgets) for CPU per miss equal within the noise (scripts/bench-rss,
// scripts/bench-misses, docs/performance.md). Hits allocate nothing, and
// collections are cheap since cached answers hold no pointers: more of
// them cost little.
const autoGCPercent = 25

// gcPercent returns the GOGC to set for cfg, or -1 to leave the
// runtime's: a GOGC in the environment (which the runtime has read
// already) wins, and only memory_limit auto changes it.
func gcPercent(cfg *config.Config, env func(string) string) int {
	if env("GOGC") != "" {
		return -1
	}
	switch cfg.MemoryLimit {
	case "", "auto":
		return autoGCPercent
	}
	return -1
}

// updateMemoryLimit sets the runtime's soft memory limit for b's config,
// index and policy, and its GOGC (gcPercent). It runs after every swap of
// lists or policy: reading the live heap costs a few microseconds.
func (a *App) updateMemoryLimit(b *built) {
	if a.readOnly || b.cfg == nil {
		return
	}
	var index, cached, logged int64
	if s := b.live.Load(); s != nil && s.Lists != nil {
		index = int64(s.Lists.Index.Bytes())
	}
	if b.cache != nil {
		cached = b.cache.Bytes()
	}
	if a.qlog != nil {
		// Counted at its bound, not at what it holds now (its buffer,
		// part of the live heap read below).
		logged = a.qlog.MemoryBound()
	}
	if n := memoryLimit(b.cfg, index, logged, liveHeap()-index-cached-logged, os.Getenv); n > 0 {
		debug.SetMemoryLimit(n)
	}
	if p := gcPercent(b.cfg, os.Getenv); p > 0 {
		debug.SetGCPercent(p)
	}
}

// liveHeap returns the heap the last garbage collection found live.
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}
