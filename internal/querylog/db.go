package querylog

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"net/netip"
	"runtime"
	"slices"
	"strings"
)

// schemaVersion is stored in PRAGMA user_version. Version 1 kept every
// field of a row in its own TEXT or INTEGER column (table queries);
// version 2 keeps the searched fields as integers and the rest in one
// blob (table log), which halves the writer's cost per row
// (docs/querylog.md); version 3 replaces the per-row indexes on device,
// name and action by the bucket table spans (below), which the writer
// appends to once per bucket, not once per row. A version 2 file is
// upgraded to 3 when opened (upgradeToSpans); a version 1 file is
// upgraded in place: see legacyTable.
const schemaVersion = 3

// The schema.
//
// A row's key is its time: log.time is the INTEGER PRIMARY KEY (the
// rowid), in Unix microseconds, so the table is stored in time order.
// Listing newest first, a time range, paging and pruning are all rowid
// ranges. Queries of the same microsecond are spread over the following
// free microseconds (writeConn.assignKeys).
//
// No index on log but its rowid: a per-row index on device or name cost
// the writer 2-3 us a row each (docs/querylog.md). Instead, spans says
// which time buckets hold a device, a name or an action: one row
// (kind, id, bucket) per distinct device, name and blocking action in a
// bucket of 2^22 us (about 4.2 s, see bucketShift), whose rowid range is
// [bucket<<bucketShift, (bucket+1)<<bucketShift). A search for a device,
// a name or an action reads that one's buckets newest first from spans
// and scans only their rowid ranges, newest first, until it has its
// rows (Writer.Search). The writer adds a bucket's row for an id once,
// the first time the id appears in it (writeConn.noteSpans): at full
// rate that is a few thousand rows a bucket for hundreds of thousands of
// log rows. Prune deletes the spans of the buckets it empties, and a
// name goes when no span refers to it.
//
// Names repeat a lot (a household asks for the same few thousand names
// all week), so they live once in names and log refers to them: the
// table stays small, and a substring search scans the short names table
// and then the buckets of the names that match. The few other strings
// (device, profile, reason, tag and transport ids) live once in strs.
// Only the columns a search filters on are columns of their own; the
// rest of a row is one blob (see encodeRec), which the writer binds as
// one value and SQLite stores without looking inside.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS names (
		id   INTEGER PRIMARY KEY,
		name TEXT NOT NULL UNIQUE
	)`,
	`CREATE TABLE IF NOT EXISTS strs (
		id INTEGER PRIMARY KEY,
		s  TEXT NOT NULL UNIQUE
	)`,
	// strs.id 0 is "", the id of a field left empty.
	`INSERT OR IGNORE INTO strs (id, s) VALUES (0, '')`,
	`CREATE TABLE IF NOT EXISTS log (
		time    INTEGER PRIMARY KEY, -- Unix microseconds, unique
		device  INTEGER NOT NULL,    -- strs.id
		name_id INTEGER NOT NULL,    -- names.id
		action  INTEGER NOT NULL,    -- actionCode: 0 allowed, 1 blocked, 2 rewritten, 3 nxdomain, 4 nodata
		rec     BLOB NOT NULL        -- the other fields: encodeRec
	)`,
	// kind is spanDevice (id a strs.id), spanName (a names.id) or
	// spanAction (an actionCode other than 0: most rows are allowed, and
	// a search for them finds them near the top anyway).
	`CREATE TABLE IF NOT EXISTS spans (
		kind   INTEGER NOT NULL,
		id     INTEGER NOT NULL,
		bucket INTEGER NOT NULL, -- log.time >> bucketShift
		PRIMARY KEY (kind, id, bucket)
	) WITHOUT ROWID`,
	// hour is the Unix second the hour starts; tag '' holds the device's
	// totals, other tags the queries that tag decided.
	`CREATE TABLE IF NOT EXISTS counters (
		hour    INTEGER NOT NULL,
		device  TEXT NOT NULL,
		tag     TEXT NOT NULL,
		queries INTEGER NOT NULL,
		blocked INTEGER NOT NULL,
		PRIMARY KEY (hour, device, tag)
	) WITHOUT ROWID`,
	// daily holds the same counts by UTC day, so that a month's summary
	// reads 30 rows a device, not 720.
	`CREATE TABLE IF NOT EXISTS daily (
		day     INTEGER NOT NULL,
		device  TEXT NOT NULL,
		tag     TEXT NOT NULL,
		queries INTEGER NOT NULL,
		blocked INTEGER NOT NULL,
		PRIMARY KEY (day, device, tag)
	) WITHOUT ROWID`,
}

// legacyTable is version 1's table of rows. A version 1 file keeps it
// (and its indexes) when opened: the writer goroutine moves its rows into
// log a chunk at a time, newest first, and drops it when it is empty
// (Writer.migrateChunk), so a large history does not delay the start.
// Until then Prune prunes it too and its names are kept.
const legacyTable = "queries"

// bucketShift sets the width of a spans bucket: 2^22 us, about 4.2 s.
// A search for a rare name scans every row of each bucket the name is
// in, so a bucket should hold few rows; the writer adds a spans row per
// distinct device, name and action of a bucket, so a bucket should hold
// many. At the rates where the writer's cost matters (10-50 k rows a
// second) a 4 s bucket holds 40-200 k rows and each of a household's few
// thousand names at most once, a span for dozens of rows or more; at
// household rates (tens of rows a second) a bucket is a few hundred rows,
// which a search scans in well under a millisecond (docs/querylog.md,
// "Fourth pass").
const bucketShift = 22

// The kinds of spans rows.
const (
	spanDevice = 0
	spanName   = 1
	spanAction = 2
)

// spanKey is one row of spans.
type spanKey struct {
	kind   int8
	id     int64
	bucket int64
}

// spansPerInsert is how many spans rows one INSERT carries; fewer new
// ones are inserted one by one or, past spansPadFrom, padded with
// repeats of the last (INSERT OR IGNORE makes a repeat a lookup).
const (
	spansPerInsert = 64
	spansPadFrom   = 8
)

// maxSeenSpans bounds writeConn.seen; past it the set starts over, which
// costs an INSERT OR IGNORE per span it forgot.
const maxSeenSpans = 1 << 16

func insertSpansSQL(rows int) string {
	return `INSERT OR IGNORE INTO spans (kind, id, bucket) VALUES (?,?,?)` + strings.Repeat(`,(?,?,?)`, rows-1)
}

// upgradeToSpans turns a version 2 log into version 3 in the caller's
// transaction: it fills spans from the log's rows and drops the per-row
// indexes (BenchmarkUpgradeV2: 0.4 CPU-s for 1 M rows).
func upgradeToSpans(ctx context.Context, conn *sql.Conn) error {
	for _, stmt := range []string{
		`INSERT OR IGNORE INTO spans (kind, id, bucket) SELECT DISTINCT ` + fmt.Sprint(spanDevice) +
			`, device, time >> ` + fmt.Sprint(bucketShift) + ` FROM log`,
		`INSERT OR IGNORE INTO spans (kind, id, bucket) SELECT DISTINCT ` + fmt.Sprint(spanName) +
			`, name_id, time >> ` + fmt.Sprint(bucketShift) + ` FROM log`,
		`INSERT OR IGNORE INTO spans (kind, id, bucket) SELECT DISTINCT ` + fmt.Sprint(spanAction) +
			`, action, time >> ` + fmt.Sprint(bucketShift) + ` FROM log WHERE action <> 0`,
		`DROP INDEX IF EXISTS log_device`,
		`DROP INDEX IF EXISTS log_name`,
		`DROP INDEX IF EXISTS log_action`,
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("upgrading to schema %d: %w", schemaVersion, err)
		}
	}
	return nil
}

// insertColumns is how many values one row of log binds.
const insertColumns = 5

// yieldEvery is how many entries, or counter rows, the writer handles
// before it lets other goroutines run: on a one-core machine (or a
// GOMAXPROCS=1 process) a batch of a second of full load would otherwise
// hold the CPU for tens of milliseconds, and answers would wait behind it.
const yieldEvery = 256

const insertPrefix = `INSERT OR ROLLBACK INTO log (time, device, name_id, action, rec) VALUES `

// rowsPerInsert is how many rows one INSERT statement carries; measured
// with BenchmarkWriterThroughput (bigger gains little, and a statement
// has at most 32766 parameters).
const rowsPerInsert = 256

func insertSQL(rows int) string {
	var b strings.Builder
	b.WriteString(insertPrefix)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?)")
	}
	return b.String()
}

// openDB opens the database with pragmas fit for a log, creates the
// schema and pins the connection the writer uses.
func openDB(path string) (*sql.DB, *writeConn, error) {
	dsn := path + "?_pragma=page_size(8192)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)" +
		fmt.Sprintf("&_pragma=cache_size(-%d)", readerCacheKiB) +
		"&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("opening query log %s: %w", path, err)
	}
	// One connection is the writer's; the others serve searches and
	// pruning, which WAL lets run beside the writer.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	fail := func(err error) (*sql.DB, *writeConn, error) {
		db.Close()
		return nil, nil, fmt.Errorf("opening query log %s: %w", path, err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fail(err)
	}
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		conn.Close()
		return fail(err)
	}
	if version > schemaVersion {
		conn.Close()
		return fail(fmt.Errorf("schema version %d is newer than this Hearth's %d", version, schemaVersion))
	}
	// The schema, the upgrade and the version change in one transaction:
	// a crash leaves the old version, which is upgraded again.
	if err := createSchema(ctx, conn, version); err != nil {
		conn.Close()
		return fail(err)
	}
	// The writer's connection gets a bigger page cache: its inserts land
	// all over names, strs and spans (and, in a version 2 file, the
	// per-row indexes; the size was measured then).
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", writerCacheKiB)); err != nil {
		conn.Close()
		return fail(err)
	}
	// Without the writer goroutine (Flush only), the writer's connection
	// checkpoints itself every walAutoCheckpoint pages; the goroutine
	// moves checkpoints to a goroutine of their own (Writer.checkpoints).
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", walAutoCheckpoint)); err != nil {
		conn.Close()
		return fail(err)
	}
	wc, err := newWriteConn(ctx, conn)
	if err != nil {
		conn.Close()
		return fail(err)
	}
	return db, wc, nil
}

// createSchema creates the tables a file of schema version lacks,
// upgrades a version 2 log (upgradeToSpans) and sets the version, in one
// transaction.
func createSchema(ctx context.Context, conn *sql.Conn, version int) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("creating schema: %w", err)
	}
	defer func() {
		if err != nil {
			_, rerr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			err = errors.Join(err, rerr)
		}
	}()
	for _, stmt := range schema {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("creating schema: %w", err)
		}
	}
	// Version 1 had no log table (its rows get their spans as they are
	// moved); version 2 had the per-row indexes.
	if version == 2 {
		if err := upgradeToSpans(ctx, conn); err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return fmt.Errorf("setting schema version: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("creating schema: %w", err)
	}
	return nil
}

// The page caches, in KiB, are most of the memory the log takes: they
// stay full once filled. The writer's holds the index pages its inserts
// touch. 8 MiB cost 20-60 % more writer CPU than 16 MiB when the log's
// rows were wider (docs/querylog.md); with schema 3 and pointer-free held
// rows the two are level (BenchmarkSustainedFakeTime -benchtime 60x:
// 0.065-0.077 against 0.073-0.074 writer CPU-s per s at 50,000 entries/s)
// and 8 MiB takes 15 MiB off RSS at 1.5 M names (docs/performance.md).
// The other connections (searches, pruning, checkpoints) read a page
// from the operating system's cache when theirs misses; theirs were 8 MiB
// each.
const (
	writerCacheKiB = 8192
	readerCacheKiB = 2048
)

// walAutoCheckpoint is the writer connection's wal_autocheckpoint when no
// checkpoint goroutine runs: 8,192 pages of WAL (64 MB) rather than
// 1,000, because the index pages a batch touches are touched again by the
// next ones, and a page is copied into the file once per checkpoint
// however often it changed (5% of the writer's time at 1,000 pages).
const walAutoCheckpoint = 8192

// counterKey and counterVal aggregate one batch's counters in memory.
type counterKey struct {
	hour   int64
	device string
	tag    string
}

type counterVal struct {
	queries, blocked int64
}

// maxCachedNames bounds writeConn.names and writeConn.strs; past it a
// cache starts over.
const maxCachedNames = 1 << 15

// execStmt is a statement prepared on the driver's connection: the
// writer binds its rows' values as driver.NamedValues directly, which
// skips database/sql's conversion of every value (a fifth of the
// writer's time before).
type execStmt interface {
	driver.Stmt
	driver.StmtExecContext
}

// queryStmt is a statement prepared on the driver's connection that
// returns rows.
type queryStmt interface {
	driver.Stmt
	driver.StmtQueryContext
}

// writeConn is the writer's connection, its prepared statements and its
// scratch space. It is used under Writer.wmu only.
type writeConn struct {
	conn *sql.Conn
	// insertN and insert1 are prepared on the driver's connection and
	// used only inside conn.Raw.
	insertN execStmt // rowsPerInsert rows
	insert1 execStmt // one row
	// spansN and spans1 add spansPerInsert and one spans rows, prepared
	// on the driver's connection, with their arguments.
	spansN, spans1 execStmt
	spanArgs       []driver.NamedValue
	// seen holds the spans rows added (or found) since the last rollback
	// or prune: a bucket's rows for a device or a name are added once.
	seen map[spanKey]struct{}
	// newSpans are the spans rows noted and not inserted yet.
	newSpans []spanKey
	// spanStmts counts the spans INSERTs run, for tests.
	spanStmts int
	// upsertNames adds namesPerUpsert names (addNames), prepared on the
	// driver's connection, with its arguments and a result row.
	upsertNames queryStmt
	nameArgs    []driver.NamedValue
	nameDest    [2]driver.Value
	upsertStr   *sql.Stmt
	counter     *sql.Stmt
	dailyUp     *sql.Stmt
	taken       *sql.Stmt
	nextFree    *sql.Stmt

	// maxTime is at least the greatest log.time stored: a key above it
	// is free without asking the database.
	maxTime int64
	// legacy reports whether the version 1 table is still there.
	legacy bool
	// inTx reports whether a write transaction is open.
	inTx bool
	// v4bits and v6bits are Config's TruncateIPv4Bits and TruncateIPv6Bits.
	v4bits, v6bits int

	// names caches names.id by name, strs strs.id by string. They are
	// cleared when a transaction that may have added to them rolls back,
	// and names when Prune deletes names.
	names map[string]int64
	strs  map[string]int64
	// strOf is strs the other way round, for the counters.
	strOf map[int64]string
	// last holds each string field's last string and id (fieldID),
	// emptied with strs.
	last [numFields]lastStr

	// Per batch: the entries' times in nanoseconds (Time, or now when it
	// is not set) and their order by time.
	times []int64
	order []int32
	// Per insert: the rows' keys in microseconds, their bound values
	// (ordinals set once), their encoded records and where each ends.
	keys   []int64
	vals   []driver.NamedValue
	recs   []byte
	recEnd []int
	devs   []int64
	counts map[counterKey]counterVal
	// daily is counts summed by day (the hour field holds the day).
	daily map[counterKey]counterVal
	lower [MaxNameLen]byte

	// The held rows: identical queries of one second are collapsed into
	// one row with a count across every batch, not only within a batch (at
	// full rate a batch is about 2,048 entries, a fraction of a second).
	// A row is held in memory until its second is over
	// (Writer.write) or Flush. A held row is a fixed-size record without
	// pointers (its strings are strs ids), and texts, one byte arena,
	// holds the held rows' explanations and names: the garbage collector
	// has nothing to scan in either, and insertBefore compacts both in
	// place.
	//
	// index finds a held row from an entry as it comes, before its name
	// is resolved to an id (findHeld): an open-addressed table of every
	// held row's hash (rowHash, seed), at most half full, with indexed
	// slots used. hashMask is ANDed to every hash: all ones but in tests,
	// which make every key collide.
	index    []heldSlot
	indexed  int
	seed     maphash.Seed
	hashMask uint64
	held     []heldRow
	texts    []byte
	// lastSec is the latest second of an entry held.
	lastSec int64
	// txRows counts the rows inserted in the open transaction, txEntries
	// the entries they stand for.
	txRows    int
	txEntries int64
	// Per batch (resolveNames): each entry's names.id, or -1-i for the
	// i-th name of newNames, which pending indexes, until it is added.
	ids      []int64
	newNames []string
	newIDs   []int64
	pending  map[string]int32
	// Per batch (addBatch): the rows it started, whose names' ids are
	// resolved at its end.
	started []int32
	// Scratch for insertBefore.
	ins []int32
}

// groupKey is what makes two entries the same row: one device asking the
// same name the same way in the same second and getting the same answer.
// At full load most queries are repeats of popular names, and one row
// with a count costs the writer a fraction of many.
//
// It holds no pointer: the device, profile, reason and tag are their
// strs ids (resolved when the entry is held), the client its 16 bytes
// and length (0, 4 or 16; a zone, which the stored address drops, is not
// part of the key).
type groupKey struct {
	sec                          int64
	nameID                       int64
	device, profile, reason, tag int64
	client                       [16]byte
	clientLen                    uint8
	rcode                        uint8
	qtype                        uint16
	action                       Action
	transport                    Transport
	cached                       bool
}

// addrKey returns a's bytes and length for a groupKey.
func addrKey(a netip.Addr) (b [16]byte, n uint8) {
	switch {
	case !a.IsValid():
		return b, 0
	case a.Is4():
		a4 := a.As4()
		copy(b[:], a4[:])
		return b, 4
	}
	return a.As16(), 16
}

// addr returns the client address of k.
func (k *groupKey) addr() netip.Addr {
	switch k.clientLen {
	case 4:
		return netip.AddrFrom4([4]byte(k.client[:4]))
	case 16:
		return netip.AddrFrom16(k.client)
	}
	return netip.Addr{}
}

// heldRow is a row waiting for its second to end: the first entry's
// fields (its key), its time and duration, the places in writeConn.texts
// of its explanation (text0 to text1) and of its name as stored (text1
// to name1), and how many entries it stands for. It is a fixed-size
// record without pointers (112 bytes).
type heldRow struct {
	key                 groupKey
	hash                uint64 // rowHash of key and name, its place in writeConn.index
	time                int64  // Unix nanoseconds of the first entry
	duration            uint32
	text0, text1, name1 int32
	count               int64
}

// heldSlot is a slot of writeConn.index: the high half of a held row's
// hash (the low half places it) and its index in held plus one (0: the
// slot is empty). Eight bytes, so that the index of the rows of two
// seconds at full load stays in the CPU's cache.
type heldSlot struct {
	tag uint32
	row int32
}

// minIndex is the fewest slots writeConn.index has once used.
const minIndex = 1024

// maxHeld bounds the rows held in memory (112 bytes each plus the
// explanation); past it every held row is inserted at once.
const maxHeld = 1 << 15

func newWriteConn(ctx context.Context, conn *sql.Conn) (*writeConn, error) {
	wc := &writeConn{
		conn:     conn,
		names:    make(map[string]int64),
		strs:     make(map[string]int64),
		strOf:    make(map[int64]string),
		vals:     make([]driver.NamedValue, rowsPerInsert*insertColumns),
		counts:   make(map[counterKey]counterVal),
		daily:    make(map[counterKey]counterVal),
		seed:     maphash.MakeSeed(),
		hashMask: ^uint64(0),
		keys:     make([]int64, 0, rowsPerInsert),

		pending:  make(map[string]int32),
		nameArgs: make([]driver.NamedValue, namesPerUpsert),
		spanArgs: make([]driver.NamedValue, 3*spansPerInsert),
		seen:     make(map[spanKey]struct{}),
	}
	for i := range wc.spanArgs {
		wc.spanArgs[i].Ordinal = i + 1
	}
	for i := range wc.vals {
		wc.vals[i].Ordinal = i%(rowsPerInsert*insertColumns) + 1
	}
	for i := range wc.nameArgs {
		wc.nameArgs[i].Ordinal = i + 1
	}
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master
		WHERE type = 'table' AND name = '`+legacyTable+`'`).Scan(&n); err != nil {
		return nil, fmt.Errorf("looking for version 1 rows: %w", err)
	}
	wc.legacy = n > 0
	maxQuery := `SELECT max(time) FROM log`
	if wc.legacy {
		maxQuery = `SELECT max(coalesce((SELECT max(time) FROM log), 0),
			coalesce((SELECT max(time) FROM ` + legacyTable + `), 0))`
	}
	var max sql.NullInt64
	if err := conn.QueryRowContext(ctx, maxQuery).Scan(&max); err != nil {
		return nil, fmt.Errorf("reading the last row: %w", err)
	}
	wc.maxTime = max.Int64
	var err error
	prepare := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = conn.PrepareContext(ctx, q)
		if err != nil {
			err = fmt.Errorf("preparing %.40q: %w", q, err)
		}
		return s
	}
	prepareRaw := func(q string) execStmt {
		if err != nil {
			return nil
		}
		var s execStmt
		err = conn.Raw(func(dc any) error {
			p, ok := dc.(driver.ConnPrepareContext)
			if !ok {
				return fmt.Errorf("driver connection %T cannot prepare", dc)
			}
			ds, err := p.PrepareContext(ctx, q)
			if err != nil {
				return err
			}
			if s, ok = ds.(execStmt); !ok {
				ds.Close()
				return fmt.Errorf("driver statement %T cannot execute with a context", ds)
			}
			return nil
		})
		if err != nil {
			err = fmt.Errorf("preparing %.40q: %w", q, err)
		}
		return s
	}
	wc.insertN = prepareRaw(insertSQL(rowsPerInsert))
	wc.insert1 = prepareRaw(insertSQL(1))
	wc.spansN = prepareRaw(insertSpansSQL(spansPerInsert))
	wc.spans1 = prepareRaw(insertSpansSQL(1))
	if st := prepareRaw(upsertNamesSQL); st != nil {
		if q, ok := st.(queryStmt); ok {
			wc.upsertNames = q
		} else if err == nil {
			err = fmt.Errorf("driver statement %T cannot query with a context", st)
		}
	}
	wc.upsertStr = prepare(`INSERT INTO strs (s) VALUES (?)
		ON CONFLICT (s) DO UPDATE SET s = excluded.s RETURNING id`)
	wc.counter = prepare(`INSERT INTO counters (hour, device, tag, queries, blocked) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (hour, device, tag) DO UPDATE SET
			queries = queries + excluded.queries,
			blocked = blocked + excluded.blocked`)
	wc.dailyUp = prepare(`INSERT INTO daily (day, device, tag, queries, blocked) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (day, device, tag) DO UPDATE SET
			queries = queries + excluded.queries,
			blocked = blocked + excluded.blocked`)
	wc.taken = prepare(`SELECT count(*) FROM log WHERE time = ?`)
	// The first free key after a run of taken ones; there is always one,
	// after the last row.
	wc.nextFree = prepare(`SELECT l.time + 1 FROM log l WHERE l.time >= ?
		AND NOT EXISTS (SELECT 1 FROM log r WHERE r.time = l.time + 1)
		ORDER BY l.time LIMIT 1`)
	if err != nil {
		wc.close()
		return nil, err
	}
	return wc, nil
}

func (wc *writeConn) close() error {
	var errs []error
	if wc.insertN != nil || wc.insert1 != nil {
		errs = append(errs, wc.conn.Raw(func(any) error {
			var errs []error
			for _, s := range []execStmt{wc.insertN, wc.insert1, wc.spansN, wc.spans1} {
				if s != nil {
					errs = append(errs, s.Close())
				}
			}
			if wc.upsertNames != nil {
				errs = append(errs, wc.upsertNames.Close())
			}
			return errors.Join(errs...)
		}))
	}
	for _, s := range []*sql.Stmt{wc.upsertStr, wc.counter, wc.dailyUp, wc.taken, wc.nextFree} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	errs = append(errs, wc.conn.Close())
	return errors.Join(errs...)
}

// begin starts a write transaction unless one is open. The writer keeps
// its transaction open across batches (Writer.write): every commit
// rewrites each index page the batch touched into the WAL, and at full
// rate the batches of one second touch mostly the same pages.
func (wc *writeConn) begin(ctx context.Context) error {
	if wc.inTx {
		return nil
	}
	if _, err := wc.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	wc.inTx = true
	return nil
}

// commit commits the open transaction, if any; when that fails it rolls
// back. Held rows stay held: the caller inserts them first if they must
// be in this commit.
func (wc *writeConn) commit(ctx context.Context) error {
	if !wc.inTx {
		return nil
	}
	if _, err := wc.conn.ExecContext(ctx, "COMMIT"); err != nil {
		err = fmt.Errorf("committing: %w", err)
		return errors.Join(err, wc.rollback(ctx))
	}
	wc.inTx = false
	wc.txRows, wc.txEntries = 0, 0
	return nil
}

// rollback rolls the open transaction back and empties the id caches,
// which may hold ids it removed. After a failed INSERT OR ROLLBACK SQLite
// has already rolled back, and the ROLLBACK's own error is not reported.
func (wc *writeConn) rollback(ctx context.Context) error {
	clear(wc.names)
	clear(wc.strs)
	clear(wc.strOf)
	clear(wc.last[:])
	clear(wc.seen)
	wc.newSpans = wc.newSpans[:0]
	wc.dropHeld()
	wc.txRows, wc.txEntries = 0, 0
	if !wc.inTx {
		return nil
	}
	wc.inTx = false
	_, err := wc.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	if err != nil && !strings.Contains(err.Error(), "no transaction is active") {
		return fmt.Errorf("rolling back: %w", err)
	}
	return nil
}

// addBatch adds the entries of a and then b, in time order, to the held
// rows, in the open transaction (begun if none is), which new names and
// strings are added in. It inserts no row and counts nothing: a row's
// entries are counted when it is inserted (insertBefore). On error the
// caller rolls back.
func (wc *writeConn) addBatch(ctx context.Context, cfg *Config, a, b []Entry) (err error) {
	entry := func(k int32) *Entry {
		if int(k) < len(a) {
			return &a[k]
		}
		return &b[int(k)-len(a)]
	}
	n := len(a) + len(b)
	wc.times = wc.times[:0]
	wc.order = wc.order[:0]
	var now int64
	for k := range int32(n) {
		t := entry(k).Time
		if t <= 0 {
			if now == 0 {
				now = cfg.Now().UnixNano()
			}
			t = now
		}
		wc.times = append(wc.times, t)
		wc.order = append(wc.order, k)
	}
	// Entries are logged when answered, not when asked: a slow upstream
	// answer comes after quicker later ones. Most batches are in order
	// already.
	byTime := func(x, y int32) int { return cmp.Compare(wc.times[x], wc.times[y]) }
	if !slices.IsSortedFunc(wc.order, byTime) {
		slices.SortStableFunc(wc.order, byTime)
	}

	if err := wc.begin(ctx); err != nil {
		return err
	}
	// Collapse repeats into the held rows, keeping time order by first
	// occurrence. At full load most entries repeat a row held: it is
	// found from the entry's fields and its name as they are (findHeld),
	// without resolving the name to its id, which only the rows started
	// need, at the end, a statement for all their new names (a fifth of
	// the writer's time at full load went to resolving every entry's
	// name, and another fifth to a map of the rows' hashes).
	wc.started = wc.started[:0]
	for i, k := range wc.order {
		if i%yieldEvery == yieldEvery-1 {
			runtime.Gosched()
		}
		e := entry(k)
		t := wc.times[k]
		gk, err := wc.entryKey(ctx, e, t)
		if err != nil {
			return err
		}
		name := wc.lower[:normalizeName(wc.lower[:], e.Name[:e.NameLen])]
		h := wc.rowHash(&gk, name)
		if r := wc.findHeld(h, &gk, name); r >= 0 {
			wc.held[r].count++
			continue
		}
		t0 := len(wc.texts)
		wc.texts = append(wc.texts, e.Text[:e.TextLen]...)
		t1 := len(wc.texts)
		wc.texts = append(wc.texts, name...)
		wc.held = append(wc.held, heldRow{key: gk, hash: h, time: t, duration: e.Duration,
			text0: int32(t0), text1: int32(t1), name1: int32(len(wc.texts)), count: 1})
		r := int32(len(wc.held) - 1)
		wc.indexRow(r)
		wc.started = append(wc.started, r)
		wc.lastSec = max(wc.lastSec, gk.sec)
	}
	if len(wc.started) == 0 {
		return nil
	}
	name := func(j int32) []byte {
		h := &wc.held[wc.started[j]]
		return wc.texts[h.text1:h.name1]
	}
	if err := wc.resolveNames(ctx, len(wc.started), name); err != nil {
		return err
	}
	for j, r := range wc.started {
		wc.held[r].key.nameID = wc.ids[j]
	}
	return nil
}

// entryKey returns the groupKey of e, logged at t (Unix nanoseconds),
// without its name's id (0).
func (wc *writeConn) entryKey(ctx context.Context, e *Entry, t int64) (gk groupKey, err error) {
	gk = groupKey{
		sec: t / 1e9, qtype: e.QType, rcode: e.Rcode, action: e.Action,
		transport: e.Transport, cached: e.Cached,
	}
	gk.client, gk.clientLen = addrKey(e.Client)
	if gk.device, err = wc.fieldID(ctx, fieldDevice, e.Device); err != nil {
		return gk, err
	}
	if gk.profile, err = wc.fieldID(ctx, fieldProfile, e.Profile); err != nil {
		return gk, err
	}
	if gk.reason, err = wc.fieldID(ctx, fieldReason, e.Reason); err != nil {
		return gk, err
	}
	if gk.tag, err = wc.fieldID(ctx, fieldTag, e.Tag); err != nil {
		return gk, err
	}
	return gk, nil
}

// rowHash returns the hash of the row of key k (its nameID ignored) and
// name (lower-cased, without the trailing dot), ANDed with hashMask.
func (wc *writeConn) rowHash(k *groupKey, name []byte) uint64 {
	hk := *k
	hk.nameID = int64(maphash.Bytes(wc.seed, name))
	return maphash.Comparable(wc.seed, hk) & wc.hashMask
}

// findHeld returns the index in held of the row of key k (its nameID
// ignored) and name, whose rowHash is h, or -1 if no row is held for
// them. Every candidate is compared in full, so two keys of one hash
// never share a row.
func (wc *writeConn) findHeld(h uint64, k *groupKey, name []byte) int32 {
	if len(wc.index) == 0 {
		return -1
	}
	mask := uint64(len(wc.index) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := wc.index[i]
		if s.row == 0 {
			return -1
		}
		if s.tag != uint32(h>>32) {
			continue
		}
		r := &wc.held[s.row-1]
		rk := r.key
		rk.nameID = k.nameID
		if rk == *k && string(wc.texts[r.text1:r.name1]) == string(name) {
			return s.row - 1
		}
	}
}

// indexRow adds held row i to index, growing it to keep it at most half
// full.
func (wc *writeConn) indexRow(i int32) {
	if 2*(wc.indexed+1) > len(wc.index) {
		wc.reindex(len(wc.held), max(minIndex, 2*len(wc.index)))
		return // reindex indexed every held row, i too
	}
	wc.slot(wc.held[i].hash, i)
}

// slot puts held row i, of hash h, in the first free slot of its probe
// sequence.
func (wc *writeConn) slot(h uint64, i int32) {
	mask := uint64(len(wc.index) - 1)
	for j := h & mask; ; j = (j + 1) & mask {
		if wc.index[j].row == 0 {
			wc.index[j] = heldSlot{tag: uint32(h >> 32), row: i + 1}
			wc.indexed++
			return
		}
	}
}

// reindex indexes the first n held rows anew in an index of at least
// size slots (a power of two, at least 2n): the one it has, emptied, if
// it is that large, or a new one. It never shrinks: the rows a write
// leaves held grow again by the next, and growing from minIndex at every
// write cost more than clearing the largest index (at most
// 4*(maxHeld+buffer) slots of 8 bytes, counted in MemoryBound).
func (wc *writeConn) reindex(n, size int) {
	for size < 2*n {
		size *= 2
	}
	if len(wc.index) >= size {
		clear(wc.index)
	} else {
		wc.index = make([]heldSlot, size)
	}
	wc.indexed = 0
	for i := range n {
		wc.slot(wc.held[i].hash, int32(i))
	}
}

// insertHeld inserts every held row into the open transaction.
func (wc *writeConn) insertHeld(ctx context.Context) error {
	return wc.insertBefore(ctx, math.MaxInt64, nil)
}

// insertBefore inserts the held rows of the seconds before sec into the
// open transaction (begun if none is), in time order, rowsPerInsert to a
// statement, adds their entries to the hourly and daily counters, and
// keeps the others held. The entries of a row share its hour, device, tag
// and action, so they are counted a row at a time: counting each entry
// as it was held took two map updates with string keys an entry, a sixth
// of the writer's time at full load (docs/performance.md, "The query log
// at full load"). Between statements it calls
// between (if not nil), which may add rows (addBatch): they stay held. A
// later entry of a second already inserted starts a row of its own.
//
// Rows held past a commit are inserted with no transaction open, so the
// transaction must be begun here: rows inserted outside one would commit
// at once, and their entries, left in txEntries (which only commit and
// rollback of an open transaction reset), would be counted as written at
// every later commit.
func (wc *writeConn) insertBefore(ctx context.Context, sec int64, between func() error) error {
	wc.ins = wc.ins[:0]
	for i := range wc.held {
		if wc.held[i].key.sec < sec {
			wc.ins = append(wc.ins, int32(i))
		}
	}
	if len(wc.ins) == 0 {
		return nil
	}
	if err := wc.begin(ctx); err != nil {
		return err
	}
	// Held rows are in time order within a batch; a batch can hold
	// entries older than the one before it.
	slices.SortStableFunc(wc.ins, func(x, y int32) int { return cmp.Compare(wc.held[x].time, wc.held[y].time) })
	clear(wc.counts)
	for start := 0; start < len(wc.ins); start += rowsPerInsert {
		rows := wc.ins[start:min(start+rowsPerInsert, len(wc.ins))]
		if err := wc.insertRows(ctx, rows); err != nil {
			return err
		}
		for _, i := range rows {
			if err := wc.countRow(ctx, &wc.held[i]); err != nil {
				return err
			}
			wc.txEntries += wc.held[i].count
			wc.held[i].count = 0 // inserted
		}
		wc.txRows += len(rows)
		if between != nil {
			if err := between(); err != nil {
				return err
			}
		} else {
			runtime.Gosched()
		}
	}
	if err := wc.upsertCounts(ctx, wc.counts); err != nil {
		return err
	}
	wc.compactHeld()
	return nil
}

// countRow adds the entries of held row h to wc.counts.
func (wc *writeConn) countRow(ctx context.Context, h *heldRow) error {
	device, err := wc.strOfID(ctx, h.key.device)
	if err != nil {
		return err
	}
	tag, err := wc.strOfID(ctx, h.key.tag)
	if err != nil {
		return err
	}
	var blocked int64
	if h.key.action.Blocks() {
		blocked = h.count
	}
	countN(wc.counts, max(h.key.sec, 0), device, tag, h.count, blocked)
	return nil
}

// compactHeld moves the rows not inserted (count > 0) and their
// explanations to the front of held and texts, in order, and indexes
// them anew in index. It works in place: a row and its explanation only
// move down, so no second slice is needed. The index is emptied and
// refilled rather than having the inserted rows deleted one by one,
// which an open-addressed table cannot do without tombstones that
// lengthen every later lookup (a fifth of the writer's time in
// BenchmarkSustainedFakeTime with a map).
func (wc *writeConn) compactHeld() {
	n, t := 0, 0
	for i := range wc.held {
		h := wc.held[i]
		if h.count == 0 {
			continue
		}
		t0 := t
		t += copy(wc.texts[t:], wc.texts[h.text0:h.name1])
		h.text0, h.text1, h.name1 = int32(t0), h.text1-h.text0+int32(t0), int32(t)
		wc.held[n] = h
		n++
	}
	wc.held = wc.held[:n]
	wc.texts = wc.texts[:t]
	wc.reindex(n, minIndex)
}

// dropHeld forgets every held row.
func (wc *writeConn) dropHeld() {
	clear(wc.index)
	wc.indexed = 0
	wc.held = wc.held[:0]
	wc.texts = wc.texts[:0]
}

// insertRows inserts the held rows rows (at most rowsPerInsert, in time
// order), binding through the driver.
func (wc *writeConn) insertRows(ctx context.Context, rows []int32) error {
	if err := wc.assignKeys(ctx, rows); err != nil {
		return err
	}
	// Encode the rows.
	wc.recs, wc.recEnd = wc.recs[:0], wc.recEnd[:0]
	wc.devs = wc.devs[:0]
	for _, i := range rows {
		h := &wc.held[i]
		r := rec{device: h.key.device, profile: h.key.profile, reason: h.key.reason, tag: h.key.tag}
		var err error
		if r.transport, err = wc.strID(ctx, h.key.transport.String()); err != nil {
			return err
		}
		r.client = truncateAddr(h.key.addr(), wc.v4bits, wc.v6bits)
		r.qtype, r.rcode, r.cached = h.key.qtype, h.key.rcode, h.key.cached
		r.duration, r.count = h.duration, h.count
		r.text = wc.texts[h.text0:h.text1]
		wc.recs = r.append(wc.recs)
		wc.recEnd = append(wc.recEnd, len(wc.recs))
		wc.devs = append(wc.devs, r.device)
		wc.noteSpans(wc.keys[len(wc.devs)-1], r.device, h.key.nameID, actionCode(h.key.action))
	}
	// A context that is never done: the driver would start a goroutine per
	// statement to watch a cancellable one, and a batch begun is finished.
	ctx = context.WithoutCancel(ctx)
	return wc.conn.Raw(func(any) error {
		start := 0
		for j, i := range rows {
			h := &wc.held[i]
			v := wc.vals[j*insertColumns : (j+1)*insertColumns]
			v[0].Value = wc.keys[j]
			v[1].Value = wc.devs[j]
			v[2].Value = h.key.nameID
			v[3].Value = actionCode(h.key.action)
			v[4].Value = wc.recs[start:wc.recEnd[j]]
			start = wc.recEnd[j]
		}
		defer func() {
			for i := range wc.vals {
				wc.vals[i].Value = nil // do not pin the records
			}
		}()
		if len(rows) == rowsPerInsert {
			if _, err := wc.insertN.ExecContext(ctx, wc.vals); err != nil {
				return fmt.Errorf("inserting rows: %w", err)
			}
			return wc.insertSpans(ctx)
		}
		// Fewer: one by one, each moved to the first row's place.
		for j := range rows {
			copy(wc.vals[:insertColumns], wc.vals[j*insertColumns:(j+1)*insertColumns])
			for c := range insertColumns {
				wc.vals[c].Ordinal = c + 1
			}
			if _, err := wc.insert1.ExecContext(ctx, wc.vals[:insertColumns]); err != nil {
				return fmt.Errorf("inserting row: %w", err)
			}
		}
		return wc.insertSpans(ctx)
	})
}

// noteSpans notes the spans rows of a log row (its key, device, name and
// action code) that seen lacks, for insertSpans.
func (wc *writeConn) noteSpans(key, device, nameID, action int64) {
	b := key >> bucketShift
	wc.noteSpan(spanKey{spanDevice, device, b})
	wc.noteSpan(spanKey{spanName, nameID, b})
	if action != 0 {
		wc.noteSpan(spanKey{spanAction, action, b})
	}
}

func (wc *writeConn) noteSpan(k spanKey) {
	if _, ok := wc.seen[k]; ok {
		return
	}
	if len(wc.seen) >= maxSeenSpans {
		clear(wc.seen)
	}
	wc.seen[k] = struct{}{}
	wc.newSpans = append(wc.newSpans, k)
}

// insertSpans inserts the spans rows noted, inside conn.Raw, in the open
// transaction: spansPerInsert to a statement, the rest one by one or in
// one padded statement.
func (wc *writeConn) insertSpans(ctx context.Context) error {
	defer func() { wc.newSpans = wc.newSpans[:0] }()
	spans := wc.newSpans
	for len(spans) > 0 {
		n := min(len(spans), spansPerInsert)
		st, per := wc.spansN, spansPerInsert
		if n < spansPadFrom {
			st, per, n = wc.spans1, 1, 1
		}
		for i := range per {
			k := spans[min(i, n-1)]
			a := wc.spanArgs[3*i : 3*i+3]
			a[0].Value, a[1].Value, a[2].Value = int64(k.kind), k.id, k.bucket
		}
		wc.spanStmts++
		if _, err := st.ExecContext(ctx, wc.spanArgs[:3*per]); err != nil {
			return fmt.Errorf("inserting spans: %w", err)
		}
		spans = spans[n:]
	}
	return nil
}

// upsertCounts adds hourly counts to the hourly and the daily counters,
// inside the caller's transaction.
func (wc *writeConn) upsertCounts(ctx context.Context, counts map[counterKey]counterVal) error {
	clear(wc.daily)
	n := 0
	for k, v := range counts {
		if n++; n%yieldEvery == 0 {
			runtime.Gosched()
		}
		if _, err := wc.counter.ExecContext(ctx, k.hour, k.device, k.tag, v.queries, v.blocked); err != nil {
			return fmt.Errorf("updating counters: %w", err)
		}
		d := k
		d.hour -= d.hour % 86400
		dv := wc.daily[d]
		wc.daily[d] = counterVal{dv.queries + v.queries, dv.blocked + v.blocked}
	}
	for k, v := range wc.daily {
		if _, err := wc.dailyUp.ExecContext(ctx, k.hour, k.device, k.tag, v.queries, v.blocked); err != nil {
			return fmt.Errorf("updating daily counters: %w", err)
		}
	}
	return nil
}

// addCounters adds counts to the hourly counters in the open transaction
// (begun if none is): the entries Log dropped still count. On error the
// caller rolls back.
func (wc *writeConn) addCounters(ctx context.Context, counts map[counterKey]counterVal) error {
	if err := wc.begin(ctx); err != nil {
		return err
	}
	return wc.upsertCounts(ctx, counts)
}

// assignKeys sets wc.keys[j], the log.time of the held row rows[j] (in
// time order): its time in microseconds, or the next free microsecond
// when that one is taken, by the row before it or by a stored row.
func (wc *writeConn) assignKeys(ctx context.Context, rows []int32) error {
	wc.keys = wc.keys[:0]
	prev := int64(math.MinInt64)
	for _, i := range rows {
		key := max(wc.held[i].time/1000, prev+1)
		if key <= wc.maxTime {
			// Older than a stored row: it may collide.
			var taken int
			if err := wc.taken.QueryRowContext(ctx, key).Scan(&taken); err != nil {
				return fmt.Errorf("looking up time %d: %w", key, err)
			}
			if taken > 0 {
				if err := wc.nextFree.QueryRowContext(ctx, key).Scan(&key); err != nil {
					return fmt.Errorf("finding a free time after %d: %w", key, err)
				}
			}
		}
		wc.keys = append(wc.keys, key)
		prev = key
		// A rollback leaves maxTime too high, which only costs lookups.
		wc.maxTime = max(wc.maxTime, key)
	}
	return nil
}

// namesPerUpsert is how many names one statement adds: a statement per
// new name cost more than the name's insert (BenchmarkWriterThroughput,
// names=all-new; docs/querylog.md).
const namesPerUpsert = 64

// unknownID marks a name whose id addNames has not read yet.
const unknownID = math.MinInt64

var upsertNamesSQL = `INSERT INTO names (name) VALUES (?)` + strings.Repeat(`,(?)`, namesPerUpsert-1) +
	` ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id, name`

// resolveNames sets wc.ids[k] to the names.id of name(k) (lower case,
// without the trailing dot: normalizeName's) for the n names, adding the
// names the cache lacks to names, namesPerUpsert to a statement.
func (wc *writeConn) resolveNames(ctx context.Context, n int, name func(int32) []byte) error {
	wc.ids = wc.ids[:0]
	wc.newNames = wc.newNames[:0]
	clear(wc.pending)
	for k := range int32(n) {
		name := name(k)
		if id, ok := wc.names[string(name)]; ok {
			wc.ids = append(wc.ids, id)
			continue
		}
		i, ok := wc.pending[string(name)]
		if !ok {
			s := string(name)
			i = int32(len(wc.newNames))
			wc.pending[s] = i
			wc.newNames = append(wc.newNames, s)
		}
		wc.ids = append(wc.ids, -1-int64(i))
	}
	if len(wc.newNames) == 0 {
		return nil
	}
	if err := wc.addNames(ctx); err != nil {
		return err
	}
	if len(wc.names)+len(wc.newNames) > maxCachedNames {
		clear(wc.names)
	}
	for i, s := range wc.newNames {
		wc.names[s] = wc.newIDs[i]
	}
	for k, id := range wc.ids {
		if id < 0 {
			wc.ids[k] = wc.newIDs[-1-id]
		}
	}
	return nil
}

// addNames upserts wc.newNames into names and sets wc.newIDs to their
// ids, through the driver's connection: database/sql's statement, rows
// and scan were half of a new name's cost. The last statement repeats
// its last name to fill its arguments.
func (wc *writeConn) addNames(ctx context.Context) error {
	wc.newIDs = slices.Grow(wc.newIDs[:0], len(wc.newNames))[:len(wc.newNames)]
	return wc.conn.Raw(func(any) error {
		for start := 0; start < len(wc.newNames); start += namesPerUpsert {
			chunk := wc.newNames[start:min(start+namesPerUpsert, len(wc.newNames))]
			for i := range wc.nameArgs {
				wc.nameArgs[i].Value = chunk[min(i, len(chunk)-1)]
			}
			// Never done, as for the INSERTs: no watcher goroutine.
			rows, err := wc.upsertNames.QueryContext(context.WithoutCancel(ctx), wc.nameArgs)
			for i := range wc.nameArgs {
				wc.nameArgs[i].Value = nil
			}
			if err != nil {
				return fmt.Errorf("adding names: %w", err)
			}
			for i := range chunk {
				wc.newIDs[start+i] = unknownID
			}
			for {
				if err = rows.Next(wc.nameDest[:]); err != nil {
					break
				}
				id, ok := wc.nameDest[0].(int64)
				name, ok2 := wc.nameDest[1].(string)
				i, ok3 := wc.pending[name]
				if !ok || !ok2 || !ok3 {
					err = fmt.Errorf("adding names: unexpected row (%T %v, %T %v)",
						wc.nameDest[0], wc.nameDest[0], wc.nameDest[1], wc.nameDest[1])
					break
				}
				wc.newIDs[i] = id
			}
			if err == io.EOF {
				err = nil
			}
			if err = errors.Join(err, rows.Close()); err != nil {
				return fmt.Errorf("adding names: %w", err)
			}
			for i, id := range wc.newIDs[start : start+len(chunk)] {
				if id == unknownID {
					return fmt.Errorf("adding names: no id for %q", chunk[i])
				}
			}
		}
		return nil
	})
}

// strID returns the strs.id of s, adding it if new.
func (wc *writeConn) strID(ctx context.Context, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if id, ok := wc.strs[s]; ok {
		return id, nil
	}
	var id int64
	if err := wc.upsertStr.QueryRowContext(ctx, s).Scan(&id); err != nil {
		return 0, fmt.Errorf("adding string %q: %w", s, err)
	}
	if len(wc.strs) >= maxCachedNames {
		clear(wc.strs)
		clear(wc.strOf)
		clear(wc.last[:])
	}
	wc.strs[s] = id
	wc.strOf[id] = s
	return id, nil
}

// The string fields of an Entry, for writeConn.last.
const (
	fieldDevice = iota
	fieldProfile
	fieldReason
	fieldTag
	numFields
)

// lastStr is the last string of a field and its strs.id.
type lastStr struct {
	s  string
	id int64
}

// fieldID is strID for the string field f of an entry: a string equal
// to the field's last one (the same long-lived string, most often, which
// compares by its pointer) costs no map lookup.
func (wc *writeConn) fieldID(ctx context.Context, f int, s string) (int64, error) {
	if l := &wc.last[f]; l.id != 0 && l.s == s {
		return l.id, nil
	}
	id, err := wc.strID(ctx, s)
	if err != nil {
		return 0, err
	}
	wc.last[f] = lastStr{s, id}
	return id, nil
}

// strOfID returns the string whose strs.id is id: strID's, or else read
// from strs (its cache started over since).
func (wc *writeConn) strOfID(ctx context.Context, id int64) (string, error) {
	if id == 0 {
		return "", nil
	}
	if s, ok := wc.strOf[id]; ok {
		return s, nil
	}
	var s string
	if err := wc.conn.QueryRowContext(ctx, `SELECT s FROM strs WHERE id = ?`, id).Scan(&s); err != nil {
		return "", fmt.Errorf("reading string %d: %w", id, err)
	}
	return s, nil
}

// normalizeName writes name lower-cased (ASCII only, as DNS compares
// names) and without its trailing dot into dst, and returns its length.
// The root stays ".".
func normalizeName(dst []byte, name []byte) int {
	if len(name) > 1 && name[len(name)-1] == '.' {
		name = name[:len(name)-1]
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst[i] = c
	}
	return len(name)
}

// countEntry adds e, at t (Unix nanoseconds), to its device's hourly total
// and to its tag's count in m. A key already in m costs no allocation.
func countEntry(m map[counterKey]counterVal, e *Entry, t int64) {
	var blocked int64
	if e.Action.Blocks() {
		blocked = 1
	}
	countN(m, max(t/1e9, 0), e.Device, e.Tag, 1, blocked)
}

// countN adds queries queries, blocked of them blocked, at sec (Unix
// seconds), to device's hourly total and to tag's count (unless tag is
// "") in m.
func countN(m map[counterKey]counterVal, sec int64, device, tag string, queries, blocked int64) {
	k := counterKey{hour: sec - sec%3600, device: device}
	v := m[k]
	m[k] = counterVal{v.queries + queries, v.blocked + blocked}
	if tag != "" {
		k.tag = tag
		v := m[k]
		m[k] = counterVal{v.queries + queries, v.blocked + blocked}
	}
}

// truncateAddr keeps the first v4 or v6 bits of a (IPv4-mapped IPv6
// addresses count as IPv4); 0 bits returns the zero Addr. The zone is
// dropped.
func truncateAddr(a netip.Addr, v4, v6 int) netip.Addr {
	if !a.IsValid() {
		return a
	}
	a = a.Unmap()
	bits := v6
	if a.Is4() {
		bits = v4
	}
	if bits == 0 {
		return netip.Addr{}
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Addr{}
	}
	return p.Addr()
}
