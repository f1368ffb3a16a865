package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/domainindex"
)

// grantSnapshot: the scheduled kid profile of scheduleSnapshot, malware
// listed too, and a device's own copy of it ("kid~tablet") holding grants
// that end at 17:00 and 21:30 Paris time on Friday 2026-11-27.
func grantSnapshot(t testing.TB, grants []Grant) (*Snapshot, *time.Location) {
	t.Helper()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	const malware Tag = 3
	b := domainindex.NewBuilder(4)
	b.Add("roblox.com", 0, domainindex.Subtree)
	b.Add("youtube.com", 1, domainindex.Subtree)
	b.Add("tiktok.com", 2, domainindex.Subtree)
	b.Add("evil.tiktok.com", 3, domainindex.Subtree)
	ix, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	every := [7]bool{true, true, true, true, true, true, true}
	weekdays := [7]bool{false, true, true, true, true, true, false}
	kid := ProfileSpec{
		Name:     "kid",
		Block:    TagSet{}.With(schedSocial).With(malware),
		Allow:    []Override{{Name: "khanacademy.org", Subtree: true}},
		Location: paris,
		Windows: []Window{
			{Name: "bedtime", Days: every, Start: 21 * 60, End: 7 * 60, Kind: Pause},
			{Name: "homework", Days: weekdays, Start: 16 * 60, End: 18 * 60, Kind: BlockExtra, Tags: TagSet{}.With(schedGames)},
		},
	}
	dev := kid
	dev.Name, dev.Label, dev.Grants = "kid~tablet", "kid", grants
	s, err := NewSnapshot(Config{
		Tags:           []TagInfo{{ID: "games"}, {ID: "video"}, {ID: "social"}, {ID: "malware"}},
		Lists:          []ListInfo{{ID: "games-list", Tag: schedGames}, {ID: "video-list", Tag: schedVideo}, {ID: "social-list", Tag: schedSocial}, {ID: "malware-list", Tag: malware}},
		Index:          ix,
		Profiles:       []ProfileSpec{kid, dev},
		DefaultProfile: "kid",
		Protected:      TagSet{}.With(malware),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, paris
}

func TestGrants(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	at := func(v string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", v, paris)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	grants := []Grant{
		{Kind: GrantAllowTags, Tags: TagSet{}.With(schedGames), Until: at("2026-11-27 17:00"), Label: "allow-games"},
		{Kind: GrantAllowName, Name: "tiktok.com", Until: at("2026-11-27 21:30"), Label: "allow-tiktok.com"},
		{Kind: GrantPause, Until: at("2026-11-27 20:00"), Label: "pause"},
	}
	s, _ := grantSnapshot(t, grants)
	tests := []struct {
		when, name string
		profile    string
		want       Action
		wantText   string
	}{
		// The plain profile: homework blocks games, bedtime pauses.
		{"2026-11-27 16:30", "roblox.com", "kid", Block, "schedule=homework"},
		{"2026-11-27 16:30", "tiktok.com", "kid", Block, "category=social"},
		// The device: the games grant beats homework until 17:00.
		{"2026-11-27 16:30", "www.roblox.com", "kid~tablet", Allow, "allowed: grant=allow-games profile=kid"},
		{"2026-11-27 17:00", "roblox.com", "kid~tablet", Block, "paused grant=pause"},
		// The name grant covers subdomains, not look-alikes (which the
		// pause grant blocks).
		{"2026-11-27 16:30", "m.tiktok.com", "kid~tablet", Allow, "grant=allow-tiktok.com"},
		{"2026-11-27 16:30", "nottiktok.com", "kid~tablet", Block, "paused grant=pause"},
		// Malware stays blocked under a grant.
		{"2026-11-27 16:30", "evil.tiktok.com", "kid~tablet", Block, "category=malware"},
		// The pause grant blocks the rest until 20:00, not the grants or
		// the allow list.
		{"2026-11-27 16:30", "example.org", "kid~tablet", Block, "blocked: paused grant=pause profile=kid"},
		{"2026-11-27 16:30", "khanacademy.org", "kid~tablet", Allow, "allow-rule"},
		{"2026-11-27 20:00", "example.org", "kid~tablet", Allow, "allowed"},
		// Bedtime: the name grant still beats the pause until 21:30.
		{"2026-11-27 21:10", "tiktok.com", "kid~tablet", Allow, "grant=allow-tiktok.com"},
		{"2026-11-27 21:30", "tiktok.com", "kid~tablet", Block, "paused schedule=bedtime"},
		{"2026-11-27 21:10", "example.org", "kid~tablet", Block, "schedule=bedtime"},
	}
	for _, tc := range tests {
		t.Run(tc.when+" "+tc.name+" "+tc.profile, func(t *testing.T) {
			p, ok := s.Profile(tc.profile)
			if !ok {
				t.Fatalf("no profile %q", tc.profile)
			}
			d := s.Decide(p, at(tc.when), []byte(tc.name), 1)
			text := s.Explain(d, tc.name)
			if d.Action != tc.want || !strings.Contains(text, tc.wantText) {
				t.Errorf("got %v %q, want %v containing %q", d.Action, text, tc.want, tc.wantText)
			}
		})
	}
}

func TestGrantTTLLimit(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	now := time.Date(2026, 11, 27, 14, 0, 0, 0, paris)
	s, _ := grantSnapshot(t, []Grant{{Kind: GrantAllowName, Name: "tiktok.com", Until: now.Add(90 * time.Second), Label: "x"}})
	p, _ := s.Profile("kid~tablet")
	if got, ok := s.TTLLimit(p, now); !ok || got != 90 {
		t.Errorf("TTL limit with a grant ending in 90 s: %d %v, want 90", got, ok)
	}
	// After the grant, the next change is homework at 16:00.
	later := now.Add(2 * time.Minute)
	if got, ok := s.TTLLimit(p, later); !ok || got != uint32((2*time.Hour-2*time.Minute)/time.Second) {
		t.Errorf("TTL limit after the grant: %d %v", got, ok)
	}
}

func TestGrantValidate(t *testing.T) {
	for _, g := range []Grant{{Kind: GrantPause}, {Kind: GrantAllowName, Until: time.Now()}} {
		_, err := NewSnapshot(Config{Profiles: []ProfileSpec{{Name: "p", Grants: []Grant{g}}}, DefaultProfile: "p"})
		if err == nil {
			t.Errorf("grant %+v accepted", g)
		}
	}
}

func TestDecideWithGrantsAllocs(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	now := time.Date(2026, 11, 27, 16, 30, 0, 0, paris)
	s, _ := grantSnapshot(t, []Grant{
		{Kind: GrantAllowTags, Tags: TagSet{}.With(schedGames), Until: now.Add(time.Hour), Label: "g"},
		{Kind: GrantPause, Until: now.Add(time.Hour), Label: "p"},
	})
	p, _ := s.Profile("kid~tablet")
	for _, name := range []string{"www.roblox.com", "example.org", "tiktok.com"} {
		n := []byte(name)
		if a := testing.AllocsPerRun(100, func() { s.Decide(p, now, n, 1) }); a != 0 {
			t.Errorf("Decide(%s) with grants: %v allocs", name, a)
		}
	}
}
