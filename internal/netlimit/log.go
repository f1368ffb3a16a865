package netlimit

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// RateLimitedHandler passes at most burst records per period to the next
// handler and drops the rest. The first record of a new period is
// preceded by one saying how many were dropped, so nothing is lost
// silently.
type RateLimitedHandler struct {
	next slog.Handler
	st   *rateState
}

type rateState struct {
	burst  int
	period time.Duration
	now    func() time.Time

	mu      sync.Mutex
	start   time.Time
	n       int
	dropped int
}

// NewRateLimitedHandler wraps next. now is the clock (nil: time.Now).
func NewRateLimitedHandler(next slog.Handler, burst int, period time.Duration, now func() time.Time) *RateLimitedHandler {
	if now == nil {
		now = time.Now
	}
	return &RateLimitedHandler{next: next, st: &rateState{burst: burst, period: period, now: now}}
}

// Enabled reports whether the next handler takes records of level l.
func (h *RateLimitedHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

// Handle passes r on unless this period's burst is spent.
func (h *RateLimitedHandler) Handle(ctx context.Context, r slog.Record) error {
	st := h.st
	now := st.now()
	st.mu.Lock()
	dropped := 0
	if now.Sub(st.start) >= st.period {
		dropped, st.dropped = st.dropped, 0
		st.start, st.n = now, 0
	}
	if st.n >= st.burst {
		st.dropped++
		st.mu.Unlock()
		return nil
	}
	st.n++
	st.mu.Unlock()
	if dropped > 0 {
		s := slog.NewRecord(now, slog.LevelWarn, "log lines dropped by rate limit", 0)
		s.AddAttrs(slog.Int("dropped", dropped), slog.Duration("period", st.period))
		if err := h.next.Handle(ctx, s); err != nil {
			return err
		}
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a handler sharing h's limit.
func (h *RateLimitedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &RateLimitedHandler{next: h.next.WithAttrs(as), st: h.st}
}

// WithGroup returns a handler sharing h's limit.
func (h *RateLimitedHandler) WithGroup(name string) slog.Handler {
	return &RateLimitedHandler{next: h.next.WithGroup(name), st: h.st}
}

var _ slog.Handler = (*RateLimitedHandler)(nil)
