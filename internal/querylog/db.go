package querylog

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"slices"
	"strings"
)

// schemaVersion is stored in PRAGMA user_version.
const schemaVersion = 1

// The schema.
//
// A row's key is its time: queries.time is the INTEGER PRIMARY KEY (the
// rowid), in Unix microseconds, so the table is stored in time order.
// Listing newest first, a time range, paging and pruning are all rowid
// ranges, and the secondary indexes, which end in the rowid, hold each
// device's, name's and action's rows in time order too, so every search
// reads its rows in order and stops at the limit; no separate time index
// slows the inserts. Queries of the same microsecond are spread over the
// following free microseconds (writeConn.assignKeys).
//
// Names repeat a lot (a household asks for the same few thousand names
// all week), so they live once in names and queries refers to them: the
// table stays small, and a substring search scans the short names table
// and then follows the name_id index instead of scanning every row.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS names (
		id   INTEGER PRIMARY KEY,
		name TEXT NOT NULL UNIQUE
	)`,
	`CREATE TABLE IF NOT EXISTS queries (
		time        INTEGER PRIMARY KEY, -- Unix microseconds, unique
		client      TEXT NOT NULL,       -- truncated address, '' when not kept
		device      TEXT NOT NULL,
		profile     TEXT NOT NULL,
		name_id     INTEGER NOT NULL,    -- names.id
		qtype       INTEGER NOT NULL,
		rcode       INTEGER NOT NULL,
		action      TEXT NOT NULL,       -- allowed, blocked, rewritten, nxdomain, nodata
		reason      TEXT NOT NULL,
		tag         TEXT NOT NULL,
		text        TEXT NOT NULL,
		cached      INTEGER NOT NULL,
		transport   TEXT NOT NULL,
		duration_us INTEGER NOT NULL,
		count       INTEGER NOT NULL DEFAULT 1 -- identical queries of the same second
	)`,
	`CREATE INDEX IF NOT EXISTS queries_device ON queries(device)`,
	`CREATE INDEX IF NOT EXISTS queries_name ON queries(name_id)`,
	// Most rows are allowed: indexing only the others keeps inserts cheap,
	// and allowed rows are found near the top anyway. Search repeats the
	// index's condition so that the planner may use it.
	`CREATE INDEX IF NOT EXISTS queries_action ON queries(action) WHERE action <> 'allowed'`,
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

const insertColumns = 15

// yieldEvery is how many entries, or counter rows, the writer handles
// before it lets other goroutines run: on a one-core machine (or a
// GOMAXPROCS=1 process) a batch of a second of full load would otherwise
// hold the CPU for tens of milliseconds, and answers would wait behind it.
const yieldEvery = 256

const insertPrefix = `INSERT INTO queries (time, client, device, profile, name_id, qtype, rcode,
	action, reason, tag, text, cached, transport, duration_us, count) VALUES `

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
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
	}
	return b.String()
}

// openDB opens the database with pragmas fit for a log, creates the
// schema and pins the connection the writer uses.
func openDB(path string) (*sql.DB, *writeConn, error) {
	dsn := path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)&_pragma=cache_size(-8000)" +
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
	for _, stmt := range schema {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			conn.Close()
			return fail(fmt.Errorf("creating schema: %w", err))
		}
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		conn.Close()
		return fail(err)
	}
	// The writer's connection gets a bigger page cache: its index inserts
	// land all over the name and device indexes.
	if _, err := conn.ExecContext(ctx, "PRAGMA cache_size = -32000"); err != nil {
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

// counterKey and counterVal aggregate one batch's counters in memory.
type counterKey struct {
	hour   int64
	device string
	tag    string
}

type counterVal struct {
	queries, blocked int64
}

// maxCachedNames bounds writeConn.names; past it the cache starts over.
const maxCachedNames = 100_000

// writeConn is the writer's connection, its prepared statements and its
// scratch space. It is used under Writer.wmu only.
type writeConn struct {
	conn     *sql.Conn
	insertN  *sql.Stmt // rowsPerInsert rows
	insert1  *sql.Stmt // one row
	upsertNm *sql.Stmt
	counter  *sql.Stmt
	dailyUp  *sql.Stmt
	taken    *sql.Stmt
	nextFree *sql.Stmt

	// maxTime is at least the greatest queries.time stored: a key above
	// it is free without asking the database.
	maxTime int64

	// names caches names.id by name. It is cleared when a transaction
	// that may have added names rolls back, and when Prune deletes names.
	names map[string]int64

	// Per batch: the entries' times in nanoseconds (Time, or now when it
	// is not set), their order by time, their keys in microseconds.
	times  []int64
	order  []int32
	keys   []int64
	args   []any
	counts map[counterKey]counterVal
	// daily is counts summed by day (the hour field holds the day).
	daily map[counterKey]counterVal
	lower [MaxNameLen]byte
	// groups collapses identical queries of one second into one row:
	// group index by key, and per group its first entry, name and count.
	groups    map[groupKey]int32
	groupRows []groupRow
}

// groupKey is what makes two entries the same row: one device asking the
// same name the same way in the same second and getting the same answer.
// At full load most queries are repeats of popular names, and one row
// with a count costs the writer a fraction of many.
type groupKey struct {
	sec                  int64
	nameID               int64
	client               netip.Addr
	device, profile, tag string
	reason               string
	qtype                uint16
	rcode                uint8
	action               Action
	transport            Transport
	cached               bool
}

type groupRow struct {
	entry  int32 // index of the first entry, for entry()
	nameID int64
	count  int64
}

func newWriteConn(ctx context.Context, conn *sql.Conn) (*writeConn, error) {
	wc := &writeConn{
		conn:   conn,
		names:  make(map[string]int64),
		args:   make([]any, 0, rowsPerInsert*insertColumns),
		counts: make(map[counterKey]counterVal),
		daily:  make(map[counterKey]counterVal),
		groups: make(map[groupKey]int32),
	}
	var max sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT max(time) FROM queries`).Scan(&max); err != nil {
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
	wc.insertN = prepare(insertSQL(rowsPerInsert))
	wc.insert1 = prepare(insertSQL(1))
	wc.upsertNm = prepare(`INSERT INTO names (name) VALUES (?)
		ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id`)
	wc.counter = prepare(`INSERT INTO counters (hour, device, tag, queries, blocked) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (hour, device, tag) DO UPDATE SET
			queries = queries + excluded.queries,
			blocked = blocked + excluded.blocked`)
	wc.dailyUp = prepare(`INSERT INTO daily (day, device, tag, queries, blocked) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (day, device, tag) DO UPDATE SET
			queries = queries + excluded.queries,
			blocked = blocked + excluded.blocked`)
	wc.taken = prepare(`SELECT count(*) FROM queries WHERE time = ?`)
	// The first free key after a run of taken ones; there is always one,
	// after the last row.
	wc.nextFree = prepare(`SELECT q.time + 1 FROM queries q WHERE q.time >= ?
		AND NOT EXISTS (SELECT 1 FROM queries r WHERE r.time = q.time + 1)
		ORDER BY q.time LIMIT 1`)
	if err != nil {
		wc.close()
		return nil, err
	}
	return wc, nil
}

func (wc *writeConn) close() error {
	var errs []error
	for _, s := range []*sql.Stmt{wc.insertN, wc.insert1, wc.upsertNm, wc.counter, wc.dailyUp, wc.taken, wc.nextFree} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	errs = append(errs, wc.conn.Close())
	return errors.Join(errs...)
}

// writeBatch stores the entries of a and then b in one transaction, in
// time order, with their counters.
func (wc *writeConn) writeBatch(ctx context.Context, cfg *Config, a, b []Entry) (err error) {
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
	// answer comes after quicker later ones.
	slices.SortStableFunc(wc.order, func(x, y int32) int { return cmp.Compare(wc.times[x], wc.times[y]) })

	if _, err := wc.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer func() {
		if err != nil {
			// The names added by this transaction are rolled back too.
			clear(wc.names)
			if _, rerr := wc.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
				err = errors.Join(err, fmt.Errorf("rolling back: %w", rerr))
			}
		}
	}()

	// Collapse repeats, keeping time order by first occurrence; every
	// entry still counts in the hourly counters.
	clear(wc.counts)
	clear(wc.groups)
	wc.groupRows = wc.groupRows[:0]
	for i, k := range wc.order {
		if i%yieldEvery == yieldEvery-1 {
			runtime.Gosched()
		}
		e := entry(k)
		id, err := wc.nameID(ctx, e)
		if err != nil {
			return err
		}
		wc.count(e, wc.times[k])
		gk := groupKey{
			sec: wc.times[k] / 1e9, nameID: id, client: e.Client, device: e.Device, profile: e.Profile,
			tag: e.Tag, reason: e.Reason, qtype: e.QType, rcode: e.Rcode, action: e.Action,
			transport: e.Transport, cached: e.Cached,
		}
		if g, ok := wc.groups[gk]; ok {
			wc.groupRows[g].count++
			continue
		}
		wc.groups[gk] = int32(len(wc.groupRows))
		wc.groupRows = append(wc.groupRows, groupRow{entry: k, nameID: id, count: 1})
	}
	wc.order = wc.order[:0]
	for _, g := range wc.groupRows {
		wc.order = append(wc.order, g.entry)
	}
	if err := wc.assignKeys(ctx); err != nil {
		return err
	}
	wc.args = wc.args[:0]
	for i, g := range wc.groupRows {
		e := entry(g.entry)
		wc.args = appendRow(wc.args, e, wc.keys[i], g.nameID, g.count, cfg)
		if len(wc.args) == cap(wc.args) {
			if _, err := wc.insertN.ExecContext(ctx, wc.args...); err != nil {
				return fmt.Errorf("inserting rows: %w", err)
			}
			wc.args = wc.args[:0]
			runtime.Gosched()
		}
	}
	for i := 0; i < len(wc.args); i += insertColumns {
		if _, err := wc.insert1.ExecContext(ctx, wc.args[i:i+insertColumns]...); err != nil {
			return fmt.Errorf("inserting row: %w", err)
		}
	}
	clear(wc.args[:cap(wc.args)]) // do not pin the batch's strings

	if err := wc.upsertCounts(ctx, wc.counts); err != nil {
		return err
	}
	if _, err := wc.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("committing: %w", err)
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

// addCounters adds counts to the hourly counters in one transaction: the
// entries Log dropped still count.
func (wc *writeConn) addCounters(ctx context.Context, counts map[counterKey]counterVal) (err error) {
	if _, err := wc.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer func() {
		if err != nil {
			if _, rerr := wc.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
				err = errors.Join(err, fmt.Errorf("rolling back: %w", rerr))
			}
		}
	}()
	if err := wc.upsertCounts(ctx, counts); err != nil {
		return err
	}
	if _, err := wc.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// assignKeys sets wc.keys[i], the queries.time of the i-th entry in time
// order: its time in microseconds, or the next free microsecond when that
// one is taken, by the entry before it or by a stored row.
func (wc *writeConn) assignKeys(ctx context.Context) error {
	wc.keys = wc.keys[:0]
	prev := int64(math.MinInt64)
	for _, k := range wc.order {
		key := max(wc.times[k]/1000, prev+1)
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
	}
	// A rollback leaves maxTime too high, which only costs lookups.
	wc.maxTime = max(wc.maxTime, prev)
	return nil
}

// nameID returns the names.id of e's name, lower-cased and without the
// trailing dot, adding it if new.
func (wc *writeConn) nameID(ctx context.Context, e *Entry) (int64, error) {
	name := wc.lower[:normalizeName(wc.lower[:], e.Name[:e.NameLen])]
	if id, ok := wc.names[string(name)]; ok {
		return id, nil
	}
	s := string(name)
	var id int64
	if err := wc.upsertNm.QueryRowContext(ctx, s).Scan(&id); err != nil {
		return 0, fmt.Errorf("adding name %q: %w", s, err)
	}
	if len(wc.names) >= maxCachedNames {
		clear(wc.names)
	}
	wc.names[s] = id
	return id, nil
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

func (wc *writeConn) count(e *Entry, t int64) { countEntry(wc.counts, e, t) }

// countEntry adds e, at t (Unix nanoseconds), to its device's hourly total
// and to its tag's count in m. A key already in m costs no allocation.
func countEntry(m map[counterKey]counterVal, e *Entry, t int64) {
	hour := max(t/1e9, 0)
	hour -= hour % 3600
	var blocked int64
	if e.Action.Blocks() {
		blocked = 1
	}
	k := counterKey{hour: hour, device: e.Device}
	v := m[k]
	m[k] = counterVal{v.queries + 1, v.blocked + blocked}
	if e.Tag != "" {
		k.tag = e.Tag
		v := m[k]
		m[k] = counterVal{v.queries + 1, v.blocked + blocked}
	}
}

func appendRow(args []any, e *Entry, key, nameID, count int64, cfg *Config) []any {
	client := ""
	if a := truncateAddr(e.Client, cfg.TruncateIPv4Bits, cfg.TruncateIPv6Bits); a.IsValid() {
		client = a.String()
	}
	return append(args,
		key, client, e.Device, e.Profile, nameID,
		int64(e.QType), int64(e.Rcode), ActionLabel(e.Action), e.Reason, e.Tag,
		e.TextString(), e.Cached, e.Transport.String(), int64(e.Duration), count)
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
