package access

import (
	"math/bits"
	"sync"
)

// shards splits a table so that clients rarely wait on each other's lock.
const shards = 64

// table is a fixed-size set of token buckets keyed by a 64-bit hash. A new
// key takes over the slot its hash lands on, whoever held it: memory is
// fixed whatever clients send, and a flood of new keys can only make the
// limits forget (and so forgive) the keys it pushes out.
type table struct {
	shards [shards]shard
	mask   uint64 // slots per shard - 1
}

type shard struct {
	mu    sync.Mutex
	slots []slot
	_     [40]byte // keep shards' locks on separate cache lines
}

// slot is one bucket in GCRA form: tat is the theoretical arrival time of
// the next query in nanoseconds; a query is allowed while tat is no more
// than the burst ahead of now.
type slot struct {
	key uint64
	tat int64
}

// newTable makes a table of at least size slots.
func newTable(size int) *table {
	per := max(size/shards, 1)
	per = 1 << bits.Len(uint(per-1)) // round up to a power of two
	t := &table{mask: uint64(per - 1)}
	for i := range t.shards {
		t.shards[i].slots = make([]slot, per)
	}
	return t
}

// allow spends one token of key's bucket at now (nanoseconds). interval
// is the time one token takes to come back; burst is how far ahead of now
// the bucket may run, in the same unit (interval * burst size).
func (t *table) allow(key uint64, now, interval, burst int64) bool {
	sh := &t.shards[key%shards]
	sh.mu.Lock()
	s := &sh.slots[(key/shards)&t.mask]
	if s.key != key {
		*s = slot{key: key, tat: now}
	}
	tat := max(s.tat, now)
	ok := tat+interval-now <= burst
	if ok {
		s.tat = tat + interval
	}
	sh.mu.Unlock()
	return ok
}
