// Package sqlite is the default store.Store: one SQLite file in the data
// directory, through the pure Go driver modernc.org/sqlite.
//
// The file is in WAL mode with synchronous=FULL, so a write is on disk
// when its method returns and survives kill -9 or a power cut; readers
// never wait for the writer. Writers take turns on a semaphore in this
// process and start with BEGIN IMMEDIATE, so they neither fail with
// SQLITE_BUSY among themselves nor, thanks to busy_timeout, when another
// process (a CLI, a backup) holds the lock for a moment.
//
// Households, profiles and devices are one row each: the columns that
// constraints and queries need (id, household, profile, version) beside
// the item as JSON. Open applies the schema migrations the file lacks.
//
// Most of the store is package sqlstore's, which the PostgreSQL store
// shares; what stays here is SQLite's own: opening the file, its schema
// and migrations, the write transaction (and the feed it appends to),
// Load, Changes and the bindings' batch writes.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlstore"
)

var _ store.Store = (*Store)(nil)

// Config says where the store lives.
type Config struct {
	// Path is the database file, created if missing; its directory must
	// exist. SQLite keeps Path-wal and Path-shm beside it.
	Path string
	// Logger receives migrations and recoverable problems; nil discards.
	Logger *slog.Logger
	// BusyTimeout is how long a write waits for another process's lock
	// before failing; 0 means 5s.
	BusyTimeout time.Duration
}

// Store is a store.Store in one SQLite file. It is safe for concurrent
// use.
type Store struct {
	// Store is what the SQL backends share (package sqlstore).
	*sqlstore.Store

	db     *sql.DB
	log    *slog.Logger
	path   string
	sem    chan struct{} // one writer at a time in this process
	notify chan struct{}

	closeOnce sync.Once
	closeErr  error

	// applied lists the migration versions Open applied, for tests.
	applied []int
}

// maxConns bounds the pool: readers run in parallel under WAL, and each
// connection holds its own page cache.
const maxConns = 8

// Open opens (creating if needed) the database at c.Path, checks that it
// is in WAL mode and brings its schema up to date. It refuses a database
// whose schema is newer than this code.
func Open(ctx context.Context, c *Config) (*Store, error) {
	return open(ctx, c, migrations)
}

func open(ctx context.Context, c *Config, steps []string) (*Store, error) {
	if c == nil || c.Path == "" {
		return nil, errors.New("open store: no path")
	}
	// The driver cuts the DSN at the first '?' to read its parameters.
	if strings.ContainsAny(c.Path, "?#") || strings.HasPrefix(c.Path, "file:") {
		return nil, fmt.Errorf("open store %q: path must not contain '?' or '#' nor start with \"file:\"", c.Path)
	}
	busy := c.BusyTimeout
	if busy == 0 {
		busy = 5 * time.Second
	}
	if busy < 0 {
		return nil, fmt.Errorf("open store %q: negative busy timeout %v", c.Path, busy)
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	// The parameters apply to every connection the pool opens.
	// _txlock=immediate makes every read-write transaction take the write
	// lock at BEGIN: a deferred one that read first could fail with
	// SQLITE_BUSY_SNAPSHOT when it tries to write, which busy_timeout does
	// not retry. Read-only transactions still BEGIN DEFERRED.
	dsn := c.Path + "?" + strings.Join([]string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busy.Milliseconds()),
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(FULL)",
		"_pragma=foreign_keys(ON)",
		"_txlock=immediate",
	}, "&")
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", c.Path, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)

	s := &Store{
		db:     db,
		log:    log,
		path:   c.Path,
		sem:    make(chan struct{}, 1),
		notify: make(chan struct{}, 1),
	}
	s.Store = sqlstore.New(sqlstore.DB{SQL: db, Write: s.write})
	if err := s.check(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %q: %w", c.Path, err)
	}
	if err := s.migrate(ctx, steps); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %q: %w", c.Path, err)
	}
	return s, nil
}

// check makes sure the file is a database in WAL mode: journal_mode(WAL)
// is silently refused on some file systems (no shared memory).
func (s *Store) check(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal (does the file system support it?)", mode)
	}
	return nil
}

// Close closes the database. Calling it again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close store %q: %w", s.path, err)
		}
	})
	return s.closeErr
}

// Notify returns the channel that receives after every committed policy
// write made through this Store. It is never closed.
func (s *Store) Notify() <-chan struct{} { return s.notify }

// write runs fn in a write transaction, after the writers before it,
// appends the changes fn added to the feed and commits (see
// sqlstore.DB.Write). It signals Notify when changes were committed.
func (s *Store) write(ctx context.Context, policy bool, fn func(tx *sqlstore.Tx) error) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.sem }()

	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = sqlTx.Rollback() }() // after Commit, a no-op
	tx := &sqlstore.Tx{Tx: sqlTx, Policy: policy}
	if err := fn(tx); err != nil {
		return err
	}
	if err := appendChanges(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if len(tx.Changes) > 0 {
		select {
		case s.notify <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	return nil
}

// appendChanges appends tx's changes to the feed, whose AUTOINCREMENT
// numbers them in order; the statement is prepared once for a write of
// many (an import sends thousands).
func appendChanges(ctx context.Context, tx *sqlstore.Tx) error {
	if len(tx.Changes) == 0 {
		return nil
	}
	// "?", not "$1": the driver reads a numbered parameter's name, a
	// string it allocates, at every execution.
	const insert = "INSERT INTO policy_changes (kind, id, deleted, at) VALUES (?, ?, ?, ?)"
	at := any(time.Now().UnixNano()) // boxed once for every change
	if len(tx.Changes) == 1 {
		c := tx.Changes[0]
		if _, err := tx.ExecContext(ctx, insert, c.Kind, c.ID, c.Deleted, at); err != nil {
			return fmt.Errorf("append change: %w", err)
		}
		return nil
	}
	st, err := tx.PrepareContext(ctx, insert)
	if err != nil {
		return fmt.Errorf("append %d changes: %w", len(tx.Changes), err)
	}
	defer st.Close()
	for _, c := range tx.Changes {
		if _, err := st.ExecContext(ctx, c.Kind, c.ID, c.Deleted, at); err != nil {
			return fmt.Errorf("append %d changes: %w", len(tx.Changes), err)
		}
	}
	return nil
}
