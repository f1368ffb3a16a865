package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-dns/hearth/internal/store/sqlstore"
)

// migrations are the schema steps, in order: migrations[i] takes the
// schema to version i+1. Append new steps; never edit a released one.
// Version 1 is the SQLite store's schema at its version 3 (token scopes,
// expiry and last use; devices' DNS id hash), in PostgreSQL's words.
var migrations = []string{
	// 1: the first schema. Times are unix nanoseconds (NULL for the zero
	// time): timestamptz keeps only microseconds. default_profile and
	// devices.profile are NULL for "" and have no foreign key: they may
	// name presets and config-file profiles. The other foreign keys back
	// up the checks the methods make with a message. policy_feed_head's
	// one row is the last seq handed out, which policy writes lock (see
	// the package comment); a seq is never reused, even after the newest
	// changes are deleted.
	`
CREATE TABLE households (
	id              text PRIMARY KEY,
	version         bigint NOT NULL,
	default_profile text,
	data            jsonb NOT NULL
);

CREATE TABLE profiles (
	id        text PRIMARY KEY,
	household text NOT NULL REFERENCES households (id),
	version   bigint NOT NULL,
	data      jsonb NOT NULL
);
CREATE INDEX profiles_household ON profiles (household);

CREATE TABLE devices (
	id          text PRIMARY KEY,
	household   text NOT NULL REFERENCES households (id),
	profile     text,
	version     bigint NOT NULL,
	data        jsonb NOT NULL,
	dns_id_hash text UNIQUE
);
CREATE INDEX devices_household ON devices (household);
CREATE INDEX devices_profile ON devices (profile);

CREATE TABLE grants (
	id         text PRIMARY KEY,
	device     text NOT NULL, -- a store device or a config file's (grants are state)
	kind       text NOT NULL,
	target     text NOT NULL,
	until      bigint NOT NULL,
	created_by text NOT NULL,
	created    bigint
);
CREATE INDEX grants_device ON grants (device);
CREATE INDEX grants_until ON grants (until);

CREATE TABLE users (
	name          text PRIMARY KEY,
	password_hash text NOT NULL,
	created       bigint
);

CREATE TABLE sessions (
	hash      text PRIMARY KEY,
	user_name text NOT NULL REFERENCES users (name),
	csrf      text NOT NULL,
	expires   bigint NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires);
CREATE INDEX sessions_user ON sessions (user_name);

CREATE TABLE tokens (
	id        text PRIMARY KEY,
	name      text NOT NULL,
	user_name text NOT NULL REFERENCES users (name),
	hash      text NOT NULL UNIQUE,
	created   bigint,
	scope     text NOT NULL DEFAULT 'admin',
	expires   bigint,
	last_used bigint
);
CREATE INDEX tokens_user ON tokens (user_name);

CREATE TABLE settings (
	key   text PRIMARY KEY,
	value text NOT NULL
);

CREATE TABLE policy_changes (
	seq     bigint PRIMARY KEY,
	kind    text NOT NULL,
	id      text NOT NULL,
	deleted boolean NOT NULL,
	at      bigint NOT NULL
);

CREATE TABLE policy_feed_head (
	id   integer PRIMARY KEY CHECK (id = 1),
	last bigint NOT NULL
);
INSERT INTO policy_feed_head (id, last) VALUES (1, 0);
`,
	// 2: profiles in the one profile form (package profile): safe_search
	// true, false or a list of engines (no safe_search_engines), a
	// schedule's days a list. upgradeProfiles rewrites the rows after
	// this step; the schema does not change.
	`SELECT 1`,
	// 3: ISP subscriber bindings (SQLite's version 6), one row per kind
	// and key. session is '' when no RADIUS session made the binding.
	`
CREATE TABLE bindings (
	kind      text NOT NULL,
	key       text NOT NULL,
	household text NOT NULL REFERENCES households (id),
	origin    text NOT NULL,
	session   text NOT NULL,
	updated   bigint,
	PRIMARY KEY (kind, key)
);
CREATE INDEX bindings_household ON bindings (household);
CREATE INDEX bindings_session ON bindings (session) WHERE session != '';
`,
	// 4: roles, as the SQLite store's version 7. A user or token with a
	// household sees and changes only that household; '' is an
	// operator's, as every earlier one was.
	`
ALTER TABLE users ADD COLUMN household text NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN household text NOT NULL DEFAULT '';
CREATE INDEX users_household ON users (household);
CREATE INDEX tokens_household ON tokens (household);
`,
	// 5: an index of the devices' identifiers, so that the API's check
	// that a new device's addresses are no other device's
	// (store.DeviceIdentifiers) does not read every device.
	`
CREATE INDEX devices_identifiers ON devices USING gin ((data -> 'ips'), (data -> 'macs'), (data -> 'client_ids'));
`,
}

// upgrade returns the rewrite of rows that follows schema step v, or nil.
func upgrade(v int) func(context.Context, sqlstore.Migration) error {
	if v == 2 {
		return sqlstore.UpgradeProfiles
	}
	return nil
}

// migration is the sqlstore.Migration of a pgx transaction.
type migration struct{ tx pgx.Tx }

func (m migration) Exec(ctx context.Context, query string, args ...any) error {
	_, err := m.tx.Exec(ctx, query, args...)
	return err
}

func (m migration) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, func(), error) {
	rows, err := m.tx.Query(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	return rows, rows.Close, nil
}

// migrateLock is the advisory lock key that migrations hold, so that
// nodes starting together do not apply a step twice ("hearth" in ASCII).
const migrateLock = 0x686561727468

// migrate brings the schema to len(steps), all in one transaction on
// conn (DDL is transactional in PostgreSQL) under an advisory lock.
func (s *Store) migrate(ctx context.Context, conn *pgx.Conn, steps []string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }() // after Commit, a no-op
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLock)); err != nil {
		return fmt.Errorf("lock for migrations: %w", err)
	}
	applied, err := sqlstore.Migrate(ctx, migration{tx}, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	applied_at bigint NOT NULL
)`, steps, upgrade)
	if err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	s.applied = applied
	if len(applied) > 0 {
		s.log.Info("store schema migrated", "from", applied[0]-1, "to", applied[len(applied)-1])
	}
	return nil
}
