package postgres

import (
	"context"
	"os"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-dns/hearth/internal/store/storetest"
)

// TestUpgradeOldProfiles loads rows the code before the one profile
// model wrote (testdata/v1-profiles.sql, dumped from a store at schema 1)
// and opens the store: schema step 2 rewrites the profile rows in
// today's form, each keeping its meaning and version, and the change
// feed does not move.
func TestUpgradeOldProfiles(t *testing.T) {
	ctx := context.Background()
	dsn := newSchema(t)
	fixture, err := os.ReadFile("testdata/v1-profiles.sql")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		"CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)",
		migrations[0],
		"DELETE FROM policy_feed_head", // the dump holds the row
		string(fixture),
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}

	s := openDSN(t, &Config{DSN: dsn})
	// Step 2 and every step after it (3: bindings, 4: roles).
	if want := storetest.Steps(2, len(migrations)); !reflect.DeepEqual(s.applied, want) {
		t.Fatalf("applied %v, want %v: the fixture is at schema 1", s.applied, want)
	}
	st, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := storetest.OldProfiles(); !reflect.DeepEqual(st.Profiles, want) {
		t.Errorf("profiles after the upgrade:\n got %+v\nwant %+v", st.Profiles, want)
	}
	if st.Seq != 6 {
		t.Errorf("feed position %d, want 6: the rewrite must not look like a change", st.Seq)
	}
	rows, err := conn.Query(ctx, "SELECT id, data::text FROM profiles ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	storetest.CheckUpgradedRows(t, rows)
}
