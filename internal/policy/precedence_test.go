package policy

import (
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/domainindex"
)

// TestReasonPrecedence (#11): the reason shown names the most specific
// blocked tag (a service, then narrow categories, then broad ones, then
// security ones), whatever the tag order, and Explain names the others
// after also=.
func TestReasonPrecedence(t *testing.T) {
	const (
		malware Tag = iota
		phishing
		adult
		gambling
		dating
		tinder
	)
	tags := []TagInfo{{ID: "malware"}, {ID: "phishing"}, {ID: "adult"}, {ID: "gambling"}, {ID: "dating"}, {ID: "tinder", Service: true}}
	lists := []ListInfo{{ID: "malware-feed", Tag: malware}, {ID: "porn-hosts", Tag: adult}, {ID: "casinos", Tag: gambling}, {ID: "dating-list", Tag: dating}, {ID: "service-tinder", Tag: tinder}}
	b := domainindex.NewBuilder(16)
	b.Add("datingsite.example", 1, domainindex.Exact)
	b.Add("datingsite.example", 3, domainindex.Subtree)
	b.Add("bet365.com", 0, domainindex.Subtree)
	b.Add("bet365.com", 2, domainindex.Subtree)
	b.Add("tinder.com", 1, domainindex.Subtree)
	b.Add("tinder.com", 3, domainindex.Subtree)
	b.Add("tinder.com", 4, domainindex.Subtree)
	b.Add("porn.example", 1, domainindex.Subtree)
	ix, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	all := TagSet{}.With(malware).With(phishing).With(adult).With(gambling).With(dating).With(tinder)
	s, err := NewSnapshot(Config{
		Tags: tags, Lists: lists, Index: ix,
		Profiles: []ProfileSpec{
			{Name: "kid", Block: all},
			{Name: "grown", Block: TagSet{}.With(malware).With(phishing)},
			{Name: "no-dating", Block: TagSet{}.With(adult)},
		},
		DefaultProfile: "kid",
		Protected:      TagSet{}.With(malware).With(phishing),
		Precedence: []TagSet{
			TagSet{}.With(tinder),
			TagSet{}.With(gambling).With(dating),
			TagSet{}.With(adult),
			TagSet{}.With(malware).With(phishing),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		profile, name string
		wantTag       Tag
		wantText      string
	}{
		{"kid", "datingsite.example", dating, "blocked: category=dating also=adult source=dating-list rule=datingsite.example profile=kid"},
		{"kid", "www.datingsite.example", dating, "blocked: category=dating source=dating-list rule=datingsite.example profile=kid"},
		{"kid", "bet365.com", gambling, "blocked: category=gambling also=malware source=casinos rule=bet365.com profile=kid"},
		{"kid", "tinder.com", tinder, "blocked: service=tinder also=adult,dating source=service-tinder rule=tinder.com profile=kid"},
		{"kid", "porn.example", adult, "blocked: category=adult source=porn-hosts rule=porn.example profile=kid"},
		{"grown", "bet365.com", malware, "blocked: category=malware also=gambling source=malware-feed rule=bet365.com profile=grown"},
		{"no-dating", "datingsite.example", adult, "blocked: category=adult also=dating source=porn-hosts rule=datingsite.example profile=no-dating"},
	}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, tc := range tests {
		p, _ := s.Profile(tc.profile)
		name := []byte(tc.name)
		d := s.Decide(p, now, name, 1)
		if d.Action != Block || !d.HasTag || d.Tag != tc.wantTag {
			t.Errorf("%s %s: action %s tag %d (has %v), want block tag %d", tc.profile, tc.name, d.Action, d.Tag, d.HasTag, tc.wantTag)
		}
		if got := s.Explain(d, tc.name); got != tc.wantText {
			t.Errorf("%s %s: Explain = %q, want %q", tc.profile, tc.name, got, tc.wantText)
		}
		buf := make([]byte, 0, 256)
		if n := testing.AllocsPerRun(100, func() { d = s.Decide(p, now, name, 1); _ = s.AppendExplain(buf[:0], d, tc.name) }); n != 0 {
			t.Errorf("%s %s: Decide and AppendExplain allocate %.0f times", tc.profile, tc.name, n)
		}
	}
}
