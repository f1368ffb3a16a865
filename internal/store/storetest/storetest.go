// Package storetest is the test suite every store.Store backend passes:
// a backend's tests call Run with a way to open a fresh instance of it.
package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// Opener opens the store of one subtest. Each call after the first opens
// again what the previous store, now closed, held: the suite calls it a
// second time to check that data survives Close.
type Opener func() store.Store

// Run runs the suite. newBackend is called once per subtest and returns
// an Opener for a new, empty backend (a new file, a new schema...); it
// reports its own failures through t. The suite closes every store it
// opens.
func Run(t *testing.T, newBackend func(t *testing.T) Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"Households", testHouseholds},
		{"InvalidIDs", testInvalidIDs},
		{"Profiles", testProfiles},
		{"ProfileForms", testProfileForms},
		{"Devices", testDevices},
		{"DeviceDNSIDs", testDeviceDNSIDs},
		{"DeviceIdentifiers", testDeviceIdentifiers},
		{"References", testReferences},
		{"Grants", testGrants},
		{"DeleteExpiredGrants", testDeleteExpiredGrants},
		{"Bindings", testBindings},
		{"InvalidBindings", testInvalidBindings},
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"Tokens", testTokens},
		{"TokenScopes", testTokenScopes},
		{"ChangePassword", testChangePassword},
		{"Roles", testRoles},
		{"Settings", testSettings},
		{"NotFound", testNotFound},
		{"VersionConflict", testVersionConflict},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ConcurrentCreates", testConcurrentCreates},
		{"ChangeFeed", testChangeFeed},
		{"Version", testVersion},
		{"GrantByID", testGrantByID},
		{"Notify", testNotify},
		{"LoadConsistent", testLoadConsistent},
		{"Reopen", testReopen},
		{"CanceledContext", testCanceledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newBackend(t))
		})
	}
}

// wait bounds how long a test waits for something that should happen at
// once; reaching it is a failure, never a way to synchronise.
const wait = 10 * time.Second

// t0 is the suite's clock: a time with nanoseconds, not in UTC, to check
// that times come back in UTC and Equal.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

// openStore opens a store that is closed when the test ends.
func openStore(t *testing.T, open Opener) store.Store {
	t.Helper()
	s := open()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// must fails the test now on an error.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// equal fails unless got and want are deeply equal.
func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func putHousehold(t *testing.T, s store.Store, id string) store.Household {
	t.Helper()
	h, err := s.PutHousehold(context.Background(), store.Household{ID: id, Name: "The " + id})
	must(t, "put household "+id, err)
	return h
}

func putProfile(t *testing.T, s store.Store, id, household string) store.Profile {
	t.Helper()
	p, err := s.PutProfile(context.Background(), store.Profile{ID: id, Household: household, Name: id, Preset: "child"})
	must(t, "put profile "+id, err)
	return p
}

func putDevice(t *testing.T, s store.Store, id, household, profile string) store.Device {
	t.Helper()
	d, err := s.PutDevice(context.Background(), store.Device{ID: id, Household: household, Profile: profile, Name: id})
	must(t, "put device "+id, err)
	return d
}

func addGrant(t *testing.T, s store.Store, id, device string, until time.Time) store.Grant {
	t.Helper()
	g, err := s.AddGrant(context.Background(), store.Grant{ID: id, Device: device, Kind: store.GrantPause, Until: until})
	must(t, "add grant "+id, err)
	return g
}

// ids returns the IDs of items, in order.
func ids[T any](items []T, id func(T) string) []string {
	var out []string
	for _, it := range items {
		out = append(out, id(it))
	}
	return out
}

func householdID(h store.Household) string { return h.ID }
func profileID(p store.Profile) string     { return p.ID }
func deviceID(d store.Device) string       { return d.ID }
func grantID(g store.Grant) string         { return g.ID }
