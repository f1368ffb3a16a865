package querylog

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSearchUsesIndexes checks the plans SQLite makes for Search: each
// filter reads an index (or a rowid range) already in time order, so a
// search stops at its limit instead of reading and sorting every row.
func TestSearchUsesIndexes(t *testing.T) {
	w := newWriter(t, Config{})
	entries := benchEntries(5000, 500)
	for i := range entries {
		w.Log(&entries[i])
	}
	flush(t, w)

	tests := []struct {
		name string
		q    Query
		// want are substrings of the plan; a plan with a temporary
		// B-tree sorts every matching row.
		want     []string
		mayNotBe string
	}{
		{"newest", Query{}, []string{"SCAN l"}, "TEMP B-TREE"},
		{"device", Query{Device: "device-1"}, []string{"USING INDEX log_device (device=?)"}, "TEMP B-TREE"},
		{"device and range", Query{Device: "device-1", Since: t0, Until: t0.Add(time.Hour)},
			[]string{"USING INDEX log_device (device=? AND rowid>? AND rowid<?)"}, "TEMP B-TREE"},
		{"blocked", Query{Action: "blocked"}, []string{"USING INDEX log_action (action=?)"}, "TEMP B-TREE"},
		{"range", Query{Since: t0, Until: t0.Add(time.Hour)}, []string{"USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"}, "TEMP B-TREE"},
		{"page", Query{Before: t0.UnixMicro()}, []string{"USING INTEGER PRIMARY KEY (rowid<?)"}, "TEMP B-TREE"},
		// Several names may match; their rows are merged by time.
		{"name", Query{Name: "host12"}, []string{"SCAN names", "USING INDEX log_name (name_id=?)"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			query, args, _, err := searchSQL(tc.q)
			if err != nil {
				t.Fatal(err)
			}
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
			all := strings.Join(plan, "\n")
			for _, want := range tc.want {
				if !strings.Contains(all, want) {
					t.Errorf("plan lacks %q:\n%s", want, all)
				}
			}
			if tc.mayNotBe != "" && strings.Contains(all, tc.mayNotBe) {
				t.Errorf("plan has %q:\n%s", tc.mayNotBe, all)
			}
		})
	}
}
