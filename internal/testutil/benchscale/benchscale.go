// Package benchscale reads HEARTH_BENCH_SCALE, the size of the synthetic
// ISP that issue #13's benchmarks build (households, each with 5 devices
// and 2 bindings).
package benchscale

import (
	"os"
	"strconv"
	"testing"
)

// Households returns the number of households HEARTH_BENCH_SCALE asks for:
// 1 means 1,000,000, any other positive number is taken as it is. Unset,
// the benchmark skips, naming what it measures (what).
func Households(b testing.TB, what string) int {
	b.Helper()
	v := os.Getenv("HEARTH_BENCH_SCALE")
	if v == "" {
		b.Skip(what + ": set HEARTH_BENCH_SCALE=1 for 1,000,000 households (or a number of households)")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("HEARTH_BENCH_SCALE=%q: want 1 or a number of households", v)
	}
	if n == 1 {
		n = 1_000_000
	}
	return n
}
