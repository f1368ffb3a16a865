package querylog

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestHourlyTotals(t *testing.T) {
	w, err := New(Config{Path: filepath.Join(t.TempDir(), "q.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	h0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	log := func(at time.Time, device string, blocked bool) {
		var e Entry
		e.Time, e.Device = at.UnixNano(), device
		e.SetName([]byte("example.com"))
		if blocked {
			e.Action, e.Tag = ActionBlocked, "games"
		}
		w.Log(&e)
	}
	log(h0.Add(time.Minute), "tablet", true)
	log(h0.Add(2*time.Minute), "laptop", false)
	log(h0.Add(3*time.Minute), "laptop", false)
	log(h0.Add(time.Hour+time.Minute), "tablet", false)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		device string
		want   []Counter
	}{
		{"", []Counter{{Hour: h0, Queries: 3, Blocked: 1}, {Hour: h0.Add(time.Hour), Queries: 1}}},
		{"laptop", []Counter{{Hour: h0, Device: "laptop", Queries: 2}}},
	}
	for _, tc := range tests {
		got, err := w.Hourly(context.Background(), CounterQuery{Since: h0, Until: h0.Add(2 * time.Hour), Device: tc.device})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("Hourly(%q) = %+v, want %+v", tc.device, got, tc.want)
		}
		for i := range got {
			if !got[i].Hour.Equal(tc.want[i].Hour) || got[i].Queries != tc.want[i].Queries || got[i].Blocked != tc.want[i].Blocked || got[i].Device != tc.want[i].Device {
				t.Errorf("Hourly(%q)[%d] = %+v, want %+v", tc.device, i, got[i], tc.want[i])
			}
		}
	}
}

func TestRepeatsShareARow(t *testing.T) {
	w := newWriter(t, Config{})
	base := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	log := func(at time.Time, name string, action Action) {
		var e Entry
		e.Time, e.Device, e.Action = at.UnixNano(), "tablet", action
		e.SetName([]byte(name))
		w.Log(&e)
	}
	for i := range 5 {
		log(base.Add(time.Duration(i)*time.Millisecond), "example.com", ActionAllowed)
	}
	log(base.Add(10*time.Millisecond), "example.com", ActionBlocked) // another answer
	log(base.Add(20*time.Millisecond), "other.com", ActionAllowed)   // another name
	log(base.Add(time.Second), "example.com", ActionAllowed)         // another second
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := w.Search(context.Background(), Query{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		name, action string
		count        int64
	}
	var got []row
	for _, r := range rows {
		got = append(got, row{r.Name, r.Action, r.Count})
	}
	want := []row{{"example.com", "allowed", 1}, {"other.com", "allowed", 1}, {"example.com", "blocked", 1}, {"example.com", "allowed", 5}}
	if len(got) != len(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d = %v, want %v", i, got[i], want[i])
		}
	}
	sum, err := w.Summary(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Queries != 8 || sum.Blocked != 1 {
		t.Errorf("counters: %d queries %d blocked, want 8 and 1", sum.Queries, sum.Blocked)
	}
}

// TestSummaryAcrossDays: a summary over whole days reads the daily
// counters and its edges the hourly ones; the totals are those of every
// hour overlapping the range, whichever way they are read.
func TestSummaryAcrossDays(t *testing.T) {
	w := newWriter(t, Config{Now: func() time.Time { return time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC) }})
	start := time.Date(2026, 11, 25, 5, 30, 0, 0, time.UTC)
	type q struct {
		at      time.Time
		blocked bool
	}
	var all []q
	for i := range 96 { // four days, one query an hour, every third blocked
		e := Entry{Time: start.Add(time.Duration(i) * time.Hour).UnixNano(), Device: "tablet"}
		e.SetName([]byte("example.com"))
		if i%3 == 0 {
			e.Action, e.Tag = ActionBlocked, "games"
		}
		w.Log(&e)
		all = append(all, q{start.Add(time.Duration(i) * time.Hour), i%3 == 0})
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	day := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }
	ranges := []struct{ since, until time.Time }{
		{day(25, 10), day(25, 20)},                     // within a day
		{day(25, 10), day(27, 3)},                      // edges and one whole day
		{day(26, 0), day(28, 0)},                       // whole days only
		{day(25, 0).Add(-time.Minute), day(29, 12)},    // everything
		{day(26, 6).Add(30 * time.Minute), day(28, 7)}, // edges inside hours
	}
	for _, r := range ranges {
		var want, wantBlocked int64
		for _, x := range all {
			h := x.at.Truncate(time.Hour)
			if h.Add(time.Hour).After(r.since) && h.Before(r.until) {
				want++
				if x.blocked {
					wantBlocked++
				}
			}
		}
		s, err := w.Summary(context.Background(), r.since, r.until)
		if err != nil {
			t.Fatal(err)
		}
		if s.Queries != want || s.Blocked != wantBlocked {
			t.Errorf("Summary(%v, %v) = %d queries %d blocked, want %d and %d", r.since, r.until, s.Queries, s.Blocked, want, wantBlocked)
		}
		if wantBlocked > 0 && (len(s.TopBlocked) != 1 || s.TopBlocked[0].Blocked != wantBlocked) {
			t.Errorf("Summary(%v, %v) top blocked %+v, want games %d", r.since, r.until, s.TopBlocked, wantBlocked)
		}
	}
	// The daily chart: one point a day, each the day's total.
	days, err := w.Daily(context.Background(), CounterQuery{Since: day(25, 0), Until: day(30, 0)})
	if err != nil {
		t.Fatal(err)
	}
	perDay := map[int]int64{}
	for _, x := range all {
		perDay[x.at.Day()]++
	}
	if len(days) != len(perDay) {
		t.Fatalf("Daily: %d days, want %d", len(days), len(perDay))
	}
	for _, d := range days {
		if d.Queries != perDay[d.Hour.Day()] || d.Hour.Hour() != 0 {
			t.Errorf("Daily %v: %d queries, want %d", d.Hour, d.Queries, perDay[d.Hour.Day()])
		}
	}
	// Pruning takes the daily counters with the hourly ones.
	if _, _, err := w.Prune(context.Background(), day(30, 0).Add(w.cfg.CounterRetention)); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := w.db.QueryRow(`SELECT count(*) FROM daily`).Scan(&left); err != nil || left != 0 {
		t.Errorf("daily rows after pruning everything: %d %v", left, err)
	}
}
