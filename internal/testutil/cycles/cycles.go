// Package cycles reads a cheap, fine clock for benchmarks that time
// single operations shorter than a system call: the CPU's time-stamp
// counter on amd64, the monotonic clock elsewhere. Ticks are converted
// to nanoseconds with a rate measured against the monotonic clock.
package cycles

import "time"

// Clock converts ticks to nanoseconds at the rate measured between its
// Start and Stop.
type Clock struct {
	t0, t1 uint64
	w0     time.Time
	perNs  float64
}

// Start starts measuring the tick rate.
func (c *Clock) Start() {
	c.w0 = time.Now()
	c.t0 = Ticks()
}

// Stop ends measuring the tick rate; call it after the timed work, at
// least some milliseconds after Start.
func (c *Clock) Stop() {
	c.t1 = Ticks()
	if ns := time.Since(c.w0).Nanoseconds(); ns > 0 {
		c.perNs = float64(c.t1-c.t0) / float64(ns)
	}
}

// Nanoseconds converts a number of ticks to nanoseconds.
func (c *Clock) Nanoseconds(ticks uint64) float64 {
	if c.perNs == 0 {
		return 0
	}
	return float64(ticks) / c.perNs
}
