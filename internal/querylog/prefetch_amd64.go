package querylog

import "unsafe"

// prefetchW asks the CPU to fetch, for writing, the cache lines of the
// first 128 bytes at p (two or three lines: an Entry's fields and a name
// of up to 20 bytes), without waiting for them. Unlike a load, a
// prefetch holds up neither the instructions after it nor a later
// locked instruction (Log's unlock), so the next Log finds its slot
// in the cache (docs/performance.md, "The log's cost with confidence").
//
//go:noescape
func prefetchW(p unsafe.Pointer)
