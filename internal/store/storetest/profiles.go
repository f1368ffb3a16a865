package storetest

import (
	"context"
	"strings"
	"testing"

	"github.com/hearth-dns/hearth/internal/profile"
	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlstore"
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

// testProfileForms stores a profile with each form of safe search and of
// days and reads it back the same, alone and in Load, also after a
// reopen: the store keeps the one profile model whole.
func testProfileForms(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	putHousehold(t, s, "h1")
	sched := func(days ...string) []store.Schedule {
		return []store.Schedule{{Name: "w", Days: days, From: "21:00", To: "07:00", Pause: true}}
	}
	tests := []store.Profile{
		{ID: "ss-preset", Household: "h1", Name: "Preset's"},
		{ID: "ss-on", Household: "h1", Name: "On", SafeSearch: &profile.SafeSearch{On: true}, Schedules: sched("daily")},
		{ID: "ss-off", Household: "h1", Name: "Off", SafeSearch: &profile.SafeSearch{}, Schedules: sched("mon-fri", "sun")},
		{ID: "ss-list", Household: "h1", Name: "List", SafeSearch: &profile.SafeSearch{On: true, Engines: []string{"google", "bing"}},
			TimeZone: "Asia/Tokyo", Schedules: sched("sat", "sun")},
	}
	for _, p := range tests {
		got, err := s.PutProfile(ctx, p)
		must(t, "put "+p.ID, err)
		p.Version = 1
		equal(t, "put "+p.ID, got, p)
		got, err = s.Profile(ctx, p.ID)
		must(t, "get "+p.ID, err)
		equal(t, "get "+p.ID, got, p)
	}
	check := func(what string, s store.Store) {
		t.Helper()
		st, err := s.Load(ctx)
		must(t, what, err)
		byID := map[string]store.Profile{}
		for _, p := range st.Profiles {
			byID[p.ID] = p
		}
		for _, p := range tests {
			p.Version = 1
			equal(t, what+" "+p.ID, byID[p.ID], p)
		}
	}
	check("load", s)
	must(t, "close", s.Close())
	s = openStore(t, open)
	check("load after reopen", s)
}

// CheckUpgradedRows checks the rows of (id, data as text) that a store
// holds for OldProfiles after its upgrade: all four, each in today's
// form (a strict reader of the new form alone reads it, and no old
// spelling is left). rows is *sql.Rows or pgx.Rows; the caller closes it.
func CheckUpgradedRows(t *testing.T, rows sqlstore.Rows) {
	t.Helper()
	n := 0
	for rows.Next() {
		var id, data string
		if err := rows.Scan(&id, &data); err != nil {
			t.Fatal(err)
		}
		n++
		if strings.Contains(data, "safe_search_engines") || strings.Contains(data, `"days":"`) || strings.Contains(data, `"days": "`) {
			t.Errorf("profile %s still in the old form: %s", id, data)
		}
		if _, err := profile.ParseJSON([]byte(data)); err != nil {
			t.Errorf("profile %s: %v", id, err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("%d profile rows, want 4", n)
	}
}

// Steps lists the schema versions from first to last.
func Steps(first, last int) []int {
	var out []int
	for v := first; v <= last; v++ {
		out = append(out, v)
	}
	return out
}
