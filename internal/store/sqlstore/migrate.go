package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/hearth-dns/hearth/internal/profile"
	"github.com/hearth-dns/hearth/internal/store"
)

// Migration is the transaction a schema migration runs in, whichever the
// driver: SQLite's migrates in a write transaction of database/sql,
// PostgreSQL's on the pgx connection that finds the schema out of date.
type Migration interface {
	// Exec runs a statement.
	Exec(ctx context.Context, query string, args ...any) error
	// Query runs a query; the caller calls done when it has read rows.
	Query(ctx context.Context, query string, args ...any) (rows Rows, done func(), err error)
}

// Migrate brings the schema that m sees to version len(steps): it
// creates the table schema_migrations with createTable, unless it
// exists, then applies the steps after its newest version, each with the
// rewrite of rows that follows it (upgrade(v), when not nil), and
// records them. It refuses a schema newer than steps. It returns the
// versions it applied.
//
// Rewrites keep the rows' versions and add no change to the feed: the
// rows mean what they meant.
func Migrate(ctx context.Context, m Migration, createTable string, steps []string, upgrade func(v int) func(context.Context, Migration) error) ([]int, error) {
	if err := m.Exec(ctx, createTable); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	rows, done, err := m.Query(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read schema version: %w", err)
	}
	haves, err := Collect(rows, func(r store.Scanner) (int, error) {
		var v int
		return v, r.Scan(&v)
	})
	done()
	if err != nil || len(haves) != 1 {
		return nil, fmt.Errorf("read schema version: %d rows: %w", len(haves), err)
	}
	have := haves[0]
	if have > len(steps) {
		return nil, fmt.Errorf("schema version %d is newer than this program knows (%d): use a newer Hearth or restore a backup", have, len(steps))
	}
	var applied []int
	for v := have + 1; v <= len(steps); v++ {
		if err := m.Exec(ctx, steps[v-1]); err != nil {
			return nil, fmt.Errorf("migrate to schema version %d: %w", v, err)
		}
		if rw := upgrade(v); rw != nil {
			if err := rw(ctx, m); err != nil {
				return nil, fmt.Errorf("migrate to schema version %d: %w", v, err)
			}
		}
		if err := m.Exec(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", v, time.Now().UnixNano()); err != nil {
			return nil, fmt.Errorf("record schema version %d: %w", v, err)
		}
		applied = append(applied, v)
	}
	return applied, nil
}

// UpgradeProfiles rewrites every profile row in today's form
// (profile.Upgrade): the rewrite of the schema step after which the
// store keeps profiles as package profile has them.
func UpgradeProfiles(ctx context.Context, m Migration) error {
	rows, done, err := m.Query(ctx, "SELECT id, data FROM profiles")
	if err != nil {
		return err
	}
	type row struct {
		id   string
		data []byte
	}
	all, err := Collect(rows, func(r store.Scanner) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.data)
	})
	done()
	if err != nil {
		return err
	}
	for _, r := range all {
		data, err := profile.Upgrade(r.data)
		if err != nil {
			return fmt.Errorf("profile %q: %w", r.id, err)
		}
		if err := m.Exec(ctx, "UPDATE profiles SET data = $1 WHERE id = $2", string(data), r.id); err != nil {
			return fmt.Errorf("profile %q: %w", r.id, err)
		}
	}
	return nil
}

// TxMigration is the Migration of a database/sql transaction.
type TxMigration struct{ Tx *Tx }

// Exec runs a statement in the transaction.
func (m TxMigration) Exec(ctx context.Context, query string, args ...any) error {
	_, err := m.Tx.ExecContext(ctx, query, args...)
	return err
}

// Query runs a query in the transaction.
func (m TxMigration) Query(ctx context.Context, query string, args ...any) (Rows, func(), error) {
	rows, err := m.Tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	return rows, func() { _ = rows.Close() }, nil
}
