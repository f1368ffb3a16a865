package postgres

import (
	"context"
	"encoding/json"
	"errors"
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
	gids := putDevicesWithGrants(t, s)
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

var _ policysync.FeedReader = (*Store)(nil)

// TestChangesWithGrants: ChangesWithGrants returns what Changes returns,
// the grants those changes name that still exist, as Grant returns them,
// and when the page's last change was written.
func TestChangesWithGrants(t *testing.T) {
	ctx := context.Background()
	s := openDSN(t, &Config{DSN: newSchema(t)})
	start := time.Now()
	gids := putDevicesWithGrants(t, s)
	if err := s.DeleteGrant(ctx, gids[2]); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	// The feed: h1, a, grant a, b, grant b, c, grant c, grant c deleted.
	tests := []struct {
		name   string
		after  int64
		limit  int
		grants []string
	}{
		{"all", 0, 100, gids[:2]},
		{"first page", 0, 3, gids[:1]},
		{"a later page", 3, 2, gids[1:2]},
		{"a deleted grant", 5, 100, nil},
		{"past the end", 8, 100, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.ChangesWithGrants(ctx, tc.after, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			want, err := s.Changes(ctx, tc.after, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Changes, want) {
				t.Errorf("changes %+v, want %+v", p.Changes, want)
			}
			var got []string
			for _, g := range p.Grants {
				want, err := s.Grant(ctx, g.ID)
				if err != nil || !equalJSON(t, g, want) {
					t.Errorf("grant %q: got %+v, Grant gives %+v (%v)", g.ID, g, want, err)
				}
				got = append(got, g.ID)
			}
			wantIDs := slices.Clone(tc.grants)
			slices.Sort(got)
			slices.Sort(wantIDs)
			if !slices.Equal(got, wantIDs) {
				t.Errorf("grants %v, want %v", got, wantIDs)
			}
			switch {
			case len(p.Changes) == 0 && !p.At.IsZero():
				t.Errorf("an empty page has At %v", p.At)
			case len(p.Changes) > 0 && (p.At.Before(start) || p.At.After(end)):
				t.Errorf("At %v, not between the first write %v and the last %v", p.At, start, end)
			}
		})
	}
	if _, err := s.ChangesWithGrants(ctx, 0, 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("limit 0: %v, want ErrInvalid", err)
	}
}

// putDevicesWithGrants puts household h1 with devices a, b and c, each
// paused by a grant, and returns the grants' ids in that order.
func putDevicesWithGrants(t *testing.T, s *Store) []string {
	t.Helper()
	ctx := context.Background()
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
	return gids
}
