package querylog

import "unsafe"

// MemoryBound returns the most Go heap, in bytes, a Writer with
// Config.Buffer buffer (0: DefaultBuffer) holds, whatever the queries:
// every name new, every explanation MaxTextLen long. The application
// counts it in its memory limit (memory_limit: auto), so that what the
// log holds is not taken from the collector's headroom. SQLite's page
// caches are allocated outside the Go heap and are not counted.
//
// It is the sum of:
//   - the buffer: buffer Entries of fixed size;
//   - the held rows: at most maxHeld+buffer (Writer.write inserts them
//     all past maxHeld and moves no more between INSERTs), each a
//     pointer-free record in one slice with its explanation and name in
//     one byte arena (insertBefore compacts both in place) and up to four
//     slots in the index (at most half full), six while it doubles, with
//     room for append's growth;
//   - the name caches: maxCachedNames names of up to MaxNameLen bytes
//     with their map slots, and the device and tag ids' slots both ways
//     (those strings are the policy's);
//   - one batch's scratch: maxBatch entries' times, order, ids, new
//     names, and the rows started.
func MemoryBound(buffer int) int64 {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	var (
		heldRowBytes = int64(unsafe.Sizeof(heldRow{}))
		// perHeld: the row, its explanation and name, and six index
		// slots.
		perHeld = heldRowBytes + MaxTextLen + MaxNameLen + 6*int64(unsafe.Sizeof(heldSlot{}))
		// perName: the name (MaxNameLen rounded to its size class) and
		// a map slot of a string and an int64, in names; a slot in strs
		// and one in strOf.
		perName = 256 + 3*mapSlot(16+8)
		// perBatch: a time, an order, an id and a new name's string
		// header, id and pending slot, besides the name itself; a row
		// started.
		perBatch = 8 + 4 + 8 + 16 + 8 + 256 + mapSlot(16+4) + 4
	)
	ring := int64(buffer) * int64(unsafe.Sizeof(Entry{}))
	// append grows a large slice by a quarter: count the slack.
	held := int64(maxHeld+buffer) * perHeld * 5 / 4
	return ring + held + maxCachedNames*perName + maxBatch*perBatch
}

// mapSlot bounds the bytes a Go map takes per entry of kv bytes (key and
// value): one control byte per slot, a 7/8 load factor, and a table that
// doubles when full.
func mapSlot(kv int64) int64 { return 2 * (kv + 1) * 8 / 7 }

// MemoryBound returns MemoryBound of w's buffer.
func (w *Writer) MemoryBound() int64 { return MemoryBound(w.cfg.Buffer) }
