package postgres

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/policysync"
	"github.com/hearth-dns/hearth/internal/store"
)

var _ policysync.ManyGetter = (*Store)(nil)

// TestManyByID: DevicesByID and GrantsByID return what Device and Grant
// return for each id that exists, and skip the ids that do not.
func TestManyByID(t *testing.T) {
	ctx := context.Background()
	s := openDSN(t, &Config{DSN: newSchema(t)})
	if _, err := s.PutHousehold(ctx, store.Household{ID: "h1", Name: "H"}); err != nil {
		t.Fatal(err)
	}
	until := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var gids []string
	for _, id := range []string{"a", "b", "c"} {
		if _, err := s.PutDevice(ctx, store.Device{ID: id, Household: "h1", Name: id}); err != nil {
			t.Fatal(err)
		}
		g, err := s.AddGrant(ctx, store.Grant{Device: id, Kind: store.GrantPause, Until: until})
		if err != nil {
			t.Fatal(err)
		}
		gids = append(gids, g.ID)
	}
	tests := []struct {
		name       string
		devices    []string
		grants     []string
		wantD      []string
		wantGrants int
	}{
		{"none", nil, nil, nil, 0},
		{"all", []string{"a", "b", "c"}, gids, []string{"a", "b", "c"}, 3},
		{"some gone", []string{"a", "gone"}, []string{gids[1], "gone"}, []string{"a"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := s.DevicesByID(ctx, tc.devices)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range ds {
				want, err := s.Device(ctx, d.ID)
				if err != nil || !equalJSON(t, d, want) {
					t.Errorf("device %q: got %+v, Device gives %+v (%v)", d.ID, d, want, err)
				}
				got = append(got, d.ID)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.wantD) {
				t.Errorf("devices %v, want %v", got, tc.wantD)
			}
			gs, err := s.GrantsByID(ctx, tc.grants)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range gs {
				want, err := s.Grant(ctx, g.ID)
				if err != nil || !equalJSON(t, g, want) {
					t.Errorf("grant %q: got %+v, Grant gives %+v (%v)", g.ID, g, want, err)
				}
			}
			if len(gs) != tc.wantGrants {
				t.Errorf("%d grants, want %d", len(gs), tc.wantGrants)
			}
		})
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(x) == string(y)
}

// TestDevicesWithIdentifiers: the indexed lookup finds exactly the
// devices holding one of the identifiers asked for, by each kind.
func TestDevicesWithIdentifiers(t *testing.T) {
	ctx := context.Background()
	s := openDSN(t, &Config{DSN: newSchema(t)})
	if _, err := s.PutHousehold(ctx, store.Household{ID: "h1", Name: "H"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []store.Device{
		{ID: "a", IPs: []string{"192.0.2.1", "2001:db8::1"}},
		{ID: "b", MACs: []string{"02:00:00:00:00:0b"}},
		{ID: "c", ClientIDs: []string{"kitchen"}, IPs: []string{"192.0.2.3"}},
		{ID: "d"},
	} {
		d.Household, d.Name = "h1", d.ID
		if _, err := s.PutDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name                 string
		ips, macs, clientIDs []string
		want                 []string
	}{
		{"nothing asked", nil, nil, nil, nil},
		{"one address", []string{"192.0.2.1"}, nil, nil, []string{"a"}},
		{"second address", []string{"2001:db8::1"}, nil, nil, []string{"a"}},
		{"mac", nil, []string{"02:00:00:00:00:0b"}, nil, []string{"b"}},
		{"client id", nil, nil, []string{"kitchen"}, []string{"c"}},
		{"several kinds", []string{"192.0.2.3", "192.0.2.9"}, []string{"02:00:00:00:00:0b"}, nil, []string{"b", "c"}},
		{"no holder", []string{"192.0.2.9"}, []string{"02:00:00:00:00:99"}, []string{"garage"}, nil},
		{"kinds do not mix", nil, []string{"192.0.2.1"}, []string{"192.0.2.1"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := s.DevicesWithIdentifiers(ctx, tc.ips, tc.macs, tc.clientIDs)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range ds {
				want, err := s.Device(ctx, d.ID)
				if err != nil || !equalJSON(t, d, want) {
					t.Errorf("device %q: got %+v, Device gives %+v (%v)", d.ID, d, want, err)
				}
				got = append(got, d.ID)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("devices %v, want %v", got, tc.want)
			}
		})
	}
}
