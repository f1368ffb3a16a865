package domainindex

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unsafe"
)

// The flat file is little-endian:
//
//	header, 64 bytes:
//	  0  magic "HEARTHIX"
//	  8  format version (uint32)
//	 12  flags (uint32, 0)
//	 16  names (uint64)
//	 24  merged names (uint64)
//	 32  slots (uint64): slotCount(names + merged) homes, the overflow
//	     tail and one empty slot
//	 40  sets (uint32)
//	 44  member lists (uint32)
//	 48  reserved, 12 zero bytes
//	 60  CRC-32C of bytes 0 to 59
//	body:
//	  per set: exact, subtree, exception list counts (3 x uint16)
//	  member lists (uint16 each), per set exact, subtree, exception runs
//	  slots (uint64 each)
//	trailer: CRC-32C of the body (uint32)
//
// The header has its own checksum so that a damaged size field is caught
// before it is used to allocate.
const (
	magic = "HEARTHIX"
	// formatVersion: bump when the layout, the table's size or the name
	// hash changes. 2: a load of 0.7 (slotCount), not 0.8.
	formatVersion = 2
	headerSize    = 64
	// maxFileNames bounds the names a file may claim (a 3.1 GB table), so
	// a crafted header cannot make Read allocate without limit.
	maxFileNames = 1 << 28
)

// ErrCorrupt is wrapped by every error Read returns for a file that is not
// a valid index: wrong magic, unknown version, bad checksum, truncation or
// inconsistent contents.
var ErrCorrupt = errors.New("corrupt index file")

// castagnoli returns the CRC-32C table (hardware-accelerated on amd64 and
// arm64; the standard library builds it once).
func castagnoli() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// WriteTo writes the index in its flat-file form, which Read loads. The
// output depends only on the index content, so equal lists give equal files.
// It implements io.WriterTo.
func (ix *Index) WriteTo(w io.Writer) (int64, error) {
	if ix == nil {
		ix = &Index{homes: uint64(slotCount(0)), slots: make([]uint64, slotCount(0)+1)}
	}
	tab := castagnoli()
	hdr := make([]byte, headerSize)
	copy(hdr, magic)
	binary.LittleEndian.PutUint32(hdr[8:], formatVersion)
	binary.LittleEndian.PutUint64(hdr[16:], uint64(ix.names))
	binary.LittleEndian.PutUint64(hdr[24:], uint64(ix.merged))
	binary.LittleEndian.PutUint64(hdr[32:], uint64(len(ix.slots)))
	binary.LittleEndian.PutUint32(hdr[40:], uint32(len(ix.sets)))
	binary.LittleEndian.PutUint32(hdr[44:], uint32(len(ix.members)))
	binary.LittleEndian.PutUint32(hdr[60:], crc32.Checksum(hdr[:60], tab))

	cw := &countWriter{w: w}
	if _, err := cw.Write(hdr); err != nil {
		return cw.n, fmt.Errorf("writing index: %w", err)
	}
	bw := &bodyWriter{w: cw, tab: tab, buf: make([]byte, 0, 64<<10)}
	for _, s := range ix.sets {
		bw.u16(s.nExact)
		bw.u16(s.nSubtree)
		bw.u16(s.nExcept)
	}
	for _, m := range ix.members {
		bw.u16(uint16(m))
	}
	if b, ok := slotBytes(ix.slots); ok {
		// The slots are already in file order: write them as they are
		// (at 5 M names, 52 MB; encoding them one by one cost a tenth of
		// a cold start).
		bw.raw(b)
	} else {
		for _, s := range ix.slots {
			bw.u64(s)
		}
	}
	bw.flush()
	err := bw.err
	if err == nil {
		_, err = cw.Write(binary.LittleEndian.AppendUint32(nil, bw.crc))
	}
	if err != nil {
		return cw.n, fmt.Errorf("writing index: %w", err)
	}
	return cw.n, nil
}

// bodyWriter buffers the body, computing its CRC-32C, and keeps the first
// write error.
type bodyWriter struct {
	w   io.Writer
	tab *crc32.Table
	crc uint32
	buf []byte
	err error
}

func (bw *bodyWriter) flush() {
	if bw.err == nil && len(bw.buf) > 0 {
		bw.crc = crc32.Update(bw.crc, bw.tab, bw.buf)
		_, bw.err = bw.w.Write(bw.buf)
	}
	bw.buf = bw.buf[:0]
}

// raw writes b, which must not be in bw.buf, after flushing the buffer.
func (bw *bodyWriter) raw(b []byte) {
	bw.flush()
	if bw.err == nil {
		bw.crc = crc32.Update(bw.crc, bw.tab, b)
		_, bw.err = bw.w.Write(b)
	}
}

// slotBytes returns the memory of slots as bytes when that is their file
// form (a little-endian machine), so they are written and read without
// encoding each one.
func slotBytes(slots []uint64) ([]byte, bool) {
	if len(slots) == 0 || binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return nil, false
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(slots))), 8*len(slots)), true
}

func (bw *bodyWriter) u16(v uint16) {
	if len(bw.buf)+2 > cap(bw.buf) {
		bw.flush()
	}
	bw.buf = binary.LittleEndian.AppendUint16(bw.buf, v)
}

func (bw *bodyWriter) u64(v uint64) {
	if len(bw.buf)+8 > cap(bw.buf) {
		bw.flush()
	}
	bw.buf = binary.LittleEndian.AppendUint64(bw.buf, v)
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Read loads an index written by WriteTo. It checks the magic, version,
// both checksums and the consistency of every slot and set, and wraps
// ErrCorrupt in its error if any check fails. It reads exactly the bytes
// WriteTo wrote and nothing after them.
func Read(r io.Reader) (*Index, error) {
	ix, err := read(r)
	if err != nil {
		return nil, fmt.Errorf("reading index: %w", err)
	}
	return ix, nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

func read(r io.Reader) (*Index, error) {
	tab := castagnoli()
	hdr := make([]byte, headerSize)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, truncated(err, "header")
	}
	if string(hdr[:8]) != magic {
		return nil, corrupt("bad magic %q, not a Hearth index file", hdr[:8])
	}
	if v := binary.LittleEndian.Uint32(hdr[8:]); v != formatVersion {
		return nil, corrupt("unsupported format version %d (this build reads %d)", v, formatVersion)
	}
	if got, want := crc32.Checksum(hdr[:60], tab), binary.LittleEndian.Uint32(hdr[60:]); got != want {
		return nil, corrupt("header checksum %08x, want %08x", got, want)
	}
	var (
		flags    = binary.LittleEndian.Uint32(hdr[12:])
		names    = binary.LittleEndian.Uint64(hdr[16:])
		merged   = binary.LittleEndian.Uint64(hdr[24:])
		nSlots   = binary.LittleEndian.Uint64(hdr[32:])
		nSets    = uint64(binary.LittleEndian.Uint32(hdr[40:]))
		nMembers = uint64(binary.LittleEndian.Uint32(hdr[44:]))
	)
	switch {
	case flags != 0:
		return nil, corrupt("unknown flags %#x", flags)
	case names > maxFileNames || merged > maxFileNames:
		return nil, corrupt("%d names, %d merged: more than %d", names, merged, maxFileNames)
	case nSlots <= uint64(slotCount(int(names+merged))) || nSlots > uint64(slotCount(int(names+merged)))+names+merged+1:
		return nil, corrupt("%d slots for %d names", nSlots, names+merged)
	case nSets > maxSets || (nSets == 0) != (names == 0):
		return nil, corrupt("%d list sets for %d names", nSets, names)
	case nMembers < nSets || nMembers > nSets*3*maxSets:
		return nil, corrupt("%d member lists for %d sets", nMembers, nSets)
	}

	body := &crcReader{r: r, tab: tab}
	buf := make([]byte, 64<<10)
	// next returns the next n bytes of the body (n <= len(buf)).
	next := func(n int) ([]byte, error) {
		b := buf[:n]
		_, err := io.ReadFull(body, b)
		return b, err
	}

	ix := &Index{
		homes:   uint64(slotCount(int(names + merged))),
		names:   int(names),
		merged:  int(merged),
		sets:    make([]setRec, nSets),
		flags:   make([]uint8, nSets),
		members: make([]ListID, nMembers),
		slots:   newSlots(int(nSlots), int(nSlots)),
	}
	var off uint64
	for i := range ix.sets {
		b, err := next(6)
		if err != nil {
			return nil, truncated(err, "list sets")
		}
		s := setRec{
			off:      uint32(min(off, nMembers)),
			nExact:   binary.LittleEndian.Uint16(b),
			nSubtree: binary.LittleEndian.Uint16(b[2:]),
			nExcept:  binary.LittleEndian.Uint16(b[4:]),
		}
		n := uint64(s.nExact) + uint64(s.nSubtree) + uint64(s.nExcept)
		if n == 0 {
			return nil, corrupt("list set %d is empty", i)
		}
		off += n
		ix.sets[i] = s
		ix.flags[i] = setFlags(int(s.nExact), int(s.nSubtree), int(s.nExcept))
	}
	if off != nMembers {
		return nil, corrupt("list sets hold %d lists, header says %d", off, nMembers)
	}
	if err := readChunks(len(ix.members), 2, next, func(i int, b []byte) {
		ix.members[i] = ListID(binary.LittleEndian.Uint16(b))
	}); err != nil {
		return nil, truncated(err, "member lists")
	}
	if b, ok := slotBytes(ix.slots); ok {
		if _, err := io.ReadFull(body, b); err != nil {
			return nil, truncated(err, "slots")
		}
	} else if err := readChunks(len(ix.slots), 8, next, func(i int, b []byte) {
		ix.slots[i] = binary.LittleEndian.Uint64(b)
	}); err != nil {
		return nil, truncated(err, "slots")
	}
	sum := body.crc
	b, err := next(4)
	if err != nil {
		return nil, truncated(err, "checksum")
	}
	if want := binary.LittleEndian.Uint32(b); sum != want {
		return nil, corrupt("body checksum %08x, want %08x", sum, want)
	}
	if err := ix.validate(); err != nil {
		return nil, err
	}
	return ix, nil
}

// readChunks decodes n items of size bytes each through next, in chunks.
func readChunks(n, size int, next func(int) ([]byte, error), put func(int, []byte)) error {
	per := (64 << 10) / size
	for i := 0; i < n; i += per {
		c := min(per, n-i)
		b, err := next(c * size)
		if err != nil {
			return err
		}
		for j := range c {
			put(i+j, b[j*size:])
		}
	}
	return nil
}

// validate checks what the checksums cannot: that the contents are ones
// Build could have produced, so a lookup can never index out of range.
func (ix *Index) validate() error {
	for i := range ix.sets {
		ls := ix.Set(SetID(i))
		for _, run := range [][]ListID{ls.Exact, ls.Subtree, ls.Except} {
			for j := 1; j < len(run); j++ {
				if run[j] <= run[j-1] {
					return corrupt("list set %d is not sorted", i)
				}
			}
		}
	}
	if ix.slots[len(ix.slots)-1] != 0 {
		return corrupt("the last slot is not empty")
	}
	used := 0
	for i, s := range ix.slots {
		if s == 0 {
			continue
		}
		used++
		if s>>16 == 0 {
			return corrupt("slot %d has a zero fingerprint", i)
		}
		if int(uint16(s)) >= len(ix.sets) {
			return corrupt("slot %d names list set %d of %d", i, uint16(s), len(ix.sets))
		}
	}
	if used != ix.names {
		return corrupt("%d slots in use, header says %d names", used, ix.names)
	}
	return nil
}

// truncated turns a short read into an ErrCorrupt error naming the part.
func truncated(err error, part string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt("truncated in the %s", part)
	}
	return fmt.Errorf("reading the %s: %w", part, err)
}

// crcReader computes the CRC-32C of everything read through it.
type crcReader struct {
	r   io.Reader
	tab *crc32.Table
	crc uint32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc = crc32.Update(c.crc, c.tab, p[:n])
	return n, err
}
