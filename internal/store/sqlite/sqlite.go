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
	// Store holds the users, sessions, tokens and settings (package
	// sqlstore, which the PostgreSQL store shares).
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
	s.Store = sqlstore.New(sqlstore.DB{SQL: db, Write: s.writeSQL})
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

// wtx is a write transaction that counts the changes it appended to the
// feed, so that write knows whether to notify.
type wtx struct {
	*sql.Tx
	changes int
}

// write runs fn in a write transaction, after the writers before it.
// It signals Notify when fn appended changes and the commit succeeded.
func (s *Store) write(ctx context.Context, fn func(tx *wtx) error) error {
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
	tx := &wtx{Tx: sqlTx}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the error that matters is fn's
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if tx.changes > 0 {
		select {
		case s.notify <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	return nil
}

// writeSQL is write for the statements of package sqlstore.
func (s *Store) writeSQL(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.write(ctx, func(tx *wtx) error { return fn(tx.Tx) })
}

// addChange appends one entry to the change feed.
func (tx *wtx) addChange(ctx context.Context, kind, id string, deleted bool) error {
	_, err := tx.ExecContext(ctx,
		"INSERT INTO policy_changes (kind, id, deleted, at) VALUES (?, ?, ?, ?)",
		kind, id, deleted, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("append change: %w", err)
	}
	tx.changes++
	return nil
}
