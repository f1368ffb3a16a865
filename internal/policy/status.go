package policy

import (
	"strings"
	"time"
)

// StatusKind is what a Status item says a device is under.
type StatusKind uint8

// The kinds of status items.
const (
	// StatusPaused: a pause grant ("paused, 25 min left").
	StatusPaused StatusKind = iota
	// StatusAllowed: an allow grant ("youtube allowed until 18:00").
	StatusAllowed
	// StatusPauseWindow: an active pause window ("bedtime until 07:00").
	StatusPauseWindow
	// StatusAllowWindow: an active AllowOnly window ("games allowed
	// until 18:00").
	StatusAllowWindow
	// StatusBlockWindow: an active BlockExtra window ("homework: games
	// blocked until 18:00").
	StatusBlockWindow
)

// Status is one thing in force for a profile at an instant: a grant or
// an active schedule window, and when it ends.
type Status struct {
	Kind StatusKind
	// Name is the window's name, or the grant's target for an allow
	// grant (its Label without "allow:").
	Name string
	// Tags are the window's tags (categories and services).
	Tags []string
	// Until is when it ends.
	Until time.Time
}

// Status returns what is in force for profile at now: its active grants,
// then its active schedule windows, each with its end. It is for the
// dashboard, not the query path.
func (s *Snapshot) Status(profileIdx int, now time.Time) []Status {
	p := s.profiles.at(profileIdx)
	var out []Status
	for i := range p.Grants {
		g := &p.Grants[i]
		if !now.Before(g.Until) || g.Kind == GrantExtraTime {
			// Extra time shows with the budget it extends (Budgets).
			continue
		}
		st := Status{Kind: StatusAllowed, Until: g.Until, Name: g.Name}
		switch g.Kind {
		case GrantPause:
			st.Kind, st.Name = StatusPaused, ""
		case GrantAllowTags:
			// The builder labels it "allow:" + the grant's target.
			st.Name = strings.TrimPrefix(g.Label, "allow:")
		}
		out = append(out, st)
	}
	local := now.In(p.loc)
	for i := range p.Windows {
		w := &p.Windows[i]
		if !w.activeAt(local) {
			continue
		}
		st := Status{Name: w.Name, Until: w.endAfter(local), Tags: s.tagIDs(w.Tags)}
		switch w.Kind {
		case Pause:
			st.Kind = StatusPauseWindow
		case AllowOnly:
			st.Kind = StatusAllowWindow
		default:
			st.Kind = StatusBlockWindow
		}
		out = append(out, st)
	}
	return out
}

// endAfter returns when w, active at local, ends.
func (w *Window) endAfter(local time.Time) time.Time {
	y, m, d := local.Date()
	minute := local.Hour()*60 + local.Minute()
	// A window crossing midnight ends tomorrow in its evening part.
	if w.End <= w.Start && minute >= w.Start {
		d++
	}
	return time.Date(y, m, d, w.End/60, w.End%60, 0, 0, local.Location())
}

// tagIDs lists the categories of set, or its services when it holds no
// category: a window on "games" names games, not each game.
func (s *Snapshot) tagIDs(set TagSet) []string {
	var cats, services []string
	for t := range s.tags {
		if !set.Has(Tag(t)) {
			continue
		}
		if s.tags[t].Service {
			services = append(services, s.tags[t].ID)
		} else {
			cats = append(cats, s.tags[t].ID)
		}
	}
	if len(cats) > 0 {
		return cats
	}
	return services
}
