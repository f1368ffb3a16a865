package activity_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/activity"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

func start(t *testing.T, c activity.Config) (*activity.Watcher, *dnstest.Clock, *[]string) {
	t.Helper()
	clock := dnstest.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	var heard []string
	c.Now = clock.Now
	c.Bypass = func(device, tag string, n int) { heard = append(heard, fmt.Sprintf("%s %s %d", device, tag, n)) }
	w := activity.New(c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return w, clock, &heard
}

// TestBypassAttempts: one blocked query of the bypass category is an
// attempt; other categories need Threshold blocked queries in Window;
// each is reported once per Window; allowed queries never count.
func TestBypassAttempts(t *testing.T) {
	w, clock, heard := start(t, activity.Config{Threshold: 3, Window: 10 * time.Minute})
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		advance time.Duration
		device  string
		tag     string
		blocked bool
		times   int
		want    string
	}{
		{"a VPN name", 0, "tablet", "bypass", true, 1, "[tablet bypass 1]"},
		{"again in the window", time.Minute, "tablet", "bypass", true, 5, "[tablet bypass 1]"},
		{"two blocked games", 0, "tablet", "games", true, 2, "[tablet bypass 1]"},
		{"allowed games", 0, "tablet", "games", false, 10, "[tablet bypass 1]"},
		{"the third blocked game", 0, "tablet", "games", true, 1, "[tablet bypass 1 tablet games 3]"},
		{"another device", 0, "laptop", "games", true, 2, "[tablet bypass 1 tablet games 3]"},
		{"next window", 10 * time.Minute, "tablet", "bypass", true, 1, "[tablet bypass 1 tablet games 3 tablet bypass 1]"},
	} {
		clock.Advance(tc.advance)
		for range tc.times {
			w.Watch(tc.device, tc.tag, false, tc.blocked)
		}
		w.Flush(ctx)
		if got := fmt.Sprint(*heard); got != tc.want {
			t.Errorf("%s: heard %s, want %s", tc.name, got, tc.want)
		}
	}
	weeks := w.Week(clock.Now())
	if len(weeks) != 2 || weeks[1].Device != "tablet" || weeks[1].BypassAttempts != 3 {
		t.Fatalf("week: %+v", weeks)
	}
	if b := weeks[1].Blocked; len(b) != 2 || b[0].Tag != "bypass" || b[0].Blocked != 7 || b[1].Tag != "games" || b[1].Blocked != 3 {
		t.Errorf("blocked: %+v", b)
	}
}

// TestWeekAndPersistence: services are counted by allowed queries over
// the last seven days only, and the counters survive a save and load.
func TestWeekAndPersistence(t *testing.T) {
	w, clock, _ := start(t, activity.Config{})
	ctx := context.Background()
	w.Watch("tablet", "youtube", true, false) // 8 days before the digest: left out
	w.Flush(ctx)                              // counted at today's clock, before it moves
	clock.Advance(8 * 24 * time.Hour)
	for range 3 {
		w.Watch("tablet", "youtube", true, false)
	}
	w.Watch("tablet", "roblox", true, false)
	w.Watch("tablet", "tiktok", true, true)
	w.Flush(ctx)
	check := func(name string, w *activity.Watcher) {
		weeks := w.Week(clock.Now())
		if len(weeks) != 1 {
			t.Fatalf("%s: %+v", name, weeks)
		}
		got := fmt.Sprint(weeks[0].Services, weeks[0].Blocked)
		want := "[{youtube 3 0 1} {roblox 1 0 1}] [{tiktok 1 1 0}]"
		if got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	check("running", w)
	path := filepath.Join(t.TempDir(), "activity.json")
	if err := w.Save(func(b []byte) error { return os.WriteFile(path, b, 0o600) }); err != nil {
		t.Fatal(err)
	}
	again := activity.New(activity.Config{Now: clock.Now})
	if err := again.Load(path); err != nil {
		t.Fatal(err)
	}
	check("loaded", again)

	os.WriteFile(path, []byte("{not json"), 0o600)
	if err := activity.New(activity.Config{Now: clock.Now}).Load(path); err == nil {
		t.Error("a damaged file loaded without an error")
	}
}

// TestActiveMinutes: a service's minutes are the minutes in which the
// device asked for it and was answered; a blocked query, a category and
// the same minute again add none; the week sorts services by minutes and
// the minutes survive Save and Load.
func TestActiveMinutes(t *testing.T) {
	w, clock, _ := start(t, activity.Config{})
	ctx := context.Background()
	for _, q := range []struct {
		advance time.Duration
		tag     string
		service bool
		blocked bool
	}{
		{0, "tiktok", true, false},
		{10 * time.Second, "tiktok", true, false}, // same minute
		{time.Minute, "tiktok", true, false},
		{time.Minute, "tiktok", true, true}, // blocked: not a minute of use
		{0, "games", false, false},          // a category
		{0, "youtube", true, false},
		{time.Minute, "youtube", true, false},
		{time.Minute, "youtube", true, false},
	} {
		clock.Advance(q.advance)
		w.Watch("tablet", q.tag, q.service, q.blocked)
		w.Flush(ctx) // counted at the clock's time when Run takes it
	}
	check := func(w *activity.Watcher, when string) {
		t.Helper()
		week := w.Week(clock.Now())
		if len(week) != 1 {
			t.Fatalf("%s: week %+v, want one device", when, week)
		}
		got := fmt.Sprint(week[0].Services)
		want := "[{youtube 3 0 3} {tiktok 3 0 2}]"
		if got != want {
			t.Errorf("%s: services %s, want %s", when, got, want)
		}
	}
	check(w, "counted")
	path := filepath.Join(t.TempDir(), "activity.json")
	if err := w.Save(func(b []byte) error { return os.WriteFile(path, b, 0o600) }); err != nil {
		t.Fatal(err)
	}
	w2, _, _ := start(t, activity.Config{})
	if err := w2.Load(path); err != nil {
		t.Fatal(err)
	}
	check(w2, "after Save and Load")
}
