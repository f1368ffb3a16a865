package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlstore"
)

func openSteps(t *testing.T, path string, steps []string) (*Store, error) {
	t.Helper()
	return open(context.Background(), &Config{Path: path}, steps)
}

func tableExists(t *testing.T, s *Store, name string) bool {
	t.Helper()
	ok, err := sqlstore.Exists(context.Background(), s.db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", name)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func schemaVersion(t *testing.T, s *Store) int {
	t.Helper()
	var v int
	if err := s.db.QueryRow("SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearth.db")
	all := make([]int, len(migrations))
	for i := range all {
		all[i] = i + 1
	}
	extra := append(slices.Clone(migrations), "CREATE TABLE extra (x INTEGER) STRICT")

	// Each step opens the same file with the steps the code knows.
	tests := []struct {
		name        string
		steps       []string
		wantApplied []int
		wantErr     string
		wantVersion int
	}{
		{"fresh file gets every step", migrations, all, "", len(migrations)},
		{"reopening applies nothing", migrations, nil, "", len(migrations)},
		{"a new step is applied alone", extra, []int{len(extra)}, "", len(extra)},
		{"reopening after it applies nothing", extra, nil, "", len(extra)},
		{"older code refuses the newer file", migrations, nil, "newer than this program knows", len(extra)},
		{"a failing step is rolled back", append(slices.Clone(extra), "CREATE TABLE half (x); SELECT * FROM nowhere"), nil, "schema version", len(extra)},
	}
	for _, tc := range tests {
		s, err := openSteps(t, path, tc.steps)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("%s: got error %v, want one containing %q", tc.name, err, tc.wantErr)
			}
			// Look at the file with the code that knows it.
			s, err = openSteps(t, path, extra)
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(s.applied, tc.wantApplied) {
			t.Errorf("%s: applied %v, want %v", tc.name, s.applied, tc.wantApplied)
		}
		if v := schemaVersion(t, s); v != tc.wantVersion {
			t.Errorf("%s: schema version %d, want %d", tc.name, v, tc.wantVersion)
		}
		if tableExists(t, s, "half") {
			t.Errorf("%s: a failed step left its table", tc.name)
		}
		s.Close()
	}

	s := openPath(t, path+"-fresh")
	defer s.Close()
	for _, table := range []string{"households", "profiles", "devices", "grants", "users", "sessions", "tokens", "settings", "policy_changes", "schema_migrations"} {
		if !tableExists(t, s, table) {
			t.Errorf("no table %s", table)
		}
	}
}

// TestNewerSchemaRefused plants a version the code does not know, as a
// newer Hearth would have, and checks that Open refuses the file and
// leaves it as it was.
func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearth.db")
	s := openPath(t, path)
	if _, err := s.db.Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)", len(migrations)+5); err != nil {
		t.Fatal(err)
	}
	s.Close()

	_, err := Open(context.Background(), &Config{Path: path})
	if err == nil {
		t.Fatal("opened a database with a newer schema")
	}
	for _, want := range []string{path, "schema version", "newer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestMigrationTokenScopes: a token made before scopes existed could do
// everything, so after the upgrade it is an admin token that never
// expires and was never used.
func TestMigrationTokenScopes(t *testing.T) {
	s := migrated(t, 1,
		"INSERT INTO users (name, password_hash, created) VALUES ('admin', 'h', NULL)",
		"INSERT INTO tokens (id, name, user_name, hash, created) VALUES ('old', 'prometheus', 'admin', 'hash-old', NULL)",
	)
	tok, err := s.TokenByHash(context.Background(), "hash-old")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Scope != "admin" || !tok.Expires.IsZero() || !tok.LastUsed.IsZero() {
		t.Errorf("migrated token = %+v, want scope admin, no expiry, never used", tok)
	}
}

// TestDNSIDMigrationKeepsDevices opens a file of schema 2 holding a device
// with a chosen client id: after migration 3 the device reads as before,
// with no DNS id, and can be given one.
func TestDNSIDMigrationKeepsDevices(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearth.db")
	s, err := openSteps(t, path, migrations[:2])
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO households (id, version, data) VALUES ('home', 1, '{"name":"Home"}')`,
		`INSERT INTO devices (id, household, version, data) VALUES ('dad', 'home', 1, '{"name":"Dad","client_ids":["dad"]}')`,
	} {
		if _, err := s.db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	s = openPath(t, path)
	defer s.Close()
	ctx := context.Background()
	d, err := s.Device(ctx, "dad")
	if err != nil {
		t.Fatal(err)
	}
	if d.DNSID != nil || !slices.Equal(d.ClientIDs, []string{"dad"}) || d.Version != 1 {
		t.Fatalf("migrated device %+v, want the chosen id dad and no DNS id", d)
	}
	d.ClientIDs = nil
	d.DNSID = &store.DNSID{Hash: strings.Repeat("0f", 32), Hint: "abcd"}
	if _, err := s.PutDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	if d, err = s.Device(ctx, "dad"); err != nil || d.DNSID == nil || d.DNSID.Hash != strings.Repeat("0f", 32) {
		t.Fatalf("device after setting a DNS id: %+v, %v", d, err)
	}
	// The hash lives in its column only, which the unique index guards.
	var data string
	if err := s.db.QueryRow("SELECT data FROM devices WHERE id = 'dad'").Scan(&data); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(data, "0f0f") || !strings.Contains(data, `"hint":"abcd"`) {
		t.Errorf("device data %s: want the hint and not the hash", data)
	}
}

// TestGrantsMigrationKeepsGrants opens a file of schema 3 holding a
// device's grant: after migration 4 the grant reads as before, the
// device's deletion still removes it, and a grant may name a device of
// the config file, which the store does not know.
func TestGrantsMigrationKeepsGrants(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearth.db")
	s, err := openSteps(t, path, migrations[:3])
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO households (id, version, data) VALUES ('home', 1, '{"name":"Home"}')`,
		`INSERT INTO devices (id, household, version, data) VALUES ('tablet', 'home', 1, '{"name":"Tablet"}')`,
		`INSERT INTO grants (id, device, kind, target, until, created_by, created) VALUES ('g1', 'tablet', 'allow', 'games', 4102444800000000000, 'mum', NULL)`,
	} {
		if _, err := s.db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	s = openPath(t, path)
	defer s.Close()
	ctx := context.Background()
	gs, err := s.Grants(ctx, "tablet")
	if err != nil || len(gs) != 1 || gs[0].ID != "g1" || gs[0].Target != "games" || gs[0].By != "mum" {
		t.Fatalf("migrated grants %+v, %v: want g1 allowing games", gs, err)
	}
	if _, err := s.AddGrant(ctx, store.Grant{Device: "kids-laptop", Kind: store.GrantPause, Until: time.Unix(4102444800, 0)}); err != nil {
		t.Fatalf("a grant for a config-file device: %v", err)
	}
	if err := s.DeleteDevice(ctx, "tablet"); err != nil {
		t.Fatal(err)
	}
	if gs, err := s.Grants(ctx, "tablet"); err != nil || len(gs) != 0 {
		t.Errorf("grants of the deleted device: %+v, %v", gs, err)
	}
	if gs, err := s.Grants(ctx, "kids-laptop"); err != nil || len(gs) != 1 {
		t.Errorf("grants of the config device: %+v, %v", gs, err)
	}
}

// TestRolesMigrationKeepsOperators opens a file of schema 4 with a user
// and a token: after the roles migration (7) both are an operator's
// (household ""), as they could manage everything before.
func TestRolesMigrationKeepsOperators(t *testing.T) {
	s := migrated(t, 4,
		"INSERT INTO users (name, password_hash, created) VALUES ('admin', 'h', NULL)",
		"INSERT INTO tokens (id, name, user_name, hash, created, scope) VALUES ('old', 'ha', 'admin', 'hash-old', NULL, 'admin')",
	)
	ctx := context.Background()
	u, err := s.User(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.TokenByHash(ctx, "hash-old")
	if err != nil {
		t.Fatal(err)
	}
	if u.Household != "" || tok.Household != "" {
		t.Errorf("migrated user household %q, token household %q: want both \"\" (operator)", u.Household, tok.Household)
	}
}

// TestIdentifierIndexMigration opens a file of schema 7 holding a device:
// the identifier index (8) holds the identifiers of the devices written
// before it.
func TestIdentifierIndexMigration(t *testing.T) {
	s := migrated(t, 7,
		`INSERT INTO households (id, version, data) VALUES ('home', 1, '{"name":"Home"}')`,
		`INSERT INTO devices (id, household, version, data) VALUES ('dad', 'home', 1, '{"name":"Dad","ips":["192.0.2.5"],"macs":["02:00:00:00:00:0d"],"client_ids":["dad"]}')`,
		`INSERT INTO devices (id, household, version, data) VALUES ('tv', 'home', 1, '{"name":"TV"}')`,
	)
	for _, tc := range []struct {
		name                 string
		ips, macs, clientIDs []string
	}{
		{"address", []string{"192.0.2.5"}, nil, nil},
		{"mac", nil, []string{"02:00:00:00:00:0d"}, nil},
		{"client id", nil, nil, []string{"dad"}},
	} {
		ds, err := s.DevicesWithIdentifiers(context.Background(), tc.ips, tc.macs, tc.clientIDs)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].ID != "dad" {
			t.Errorf("%s: found %+v, want the device dad", tc.name, ds)
		}
	}
}

// migrated returns a store of a new file that held schema version
// steps and the rows that inserts wrote, then was opened by this code
// (every migration after steps applied). It is closed when the test ends.
func migrated(t *testing.T, steps int, inserts ...string) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hearth.db")
	s, err := openSteps(t, path, migrations[:steps])
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range inserts {
		if _, err := s.db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s, err = openSteps(t, path, migrations)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
