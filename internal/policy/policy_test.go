package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/domainindex"
)

// Tags of the test snapshot, in table order.
const (
	tagMalware Tag = iota
	tagPhishing
	tagGambling
	tagSocial
	tagBypass
	tagYouTube
	tagVideo
)

// testSnapshot builds a small snapshot: lists per tag, and four profiles.
func testSnapshot(t testing.TB) *Snapshot {
	t.Helper()
	tags := []TagInfo{{ID: "malware"}, {ID: "phishing"}, {ID: "gambling"}, {ID: "social"}, {ID: "bypass"}, {ID: "youtube", Service: true}, {ID: "video"}}
	lists := []ListInfo{
		{ID: "malware-feed", Tag: tagMalware},
		{ID: "phish-feed", Tag: tagPhishing},
		{ID: "gambling-hosts", Tag: tagGambling},
		{ID: "gambling-adblock", Tag: tagGambling},
		{ID: "social-list", Tag: tagSocial},
		{ID: "doh-list", Tag: tagBypass},
		{ID: "service:youtube", Tag: tagYouTube},
		{ID: "video-list", Tag: tagVideo},
	}
	b := domainindex.NewBuilder(16)
	b.Add("evil.example", 0, domainindex.Subtree)
	b.Add("khanacademy-login.example", 1, domainindex.Subtree)
	b.Add("bet365.com", 2, domainindex.Exact)                     // hosts: exact only
	b.Add("casino.example", 3, domainindex.Subtree)               // adblock: subtree
	b.Add("ok.casino.example", 3, domainindex.Exception)          // @@||ok.casino.example^
	b.Add("tiktok.com", 4, domainindex.Subtree)                   //
	b.Add("dns.google", 5, domainindex.Subtree)                   //
	b.Add("youtube.com", 6, domainindex.Subtree)                  //
	b.Add("youtube.com", 7, domainindex.Subtree)                  // in two tags
	b.Add("cdn.allowed-but-evil.example", 0, domainindex.Subtree) //
	ix, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSnapshot(Config{
		Tags:  tags,
		Lists: lists,
		Index: ix,
		Profiles: []ProfileSpec{
			{Name: "kid", Block: TagSet{}.With(tagMalware).With(tagPhishing).With(tagGambling).With(tagSocial).With(tagYouTube),
				Allow:            []Override{{Name: "khanacademy-login.example", Subtree: true}, {Name: "allowed-but-evil.example", Subtree: true}, {Name: "tiktok.com", Subtree: false}},
				Deny:             []Override{{Name: "example-game.com", Subtree: true}},
				SafeSearch:       true,
				YouTube:          YouTubeStrict,
				BypassProtection: true},
			{Name: "teen", Block: TagSet{}.With(tagMalware).With(tagGambling), YouTube: YouTubeModerate,
				Allow: []Override{{Name: "evil.example", Subtree: true, Strong: true}}},
			{Name: "adult", Block: TagSet{}.With(tagMalware).With(tagPhishing)},
			{Name: "bing-only", SafeSearch: true, SafeSearchEngines: []string{"bing"}},
			{Name: "open"},
		},
		DefaultProfile: "kid",
		SafeSearch: []SafeSearchRule{
			{Engine: "google", Names: []string{"www.google.com", "www.google.fr"}, Target: "forcesafesearch.google.com"},
			{Engine: "bing", Names: []string{"www.bing.com"}, Target: "strict.bing.com"},
			{Engine: "youtube", YouTube: YouTubeModerate, Names: []string{"www.youtube.com"}, Target: "restrictmoderate.youtube.com"},
			{Engine: "youtube", YouTube: YouTubeStrict, Names: []string{"www.youtube.com"}, Target: "restrict.youtube.com"},
		},
		NoSafeSearch: []UnsupportedEngine{{Engine: "brave", Names: []string{"search.brave.com"}}},
		Canary:       []string{"use-application-dns.net"},
		PrivateRelay: []string{"mask.icloud.com", "mask-h2.icloud.com"},
		DDR:          []string{"_dns.resolver.arpa"},
		Protected:    TagSet{}.With(tagMalware).With(tagPhishing),
		Bypass:       TagSet{}.With(tagBypass),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDecide(t *testing.T) {
	s := testSnapshot(t)
	at := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		profile    string
		name       string
		wantAction Action
		wantReason Reason
		wantText   string // Explain output must contain this
	}{
		// Tags of the name and its parents.
		{"kid", "bet365.com", Block, ReasonTag, "blocked: category=gambling source=gambling-hosts rule=bet365.com profile=kid"},
		{"kid", "www.bet365.com", Allow, ReasonNone, "allowed: no-rule profile=kid"}, // hosts lists are exact
		{"kid", "a.b.casino.example.", Block, ReasonTag, "source=gambling-adblock rule=casino.example"},
		{"kid", "ok.casino.example", Allow, ReasonNone, "allowed"}, // adblock exception
		{"kid", "x.ok.casino.example", Allow, ReasonNone, "allowed"},
		{"kid", "notcasino.example", Allow, ReasonNone, "allowed"},
		{"kid", "m.youtube.com", Block, ReasonTag, "service=youtube also=video source=service:youtube rule=youtube.com"},
		{"adult", "m.youtube.com", Allow, ReasonNone, "profile=adult"},
		{"open", "evil.example", Allow, ReasonNone, "profile=open"},
		{"adult", "www.evil.example", Block, ReasonTag, "category=malware source=malware-feed rule=evil.example"},
		// Overrides: allow first, deny next.
		{"kid", "tiktok.com", Allow, ReasonAllowRule, "allowed: allow-rule rule=tiktok.com"},
		{"kid", "www.tiktok.com", Block, ReasonTag, "category=social"}, // exact allow only
		{"kid", "play.example-game.com", Block, ReasonDenyRule, "blocked: deny-rule rule=example-game.com profile=kid"},
		{"adult", "example-game.com", Allow, ReasonNone, "allowed"},
		// An allow rule does not beat phishing or malware unless strong.
		{"kid", "khanacademy-login.example", Block, ReasonProtected, "category=phishing"},
		{"kid", "cdn.allowed-but-evil.example", Block, ReasonProtected, "category=malware"},
		{"kid", "www.allowed-but-evil.example", Allow, ReasonAllowRule, "allow-rule rule=allowed-but-evil.example"},
		{"teen", "evil.example", Allow, ReasonAllowRule, "allowed: allow-rule"},
		// Bypass protection.
		{"kid", "use-application-dns.net", NXDomain, ReasonCanary, "bypass=firefox-canary"},
		{"kid", "mask.icloud.com", NXDomain, ReasonPrivateRelay, "bypass=icloud-private-relay"},
		{"kid", "_dns.resolver.arpa", NoData, ReasonDDR, "bypass=ddr"},
		{"kid", "dns.google", Block, ReasonTag, "category=bypass source=doh-list"},
		{"adult", "mask.icloud.com", Allow, ReasonNone, "allowed"},
		{"adult", "dns.google", Allow, ReasonNone, "allowed"},
		// Safe search and YouTube.
		{"kid", "www.google.fr", Rewrite, ReasonSafeSearch, "rewritten: safe-search=google target=forcesafesearch.google.com"},
		{"kid", "www.youtube.com", Rewrite, ReasonSafeSearch, "target=restrict.youtube.com"},
		{"teen", "www.youtube.com", Rewrite, ReasonSafeSearch, "target=restrictmoderate.youtube.com"},
		{"teen", "www.google.com", Allow, ReasonNone, "allowed"},
		{"adult", "www.youtube.com", Allow, ReasonNone, "allowed"},
		{"bing-only", "www.bing.com", Rewrite, ReasonSafeSearch, "target=strict.bing.com"},
		{"bing-only", "www.google.com", Allow, ReasonNone, "allowed"},
		{"kid", "www.bing.com", Rewrite, ReasonSafeSearch, "safe-search=bing"},
		// Engines without a DNS safe mode: blocked while safe search is on
		// for them, and the text says why.
		{"kid", "search.brave.com", Block, ReasonNoSafeSearch, "blocked: no-safe-search=brave (this engine cannot be forced into safe search, so it is blocked while safe search is on) rule=search.brave.com profile=kid"},
		{"kid", "x.search.brave.com", Allow, ReasonNone, "allowed"},
		{"teen", "search.brave.com", Allow, ReasonNone, "allowed"},
		{"bing-only", "search.brave.com", Allow, ReasonNone, "allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.profile+"/"+tc.name, func(t *testing.T) {
			p, ok := s.Profile(tc.profile)
			if !ok {
				t.Fatalf("no profile %q", tc.profile)
			}
			d := s.Decide(p, at, []byte(tc.name), 1)
			if d.Action != tc.wantAction || d.Reason != tc.wantReason {
				t.Errorf("Decide = %s/%s, want %s/%s", d.Action, d.Reason, tc.wantAction, tc.wantReason)
			}
			if got := s.Explain(d, tc.name); !strings.Contains(got, tc.wantText) {
				t.Errorf("Explain = %q, want it to contain %q", got, tc.wantText)
			}
		})
	}
}

func TestDecideAllocatesNothing(t *testing.T) {
	s := testSnapshot(t)
	kid, _ := s.Profile("kid")
	now := time.Now()
	for _, name := range []string{"a.b.casino.example", "www.example.org", "tiktok.com", "www.google.fr", "x.ok.casino.example", "cdn.allowed-but-evil.example"} {
		b := []byte(name)
		if n := testing.AllocsPerRun(100, func() { s.Decide(kid, now, b, 1) }); n != 0 {
			t.Errorf("Decide(%s) allocates %.0f times", name, n)
		}
	}
}

func TestTagSet(t *testing.T) {
	var s TagSet
	for _, tag := range []Tag{3, 64, 127} {
		s = s.With(tag)
	}
	if !s.Has(64) || s.Has(65) || s.First() != 3 {
		t.Errorf("set %v", s)
	}
	if s.Without(3).First() != 64 || !s.Without(3).Without(64).Without(127).Empty() {
		t.Errorf("Without broken")
	}
	if got := s.And(TagSet{}.With(127)); got.First() != 127 || got.Has(3) {
		t.Errorf("And = %v", got)
	}
}

func TestNewSnapshotErrors(t *testing.T) {
	if _, err := NewSnapshot(Config{}); err == nil {
		t.Error("no profiles accepted")
	}
	if _, err := NewSnapshot(Config{Profiles: []ProfileSpec{{Name: "a"}}, DefaultProfile: "b"}); err == nil {
		t.Error("unknown default profile accepted")
	}
	if _, err := NewSnapshot(Config{Profiles: []ProfileSpec{{Name: "a"}, {Name: "a"}}, DefaultProfile: "a"}); err == nil {
		t.Error("duplicate profile accepted")
	}
	if _, err := NewSnapshot(Config{Tags: []TagInfo{{ID: "x"}}, Lists: []ListInfo{{ID: "l", Tag: 3}}, Profiles: []ProfileSpec{{Name: "a"}}, DefaultProfile: "a"}); err == nil {
		t.Error("list with unknown tag accepted")
	}
}

func BenchmarkDecide(b *testing.B) {
	s := testSnapshot(b)
	kid, _ := s.Profile("kid")
	now := time.Now()
	for _, name := range []string{"www.example.org", "a.b.casino.example"} {
		b.Run(name, func(b *testing.B) {
			q := []byte(name)
			b.ReportAllocs()
			for b.Loop() {
				s.Decide(kid, now, q, 1)
			}
		})
	}
}
