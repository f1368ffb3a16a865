// Package shardmap is an immutable hash map for the tables a query reads
// at ISP scale (millions of devices, bindings and profiles): an edit
// returns a new Map that shares every shard it does not touch, so applying
// one change to a snapshot copies a few small shards instead of the whole
// table, and the old Map keeps serving the queries that loaded it.
//
// A Map splits its entries over a power-of-two number of small shards by
// a seeded hash of the key (hash/maphash), held in a two-level directory
// of at most 256 by 256 shards. An edit copies the directory's top (256
// entries at most), the leaf it touches (as many) and the shard (about
// shardSize entries): a few microseconds whatever the size of the Map.
// The number of shards is chosen from the size when the Map is built, and
// the Map is split again when it grows past four times that.
//
// A shard is one flat array of slots (hash, key, value) searched by linear
// probing, not a Go map: at a million households the tables far exceed
// the CPU caches, and a lookup costs what it misses. A Go map behind the
// directory is four or five dependent loads (map header, directory,
// table, group, key); a flat shard is one, plus the key's bytes for a
// string key. The slot's hash is compared before the key, so a string
// key is read only when it very likely matches.
package shardmap

import (
	"hash/maphash"
	"iter"
	"slices"
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

// slot is one entry of a shard. h is the upper half of the key's hash
// with its low bit set: 0 marks an empty slot. v comes before k so that a
// 4-byte value fills the word h starts: a string key and a uint32 value
// take 24 bytes, not 32.
type slot[K comparable, V any] struct {
	h uint32
	v V
	k K
}

// shard is an open-addressing table: slots at most 3/4 full, searched
// linearly (wrapping around) from the slot the hash names. Any number of
// slots works (the hash is scaled to it, not masked), so a shard is made
// at 2/3 full for its expected size rather than rounded up to a power of
// two, which would leave it between 3/8 and 3/4 full. It is never changed
// once a Map holds it; an Editor changes its own copy.
type shard[K comparable, V any] struct {
	slots []slot[K, V]
	n     int
}

// home returns the slot where a search for h starts.
func (s *shard[K, V]) home(h uint32) int { return int(uint64(h) * uint64(len(s.slots)) >> 32) }

// next returns the slot after p, wrapping around.
func (s *shard[K, V]) next(p int) int {
	if p++; p == len(s.slots) {
		return 0
	}
	return p
}

// find returns the slot holding k, or the empty slot where it would go,
// and whether k is there. s must have slots.
func (s *shard[K, V]) find(h uint32, k K) (int, bool) {
	for p := s.home(h); ; p = s.next(p) {
		sl := &s.slots[p]
		if sl.h == 0 {
			return p, false
		}
		if sl.h == h && sl.k == k {
			return p, true
		}
	}
}

func (s *shard[K, V]) get(h uint32, k K) (V, bool) {
	if len(s.slots) != 0 {
		if p, ok := s.find(h, k); ok {
			return s.slots[p].v, true
		}
	}
	var zero V
	return zero, false
}

// entry is get, with the key as the shard holds it.
func (s *shard[K, V]) entry(h uint32, k K) (K, V, bool) {
	if len(s.slots) != 0 {
		if p, ok := s.find(h, k); ok {
			return s.slots[p].k, s.slots[p].v, true
		}
	}
	var zk K
	var zv V
	return zk, zv, false
}

// slotsFor returns the number of slots a shard is made with for n
// entries: 2/3 full, so that a search for a missing key (a bound
// address has no device) scans three slots on average, not eight.
func slotsFor(n int) int { return max(8, n*3/2) }

// put sets k to v in s, which the caller owns, and reports whether k is
// new.
func (s *shard[K, V]) put(h uint32, k K, v V, sizeHint int) bool {
	if len(s.slots) == 0 {
		s.slots = make([]slot[K, V], slotsFor(max(sizeHint, 1)))
	}
	p, ok := s.find(h, k)
	if ok {
		// The key too, as a Go map does for a string: Entry returns the
		// one last put.
		s.slots[p].k, s.slots[p].v = k, v
		return false
	}
	if (s.n+1)*4 > len(s.slots)*3 {
		s.grow()
		p, _ = s.find(h, k)
	}
	s.slots[p] = slot[K, V]{h: h, k: k, v: v}
	s.n++
	return true
}

// grow doubles the slots of s, which the caller owns.
func (s *shard[K, V]) grow() {
	old := s.slots
	s.slots = make([]slot[K, V], 2*len(old))
	for _, sl := range old {
		if sl.h == 0 {
			continue
		}
		p := s.home(sl.h)
		for s.slots[p].h != 0 {
			p = s.next(p)
		}
		s.slots[p] = sl
	}
}

// delete removes k from s, which the caller owns, shifting back the
// entries after it so that no search stops early (no tombstones).
func (s *shard[K, V]) delete(h uint32, k K) bool {
	if len(s.slots) == 0 {
		return false
	}
	hole, ok := s.find(h, k)
	if !ok {
		return false
	}
	for j := s.next(hole); s.slots[j].h != 0; j = s.next(j) {
		// The entry at j may fill the hole unless its home lies
		// cyclically in (hole, j].
		home := s.home(s.slots[j].h)
		if hole <= j && hole < home && home <= j || hole > j && (hole < home || home <= j) {
			continue
		}
		s.slots[hole] = s.slots[j]
		hole = j
	}
	s.slots[hole] = slot[K, V]{}
	s.n--
	return true
}

// Map is an immutable map from K to V. The zero value is not usable; make
// one with New. A Map is safe for concurrent use: nothing changes it after
// Editor.Map returned it.
type Map[K comparable, V any] struct {
	seed maphash.Seed
	// dir[i>>leafBits][i&leafMask] is shard i.
	dir      [][]shard[K, V]
	bits     uint
	leafBits uint
	n        int
	// per is the number of entries an empty shard is made for on its
	// first write: shards made at their final size are not grown.
	per int
}

// New returns an empty Map sized for about sizeHint entries.
func New[K comparable, V any](sizeHint int) *Map[K, V] {
	bits := uint(0)
	for bits < maxBits && sizeHint > shardSize<<bits {
		bits++
	}
	lb := min(bits, leafBits)
	m := &Map[K, V]{seed: maphash.MakeSeed(), bits: bits, leafBits: lb, dir: make([][]shard[K, V], 1<<(bits-lb))}
	for i := range m.dir {
		m.dir[i] = make([]shard[K, V], 1<<lb)
	}
	if per := sizeHint >> bits; per > 0 {
		m.per = per + per/16
	}
	return m
}

// locate returns the directory position of k's shard and the hash kept
// in k's slot.
func (m *Map[K, V]) locate(k K) (top, leaf uint64, h uint32) {
	full := maphash.Comparable(m.seed, k)
	i := full & (1<<m.bits - 1)
	return i >> m.leafBits, i & (1<<m.leafBits - 1), uint32(full>>32) | 1
}

// Get returns the value of k. It does not allocate.
func (m *Map[K, V]) Get(k K) (V, bool) {
	t, l, h := m.locate(k)
	return m.dir[t][l].get(h, k)
}

// Entry returns the key equal to k as the Map holds it (the one last
// Put), and its value. A caller that keeps the key can keep the Map's
// copy rather than its own (for a string key: one copy of the bytes), or
// find what it stored beside the key. It does not allocate.
func (m *Map[K, V]) Entry(k K) (K, V, bool) {
	t, l, h := m.locate(k)
	return m.dir[t][l].entry(h, k)
}

// Len returns the number of entries.
func (m *Map[K, V]) Len() int { return m.n }

// Shards returns the number of shards, for tests and benchmarks.
func (m *Map[K, V]) Shards() int { return 1 << m.bits }

// All yields every entry, in no particular order.
func (m *Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for _, leaf := range m.dir {
			for i := range leaf {
				for _, sl := range leaf[i].slots {
					if sl.h != 0 && !yield(sl.k, sl.v) {
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
	// next is the Map being made, nil until the first write. owned[t]
	// is nil until next holds its own copy of leaf t, then marks the
	// shards of that leaf next holds its own copy of (so an edit's
	// bookkeeping grows with the leaves it touches, not the Map).
	next  *Map[K, V]
	owned []*[1 << leafBits / 64]uint64
}

// Get returns the value of k as the edits so far leave it.
func (e *Editor[K, V]) Get(k K) (V, bool) {
	if e.next != nil {
		return e.next.Get(k)
	}
	return e.m.Get(k)
}

// Entry is Get, with the key equal to k as the edits so far leave it.
func (e *Editor[K, V]) Entry(k K) (K, V, bool) {
	if e.next != nil {
		return e.next.Entry(k)
	}
	return e.m.Entry(k)
}

// writable returns k's shard in the new Map and k's slot hash, copying
// the directory, the leaf and the shard on their first write.
func (e *Editor[K, V]) writable(k K) (*shard[K, V], uint32) {
	if e.next == nil {
		next := *e.m
		next.dir = slices.Clone(e.m.dir)
		e.next, e.owned = &next, make([]*[1 << leafBits / 64]uint64, len(next.dir))
	}
	t, l, h := e.next.locate(k)
	own := e.owned[t]
	if own == nil {
		own = new([1 << leafBits / 64]uint64)
		e.owned[t] = own
		e.next.dir[t] = slices.Clone(e.next.dir[t])
	}
	s := &e.next.dir[t][l]
	if own[l/64]&(1<<(l%64)) == 0 {
		own[l/64] |= 1 << (l % 64)
		s.slots = slices.Clone(s.slots)
	}
	return s, h
}

// Put sets the value of k, and k as the key Entry returns.
func (e *Editor[K, V]) Put(k K, v V) {
	s, h := e.writable(k)
	if s.put(h, k, v, e.next.per) {
		e.next.n++
	}
}

// Delete removes k, if present.
func (e *Editor[K, V]) Delete(k K) {
	if _, ok := e.Get(k); !ok {
		return
	}
	s, h := e.writable(k)
	if s.delete(h, k) {
		e.next.n--
	}
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
