package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlstore"
)

// Bindings are written a whole batch per statement (unnest of arrays):
// an import of a million bindings costs a few round trips per thousand,
// not several per binding.

// PutBindings creates or replaces bs in one transaction (see store.Store).
func (s *Store) PutBindings(ctx context.Context, bs []store.Binding) (int, error) {
	in, updated, err := sqlstore.CanonicalBindings(bs, time.Now())
	if err != nil {
		return 0, err
	}
	if len(in) == 0 {
		return 0, nil
	}
	kinds, keys, households, origins, sessions := make([]string, len(in)), make([]string, len(in)), make([]string, len(in)), make([]string, len(in)), make([]string, len(in))
	for i, b := range in {
		kinds[i], keys[i], households[i], origins[i], sessions[i] = b.Kind, b.Key, b.Household, b.Origin, b.Session
	}
	n := 0
	err = s.write(ctx, true, func(tx *sqlstore.Tx) error {
		n = 0
		var missing string
		err := tx.QueryRowContext(ctx, `SELECT u.h FROM unnest($1::text[]) AS u(h)
WHERE NOT EXISTS (SELECT 1 FROM households WHERE id = u.h) LIMIT 1`, households).Scan(&missing)
		if err == nil {
			return fmt.Errorf("household %q does not exist: %w", missing, store.ErrInvalid)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// The upsert leaves an equal row alone: no write, no change.
		rows, err := tx.QueryContext(ctx, `INSERT INTO bindings AS b (`+sqlstore.BindingColumns+`)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
ON CONFLICT (kind, key) DO UPDATE SET household = excluded.household, origin = excluded.origin,
	session = excluded.session, updated = excluded.updated
WHERE b.household != excluded.household OR b.origin != excluded.origin OR b.session != excluded.session
RETURNING b.kind, b.key`, kinds, keys, households, origins, sessions, updated)
		if err != nil {
			return err
		}
		changed, err := sqlstore.ScanKeys(rows)
		if err != nil {
			return err
		}
		n = len(changed)
		return tx.AddBindingChanges(changed, false)
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
	var kinds, ks, sessions, whole []string
	for _, k := range in {
		if k.Kind == "" {
			whole = append(whole, k.Session) // every binding of the session
			continue
		}
		kinds, ks, sessions = append(kinds, k.Kind), append(ks, k.Key), append(sessions, k.Session)
	}
	n := 0
	err = s.write(ctx, true, func(tx *sqlstore.Tx) error {
		rows, err := tx.QueryContext(ctx, `DELETE FROM bindings AS b USING unnest($1::text[], $2::text[], $3::text[]) AS u(kind, key, session)
WHERE b.kind = u.kind AND b.key = u.key AND (u.session = '' OR b.session = u.session)
RETURNING b.kind, b.key`, kinds, ks, sessions)
		if err != nil {
			return err
		}
		gone, err := sqlstore.ScanKeys(rows)
		if err != nil {
			return err
		}
		if len(whole) > 0 {
			rows, err := tx.QueryContext(ctx, "DELETE FROM bindings WHERE session = ANY($1::text[]) RETURNING kind, key", whole)
			if err != nil {
				return err
			}
			more, err := sqlstore.ScanKeys(rows)
			if err != nil {
				return err
			}
			gone = append(gone, more...)
			sqlstore.SortKeys(gone)
		}
		gone = slices.Compact(gone)
		n = len(gone)
		return tx.AddBindingChanges(gone, true)
	})
	if err != nil {
		return 0, fmt.Errorf("delete bindings: %w", err)
	}
	return n, nil
}
