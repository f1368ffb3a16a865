//go:build !unix

package cycles

import "time"

// ThreadCPU returns 0: no per-thread CPU clock here.
func ThreadCPU() time.Duration { return 0 }

// ProcessCPU returns 0: no process CPU clock read here.
func ProcessCPU() time.Duration { return 0 }
