package querylog

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/synctest"
	"time"
)

// v1File writes testdata/querylog-v1.sql, a version 1 log, into a new
// file and returns its path.
func v1File(t *testing.T) string {
	t.Helper()
	script, err := os.ReadFile("testdata/querylog-v1.sql")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "querylog.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(string(script)); err != nil {
		t.Fatalf("loading the version 1 log: %v", err)
	}
	return path
}

func tableExists(t *testing.T, w *Writer, name string) bool {
	t.Helper()
	var n int
	if err := w.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestMigrateV1 opens a version 1 log: the server starts at once, new rows
// are written beside the old ones, the writer goroutine moves the old rows
// in the background with every field intact, and the counters carry on.
func TestMigrateV1(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		w := newWriter(t, Config{Path: v1File(t)})
		logAll(w, []q{{t0, "tablet", "new.example", ActionAllowed, ""}})
		flush(t, w)
		// Before the move only the new row is searched; the counters of
		// both are there.
		rows, err := w.Search(ctx, Query{})
		if err != nil {
			t.Fatal(err)
		}
		if got := names(rows); !reflect.DeepEqual(got, []string{"new.example"}) {
			t.Errorf("before the move: rows %q, want the new one", got)
		}
		sum, err := w.Summary(ctx, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Queries != 2+1 || len(sum.TopBlocked) != 1 || sum.TopBlocked[0].Blocked != 3 {
			t.Errorf("summary before the move: %+v, want the old counters' 2 queries + 1 new, 3 gambling blocks", sum)
		}

		w.Start(ctx)
		synctest.Wait()
		if tableExists(t, w, legacyTable) {
			t.Fatal("version 1 table still there after the writer goroutine ran")
		}
		var n int
		if err := w.db.QueryRow(`SELECT count(*) FROM log`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 10_005 {
			t.Errorf("%d rows after the move, want 10,004 old + 1 new", n)
		}
		// The moved rows have their spans, and the file is version 3.
		checkSpans(t, w)
		var v int
		if err := w.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
			t.Errorf("user_version %d (%v), want %d", v, err, schemaVersion)
		}
		rows, err = w.Search(ctx, Query{Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		want := []Row{
			{ID: t0.UnixMicro(), Time: t0, Client: "192.168.1.20", Device: "tablet", Profile: "kid",
				Name: "new.example", QType: "A", Rcode: "NOERROR", Action: "allowed", Reason: "none",
				Transport: "udp", DurationUS: 42, Count: 1},
			{ID: 1772445000000004, Name: "old.example", QType: "A", Rcode: "SERVFAIL", Action: "nxdomain",
				Reason: "canary", Count: 1},
			{ID: 1772445000000003, Device: "tablet", Profile: "kid", Name: "search.example", QType: "HTTPS",
				Rcode: "NXDOMAIN", Action: "rewritten", Reason: "safe-search", Tag: "search", Transport: "tcp",
				DurationUS: 55, Count: 1},
			{ID: 1772445000000002, Client: "2001:db8:1::", Device: "laptop", Profile: "teen", Name: "casino.example",
				QType: "A", Rcode: "NOERROR", Action: "blocked", Reason: "tag", Tag: "gambling",
				Text: "blocked: category=gambling rule=casino.example profile=teen", Transport: "doh", DurationUS: 7, Count: 3},
			{ID: 1772445000000001, Client: "192.168.1.0", Device: "tablet", Profile: "kid", Name: "old.example",
				QType: "AAAA", Rcode: "NOERROR", Action: "allowed", Reason: "none", Text: "allowed: no-rule",
				Cached: true, Transport: "udp", DurationUS: 120, Count: 1},
		}
		for i := range want {
			want[i].Time = time.UnixMicro(want[i].ID).UTC()
		}
		if !reflect.DeepEqual(rows, want) {
			t.Errorf("rows after the move:\n got %+v\nwant %+v", rows, want)
		}
		// The moved rows are found by the indexed filters.
		for _, tc := range []struct {
			q    Query
			want int
		}{
			{Query{Device: "phone", Limit: MaxLimit}, MaxLimit},
			{Query{Device: "laptop"}, 1},
			{Query{Action: "blocked", Limit: MaxLimit}, MaxLimit},
			{Query{Action: "nxdomain"}, 1},
			{Query{Name: "CASINO"}, 1},
			{Query{Name: "bulk", Since: t0.Add(-4200 * time.Second), Until: t0.Add(-4200*time.Second + 101*time.Microsecond)}, 100},
		} {
			rows, err := w.Search(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tc.want {
				t.Errorf("Search(%+v) = %d rows, want %d", tc.q, len(rows), tc.want)
			}
		}
	})
}

// TestPruneKeepsV1Names prunes a version 1 log before its rows are moved:
// old rows expire from the old table, and the names its remaining rows
// use are kept, so that the move finds them.
func TestPruneKeepsV1Names(t *testing.T) {
	ctx := context.Background()
	// The cut is 09:30: the bulk rows (08:50) expire, the others (09:50)
	// stay.
	w := newWriter(t, Config{Path: v1File(t), Retention: 90 * time.Minute})
	rows, _, err := w.Prune(ctx, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rows != 10_000 {
		t.Errorf("pruned %d rows, want the 10,000 bulk ones", rows)
	}
	var left []string
	rs, err := w.db.Query(`SELECT name FROM names ORDER BY id`)
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
	if want := []string{"old.example", "casino.example", "search.example"}; !reflect.DeepEqual(left, want) {
		t.Errorf("names after prune = %q, want %q", left, want)
	}
	for more := true; more; {
		if more, err = w.migrateStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got, err := w.Search(ctx, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"old.example", "search.example", "casino.example", "old.example"}; !reflect.DeepEqual(names(got), want) {
		t.Errorf("rows after the move = %q, want %q", names(got), want)
	}
}

// TestReopenAfterMigration checks that a moved log opens as version 3.
func TestReopenAfterMigration(t *testing.T) {
	ctx := context.Background()
	path := v1File(t)
	w, err := New(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for more := true; more; {
		if more, err = w.migrateStep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = newWriter(t, Config{Path: path})
	if w.hasLegacy() {
		t.Error("reopened log still has version 1 rows to move")
	}
	var v int
	if err := w.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Errorf("user_version %d (%v), want %d", v, err, schemaVersion)
	}
}
