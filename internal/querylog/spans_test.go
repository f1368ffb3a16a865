package querylog

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// checkSpans fails unless spans holds exactly one row per distinct
// device, name and action other than allowed of each bucket of log.
func checkSpans(t *testing.T, w *Writer) {
	t.Helper()
	read := func(q string) []string {
		rs, err := w.db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		var out []string
		for rs.Next() {
			var k, id, b int64
			if err := rs.Scan(&k, &id, &b); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(k, id, b))
		}
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	got := read(`SELECT kind, id, bucket FROM spans`)
	want := read(fmt.Sprintf(`SELECT DISTINCT %[1]d, device, time >> %[4]d FROM log
		UNION SELECT DISTINCT %[2]d, name_id, time >> %[4]d FROM log
		UNION SELECT DISTINCT %[3]d, action, time >> %[4]d FROM log WHERE action <> 0`,
		spanDevice, spanName, spanAction, bucketShift))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("spans (kind id bucket) = %q,\nwant from log %q", got, want)
	}
}

// TestSearchThroughBuckets logs rows one bucket and a bit apart (so each
// is a bucket of its own), more buckets than Search reads at a time, two
// names that one substring matches and two devices interleaved, and
// checks every filtered search and its pages against the rows in time
// order: the buckets of several names are merged newest first.
func TestSearchThroughBuckets(t *testing.T) {
	w := newWriter(t, Config{Now: func() time.Time { return t0.Add(1000 * time.Hour) }})
	const n = 3*searchWindow + 10
	gap := time.Duration(1<<bucketShift)*time.Microsecond + 3*time.Second
	var all []q
	for i := range n {
		x := q{t0.Add(time.Duration(i) * gap), "tablet", "a.example", ActionAllowed, ""}
		if i%3 == 1 {
			x.name = "b.example"
		}
		if i%2 == 1 {
			x.device = "phone"
		}
		if i%5 == 0 {
			x.action, x.tag = ActionBlocked, "ads"
		}
		// A name only the last bucket of a window holds.
		if i == searchWindow {
			x.name = "rare.example"
		}
		all = append(all, x)
	}
	logAll(w, all)
	flush(t, w)
	checkSpans(t, w)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		q    Query
		keep func(q) bool
	}{
		{"two names", Query{Name: ".example"}, func(q) bool { return true }},
		{"one name", Query{Name: "b.ex"}, func(x q) bool { return x.name == "b.example" }},
		{"rare name", Query{Name: "RARE"}, func(x q) bool { return x.name == "rare.example" }},
		{"device", Query{Device: "phone"}, func(x q) bool { return x.device == "phone" }},
		{"devices", Query{Devices: []string{"phone", "tv"}}, func(x q) bool { return x.device == "phone" }},
		{"blocked", Query{Action: "blocked"}, func(x q) bool { return x.action == ActionBlocked }},
		{"allowed", Query{Action: "allowed"}, func(x q) bool { return x.action == ActionAllowed }},
		{"name on a device", Query{Name: "a.ex", Device: "tablet"},
			func(x q) bool { return x.name == "a.example" && x.device == "tablet" }},
		{"name, device and action", Query{Name: "b.ex", Device: "phone", Action: "blocked"},
			func(x q) bool { return x.name == "b.example" && x.device == "phone" && x.action == ActionBlocked }},
		{"range", Query{Name: "a.ex", Since: t0.Add(100 * gap), Until: t0.Add(600*gap + time.Second)},
			func(x q) bool {
				return x.name == "a.example" && !x.at.Before(t0.Add(100*gap)) && x.at.Before(t0.Add(600*gap+time.Second))
			}},
		{"unknown name", Query{Name: "nowhere"}, func(q) bool { return false }},
		{"unknown device", Query{Device: "tv"}, func(q) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []int64
			for i := len(all) - 1; i >= 0; i-- {
				if tc.keep(all[i]) {
					want = append(want, all[i].at.UnixMicro())
				}
			}
			// All at once, then in pages of 7.
			query := tc.q
			query.Limit = MaxLimit
			rows, err := w.Search(ctx, query)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(rows); !reflect.DeepEqual(got, want) {
				t.Errorf("Search = %d rows %v,\nwant %d rows %v", len(got), got, len(want), want)
			}
			var paged []int64
			query.Limit = 7
			for {
				rows, err := w.Search(ctx, query)
				if err != nil {
					t.Fatal(err)
				}
				paged = append(paged, ids(rows)...)
				if len(rows) < query.Limit {
					break
				}
				query.Before = rows[len(rows)-1].ID
			}
			if !reflect.DeepEqual(paged, want) {
				t.Errorf("pages = %v,\nwant %v", paged, want)
			}
		})
	}
}

func ids(rows []Row) []int64 {
	out := []int64{}
	for _, r := range rows {
		out = append(out, r.ID)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// TestSpansOncePerBucket logs many rows of a few devices and names into
// one bucket: the writer adds their spans rows once, in a few
// statements, not a statement per row.
func TestSpansOncePerBucket(t *testing.T) {
	w := newWriter(t, Config{})
	base := t0.Truncate(time.Duration(1<<bucketShift) * time.Microsecond)
	var qs []q
	for i := range 2000 {
		x := q{base.Add(time.Duration(i) * time.Millisecond), "tablet", fmt.Sprintf("n%d.example", i%20), ActionAllowed, ""}
		if i%2 == 0 {
			x.device, x.action, x.tag = "phone", ActionBlocked, "ads"
		}
		qs = append(qs, x)
	}
	logAll(w, qs)
	flush(t, w)
	checkSpans(t, w)
	var n int
	if err := w.db.QueryRow(`SELECT count(*) FROM spans`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2+20+1 {
		t.Errorf("%d spans rows, want 2 devices + 20 names + 1 action", n)
	}
	// 23 spans: a statement of spansPerInsert, padded.
	if w.wconn.spanStmts > 2 {
		t.Errorf("%d spans statements for 2,000 rows, want at most 2", w.wconn.spanStmts)
	}
}

// TestPruneTrimsSpans prunes with the cut inside a bucket: the spans of
// the buckets before it go, the cut's bucket keeps the spans of its
// remaining rows only, and a name whose rows all went is deleted without
// an index on the rows' names.
func TestPruneTrimsSpans(t *testing.T) {
	ctx := context.Background()
	width := time.Duration(1<<bucketShift) * time.Microsecond
	base := t0.Truncate(width)
	w := newWriter(t, Config{Retention: time.Hour})
	cut := base.Add(width / 2)
	logAll(w, []q{
		{base.Add(-3 * width), "tablet", "gone.example", ActionBlocked, "ads"},
		{base.Add(time.Second), "phone", "early.example", ActionAllowed, ""},  // the cut's bucket, before it
		{cut.Add(-time.Microsecond), "tv", "kept.example", ActionAllowed, ""}, // before it too
		{cut, "tablet", "kept.example", ActionAllowed, ""},
		{cut.Add(time.Second), "tv", "late.example", ActionNXDomain, ""},
	})
	flush(t, w)
	checkSpans(t, w)
	rows, _, err := w.Prune(ctx, cut.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rows != 3 {
		t.Errorf("pruned %d rows, want 3", rows)
	}
	checkSpans(t, w)
	var left []string
	rs, err := w.db.Query(`SELECT name FROM names ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			t.Fatal(err)
		}
		left = append(left, s)
	}
	rs.Close()
	if want := []string{"kept.example", "late.example"}; !reflect.DeepEqual(left, want) {
		t.Errorf("names after prune = %q, want %q", left, want)
	}
	// A pruned device and name come back in the bucket they left.
	logAll(w, []q{{cut.Add(2 * time.Second), "phone", "early.example", ActionAllowed, ""}})
	flush(t, w)
	checkSpans(t, w)
	got, err := w.Search(ctx, Query{Device: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(names(got), []string{"early.example"}) {
		t.Errorf("phone's rows = %q", names(got))
	}
}

// schema2 is the DDL of schema version 2 (Hearth before schema 3), for
// TestUpgradeV2.
var schema2 = []string{
	`CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`,
	`CREATE TABLE strs (id INTEGER PRIMARY KEY, s TEXT NOT NULL UNIQUE)`,
	`INSERT INTO strs (id, s) VALUES (0, '')`,
	`CREATE TABLE log (
		time    INTEGER PRIMARY KEY,
		device  INTEGER NOT NULL,
		name_id INTEGER NOT NULL,
		action  INTEGER NOT NULL,
		rec     BLOB NOT NULL
	)`,
	`CREATE INDEX log_device ON log(device)`,
	`CREATE INDEX log_name ON log(name_id)`,
	`CREATE INDEX log_action ON log(action) WHERE action <> 0`,
	`CREATE TABLE counters (hour INTEGER NOT NULL, device TEXT NOT NULL, tag TEXT NOT NULL,
		queries INTEGER NOT NULL, blocked INTEGER NOT NULL, PRIMARY KEY (hour, device, tag)) WITHOUT ROWID`,
	`CREATE TABLE daily (day INTEGER NOT NULL, device TEXT NOT NULL, tag TEXT NOT NULL,
		queries INTEGER NOT NULL, blocked INTEGER NOT NULL, PRIMARY KEY (day, device, tag)) WITHOUT ROWID`,
	`PRAGMA user_version = 2`,
}

// v2File writes a version 2 log with the old DDL: rows rows, one every
// 100 ms from t0, of the devices tablet and phone, names n<i%50>.example,
// every fourth blocked. It returns the file's path.
func v2File(t *testing.T, rows int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "querylog.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, stmt := range schema2 {
		if _, err := tx.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	for _, s := range []string{`INSERT INTO strs (id, s) VALUES (1, 'tablet'), (2, 'phone'), (3, 'kid'), (4, 'udp')`} {
		if _, err := tx.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		if _, err := tx.Exec(`INSERT INTO names (id, name) VALUES (?, ?)`, i+1, fmt.Sprintf("n%d.example", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range rows {
		r := rec{device: int64(1 + i%2), profile: 3, transport: 4, qtype: 1, count: 1, text: []byte("allowed")}
		action := int64(0)
		if i%4 == 0 {
			action = 1
		}
		if _, err := tx.Exec(`INSERT INTO log (time, device, name_id, action, rec) VALUES (?, ?, ?, ?, ?)`,
			t0.Add(time.Duration(i)*100*time.Millisecond).UnixMicro(), r.device, 1+i%50, action, r.append(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUpgradeV2 opens a version 2 log: it becomes version 3 in place,
// without the per-row indexes, with spans for every row, and every
// search finds the old rows as the old indexes did.
func TestUpgradeV2(t *testing.T) {
	ctx := context.Background()
	const rows = 2000 // 200 s: about 48 buckets
	path := v2File(t, rows)
	w := newWriter(t, Config{Path: path, Now: func() time.Time { return t0.Add(time.Hour) }})
	var v int
	if err := w.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Errorf("user_version %d (%v), want %d", v, err, schemaVersion)
	}
	var indexes []string
	rs, err := w.db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'log'`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			t.Fatal(err)
		}
		indexes = append(indexes, s)
	}
	rs.Close()
	if len(indexes) != 0 {
		t.Errorf("indexes on log after the upgrade: %q, want none", indexes)
	}
	checkSpans(t, w)
	for _, tc := range []struct {
		q    Query
		want int
	}{
		{Query{Limit: MaxLimit}, MaxLimit},
		{Query{Device: "phone", Limit: MaxLimit}, rows / 2},
		{Query{Action: "blocked", Limit: MaxLimit}, rows / 4},
		{Query{Name: "n7.example", Limit: MaxLimit}, rows / 50},
		{Query{Name: "n7.", Device: "phone", Limit: MaxLimit}, rows / 50},
		{Query{Name: "n8.", Device: "tablet", Action: "blocked", Limit: MaxLimit}, rows / 100},
	} {
		got, err := w.Search(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want {
			t.Errorf("Search(%+v) = %d rows, want %d", tc.q, len(got), tc.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].ID >= got[i-1].ID {
				t.Fatalf("Search(%+v): row %d not older than the one before", tc.q, i)
			}
		}
		for _, r := range got {
			if tc.q.Name != "" && !strings.Contains(r.Name, strings.ToLower(tc.q.Name)) ||
				tc.q.Device != "" && r.Device != tc.q.Device {
				t.Fatalf("Search(%+v) returned %+v", tc.q, r)
			}
		}
	}
	// New rows join the old ones, and the file reopens as version 3.
	logAll(w, []q{{t0.Add(rows * 100 * time.Millisecond), "phone", "n7.example", ActionAllowed, ""}})
	flush(t, w)
	checkSpans(t, w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = newWriter(t, Config{Path: path})
	got, err := w.Search(ctx, Query{Name: "n7.example", Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != rows/50+1 {
		t.Errorf("after reopening: %d rows of n7.example, want %d", len(got), rows/50+1)
	}
}
