package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-dns/hearth/internal/store"
)

// versionQuery counts the items of each kind and sums their versions, in
// one statement so that it reads one view.
const versionQuery = `SELECT
	(SELECT COUNT(*) FROM households), (SELECT COALESCE(SUM(version), 0)::bigint FROM households),
	(SELECT COUNT(*) FROM profiles), (SELECT COALESCE(SUM(version), 0)::bigint FROM profiles),
	(SELECT COUNT(*) FROM devices), (SELECT COALESCE(SUM(version), 0)::bigint FROM devices),
	(SELECT COUNT(*) FROM grants)`

// Version summarises the policy state in one repeatable-read
// transaction.
func (s *Store) Version(ctx context.Context) (store.Version, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return store.Version{}, fmt.Errorf("version: begin: %w", unavailable(err))
	}
	defer func() { _ = tx.Rollback(context.Background()) }() // after Commit, a no-op
	v := store.Version{Kinds: make(map[string]store.KindSum, 4)}
	if v.Seq, err = lastSeq(ctx, tx); err != nil {
		return store.Version{}, fmt.Errorf("version: %w", unavailable(err))
	}
	var h, p, d, g store.KindSum
	if err := tx.QueryRow(ctx, versionQuery).Scan(&h.Count, &h.Versions, &p.Count, &p.Versions, &d.Count, &d.Versions, &g.Count); err != nil {
		return store.Version{}, fmt.Errorf("version: %w", unavailable(err))
	}
	v.Kinds[store.KindHousehold], v.Kinds[store.KindProfile], v.Kinds[store.KindDevice], v.Kinds[store.KindGrant] = h, p, d, g
	if err := tx.Commit(ctx); err != nil {
		return store.Version{}, fmt.Errorf("version: end: %w", unavailable(err))
	}
	return v, nil
}
