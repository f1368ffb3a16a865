package api

import (
	"testing"
	"time"
)

// TestStateText: the words of each kind, in the household's zone: the
// minutes left within the hour, else the clock time, with "tomorrow" or
// the day when it is not today there.
func TestStateText(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) // 21:00 in Tokyo
	for _, tc := range []struct {
		s    DeviceState
		want string
	}{
		{DeviceState{Kind: StatePaused, Until: now.Add(25 * time.Minute)}, "paused, 25 min left"},
		{DeviceState{Kind: StatePaused, Until: now.Add(30*time.Second + 24*time.Minute)}, "paused, 25 min left"},
		{DeviceState{Kind: StatePaused, Until: now.Add(2 * time.Hour)}, "paused until 23:00"},
		{DeviceState{Kind: StatePauseWindow, Name: "bedtime", Until: time.Date(2026, 11, 27, 22, 0, 0, 0, time.UTC)}, "bedtime until 07:00 tomorrow"},
		{DeviceState{Kind: StateAllowWindow, Tags: []string{"games"}, Until: now.Add(30 * time.Minute)}, "games allowed, 30 min left"},
		{DeviceState{Kind: StateAllowed, Name: "youtube", Until: now.Add(3 * 24 * time.Hour)}, "youtube allowed until Mon 30 Nov 21:00"},
		{DeviceState{Kind: StateBlockWindow, Name: "homework", Tags: []string{"games", "social"}, Until: now.Add(90 * time.Minute)}, "homework: games, social blocked until 22:30"},
	} {
		if got := stateText(tc.s, now, tokyo); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.s, got, tc.want)
		}
	}
}
