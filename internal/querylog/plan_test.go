package querylog

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSearchUsesIndexes checks the plans SQLite makes for Search: every
// search reads its rows as one rowid range, newest first, so it stops at
// its limit without sorting; a search for a device, a name or an action
// reads that one's buckets from spans's key, newest first, and scans only
// their ranges. No plan scans log or spans whole.
func TestSearchUsesIndexes(t *testing.T) {
	w := newWriter(t, Config{})
	entries := benchEntries(5000, 500)
	for i := range entries {
		w.Log(&entries[i])
	}
	flush(t, w)

	const rows = "SEARCH l USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"
	const spans = "SEARCH s USING PRIMARY KEY (kind=? AND id=? AND bucket>? AND bucket<?)"
	const also = "SEARCH t EXISTS USING PRIMARY KEY (kind=? AND id=? AND bucket=?)"
	tests := []struct {
		name    string
		q       Query
		nameIDs []int64
		// wantBuckets are substrings of the bucket query's plan, empty
		// when the search reads no buckets.
		wantBuckets []string
		// bucketsMayNotBe is what the bucket query's plan must lack: a
		// temporary B-tree there sorts the buckets of several ids, not
		// rows.
		bucketsMayNotBe string
	}{
		{"newest", Query{}, nil, nil, ""},
		{"range", Query{Since: t0, Until: t0.Add(time.Hour)}, nil, nil, ""},
		{"page", Query{Before: t0.UnixMicro()}, nil, nil, ""},
		{"allowed", Query{Action: "allowed"}, nil, nil, ""},
		{"device", Query{Device: "device-1"}, nil, []string{spans}, "TEMP B-TREE"},
		{"device and range", Query{Device: "device-1", Since: t0, Until: t0.Add(time.Hour)}, nil, []string{spans}, "TEMP B-TREE"},
		{"devices", Query{Devices: []string{"device-1", "device-2"}}, nil, []string{spans}, ""},
		{"blocked", Query{Action: "blocked"}, nil, []string{spans}, "TEMP B-TREE"},
		// Several names may match; their buckets are merged.
		{"name", Query{Name: "host12"}, nil, []string{"SCAN names", spans}, ""},
		{"name, ids read", Query{Name: "host12"}, []int64{13, 121, 122}, []string{spans}, ""},
		{"name on a device, blocked", Query{Name: "host12", Device: "device-1", Action: "blocked"}, nil,
			[]string{"SCAN names", spans, also}, ""},
		{"name on a device, ids read", Query{Name: "host12", Device: "device-1"}, []int64{13}, []string{spans, also}, "TEMP B-TREE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := searchSQL(tc.q, tc.nameIDs)
			if err != nil {
				t.Fatal(err)
			}
			plan := explain(t, w, p.rows, append(append([]any{p.lo, p.hi}, p.args...), p.limit)...)
			if !strings.Contains(plan, rows) {
				t.Errorf("rows plan lacks %q:\n%s", rows, plan)
			}
			for _, bad := range []string{"SCAN l", "TEMP B-TREE"} {
				if strings.Contains(plan, bad) {
					t.Errorf("rows plan has %q:\n%s", bad, plan)
				}
			}
			if (p.buckets != "") != (tc.wantBuckets != nil) {
				t.Fatalf("bucket query %q, want one: %t", p.buckets, tc.wantBuckets != nil)
			}
			if p.buckets == "" {
				return
			}
			plan = explain(t, w, p.buckets, append(append([]any{}, p.bucketArgs...), int64(0), int64(1), searchWindow)...)
			for _, want := range tc.wantBuckets {
				if !strings.Contains(plan, want) {
					t.Errorf("bucket plan lacks %q:\n%s", want, plan)
				}
			}
			for _, bad := range []string{"SCAN s", "SCAN t", "SCAN l", "log"} {
				if strings.Contains(plan, bad) {
					t.Errorf("bucket plan has %q:\n%s", bad, plan)
				}
			}
			if tc.bucketsMayNotBe != "" && strings.Contains(plan, tc.bucketsMayNotBe) {
				t.Errorf("bucket plan has %q:\n%s", tc.bucketsMayNotBe, plan)
			}
		})
	}
}

// explain returns the plan of query, one step a line.
func explain(t *testing.T, w *Writer, query string, args ...any) string {
	t.Helper()
	rs, err := w.db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var plan []string
	for rs.Next() {
		var id, parent, unused int
		var detail string
		if err := rs.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

// TestPruneSeeksSpans checks the plans of Prune's statements on spans and
// names: each seeks spans's key by kind and id (a seek per name or
// device), and the only scans are of names and strs, and of log's rows
// in the cut's bucket.
func TestPruneSeeksSpans(t *testing.T) {
	w := newWriter(t, Config{})
	for _, kind := range []int{spanDevice, spanName, spanAction} {
		before, edge := pruneSpansSQL(kind)
		for _, tc := range []struct {
			query string
			args  []any
		}{{before, []any{1}}, {edge, []any{1, 1 << bucketShift, 2 << bucketShift}}} {
			plan := explain(t, w, tc.query, tc.args...)
			if !strings.Contains(plan, "SEARCH spans USING PRIMARY KEY (kind=? AND id=? AND bucket") {
				t.Errorf("kind %d: plan of %q lacks a seek of spans:\n%s", kind, tc.query, plan)
			}
			if strings.Contains(plan, "SCAN spans") || strings.Contains(plan, "SCAN log") {
				t.Errorf("kind %d: plan of %q scans:\n%s", kind, tc.query, plan)
			}
		}
	}
	plan := explain(t, w, pruneNamesSQL)
	if !strings.Contains(plan, "SEARCH spans USING PRIMARY KEY (kind=? AND id=?)") || strings.Contains(plan, "log") {
		t.Errorf("plan of the names' prune:\n%s", plan)
	}
}
