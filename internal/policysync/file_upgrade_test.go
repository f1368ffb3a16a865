package policysync

import (
	"reflect"
	"testing"

	"github.com/hearth-dns/hearth/internal/store/storetest"
)

// TestReadOldSnapshotFile reads a snapshot file the code before the one
// profile model wrote (profiles with safe_search_engines and days as one
// string): a start with a broken store after an upgrade still serves
// every profile as it was meant.
func TestReadOldSnapshotFile(t *testing.T) {
	f, err := ReadFile("testdata/policy-snapshot-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	if !f.SetupDone || f.State.Seq != 6 {
		t.Errorf("file = setup %v, seq %d", f.SetupDone, f.State.Seq)
	}
	if want := storetest.OldProfiles(); !reflect.DeepEqual(f.State.Profiles, want) {
		t.Errorf("profiles:\n got %+v\nwant %+v", f.State.Profiles, want)
	}
}
