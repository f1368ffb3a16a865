// Package heapprof writes heap profiles at a chosen moment: when the
// server is told to stop (hearth serve --memprofile) or once a benchmark
// has built what it measures, which go test -memprofile, written at the
// end of the run, cannot show.
package heapprof

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// Write writes the heap profile to path after a collection: what is live
// (go tool pprof -sample_index=inuse_space).
func Write(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("heap profile %s: %w", path, err)
	}
	return f.Close()
}
