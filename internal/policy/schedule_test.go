package policy

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zone database, whatever the machine has

	"github.com/hearth-dns/hearth/internal/domainindex"
)

const (
	schedGames Tag = iota
	schedVideo
	schedSocial
)

// scheduleSnapshot: one profile in Paris with bedtime every night,
// homework on weekdays and recreation-only video at weekend mornings.
func scheduleSnapshot(t testing.TB) (*Snapshot, *time.Location) {
	t.Helper()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatalf("time zone: %v", err)
	}
	b := domainindex.NewBuilder(4)
	b.Add("roblox.com", 0, domainindex.Subtree)
	b.Add("youtube.com", 1, domainindex.Subtree)
	b.Add("tiktok.com", 2, domainindex.Subtree)
	ix, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	every := [7]bool{true, true, true, true, true, true, true}
	weekdays := [7]bool{false, true, true, true, true, true, false}
	weekend := [7]bool{true, false, false, false, false, false, true}
	s, err := NewSnapshot(Config{
		Tags:  []TagInfo{{ID: "games"}, {ID: "video"}, {ID: "social"}},
		Lists: []ListInfo{{ID: "games-list", Tag: schedGames}, {ID: "video-list", Tag: schedVideo}, {ID: "social-list", Tag: schedSocial}},
		Index: ix,
		Profiles: []ProfileSpec{{
			Name:     "kid",
			Block:    TagSet{}.With(schedSocial),
			Allow:    []Override{{Name: "khanacademy.org", Subtree: true}},
			Location: paris,
			Windows: []Window{
				{Name: "bedtime", Days: every, Start: 21 * 60, End: 7 * 60, Kind: Pause},
				{Name: "homework", Days: weekdays, Start: 16 * 60, End: 18 * 60, Kind: BlockExtra, Tags: TagSet{}.With(schedGames)},
				{Name: "recreation", Days: weekend, Start: 10 * 60, End: 12 * 60, Kind: AllowOnly, Tags: TagSet{}.With(schedVideo)},
			},
		}},
		DefaultProfile: "kid",
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, paris
}

func TestSchedules(t *testing.T) {
	s, paris := scheduleSnapshot(t)
	at := func(v string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", v, paris)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		when       string // Paris wall clock; 2026-11-27 is a Friday
		name       string
		wantAction Action
		wantText   string
	}{
		{"2026-11-27 15:00", "roblox.com", Allow, "allowed"},
		{"2026-11-27 16:00", "roblox.com", Block, "blocked: category=games source=games-list schedule=homework rule=roblox.com"},
		{"2026-11-27 17:59", "www.roblox.com", Block, "schedule=homework"},
		{"2026-11-27 18:00", "roblox.com", Allow, "allowed"},
		{"2026-11-28 16:30", "roblox.com", Allow, "allowed"}, // Saturday: no homework
		{"2026-11-27 20:59", "www.example.org", Allow, "allowed"},
		{"2026-11-27 21:00", "www.example.org", Block, "blocked: paused schedule=bedtime profile=kid"},
		{"2026-11-27 23:59", "www.example.org", Block, "paused"},
		{"2026-11-28 06:59", "www.example.org", Block, "paused"}, // started Friday, crosses midnight
		{"2026-11-28 07:00", "www.example.org", Allow, "allowed"},
		{"2026-11-27 22:00", "khanacademy.org", Allow, "allow-rule"}, // the allow list beats bedtime
		{"2026-11-27 15:00", "tiktok.com", Block, "blocked: category=social source=social-list rule=tiktok.com profile=kid"},
		// Video only inside recreation time (weekend 10:00-12:00).
		{"2026-11-28 09:59", "youtube.com", Block, "category=video source=video-list schedule=recreation"},
		{"2026-11-28 10:00", "youtube.com", Allow, "allowed"},
		{"2026-11-29 11:59", "m.youtube.com", Allow, "allowed"},
		{"2026-11-27 11:00", "youtube.com", Block, "schedule=recreation"}, // a Friday
	}
	for _, tc := range tests {
		t.Run(tc.when+" "+tc.name, func(t *testing.T) {
			d := s.Decide(0, at(tc.when), []byte(tc.name), 1)
			if d.Action != tc.wantAction {
				t.Errorf("action %s, want %s (%s)", d.Action, tc.wantAction, s.Explain(d, tc.name))
			}
			if got := s.Explain(d, tc.name); !strings.Contains(got, tc.wantText) {
				t.Errorf("Explain = %q, want %q", got, tc.wantText)
			}
		})
	}
}

func TestNextChangeAcrossDST(t *testing.T) {
	s, paris := scheduleSnapshot(t)
	tests := []struct {
		now, want string // RFC 3339
	}{
		// Saturday 28 March 2026, bedtime; clocks go forward on Sunday
		// 29 March at 02:00, so 07:00 local is 05:00 UTC, not 06:00.
		{"2026-03-28T22:00:00+01:00", "2026-03-29T07:00:00+02:00"},
		// October: clocks go back on 25 October at 03:00.
		{"2026-10-24T22:00:00+02:00", "2026-10-25T07:00:00+01:00"},
		// Friday afternoon: homework ends at 18:00.
		{"2026-11-27T16:30:00+01:00", "2026-11-27T18:00:00+01:00"},
		// Friday 18:00 sharp: the next change is bedtime at 21:00.
		{"2026-11-27T18:00:00+01:00", "2026-11-27T21:00:00+01:00"},
	}
	for _, tc := range tests {
		now, _ := time.Parse(time.RFC3339, tc.now)
		want, _ := time.Parse(time.RFC3339, tc.want)
		if got := s.NextChange(0, now); !got.Equal(want) {
			t.Errorf("NextChange(%s) = %s, want %s", tc.now, got.In(paris).Format(time.RFC3339), tc.want)
		}
	}
	now, _ := time.Parse(time.RFC3339, "2026-11-27T20:59:30+01:00")
	if ttl, ok := s.TTLLimit(0, now); !ok || ttl != 30 {
		t.Errorf("TTLLimit 30 s before bedtime = %d, %v; want 30", ttl, ok)
	}
}

func TestScheduleDecideAllocatesNothing(t *testing.T) {
	s, _ := scheduleSnapshot(t)
	now := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	name := []byte("www.roblox.com")
	if n := testing.AllocsPerRun(100, func() { s.Decide(0, now, name, 1) }); n != 0 {
		t.Errorf("Decide with schedules allocates %.0f times", n)
	}
}

func TestWindowValidation(t *testing.T) {
	for _, w := range []Window{
		{Name: "no day", Start: 60, End: 120},
		{Name: "bad start", Days: [7]bool{true}, Start: -1, End: 10},
		{Name: "bad end", Days: [7]bool{true}, Start: 0, End: 1441},
	} {
		_, err := NewSnapshot(Config{Profiles: []ProfileSpec{{Name: "a", Windows: []Window{w}}}, DefaultProfile: "a"})
		if err == nil {
			t.Errorf("window %q accepted", w.Name)
		}
	}
}

func BenchmarkTTLLimit(b *testing.B) {
	s, _ := scheduleSnapshot(b)
	now := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		s.TTLLimit(0, now)
	}
}
