// Package shardmap is an immutable hash map for the tables a query reads
// at ISP scale (millions of devices, bindings and profiles): an edit
// returns a new Map that shares every shard it does not touch, so applying
// one change to a snapshot copies a few small shards instead of the whole
// table, and the old Map keeps serving the queries that loaded it.
//
// A Map splits its entries over a power-of-two number of Go maps by a
// seeded hash of the key (hash/maphash). The number of shards is chosen
// from the size when the Map is built or grows past four times its
// shards' target size, so that an edit copies about shardSize entries.
package shardmap

import (
	"hash/maphash"
	"iter"
	"maps"
)

// shardSize is the number of entries a shard aims at. An edit clones the
// shards it touches: at 1,024 entries a clone costs some 10 µs, and the
// shard table of a 5-million-entry map (4,096 pointers) 32 KB to copy.
const shardSize = 1024

// maxBits caps the shard table at 65,536 shards.
const maxBits = 16

// Map is an immutable map from K to V. The zero value is not usable; make
// one with New. A Map is safe for concurrent use: nothing changes it after
// Editor.Map returned it.
type Map[K comparable, V any] struct {
	seed   maphash.Seed
	shards []map[K]V // nil for an empty shard
	mask   uint64
	n      int
	// per is the size an empty shard is made at on its first write:
	// shards made at their final size are fuller than shards grown by
	// doubling (a Go map grows at 7/8 full, to half that).
	per int
}

// New returns an empty Map sized for about sizeHint entries.
func New[K comparable, V any](sizeHint int) *Map[K, V] {
	bits := 0
	for bits < maxBits && sizeHint > shardSize<<bits {
		bits++
	}
	m := &Map[K, V]{seed: maphash.MakeSeed(), shards: make([]map[K]V, 1<<bits), mask: 1<<bits - 1}
	if per := sizeHint >> bits; per > 0 {
		m.per = per + per/16
	}
	return m
}

// shard returns the index of k's shard.
func (m *Map[K, V]) shard(k K) uint64 { return maphash.Comparable(m.seed, k) & m.mask }

// Get returns the value of k. It does not allocate.
func (m *Map[K, V]) Get(k K) (V, bool) {
	v, ok := m.shards[m.shard(k)][k]
	return v, ok
}

// Len returns the number of entries.
func (m *Map[K, V]) Len() int { return m.n }

// Shards returns the number of shards, for tests and benchmarks.
func (m *Map[K, V]) Shards() int { return len(m.shards) }

// All yields every entry, in no particular order.
func (m *Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for _, s := range m.shards {
			for k, v := range s {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

// Edit returns an Editor that makes the next Map from m. m itself never
// changes.
func (m *Map[K, V]) Edit() *Editor[K, V] {
	return &Editor[K, V]{m: m}
}

// Editor collects the edits of one new Map. It is not safe for concurrent
// use, and must not be used after Map.
type Editor[K comparable, V any] struct {
	m *Map[K, V]
	// next is the Map being made, nil until the first write; owned marks
	// the shards next holds its own copy of.
	next  *Map[K, V]
	owned []bool
}

// Get returns the value of k as the edits so far leave it.
func (e *Editor[K, V]) Get(k K) (V, bool) {
	if e.next != nil {
		return e.next.Get(k)
	}
	return e.m.Get(k)
}

// writable returns k's shard in the new Map, cloned on first write.
func (e *Editor[K, V]) writable(k K) map[K]V {
	if e.next == nil {
		next := *e.m
		next.shards = append([]map[K]V(nil), e.m.shards...)
		e.next, e.owned = &next, make([]bool, len(next.shards))
	}
	i := e.next.shard(k)
	if !e.owned[i] {
		e.owned[i] = true
		if s := e.next.shards[i]; len(s) > 0 {
			e.next.shards[i] = maps.Clone(s)
		} else {
			e.next.shards[i] = make(map[K]V, e.next.per)
		}
	}
	return e.next.shards[i]
}

// Put sets the value of k.
func (e *Editor[K, V]) Put(k K, v V) {
	s := e.writable(k)
	if _, ok := s[k]; !ok {
		e.next.n++
	}
	s[k] = v
}

// Delete removes k, if present.
func (e *Editor[K, V]) Delete(k K) {
	if _, ok := e.Get(k); !ok {
		return
	}
	s := e.writable(k)
	delete(s, k)
	e.next.n--
}

// Map returns the Map after the edits: m itself when there were none.
// A Map that outgrew its shards is split again here, a cost paid once
// each time the table quadruples.
func (e *Editor[K, V]) Map() *Map[K, V] {
	if e.next == nil {
		return e.m
	}
	m := e.next
	e.next, e.owned = nil, nil
	if len(m.shards) < 1<<maxBits && m.n > 4*shardSize*len(m.shards) {
		grown := New[K, V](m.n)
		ge := grown.Edit()
		for k, v := range m.All() {
			ge.Put(k, v)
		}
		return ge.Map()
	}
	return m
}
