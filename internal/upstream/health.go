package upstream

import (
	"sync/atomic"
	"time"
)

const (
	// downAfter consecutive failures mark an upstream down: one lost UDP
	// datagram is not enough.
	downAfter = 2
	// minBackoff is how long an upstream stays down after downAfter
	// failures; each further failure doubles it, up to maxBackoff.
	minBackoff = time.Second
	maxBackoff = 60 * time.Second
	// rttWeight is the inverse weight of a new sample in the smoothed RTT
	// (1/4, a little faster than TCP's 1/8, as upstream RTTs are few).
	rttWeight = 4
)

// health is what a Group knows of one upstream. Its fields are atomics so
// that concurrent queries update it without a lock; a lost update among
// racing samples changes an average slightly and nothing else.
type health struct {
	// srtt is the smoothed round-trip time in nanoseconds; 0 means never
	// measured, which ranks first so that every upstream gets measured.
	srtt atomic.Int64
	// fails counts consecutive failures.
	fails atomic.Int64
	// downUntil is the Unix time in nanoseconds before which the upstream
	// is only tried when every other has failed.
	downUntil atomic.Int64
}

// up reports whether the upstream may be tried first at now.
func (h *health) up(now time.Time) bool { return now.UnixNano() >= h.downUntil.Load() }

// success records an answer that took rtt.
func (h *health) success(rtt time.Duration) {
	h.fails.Store(0)
	h.downUntil.Store(0)
	h.sample(rtt)
}

// failure records a failed exchange at now. A failure counts as a sample of
// penalty in the smoothed RTT, so a flaky upstream sinks in the ranking
// before it is marked down. It returns the backoff when this failure marks
// the upstream down, else 0.
func (h *health) failure(now time.Time, penalty time.Duration) time.Duration {
	h.sample(penalty)
	n := h.fails.Add(1)
	if n < downAfter {
		return 0
	}
	backoff := maxBackoff
	if shift := n - downAfter; shift < 6 {
		backoff = min(minBackoff<<shift, maxBackoff)
	}
	h.downUntil.Store(now.Add(backoff).UnixNano())
	return backoff
}

func (h *health) sample(d time.Duration) {
	old := h.srtt.Load()
	if old == 0 {
		h.srtt.Store(max(int64(d), 1))
		return
	}
	h.srtt.Store(max(old+(int64(d)-old)/rttWeight, 1))
}
