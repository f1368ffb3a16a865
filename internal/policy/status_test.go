package policy

import (
	"fmt"
	"testing"
	"time"
)

// TestStatus: what is in force at an instant, with its end, in the
// profile's zone; bedtime crossing midnight ends the next morning, also
// on the night the clocks go back.
func TestStatus(t *testing.T) {
	s, paris := scheduleSnapshot(t)
	for _, tc := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"weekday afternoon", time.Date(2026, 11, 26, 15, 0, 0, 0, paris), ""},
		{"homework", time.Date(2026, 11, 26, 16, 30, 0, 0, paris), "block homework [games] 2026-11-26 18:00"},
		{"bedtime evening", time.Date(2026, 11, 26, 22, 0, 0, 0, paris), "pause bedtime [] 2026-11-27 07:00"},
		{"bedtime morning", time.Date(2026, 11, 27, 6, 59, 0, 0, paris), "pause bedtime [] 2026-11-27 07:00"},
		{"weekend recreation", time.Date(2026, 11, 28, 10, 15, 0, 0, paris), "allow recreation [video] 2026-11-28 12:00"},
		{"clocks go back", time.Date(2026, 10, 24, 23, 0, 0, 0, paris), "pause bedtime [] 2026-10-25 07:00"},
	} {
		got := ""
		for _, st := range s.Status(0, tc.at) {
			kind := map[StatusKind]string{StatusPauseWindow: "pause", StatusAllowWindow: "allow", StatusBlockWindow: "block"}[st.Kind]
			got += fmt.Sprintf("%s %s %v %s", kind, st.Name, st.Tags, st.Until.In(paris).Format("2006-01-02 15:04"))
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestStatusGrants: grants come first, pause without a name, an allow
// grant with its target, and an ended one not at all.
func TestStatusGrants(t *testing.T) {
	s, paris := scheduleSnapshot(t)
	at := time.Date(2026, 11, 26, 15, 0, 0, 0, paris)
	spec := ProfileSpec{Name: "kid~tab", Location: paris, Grants: []Grant{
		{Kind: GrantPause, Until: at.Add(25 * time.Minute), Label: "pause"},
		{Kind: GrantAllowTags, Tags: TagSet{}.With(schedGames), Until: at.Add(time.Hour), Label: "allow:games"},
		{Kind: GrantAllowName, Name: "roblox.com", Until: at.Add(-time.Minute), Label: "allow:roblox.com"},
	}}
	g, err := NewSnapshot(Config{Tags: []TagInfo{{ID: "games"}, {ID: "video"}, {ID: "social"}}, Index: s.Index(), Lists: []ListInfo{{ID: "games-list", Tag: schedGames}, {ID: "video-list", Tag: schedVideo}, {ID: "social-list", Tag: schedSocial}}, Profiles: []ProfileSpec{spec}, DefaultProfile: "kid~tab"})
	if err != nil {
		t.Fatal(err)
	}
	got := g.Status(0, at)
	if len(got) != 2 || got[0].Kind != StatusPaused || got[0].Name != "" || !got[0].Until.Equal(at.Add(25*time.Minute)) ||
		got[1].Kind != StatusAllowed || got[1].Name != "games" {
		t.Errorf("status %+v, want the pause then games allowed", got)
	}
}
