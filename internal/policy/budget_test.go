package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/domainindex"
)

// budgetSnapshot: a kid profile with a games budget of 60 minutes on
// school days and 120 at weekends, roblox.com listed as games with its
// telemetry host as a background name, and a homework window.
func budgetSnapshot(t testing.TB, grants []Grant) *Snapshot {
	t.Helper()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	b := domainindex.NewBuilder(3)
	b.Add("roblox.com", 0, domainindex.Subtree)
	b.Add("youtube.com", 1, domainindex.Subtree)
	b.Add("tiktok.com", 2, domainindex.Subtree)
	ix, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	weekdays := [7]bool{false, true, true, true, true, true, false}
	kid := ProfileSpec{
		Name:     "kid",
		Block:    TagSet{}.With(schedSocial),
		Allow:    []Override{{Name: "roblox.com", Subtree: false}},
		Location: paris,
		Windows:  []Window{{Name: "homework", Days: weekdays, Start: 16 * 60, End: 18 * 60, Kind: BlockExtra, Tags: TagSet{}.With(schedGames)}},
		Budgets: []Budget{
			{ID: "games", Tags: TagSet{}.With(schedGames), Minutes: [7]int{120, 60, 60, 60, 60, 60, 120}},
			{ID: "video", Tags: TagSet{}.With(schedVideo), Minutes: [7]int{NoBudget, 30, 30, 30, 30, 30, NoBudget}},
		},
		Grants: grants,
	}
	s, err := NewSnapshot(Config{
		Tags:           []TagInfo{{ID: "games"}, {ID: "video"}, {ID: "social"}},
		Lists:          []ListInfo{{ID: "games-list", Tag: schedGames}, {ID: "video-list", Tag: schedVideo}, {ID: "social-list", Tag: schedSocial}},
		Index:          ix,
		Profiles:       []ProfileSpec{kid},
		DefaultProfile: "kid",
		Background:     []BackgroundRule{{Name: "ephemeralcounters.api.roblox.com", Tags: TagSet{}.With(schedGames)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDecideSpent(t *testing.T) {
	s := budgetSnapshot(t, nil)
	friday := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC) // 15:00 in Paris
	homework := time.Date(2026, 11, 27, 15, 30, 0, 0, time.UTC)
	games, video := TagSet{}.With(schedGames), TagSet{}.With(schedVideo)
	tests := []struct {
		name      string
		at        time.Time
		spent     TagSet
		want      Action
		wantCount uint32
		wantText  string
	}{
		{"www.roblox.com", friday, TagSet{}, Allow, 1, "allowed: no-rule"},
		{"youtube.com", friday, TagSet{}, Allow, 2, "allowed: no-rule"},
		// Background names do not count.
		{"ephemeralcounters.api.roblox.com", friday, TagSet{}, Allow, 0, "allowed: no-rule"},
		{"example.org", friday, TagSet{}, Allow, 0, "allowed: no-rule"},
		{"www.roblox.com", friday, games, Block, 0, "blocked: time budget used budget=games category=games source=games-list rule=roblox.com profile=kid"},
		// Background names are blocked with their service.
		{"ephemeralcounters.api.roblox.com", friday, games, Block, 0, "time budget used budget=games"},
		{"youtube.com", friday, games, Allow, 2, "allowed: no-rule"},
		{"youtube.com", friday, games.Or(video), Block, 0, "budget=video"},
		// The allow rule beats the budget; a schedule explains itself.
		{"roblox.com", friday, games, Allow, 0, "allow-rule"},
		{"www.roblox.com", homework, games, Block, 0, "schedule=homework"},
		// A tag blocked by the profile itself stays a tag block.
		{"tiktok.com", friday, TagSet{}.With(schedSocial), Block, 0, "blocked: category=social"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := s.DecideSpent(0, tc.at, []byte(tc.name), 1, tc.spent)
			text := s.Explain(d, tc.name)
			if d.Action != tc.want || d.Count != tc.wantCount || !strings.Contains(text, tc.wantText) {
				t.Errorf("got %v count %b %q, want %v count %b %q", d.Action, d.Count, text, tc.want, tc.wantCount, tc.wantText)
			}
			if tc.want == Block && strings.Contains(tc.wantText, "budget") && d.Reason != ReasonBudget {
				t.Errorf("reason %v, want budget", d.Reason)
			}
		})
	}
}

func TestBudgetsOfTheDay(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	friday := time.Date(2026, 11, 27, 22, 30, 0, 0, paris)
	saturday := time.Date(2026, 11, 28, 0, 30, 0, 0, paris)
	grants := []Grant{{Kind: GrantExtraTime, Budget: "games", Minutes: 15, Until: time.Date(2026, 11, 28, 0, 0, 0, 0, paris), Label: "extra:games"}}
	s := budgetSnapshot(t, grants)
	tests := []struct {
		at                     time.Time
		wantN, wantLimit, want int
		wantStart              time.Time
	}{
		{friday, 2, 75, 15, time.Date(2026, 11, 27, 0, 0, 0, 0, paris)},
		// At midnight the weekend's budget applies, the extra time ends,
		// and video has no budget.
		{saturday, 1, 120, 0, time.Date(2026, 11, 28, 0, 0, 0, 0, paris)},
	}
	for _, tc := range tests {
		got := s.Budgets(0, tc.at)
		if len(got) != tc.wantN || got[0].Limit != tc.wantLimit || got[0].Extra != tc.want || !got[0].DayStart.Equal(tc.wantStart) {
			t.Errorf("%v: got %+v", tc.at, got)
		}
	}
}

func TestDecideSpentDoesNotAllocate(t *testing.T) {
	s := budgetSnapshot(t, nil)
	now := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	spent := TagSet{}.With(schedGames)
	for _, name := range []string{"www.roblox.com", "youtube.com", "ephemeralcounters.api.roblox.com"} {
		n := []byte(name)
		if a := testing.AllocsPerRun(100, func() { s.DecideSpent(0, now, n, 1, spent) }); a != 0 {
			t.Errorf("%s: %v allocations", name, a)
		}
	}
}
