package storetest

import (
	"github.com/hearth-dns/hearth/internal/profile"
	"github.com/hearth-dns/hearth/internal/store"
)

// OldProfiles are the profiles of the stores' old-form fixtures
// (sqlite/testdata/v4-profiles.db, postgres/testdata/v1-profiles.sql),
// which the code before the one profile model wrote: safe_search a bool
// with safe_search_engines beside it, a schedule's days one string. They
// are given here as they read after the upgrade: what each row meant.
func OldProfiles() []store.Profile {
	yes, no := true, false
	return []store.Profile{
		{ID: "emma", Household: "home", Name: "Emma (8)", Preset: "kid", Block: []string{"games"}, Allow: []string{"school.example"},
			SafeSearch: &profile.SafeSearch{On: true, Engines: []string{"google"}}, YouTube: "strict", TimeZone: "Europe/Paris",
			Schedules: []store.Schedule{
				{Name: "bedtime", Days: profile.Days{"daily"}, From: "20:30", To: "07:00", Pause: true},
				{Name: "homework", Days: profile.Days{"mon", "tue", "wed", "thu", "fri"}, From: "16:00", To: "18:00", Block: []string{"social"}},
			}, Version: 1},
		// safe_search false with engines was off on every engine.
		{ID: "leo", Household: "home", Name: "Leo", Preset: "teen", SafeSearch: &profile.SafeSearch{}, BypassProtection: &yes,
			Schedules: []store.Schedule{{Name: "weekend", Days: profile.Days{"sat", "sun"}, From: "10:00", To: "12:00", AllowOnly: []string{"games"}}},
			Version:   1},
		// No safe_search left it to the preset, engines or not.
		{ID: "max", Household: "home", Name: "Max", Block: []string{"adult"}, SafeSearch: &profile.SafeSearch{On: true},
			Schedules: []store.Schedule{{Name: "school", Days: profile.Days{"weekdays"}, From: "08:00", To: "13:00", Block: []string{"video"}}},
			Version:   1},
		{ID: "mia", Household: "home", Name: "Mia", Preset: "tween", QueryLog: &no, Version: 1},
	}
}
