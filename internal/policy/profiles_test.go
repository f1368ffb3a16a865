package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var noon = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// decideName returns the action the named profile of s takes on name.
func decideName(t *testing.T, s *Snapshot, profile, name string) Action {
	t.Helper()
	i, ok := s.Profile(profile)
	if !ok {
		t.Fatalf("no profile %q", profile)
	}
	return s.Decide(i, noon, []byte(name), 1).Action
}

// TestWithProfiles checks that a profile change shows in the new snapshot
// only, that untouched profiles keep their index, and that freed indexes
// are reused.
func TestWithProfiles(t *testing.T) {
	base := testSnapshot(t)
	gambler := ProfileSpec{Name: "h7-kid", Block: TagSet{}.With(tagGambling)}
	tests := []struct {
		name    string
		put     []ProfileSpec
		remove  []string
		def     string
		profile string // decided on bet365.com in the new snapshot
		want    Action
		wantErr string
	}{
		{name: "add", put: []ProfileSpec{gambler}, profile: "h7-kid", want: Block},
		{name: "replace blocks nothing", put: []ProfileSpec{{Name: "kid"}}, profile: "kid", want: Allow},
		{name: "remove another", remove: []string{"adult"}, profile: "kid", want: Block},
		{name: "remove then fall back", remove: []string{"kid"}, def: "adult", profile: "adult", want: Allow},
		{name: "remove the default", remove: []string{"kid"}, wantErr: `default profile "kid" is not defined`},
		{name: "bad window", put: []ProfileSpec{{Name: "x", Windows: []Window{{Name: "w"}}}}, wantErr: `profile "x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kidBefore, _ := base.Profile("kid")
			beforeKid := decideName(t, base, "kid", "bet365.com")
			next, err := base.WithProfiles(tc.put, tc.remove, tc.def)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("WithProfiles: %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := decideName(t, next, tc.profile, "bet365.com"); got != tc.want {
				t.Errorf("%s on bet365.com: %v, want %v", tc.profile, got, tc.want)
			}
			if got := decideName(t, base, "kid", "bet365.com"); got != beforeKid {
				t.Errorf("the old snapshot changed: kid %v, was %v", got, beforeKid)
			}
			if i, ok := next.Profile("kid"); ok && i != kidBefore {
				t.Errorf("kid moved from index %d to %d", kidBefore, i)
			}
			if d := next.ProfileOrDefault("nobody"); next.ProfileName(d) != map[bool]string{true: tc.def, false: "kid"}[tc.def != ""] {
				t.Errorf("default is %q", next.ProfileName(d))
			}
		})
	}
}

// TestWithProfilesReusesIndexes checks that a table with churn does not
// grow: a removed profile's index goes to the next one added.
func TestWithProfilesReusesIndexes(t *testing.T) {
	s := testSnapshot(t)
	n := s.NumProfiles()
	for i := range 1000 {
		add := ProfileSpec{Name: fmt.Sprint("p", i)}
		var remove []string
		if i > 0 {
			remove = []string{fmt.Sprint("p", i-1)}
		}
		var err error
		if s, err = s.WithProfiles([]ProfileSpec{add}, remove, ""); err != nil {
			t.Fatal(err)
		}
	}
	if s.NumProfiles() != n+1 || s.profiles.used != n+1 {
		t.Errorf("%d profiles at %d indexes after churn; want %d at %d", s.NumProfiles(), s.profiles.used, n+1, n+1)
	}
}

// TestWithLists checks that a new list generation keeps the profiles.
func TestWithLists(t *testing.T) {
	base := testSnapshot(t)
	next, err := base.WithProfiles([]ProfileSpec{{Name: "h7-kid", Block: TagSet{}.With(tagGambling)}}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	relisted, err := next.WithLists(Config{Tags: base.tags, Lists: base.lists, Index: base.index, Protected: base.protected})
	if err != nil {
		t.Fatal(err)
	}
	if got := decideName(t, relisted, "h7-kid", "bet365.com"); got != Block {
		t.Errorf("h7-kid after the list change: %v, want Block", got)
	}
	if relisted.ProfileName(relisted.ProfileOrDefault("nobody")) != "kid" {
		t.Errorf("default profile lost")
	}
}

// TestProfileHinted checks that a hint is taken only while its index
// still holds the profile of that name: a missing, out of range or stale
// hint (the profile removed and its index given to another) gives what
// ProfileOrDefault gives.
func TestProfileHinted(t *testing.T) {
	s := testSnapshot(t)
	next, err := s.WithProfiles([]ProfileSpec{{Name: "h7-kid"}}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	h7, _ := next.Profile("h7-kid")
	kid, _ := next.Profile("kid")
	// h7-kid removed, and its index given to h8-kid.
	later, err := next.WithProfiles([]ProfileSpec{{Name: "h8-kid"}}, []string{"h7-kid"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if h8, _ := later.Profile("h8-kid"); h8 != h7 {
		t.Fatalf("h8-kid at %d, want h7-kid's freed index %d", h8, h7)
	}
	tests := []struct {
		name    string
		s       *Snapshot
		profile string
		hint    int32
	}{
		{name: "right hint", s: next, profile: "h7-kid", hint: int32(h7 + 1)},
		{name: "no hint", s: next, profile: "h7-kid"},
		{name: "another profile's index", s: next, profile: "h7-kid", hint: int32(kid + 1)},
		{name: "beyond the table", s: next, profile: "kid", hint: 1 << 20},
		{name: "negative", s: next, profile: "kid", hint: -5},
		{name: "removed, index reused", s: later, profile: "h7-kid", hint: int32(h7 + 1)},
		{name: "unknown name", s: later, profile: "nobody", hint: int32(kid + 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := tt.s.ProfileHinted(tt.profile, tt.hint), tt.s.ProfileOrDefault(tt.profile)
			if got != want {
				t.Errorf("ProfileHinted(%q, %d) = %d (%s), want %d (%s)", tt.profile, tt.hint, got, tt.s.ProfileName(got), want, tt.s.ProfileName(want))
			}
		})
	}
}
