package api

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Device state kinds, as DeviceState.Kind says them.
const (
	StatePaused      = "paused"       // a pause grant
	StateAllowed     = "allowed"      // an allow grant
	StatePauseWindow = "pause_window" // a pause window of the schedule (bedtime)
	StateAllowWindow = "allow_window" // an allow-only window (games time)
	StateBlockWindow = "block_window" // a block window (homework)
)

// DeviceState is one thing in force for a device now: a grant or an
// active schedule window, computed from the running policy.
type DeviceState struct {
	// Kind is one of the State* constants.
	Kind string `json:"kind"`
	// Name is the window's name or the allowed target.
	Name string `json:"name,omitempty"`
	// Tags are a window's categories (or services).
	Tags []string `json:"tags,omitempty"`
	// Until is when it ends.
	Until time.Time `json:"until"`
	// Text says it for people in the household's time zone: "bedtime
	// until 07:00", "paused, 25 min left", "games allowed until 18:00".
	Text string `json:"text"`
}

// homeLocation is the time zone of the caller's household (the home's
// for an operator): what the UI shows times in. UTC when none is set.
func (a *API) homeLocation(ctx context.Context) *time.Location {
	household := HomeHousehold
	if s := scopeOfContext(ctx); !s.all() {
		household = s.household
	}
	if h, err := a.c.Store.Household(ctx, household); err == nil && h.TimeZone != "" {
		if l, err := time.LoadLocation(h.TimeZone); err == nil {
			return l
		}
	}
	return time.UTC
}

// deviceStates asks the running policy what is in force for device now
// and words it in loc.
func (a *API) deviceStates(device string, loc *time.Location) []DeviceState {
	now := a.c.Now()
	states := a.c.Backend.DeviceStates(device, now)
	for i := range states {
		states[i].Text = stateText(states[i], now, loc)
	}
	if states == nil {
		states = []DeviceState{}
	}
	return states
}

// stateText words s at now in loc: the end as a clock time (with the
// day when it is not today), or the minutes left within the hour.
func stateText(s DeviceState, now time.Time, loc *time.Location) string {
	until := s.Until.In(loc)
	end := " until " + until.Format("15:04")
	y, m, d := now.In(loc).Date()
	if uy, um, ud := until.Date(); uy != y || um != m || ud != d {
		if tomorrow := time.Date(y, m, d+1, 0, 0, 0, 0, loc); uy == tomorrow.Year() && um == tomorrow.Month() && ud == tomorrow.Day() {
			end += " tomorrow"
		} else {
			end = " until " + until.Format("Mon 2 Jan 15:04")
		}
	}
	if left := s.Until.Sub(now); left <= time.Hour {
		end = fmt.Sprintf(", %d min left", max(1, int((left+time.Minute-1)/time.Minute)))
	}
	what := strings.Join(s.Tags, ", ")
	switch s.Kind {
	case StatePaused:
		return "paused" + end
	case StateAllowed:
		return s.Name + " allowed" + end
	case StatePauseWindow:
		return s.Name + end
	case StateAllowWindow:
		return what + " allowed" + end
	}
	return s.Name + ": " + what + " blocked" + end
}
