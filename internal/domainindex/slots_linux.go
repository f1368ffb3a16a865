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
// a cycling lookup's cost.
func newSlots(n, c int) []uint64 {
	s := make([]uint64, n, c)
	adviseHugePages(unsafe.Pointer(unsafe.SliceData(s)), uintptr(c)*8)
	return s
}

// adviseHugePages asks the kernel to back the size bytes at p, memory just
// allocated and not yet written, with transparent huge pages. The advice
// covers only the 2 MiB-aligned interior, so it never reaches memory the
// allocation does not own; it is best effort, and a kernel that refuses it
// changes nothing but speed. Regions under two huge pages are left alone.
func adviseHugePages(p unsafe.Pointer, size uintptr) {
	if size < 2*hugePage {
		return
	}
	start := uintptr(p)
	lo := (start + hugePage - 1) &^ (hugePage - 1)
	hi := (start + size) &^ (hugePage - 1)
	if hi <= lo {
		return
	}
	b := unsafe.Slice((*byte)(p), size)
	_ = syscall.Madvise(b[lo-start:hi-start], syscall.MADV_HUGEPAGE)
}
