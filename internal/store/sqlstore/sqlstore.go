// Package sqlstore is the part of a store.Store that the SQL backends
// share: the same statements over database/sql, for SQLite (package
// sqlite, modernc.org/sqlite) and PostgreSQL (package postgres, pgx's
// stdlib adapter over its pool).
//
// Statements number their parameters ($1, $2...), which both drivers
// bind by position. What the backends do their own way stays with them,
// behind DB: how a write transaction starts, waits for other writers and
// is retried (SQLite's BEGIN IMMEDIATE behind a semaphore, PostgreSQL's
// retries of serialization failures), and how a driver's errors map to
// the store's (a violated constraint, a server that went away). So do
// PostgreSQL's change notification and bulk statements (unnest of
// arrays), which SQLite has no use for.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// DB is a store database: database/sql, and what its backend does its
// own way.
type DB struct {
	// SQL runs the reads.
	SQL *sql.DB
	// Write runs fn in a read-write transaction and, when fn returns
	// nil, appends the changes fn added (Tx.AddChange) to the feed, in
	// order, and commits. policy says whether fn may add changes; a
	// policy write starts after every policy write before it has
	// committed, so its checks see them. It signals the store's Notify
	// when changes were committed. Its errors are the store's (Err's).
	Write func(ctx context.Context, policy bool, fn func(tx *Tx) error) error
	// ByteOrder follows a text column in ORDER BY so that it sorts by
	// bytes, as Go does: ` COLLATE "C"` for PostgreSQL, "" for SQLite
	// (whose default is).
	ByteOrder string
	// Err maps an error of a read to the store's errors; nil keeps it.
	Err func(error) error
}

// Tx is a write transaction, which collects the changes a policy write
// appends to the feed; the backend's DB.Write writes them before it
// commits (SQLite's AUTOINCREMENT and PostgreSQL's feed head number them
// their own way).
type Tx struct {
	*sql.Tx
	// Policy is set for a write that may add changes.
	Policy bool
	// Changes are the changes added, in order; their Seq is 0.
	Changes []store.Change
}

// AddChange adds an entry to the change feed, written at the end of the
// write.
func (tx *Tx) AddChange(kind, id string, deleted bool) error {
	if !tx.Policy {
		return errors.New("append change: not a policy write") // a bug in this package
	}
	tx.Changes = append(tx.Changes, store.Change{Kind: kind, ID: id, Deleted: deleted})
	return nil
}

// err maps a read's error through d.Err.
func (d *DB) err(err error) error {
	if err == nil || d.Err == nil {
		return err
	}
	return d.Err(err)
}

// Querier is what both *sql.DB and *sql.Tx offer, so that one read
// function serves a lone query and a transaction.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Rows is what both *sql.Rows and pgx.Rows offer.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Collect reads every row of rows with scan; it does not close rows.
func Collect[T any, R Rows](rows R, scan func(store.Scanner) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		x, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// queryAll runs query on q and scans every row with scan.
func queryAll[T any](ctx context.Context, q Querier, scan func(store.Scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return Collect(rows, scan)
}

// Unix nanoseconds cover 1678 to 2262.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// DBTime converts t to the column value: unix nanoseconds, NULL (nil)
// for the zero time. A time outside 1678-2262 is ErrInvalid; field
// names it in the error.
func DBTime(field string, t time.Time) (*int64, error) {
	if t.IsZero() {
		return nil, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return nil, fmt.Errorf("%s %v: outside 1678-2262: %w", field, t, store.ErrInvalid)
	}
	n := t.UnixNano()
	return &n, nil
}

// GoTime converts a column value written by DBTime back to a UTC time.
func GoTime(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n).UTC()
}

// UTC returns t in UTC, keeping the zero time zero.
func UTC(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// Exists reports whether query (a SELECT of one row) finds a row.
func Exists(ctx context.Context, q Querier, query string, args ...any) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// Deleted maps a delete's (or an update's) result to ErrNotFound when it
// touched no row.
func Deleted(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// HouseholdExists returns ErrInvalid unless id is "" (an operator's) or
// an existing household.
func HouseholdExists(ctx context.Context, q Querier, id string) error {
	if id == "" {
		return nil
	}
	ok, err := Exists(ctx, q, "SELECT 1 FROM households WHERE id = $1", id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("household %q does not exist: %w", id, store.ErrInvalid)
	}
	return nil
}
