package compile

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/profile"
	"github.com/hearth-dns/hearth/internal/store"
)

// TestPackedRoundTrip checks that every field of a device, a binding, a
// household, a grant and a profile (both forms) comes back from the packed tables as it went in.
func TestPackedRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 6, 23, 0, 0, 123456789, time.UTC)
	devices := []store.Device{
		{ID: "d1"},
		{ID: "tab", Household: "h1", Name: "Emma's tablet ✓", Profile: "kid", IPs: []string{"192.168.1.10", "2001:db8::1"}, MACs: []string{"aa:bb:cc:dd:ee:ff"},
			ClientIDs: []string{"emma"}, Hostname: "emma-tab", New: true, FirstSeen: at, Version: 42},
		{ID: "phone", Household: "h1", DNSID: &store.DNSID{Hash: "ab12", Label: "phone", Hint: "k3x7", Created: at}, Version: -1},
		{ID: "old", FirstSeen: time.Date(1969, 1, 1, 0, 0, 0, 5, time.UTC)},
	}
	for _, d := range devices {
		if got := decodeDevice(d.ID, encodeDevice(d)); !reflect.DeepEqual(got, d) {
			t.Errorf("device:\n got  %+v\n want %+v", got, d)
		}
		if got := packedDeviceProfile(encodeDevice(d)); got != d.Profile {
			t.Errorf("device %s: packed profile %q, want %q", d.ID, got, d.Profile)
		}
	}
	bindings := []store.Binding{
		{Kind: store.BindIPv4, Key: "192.0.2.7", Household: "h1"},
		{Kind: store.BindIPv6, Key: "2001:db8:7::/56", Household: "h2", Origin: "radius", Session: "s-1", Updated: at},
	}
	for _, b := range bindings {
		if got := decodeBinding(store.BindingID(b.Kind, b.Key), encodeBinding(b)); !reflect.DeepEqual(got, b) {
			t.Errorf("binding:\n got  %+v\n want %+v", got, b)
		}
	}
	households := []store.Household{
		{ID: "home"},
		{ID: "h1", Name: "Müller ✓", DefaultProfile: "kid", TimeZone: "Europe/Berlin", Version: 7},
		{ID: "h2", Version: -3},
	}
	for _, h := range households {
		if got := decodeHousehold(h.ID, encodeHousehold(h)); got != h {
			t.Errorf("household:\n got  %+v\n want %+v", got, h)
		}
	}
	grants := []store.Grant{
		{ID: "g0"},
		{ID: "g1", Device: "tab", Kind: store.GrantAllow, Target: "social", Until: at, By: "anna", Created: at.Add(-time.Hour)},
		{ID: "g2", Device: "tv", Kind: store.GrantPause, Until: at},
	}
	for _, g := range grants {
		if got := decodeGrant(g.ID, encodeGrant(g)); got != g {
			t.Errorf("grant:\n got  %+v\n want %+v", got, g)
		}
	}
	on, off, minutes := true, false, 45
	profiles := []store.Profile{
		{ID: "p0"},
		{ID: "h1-kid", Household: "h1", Name: "Emma (8) ✓", Preset: "kid", Block: []string{"gambling", "social"}, Unblock: []string{"games"},
			Allow: []string{"school.example", "=wiki.example"}, Deny: []string{"!bad.example"}, YouTube: "strict", TimeZone: "Europe/Paris", Version: 9},
		{ID: "h2-teen", Household: "h2", Preset: "teen", Version: -2},
		// The JSON form: settings by pointer, schedules, budgets.
		{ID: "h1-teen", Household: "h1", Preset: "teen", Block: []string{"porn"}, SafeSearch: &profile.SafeSearch{On: true, Engines: []string{"google"}},
			BypassProtection: &on, QueryLog: &off, TimeZone: "UTC", Version: 3,
			Schedules: []profile.Schedule{{Name: "bedtime", Days: profile.Days{"mon-fri"}, From: "21:00", To: "07:00", Pause: true},
				{Name: "homework", Days: profile.Days{"weekdays"}, From: "16:00", To: "18:00", Block: []string{"games"}}},
			Budgets: []profile.Budget{{Tag: "games", Minutes: &minutes, Days: profile.Days{"weekends"}}}},
		{ID: "h3-adult", SafeSearch: &profile.SafeSearch{}},
	}
	for _, p := range profiles {
		if got := decodeProfile(p.ID, encodeProfile(p)); !reflect.DeepEqual(got, p) {
			t.Errorf("profile:\n got  %+v\n want %+v", got, p)
		}
	}
}

// FuzzDecodeDevice checks that a blob, however broken, decodes without a
// panic, and that what decodes encodes to a blob that decodes the same.
func FuzzDecodeDevice(f *testing.F) {
	f.Add(encodeDevice(store.Device{ID: "x", Household: "h", IPs: []string{"10.0.0.1"}, DNSID: &store.DNSID{Hash: "h"}, FirstSeen: time.Unix(5, 6).UTC()}))
	f.Add("")
	f.Add("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")
	f.Fuzz(func(t *testing.T, blob string) {
		d := decodeDevice("x", blob)
		if again := decodeDevice("x", encodeDevice(d)); !reflect.DeepEqual(again, d) {
			t.Errorf("not stable:\n %+v\n %+v", d, again)
		}
	})
}

// TestPackedTableEdit builds a table in an arena, as a bulk build does
// (more items than one chunk holds), then edits it twice from the same
// table (replacing, removing and adding items, the keys given as copies
// the caller then changes): each edit shows only its own changes, the
// table they started from still holds every item as it was, and Put
// returns the key the table holds.
func TestPackedTableEdit(t *testing.T) {
	dev := func(i, v int) store.Device {
		return store.Device{ID: fmt.Sprintf("d%05d", i), Household: "h1", Name: fmt.Sprintf("device %d", i), ClientIDs: []string{fmt.Sprintf("c%d", i)}, Version: int64(v)}
	}
	const n = 5000 // about 150 KB of keys and blobs: three chunks
	e := newPacked(n, appendDevice, decodeDevice).Edit()
	e.arena = new(arena)
	for i := range n {
		d := dev(i, 1)
		key := []byte(d.ID)
		if k := e.Put(string(key), d); k != d.ID {
			t.Fatalf("Put returned %q, want %q", k, d.ID)
		}
		clear(key)
	}
	e.Put("", store.Device{Name: "no id"})
	base := e.Map()
	if len(e.arena.chunk) == 0 || base.Len() != n+1 {
		t.Fatalf("the bulk table holds %d items", base.Len())
	}

	type edit struct {
		put map[int]int // device: version
		del []int
	}
	edits := []edit{
		{put: map[int]int{0: 2, 4999: 2, n: 1, n + 1: 1}, del: []int{1, 2500}},
		{put: map[int]int{1: 3, 2500: 3}, del: []int{0, 4999}},
	}
	var got []packed[store.Device]
	for _, ed := range edits {
		e := base.Edit()
		for i, v := range ed.put {
			e.Put(dev(i, v).ID, dev(i, v))
		}
		for _, i := range ed.del {
			e.Delete(dev(i, 1).ID)
		}
		got = append(got, e.Map())
	}
	check := func(name string, p packed[store.Device], want map[int]int) {
		t.Helper()
		if p.Len() != len(want)+1 {
			t.Errorf("%s: %d items, want %d", name, p.Len(), len(want)+1)
		}
		for i := range n + 2 {
			v, ok := want[i]
			d, found := p.Get(dev(i, 0).ID)
			if found != ok || ok && !reflect.DeepEqual(d, dev(i, v)) {
				t.Errorf("%s: device %d = %+v %v, want version %d %v", name, i, d, found, v, ok)
			}
		}
		if d, ok := p.Get(""); !ok || d.Name != "no id" {
			t.Errorf("%s: the empty id = %+v %v", name, d, ok)
		}
		seen := 0
		for k, d := range p.All() {
			if d.ID != k {
				t.Errorf("%s: All: key %q, item %q", name, k, d.ID)
			}
			seen++
		}
		if seen != p.Len() {
			t.Errorf("%s: All yields %d items, want %d", name, seen, p.Len())
		}
	}
	versions := func(ed *edit) map[int]int {
		m := map[int]int{}
		for i := range n {
			m[i] = 1
		}
		if ed != nil {
			for _, i := range ed.del {
				delete(m, i)
			}
			for i, v := range ed.put {
				m[i] = v
			}
		}
		return m
	}
	check("base", base, versions(nil))
	for i := range edits {
		check(fmt.Sprintf("edit %d", i), got[i], versions(&edits[i]))
	}
}
