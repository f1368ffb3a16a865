package sqlite

import (
	"context"

	"github.com/hearth-dns/hearth/internal/store/sqlstore"
)

// migrations are the schema steps, in order: migrations[i] takes the
// schema to version i+1. Append new steps; never edit a released one.
var migrations = []string{
	// 1: the first schema. Times are unix nanoseconds (NULL for the zero
	// time). households.default_profile and devices.profile are NULL for
	// "". The foreign keys back up the checks the methods make to return
	// ErrInvalid or ErrConflict with a message. The profile columns have
	// none: they may name presets and config-file profiles.
	`
CREATE TABLE households (
	id              TEXT PRIMARY KEY,
	version         INTEGER NOT NULL,
	default_profile TEXT,
	data            TEXT NOT NULL
) STRICT;

CREATE TABLE profiles (
	id        TEXT PRIMARY KEY,
	household TEXT NOT NULL REFERENCES households (id),
	version   INTEGER NOT NULL,
	data      TEXT NOT NULL
) STRICT;
CREATE INDEX profiles_household ON profiles (household);

CREATE TABLE devices (
	id        TEXT PRIMARY KEY,
	household TEXT NOT NULL REFERENCES households (id),
	profile   TEXT,
	version   INTEGER NOT NULL,
	data      TEXT NOT NULL
) STRICT;
CREATE INDEX devices_household ON devices (household);
CREATE INDEX devices_profile ON devices (profile);

CREATE TABLE grants (
	id         TEXT PRIMARY KEY,
	device     TEXT NOT NULL REFERENCES devices (id),
	kind       TEXT NOT NULL,
	target     TEXT NOT NULL,
	until      INTEGER NOT NULL,
	created_by TEXT NOT NULL,
	created    INTEGER
) STRICT;
CREATE INDEX grants_device ON grants (device);
CREATE INDEX grants_until ON grants (until);

CREATE TABLE users (
	name          TEXT PRIMARY KEY,
	password_hash TEXT NOT NULL,
	created       INTEGER
) STRICT;

CREATE TABLE sessions (
	hash      TEXT PRIMARY KEY,
	user_name TEXT NOT NULL REFERENCES users (name),
	csrf      TEXT NOT NULL,
	expires   INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_expires ON sessions (expires);

CREATE TABLE tokens (
	id        TEXT PRIMARY KEY,
	name      TEXT NOT NULL,
	user_name TEXT NOT NULL REFERENCES users (name),
	hash      TEXT NOT NULL UNIQUE,
	created   INTEGER
) STRICT;

CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;

-- AUTOINCREMENT: a seq is never reused, even after the newest rows are
-- deleted, so a node's "after" position stays meaningful.
CREATE TABLE policy_changes (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	kind    TEXT NOT NULL,
	id      TEXT NOT NULL,
	deleted INTEGER NOT NULL,
	at      INTEGER NOT NULL
) STRICT;
`,
	// 2: token scopes, expiry and last use. Tokens made before scopes
	// existed could do everything, so they become admin tokens.
	`
ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE tokens ADD COLUMN expires INTEGER;
ALTER TABLE tokens ADD COLUMN last_used INTEGER;
CREATE INDEX tokens_user ON tokens (user_name);
CREATE INDEX sessions_user ON sessions (user_name);
`,
	// 3: a device's encrypted-DNS id. Only the hash of its secret is
	// kept, in a column of its own so that no two devices share one and
	// so that it never travels with the device's JSON; the label, hint
	// and time stay in data.
	`
ALTER TABLE devices ADD COLUMN dns_id_hash TEXT;
CREATE UNIQUE INDEX devices_dns_id_hash ON devices (dns_id_hash);
`,
	// 4: grants name any device, the config file's too (grants are
	// state, not config), so grants.device loses its foreign key. The
	// API checks the device exists; DeleteDevice still removes a store
	// device's grants. SQLite cannot drop a constraint: the table is
	// rebuilt.
	`
CREATE TABLE grants_v4 (
	id         TEXT PRIMARY KEY,
	device     TEXT NOT NULL,
	kind       TEXT NOT NULL,
	target     TEXT NOT NULL,
	until      INTEGER NOT NULL,
	created_by TEXT NOT NULL,
	created    INTEGER
) STRICT;
INSERT INTO grants_v4 SELECT id, device, kind, target, until, created_by, created FROM grants;
DROP TABLE grants;
ALTER TABLE grants_v4 RENAME TO grants;
CREATE INDEX grants_device ON grants (device);
CREATE INDEX grants_until ON grants (until);
`,
	// 5: profiles in the one profile form (package profile): safe_search
	// true, false or a list of engines (no safe_search_engines), a
	// schedule's days a list. upgradeProfiles rewrites the rows after
	// this step; the schema does not change.
	`SELECT 1`,
	// 6: ISP subscriber bindings, one row per kind and key. The
	// household's foreign key backs up PutBindings' check; session is
	// '' when no RADIUS session made the binding, and indexed so that a
	// Stop finds its session's bindings.
	`
CREATE TABLE bindings (
	kind      TEXT NOT NULL,
	key       TEXT NOT NULL,
	household TEXT NOT NULL REFERENCES households (id),
	origin    TEXT NOT NULL,
	session   TEXT NOT NULL,
	updated   INTEGER,
	PRIMARY KEY (kind, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX bindings_household ON bindings (household);
CREATE INDEX bindings_session ON bindings (session) WHERE session != '';
`,
	// 7: roles. A user or token with a household sees and changes only
	// that household; '' is an operator's, as every earlier one was.
	`
ALTER TABLE users ADD COLUMN household TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN household TEXT NOT NULL DEFAULT '';
CREATE INDEX users_household ON users (household);
CREATE INDEX tokens_household ON tokens (household);
`,
	// 8: an index of the devices' identifiers (store.DeviceIdentifiers),
	// as PostgreSQL's schema 5: the API checks that a device's
	// addresses, MACs and client ids are no other device's without
	// reading every device. Triggers keep it, so every write of a device
	// row does; the rows of earlier versions are indexed here.
	`
CREATE TABLE device_identifiers (
	kind   TEXT NOT NULL, -- ips, macs or client_ids: the device's JSON field
	value  TEXT NOT NULL,
	device TEXT NOT NULL,
	PRIMARY KEY (kind, value, device)
) STRICT, WITHOUT ROWID;
CREATE INDEX device_identifiers_device ON device_identifiers (device);

CREATE VIEW device_identifiers_of AS
SELECT d.id AS device, f.kind AS kind, j.value AS value
FROM devices d, (SELECT 'ips' AS kind UNION ALL SELECT 'macs' UNION ALL SELECT 'client_ids') f,
	json_each(d.data, '$.' || f.kind) j;

CREATE TRIGGER devices_identifiers_insert AFTER INSERT ON devices BEGIN
	INSERT OR IGNORE INTO device_identifiers (kind, value, device)
	SELECT kind, value, device FROM device_identifiers_of WHERE device = NEW.id;
END;
CREATE TRIGGER devices_identifiers_update AFTER UPDATE ON devices BEGIN
	DELETE FROM device_identifiers WHERE device = OLD.id;
	INSERT OR IGNORE INTO device_identifiers (kind, value, device)
	SELECT kind, value, device FROM device_identifiers_of WHERE device = NEW.id;
END;
CREATE TRIGGER devices_identifiers_delete AFTER DELETE ON devices BEGIN
	DELETE FROM device_identifiers WHERE device = OLD.id;
END;

INSERT OR IGNORE INTO device_identifiers (kind, value, device)
SELECT kind, value, device FROM device_identifiers_of;
`,
}

// upgrade returns the rewrite of rows that follows schema step v, or nil.
func upgrade(v int) func(context.Context, sqlstore.Migration) error {
	if v == 5 {
		return sqlstore.UpgradeProfiles
	}
	return nil
}

// migrate brings the schema to len(steps), all in one write transaction
// so that two processes opening a new file do not both apply a step.
func (s *Store) migrate(ctx context.Context, steps []string) error {
	var applied []int
	err := s.write(ctx, false, func(tx *sqlstore.Tx) error {
		var err error
		applied, err = sqlstore.Migrate(ctx, sqlstore.TxMigration{Tx: tx}, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_at INTEGER NOT NULL
) STRICT`, steps, upgrade)
		return err
	})
	if err != nil {
		return err
	}
	s.applied = applied
	if len(applied) > 0 {
		s.log.Info("store schema migrated", "path", s.path, "from", applied[0]-1, "to", applied[len(applied)-1])
	}
	return nil
}
