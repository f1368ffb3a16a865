package budget

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/domainindex"
	"github.com/hearth-dns/hearth/internal/policy"
)

const games policy.Tag = 0

var paris, _ = time.LoadLocation("Europe/Paris")

// snapshot has one profile, kid, with a games budget of minutes a day
// and the grants given.
func snapshot(t testing.TB, minutes int, grants ...policy.Grant) *policy.Snapshot {
	t.Helper()
	b := domainindex.NewBuilder(1)
	b.Add("roblox.com", 0, domainindex.Subtree)
	ix, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	m := [7]int{}
	for i := range m {
		m[i] = minutes
	}
	s, err := policy.NewSnapshot(policy.Config{
		Tags:  []policy.TagInfo{{ID: "games"}},
		Lists: []policy.ListInfo{{ID: "games-list", Tag: games}},
		Index: ix,
		Profiles: []policy.ProfileSpec{{Name: "kid", Location: paris, Grants: grants,
			Budgets: []policy.Budget{{ID: "games", Tags: policy.TagSet{}.With(games), Minutes: m}}}},
		DefaultProfile: "kid",
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// play counts one query for roblox.com in each of n minutes from start,
// checking each is allowed first as the filter does, and returns how many
// minutes were allowed.
func play(tr *Tracker, pol *policy.Snapshot, dev string, start time.Time, n int) int {
	allowed := 0
	for i := range n {
		now := start.Add(time.Duration(i)*time.Minute + 17*time.Second)
		d := pol.DecideSpent(0, now, []byte("www.roblox.com"), 1, tr.Spent(dev, pol, 0, now))
		if d.Action == policy.Allow {
			allowed++
			tr.Count(dev, pol, 0, d.Count, now)
			// A second query in the same minute changes nothing.
			tr.Count(dev, pol, 0, d.Count, now.Add(20*time.Second))
		}
	}
	return allowed
}

type memSettings struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *memSettings) Setting(_ context.Context, k string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	return v, ok, nil
}

func (s *memSettings) PutSetting(_ context.Context, k, v string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[k] = v
	return nil
}

func TestBudgetUsedUp(t *testing.T) {
	afternoon := time.Date(2026, 11, 27, 15, 0, 0, 0, paris)
	endOfDay := time.Date(2026, 11, 27, 23, 30, 0, 0, paris)
	midnight := time.Date(2026, 11, 28, 0, 0, 0, 0, paris)
	tests := []struct {
		name        string
		minutes     int
		grants      []policy.Grant
		start       time.Time
		play        int
		wantAllowed int
	}{
		{"an hour of games", 60, nil, afternoon, 90, 60},
		{"no games today", 0, nil, afternoon, 10, 0},
		{"extra time", 60, []policy.Grant{{Kind: policy.GrantExtraTime, Budget: "games", Minutes: 15, Until: midnight, Label: "x"}}, afternoon, 90, 75},
		// Playing across midnight: 30 minutes before, then a new day's
		// budget of 60.
		{"reset at midnight", 30, nil, endOfDay, 120, 30 + 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(Config{})
			pol := snapshot(t, tc.minutes, tc.grants...)
			if got := play(tr, pol, "tablet", tc.start, tc.play); got != tc.wantAllowed {
				t.Errorf("allowed %d minutes, want %d", got, tc.wantAllowed)
			}
		})
	}
}

func TestUsageAndRestart(t *testing.T) {
	now := time.Date(2026, 11, 27, 15, 0, 0, 0, paris)
	clock := now
	tr := New(Config{Now: func() time.Time { return clock }})
	pol := snapshot(t, 60)
	play(tr, pol, "tablet", now, 25)
	clock = now.Add(25 * time.Minute)
	u := tr.Usage("tablet", pol, 0, clock)
	if len(u) != 1 || u[0].Used != 25 || u[0].Left != 35 || u[0].Spent || !u[0].DayEnd.Equal(time.Date(2026, 11, 28, 0, 0, 0, 0, paris)) {
		t.Fatalf("usage %+v", u)
	}
	st := &memSettings{}
	if err := tr.Save(context.Background(), st, false); err != nil {
		t.Fatal(err)
	}
	// A restart reads the day back; the next day starts afresh.
	again := New(Config{Now: func() time.Time { return clock }})
	if err := again.Load(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	if u := again.Usage("tablet", pol, 0, clock); u[0].Used != 25 {
		t.Errorf("after restart: %+v", u)
	}
	if got := play(again, pol, "tablet", clock, 60); got != 35 {
		t.Errorf("after restart allowed %d, want 35", got)
	}
	tomorrow := New(Config{Now: func() time.Time { return clock.Add(24 * time.Hour) }})
	if err := tomorrow.Load(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	if u := tomorrow.Usage("tablet", pol, 0, clock.Add(24*time.Hour)); u[0].Used != 0 {
		t.Errorf("next day: %+v", u)
	}
}

func TestLoadBadSetting(t *testing.T) {
	now := time.Date(2026, 11, 27, 15, 0, 0, 0, paris)
	for _, v := range []string{
		"not json",
		`{"version":1,"days":[{"device":"tablet","budget":"games","start":1,"end":2,"bits":"AA=="}]}`,
		`{"version":1,"days":[{"device":"tablet","budget":"games","start":5,"end":1,"bits":"!!"}]}`,
	} {
		tr := New(Config{Now: func() time.Time { return now }})
		if err := tr.Load(context.Background(), &memSettings{m: map[string]string{SettingKey: v}}); err != nil {
			t.Errorf("%q: %v", v, err)
		}
		if u := tr.Usage("tablet", snapshot(t, 60), 0, now); u[0].Used != 0 {
			t.Errorf("%q: usage %+v", v, u)
		}
	}
}

func TestDeviceTableBounded(t *testing.T) {
	tr := New(Config{MaxDevices: 3})
	pol := snapshot(t, 60)
	now := time.Date(2026, 11, 27, 15, 0, 0, 0, paris)
	for i := range 3 {
		if s := tr.Spent(fmt.Sprint("d", i), pol, 0, now); !s.Empty() {
			t.Fatalf("device %d: spent %v", i, s)
		}
	}
	// The fourth device cannot be counted: its budgets are used up.
	if s := tr.Spent("d3", pol, 0, now); !s.Has(games) {
		t.Errorf("over the bound: spent %v, want games", s)
	}
	if n := len(*tr.devices.Load()); n != 3 {
		t.Errorf("%d devices tracked", n)
	}
}

func TestConcurrentCount(t *testing.T) {
	tr := New(Config{})
	pol := snapshot(t, 600)
	start := time.Date(2026, 11, 27, 15, 0, 0, 0, paris)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 120 {
				now := start.Add(time.Duration(i)*time.Minute + time.Duration(g)*time.Second)
				tr.Spent("tablet", pol, 0, now)
				tr.Count("tablet", pol, 0, 1, now)
			}
		})
	}
	wg.Wait()
	if u := tr.Usage("tablet", pol, 0, start.Add(2*time.Hour)); u[0].Used != 120 {
		t.Errorf("used %d, want 120", u[0].Used)
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	tr := New(Config{})
	pol := snapshot(t, 600)
	now := time.Date(2026, 11, 27, 15, 0, 0, 0, paris)
	tr.Count("tablet", pol, 0, 1, now)
	tr.Spent("tablet", pol, 0, now)
	if a := testing.AllocsPerRun(100, func() {
		tr.Spent("tablet", pol, 0, now)
		tr.Count("tablet", pol, 0, 1, now)
	}); a != 0 {
		t.Errorf("%v allocations per query", a)
	}
}

func BenchmarkSpentAndCount(b *testing.B) {
	tr := New(Config{})
	pol := snapshot(b, 600)
	now := time.Date(2026, 11, 27, 15, 0, 0, 0, paris)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tr.Spent("tablet", pol, 0, now)
			tr.Count("tablet", pol, 0, 1, now)
		}
	})
}

func TestBridgeShortGaps(t *testing.T) {
	start := time.Date(2026, 11, 27, 15, 0, 0, 0, paris)
	tests := []struct {
		name    string
		minutes []int
		want    int
	}{
		{"every minute", []int{0, 1, 2, 3}, 4},
		{"a one-minute gap", []int{0, 2}, 3},
		{"a two-minute gap", []int{0, 3}, 4},
		{"a three-minute gap is a pause", []int{0, 4}, 2},
		{"out of order", []int{3, 0}, 2},
		{"gaps after gaps", []int{0, 2, 5, 9}, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(Config{})
			pol := snapshot(t, 600)
			for _, m := range tc.minutes {
				tr.Count("tablet", pol, 0, 1, start.Add(time.Duration(m)*time.Minute))
			}
			if u := tr.Usage("tablet", pol, 0, start.Add(time.Hour)); u[0].Used != tc.want {
				t.Errorf("used %d, want %d", u[0].Used, tc.want)
			}
		})
	}
}

// TestNoBridgeOverABlock: a minute in which the used-up budget blocked the
// device is not counted by bridging when extra time lets it play again.
func TestNoBridgeOverABlock(t *testing.T) {
	start := time.Date(2026, 11, 27, 15, 0, 0, 0, paris)
	tr := New(Config{})
	pol := snapshot(t, 600)
	tr.Count("tablet", pol, 0, 1, start)
	tr.Held("tablet", pol, 0, 0, start.Add(time.Minute))
	tr.Count("tablet", pol, 0, 1, start.Add(2*time.Minute))
	if u := tr.Usage("tablet", pol, 0, start.Add(time.Hour)); u[0].Used != 2 {
		t.Errorf("used %d, want 2", u[0].Used)
	}
}
