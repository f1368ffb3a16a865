package querylog

import "golang.org/x/sys/unix"

// lowerThreadPriority makes the calling OS thread (the writer goroutine,
// locked to it) nice 10, so that when the CPU is short the kernel runs the
// threads answering queries first: the log falls behind and drops, the
// answers do not wait. Linux nice values are per thread.
func lowerThreadPriority() error {
	return unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), writerNice)
}
