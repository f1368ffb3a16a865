//go:build !amd64

package cycles

import "time"

var start = time.Now()

// Ticks returns the monotonic clock in nanoseconds since the package
// was loaded.
func Ticks() uint64 { return uint64(time.Since(start)) }
