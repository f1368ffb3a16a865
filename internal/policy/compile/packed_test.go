package compile

import (
	"reflect"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// TestPackedRoundTrip checks that every field of a device, a binding, a
// household and a grant comes back from the packed tables as it went in.
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
