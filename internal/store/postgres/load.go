package postgres

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlstore"
)

// Load is a node's cold start read (issue #13: a million households,
// five million devices, two million bindings), so it is built for
// volume:
//
//   - the big tables are read at once, each on its own connection of the
//     pool: devices on one, bindings on another, households, profiles and
//     grants on the first, whose repeatable-read transaction exports its
//     snapshot (pg_export_snapshot) for the others to import (SET
//     TRANSACTION SNAPSHOT), so that all of them read the same moment; a
//     pool of fewer than loadConns connections, or a Load while another
//     reads so, reads them one after another in that first transaction;
//   - rows are decoded from pgx's raw values (decode.go), one string
//     allocation per row, with encoding/json only for rows the store's
//     own writes would not have made;
//   - each list is allocated once, at the size the table's statistics
//     (pg_class.reltuples) announce;
//   - bindings are read in the primary key's order, which the index
//     gives without a sort on the server, and sorted here only when the
//     database's collation does not order them by bytes.
//
// It returns what the one-transaction read returned before, row for row.

// loadConns is how many connections Load reads on at once.
const loadConns = 3

// The statements of Load. Devices come in id order through the primary
// key; bindings in (kind, key) order through theirs (loadBindings checks
// that it is byte order).
const (
	loadHeadSQL = `SELECT (SELECT last FROM policy_feed_head WHERE id = 1),
	(SELECT reltuples::float8 FROM pg_class WHERE oid = 'households'::regclass),
	(SELECT reltuples::float8 FROM pg_class WHERE oid = 'devices'::regclass),
	(SELECT reltuples::float8 FROM pg_class WHERE oid = 'bindings'::regclass)`
	loadHouseholdsSQL = "SELECT id, version, data FROM households ORDER BY id"
	loadDevicesSQL    = "SELECT " + sqlstore.DeviceColumns + " FROM devices ORDER BY id"
	loadBindingsSQL   = "SELECT " + sqlstore.BindingColumns + " FROM bindings ORDER BY kind, key"
)

// loadFormats asks for bigint columns in binary, text and jsonb ones in
// text; the decoders follow the formats the server answers with (a
// simple-protocol connection answers in text).
var loadFormats = pgx.QueryResultFormatsByOID{
	pgtype.Int8OID:  pgx.BinaryFormatCode,
	pgtype.TextOID:  pgx.TextFormatCode,
	pgtype.JSONBOID: pgx.TextFormatCode,
}

// Load reads households, profiles, devices, grants, bindings and the feed
// position as of one moment (one snapshot, shared by every connection it
// reads on), so that they agree with each other. A BEGIN that fails (a
// connection the server closed) is tried again.
func (s *Store) Load(ctx context.Context) (store.State, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return store.State{}, fmt.Errorf("load: begin: %w", unavailable(err))
	}
	defer func() { _ = tx.Rollback(context.Background()) }() // after Commit, a no-op

	var (
		st    store.State
		sizes [3]float64 // households, devices, bindings
		seq   *int64
	)
	if err := tx.QueryRow(ctx, loadHeadSQL).Scan(&seq, &sizes[0], &sizes[1], &sizes[2]); err != nil {
		return store.State{}, fmt.Errorf("load: read change feed position: %w", unavailable(err))
	}
	if seq == nil {
		return store.State{}, errors.New("load: read change feed position: no feed head")
	}
	st.Seq = *seq
	households := func(ctx context.Context, tx pgx.Tx) (err error) {
		d := householdDecoder{names: interner{}}
		st.Households, err = readRows(ctx, tx, loadHouseholdsSQL, sizes[0], d.decode)
		return err
	}
	devices := func(ctx context.Context, tx pgx.Tx) (err error) {
		d := deviceDecoder{profiles: interner{}}
		st.Devices, err = readRows(ctx, tx, loadDevicesSQL, sizes[1], d.decode)
		return err
	}
	bindings := func(ctx context.Context, tx pgx.Tx) (err error) {
		st.Bindings, err = loadBindings(ctx, tx, sizes[2])
		return err
	}
	small := func(ctx context.Context, tx pgx.Tx) (err error) {
		if st.Profiles, err = list(ctx, tx, store.ScanProfile, sqlstore.ProfilesQuery, ""); err != nil {
			return err
		}
		st.Grants, err = list(ctx, tx, sqlstore.ScanGrant, sqlstore.GrantsQuery, "")
		return err
	}

	// One Load at a time reads on several connections: each holds its
	// first connection while it waits for the others, so that Loads
	// enough to take every connection of the pool would wait for each
	// other for good. The others read on their first connection alone.
	parallel := s.pool.Config().MaxConns >= loadConns && s.loading.CompareAndSwap(false, true)
	if parallel {
		defer s.loading.Store(false)
	}
	if !parallel {
		for _, read := range []func(context.Context, pgx.Tx) error{households, small, devices, bindings} {
			if err := read(ctx, tx); err != nil {
				return store.State{}, fmt.Errorf("load: %w", unavailable(err))
			}
		}
	} else if err := s.readShared(ctx, tx, func(ctx context.Context, tx pgx.Tx) error {
		if err := households(ctx, tx); err != nil {
			return err
		}
		return small(ctx, tx)
	}, devices, bindings); err != nil {
		return store.State{}, fmt.Errorf("load: %w", unavailable(err))
	}
	if err := tx.Commit(ctx); err != nil {
		return store.State{}, fmt.Errorf("load: end: %w", unavailable(err))
	}
	return st, nil
}

// beginRead begins a repeatable-read, read-only transaction, trying a
// BEGIN that fails (a pooled connection the server closed) again.
func (s *Store) beginRead(ctx context.Context) (pgx.Tx, error) {
	var err error
	for range maxAttempts {
		if err = ctx.Err(); err != nil {
			return nil, err
		}
		var tx pgx.Tx
		if tx, err = s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}); err == nil {
			return tx, nil
		}
	}
	return nil, err
}

// readShared runs own in tx and each of others in a transaction of its
// own connection that imports tx's snapshot, all at once, and returns
// the first error (the others are canceled).
func (s *Store) readShared(ctx context.Context, tx pgx.Tx, own func(context.Context, pgx.Tx) error, others ...func(context.Context, pgx.Tx) error) error {
	var snapshot string
	if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snapshot); err != nil {
		return fmt.Errorf("export snapshot: %w", err)
	}
	if s.loaded != nil {
		s.loaded()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, 1+len(others))
	var wg sync.WaitGroup
	for i, read := range others {
		wg.Go(func() {
			if errs[1+i] = s.readAt(ctx, snapshot, read); errs[1+i] != nil {
				cancel()
			}
		})
	}
	if errs[0] = own(ctx, tx); errs[0] != nil {
		cancel()
	}
	wg.Wait() // the snapshot lives as long as tx: the others have it now
	// The first error that is not a cancellation caused by another.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
	}
	return first
}

// readAt runs read in a read-only transaction at snapshot.
func (s *Store) readAt(ctx context.Context, snapshot string, read func(context.Context, pgx.Tx) error) error {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+strings.ReplaceAll(snapshot, "'", "''")+"'"); err != nil {
		return fmt.Errorf("import snapshot: %w", err)
	}
	if err := read(ctx, tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// readRows reads query's rows with decode into a list allocated for the
// size the statistics announce (reltuples; 0 or less when unknown).
// Empty lists come back nil.
func readRows[T any](ctx context.Context, tx pgx.Tx, query string, size float64, decode func([][]byte, []int16, *T) error) ([]T, error) {
	rows, err := tx.Query(ctx, query, loadFormats)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	formats := make([]int16, len(fds))
	for i, fd := range fds {
		formats[i] = fd.Format
	}
	out := make([]T, 0, capacity(size))
	var zero T
	for rows.Next() {
		if len(out) < cap(out) {
			out = out[:len(out)+1] // zero: made so, or cleared when grown
		} else {
			out = append(out, zero)
		}
		if err := decode(rows.RawValues(), formats, &out[len(out)-1]); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	switch {
	case len(out) == 0:
		return nil, nil
	case cap(out) > 2*len(out)+1024: // the statistics were far off
		return slices.Clone(out), nil
	}
	return out, nil
}

// maxCapacity bounds what the statistics may make Load allocate ahead.
const maxCapacity = 1 << 26

// capacity is the list size to allocate for a table whose statistics
// announce size rows: a little more, for the rows written since they
// were gathered.
func capacity(size float64) int {
	if size <= 0 {
		return 0
	}
	n := int(min(size, maxCapacity))
	return n + n/32 + 64
}

// loadBindings reads every binding, sorted by kind then key as bytes.
func loadBindings(ctx context.Context, tx pgx.Tx, size float64) ([]store.Binding, error) {
	d := bindingDecoder{names: interner{}}
	out, err := readRows(ctx, tx, loadBindingsSQL, size, d.decode)
	if err != nil {
		return nil, err
	}
	// The primary key orders by the database's collation, which need
	// not be byte order.
	if !slices.IsSortedFunc(out, compareBindings) {
		slices.SortFunc(out, compareBindings)
	}
	return out, nil
}

func compareBindings(a, b store.Binding) int {
	return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Key, b.Key))
}

// intValue decodes a bigint column in format; ok is false for NULL.
func intValue(b []byte, format int16) (n int64, ok bool, err error) {
	switch {
	case b == nil:
		return 0, false, nil
	case format == pgx.BinaryFormatCode && len(b) == 8:
		return int64(binary.BigEndian.Uint64(b)), true, nil
	case format == pgx.TextFormatCode:
		n, err := strconv.ParseInt(string(b), 10, 64)
		return n, err == nil, err
	}
	return 0, false, fmt.Errorf("bigint of %d bytes in format %d", len(b), format)
}

// jsonValue returns the JSON text of a jsonb column in format.
func jsonValue(b []byte, format int16) ([]byte, error) {
	if format == pgx.BinaryFormatCode {
		if len(b) == 0 || b[0] != 1 {
			return nil, errors.New("jsonb: unknown binary version")
		}
		return b[1:], nil
	}
	return b, nil
}
