package policy

import (
	"fmt"
	"time"
)

// WindowKind is what a schedule window does while it is active.
type WindowKind uint8

// The kinds of schedule windows.
const (
	// BlockExtra blocks the window's tags on top of the profile's
	// (homework time).
	BlockExtra WindowKind = iota
	// AllowOnly allows the window's tags only while some AllowOnly window
	// with them is active; outside, they are blocked (recreation time).
	AllowOnly
	// Pause blocks everything but the profile's allow list (bedtime).
	Pause
)

// Window is one weekly schedule window, in the profile's time zone.
type Window struct {
	// Days says on which weekdays the window starts (index time.Weekday).
	Days [7]bool
	// Start and End are minutes after local midnight, 0 to 1440. An End
	// at or before Start means the window ends the next day (bedtime
	// 21:00 to 07:00).
	Start, End int
	Kind       WindowKind
	// Tags are the tags BlockExtra blocks or AllowOnly allows.
	Tags TagSet
	// Name labels the window in explanations ("bedtime").
	Name string
}

// validate checks w's fields.
func (w Window) validate() error {
	if w.Start < 0 || w.Start >= 24*60 || w.End < 0 || w.End > 24*60 {
		return fmt.Errorf("window %q: start %d and end %d must be minutes within a day", w.Name, w.Start, w.End)
	}
	for _, d := range w.Days {
		if d {
			return nil
		}
	}
	return fmt.Errorf("window %q: no day", w.Name)
}

// activeAt reports whether w covers local wall-clock time t.
func (w *Window) activeAt(t time.Time) bool {
	minute := t.Hour()*60 + t.Minute()
	day := t.Weekday()
	if w.End > w.Start {
		return w.Days[day] && minute >= w.Start && minute < w.End
	}
	// Crossing midnight: the evening part today, or the morning part of
	// a window that started yesterday.
	return (w.Days[day] && minute >= w.Start) || (w.Days[(day+6)%7] && minute < w.End)
}

// scheduleState is what a profile's schedule means at one instant.
type scheduleState struct {
	block  TagSet // tags blocked on top of the profile's
	paused bool
	window int // the pause window, for explanations; -1 if none
}

// state evaluates p's windows at now.
func (p *profile) state(now time.Time) scheduleState {
	st := scheduleState{window: -1}
	if len(p.Windows) == 0 {
		return st
	}
	local := now.In(p.loc)
	var allowedNow TagSet
	for i := range p.Windows {
		w := &p.Windows[i]
		active := w.activeAt(local)
		switch w.Kind {
		case BlockExtra:
			if active {
				st.block = st.block.Or(w.Tags)
			}
		case AllowOnly:
			if active {
				allowedNow = allowedNow.Or(w.Tags)
			}
		case Pause:
			if active && !st.paused {
				st.paused, st.window = true, i
			}
		}
	}
	st.block = st.block.Or(p.allowOnly.AndNot(allowedNow))
	return st
}

// NextChange returns the next instant after now at which a window of the
// profile starts or ends, so that answers can be cached no longer than
// that (no cached answer outlives bedtime). It returns the zero time when
// the profile has no windows.
func (s *Snapshot) NextChange(profileIdx int, now time.Time) time.Time {
	p := s.profiles.at(profileIdx)
	if len(p.Windows) == 0 && len(p.Grants) == 0 {
		return time.Time{}
	}
	// Every allowed answer asks, and the walk below costs about a
	// microsecond: keep the last result, which holds for any instant from
	// the one it was computed at up to the change it found.
	if c := p.nextChange.Load(); c != nil && !now.Before(c.from) && now.Before(c.next) {
		return c.next
	}
	next := p.computeNextChange(now)
	if g := p.nextGrantEnd(now); !g.IsZero() && (next.IsZero() || g.Before(next)) {
		// A grant's end is a change too: nothing it allowed may stay
		// cached past it.
		next = g
	}
	if !next.IsZero() {
		p.nextChange.Store(&cachedChange{from: now, next: next})
	}
	return next
}

// cachedChange is a computed next change and the instant it was computed
// at: no window starts or ends in between.
type cachedChange struct{ from, next time.Time }

// computeNextChange walks the windows around now for the first start or
// end after it.
func (p *profile) computeNextChange(now time.Time) time.Time {
	if len(p.Windows) == 0 {
		return time.Time{}
	}
	local := now.In(p.loc)
	y, m, d := local.Date()
	var next time.Time
	// A window starting yesterday may end today; one starting within the
	// next week starts then. time.Date normalises DST gaps and overlaps.
	for offset := -1; offset <= 7; offset++ {
		day := time.Date(y, m, d+offset, 0, 0, 0, 0, p.loc)
		wd := day.Weekday()
		for i := range p.Windows {
			w := &p.Windows[i]
			if !w.Days[wd] {
				continue
			}
			start := time.Date(y, m, d+offset, w.Start/60, w.Start%60, 0, 0, p.loc)
			endDay := d + offset
			if w.End <= w.Start {
				endDay++
			}
			end := time.Date(y, m, endDay, w.End/60, w.End%60, 0, 0, p.loc)
			for _, t := range [2]time.Time{start, end} {
				if t.After(now) && (next.IsZero() || t.Before(next)) {
					next = t
				}
			}
		}
	}
	return next
}

// TTLLimit returns the longest TTL, in seconds, an answer decided for the
// profile at now may carry, and false when the profile has no schedule and
// no grant.
func (s *Snapshot) TTLLimit(profileIdx int, now time.Time) (uint32, bool) {
	next := s.NextChange(profileIdx, now)
	if next.IsZero() {
		return 0, false
	}
	secs := next.Sub(now) / time.Second
	return uint32(max(secs, 1)), true
}
