// Package shardmap is an immutable hash map for the tables a query reads
// at ISP scale (millions of devices, bindings and profiles): an edit
// returns a new Map that shares every shard it does not touch, so applying
// one change to a snapshot copies a few small shards instead of the whole
// table, and the old Map keeps serving the queries that loaded it.
//
// A Map splits its entries over a power-of-two number of small Go maps by
// a seeded hash of the key (hash/maphash), held in a two-level directory
// of at most 256 by 256 shards. An edit copies the directory's top (256
// pointers at most), the leaf it touches (as many) and the shard (about
// shardSize entries): a few microseconds whatever the size of the Map.
// The number of shards is chosen from the size when the Map is built, and
// the Map is split again when it grows past four times that.
package shardmap

import (
	"hash/maphash"
	"iter"
	"maps"
)

// shardSize is the number of entries a shard aims at: cloning one costs
// a few microseconds.
const shardSize = 128

// leafBits splits a shard index into the directory's top and leaf;
// maxBits caps the shards at 65,536 (76 entries each at 5 million).
const (
	leafBits = 8
	maxBits  = 16
)

// Map is an immutable map from K to V. The zero value is not usable; make
// one with New. A Map is safe for concurrent use: nothing changes it after
// Editor.Map returned it.
type Map[K comparable, V any] struct {
	seed maphash.Seed
	// dir[i>>leafBits][i&leafMask] is shard i, nil when empty.
	dir      [][]map[K]V
	bits     uint
	leafBits uint
	n        int
	// per is the size an empty shard is made at on its first write:
	// shards made at their final size are fuller than shards grown by
	// doubling (a Go map grows at 7/8 full, to half that).
	per int
}

// New returns an empty Map sized for about sizeHint entries.
func New[K comparable, V any](sizeHint int) *Map[K, V] {
	bits := uint(0)
	for bits < maxBits && sizeHint > shardSize<<bits {
		bits++
	}
	lb := min(bits, leafBits)
	m := &Map[K, V]{seed: maphash.MakeSeed(), bits: bits, leafBits: lb, dir: make([][]map[K]V, 1<<(bits-lb))}
	for i := range m.dir {
		m.dir[i] = make([]map[K]V, 1<<lb)
	}
	if per := sizeHint >> bits; per > 0 {
		m.per = per + per/16
	}
	return m
}

// shard returns the directory position of k's shard.
func (m *Map[K, V]) shard(k K) (top, leaf uint64) {
	h := maphash.Comparable(m.seed, k) & (1<<m.bits - 1)
	return h >> m.leafBits, h & (1<<m.leafBits - 1)
}

// Get returns the value of k. It does not allocate.
func (m *Map[K, V]) Get(k K) (V, bool) {
	t, l := m.shard(k)
	v, ok := m.dir[t][l][k]
	return v, ok
}

// Len returns the number of entries.
func (m *Map[K, V]) Len() int { return m.n }

// Shards returns the number of shards, for tests and benchmarks.
func (m *Map[K, V]) Shards() int { return 1 << m.bits }

// All yields every entry, in no particular order.
func (m *Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for _, leaf := range m.dir {
			for _, s := range leaf {
				for k, v := range s {
					if !yield(k, v) {
						return
					}
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
	// next is the Map being made, nil until the first write. ownLeaf
	// marks the leaves next holds its own copy of, ownShard the shards.
	next     *Map[K, V]
	ownLeaf  map[uint64]bool
	ownShard map[uint64]bool
}

// Get returns the value of k as the edits so far leave it.
func (e *Editor[K, V]) Get(k K) (V, bool) {
	if e.next != nil {
		return e.next.Get(k)
	}
	return e.m.Get(k)
}

// writable returns k's shard in the new Map, copying the directory, the
// leaf and the shard on their first write.
func (e *Editor[K, V]) writable(k K) map[K]V {
	if e.next == nil {
		next := *e.m
		next.dir = append([][]map[K]V(nil), e.m.dir...)
		e.next, e.ownLeaf, e.ownShard = &next, map[uint64]bool{}, map[uint64]bool{}
	}
	t, l := e.next.shard(k)
	if !e.ownLeaf[t] {
		e.ownLeaf[t] = true
		e.next.dir[t] = append([]map[K]V(nil), e.next.dir[t]...)
	}
	if i := t<<e.next.leafBits | l; !e.ownShard[i] {
		e.ownShard[i] = true
		if s := e.next.dir[t][l]; len(s) > 0 {
			e.next.dir[t][l] = maps.Clone(s)
		} else {
			e.next.dir[t][l] = make(map[K]V, e.next.per)
		}
	}
	return e.next.dir[t][l]
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
	e.next, e.ownLeaf, e.ownShard = nil, nil, nil
	if m.bits < maxBits && m.n > 4*shardSize<<m.bits {
		grown := New[K, V](m.n)
		ge := grown.Edit()
		for k, v := range m.All() {
			ge.Put(k, v)
		}
		return ge.Map()
	}
	return m
}
