//go:build !amd64

package querylog

import "unsafe"

// prefetchW does nothing on this architecture (see prefetch_amd64.go).
func prefetchW(p unsafe.Pointer) {}
