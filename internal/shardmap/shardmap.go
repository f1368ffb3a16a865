// Package shardmap is an immutable hash map for the tables a query reads
// at ISP scale (millions of devices, bindings and profiles): an edit
// returns a new Map that shares every shard it does not touch, so applying
// one change to a snapshot copies a few small shards instead of the whole
// table, and the old Map keeps serving the queries that loaded it.
//
// A Map splits its entries over a power-of-two number of small shards by
// a seeded hash of the key (hash/maphash), held in a three-level
// directory: a top of at most 64 pointers, mid nodes of 32 pointers and
// leaves of 32 shards. An edit copies the top, the mid node and the leaf
// above each shard it writes (about 2 KB at most) and the shard (about
// shardSize entries): a few microseconds whatever the size of the Map.
// The top and mid nodes (17 KB at most) stay in the CPU caches, so a
// lookup misses on the leaf and the slots, as it would with two levels.
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

// A shard index is split into the directory's top, mid and leaf levels,
// nodeBits each below the top; maxBits caps the shards at 65,536 (76
// entries each at 5 million), so the top has at most 64 entries.
const (
	nodeBits = 5
	nodeMask = 1<<nodeBits - 1
	maxBits  = 16
)

// slot is one entry of a shard. h is the upper half of the key's hash
// with its low bit set: 0 marks an empty slot.
type slot[K comparable, V any] struct {
	h uint32
	k K
	v V
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
		s.slots[p].v = v
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
	// top[i>>(2*nodeBits)].leaves[i>>nodeBits&nodeMask].shards[i&nodeMask]
	// is shard i.
	top  []*mid[K, V]
	bits uint
	n    int
	// per is the number of entries an empty shard is made for on its
	// first write: shards made at their final size are not grown.
	per int
}

// mid and leaf are the directory's nodes below its top. Each is copied
// on an edit's first write below it, and owner is the Editor that made
// the copy (nil for New's), so that the Editor writes its own copies in
// place and never copies one twice. owned marks the shards of a leaf
// whose slots its owner has copied.
type (
	mid[K comparable, V any] struct {
		owner  *Editor[K, V]
		leaves [1 << nodeBits]*leaf[K, V]
	}
	leaf[K comparable, V any] struct {
		owner  *Editor[K, V]
		owned  uint32
		shards [1 << nodeBits]shard[K, V]
	}
)

// New returns an empty Map sized for about sizeHint entries.
func New[K comparable, V any](sizeHint int) *Map[K, V] {
	bits := uint(0)
	for bits < maxBits && sizeHint > shardSize<<bits {
		bits++
	}
	m := &Map[K, V]{seed: maphash.MakeSeed(), bits: bits, top: make([]*mid[K, V], 1<<max(0, int(bits)-2*nodeBits))}
	// Only the nodes the shard indexes reach are made.
	leaves := 1 << max(0, int(bits)-nodeBits)
	for i := range m.top {
		m.top[i] = new(mid[K, V])
		for j := range min(leaves, 1<<nodeBits) {
			m.top[i].leaves[j] = new(leaf[K, V])
		}
	}
	if per := sizeHint >> bits; per > 0 {
		m.per = per + per/16
	}
	return m
}

// locate returns k's shard index and the hash kept in k's slot.
func (m *Map[K, V]) locate(k K) (i uint64, h uint32) {
	full := maphash.Comparable(m.seed, k)
	return full & (1<<m.bits - 1), uint32(full>>32) | 1
}

// shard returns shard i of m.
func (m *Map[K, V]) shard(i uint64) *shard[K, V] {
	return &m.top[i>>(2*nodeBits)].leaves[i>>nodeBits&nodeMask].shards[i&nodeMask]
}

// Get returns the value of k. It does not allocate.
func (m *Map[K, V]) Get(k K) (V, bool) {
	i, h := m.locate(k)
	return m.shard(i).get(h, k)
}

// Len returns the number of entries.
func (m *Map[K, V]) Len() int { return m.n }

// Shards returns the number of shards, for tests and benchmarks.
func (m *Map[K, V]) Shards() int { return 1 << m.bits }

// All yields every entry, in no particular order.
func (m *Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for i := range uint64(1) << m.bits {
			for _, sl := range m.shard(i).slots {
				if sl.h != 0 && !yield(sl.k, sl.v) {
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
	// next is the Map being made, nil until the first write; its top
	// is its own, and the nodes whose owner is this Editor.
	next *Map[K, V]
}

// Get returns the value of k as the edits so far leave it.
func (e *Editor[K, V]) Get(k K) (V, bool) {
	if e.next != nil {
		return e.next.Get(k)
	}
	return e.m.Get(k)
}

// writable returns k's shard in the new Map and k's slot hash, copying
// the top, the mid and leaf nodes above the shard and the shard's slots
// on their first write: about 2 KB beside the slots, whatever the size of
// the Map.
func (e *Editor[K, V]) writable(k K) (*shard[K, V], uint32) {
	if e.next == nil {
		next := *e.m
		next.top = slices.Clone(e.m.top)
		e.next = &next
	}
	i, h := e.next.locate(k)
	mp := &e.next.top[i>>(2*nodeBits)]
	if (*mp).owner != e {
		c := **mp
		c.owner = e
		*mp = &c
	}
	lp := &(*mp).leaves[i>>nodeBits&nodeMask]
	if (*lp).owner != e {
		c := **lp
		c.owner, c.owned = e, 0
		*lp = &c
	}
	l := *lp
	s := &l.shards[i&nodeMask]
	if bit := uint32(1) << (i & nodeMask); l.owned&bit == 0 {
		l.owned |= bit
		s.slots = slices.Clone(s.slots)
	}
	return s, h
}

// Put sets the value of k.
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
	m := e.next
	if m == nil {
		return e.m
	}
	// The nodes this Editor copied name it as their owner: it must not
	// keep the Map it started from, and the Maps before it, alive.
	e.m, e.next = nil, nil
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
