package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hearth-dns/hearth/internal/profile"
)

// TestProfileForms loads config files written in the old and the new
// profile forms: each gives the same profiles (package profile).
func TestProfileForms(t *testing.T) {
	yes, no := true, false
	want := Profiles{
		"kid": {ID: "kid", Name: "kid", Preset: "kid", Allow: []string{"khanacademy.org"},
			SafeSearch: &profile.SafeSearch{On: true, Engines: []string{"google", "bing"}}, YouTube: "strict", TimeZone: "Europe/Paris",
			Schedules: []profile.Schedule{
				{Name: "bedtime", Days: profile.Days{"daily"}, From: "21:00", To: "07:00", Pause: true},
				{Name: "homework", Days: profile.Days{"mon", "tue", "wed", "thu", "fri"}, From: "16:00", To: "18:00", Block: []string{"games"}},
			}},
		"teen": {ID: "teen", Name: "teen", Preset: "teen", SafeSearch: &profile.SafeSearch{}, BypassProtection: &yes, QueryLog: &no},
	}
	tests := []struct {
		file string
		want Profiles
	}{
		{"testdata/profiles/old.yaml", want},
		{"testdata/profiles/new.yaml", want},
	}
	for _, tc := range tests {
		c, err := Load(tc.file)
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if !reflect.DeepEqual(c.Profiles, tc.want) {
			t.Errorf("%s: profiles\n got %+v\nwant %+v", tc.file, c.Profiles, tc.want)
		}
	}
}

// TestProfileErrorsTogether: a profile with an unknown key still has its
// other fields checked, so that one run reports every mistake.
func TestProfileErrorsTogether(t *testing.T) {
	_, err := Parse("x.yaml", []byte("profiles:\n  kid:\n    colour: blue\n    youtube: loud\n"))
	for _, want := range []string{"x.yaml:3: profiles.kid.colour: unknown field", "x.yaml:4: profiles.kid.youtube: \"loud\" is not strict, moderate or off"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to say %q", err, want)
		}
	}
}
