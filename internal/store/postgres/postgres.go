// Package postgres is the store.Store for many resolver nodes: one
// PostgreSQL database that every node reads and writes, through pgx v5
// and its pool (pgxpool).
//
// Most of the store is package sqlstore's, which the SQLite store
// shares: its statements run through database/sql, over pgx's stdlib
// adapter on the same pool. What stays here is PostgreSQL's own: the
// schema and its migrations, the write transaction (retries, the feed
// head's lock, the feed appended and notified in one statement),
// LISTEN/NOTIFY, the bulk statements of bindings (unnest of arrays), the
// one-statement grant writes (feedOne), and the reads a node's start and
// its change feed make often or in bulk (Load, Changes, ChangesWithGrants,
// DevicesByID, GrantsByID), which go through pgx itself.
//
// The schema is the SQLite store's (package sqlite): households, profiles
// and devices are one row each, the columns that constraints and queries
// need beside the item as JSON; times are unix nanoseconds, so that they
// come back Equal to what was stored. Open applies the embedded schema
// migrations the database lacks.
//
// Policy writes (households, profiles, devices, grants, bindings) lock
// the one row of policy_feed_head and take their change feed seqs from
// it, so they commit one after another across every node and a seq is
// never committed after a higher one: a node that resumes after seq n
// misses nothing, which a plain sequence (handed out at insert,
// committed in any order) could not promise. Most lock it first, so that
// their checks see every write before them; adding and deleting a grant,
// whose only check is their own row's, are one statement each that
// writes the grant and takes the lock to append its change (feedOne), so
// that writes queue on the lock for no round trip. Each such write also
// runs pg_notify in its transaction, so that every node's listener wakes
// up when it commits.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlstore"
)

var _ store.Store = (*Store)(nil)

// Channel is the LISTEN/NOTIFY channel that policy writes notify, with
// the new feed seq as payload.
const Channel = "hearth_policy"

// Config says which database to use.
type Config struct {
	// DSN is a libpq connection string or URL
	// ("postgres://hearth:pw@db:5432/hearth?sslmode=verify-full").
	// pgxpool reads pool_max_conns and the other pool settings from it.
	DSN string
	// Logger receives migrations and connection problems; nil discards.
	Logger *slog.Logger
	// Lazy opens the store even when the database cannot be reached
	// now (a node started during an outage): every call fails with
	// store.ErrUnavailable until it can, and the schema is brought up to
	// date on the first connection. Without Lazy, Open fails.
	Lazy bool

	// listened, when set, receives after each successful LISTEN (tests).
	listened chan struct{}
}

// byteOrder makes ORDER BY of a text column sort by bytes, as SQLite's
// and Go's (sqlstore.DB.ByteOrder).
const byteOrder = ` COLLATE "C"`

// connectTimeout bounds a connection attempt when the DSN sets no
// connect_timeout.
const connectTimeout = 10 * time.Second

// Store is a store.Store in a PostgreSQL database. It is safe for
// concurrent use.
type Store struct {
	// Store is what the SQL backends share (package sqlstore), through
	// db. Methods of this package's own (AddGrant, DeleteGrant) take
	// the place of its.
	*sqlstore.Store

	pool   *pgxpool.Pool
	db     *sql.DB // database/sql over pool (pgx's stdlib adapter)
	log    *slog.Logger
	notify chan struct{}
	where  string // host:port/database, for errors and logs; no password

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	// migrated is set once the schema is known to be current; until
	// then each new connection tries to migrate it (migrateMu).
	migrated  atomic.Bool
	migrateMu sync.Mutex
	// applied lists the migration versions Open applied, for tests.
	applied []int
	// heard is the newest feed position a notification carried.
	heard atomic.Int64
	// loading is set while a Load reads on several connections.
	loading atomic.Bool
	// loaded, when set, runs in Load after the snapshot it reads is
	// exported and before the other connections import it (tests).
	loaded func()
}

// Open connects to c.DSN, brings the schema up to date and starts the
// listener. It refuses a database whose schema is newer than this code.
// The DSN's password never appears in its errors.
func Open(ctx context.Context, c *Config) (*Store, error) {
	if c == nil || c.DSN == "" {
		return nil, errors.New("open store: no dsn")
	}
	pc, err := pgxpool.ParseConfig(c.DSN)
	if err != nil {
		// pgx's parse errors already hide the password.
		return nil, fmt.Errorf("open store: %w", err)
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A database that does not answer must not hold up the start for
	// good: the DSN's connect_timeout, else connectTimeout.
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = connectTimeout
	}
	where := pc.ConnConfig.Host + ":" + strconv.Itoa(int(pc.ConnConfig.Port)) + "/" + pc.ConnConfig.Database
	s := &Store{
		log:    log.With("store", where),
		notify: make(chan struct{}, 1),
		where:  where,
		done:   make(chan struct{}),
	}
	// Every new connection checks the schema until one has brought it up
	// to date, so that a lazily opened store migrates on its first
	// connection; after that the check is one atomic load.
	pc.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if s.migrated.Load() {
			return nil
		}
		s.migrateMu.Lock()
		defer s.migrateMu.Unlock()
		if s.migrated.Load() {
			return nil
		}
		if err := s.migrate(ctx, conn, migrations); err != nil {
			return err
		}
		s.migrated.Store(true)
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", where, err)
	}
	s.pool = pool
	s.db = stdlib.OpenDBFromPool(pool)
	s.Store = sqlstore.New(sqlstore.DB{SQL: s.db, Write: s.write, ByteOrder: byteOrder, Err: unavailable})
	conn, err := pool.Acquire(ctx)
	if err == nil {
		conn.Release()
	} else if err = unavailable(err); !c.Lazy || !errors.Is(err, store.ErrUnavailable) {
		s.db.Close()
		pool.Close()
		return nil, fmt.Errorf("open store %s: %w", where, err)
	} else {
		s.log.Warn("the store cannot be reached; it is used once it can", "err", err)
	}
	lctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go s.listen(lctx, pc.ConnConfig.Copy(), c.listened)
	return s, nil
}

// Close stops the listener and closes the pool. Calling it again does
// nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		<-s.done
		_ = s.db.Close() // closes no connection: the pool owns them
		s.pool.Close()
	})
	return nil
}

// Notify returns the channel that receives after every committed policy
// write, made through this Store or, through the listener, any other
// node. It is never closed.
func (s *Store) Notify() <-chan struct{} { return s.notify }

func (s *Store) wake() {
	select {
	case s.notify <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Listener backoff after a lost connection: doubled from the first to
// the cap, back to the first once LISTEN succeeds.
const (
	backoffFirst = 100 * time.Millisecond
	backoffMax   = 5 * time.Second
)

// listen keeps one dedicated connection in LISTEN (a pooled one would go
// back to the pool, and other sessions' commands would interleave) and
// wakes Notify for each notification. After a reconnect it wakes Notify
// once: notifications sent while it was away are lost, and the reader
// catches up with Changes.
func (s *Store) listen(ctx context.Context, cc *pgx.ConnConfig, listened chan<- struct{}) {
	defer close(s.done)
	wait := backoffFirst
	for first := true; ; first = false {
		err := s.listenOnce(ctx, cc, func() {
			wait = backoffFirst
			if !first {
				s.wake()
			}
			if listened != nil {
				select {
				case listened <- struct{}{}:
				case <-ctx.Done():
				}
			}
		})
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("store listener lost its connection; retrying", "in", wait, "err", err)
		// The reader learns of the outage at once (its next read fails)
		// rather than at its next write or poll, and tries again after
		// each attempt of the listener's.
		s.wake()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		wait = min(2*wait, backoffMax)
	}
}

// listenOnce connects, LISTENs, calls ready, then wakes Notify for each
// notification until the connection fails or ctx ends.
func (s *Store) listenOnce(ctx context.Context, cc *pgx.ConnConfig, ready func()) error {
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx) // the connection is done with either way
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ready()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		s.hear(n.Payload)
		s.wake()
	}
}

// hear records the feed position a notification's payload carries (a
// write's last seq); other payloads are ignored.
func (s *Store) hear(payload string) {
	seq, err := strconv.ParseInt(payload, 10, 64)
	if err != nil {
		return
	}
	for {
		cur := s.heard.Load()
		if seq <= cur || s.heard.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// HeardSeq returns the newest change-feed position the store's
// notifications announced (policysync.HeardSeq), 0 before the first.
func (s *Store) HeardSeq() int64 { return s.heard.Load() }

// maxAttempts bounds the tries of one write: a BEGIN that fails on a
// connection the server closed (a restart) and serialization failures
// or deadlocks, none of which committed anything, are tried again.
const maxAttempts = 5

// write runs fn in a read-committed transaction and commits it. A policy
// write first locks the feed head: after that, each statement sees every
// write committed before it, so fn's checks and the versions it compares
// are current. Serialization failures and deadlocks are retried, so
// are BEGINs that fail. It is the sqlstore.DB's Write: the statements
// are database/sql's, through pgx's stdlib adapter over the pool.
func (s *Store) write(ctx context.Context, policy bool, fn func(tx *sqlstore.Tx) error) error {
	return s.retry(ctx, func() (bool, error) { return s.writeOnce(ctx, policy, fn) })
}

// feedOne makes a policy write of one item as a single statement, in
// the implicit transaction of that statement: item is a WITH query
// named item that writes the item and returns one row (ok) when it
// wrote it. The statement then advances the feed head, appends the
// change (kind, id, deleted) and notifies, only if the item was
// written; ErrNotFound when it was not. Its parameters are $1-$4 for
// feedOne's and $5 on for item's args.
//
// The head's lock is taken by the statement's UPDATE and held until its
// COMMIT, on the server: writes from every node queue on it for no round
// trip. For items whose checks are their own row's (a grant); the
// others lock the head first (write).
func (s *Store) feedOne(ctx context.Context, item string, kind, id string, del bool, args ...any) error {
	sql := "WITH " + item + `,
head AS (
	UPDATE policy_feed_head SET last = last + 1 WHERE id = 1 AND EXISTS (SELECT 1 FROM item) RETURNING last
),
added AS (
	INSERT INTO policy_changes (seq, kind, id, deleted, at) SELECT last, $1, $2, $3, $4 FROM head
),
notified AS (
	SELECT pg_notify('` + Channel + `', last::text) FROM head
)
SELECT (SELECT count(*) FROM item), (SELECT count(*) FROM notified)`
	args = append([]any{kind, id, del, time.Now().UnixNano()}, args...)
	var written, notified int
	err := s.retry(ctx, func() (bool, error) {
		err := s.pool.QueryRow(ctx, sql, args...).Scan(&written, &notified)
		if err != nil {
			if pgconn.SafeToRetry(err) {
				// Not sent: a pooled connection the server closed.
				return false, beginError{err}
			}
			return false, constraint(err)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if written == 0 {
		return store.ErrNotFound
	}
	s.wake() // this node need not wait for its own notification
	return nil
}

// retry runs once until it succeeds, commits, fails for good, or has run
// maxAttempts times.
func (s *Store) retry(ctx context.Context, once func() (committed bool, err error)) error {
	var err error
	for range maxAttempts {
		if err = ctx.Err(); err != nil {
			return err
		}
		var committed bool
		committed, err = once()
		if err == nil || committed || !retryable(err) {
			return unavailable(err)
		}
	}
	return unavailable(err)
}

// beginError marks an error of BEGIN: nothing of the transaction ran.
type beginError struct{ err error }

func (e beginError) Error() string { return "begin: " + e.err.Error() }
func (e beginError) Unwrap() error { return e.err }

// retryable reports whether err left nothing committed and may pass on
// another try.
func retryable(err error) bool {
	var be beginError
	if errors.As(err, &be) {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

func (s *Store) writeOnce(ctx context.Context, policy bool, fn func(tx *sqlstore.Tx) error) (committed bool, err error) {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, beginError{err}
	}
	defer func() { _ = sqlTx.Rollback() }() // after Commit, a no-op
	tx := &sqlstore.Tx{Tx: sqlTx, Policy: policy}
	if policy {
		if _, err := tx.ExecContext(ctx, "SELECT last FROM policy_feed_head WHERE id = 1 FOR UPDATE"); err != nil {
			return false, fmt.Errorf("lock change feed: %w", err)
		}
	}
	if err := fn(tx); err != nil {
		return false, constraint(err)
	}
	if len(tx.Changes) > 0 {
		if err := feed(ctx, tx); err != nil {
			return false, err
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit: %w", constraint(err))
	}
	if len(tx.Changes) > 0 {
		s.wake() // this node need not wait for its own notification
	}
	return true, nil
}

// feedSQL advances the feed head by the changes of the write (holding
// its lock until COMMIT), appends them with the seqs after the old head,
// in order, and notifies the new head (delivered to the listeners when,
// and only if, the transaction commits).
const feedSQL = `WITH head AS (
	UPDATE policy_feed_head SET last = last + cardinality($1::text[]) WHERE id = 1 RETURNING last
),
added AS (
	INSERT INTO policy_changes (seq, kind, id, deleted, at)
	SELECT head.last - cardinality($1::text[]) + c.n, c.kind, c.id, c.deleted, $4
	FROM head, unnest($1::text[], $2::text[], $3::boolean[]) WITH ORDINALITY AS c(kind, id, deleted, n)
)
SELECT pg_notify('` + Channel + `', last::text) FROM head`

// feed appends tx's changes to the change feed and notifies, in one
// statement.
func feed(ctx context.Context, tx *sqlstore.Tx) error {
	kinds := make([]string, len(tx.Changes))
	ids := make([]string, len(tx.Changes))
	deleted := make([]bool, len(tx.Changes))
	for i, c := range tx.Changes {
		kinds[i], ids[i], deleted[i] = c.Kind, c.ID, c.Deleted
	}
	if _, err := tx.ExecContext(ctx, feedSQL, kinds, ids, deleted, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("append %d changes: %w", len(tx.Changes), err)
	}
	return nil
}

// querier is what both the pool and a transaction offer, so that one
// read function serves a lone query and Load's transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// constraint maps a violated constraint to the store's errors: a unique
// key to ErrConflict (another node created the item first), a foreign
// key to ErrInvalid (the item referred to is gone).
func constraint(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "23505":
		return fmt.Errorf("%s: %w", pe.Message, store.ErrConflict)
	case "23503":
		return fmt.Errorf("%s: %w", pe.Message, store.ErrInvalid)
	}
	return err
}

// unavailable marks err with store.ErrUnavailable when it says the
// database could not be reached or went away: no connection could be
// made, the connection broke or timed out, or the server is shutting
// down or starting (SQLSTATE classes 08 and 57P). Errors the server
// answered with, and the store's own, are returned as they are.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.Canceled) {
		return err
	}
	var (
		pe *pgconn.PgError
		ce *pgconn.ConnectError
		ne net.Error
	)
	switch {
	case errors.As(err, &pe):
		if !strings.HasPrefix(pe.Code, "08") && !strings.HasPrefix(pe.Code, "57P") {
			return err
		}
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.Timeout(err), pgconn.SafeToRetry(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		strings.Contains(err.Error(), "conn closed"), strings.Contains(err.Error(), "closed pool"):
	default:
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}
