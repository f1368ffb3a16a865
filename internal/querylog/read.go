package querylog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// pruneChunk is how many raw rows one DELETE removes, so the writer,
// which needs the same write lock, waits for one chunk, not a whole prune.
const pruneChunk = 10_000

// Prune deletes raw rows older than now-Retention, counters whose hour
// ended before now-CounterRetention, and names no row uses any more. It
// returns how many rows and counters it deleted. The writer goroutine
// calls it at start and every PruneInterval.
func (w *Writer) Prune(ctx context.Context, now time.Time) (rows, counters int, err error) {
	if w.isClosed() {
		return 0, 0, ErrClosed
	}
	// The DELETEs below take the write lock, which the writer's open
	// transaction holds.
	if err := w.commitPending(ctx); err != nil {
		return 0, 0, err
	}
	rowCut := now.Add(-w.cfg.Retention).UnixMicro()
	for {
		res, err := w.db.ExecContext(ctx,
			`DELETE FROM log WHERE time IN (SELECT time FROM log WHERE time < ? ORDER BY time LIMIT ?)`,
			rowCut, pruneChunk)
		if err != nil {
			return rows, counters, fmt.Errorf("pruning query log rows: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return rows, counters, fmt.Errorf("pruning query log rows: %w", err)
		}
		rows += int(n)
		if n < pruneChunk {
			break
		}
	}
	legacyRows, err := w.pruneLegacy(ctx, rowCut)
	if err != nil {
		return rows, counters, err
	}
	rows += legacyRows

	// An hour's counter goes once the whole hour is older than the cut.
	counterCut := now.Add(-w.cfg.CounterRetention).Unix()
	res, err := w.db.ExecContext(ctx, `DELETE FROM counters WHERE hour + 3600 <= ?`, counterCut)
	if err != nil {
		return rows, counters, fmt.Errorf("pruning query log counters: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return rows, counters, fmt.Errorf("pruning query log counters: %w", err)
	}
	counters = int(n)
	// A day's counts go with its last hour.
	if _, err := w.db.ExecContext(ctx, `DELETE FROM daily WHERE day + 86400 <= ?`, counterCut); err != nil {
		return rows, counters, fmt.Errorf("pruning query log daily counters: %w", err)
	}

	if rows > 0 {
		if err := w.pruneRefs(ctx, rowCut); err != nil {
			return rows, counters, err
		}
	}
	return rows, counters, nil
}

// spanIDs is, by span kind, the ids a kind's spans may hold, for
// pruneRefs: with the kind, a PRIMARY KEY prefix of spans, each id is a
// seek, and a prune costs a seek per name, not a scan of spans.
var spanIDs = []struct {
	kind   int
	ids    string
	column string
}{
	{spanDevice, `SELECT id FROM strs`, "device"},
	{spanName, `SELECT id FROM names`, "name_id"},
	{spanAction, `VALUES (1), (2), (3), (4)`, "action"},
}

// pruneSpansSQL returns the statements that delete kind's spans of the
// buckets before a bucket (argument: the bucket), and those of the
// bucket whose ids its rows in a range no longer have (arguments: the
// bucket, the range's first and end rowid).
func pruneSpansSQL(kind int) (before, edge string) {
	for _, k := range spanIDs {
		if k.kind != kind {
			continue
		}
		before = `DELETE FROM spans WHERE kind = ` + strconv.Itoa(kind) + ` AND id IN (` + k.ids + `) AND bucket < ?`
		edge = `DELETE FROM spans WHERE kind = ` + strconv.Itoa(kind) + ` AND id IN (` + k.ids + `) AND bucket = ?
			AND id NOT IN (SELECT ` + k.column + ` FROM log WHERE time >= ? AND time < ?)`
	}
	return before, edge
}

// pruneNamesSQL deletes the names no span refers to (Prune adds a
// condition for version 1 rows). Kind 1 is spanName.
const pruneNamesSQL = `DELETE FROM names WHERE NOT EXISTS
	(SELECT 1 FROM spans WHERE kind = 1 AND id = names.id)`

// pruneRefs deletes the spans of the buckets Prune emptied (the rows
// before cut, Unix microseconds) and then the names no span refers to: a
// name's spans are its rows' buckets, so this needs no index on the
// rows' names. The bucket cut falls in keeps the spans of the ids its
// remaining rows have (one bucket's scan). It holds wmu so that no batch
// is using a cached id of a name it deletes, and empties the caches.
func (w *Writer) pruneRefs(ctx context.Context, cut int64) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.wconn == nil {
		return ErrClosed
	}
	// Held rows may use names added in the open transaction: insert and
	// commit them first.
	if err := w.commitLocked(ctx); err != nil {
		return err
	}
	clear(w.wconn.names)
	clear(w.wconn.seen)
	cb := cut >> bucketShift
	for _, k := range spanIDs {
		before, edge := pruneSpansSQL(k.kind)
		if _, err := w.wconn.conn.ExecContext(ctx, before, cb); err != nil {
			return fmt.Errorf("pruning query log spans: %w", err)
		}
		if _, err := w.wconn.conn.ExecContext(ctx, edge, cb, cb<<bucketShift, (cb+1)<<bucketShift); err != nil {
			return fmt.Errorf("pruning query log spans: %w", err)
		}
	}
	q := pruneNamesSQL
	if w.wconn.legacy {
		q += ` AND NOT EXISTS (SELECT 1 FROM ` + legacyTable + ` r WHERE r.name_id = names.id)`
	}
	if _, err := w.wconn.conn.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("pruning query log names: %w", err)
	}
	return nil
}

// pruneLegacy deletes the version 1 rows older than cut (Unix
// microseconds) that are still waiting to be moved. It holds wmu, under
// which the move drops the table.
func (w *Writer) pruneLegacy(ctx context.Context, cut int64) (int, error) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.wconn == nil {
		return 0, ErrClosed
	}
	if !w.wconn.legacy {
		return 0, nil
	}
	res, err := w.wconn.conn.ExecContext(ctx, `DELETE FROM `+legacyTable+` WHERE time < ?`, cut)
	if err != nil {
		return 0, fmt.Errorf("pruning version 1 query log rows: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("pruning version 1 query log rows: %w", err)
	}
	return int(n), nil
}

func (w *Writer) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// Search limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Query selects raw rows for Search. Zero fields do not filter.
type Query struct {
	// Device is a device id.
	Device string
	// Devices, when not nil, keeps the rows of these devices only: an
	// empty, non-nil list keeps none (a household without devices).
	Devices []string
	// Name matches names containing it, ignoring ASCII case.
	Name string
	// Action is an action label: "allowed", "blocked", "rewritten",
	// "nxdomain" or "nodata".
	Action string
	// Since and Until bound the query time: Since <= time < Until, to
	// the microsecond.
	Since, Until time.Time
	// Limit is how many rows to return: 0 means DefaultLimit, more than
	// MaxLimit means MaxLimit.
	Limit int
	// Before returns only the rows older than the row with this ID: pass
	// the last ID of a page to get the next one.
	Before int64
}

// Row is one stored query, in the form the API returns.
type Row struct {
	// ID identifies the row and orders the rows: it is the stored time in
	// Unix microseconds. Use it as Query.Before to page.
	ID int64 `json:"id"`
	// Time is Entry.Time to the microsecond; queries of one microsecond
	// are spread over the following ones to keep times unique.
	Time   time.Time `json:"time"`
	Client string    `json:"client,omitempty"`
	Device string    `json:"device,omitempty"`
	// Profile is the profile applied.
	Profile string `json:"profile,omitempty"`
	// Name is lower-case, without the trailing dot.
	Name string `json:"name"`
	// QType and Rcode are mnemonics ("AAAA", "NXDOMAIN"), or "TYPE65534"
	// and "RCODE23" for the ones without one.
	QType  string `json:"qtype"`
	Rcode  string `json:"rcode"`
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	Tag    string `json:"tag,omitempty"`
	// Text is the explanation parents read.
	Text       string `json:"text,omitempty"`
	Cached     bool   `json:"cached"`
	Transport  string `json:"transport,omitempty"`
	DurationUS uint32 `json:"duration_us"`
	// Count is how many identical queries the row stands for: the same
	// device asking the same name the same way within one second, with
	// the same answer, is stored once (Time and DurationUS are the
	// first's). At full load most queries are such repeats, and one row
	// with a count is what lets the writer keep up.
	Count int64 `json:"count"`
}

// Search returns the rows q selects, newest first. While a version 1
// file is being upgraded (see legacyTable), its rows appear as they are
// moved, newest first.
//
// A search for a device, a name or an action reads the buckets that hold
// it from spans, newest first, searchWindow at a time, and scans the
// rowid ranges of those buckets (consecutive buckets as one range),
// newest first, until it has its rows; any other search scans one rowid
// range. No search reads a row outside the buckets of its filter.
func (w *Writer) Search(ctx context.Context, q Query) ([]Row, error) {
	if w.isClosed() {
		return nil, ErrClosed
	}
	// The ids of the names that match, read once rather than by each of
	// the statements below (a scan of names each).
	var nameIDs []int64
	if q.Name != "" {
		var err error
		if nameIDs, err = w.matchNames(ctx, q.Name); err != nil {
			return nil, err
		}
	}
	p, err := searchSQL(q, nameIDs)
	if err != nil {
		return nil, err
	}
	res := searchResult{rows: make([]Row, 0, min(p.limit, 64)), ids: map[int64]string{0: ""}}
	if p.none {
		return res.rows, nil
	}
	if p.buckets == "" {
		if err := res.scan(ctx, w.db, p, p.lo, p.hi); err != nil {
			return nil, err
		}
	} else {
		// One connection for the bucket and the row queries.
		conn, err := w.db.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("searching query log: %w", err)
		}
		defer conn.Close()
		if err := res.scanBuckets(ctx, conn, p); err != nil {
			return nil, err
		}
	}
	if err := w.resolveStrs(ctx, res.ids); err != nil {
		return nil, err
	}
	for i := range res.rows {
		r, ref := &res.rows[i], res.refs[i]
		r.Profile, r.Reason, r.Tag, r.Transport = res.ids[ref.profile], res.ids[ref.reason], res.ids[ref.tag], res.ids[ref.transport]
	}
	return res.rows, nil
}

// maxNameIDs is how many matching names' ids Search passes as values;
// past it the statements select them from names themselves.
const maxNameIDs = 500

// matchNames returns the ids of the names containing name (ignoring
// ASCII case), or nil when more than maxNameIDs do; an empty, non-nil
// list when none do.
func (w *Writer) matchNames(ctx context.Context, name string) ([]int64, error) {
	rs, err := w.db.QueryContext(ctx, `SELECT id FROM names WHERE name LIKE ? ESCAPE '\' LIMIT ?`,
		likePattern(name), maxNameIDs+1)
	if err != nil {
		return nil, fmt.Errorf("searching query log: %w", err)
	}
	defer rs.Close()
	ids := []int64{}
	for rs.Next() {
		var id int64
		if err := rs.Scan(&id); err != nil {
			return nil, fmt.Errorf("searching query log: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("searching query log: %w", err)
	}
	if len(ids) > maxNameIDs {
		return nil, nil
	}
	return ids, nil
}

// likePattern is the LIKE pattern of the names containing name.
func likePattern(name string) string {
	return "%" + escapeLike(strings.ToLower(name)) + "%"
}

// searchWindow is how many buckets Search reads from spans at a time.
const searchWindow = 256

// querier is what Search's queries run on: the pool or one connection.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// searchResult is what Search has read so far.
type searchResult struct {
	rows []Row
	// The ids of the strings in the records, resolved in one query after.
	refs []strRefs
	ids  map[int64]string
}

type strRefs struct{ profile, reason, tag, transport int64 }

// scanBuckets reads p's buckets newest first and scans their rows until
// it has p.limit rows.
func (res *searchResult) scanBuckets(ctx context.Context, db querier, p searchPlan) error {
	hiB, loB := (p.hi-1)>>bucketShift, p.lo>>bucketShift
	buckets := make([]int64, 0, searchWindow)
	for len(res.rows) < p.limit && hiB >= loB {
		args := append(append([]any{}, p.bucketArgs...), loB, hiB, searchWindow)
		rs, err := db.QueryContext(ctx, p.buckets, args...)
		if err != nil {
			return fmt.Errorf("searching query log: %w", err)
		}
		buckets = buckets[:0]
		for rs.Next() {
			var b int64
			if err := rs.Scan(&b); err != nil {
				rs.Close()
				return fmt.Errorf("searching query log: %w", err)
			}
			buckets = append(buckets, b)
		}
		if err := errors.Join(rs.Err(), rs.Close()); err != nil {
			return fmt.Errorf("searching query log: %w", err)
		}
		// Consecutive buckets are one range, newest first.
		for i := 0; i < len(buckets) && len(res.rows) < p.limit; {
			j := i + 1
			for j < len(buckets) && buckets[j] == buckets[j-1]-1 {
				j++
			}
			lo := max(p.lo, buckets[j-1]<<bucketShift)
			hi := min(p.hi, (buckets[i]+1)<<bucketShift)
			if err := res.scan(ctx, db, p, lo, hi); err != nil {
				return err
			}
			i = j
		}
		if len(buckets) < searchWindow {
			break
		}
		hiB = buckets[len(buckets)-1] - 1
	}
	return nil
}

// scan adds the rows of p in [lo, hi) (Unix microseconds), newest first,
// up to p.limit rows in all.
func (res *searchResult) scan(ctx context.Context, db querier, p searchPlan, lo, hi int64) error {
	if lo >= hi {
		return nil
	}
	args := append(append([]any{lo, hi}, p.args...), p.limit-len(res.rows))
	rs, err := db.QueryContext(ctx, p.rows, args...)
	if err != nil {
		return fmt.Errorf("searching query log: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var r Row
		var action int64
		var blob []byte
		if err := rs.Scan(&r.ID, &r.Device, &r.Name, &action, &blob); err != nil {
			return fmt.Errorf("searching query log: %w", err)
		}
		var x rec
		if err := x.decode(blob); err != nil {
			return fmt.Errorf("searching query log: row %d: %w", r.ID, err)
		}
		r.Time = time.UnixMicro(r.ID).UTC()
		if x.client.IsValid() {
			r.Client = x.client.String()
		}
		r.QType = qtypeString(x.qtype)
		r.Rcode = rcodeString(int(x.rcode))
		r.Action = codeLabel(action)
		r.Text = string(x.text)
		r.Cached = x.cached
		r.DurationUS = x.duration
		r.Count = x.count
		res.rows = append(res.rows, r)
		res.refs = append(res.refs, strRefs{x.profile, x.reason, x.tag, x.transport})
		for _, id := range []int64{x.profile, x.reason, x.tag, x.transport} {
			if _, ok := res.ids[id]; !ok {
				res.ids[id] = ""
			}
		}
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("searching query log: %w", err)
	}
	return nil
}

// resolveStrs fills in the strings of the strs ids that are ids' keys.
func (w *Writer) resolveStrs(ctx context.Context, ids map[int64]string) error {
	if len(ids) <= 1 {
		return nil
	}
	var sb strings.Builder
	args := make([]any, 0, len(ids))
	sb.WriteString(`SELECT id, s FROM strs WHERE id IN (`)
	for id := range ids {
		if id == 0 {
			continue
		}
		if len(args) > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('?')
		args = append(args, id)
	}
	sb.WriteByte(')')
	rs, err := w.db.QueryContext(ctx, sb.String(), args...)
	if err != nil {
		return fmt.Errorf("searching query log: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var id int64
		var s string
		if err := rs.Scan(&id, &s); err != nil {
			return fmt.Errorf("searching query log: %w", err)
		}
		ids[id] = s
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("searching query log: %w", err)
	}
	return nil
}

// searchPlan is how Search runs a Query.
type searchPlan struct {
	// rows selects the rows in a rowid range, newest first: its
	// arguments are the range's lo and hi, args, and how many rows.
	rows string
	args []any
	// buckets, when not empty, selects the buckets that hold the
	// filter's device, name or action, newest first: its arguments are
	// bucketArgs, the lowest and the highest bucket, and how many.
	buckets    string
	bucketArgs []any
	// lo and hi bound the rows' times: lo <= time < hi.
	lo, hi int64
	limit  int
	// none reports a search that matches nothing (an empty Devices).
	none bool
}

// searchSQL plans Search's statements for q. nameIDs, when not nil, are
// the ids of the names q.Name matches.
func searchSQL(q Query, nameIDs []int64) (searchPlan, error) {
	p := searchPlan{lo: math.MinInt64, hi: math.MaxInt64}
	// Each filter is a condition on the rows and, for spans, the ids of
	// its kind.
	type spanFilter struct {
		kind int
		in   string // "IN (...)" or "= ?" on spans.id
		args []any
	}
	var spanFilters []spanFilter
	var where []string
	if q.Device != "" {
		where = append(where, "l.device = (SELECT id FROM strs WHERE s = ?)")
		p.args = append(p.args, q.Device)
		spanFilters = append(spanFilters, spanFilter{spanDevice, "= (SELECT id FROM strs WHERE s = ?)", []any{q.Device}})
	}
	if q.Devices != nil {
		if len(q.Devices) == 0 {
			p.none = true
		}
		// The log keeps device ids as numbers of the strs table.
		in, a := deviceIn("s", q.Devices)
		where, p.args = append(where, "l.device IN (SELECT id FROM strs WHERE "+in+")"), append(p.args, a...)
		spanFilters = append(spanFilters, spanFilter{spanDevice, "IN (SELECT id FROM strs WHERE " + in + ")", a})
	}
	if q.Name != "" {
		names := `(SELECT id FROM names WHERE name LIKE ? ESCAPE '\')`
		args := []any{likePattern(q.Name)}
		if nameIDs != nil {
			if len(nameIDs) == 0 {
				p.none = true
			}
			names = "(" + strings.TrimPrefix(strings.Repeat(",?", len(nameIDs)), ",") + ")"
			args = args[:0]
			for _, id := range nameIDs {
				args = append(args, id)
			}
		}
		where = append(where, `l.name_id IN `+names)
		p.args = append(p.args, args...)
		// The name first: it is the rarest, and drives the search.
		spanFilters = append([]spanFilter{{spanName, "IN " + names, args}}, spanFilters...)
	}
	if q.Action != "" {
		code, ok := actionLabelCode(q.Action)
		if !ok {
			return p, fmt.Errorf("searching query log: unknown action %q", q.Action)
		}
		where = append(where, "l.action = ?")
		p.args = append(p.args, code)
		// Allowed rows, most of them, have no spans.
		if code != 0 {
			spanFilters = append(spanFilters, spanFilter{spanAction, "= ?", []any{code}})
		}
	}
	if !q.Since.IsZero() {
		p.lo = q.Since.UnixMicro()
	}
	if !q.Until.IsZero() {
		p.hi = q.Until.UnixMicro()
	}
	if q.Before != 0 {
		p.hi = min(p.hi, q.Before)
	}
	p.limit = q.Limit
	switch {
	case p.limit <= 0:
		p.limit = DefaultLimit
	case p.limit > MaxLimit:
		p.limit = MaxLimit
	}

	var sb strings.Builder
	sb.WriteString(`SELECT l.time, d.s, n.name, l.action, l.rec
		FROM log l JOIN names n ON n.id = l.name_id JOIN strs d ON d.id = l.device
		WHERE l.time >= ? AND l.time < ?`)
	for _, w := range where {
		sb.WriteString(" AND ")
		sb.WriteString(w)
	}
	sb.WriteString(" ORDER BY l.time DESC LIMIT ?")
	p.rows = sb.String()

	if len(spanFilters) > 0 {
		// The first filter's buckets that the others' spans hold too.
		f := spanFilters[0]
		var b strings.Builder
		fmt.Fprintf(&b, `SELECT DISTINCT s.bucket FROM spans s WHERE s.kind = %d AND s.id %s`, f.kind, f.in)
		p.bucketArgs = append(p.bucketArgs, f.args...)
		for _, g := range spanFilters[1:] {
			fmt.Fprintf(&b, ` AND EXISTS (SELECT 1 FROM spans t WHERE t.kind = %d AND t.id %s AND t.bucket = s.bucket)`, g.kind, g.in)
			p.bucketArgs = append(p.bucketArgs, g.args...)
		}
		b.WriteString(` AND s.bucket >= ? AND s.bucket <= ? ORDER BY s.bucket DESC LIMIT ?`)
		p.buckets = b.String()
	}
	return p, nil
}

// escapeLike escapes LIKE's wildcards so that s matches literally.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// CounterQuery selects hourly counters. Zero fields do not filter.
type CounterQuery struct {
	// Since and Until select the hours that overlap [Since, Until).
	Since, Until time.Time
	// Device is a device id.
	Device string
	// Devices, when not nil, keeps the counters of these devices only;
	// an empty, non-nil list keeps none.
	Devices []string
}

// deviceIn returns the condition that col is one of devices: false for
// none.
func deviceIn(col string, devices []string) (string, []any) {
	if len(devices) == 0 {
		return "0", nil
	}
	args := make([]any, len(devices))
	for i, d := range devices {
		args[i] = d
	}
	return col + " IN (?" + strings.Repeat(",?", len(devices)-1) + ")", args
}

// Counter is one device's queries in one hour, in total (Tag "") or for
// one tag.
type Counter struct {
	// Hour is when the hour starts (UTC).
	Hour   time.Time `json:"hour"`
	Device string    `json:"device"`
	// Tag is a category or service id, or "" for the device's totals.
	Tag     string `json:"tag,omitempty"`
	Queries int64  `json:"queries"`
	// Blocked counts the queries whose Action.Blocks() is true.
	Blocked int64 `json:"blocked"`
}

// hourRange turns [since, until) into the where clause and arguments
// selecting the counters of the hours that overlap it.
func hourRange(since, until time.Time) (string, []any) {
	var where []string
	var args []any
	if !since.IsZero() {
		where = append(where, "hour > ?")
		args = append(args, since.Unix()-3600)
	}
	if !until.IsZero() {
		where = append(where, "hour < ?")
		args = append(args, until.Unix())
	}
	if len(where) == 0 {
		return "1", nil
	}
	return strings.Join(where, " AND "), args
}

// Counters returns the hourly counters q selects, ordered by hour, device
// and tag. They outlive the raw rows (CounterRetention).
func (w *Writer) Counters(ctx context.Context, q CounterQuery) ([]Counter, error) {
	if w.isClosed() {
		return nil, ErrClosed
	}
	where, args := hourRange(q.Since, q.Until)
	if q.Device != "" {
		where += " AND device = ?"
		args = append(args, q.Device)
	}
	if q.Devices != nil {
		in, a := deviceIn("device", q.Devices)
		where += " AND " + in
		args = append(args, a...)
	}
	rs, err := w.db.QueryContext(ctx, `SELECT hour, device, tag, queries, blocked FROM counters
		WHERE `+where+` ORDER BY hour, device, tag`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading query log counters: %w", err)
	}
	defer rs.Close()
	var out []Counter
	for rs.Next() {
		var c Counter
		var hour int64
		if err := rs.Scan(&hour, &c.Device, &c.Tag, &c.Queries, &c.Blocked); err != nil {
			return nil, fmt.Errorf("reading query log counters: %w", err)
		}
		c.Hour = time.Unix(hour, 0).UTC()
		out = append(out, c)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("reading query log counters: %w", err)
	}
	return out, nil
}

// TopTags is how many tags Summary.TopBlocked lists.
const TopTags = 10

// Summary is the dashboard's view of a time range, computed from the
// hourly counters, so it still works after the raw rows expire.
type Summary struct {
	Queries int64 `json:"queries"`
	Blocked int64 `json:"blocked"`
	// TopBlocked are the TopTags tags with the most blocked queries, most
	// first.
	TopBlocked []TagCount `json:"top_blocked"`
	// Devices are the devices with queries, the busiest first.
	Devices []DeviceCount `json:"devices"`
}

// TagCount is how many queries a tag blocked.
type TagCount struct {
	Tag     string `json:"tag"`
	Blocked int64  `json:"blocked"`
}

// DeviceCount is one device's queries in a Summary.
type DeviceCount struct {
	Device  string `json:"device"`
	Queries int64  `json:"queries"`
	Blocked int64  `json:"blocked"`
}

// Summary totals the counters of the hours that overlap [since, until);
// zero times do not bound the range.
func (w *Writer) Summary(ctx context.Context, since, until time.Time) (Summary, error) {
	return w.SummaryOf(ctx, since, until, nil)
}

// SummaryOf is Summary of the devices listed alone when devices is not
// nil (none when it is empty): one household's dashboard.
func (w *Writer) SummaryOf(ctx context.Context, since, until time.Time, devices []string) (Summary, error) {
	if w.isClosed() {
		return Summary{}, ErrClosed
	}
	src, args := summarySource(since, until)
	if devices != nil {
		in, a := deviceIn("device", devices)
		src = `SELECT * FROM (` + src + `) WHERE ` + in
		args = append(args, a...)
	}
	s := Summary{TopBlocked: []TagCount{}, Devices: []DeviceCount{}}
	rs, err := w.db.QueryContext(ctx, `SELECT device, sum(queries), sum(blocked) FROM (`+src+`)
		WHERE tag = '' GROUP BY device ORDER BY sum(queries) DESC, device`, args...)
	if err != nil {
		return Summary{}, fmt.Errorf("summarising query log: %w", err)
	}
	for rs.Next() {
		var d DeviceCount
		if err := rs.Scan(&d.Device, &d.Queries, &d.Blocked); err != nil {
			rs.Close()
			return Summary{}, fmt.Errorf("summarising query log: %w", err)
		}
		s.Devices = append(s.Devices, d)
		s.Queries += d.Queries
		s.Blocked += d.Blocked
	}
	if err := rs.Err(); err != nil {
		rs.Close()
		return Summary{}, fmt.Errorf("summarising query log: %w", err)
	}
	rs.Close()

	rs, err = w.db.QueryContext(ctx, `SELECT tag, sum(blocked) AS b FROM (`+src+`)
		WHERE tag <> '' GROUP BY tag HAVING b > 0 ORDER BY b DESC, tag LIMIT `+
		strconv.Itoa(TopTags), args...)
	if err != nil {
		return Summary{}, fmt.Errorf("summarising query log: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var t TagCount
		if err := rs.Scan(&t.Tag, &t.Blocked); err != nil {
			return Summary{}, fmt.Errorf("summarising query log: %w", err)
		}
		s.TopBlocked = append(s.TopBlocked, t)
	}
	if err := rs.Err(); err != nil {
		return Summary{}, fmt.Errorf("summarising query log: %w", err)
	}
	return s, nil
}

// summarySource returns a query of the (device, tag, queries, blocked)
// counts of the hours that overlap [since, until): the daily counters for
// the whole UTC days inside the range, the hourly ones for its edges, so
// that a month reads a day's row where it would read 24 hours'.
func summarySource(since, until time.Time) (string, []any) {
	const cols = `SELECT device, tag, queries, blocked FROM `
	if since.IsZero() || until.IsZero() {
		where, args := hourRange(since, until)
		return cols + `counters WHERE ` + where, args
	}
	first := since.Unix()
	if r := first % 86400; r != 0 {
		first += 86400 - r
	}
	last := until.Unix() - until.Unix()%86400
	if first >= last {
		where, args := hourRange(since, until)
		return cols + `counters WHERE ` + where, args
	}
	parts := []string{cols + `daily WHERE day >= ? AND day < ?`}
	args := []any{first, last}
	if since.Unix() < first {
		where, a := hourRange(since, time.Unix(first, 0))
		parts = append(parts, cols+`counters WHERE `+where)
		args = append(args, a...)
	}
	if until.Unix() > last {
		where, a := hourRange(time.Unix(last, 0), until)
		parts = append(parts, cols+`counters WHERE `+where)
		args = append(args, a...)
	}
	return strings.Join(parts, " UNION ALL "), args
}

// qtypeString returns the type's mnemonic, or RFC 3597's TYPEn.
func qtypeString(t uint16) string {
	switch t {
	case 1:
		return "A"
	case 2:
		return "NS"
	case 5:
		return "CNAME"
	case 6:
		return "SOA"
	case 12:
		return "PTR"
	case 13:
		return "HINFO"
	case 15:
		return "MX"
	case 16:
		return "TXT"
	case 28:
		return "AAAA"
	case 33:
		return "SRV"
	case 35:
		return "NAPTR"
	case 43:
		return "DS"
	case 46:
		return "RRSIG"
	case 47:
		return "NSEC"
	case 48:
		return "DNSKEY"
	case 50:
		return "NSEC3"
	case 52:
		return "TLSA"
	case 64:
		return "SVCB"
	case 65:
		return "HTTPS"
	case 99:
		return "SPF"
	case 252:
		return "AXFR"
	case 255:
		return "ANY"
	case 257:
		return "CAA"
	}
	return "TYPE" + strconv.Itoa(int(t))
}

var rcodeNames = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}

// rcodeString returns the rcode's mnemonic, or RCODEn.
func rcodeString(r int) string {
	if r >= 0 && r < len(rcodeNames) {
		return rcodeNames[r]
	}
	return "RCODE" + strconv.Itoa(r)
}
