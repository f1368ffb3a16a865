package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// Bindings returns the bindings of household, or all with "".
func (s *Store) Bindings(ctx context.Context, household string) ([]store.Binding, error) {
	bs, err := queryAll(ctx, s.db.SQL, ScanBinding, BindingsQuery(s.db.ByteOrder), household)
	if err != nil {
		return nil, fmt.Errorf("list bindings of household %q: %w", household, s.db.err(err))
	}
	return bs, nil
}

// BindingColumns are what ScanBinding reads.
const BindingColumns = "kind, key, household, origin, session, updated"

// BindingsQuery selects the bindings of household $1 ("" for all) by kind
// then key, compared as bytes: byteOrder is DB.ByteOrder.
func BindingsQuery(byteOrder string) string {
	return "SELECT " + BindingColumns + " FROM bindings WHERE $1 = '' OR household = $1 ORDER BY kind" + byteOrder + ", key" + byteOrder
}

// ScanBinding reads a row of BindingColumns.
func ScanBinding(r store.Scanner) (store.Binding, error) {
	var (
		b       store.Binding
		updated *int64
	)
	if err := r.Scan(&b.Kind, &b.Key, &b.Household, &b.Origin, &b.Session, &updated); err != nil {
		return store.Binding{}, err
	}
	b.Updated = GoTime(updated)
	return b, nil
}

// Binding returns the binding of kind and key.
func (s *Store) Binding(ctx context.Context, kind, key string) (store.Binding, error) {
	k, err := store.CanonicalBindingKey(kind, key)
	if err != nil {
		return store.Binding{}, fmt.Errorf("get binding: %w", err)
	}
	b, err := ScanBinding(s.db.SQL.QueryRowContext(ctx, "SELECT "+BindingColumns+" FROM bindings WHERE kind = $1 AND key = $2", kind, k))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Binding{}, fmt.Errorf("get binding %s: %w", store.BindingID(kind, k), s.db.err(err))
	}
	return b, nil
}

// CanonicalBindings is what PutBindings does before it writes:
// store.CanonicalBindings of bs at now, and the updated column of each.
// Its errors say "put bindings".
func CanonicalBindings(bs []store.Binding, now time.Time) ([]store.Binding, []*int64, error) {
	in, err := store.CanonicalBindings(bs, now)
	if err != nil {
		return nil, nil, fmt.Errorf("put bindings: %w", err)
	}
	updated := make([]*int64, len(in))
	for i, b := range in {
		if updated[i], err = DBTime("updated", b.Updated); err != nil {
			return nil, nil, fmt.Errorf("put bindings: %s: %w", store.BindingID(b.Kind, b.Key), err)
		}
	}
	return in, updated, nil
}

// ScanKeys reads rows of (kind, key), closes rows and returns the keys
// sorted by kind then key.
func ScanKeys(rows *sql.Rows) ([]store.BindingKey, error) {
	defer rows.Close()
	out, err := Collect(rows, func(r store.Scanner) (store.BindingKey, error) {
		var k store.BindingKey
		return k, r.Scan(&k.Kind, &k.Key)
	})
	if err != nil {
		return nil, err
	}
	SortKeys(out)
	return out, nil
}

// SortKeys sorts keys by kind then key, the order of the feed.
func SortKeys(keys []store.BindingKey) {
	slices.SortFunc(keys, func(a, b store.BindingKey) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key, b.Key))
	})
}

// AddBindingChanges adds one change per key, in order.
func (tx *Tx) AddBindingChanges(keys []store.BindingKey, deleted bool) error {
	for _, k := range keys {
		if err := tx.AddChange(store.KindBinding, store.BindingID(k.Kind, k.Key), deleted); err != nil {
			return err
		}
	}
	return nil
}

// deleteHouseholdBindings deletes household's bindings, recording each in
// the feed by kind then key.
func deleteHouseholdBindings(ctx context.Context, tx *Tx, household string) error {
	rows, err := tx.QueryContext(ctx, "DELETE FROM bindings WHERE household = $1 RETURNING kind, key", household)
	if err != nil {
		return err
	}
	gone, err := ScanKeys(rows)
	if err != nil {
		return err
	}
	return tx.AddBindingChanges(gone, true)
}
