// Package domainindex owns Hearth's compiled suffix index: one immutable
// structure that maps every listed domain name to the set of lists that
// contain it, built off the query path by a Builder, read by every query
// through Index.Lookup, and saved to and loaded from a flat file so a node
// starts without re-parsing its lists.
//
// # Matching
//
// Each entry a list adds is one of three kinds. An Exact entry (hosts
// files) matches the name only. A Subtree entry (wildcard, adblock, UT1
// domain lists) matches the name and every name below it. An Exception entry
// (adblock "@@||name^") removes its list from the result of every query at
// or below the name, whatever that list's other rules say, as in adblock,
// where exceptions beat blocking rules of any specificity. Lookup walks the
// query name and each parent suffix (a.b.example.com, b.example.com,
// example.com, com), takes Exact entries at the full name and Subtree and
// Exception entries at every level, and reports, per matching list, the most
// specific rule that matched, as an offset into the query name.
//
// Names are compared ASCII case-insensitively, one trailing dot is ignored,
// and labels are split at every '.': pass names in presentation form
// without escapes (the query path lower-cases and unescapes once into a
// buffer and may then use LookupLower). Only the last 253 bytes of a query
// can match a listed name, so a longer query cannot hide a listed suffix.
//
// # Storage
//
// The table is one []uint64 of slots: a 48-bit fingerprint of the lower-cased
// name and a 16-bit list-set id, in an open-addressing table with linear
// probing at a load of at most 0.7 (about 11.4 bytes per name). It holds no
// pointers, so the garbage collector never scans it; on Linux it asks for
// transparent huge pages, so the few random slots a lookup reads do not
// each also miss the TLB (newSlots). The names themselves
// are not stored; a match is reported as a suffix of the query. List-set ids
// index a small table of the distinct (exact, subtree, exception) list
// combinations, at most 65536 of them.
//
// # False matches
//
// A name that is not listed matches only if some slot on its probe path
// holds the same 48-bit fingerprint. The fingerprint (hash lane A) and the
// home slot (lane B) come from independent 64-bit hash lanes, so the
// fingerprints on the path are unrelated to the probed one. With linear
// probing at load a, an unsuccessful search inspects on average
// (1 + 1/(1-a)^2)/2 slots (Knuth, TAOCP 6.4): 6 at a = 0.7. The chance that a
// suffix that is not listed falsely matches is therefore about
// 6 / 2^48 = 2.2e-14, whatever the number of names, and a query probes one
// suffix per label: about 9e-14 (1 in 10^13) for a four-label name.
// A false match only ever adds a list (it never hides one), and a profile's
// allow overrides are checked before the index, so a parent can undo it.
//
// Two listed names can also share a fingerprint on one probe path (chance
// about n * 3 / 2^48 per build for n names, 5e-8 at n = 5 M). The builder
// detects this and stores the union of both names' lists in one slot, so a
// listed name is never missed; Index.Merged counts such names.
//
// # Using the result
//
// Result.Matched and Result.Match answer the common questions without
// allocating; Result.AppendMatches lists every matching list with its rule.
// A caller that maps lists to something else (the policy maps lists to tags)
// can precompute one value per list-set id from Index.Set and combine the
// Result.Hit values itself: the union, over all hits, of the Subtree lists
// and (for the hit whose Full is true) the Exact lists, minus the union of
// the Except lists of all hits.
package domainindex

import (
	"fmt"
	"math/bits"
	"slices"
)

// ListID identifies one source list. The caller assigns the ids; any uint16
// value is valid, so an index can name up to 65536 lists.
type ListID uint16

// SetID identifies one distinct combination of lists in an Index (see
// Index.Set). Ids are dense, from 0 to Index.NumSets()-1, and only meaningful
// for the Index that issued them.
type SetID uint16

// Kind says how a list entry matches names.
type Kind uint8

// The entry kinds. The zero Kind is Exact, the narrowest.
const (
	// Exact matches the listed name only (hosts files).
	Exact Kind = iota
	// Subtree matches the listed name and all names below it.
	Subtree
	// Exception removes the list from the result of every query at or
	// below the listed name (adblock "@@||name^").
	Exception
)

// String returns the lower-case kind name.
func (k Kind) String() string {
	switch k {
	case Exact:
		return "exact"
	case Subtree:
		return "subtree"
	case Exception:
		return "exception"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Flags of a list set, kept in Index.flags so a lookup can tell whether a
// hit matters without touching the member lists.
const (
	flagExact uint8 = 1 << iota
	flagSubtree
	flagExcept
)

// setRec locates one list set in Index.members: nExact Exact lists, then
// nSubtree Subtree lists, then nExcept Exception lists, each run sorted.
type setRec struct {
	off                       uint32
	nExact, nSubtree, nExcept uint16
}

// setRecSize is the in-memory size of a setRec, for Bytes.
const setRecSize = 12

// Index is the compiled, immutable suffix index. Build one with a Builder or
// load one with Read. It is safe for concurrent use by any number of
// goroutines; a nil *Index is an empty index.
type Index struct {
	// slots is the open-addressing table: fingerprint<<16 | set id, 0 when
	// empty. Homes are in [0, homes); probes run forward without wrapping
	// into a short overflow tail, and the last slot is always empty, which
	// ends every probe without a bounds test in the loop.
	slots   []uint64
	homes   uint64 // slotCount(names + merged)
	names   int
	merged  int
	sets    []setRec
	flags   []uint8 // per set: flagExact | flagSubtree | flagExcept
	members []ListID
}

// slotCount is the number of home slots for n names: a load of
// n/(n + 3n/7 + 1) < 0.7. At 0.8 (format version 1) a lookup of a
// four-label name read 7.0 cache lines of the table on average over the
// shared lists, 5.2 at 0.7 (docs/performance.md).
func slotCount(n int) int {
	return n + n*3/7 + 1
}

// Len returns the number of distinct names in the index.
func (ix *Index) Len() int {
	if ix == nil {
		return 0
	}
	return ix.names
}

// Merged returns how many listed names shared a fingerprint with another
// listed name on its probe path and were merged into that name's slot (see
// the package comment); it is almost always 0.
func (ix *Index) Merged() int {
	if ix == nil {
		return 0
	}
	return ix.merged
}

// Bytes returns the memory the index holds: the slot table plus the list-set
// tables.
func (ix *Index) Bytes() int {
	if ix == nil {
		return 0
	}
	return 8*len(ix.slots) + setRecSize*len(ix.sets) + len(ix.flags) + 2*len(ix.members)
}

// NumSets returns the number of distinct list sets; valid SetIDs are
// 0 to NumSets()-1.
func (ix *Index) NumSets() int {
	if ix == nil {
		return 0
	}
	return len(ix.sets)
}

// ListSet is the content of one list set: the lists that hold a name as
// Exact, as Subtree and as Exception entries. Each slice is sorted and has
// no duplicates, a list appears in at most one of them (Exception beats
// Subtree beats Exact for the same list), and they alias the index's
// memory: do not modify them.
type ListSet struct {
	Exact   []ListID
	Subtree []ListID
	Except  []ListID
}

// Set returns the lists of set id. It panics if id is not below NumSets.
func (ix *Index) Set(id SetID) ListSet {
	r := ix.sets[id]
	m := ix.members[r.off : r.off+uint32(r.nExact)+uint32(r.nSubtree)+uint32(r.nExcept)]
	return ListSet{
		Exact:   m[:r.nExact:r.nExact],
		Subtree: m[r.nExact : r.nExact+r.nSubtree : r.nExact+r.nSubtree],
		Except:  m[r.nExact+r.nSubtree:],
	}
}

// Lookup reports which lists match name. It folds ASCII case and ignores one
// trailing dot. It does not allocate.
//
// The Lookup methods are kept out of line on purpose: inlined into another
// package, the call to the generic lookup loses its escape information and
// the Result moves to the heap, an allocation per query.
//
//go:noinline
func (ix *Index) Lookup(name string) (r Result) {
	lookup(ix, name, true, &r)
	return r
}

// LookupBytes is Lookup for a name held in a byte slice. The Result does not
// keep name.
//
//go:noinline
func (ix *Index) LookupBytes(name []byte) (r Result) {
	lookup(ix, name, true, &r)
	return r
}

// LookupLower is LookupBytes for a name the caller has already lower-cased
// (the query path does that once, into a fixed buffer): it skips case
// folding, so an upper-case ASCII letter in name makes that label miss.
//
//go:noinline
func (ix *Index) LookupLower(name []byte) (r Result) {
	lookup(ix, name, false, &r)
	return r
}

// lookup is the one implementation of the Lookup methods. It hashes every
// suffix of name in one right-to-left pass (shortest suffix first) and
// probes the table for them in batches, then puts the hits most specific
// first.
func lookup[T string | []byte](ix *Index, name T, foldCase bool, r *Result) {
	n := len(name)
	if n > 0 && name[n-1] == '.' {
		n--
	}
	r.ix = ix
	r.nameLen = n
	if n == 0 || ix == nil || ix.names == 0 {
		return
	}
	var q probes
	lo := 0
	if n > maxNameLen {
		lo = n - maxNameLen - 1 // the dot before the longest possible suffix
	}
	a, b := uint64(laneASeed), uint64(laneBSeed)
	for i := n - 1; i >= lo; i-- {
		c := name[i]
		if foldCase {
			c = fold(c) // no branch: see fold
		}
		if c == '.' {
			// name[i+1:n] is a suffix that starts a non-empty label.
			if l := n - 1 - i; l > 0 && name[i+1] != '.' {
				if q.n == batch {
					q.probe(ix, r)
				}
				q.fp[q.n], q.pos[q.n] = key(a, b)
				q.len[q.n] = uint8(l)
				q.n++
			}
		}
		a = (a ^ uint64(c)) * laneAPrime
		b = bits.RotateLeft64((b^uint64(c))*laneBMul, laneBRot)
	}
	if n <= maxNameLen && name[0] != '.' {
		if q.n == batch {
			q.probe(ix, r)
		}
		q.fp[q.n], q.pos[q.n] = key(a, b)
		q.len[q.n] = uint8(n)
		q.n++
	}
	q.probe(ix, r)
	slices.Reverse(r.sets[:r.n])
	slices.Reverse(r.lens[:r.n])
}

// batch is how many suffixes lookup hashes before probing them. Almost
// every name has fewer labels, so one batch does; a fixed small batch keeps
// the per-call stack small whatever the name.
const batch = 16

// probes is a batch of suffixes to look up, shortest first.
type probes struct {
	n   int
	fp  [batch]uint64
	pos [batch]uint32
	len [batch]uint8
}

// probe looks the batch up, records the hits in r, shortest suffix first,
// and empties the batch.
func (q *probes) probe(ix *Index, r *Result) {
	slots, homes := ix.slots, ix.homes
	// Load every suffix's home slot before inspecting any: the loads are
	// independent, so their cache misses overlap instead of queueing behind
	// the data-dependent branches of the probe loop.
	var home0 [batch]uint64
	var first [batch]uint64
	for k := range q.n {
		home0[k] = home(q.pos[k], homes)
		first[k] = slots[home0[k]]
	}
	for k := range q.n {
		fp, j, s := q.fp[k], home0[k], first[k]
		for s != 0 {
			if s>>16 == fp {
				r.add(SetID(s), q.len[k], int(q.len[k]) == r.nameLen)
				break
			}
			j++
			s = slots[j]
		}
	}
	q.n = 0
}
