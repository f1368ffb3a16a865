package cache

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// A shard keeps its entries back to back in a ring of large segments
// ([]uint64, so without pointers and 8-byte aligned), indexed by a map from
// the hash of each key to the entry's place in the ring. However many
// answers it holds, the garbage collector sees a few hundred segments and
// the map's tables, none of which it scans: a full cache costs a
// collection almost nothing to mark (issue #14).
//
// New entries go at the head of the ring; room is made at its tail, oldest
// first, with a second chance (the CLOCK policy's): an entry hit since it
// was stored and not expired past serve-stale is moved to the head instead
// of being evicted, and loses its mark. An entry replaced by a newer
// answer for its key is left in place, dead, until the tail passes it.
// Entries never straddle two segments: the rest of a segment too short for
// the next entry is a padding record.
//
// The ring grows a segment at a time, while its segments and the map's
// share of bytes fit MaxBytes and at least half of it holds live entries;
// once the head wraps around, the segments stay as they are.
//
// An entry in a segment may be moved or overwritten by the next writer, so
// a reader uses it only while it holds the shard's read lock: the hit path
// patches its copy of the answer under the lock, and the rare paths that
// need the entry longer take a clone.

// entryOverhead is what an entry costs besides its bytes in the ring: its
// slot in the shard's map (a 16-byte key and value and a control byte, at
// a load of 7/8 down to 7/16 after the map grows), rounded up
// (BenchmarkEntryMemory checks it).
const entryOverhead = 40

// Bounds of a segment's size: at least the largest entry (maxEntryWire
// of answer, its TTL offsets and the longest key: under 6 KiB), at most
// what keeps the ring's growth steps small.
const (
	minSegment = 8 << 10
	maxSegment = 256 << 10
)

// segmentSize returns the size of the segments of a shard of maxBytes: a
// power of two near a 64th of it, within minSegment and maxSegment.
func segmentSize(maxBytes int64) int {
	n := minSegment
	for n < maxSegment && int64(n)*64 < maxBytes {
		n *= 2
	}
	return n
}

// shard is one lock's worth of the cache: entries, the flights in progress
// for its keys and cached failures. Its ring bounds it in entries and in
// bytes.
type shard struct {
	mu sync.RWMutex
	// entries maps the hash of each entry's key to its place in the ring,
	// in 8-byte words from the start of the first segment. Two keys with
	// one hash cannot both be held: the later replaces the earlier (lookup
	// compares the key).
	entries map[uint64]uint32
	flights map[string]*flight
	fails   map[string]failure

	segs     [][]uint64
	segShift uint   // log2 of a segment's words
	capWords uint64 // words in segs
	// The ring holds the used words from tail on, wrapping at capWords:
	// live and dead entries and padding. head is where the next record
	// goes; it may equal capWords, the end, where the ring may grow.
	head, tail uint64
	used       uint64
	live       uint64 // words of live entries
	size       int
	maxBytes   int64
	maxFails   int

	hits   atomic.Uint64
	misses atomic.Uint64
	_      [64]byte // keep neighbouring shards' locks off this cache line
}

func (s *shard) init(size int, maxBytes int64, maxFails int) {
	s.entries = make(map[uint64]uint32)
	s.flights = make(map[string]*flight)
	s.fails = make(map[string]failure)
	s.size = size
	s.maxBytes = maxBytes
	s.maxFails = maxFails
	for w := segmentSize(maxBytes) / 8; w > 1; w /= 2 {
		s.segShift++
	}
}

// bytes returns the memory the shard holds by its accounting: its
// segments, whether or not entries fill them, and the map's slots. The
// caller holds s.mu.
func (s *shard) bytes() int64 {
	return int64(s.capWords)*8 + int64(len(s.entries))*entryOverhead
}

// at returns the record at place i. The caller holds s.mu.
func (s *shard) at(i uint32) *entry {
	return (*entry)(unsafe.Pointer(&s.segs[i>>s.segShift][i&(1<<s.segShift-1)]))
}

// recordAt returns the header of the record at place i, an entry or
// padding. The caller holds s.mu.
func (s *shard) recordAt(i uint32) *record {
	return (*record)(unsafe.Pointer(&s.segs[i>>s.segShift][i&(1<<s.segShift-1)]))
}

// words returns the n words at place i. The caller holds s.mu.
func (s *shard) words(i uint32, n uint64) []uint64 {
	return s.segs[i>>s.segShift][i&(1<<s.segShift-1):][:n]
}

// lookup returns the entry for key, whose hash is h, or nil. The entry
// stays valid only while the caller holds s.mu.
func (s *shard) lookup(h uint64, key []byte) *entry {
	if i, ok := s.entries[h]; ok {
		if e := s.at(i); e.key() == string(key) {
			return e
		}
	}
	return nil
}

// lookupString is lookup for a key held as a string.
func (s *shard) lookupString(h uint64, key string) *entry {
	if i, ok := s.entries[h]; ok {
		if e := s.at(i); e.key() == key {
			return e
		}
	}
	return nil
}

// insert copies e, an entry made by packEntry, into the ring, replacing
// the entry for its hash and evicting entries until the shard has room in
// entries and in bytes, and returns how many entries it evicted. Entries
// that expired before keep (Cache.clock) are not kept by their mark. The
// caller holds s.mu.
func (s *shard) insert(e *entry, keep int64) uint64 {
	n := uint64(e.size / 8)
	if n > 1<<s.segShift {
		return 0 // cannot happen: a segment holds the largest entry
	}
	if i, ok := s.entries[e.hash]; ok {
		s.live -= uint64(s.at(i).size / 8)
		delete(s.entries, e.hash)
	}
	var evicted uint64
	for {
		pad := s.padding(n)
		if s.head+pad+n > s.capWords && s.canGrow() {
			s.segs = append(s.segs, make([]uint64, 1<<s.segShift))
			s.capWords += 1 << s.segShift
			continue
		}
		if s.used+pad+n <= s.capWords && len(s.entries) < s.size && s.bytes()+entryOverhead <= s.maxBytes {
			break
		}
		if s.used == 0 {
			return evicted // empty and still no room: cannot happen either
		}
		evicted += s.advance(keep)
	}
	i := s.place(n)
	copy(s.words(i, n), e.words())
	s.entries[e.hash] = i
	s.live += n
	return evicted
}

// padding returns the words to skip at the head so that a record of n
// words does not straddle two segments.
func (s *shard) padding(n uint64) uint64 {
	segWords := uint64(1) << s.segShift
	if rest := segWords - s.head&(segWords-1); n > rest {
		return rest
	}
	return 0
}

// canGrow reports whether the ring may take one more segment at its end:
// the head is there with no record after it, the shard stays within
// MaxBytes, and at least half the ring holds live entries (when Size, not
// bytes, bounds the shard, the head reuses the dead space instead).
func (s *shard) canGrow() bool {
	if len(s.segs) == 0 {
		return true
	}
	return (s.used == 0 || s.tail+s.used == s.head) && 2*s.live >= s.capWords &&
		s.bytes()+int64(8)<<s.segShift+entryOverhead <= s.maxBytes
}

// place writes padding at the head if a record of n words would straddle
// two segments, reserves n words for it and returns their place. The
// caller made room.
func (s *shard) place(n uint64) uint32 {
	if pad := s.padding(n); pad > 0 {
		// Only the first word: the padding may be that short.
		p := s.recordAt(uint32(s.head))
		p.size = uint32(8 * pad)
		p.flags.Store(flagPad)
		s.head += pad
		s.used += pad
	}
	if s.head == s.capWords {
		s.head = 0
	}
	i := uint32(s.head)
	s.head += n
	s.used += n
	return i
}

// advance passes the record at the tail: padding or a dead entry is
// dropped, a live entry is evicted, or moved to the head without its mark
// if it was hit since it was stored or last moved and did not expire
// before keep. It returns 1 if it evicted an entry. The caller holds s.mu
// and the ring holds a record.
func (s *shard) advance(keep int64) uint64 {
	i := uint32(s.tail)
	rec := s.recordAt(i)
	n := uint64(rec.size / 8)
	if s.tail += n; s.tail == s.capWords {
		s.tail = 0
	}
	s.used -= n
	f := rec.flags.Load()
	if f&flagPad != 0 {
		return 0
	}
	e := s.at(i)
	if j, ok := s.entries[e.hash]; !ok || j != i {
		return 0 // dead: replaced by a newer entry
	}
	if f&flagRef != 0 && e.expires > keep && s.used+s.padding(n)+n <= s.capWords {
		// The padding, if any, ends before the entry's old place, and
		// copy moves overlapping words safely.
		j := s.place(n)
		copy(s.words(j, n), s.words(i, n))
		moved := s.at(j)
		moved.flags.Store(f &^ flagRef)
		s.entries[moved.hash] = j
		return 0
	}
	delete(s.entries, e.hash)
	s.live -= n
	return 1
}
