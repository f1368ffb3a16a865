package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlstore"
)

// PutBindings creates or replaces bs in one transaction (see store.Store).
func (s *Store) PutBindings(ctx context.Context, bs []store.Binding) (int, error) {
	in, updated, err := sqlstore.CanonicalBindings(bs, time.Now())
	if err != nil {
		return 0, err
	}
	if len(in) == 0 {
		return 0, nil
	}
	n := 0
	err = s.write(ctx, true, func(tx *sqlstore.Tx) error {
		n = 0
		// Prepared once for the batch: an import sends thousands.
		have, err := tx.PrepareContext(ctx, "SELECT 1 FROM households WHERE id = ?")
		if err != nil {
			return err
		}
		defer have.Close()
		known := map[string]bool{}
		for _, b := range in {
			if known[b.Household] {
				continue
			}
			var one int
			if err := have.QueryRowContext(ctx, b.Household).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("binding %s: household %q does not exist: %w", store.BindingID(b.Kind, b.Key), b.Household, store.ErrInvalid)
			} else if err != nil {
				return err
			}
			known[b.Household] = true
		}
		// The upsert leaves an equal row alone: no write, no change.
		up, err := tx.PrepareContext(ctx, `INSERT INTO bindings (`+sqlstore.BindingColumns+`) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (kind, key) DO UPDATE SET household = excluded.household, origin = excluded.origin,
	session = excluded.session, updated = excluded.updated
WHERE household != excluded.household OR origin != excluded.origin OR session != excluded.session`)
		if err != nil {
			return err
		}
		defer up.Close()
		for i, b := range in {
			res, err := up.ExecContext(ctx, b.Kind, b.Key, b.Household, b.Origin, b.Session, updated[i])
			if err != nil {
				return fmt.Errorf("binding %s: %w", store.BindingID(b.Kind, b.Key), err)
			}
			if c, err := res.RowsAffected(); err != nil || c == 0 {
				continue
			}
			if err := tx.AddChange(store.KindBinding, store.BindingID(b.Kind, b.Key), false); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("put bindings: %w", err)
	}
	return n, nil
}

// DeleteBindings deletes the bindings named (see store.Store).
func (s *Store) DeleteBindings(ctx context.Context, keys []store.BindingKey) (int, error) {
	in, err := store.CanonicalBindingKeys(keys)
	if err != nil {
		return 0, fmt.Errorf("delete bindings: %w", err)
	}
	if len(in) == 0 {
		return 0, nil
	}
	n := 0
	err = s.write(ctx, true, func(tx *sqlstore.Tx) error {
		var gone []store.BindingKey
		for _, k := range in {
			var (
				rows *sql.Rows
				err  error
			)
			if k.Kind == "" { // every binding of the session
				rows, err = tx.QueryContext(ctx, "DELETE FROM bindings WHERE session = ? RETURNING kind, key", k.Session)
			} else {
				rows, err = tx.QueryContext(ctx, "DELETE FROM bindings WHERE kind = ? AND key = ? AND (? = '' OR session = ?) RETURNING kind, key",
					k.Kind, k.Key, k.Session, k.Session)
			}
			if err != nil {
				return err
			}
			for rows.Next() {
				var g store.BindingKey
				if err := rows.Scan(&g.Kind, &g.Key); err != nil {
					rows.Close()
					return err
				}
				gone = append(gone, g)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		// The feed lists them by kind then key, as PostgreSQL's does.
		sqlstore.SortKeys(gone)
		n = len(gone)
		return tx.AddBindingChanges(gone, true)
	})
	if err != nil {
		return 0, fmt.Errorf("delete bindings: %w", err)
	}
	return n, nil
}
