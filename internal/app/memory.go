package app

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

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

// Under memory_limit: auto the collector's GOGC follows the live heap:
// between collections the heap grows by gcHeadroom plus a quarter of the
// live heap that is not the cache's (GOGC 25 for that part, as before),
// within [minGCPercent, maxGCPercent]. Cached answers hold no pointers,
// so a collection costs little per cached byte (8-11 ms of CPU for a
// 246 MB heap that is mostly cache), and the headroom need not grow with
// the cache: a fixed GOGC 25 let a full 256 MiB cache grow 62 MiB past
// its live heap, and RSS after scripts/bench ended 11-24 MiB above
// Unbound's with the same budgets; GOGC 12-14 took 21-32 MiB off RSS
// (scripts/bench, bench-misses, bench-rss) for CPU per miss within the
// noise (docs/performance.md). A policy
// of a million households is pointers: it keeps its quarter, which
// collects it a quarter as often. A small heap gets the larger
// percentage: fewer collections, and the bytes are few.
const (
	gcHeadroom   = 32 << 20
	minGCPercent = 10
	maxGCPercent = 50
)

// autoGCPercent returns the GOGC that lets a live heap of live bytes, of
// which cached are the cache's, grow by gcHeadroom and a quarter of the
// rest, within [minGCPercent, maxGCPercent].
func autoGCPercent(live, cached int64) int {
	if live <= 0 {
		return maxGCPercent
	}
	growth := gcHeadroom + max(live-cached, 0)/4
	return int(min(max(100*growth/live, minGCPercent), maxGCPercent))
}

// gcPercent returns the GOGC to set for cfg and a live heap of live
// bytes, cached of them the cache's, or -1 to leave the runtime's: a GOGC
// in the environment (which the runtime has read already) wins, and only
// memory_limit auto changes it.
func gcPercent(cfg *config.Config, live, cached int64, env func(string) string) int {
	if env("GOGC") != "" {
		return -1
	}
	switch cfg.MemoryLimit {
	case "", "auto":
		return autoGCPercent(live, cached)
	}
	return -1
}

// gcTuneInterval is how often tuneGC follows the live heap: at full
// speed, cache misses add about 40 MB of answers in 10 s, so between two
// looks the headroom grows by a fifth at most.
const gcTuneInterval = 5 * time.Second

// tuneGC sets GOGC from the live heap every gcTuneInterval until ctx is
// done: the cache fills and empties between swaps of lists and policy,
// where updateMemoryLimit sets it.
func (a *App) tuneGC(ctx context.Context) {
	every(ctx, gcTuneInterval, func() {
		if b := a.cur.Load(); b != nil {
			a.setGCPercent(b, liveHeap())
		}
	})
}

// setGCPercent sets the collector's GOGC for b's config and cache and a
// live heap of live bytes (gcPercent).
func (a *App) setGCPercent(b *built, live int64) {
	if a.readOnly || b.cfg == nil {
		return
	}
	if p := gcPercent(b.cfg, live, b.cacheBytes(), os.Getenv); p > 0 {
		debug.SetGCPercent(p)
	}
}

// updateMemoryLimit sets the runtime's soft memory limit for b's config,
// index and policy, and its GOGC (setGCPercent). It runs after every swap
// of lists or policy: reading the live heap costs a few microseconds.
func (a *App) updateMemoryLimit(b *built) {
	if a.readOnly || b.cfg == nil {
		return
	}
	var index, logged int64
	if s := b.live.Load(); s != nil && s.Lists != nil {
		index = int64(s.Lists.Index.Bytes())
	}
	if a.qlog != nil {
		// Counted at its bound, not at what it holds now (its buffer,
		// part of the live heap read below).
		logged = a.qlog.MemoryBound()
	}
	live := liveHeap()
	if n := memoryLimit(b.cfg, index, logged, live-index-b.cacheBytes()-logged, os.Getenv); n > 0 {
		debug.SetMemoryLimit(n)
	}
	a.setGCPercent(b, live)
}

// cacheBytes returns the bytes of b's cache entries, 0 without a cache.
func (b *built) cacheBytes() int64 {
	if b.cache == nil {
		return 0
	}
	return b.cache.Bytes()
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
