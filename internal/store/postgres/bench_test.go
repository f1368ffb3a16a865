package postgres

import (
	"testing"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/storetest"
)

// BenchmarkStore runs the backends' shared benchmarks on a new schema (the
// test cluster runs with fsync=off: compare commits, not durability).
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return openDSN(b, &Config{DSN: newSchema(b)}) })
}
