package domainindex

import (
	"syscall"
	"unsafe"
)

// hugePage is the size of an x86-64 and arm64 transparent huge page.
const hugePage = 2 << 20

// newSlots allocates a slot table of length n and capacity c and asks the
// kernel to back it with transparent huge pages where the system allows it
// ("madvise" mode, the Debian default). A lookup touches a few random slots
// of a table of tens of megabytes; with 4 KiB pages each of those also
// misses the TLB and walks the page table, which measured about a third of
// a cycling lookup's cost. The advice covers only the 2 MiB-aligned interior
// of the slice, so it never reaches memory the slice does not own; it is
// best effort, and a kernel that refuses it changes nothing but speed.
func newSlots(n, c int) []uint64 {
	s := make([]uint64, n, c)
	if c*8 < 2*hugePage {
		return s
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	end := start + uintptr(c)*8
	lo := (start + hugePage - 1) &^ (hugePage - 1)
	hi := end &^ (hugePage - 1)
	if hi <= lo {
		return s
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), c*8)
	_ = syscall.Madvise(b[lo-start:hi-start], syscall.MADV_HUGEPAGE)
	return s
}
