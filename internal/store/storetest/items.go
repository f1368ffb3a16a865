package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/profile"
	"github.com/hearth-dns/hearth/internal/store"
)

func testHouseholds(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()

	h, err := s.PutHousehold(ctx, store.Household{ID: "home", Name: "Home", TimeZone: "Europe/Paris"})
	must(t, "create", err)
	equal(t, "created", h, store.Household{ID: "home", Name: "Home", TimeZone: "Europe/Paris", Version: 1})
	got, err := s.Household(ctx, "home")
	must(t, "get", err)
	equal(t, "get", got, h)

	_, err = s.PutHousehold(ctx, store.Household{ID: "home", Name: "Again"})
	wantErr(t, "create over an existing id", err, store.ErrConflict)

	h.Name = "Our home"
	h2, err := s.PutHousehold(ctx, h)
	must(t, "update", err)
	if h2.Version != 2 || h2.Name != "Our home" {
		t.Errorf("updated: got %+v, want version 2 named %q", h2, "Our home")
	}
	_, err = s.PutHousehold(ctx, h) // still version 1
	wantErr(t, "update from a stale version", err, store.ErrConflict)
	got, err = s.Household(ctx, "home")
	must(t, "get after update", err)
	equal(t, "get after update", got, h2)

	putHousehold(t, s, "abc")
	putHousehold(t, s, "zed")
	list, err := s.Households(ctx)
	must(t, "list", err)
	equal(t, "list ids", ids(list, householdID), []string{"abc", "home", "zed"})
	equal(t, "listed home", list[1], h2)

	must(t, "delete", s.DeleteHousehold(ctx, "home"))
	_, err = s.Household(ctx, "home")
	wantErr(t, "get deleted", err, store.ErrNotFound)
	wantErr(t, "delete again", s.DeleteHousehold(ctx, "home"), store.ErrNotFound)
	// A deleted id can be created again, from version 0.
	h3, err := s.PutHousehold(ctx, store.Household{ID: "home"})
	must(t, "recreate", err)
	if h3.Version != 1 {
		t.Errorf("recreated version %d, want 1", h3.Version)
	}
}

func testInvalidIDs(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	putHousehold(t, s, "h")

	tests := []struct {
		id    string
		valid bool
	}{
		{"a", true},
		{"kid-2-tablet", true},
		{strings.Repeat("x", 63), true},
		{"", false},
		{strings.Repeat("x", 64), false},
		{"Emma", false},
		{"emma laptop", false},
		{"emma_laptop", false},
		{"emma.laptop", false},
		{"émilie", false},
		{"a/b", false},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			errs := map[string]error{}
			_, errs["household"] = s.PutHousehold(ctx, store.Household{ID: tc.id})
			_, errs["profile"] = s.PutProfile(ctx, store.Profile{ID: tc.id, Household: "h"})
			_, errs["device"] = s.PutDevice(ctx, store.Device{ID: tc.id, Household: "h"})
			for kind, err := range errs {
				if tc.valid {
					if err != nil {
						t.Errorf("put %s %q: %v", kind, tc.id, err)
					}
					continue
				}
				wantErr(t, "put "+kind, err, store.ErrInvalid)
			}
		})
	}
}

func testProfiles(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	putHousehold(t, s, "h1")
	putHousehold(t, s, "h2")

	no := false
	sixty, twoHours := 60, 120
	full := store.Profile{
		ID:               "emma",
		Household:        "h1",
		Name:             "Emma (8)",
		Preset:           "child",
		Block:            []string{"social", "games"},
		Unblock:          []string{"minecraft"},
		Allow:            []string{"school.example"},
		Deny:             []string{"bad.example"},
		SafeSearch:       &profile.SafeSearch{On: true, Engines: []string{"google"}},
		YouTube:          "strict",
		BypassProtection: &no,
		TimeZone:         "Europe/Paris",
		Schedules: []store.Schedule{
			{Name: "bedtime", Days: profile.Days{"daily"}, From: "20:30", To: "07:00", Pause: true},
			{Name: "homework", Days: profile.Days{"mon-fri"}, From: "16:00", To: "18:00", Block: []string{"games"}},
			{Name: "school", Days: profile.Days{"mon-fri"}, From: "08:00", To: "12:00", AllowOnly: []string{"school.example"}},
		},
		QueryLog: &no,
		Budgets:  []profile.Budget{{Tag: "games", Minutes: &sixty, Days: profile.Days{"weekdays"}}, {Tag: "games", Minutes: &twoHours, Days: profile.Days{"weekends"}}},
	}
	p, err := s.PutProfile(ctx, full)
	must(t, "create", err)
	want := full
	want.Version = 1
	equal(t, "created", p, want)
	got, err := s.Profile(ctx, "emma")
	must(t, "get", err)
	equal(t, "get", got, want)

	got.Block = nil
	got.SafeSearch = nil
	got.Schedules = got.Schedules[:1]
	upd, err := s.PutProfile(ctx, got)
	must(t, "update", err)
	if upd.Version != 2 {
		t.Errorf("updated version %d, want 2", upd.Version)
	}
	got, err = s.Profile(ctx, "emma")
	must(t, "get after update", err)
	equal(t, "get after update", got, upd)

	putProfile(t, s, "adult", "h1")
	putProfile(t, s, "teen", "h2")
	for _, tc := range []struct {
		household string
		want      []string
	}{
		{"", []string{"adult", "emma", "teen"}},
		{"h1", []string{"adult", "emma"}},
		{"h2", []string{"teen"}},
		{"h3", nil},
	} {
		list, err := s.Profiles(ctx, tc.household)
		must(t, "list "+tc.household, err)
		equal(t, "profiles of "+tc.household, ids(list, profileID), tc.want)
	}

	must(t, "delete", s.DeleteProfile(ctx, "emma"))
	_, err = s.Profile(ctx, "emma")
	wantErr(t, "get deleted", err, store.ErrNotFound)
}

func testDevices(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	putHousehold(t, s, "h1")
	putHousehold(t, s, "h2")
	putProfile(t, s, "kid", "h1")

	in := store.Device{
		ID:        "tablet",
		Household: "h1",
		Name:      "Emma's tablet",
		Profile:   "kid",
		IPs:       []string{"192.168.1.23", "fd00::23"},
		MACs:      []string{"aa:bb:cc:dd:ee:ff"},
		ClientIDs: []string{"emma-tablet"},
		Hostname:  "ipad",
		New:       true,
		FirstSeen: t0,
	}
	d, err := s.PutDevice(ctx, in)
	must(t, "create", err)
	got, err := s.Device(ctx, "tablet")
	must(t, "get", err)
	for what, dev := range map[string]store.Device{"returned": d, "stored": got} {
		if !dev.FirstSeen.Equal(t0) || dev.FirstSeen.Location() != time.UTC {
			t.Errorf("%s first seen %v, want %v in UTC", what, dev.FirstSeen, t0)
		}
	}
	want := in
	want.Version = 1
	want.FirstSeen = t0.UTC()
	equal(t, "created", d, want)
	equal(t, "get", got, want)

	// A device with no profile follows its household's default; no
	// first-seen time stays zero.
	bare, err := s.PutDevice(ctx, store.Device{ID: "tv", Household: "h1"})
	must(t, "create bare", err)
	got, err = s.Device(ctx, "tv")
	must(t, "get bare", err)
	equal(t, "bare", got, bare)
	if !got.FirstSeen.IsZero() || got.Profile != "" {
		t.Errorf("bare device came back with first seen %v, profile %q", got.FirstSeen, got.Profile)
	}

	got.New = false
	got.Profile = "kid"
	upd, err := s.PutDevice(ctx, got)
	must(t, "update", err)
	if upd.Version != 2 || upd.Profile != "kid" {
		t.Errorf("updated: %+v", upd)
	}

	putDevice(t, s, "phone", "h2", "")
	for _, tc := range []struct {
		household string
		want      []string
	}{
		{"", []string{"phone", "tablet", "tv"}},
		{"h1", []string{"tablet", "tv"}},
		{"h2", []string{"phone"}},
	} {
		list, err := s.Devices(ctx, tc.household)
		must(t, "list "+tc.household, err)
		equal(t, "devices of "+tc.household, ids(list, deviceID), tc.want)
	}

	must(t, "delete", s.DeleteDevice(ctx, "tv"))
	_, err = s.Device(ctx, "tv")
	wantErr(t, "get deleted", err, store.ErrNotFound)
}

// testDeviceDNSIDs checks a device's encrypted-DNS id: its hash comes
// back, never in the device's other fields; no two devices share one; a
// rotation replaces it and clearing it removes it.
func testDeviceDNSIDs(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	putHousehold(t, s, "h1")
	hashA, hashB := strings.Repeat("a1", 32), strings.Repeat("b2", 32)
	in := store.Device{ID: "phone", Household: "h1", Name: "Dad's phone",
		DNSID: &store.DNSID{Hash: hashA, Label: "dads-phone", Hint: "k3x7", Created: t0}}
	d, err := s.PutDevice(ctx, in)
	must(t, "create", err)
	got, err := s.Device(ctx, "phone")
	must(t, "get", err)
	want := in
	want.Version = 1
	want.DNSID = &store.DNSID{Hash: hashA, Label: "dads-phone", Hint: "k3x7", Created: t0.UTC()}
	equal(t, "created", d, want)
	equal(t, "get", got, want)
	st, err := s.Load(ctx)
	must(t, "load", err)
	equal(t, "loaded", st.Devices, []store.Device{want})

	tests := []struct {
		name string
		d    store.Device
		want error
	}{
		{"another device with the same hash", store.Device{ID: "tablet", Household: "h1", DNSID: &store.DNSID{Hash: hashA}}, store.ErrConflict},
		{"a hash that is not SHA-256 hex", store.Device{ID: "tablet", Household: "h1", DNSID: &store.DNSID{Hash: "secret"}}, store.ErrInvalid},
		{"an upper-case hash", store.Device{ID: "tablet", Household: "h1", DNSID: &store.DNSID{Hash: strings.ToUpper(hashB)}}, store.ErrInvalid},
	}
	for _, tc := range tests {
		_, err := s.PutDevice(ctx, tc.d)
		wantErr(t, tc.name, err, tc.want)
	}
	if _, err := s.Device(ctx, "tablet"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused device was stored: %v", err)
	}

	got.DNSID = &store.DNSID{Hash: hashB, Hint: "ab12", Created: t0}
	rot, err := s.PutDevice(ctx, got)
	must(t, "rotate", err)
	got, err = s.Device(ctx, "phone")
	must(t, "get rotated", err)
	equal(t, "rotated", got, rot)
	// The old hash is free again.
	_, err = s.PutDevice(ctx, store.Device{ID: "tablet", Household: "h1", DNSID: &store.DNSID{Hash: hashA, Created: t0}})
	must(t, "reuse the old hash", err)

	got.DNSID = nil
	_, err = s.PutDevice(ctx, got)
	must(t, "clear", err)
	got, err = s.Device(ctx, "phone")
	must(t, "get cleared", err)
	if got.DNSID != nil {
		t.Errorf("cleared DNS id came back: %+v", got.DNSID)
	}
	_, err = s.PutDevice(ctx, store.Device{ID: "tv", Household: "h1", DNSID: &store.DNSID{Hash: hashB, Created: t0}})
	must(t, "reuse the cleared hash", err)
}

// testReferences checks that no write leaves a reference dangling.
func testReferences(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	putHousehold(t, s, "h1")
	putHousehold(t, s, "h2")
	putProfile(t, s, "kid", "h1")
	putProfile(t, s, "other", "h2")
	putProfile(t, s, "spare", "h1")
	putDevice(t, s, "tablet", "h1", "kid")
	h1, err := s.Household(ctx, "h1")
	must(t, "get h1", err)
	h1.DefaultProfile = "spare"
	_, err = s.PutHousehold(ctx, h1)
	must(t, "set default profile", err)

	tests := []struct {
		name string
		do   func() error
		want error
		// mention is a word the error must contain: what is in the way.
		mention string
	}{
		{"profile without household", func() error {
			_, err := s.PutProfile(ctx, store.Profile{ID: "p", Name: "P"})
			return err
		}, store.ErrInvalid, ""},
		{"profile of missing household", func() error {
			_, err := s.PutProfile(ctx, store.Profile{ID: "p", Household: "nope"})
			return err
		}, store.ErrInvalid, "nope"},
		{"device without household", func() error {
			_, err := s.PutDevice(ctx, store.Device{ID: "d"})
			return err
		}, store.ErrInvalid, ""},
		{"device of missing household", func() error {
			_, err := s.PutDevice(ctx, store.Device{ID: "d", Household: "nope"})
			return err
		}, store.ErrInvalid, "nope"},
		{"device with another household's profile", func() error {
			_, err := s.PutDevice(ctx, store.Device{ID: "d", Household: "h1", Profile: "other"})
			return err
		}, store.ErrInvalid, "other"},
		{"household default profile of another household", func() error {
			h2, err := s.Household(ctx, "h2")
			if err != nil {
				return err
			}
			h2.DefaultProfile = "kid"
			_, err = s.PutHousehold(ctx, h2)
			return err
		}, store.ErrInvalid, "kid"},
		{"delete profile a device uses", func() error {
			return s.DeleteProfile(ctx, "kid")
		}, store.ErrConflict, "tablet"},
		{"delete default profile", func() error {
			return s.DeleteProfile(ctx, "spare")
		}, store.ErrConflict, "h1"},
		{"move profile a device uses", func() error {
			p, err := s.Profile(ctx, "kid")
			if err != nil {
				return err
			}
			p.Household = "h2"
			_, err = s.PutProfile(ctx, p)
			return err
		}, store.ErrConflict, "tablet"},
		{"delete household with profiles and devices", func() error {
			return s.DeleteHousehold(ctx, "h1")
		}, store.ErrConflict, ""},
		{"delete household with a profile", func() error {
			return s.DeleteHousehold(ctx, "h2")
		}, store.ErrConflict, "other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			wantErr(t, tc.name, err, tc.want)
			if err != nil && !strings.Contains(err.Error(), `"`+tc.mention) {
				t.Errorf("error %q does not name %q", err, tc.mention)
			}
		})
	}

	// What was refused changed nothing.
	st, err := s.Load(ctx)
	must(t, "load", err)
	equal(t, "households", ids(st.Households, householdID), []string{"h1", "h2"})
	equal(t, "profiles", ids(st.Profiles, profileID), []string{"kid", "other", "spare"})
	equal(t, "devices", ids(st.Devices, deviceID), []string{"tablet"})
	if st.Profiles[0].Household != "h1" || st.Households[1].DefaultProfile != "" {
		t.Errorf("a refused write changed something: %+v", st)
	}

	// A household with a device but no profile is still in use.
	putHousehold(t, s, "h3")
	putDevice(t, s, "radio", "h3", "")
	wantErr(t, "delete household with a device", s.DeleteHousehold(ctx, "h3"), store.ErrConflict)

	// Moving a profile nothing uses is fine, and so is moving a device
	// with its profile reset.
	p, err := s.Profile(ctx, "other")
	must(t, "get other", err)
	p.Household = "h3"
	_, err = s.PutProfile(ctx, p)
	must(t, "move unused profile", err)
	d, err := s.Device(ctx, "tablet")
	must(t, "get tablet", err)
	d.Household, d.Profile = "h3", "other"
	_, err = s.PutDevice(ctx, d)
	must(t, "move device", err)
	must(t, "delete profile once unused", s.DeleteProfile(ctx, "kid"))
	must(t, "delete emptied household", s.DeleteHousehold(ctx, "h2"))
}

func testGrants(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	putHousehold(t, s, "h")
	putDevice(t, s, "d1", "h", "")
	putDevice(t, s, "d2", "h", "")

	in := store.Grant{Device: "d1", Kind: store.GrantAllow, Target: "games", Until: t0.Add(time.Hour), By: "mum", Created: t0}
	g1, err := s.AddGrant(ctx, in)
	must(t, "add", err)
	if err := store.ValidateID("grant", g1.ID); err != nil {
		t.Errorf("generated id: %v", err)
	}
	want := in
	want.ID = g1.ID
	want.Until, want.Created = in.Until.UTC(), in.Created.UTC()
	equal(t, "added", g1, want)
	g2, err := s.AddGrant(ctx, store.Grant{Device: "d1", Kind: store.GrantPause, Until: t0})
	must(t, "add second", err)
	if g2.ID == g1.ID {
		t.Errorf("two generated ids are both %q", g1.ID)
	}
	g3 := addGrant(t, s, "named", "d2", t0)
	// Extra time carries its minutes in the target.
	extra, err := s.AddGrant(ctx, store.Grant{ID: "extra", Device: "d2", Kind: store.GrantExtraTime, Target: store.ExtraTimeTarget("games", 15), Until: t0})
	must(t, "add extra time", err)
	if tag, m, err := store.ParseExtraTimeTarget(extra.Target); err != nil || tag != "games" || m != 15 {
		t.Errorf("extra time target %q: %q %d %v", extra.Target, tag, m, err)
	}
	must(t, "delete extra time", s.DeleteGrant(ctx, extra.ID))

	got, err := s.Grants(ctx, "d1")
	must(t, "list d1", err)
	if len(got) != 2 {
		t.Fatalf("grants of d1: %+v, want 2", got)
	}
	for _, g := range got {
		if g.ID == g1.ID {
			equal(t, "stored", g, want)
			if g.Until.Location() != time.UTC || !g.Until.Equal(in.Until) || !g.Created.Equal(t0) {
				t.Errorf("times came back as %v, %v", g.Until, g.Created)
			}
		}
	}
	all, err := s.Grants(ctx, "")
	must(t, "list all", err)
	if len(all) != 3 {
		t.Errorf("all grants: %+v, want 3", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].ID >= all[i].ID {
			t.Errorf("grants not sorted by id: %v", ids(all, grantID))
		}
	}

	for _, tc := range []struct {
		name string
		g    store.Grant
		want error
	}{
		{"duplicate id", store.Grant{ID: "named", Device: "d1", Kind: store.GrantPause, Until: t0}, store.ErrConflict},
		{"bad kind", store.Grant{Device: "d1", Kind: "block", Until: t0}, store.ErrInvalid},
		{"allow without target", store.Grant{Device: "d1", Kind: store.GrantAllow, Until: t0}, store.ErrInvalid},
		{"extra time without minutes", store.Grant{Device: "d1", Kind: store.GrantExtraTime, Target: "games", Until: t0}, store.ErrInvalid},
		{"extra time of a day and more", store.Grant{Device: "d1", Kind: store.GrantExtraTime, Target: "games+1441", Until: t0}, store.ErrInvalid},
		{"no until", store.Grant{Device: "d1", Kind: store.GrantPause}, store.ErrInvalid},
		{"bad id", store.Grant{ID: "Bad ID", Device: "d1", Kind: store.GrantPause, Until: t0}, store.ErrInvalid},
	} {
		_, err := s.AddGrant(ctx, tc.g)
		wantErr(t, tc.name, err, tc.want)
	}

	must(t, "delete", s.DeleteGrant(ctx, g2.ID))
	wantErr(t, "delete again", s.DeleteGrant(ctx, g2.ID), store.ErrNotFound)
	must(t, "delete device", s.DeleteDevice(ctx, "d1"))
	got, err = s.Grants(ctx, "d1")
	must(t, "list d1 after delete", err)
	if len(got) != 0 {
		t.Errorf("grants of a deleted device remain: %+v", got)
	}
	all, err = s.Grants(ctx, "")
	must(t, "list all after delete", err)
	equal(t, "remaining", all, []store.Grant{{ID: g3.ID, Device: "d2", Kind: store.GrantPause, Until: t0.UTC()}})

	// Grants are state, not config: a device of the config file, which
	// the store does not know, takes them too (the API checks it exists).
	cfg := addGrant(t, s, "cfg", "Kids Laptop", t0)
	got, err = s.Grants(ctx, "Kids Laptop")
	must(t, "list a config device's grants", err)
	equal(t, "config device's grants", got, []store.Grant{cfg})
}

func testDeleteExpiredGrants(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	putHousehold(t, s, "h")
	putDevice(t, s, "d", "h", "")
	addGrant(t, s, "ended", "d", t0.Add(-time.Second))
	addGrant(t, s, "ends-now", "d", t0)
	addGrant(t, s, "ends-next-ns", "d", t0.Add(time.Nanosecond))
	addGrant(t, s, "ends-later", "d", t0.Add(time.Hour))

	for _, tc := range []struct {
		now    time.Time
		want   int
		remain []string
	}{
		{t0.Add(-time.Hour), 0, []string{"ended", "ends-later", "ends-next-ns", "ends-now"}},
		{t0, 2, []string{"ends-later", "ends-next-ns"}},
		{t0, 0, []string{"ends-later", "ends-next-ns"}},
		{t0.Add(time.Hour), 2, nil},
	} {
		n, err := s.DeleteExpiredGrants(ctx, tc.now)
		must(t, "delete expired", err)
		if n != tc.want {
			t.Errorf("at %v: deleted %d, want %d", tc.now, n, tc.want)
		}
		all, err := s.Grants(ctx, "")
		must(t, "list", err)
		equal(t, "remaining at "+tc.now.String(), ids(all, grantID), tc.remain)
	}
}

func testVersionConflict(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	putHousehold(t, s, "h")
	putProfile(t, s, "kid", "h")

	// Two parents open the same profile.
	a, err := s.Profile(ctx, "kid")
	must(t, "read a", err)
	b, err := s.Profile(ctx, "kid")
	must(t, "read b", err)
	a.Block = []string{"social"}
	saved, err := s.PutProfile(ctx, a)
	must(t, "save a", err)
	b.Block = []string{"games"}
	_, err = s.PutProfile(ctx, b)
	wantErr(t, "save b", err, store.ErrConflict)

	got, err := s.Profile(ctx, "kid")
	must(t, "read", err)
	equal(t, "stored", got, saved)

	// b reloads and retries.
	got.Block = append(got.Block, "games")
	again, err := s.PutProfile(ctx, got)
	must(t, "retry b", err)
	equal(t, "merged", again.Block, []string{"social", "games"})
	if again.Version != 3 {
		t.Errorf("version %d, want 3", again.Version)
	}

	// A version from the future conflicts too.
	got = again
	got.Version = 7
	_, err = s.PutProfile(ctx, got)
	wantErr(t, "save with a future version", err, store.ErrConflict)
}

// testDeviceIdentifiers: the identifier index (store.DeviceIdentifiers)
// finds exactly the devices holding one of the identifiers asked for, by
// each kind, and follows updates and deletions of devices.
func testDeviceIdentifiers(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	ix, ok := s.(store.DeviceIdentifiers)
	if !ok {
		t.Fatalf("%T has no identifier index (store.DeviceIdentifiers)", s)
	}
	putHousehold(t, s, "h1")
	stored := map[string]store.Device{}
	for _, d := range []store.Device{
		{ID: "a", IPs: []string{"192.0.2.1", "2001:db8::1"}},
		{ID: "b", MACs: []string{"02:00:00:00:00:0b"}},
		{ID: "c", ClientIDs: []string{"kitchen"}, IPs: []string{"192.0.2.3"}},
		{ID: "d"},
	} {
		d.Household, d.Name = "h1", d.ID
		got, err := s.PutDevice(ctx, d)
		must(t, "put device "+d.ID, err)
		stored[d.ID] = got
	}
	find := func(what string, ips, macs, clientIDs []string, want ...string) {
		t.Helper()
		ds, err := ix.DevicesWithIdentifiers(ctx, ips, macs, clientIDs)
		must(t, what, err)
		var got []string
		for _, d := range ds {
			want, err := s.Device(ctx, d.ID)
			must(t, what+": get "+d.ID, err)
			equal(t, what+": device "+d.ID, d, want)
			got = append(got, d.ID)
		}
		slices.Sort(got)
		equal(t, what, got, want)
	}
	find("nothing asked", nil, nil, nil)
	find("one address", []string{"192.0.2.1"}, nil, nil, "a")
	find("second address", []string{"2001:db8::1"}, nil, nil, "a")
	find("mac", nil, []string{"02:00:00:00:00:0b"}, nil, "b")
	find("client id", nil, nil, []string{"kitchen"}, "c")
	find("several kinds", []string{"192.0.2.3", "192.0.2.9"}, []string{"02:00:00:00:00:0b"}, nil, "b", "c")
	find("no holder", []string{"192.0.2.9"}, []string{"02:00:00:00:00:99"}, []string{"garage"})
	find("kinds do not mix", nil, []string{"192.0.2.1"}, []string{"192.0.2.1"})

	a := stored["a"]
	a.IPs = []string{"192.0.2.7"}
	_, err := s.PutDevice(ctx, a)
	must(t, "update a", err)
	find("an address the update removed", []string{"192.0.2.1"}, nil, nil)
	find("an address the update added", []string{"192.0.2.7"}, nil, nil, "a")
	must(t, "delete c", s.DeleteDevice(ctx, "c"))
	find("a deleted device's client id", nil, nil, []string{"kitchen"})
}
