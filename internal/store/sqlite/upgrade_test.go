package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hearth-dns/hearth/internal/store/storetest"
)

// TestUpgradeOldProfiles opens a database the old code wrote: schema
// step 5 rewrites its profile rows in today's form, each keeping its
// meaning and its version, and the change feed does not move.
func TestUpgradeOldProfiles(t *testing.T) {
	ctx := context.Background()
	old, err := os.ReadFile("testdata/v4-profiles.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hearth.db")
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, &Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Step 5 and every step after it (6: bindings, 7: roles).
	if want := storetest.Steps(5, len(migrations)); !reflect.DeepEqual(s.applied, want) {
		t.Fatalf("applied %v, want %v: the fixture is at schema 4", s.applied, want)
	}

	st, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := storetest.OldProfiles(); !reflect.DeepEqual(st.Profiles, want) {
		t.Errorf("profiles after the upgrade:\n got %+v\nwant %+v", st.Profiles, want)
	}
	// Six writes made the fixture (a household, four profiles, a
	// device); the rewrite adds none.
	if st.Seq != 6 {
		t.Errorf("feed position %d, want 6: the rewrite must not look like a change", st.Seq)
	}
	if len(st.Devices) != 1 || st.Devices[0].Profile != "emma" {
		t.Errorf("devices = %+v", st.Devices)
	}

	// The rows are in today's form: a reader of the new form alone (a
	// strict one) reads every row, and no old spelling is left.
	rows, err := s.db.QueryContext(ctx, "SELECT id, data FROM profiles ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	storetest.CheckUpgradedRows(t, rows)

	// A write after the upgrade reads back the same.
	emma := st.Profiles[0]
	put, err := s.PutProfile(ctx, emma)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Profile(ctx, "emma")
	if err != nil || !reflect.DeepEqual(got, put) {
		t.Errorf("after a write: %+v, %v, want %+v", got, err, put)
	}
}
