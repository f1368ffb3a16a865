package identity

// The identity tables map each identifier to a small integer, not to a
// pointer or a string: a devRef into the device records, or an hhRef
// into the household records. The lookup tables' slots are then small
// and, apart from a MAC's text, hold no pointers (nothing for the
// collector to scan), a household is found by index rather than by
// hashing and comparing its id, and the records themselves sit in a few
// thousand arrays instead of millions of small objects, so that the
// resident set stays close to the live heap.

// devRef names a device record; 0 names none.
type devRef uint32

// hhRef names a household record; 0 is the household "" (at home).
type hhRef uint32

// profRef names a profile record; 0 names none (the device's household's
// profile, or the Identifier's default).
type profRef uint32

// deviceRecord is the part of a Device an identity needs.
type deviceRecord struct {
	name      string
	profile   profRef
	household hhRef
	// refs counts the table entries naming the record: at 0 its index
	// is free for the next device.
	refs uint32
}

// householdRecord is a household's id and default profile (0 for the
// Identifier's default). A household's record is never freed: devices
// may name a household the tables do not hold (or no longer hold), and
// the index keeps meaning that id.
type householdRecord struct {
	id      string
	profile profRef
}

// profileRecord is a profile name that devices and households name, kept
// once, with the profile's index in the policy compiled with the tables
// (see ProfileIndexer): an identity carries the index to the Policy step,
// which then finds the profile without looking its name up.
type profileRecord struct {
	name string
	// hint is 1 + the policy's index of name, 0 when not known.
	hint int32
	// refs counts the device and household records naming the record: at
	// 0 its index is free for the next name.
	refs uint32
}

// Records are kept in chunks of chunkLen, chunkLen chunks to a leaf:
// an edit copies the top (8 bytes per 65,536 records), one leaf (2 KB)
// and the chunks it writes (chunkLen records each), whatever the size
// of the table.
const (
	chunkBits = 8
	chunkLen  = 1 << chunkBits
	chunkMask = chunkLen - 1
)

// records is an immutable array of T, indexed from 0.
type records[T any] struct {
	top [][]*[chunkLen]T
	n   uint32 // indexes in use: 0 to n-1
}

// at returns record i, which must be below r.n.
func (r *records[T]) at(i uint32) *T {
	return &r.top[i>>(2*chunkBits)][i>>chunkBits&chunkMask][i&chunkMask]
}

// recordEditor makes the next records from one, copying what it writes.
type recordEditor[T any] struct {
	r records[T]
	// ownTop, ownLeaf and ownChunk say which parts are this editor's
	// copies; nil until the first write.
	ownTop   bool
	ownLeaf  map[uint32]bool
	ownChunk map[uint32]bool
}

func (r records[T]) edit() *recordEditor[T] { return &recordEditor[T]{r: r} }

// get returns record i as the edits so far leave it.
func (e *recordEditor[T]) get(i uint32) T { return *e.r.at(i) }

// set stores v at index i, growing the records to hold it.
func (e *recordEditor[T]) set(i uint32, v T) {
	if !e.ownTop {
		e.r.top = append([][]*[chunkLen]T(nil), e.r.top...)
		e.ownTop, e.ownLeaf, e.ownChunk = true, map[uint32]bool{}, map[uint32]bool{}
	}
	t, l := i>>(2*chunkBits), i>>chunkBits&chunkMask
	for uint32(len(e.r.top)) <= t {
		e.r.top = append(e.r.top, make([]*[chunkLen]T, chunkLen))
		e.ownLeaf[uint32(len(e.r.top)-1)] = true
	}
	if !e.ownLeaf[t] {
		e.r.top[t] = append([]*[chunkLen]T(nil), e.r.top[t]...)
		e.ownLeaf[t] = true
	}
	c := i >> chunkBits
	if !e.ownChunk[c] {
		next := new([chunkLen]T)
		if old := e.r.top[t][l]; old != nil {
			*next = *old
		}
		e.r.top[t][l] = next
		e.ownChunk[c] = true
	}
	e.r.top[t][l][i&chunkMask] = v
	e.r.n = max(e.r.n, i+1)
}

func (e *recordEditor[T]) done() records[T] { return e.r }
