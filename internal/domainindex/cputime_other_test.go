//go:build !unix

package domainindex

import "time"

// cpuTime is not measured on this platform; the cpu-ns/op metric is 0.
func cpuTime() time.Duration { return 0 }
