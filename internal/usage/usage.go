// Package usage keeps per-household query counters: what an ISP keeps
// instead of a raw query log (mode: isp). Each household has a count of
// its queries, of its blocked queries, and of its blocked queries by
// category; nothing says which names were asked.
//
// The table has a fixed size chosen at start, so no client can grow it: an
// open-addressing array of slots keyed by a 64-bit hash of the household
// id, claimed with a compare-and-swap and counted with atomic adds. A
// query costs a hash and a few atomic operations: no lock, no allocation,
// no I/O. The array holds no pointers, so the garbage collector never
// scans it, and pages no household touched are never written.
//
// Two household ids with the same 64-bit hash would share a slot: with a
// million households the chance that any two do is about 3 in 10^8. A
// household that finds no slot within maxProbe (the table is full) is not
// counted; Overflow says how many queries that lost, and the operator
// sizes the table up.
package usage

import (
	"fmt"
	"hash/maphash"
	"math/bits"
	"sync/atomic"
)

// MaxCategories bounds the categories a table counts.
const MaxCategories = 24

// maxProbe is how many slots a household looks at before giving up.
const maxProbe = 32

// Config configures a Table.
type Config struct {
	// Households is how many households the table is sized for; it
	// holds twice as many slots (rounded up to a power of two), so that
	// probes stay short. At least 1.
	Households int
	// Categories are the category ids blocked queries are counted by,
	// in order; at most MaxCategories.
	Categories []string
}

// slot is one household's counters. hash 0 is a free slot.
type slot struct {
	hash     atomic.Uint64
	queries  atomic.Uint64
	blocked  atomic.Uint64
	category [MaxCategories]atomic.Uint32
}

// Table is the per-household counter table. It is safe for concurrent
// use.
type Table struct {
	slots      []slot
	mask       uint64
	seed       maphash.Seed
	categories []string
	overflow   atomic.Uint64
	used       atomic.Int64
}

// New validates c and returns an empty table.
func New(c Config) (*Table, error) {
	if c.Households < 1 {
		return nil, fmt.Errorf("usage: households %d: want at least 1", c.Households)
	}
	if c.Households > 1<<28 {
		return nil, fmt.Errorf("usage: households %d: at most %d", c.Households, 1<<28)
	}
	if len(c.Categories) > MaxCategories {
		return nil, fmt.Errorf("usage: %d categories: at most %d", len(c.Categories), MaxCategories)
	}
	n := uint64(1) << bits.Len64(uint64(2*c.Households-1))
	return &Table{
		slots:      make([]slot, n),
		mask:       n - 1,
		seed:       maphash.MakeSeed(),
		categories: append([]string(nil), c.Categories...),
	}, nil
}

// NoCategory is the category index of a blocked query that no category
// decided (a pause, a deny rule).
const NoCategory = -1

// Count records one query of household: blocked or not, and for a blocked
// one the index in Config.Categories of the category that blocked it, or
// NoCategory.
func (t *Table) Count(household string, blocked bool, category int) {
	s := t.claim(t.hash(household))
	if s == nil {
		t.overflow.Add(1)
		return
	}
	s.queries.Add(1)
	if blocked {
		s.blocked.Add(1)
		if category >= 0 && category < len(t.categories) {
			s.category[category].Add(1)
		}
	}
}

// hash is the slot key of a household id: never 0, the free mark.
func (t *Table) hash(household string) uint64 {
	return maphash.String(t.seed, household) | 1
}

// claim returns the slot of h, taking a free one if h has none, or nil
// when none is free within maxProbe.
func (t *Table) claim(h uint64) *slot {
	i := h & t.mask
	for range maxProbe {
		s := &t.slots[i]
		switch cur := s.hash.Load(); cur {
		case h:
			return s
		case 0:
			if s.hash.CompareAndSwap(0, h) {
				t.used.Add(1)
				return s
			}
			if s.hash.Load() == h {
				return s // another query of the same household took it
			}
		}
		i = (i + 1) & t.mask
	}
	return nil
}

// find returns the slot of h, or nil.
func (t *Table) find(h uint64) *slot {
	i := h & t.mask
	for range maxProbe {
		s := &t.slots[i]
		switch s.hash.Load() {
		case h:
			return s
		case 0:
			return nil
		}
		i = (i + 1) & t.mask
	}
	return nil
}

// Counts are one household's counters since the table was made.
type Counts struct {
	Queries uint64 `json:"queries"`
	Blocked uint64 `json:"blocked"`
	// ByCategory are the blocked queries by category id; categories
	// with none are left out.
	ByCategory map[string]uint64 `json:"blocked_by_category"`
}

// Get returns household's counters; a household without queries has
// zero counts (it is not an error to ask).
func (t *Table) Get(household string) Counts {
	c := Counts{ByCategory: map[string]uint64{}}
	s := t.find(t.hash(household))
	if s == nil {
		return c
	}
	c.Queries, c.Blocked = s.queries.Load(), s.blocked.Load()
	for i, id := range t.categories {
		if n := s.category[i].Load(); n > 0 {
			c.ByCategory[id] = uint64(n)
		}
	}
	return c
}

// Category returns the index of category id in Config.Categories, or
// NoCategory.
func (t *Table) Category(id string) int {
	for i, c := range t.categories {
		if c == id {
			return i
		}
	}
	return NoCategory
}

// Overflow returns how many queries found no slot (the table is full).
func (t *Table) Overflow() uint64 { return t.overflow.Load() }

// Households returns how many households have a slot.
func (t *Table) Households() int { return int(t.used.Load()) }

// Slots returns the table's size in slots.
func (t *Table) Slots() int { return len(t.slots) }
