package domainindex

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"unsafe"
)

// maxSets is the number of distinct list sets a 16-bit SetID can name.
const maxSets = 1 << 16

// entry is one Add, packed into 16 bytes so 5 M of them sort quickly:
//
//	w0 = position key (32 bits) << 32 | fingerprint bits 47..16
//	w1 = fingerprint bits 15..0 << 48 | kind << 16 | list
//
// Sorting by w0 groups the entries of one name (same fingerprint and
// position key) and orders names by home slot, so the table fills from the
// front and each insertion probes memory it has just written.
type entry struct{ w0, w1 uint64 }

func (e entry) fp() uint64     { return (e.w0&0xffffffff)<<16 | e.w1>>48 }
func (e entry) pos() uint32    { return uint32(e.w0 >> 32) }
func (e entry) kind() Kind     { return Kind(e.w1 >> 16) }
func (e entry) list() ListID   { return ListID(e.w1) }
func sameName(a, b entry) bool { return a.w0 == b.w0 && a.w1>>48 == b.w1>>48 }

// Builder collects list entries and compiles them into an Index. It keeps a
// 16-byte hash record per Add, not the names. A Builder is not safe for
// concurrent use.
type Builder struct {
	// The entries are kept in chunks that are never copied: at 5 M
	// names, doubling one slice copied and cleared about 350 MB, a tenth
	// of a cold start. Each new chunk is twice the last, up to
	// maxChunkLen, so a small list costs little and a large one few
	// chunks; chunks from maxChunkLen/8 up ask for huge pages, which cut
	// the page faults of filling them (about a quarter of a cold start's
	// CPU went to the kernel, mostly to faults on 4 KiB pages).
	full    [][]entry
	cur     []entry
	skipped int
	err     error
}

// Chunk sizes in entries: the first chunk (64 KiB) and the largest
// (16 MiB, eight huge pages).
const (
	firstChunkLen = 1 << 12
	maxChunkLen   = 1 << 20
)

// NewBuilder returns an empty Builder whose first chunk has room for hint
// entries (Add calls), at least firstChunkLen and at most maxChunkLen of
// them; later chunks are added as it fills.
func NewBuilder(hint int) *Builder {
	return &Builder{cur: newChunk(min(max(hint, firstChunkLen), maxChunkLen))}
}

// newChunk returns an empty chunk with room for n entries.
func newChunk(n int) []entry {
	c := make([]entry, 0, n)
	adviseHugePages(unsafe.Pointer(unsafe.SliceData(c)), uintptr(n)*unsafe.Sizeof(entry{}))
	return c
}

// Len returns the number of entries added so far (valid names only).
func (b *Builder) Len() int {
	n := len(b.cur)
	for _, c := range b.full {
		n += len(c)
	}
	return n
}

// push appends one entry.
func (b *Builder) push(e entry) {
	if len(b.cur) == cap(b.cur) {
		b.grow()
	}
	b.cur = append(b.cur, e)
}

// grow moves the full current chunk to b.full and starts a larger one.
func (b *Builder) grow() {
	n := min(max(2*cap(b.cur), firstChunkLen), maxChunkLen)
	if len(b.cur) > 0 {
		b.full = append(b.full, b.cur)
	}
	b.cur = newChunk(n)
}

// Add records that list holds name, matching as kind. The name is compared
// ASCII case-insensitively and may end in one dot. Adding the same name,
// list and kind twice has no further effect; for the same name and list,
// Exception beats Subtree beats Exact.
//
// Names the index cannot hold (empty, longer than 253 bytes, or with an
// empty label such as "a..b" or ".a") are skipped and counted in Skipped:
// the list parsers validate names, and one bad line must not stop a build.
// An invalid kind is a programming error and makes Build fail.
func (b *Builder) Add(name string, list ListID, kind Kind) {
	addName(b, name, list, kind)
}

// AddBytes is Add for a name held in a byte slice, which it does not keep:
// a list parser can pass its line buffer without allocating a string.
func (b *Builder) AddBytes(name []byte, list ListID, kind Kind) {
	addName(b, name, list, kind)
}

func addName[T string | []byte](b *Builder, name T, list ListID, kind Kind) {
	if kind > Exception {
		if b.err == nil {
			b.err = fmt.Errorf("adding %q to list %d: invalid kind %d", name, list, uint8(kind))
		}
		return
	}
	fp, pos, ok := hashName(name)
	if !ok {
		b.skipped++
		return
	}
	b.push(entry{
		w0: uint64(pos)<<32 | fp>>16,
		w1: fp<<48 | uint64(kind)<<16 | uint64(list),
	})
}

// Merge moves every entry of o into b (and adds o's Skipped count), so
// that lists parsed on several goroutines, each into its own Builder, can
// be built into one Index. o is empty afterwards. The result of Build does
// not depend on the order of merges.
func (b *Builder) Merge(o *Builder) {
	if o == nil || o == b {
		return
	}
	if b.err == nil {
		b.err = o.err
	}
	b.skipped += o.skipped
	b.full = append(b.full, o.full...)
	if len(o.cur) > 0 {
		// A partial chunk is kept as a chunk of its own: chunks need not
		// be full, only the current one is appended to.
		b.full = append(b.full, o.cur)
	}
	o.full, o.cur, o.skipped, o.err = nil, nil, 0, nil
}

// Skipped returns how many Add calls were skipped because their name was
// invalid.
func (b *Builder) Skipped() int { return b.skipped }

// Build compiles the entries added so far into an Index. It takes the
// entries out of the Builder, which is then empty (Skipped keeps its count)
// and may be reused. The result does not depend on the order of the Add
// calls, so the same lists always give byte-identical flat files.
//
// Build fails if an Add had an invalid kind or if the entries form more
// than 65536 distinct combinations of lists.
func (b *Builder) Build() (*Index, error) {
	chunks, err := b.full, b.err
	if len(b.cur) > 0 {
		chunks = append(chunks, b.cur)
	}
	b.full, b.cur, b.err = nil, nil, nil
	if err != nil {
		return nil, fmt.Errorf("building index: %w", err)
	}
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	ents := sortEntries(chunks, min(runtime.GOMAXPROCS(0), n/minEntriesPerWorker))

	names := 0
	for i := range ents {
		if i == 0 || !sameName(ents[i], ents[i-1]) {
			names++
		}
	}
	homes := slotCount(names)
	ix := &Index{homes: uint64(homes), slots: newSlots(homes, homes+64)}
	sb := newSetBuilder()
	for i := 0; i < len(ents); {
		j := i + 1
		for j < len(ents) && sameName(ents[j], ents[i]) {
			j++
		}
		g := ents[i:j]
		i = j

		id, err := sb.internGroup(g)
		if err != nil {
			return nil, err
		}
		fp := g[0].fp()
		s := int(home(g[0].pos(), ix.homes))
		for s < len(ix.slots) && ix.slots[s] != 0 && ix.slots[s]>>16 != fp {
			s++
		}
		if s == len(ix.slots) {
			ix.slots = append(ix.slots, 0) // the overflow tail
		}
		if old := ix.slots[s]; old != 0 {
			// Same fingerprint on this name's probe path: a lookup of
			// this name would stop at the other one, so both share the
			// union of their lists (see the package comment).
			if id, err = sb.union(SetID(old), id); err != nil {
				return nil, err
			}
			ix.merged++
		} else {
			ix.names++
		}
		ix.slots[s] = fp<<16 | uint64(id)
	}
	ix.slots = slices.Clip(append(ix.slots, 0)) // the empty slot that ends every probe
	ix.sets, ix.flags, ix.members = sb.sets, sb.flags, slices.Clip(sb.members)
	return ix, nil
}

// sortEntries sorts the entries of chunks by w0 then w1 into one new slice
// and drops the chunks. It is a radix sort on the 32-bit position key (the
// top half of w0): one pass scatters the entries by the key's top 11 bits
// into 2048 buckets of the new slice (a few thousand entries each at 5 M),
// then each bucket, small enough to stay in the CPU's cache, is sorted by
// the remaining 21 bits in three passes of 7 bits through a scratch buffer
// of one bucket. Runs of equal position keys (one name in several lists, or
// two names that share a key) are then short and sorted by w0 and w1, which
// orders a name's entries by kind and list.
//
// The previous sort made three passes of 11 bits over the whole slice, each
// scattering to 2048 places tens of megabytes apart (a TLB miss per write
// with 4 KiB pages) through a second slice as large as the first: a third
// of a 5 M-name cold start. Now only the first pass goes to memory, and the
// slice asks for huge pages (adviseHugePages).
//
// With workers > 1 (Build passes GOMAXPROCS, one per 64 Ki entries at most) the count and scatter passes
// split the chunks, and the bucket sorts the buckets, between that many
// goroutines. The result is the same: the order of a bucket's entries
// before its sort does not matter, since the sort ends in a total order.
func sortEntries(chunks [][]entry, workers int) []entry {
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	if n == 0 {
		return nil
	}
	const topBits, top = 11, 1 << 11
	// Each worker takes a run of chunks holding about n/workers entries.
	workers = max(1, min(workers, len(chunks)))
	parts := make([][][]entry, 0, workers)
	for i, done := 0, 0; i < len(chunks); {
		j := i
		for j < len(chunks) && (j == i || done < n*(len(parts)+1)/workers) {
			done += len(chunks[j])
			j++
		}
		parts = append(parts, chunks[i:j])
		i = j
	}
	// counts[w][v]: the entries of part w in bucket v.
	counts := make([][top]int, len(parts))
	forEach(len(parts), func(w int) {
		c := &counts[w]
		for _, ch := range parts[w] {
			for _, e := range ch {
				c[e.w0>>(64-topBits)]++
			}
		}
	})
	// start[v] is where bucket v starts; part w's entries of bucket v go
	// after the earlier parts' ones, from next[w][v].
	var start [top + 1]int
	next := make([][top]int, len(parts))
	largest := 0
	for v := range top {
		pos := start[v]
		for w := range parts {
			next[w][v] = pos
			pos += counts[w][v]
		}
		start[v+1] = pos
		largest = max(largest, pos-start[v])
	}
	ents := make([]entry, n)
	adviseHugePages(unsafe.Pointer(unsafe.SliceData(ents)), uintptr(n)*unsafe.Sizeof(entry{}))
	forEach(len(parts), func(w int) {
		nx := &next[w]
		for i, c := range parts[w] {
			for _, e := range c {
				v := e.w0 >> (64 - topBits)
				ents[nx[v]] = e
				nx[v]++
			}
			parts[w][i] = nil
		}
	})
	// The buckets are cut into runs of about n/workers entries, one a
	// worker; entries with the same position key are in one bucket.
	cuts := []int{0}
	for v := 1; v < top && len(cuts) < workers; v++ {
		if start[v] >= n*len(cuts)/workers {
			cuts = append(cuts, v)
		}
	}
	cuts = append(cuts, top)
	forEach(len(cuts)-1, func(w int) {
		tmp := make([]entry, largest)
		for v := cuts[w]; v < cuts[w+1]; v++ {
			b := ents[start[v]:start[v+1]]
			if len(b) > 1 {
				sortBucket(b, tmp[:len(b)])
			}
		}
		sortEqualKeys(ents[start[cuts[w]]:start[cuts[w+1]]])
	})
	return ents
}

// minEntriesPerWorker is the least work worth a goroutine of sortEntries.
const minEntriesPerWorker = 1 << 16

// forEach calls f(0) ... f(n-1), each on a goroutine of its own when n > 1,
// and returns when all have returned.
func forEach(n int, f func(int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// sortEqualKeys sorts each run of entries with the same position key in
// ents (sorted by it already) by w0 and w1.
func sortEqualKeys(ents []entry) {
	n := len(ents)
	for i := 0; i < n; {
		j := i + 1
		for j < n && ents[j].w0>>32 == ents[i].w0>>32 {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(ents[i:j], func(x, y entry) int {
				switch {
				case x.w0 < y.w0:
					return -1
				case x.w0 > y.w0:
					return 1
				case x.w1 < y.w1:
					return -1
				case x.w1 > y.w1:
					return 1
				}
				return 0
			})
		}
		i = j
	}
}

// sortBucket sorts b, whose position keys share their top 11 bits, by the
// low 21 bits of the position key (an LSD radix sort of three 7-bit digits,
// stable), using tmp, as long as b, as scratch.
func sortBucket(b, tmp []entry) {
	const bits, buckets = 7, 1 << 7
	var counts [3][buckets]int
	for _, e := range b {
		k := uint32(e.w0 >> 32)
		counts[0][k&(buckets-1)]++
		counts[1][k>>bits&(buckets-1)]++
		counts[2][k>>(2*bits)&(buckets-1)]++
	}
	src, dst := b, tmp
	for d := range 3 {
		c := &counts[d]
		if c[uint32(src[0].w0>>(32+bits*d))&(buckets-1)] == len(b) {
			continue // every key has the same digit here
		}
		sum := 0
		for v, k := range c {
			c[v] = sum
			sum += k
		}
		shift := 32 + bits*d
		for _, e := range src {
			v := e.w0 >> shift & (buckets - 1)
			dst[c[v]] = e
			c[v]++
		}
		src, dst = dst, src
	}
	if &src[0] != &b[0] {
		copy(b, src)
	}
}

// setBuilder interns list sets: each distinct (exact, subtree, exception)
// combination gets one SetID, in order of first appearance.
type setBuilder struct {
	// single holds 1 + the id of each set of one list, by kind<<16 |
	// list (0: not interned yet): most names are in one list, and a
	// table lookup is a fraction of a map's.
	single  []uint32
	multi   map[string]SetID // encoded counts and lists
	sets    []setRec
	flags   []uint8
	members []ListID
	key     []byte
	// scratch lists, reused between groups
	ex, sub, exc, nex, nsub []ListID
}

func newSetBuilder() *setBuilder {
	return &setBuilder{single: make([]uint32, (uint32(Exception)+1)<<16), multi: make(map[string]SetID)}
}

// set returns the lists of an interned set, like Index.Set.
func (sb *setBuilder) set(id SetID) ListSet {
	ix := Index{sets: sb.sets, members: sb.members}
	return ix.Set(id)
}

// internGroup interns the lists of one name's entries, sorted by w1.
func (sb *setBuilder) internGroup(g []entry) (SetID, error) {
	if len(g) == 1 {
		return sb.internOne(g[0].list(), g[0].kind())
	}
	sb.ex, sb.sub, sb.exc = sb.ex[:0], sb.sub[:0], sb.exc[:0]
	for i, e := range g {
		if i > 0 && e.w1 == g[i-1].w1 {
			continue
		}
		switch e.kind() {
		case Exact:
			sb.ex = append(sb.ex, e.list())
		case Subtree:
			sb.sub = append(sb.sub, e.list())
		default:
			sb.exc = append(sb.exc, e.list())
		}
	}
	return sb.intern(sb.ex, sb.sub, sb.exc)
}

// union interns the union of two sets, for two names merged in one slot.
func (sb *setBuilder) union(a, b SetID) (SetID, error) {
	x, y := sb.set(a), sb.set(b)
	ex := mergeSorted(nil, x.Exact, y.Exact)
	sub := mergeSorted(nil, x.Subtree, y.Subtree)
	exc := mergeSorted(nil, x.Except, y.Except)
	return sb.intern(ex, sub, exc)
}

// internOne interns a set of one list.
func (sb *setBuilder) internOne(list ListID, kind Kind) (SetID, error) {
	k := uint32(kind)<<16 | uint32(list)
	if id := sb.single[k]; id != 0 {
		return SetID(id - 1), nil
	}
	l := []ListID{list}
	var id SetID
	var err error
	switch kind {
	case Exact:
		id, err = sb.newSet(l, nil, nil)
	case Subtree:
		id, err = sb.newSet(nil, l, nil)
	default:
		id, err = sb.newSet(nil, nil, l)
	}
	if err == nil {
		sb.single[k] = uint32(id) + 1
	}
	return id, err
}

// intern normalises sorted, duplicate-free lists (a list's Exception
// removes its Subtree and Exact entries at this name, and Subtree removes
// Exact) and returns the id of that set, creating it if it is new.
func (sb *setBuilder) intern(ex, sub, exc []ListID) (SetID, error) {
	sb.nsub = subtractSorted(sb.nsub[:0], sub, exc)
	sb.nex = subtractSorted(sb.nex[:0], ex, exc)
	sb.nex = subtractSorted(sb.nex[:0], sb.nex, sb.nsub)
	ex, sub = sb.nex, sb.nsub
	switch {
	case len(ex)+len(sub)+len(exc) != 1:
	case len(ex) == 1:
		return sb.internOne(ex[0], Exact)
	case len(sub) == 1:
		return sb.internOne(sub[0], Subtree)
	default:
		return sb.internOne(exc[0], Exception)
	}
	k := binary.LittleEndian.AppendUint16(sb.key[:0], uint16(len(ex)))
	k = binary.LittleEndian.AppendUint16(k, uint16(len(sub)))
	k = binary.LittleEndian.AppendUint16(k, uint16(len(exc)))
	for _, ls := range [][]ListID{ex, sub, exc} {
		for _, l := range ls {
			k = binary.LittleEndian.AppendUint16(k, uint16(l))
		}
	}
	sb.key = k
	if id, ok := sb.multi[string(k)]; ok {
		return id, nil
	}
	id, err := sb.newSet(ex, sub, exc)
	if err == nil {
		sb.multi[string(k)] = id
	}
	return id, err
}

// newSet appends a set and returns its id.
func (sb *setBuilder) newSet(ex, sub, exc []ListID) (SetID, error) {
	if len(sb.sets) >= maxSets {
		return 0, fmt.Errorf("building index: more than %d distinct combinations of lists", maxSets)
	}
	id := SetID(len(sb.sets))
	sb.sets = append(sb.sets, setRec{
		off:      uint32(len(sb.members)),
		nExact:   uint16(len(ex)),
		nSubtree: uint16(len(sub)),
		nExcept:  uint16(len(exc)),
	})
	sb.flags = append(sb.flags, setFlags(len(ex), len(sub), len(exc)))
	sb.members = append(sb.members, ex...)
	sb.members = append(sb.members, sub...)
	sb.members = append(sb.members, exc...)
	return id, nil
}

// setFlags returns the flags of a set with the given list counts.
func setFlags(nExact, nSubtree, nExcept int) uint8 {
	var f uint8
	if nExact > 0 {
		f |= flagExact
	}
	if nSubtree > 0 {
		f |= flagSubtree
	}
	if nExcept > 0 {
		f |= flagExcept
	}
	return f
}

// mergeSorted appends the sorted union of sorted, duplicate-free a and b.
func mergeSorted(dst, a, b []ListID) []ListID {
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0] < b[0]:
			dst, a = append(dst, a[0]), a[1:]
		case a[0] > b[0]:
			dst, b = append(dst, b[0]), b[1:]
		default:
			dst, a, b = append(dst, a[0]), a[1:], b[1:]
		}
	}
	dst = append(dst, a...)
	return append(dst, b...)
}

// subtractSorted appends a minus b, both sorted. dst may alias a's
// beginning (it is written no faster than a is read).
func subtractSorted(dst, a, b []ListID) []ListID {
	for _, x := range a {
		for len(b) > 0 && b[0] < x {
			b = b[1:]
		}
		if len(b) == 0 || b[0] != x {
			dst = append(dst, x)
		}
	}
	return dst
}
