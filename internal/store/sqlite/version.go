package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlstore"
)

// Grant returns the grant of that id.
func (s *Store) Grant(ctx context.Context, id string) (store.Grant, error) {
	var (
		g              store.Grant
		until, created *int64
	)
	err := s.db.QueryRowContext(ctx,
		"SELECT id, device, kind, target, until, created_by, created FROM grants WHERE id = ?", id,
	).Scan(&g.ID, &g.Device, &g.Kind, &g.Target, &until, &g.By, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Grant{}, fmt.Errorf("grant %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Grant{}, fmt.Errorf("grant %q: %w", id, err)
	}
	g.Until, g.Created = sqlstore.GoTime(until), sqlstore.GoTime(created)
	return g, nil
}

// versionQuery counts the items of each kind and sums their versions, in
// one statement so that it reads one view.
const versionQuery = `SELECT
	(SELECT COUNT(*) FROM households), (SELECT COALESCE(SUM(version), 0) FROM households),
	(SELECT COUNT(*) FROM profiles), (SELECT COALESCE(SUM(version), 0) FROM profiles),
	(SELECT COUNT(*) FROM devices), (SELECT COALESCE(SUM(version), 0) FROM devices),
	(SELECT COUNT(*) FROM grants)`

// Version summarises the policy state in one read transaction.
func (s *Store) Version(ctx context.Context) (store.Version, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return store.Version{}, fmt.Errorf("version: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	v := store.Version{Kinds: make(map[string]store.KindSum, 4)}
	if v.Seq, err = lastSeq(ctx, tx); err != nil {
		return store.Version{}, fmt.Errorf("version: %w", err)
	}
	var h, p, d, g store.KindSum
	if err := tx.QueryRowContext(ctx, versionQuery).Scan(&h.Count, &h.Versions, &p.Count, &p.Versions, &d.Count, &d.Versions, &g.Count); err != nil {
		return store.Version{}, fmt.Errorf("version: %w", err)
	}
	v.Kinds[store.KindHousehold], v.Kinds[store.KindProfile], v.Kinds[store.KindDevice], v.Kinds[store.KindGrant] = h, p, d, g
	if err := tx.Commit(); err != nil {
		return store.Version{}, fmt.Errorf("version: end: %w", err)
	}
	return v, nil
}
