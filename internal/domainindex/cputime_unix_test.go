//go:build unix

package domainindex

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user + system) the process has used. The
// benchmarks report it per operation beside ns/op because the shared
// development machine is often busy, which inflates wall time but not
// CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
