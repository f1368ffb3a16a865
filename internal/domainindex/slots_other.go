//go:build !linux

package domainindex

import "unsafe"

// hugePage is the size of a transparent huge page (used by the tests).
const hugePage = 2 << 20

// newSlots allocates a slot table of length n and capacity c (see the Linux
// version, which also asks for huge pages).
func newSlots(n, c int) []uint64 {
	return make([]uint64, n, c)
}

// adviseHugePages does nothing here (see the Linux version).
func adviseHugePages(p unsafe.Pointer, size uintptr) {}
