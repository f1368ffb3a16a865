package heapprof

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWrite: Write writes a profile that pprof reads, and a path it
// cannot create is an error naming it.
func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "heap.prof")
	if err := Write(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A profile is gzip'd protocol buffers.
	if _, err := gzip.NewReader(f); err != nil {
		t.Errorf("profile is not gzip data: %v", err)
	}
	if err := Write(filepath.Join(t.TempDir(), "no", "such", "dir", "heap.prof")); err == nil || !strings.Contains(err.Error(), "heap profile") {
		t.Errorf("Write into a missing directory: %v, want an error", err)
	}
}
