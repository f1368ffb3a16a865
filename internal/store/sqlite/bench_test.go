package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/storetest"
)

// BenchmarkStore runs the backends' shared benchmarks on a new file: a
// create pays the fsync of the WAL.
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		s := openPath(b, filepath.Join(b.TempDir(), "hearth.db"))
		b.Cleanup(func() { s.Close() })
		return s
	})
}
