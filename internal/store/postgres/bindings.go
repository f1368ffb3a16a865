package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlstore"
)

// Bindings are written a whole batch per statement (unnest of arrays):
// an import of a million bindings costs a few round trips per thousand,
// not several per binding.

// Bindings returns the bindings of household, or all with "".
func (s *Store) Bindings(ctx context.Context, household string) ([]store.Binding, error) {
	bs, err := bindings(ctx, s.pool, household)
	if err != nil {
		return nil, fmt.Errorf("list bindings of household %q: %w", household, err)
	}
	return bs, nil
}

const bindingColumns = "kind, key, household, origin, session, updated"

func bindings(ctx context.Context, q querier, household string) ([]store.Binding, error) {
	// COLLATE "C": the order is by bytes, as SQLite's and Go's.
	rows, err := q.Query(ctx,
		"SELECT "+bindingColumns+` FROM bindings WHERE $1 = '' OR household = $1 ORDER BY kind COLLATE "C", key COLLATE "C"`, household)
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
	b, err := scanBinding(s.pool.QueryRow(ctx, "SELECT "+bindingColumns+" FROM bindings WHERE kind = $1 AND key = $2", kind, k))
	if errors.Is(err, pgx.ErrNoRows) {
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
	if len(in) == 0 {
		return 0, nil
	}
	var (
		kinds, keys, households, origins, sessions = make([]string, len(in)), make([]string, len(in)), make([]string, len(in)), make([]string, len(in)), make([]string, len(in))
		updated                                    = make([]*int64, len(in))
	)
	for i, b := range in {
		if updated[i], err = sqlstore.DBTime("updated", b.Updated); err != nil {
			return 0, fmt.Errorf("put bindings: %s: %w", store.BindingID(b.Kind, b.Key), err)
		}
		kinds[i], keys[i], households[i], origins[i], sessions[i] = b.Kind, b.Key, b.Household, b.Origin, b.Session
	}
	n := 0
	err = s.write(ctx, true, func(tx *wtx) error {
		n = 0
		var missing string
		err := tx.QueryRow(ctx, `SELECT u.h FROM unnest($1::text[]) AS u(h)
WHERE NOT EXISTS (SELECT 1 FROM households WHERE id = u.h) LIMIT 1`, households).Scan(&missing)
		if err == nil {
			return fmt.Errorf("household %q does not exist: %w", missing, store.ErrInvalid)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// The upsert leaves an equal row alone: no write, no change.
		rows, err := tx.Query(ctx, `INSERT INTO bindings AS b (`+bindingColumns+`)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
ON CONFLICT (kind, key) DO UPDATE SET household = excluded.household, origin = excluded.origin,
	session = excluded.session, updated = excluded.updated
WHERE b.household != excluded.household OR b.origin != excluded.origin OR b.session != excluded.session
RETURNING b.kind, b.key`, kinds, keys, households, origins, sessions, updated)
		if err != nil {
			return err
		}
		changed, err := scanKeys(rows)
		if err != nil {
			return err
		}
		n = len(changed)
		return tx.addBindingChanges(ctx, changed, false)
	})
	if err != nil {
		return 0, fmt.Errorf("put bindings: %w", err)
	}
	return n, nil
}

// scanKeys reads rows of (kind, key) and returns them sorted.
func scanKeys(rows pgx.Rows) ([]store.BindingKey, error) {
	defer rows.Close()
	var out []store.BindingKey
	for rows.Next() {
		var k store.BindingKey
		if err := rows.Scan(&k.Kind, &k.Key); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.BindingKey) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key, b.Key))
	})
	return out, nil
}

// addBindingChanges appends one change per key, in order.
func (tx *wtx) addBindingChanges(ctx context.Context, keys []store.BindingKey, deleted bool) error {
	for _, k := range keys {
		if err := tx.addChange(ctx, store.KindBinding, store.BindingID(k.Kind, k.Key), deleted); err != nil {
			return err
		}
	}
	return nil
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
	var kinds, ks, sessions, whole []string
	for _, k := range in {
		if k.Kind == "" {
			whole = append(whole, k.Session) // every binding of the session
			continue
		}
		kinds, ks, sessions = append(kinds, k.Kind), append(ks, k.Key), append(sessions, k.Session)
	}
	n := 0
	err = s.write(ctx, true, func(tx *wtx) error {
		rows, err := tx.Query(ctx, `DELETE FROM bindings AS b USING unnest($1::text[], $2::text[], $3::text[]) AS u(kind, key, session)
WHERE b.kind = u.kind AND b.key = u.key AND (u.session = '' OR b.session = u.session)
RETURNING b.kind, b.key`, kinds, ks, sessions)
		if err != nil {
			return err
		}
		gone, err := scanKeys(rows)
		if err != nil {
			return err
		}
		if len(whole) > 0 {
			rows, err := tx.Query(ctx, "DELETE FROM bindings WHERE session = ANY($1::text[]) RETURNING kind, key", whole)
			if err != nil {
				return err
			}
			more, err := scanKeys(rows)
			if err != nil {
				return err
			}
			gone = append(gone, more...)
			slices.SortFunc(gone, func(a, b store.BindingKey) int {
				return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key, b.Key))
			})
		}
		gone = slices.Compact(gone)
		n = len(gone)
		return tx.addBindingChanges(ctx, gone, true)
	})
	if err != nil {
		return 0, fmt.Errorf("delete bindings: %w", err)
	}
	return n, nil
}

// deleteHouseholdBindings deletes household's bindings, recording each in
// the feed by kind then key.
func deleteHouseholdBindings(ctx context.Context, tx *wtx, household string) error {
	rows, err := tx.Query(ctx, "DELETE FROM bindings WHERE household = $1 RETURNING kind, key", household)
	if err != nil {
		return err
	}
	gone, err := scanKeys(rows)
	if err != nil {
		return err
	}
	return tx.addBindingChanges(ctx, gone, true)
}
