package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlstore"
)

// Bindings returns the bindings of household, or all with "".
func (s *Store) Bindings(ctx context.Context, household string) ([]store.Binding, error) {
	bs, err := bindings(ctx, s.db, household)
	if err != nil {
		return nil, fmt.Errorf("list bindings of household %q: %w", household, err)
	}
	return bs, nil
}

const bindingColumns = "kind, key, household, origin, session, updated"

func bindings(ctx context.Context, q sqlstore.Querier, household string) ([]store.Binding, error) {
	rows, err := q.QueryContext(ctx,
		"SELECT "+bindingColumns+" FROM bindings WHERE ? = '' OR household = ? ORDER BY kind, key", household, household)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Binding
	for rows.Next() {
		b, err := scanBinding(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

func scanBinding(r store.Scanner) (store.Binding, error) {
	var (
		b       store.Binding
		updated *int64
	)
	if err := r.Scan(&b.Kind, &b.Key, &b.Household, &b.Origin, &b.Session, &updated); err != nil {
		return store.Binding{}, err
	}
	b.Updated = sqlstore.GoTime(updated)
	return b, nil
}

// Binding returns the binding of kind and key.
func (s *Store) Binding(ctx context.Context, kind, key string) (store.Binding, error) {
	k, err := store.CanonicalBindingKey(kind, key)
	if err != nil {
		return store.Binding{}, fmt.Errorf("get binding: %w", err)
	}
	b, err := scanBinding(s.db.QueryRowContext(ctx, "SELECT "+bindingColumns+" FROM bindings WHERE kind = ? AND key = ?", kind, k))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Binding{}, fmt.Errorf("get binding %s: %w", store.BindingID(kind, k), err)
	}
	return b, nil
}

// PutBindings creates or replaces bs in one transaction (see store.Store).
func (s *Store) PutBindings(ctx context.Context, bs []store.Binding) (int, error) {
	in, err := store.CanonicalBindings(bs, time.Now())
	if err != nil {
		return 0, fmt.Errorf("put bindings: %w", err)
	}
	for _, b := range in {
		if _, err := sqlstore.DBTime("updated", b.Updated); err != nil {
			return 0, fmt.Errorf("put bindings: %s: %w", store.BindingID(b.Kind, b.Key), err)
		}
	}
	if len(in) == 0 {
		return 0, nil
	}
	n := 0
	err = s.write(ctx, func(tx *wtx) error {
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
		changes, err := tx.prepareChange(ctx)
		if err != nil {
			return err
		}
		defer changes.Close()
		// The upsert leaves an equal row alone: no write, no change.
		up, err := tx.PrepareContext(ctx, `INSERT INTO bindings (`+bindingColumns+`) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (kind, key) DO UPDATE SET household = excluded.household, origin = excluded.origin,
	session = excluded.session, updated = excluded.updated
WHERE household != excluded.household OR origin != excluded.origin OR session != excluded.session`)
		if err != nil {
			return err
		}
		defer up.Close()
		for _, b := range in {
			updated, _ := sqlstore.DBTime("updated", b.Updated) // checked above
			res, err := up.ExecContext(ctx, b.Kind, b.Key, b.Household, b.Origin, b.Session, updated)
			if err != nil {
				return fmt.Errorf("binding %s: %w", store.BindingID(b.Kind, b.Key), err)
			}
			if c, err := res.RowsAffected(); err != nil || c == 0 {
				continue
			}
			if err := tx.addPrepared(ctx, changes, store.KindBinding, store.BindingID(b.Kind, b.Key), false); err != nil {
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
	err = s.write(ctx, func(tx *wtx) error {
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
		slices.SortFunc(gone, func(a, b store.BindingKey) int {
			return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key, b.Key))
		})
		changes, err := tx.prepareChange(ctx)
		if err != nil {
			return err
		}
		defer changes.Close()
		for _, g := range gone {
			if err := tx.addPrepared(ctx, changes, store.KindBinding, store.BindingID(g.Kind, g.Key), true); err != nil {
				return err
			}
		}
		n = len(gone)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete bindings: %w", err)
	}
	return n, nil
}

// deleteHouseholdBindings deletes household's bindings, recording each in
// the feed by kind then key.
func deleteHouseholdBindings(ctx context.Context, tx *wtx, household string) error {
	bs, err := bindings(ctx, tx, household)
	if err != nil {
		return err
	}
	for _, b := range bs {
		if _, err := tx.ExecContext(ctx, "DELETE FROM bindings WHERE kind = ? AND key = ?", b.Kind, b.Key); err != nil {
			return err
		}
		if err := tx.addChange(ctx, store.KindBinding, store.BindingID(b.Kind, b.Key), true); err != nil {
			return err
		}
	}
	return nil
}

// prepareChange prepares addChange's statement, for a write that appends
// many changes.
func (tx *wtx) prepareChange(ctx context.Context) (*sql.Stmt, error) {
	return tx.PrepareContext(ctx, "INSERT INTO policy_changes (kind, id, deleted, at) VALUES (?, ?, ?, ?)")
}

// addPrepared is addChange with the statement of prepareChange.
func (tx *wtx) addPrepared(ctx context.Context, st *sql.Stmt, kind, id string, deleted bool) error {
	if _, err := st.ExecContext(ctx, kind, id, deleted, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("append change: %w", err)
	}
	tx.changes++
	return nil
}
