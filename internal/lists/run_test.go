package lists

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

func TestRetryDelay(t *testing.T) {
	for _, c := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 0},
		{1, 5 * time.Second},
		{2, 10 * time.Second},
		{3, 20 * time.Second},
		{5, 80 * time.Second},
		{8, 640 * time.Second},
		{9, 15 * time.Minute},
		{40, 15 * time.Minute},
		{1 << 30, 15 * time.Minute},
	} {
		if got := RetryDelay(c.failures); got != c.want {
			t.Errorf("RetryDelay(%d) = %v, want %v", c.failures, got, c.want)
		}
	}
}

// TestRunRetriesFailedDownloads: every first download fails; the manager
// retries with backoff (not after a day), reports each list as failed with
// the reason, and once the server recovers loads the lists and goes back
// to the refresh period.
func TestRunRetriesFailedDownloads(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "mirror down", http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "%s.example\n", strings.TrimPrefix(r.URL.Path, "/"))
	}))
	defer srv.Close()
	fetcher, err := New(filepath.Join(t.TempDir(), "cache"), srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := dnstest.NewClock(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
	var entries []Entry
	for i := range 6 {
		entries = append(entries, Entry{Source: Source{ID: fmt.Sprintf("l%d", i), URL: fmt.Sprintf("%s/l%d", srv.URL, i), Format: FormatDomains}, Tag: "gambling"})
	}
	m, err := NewManager(ManagerConfig{Entries: entries, Fetcher: fetcher, Parallel: 2, Refresh: 24 * time.Hour, Now: clock.Now, After: clock.After})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range m.Health(clock.Now()) {
		if h.State != StatePending {
			t.Fatalf("before any download: %s is %s, want pending", h.ID, h.State)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	changed := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx, func(context.Context) { changed <- struct{}{} })
	}()
	defer func() { cancel(); <-done }()

	start := clock.Now()
	for i, want := range []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second} {
		if got := clock.WaitAfter(t); got != want {
			t.Fatalf("wait after %d failed rounds: %v, want %v", i+1, got, want)
		}
		for _, h := range m.Health(clock.Now()) {
			if h.State != StateFailed || !strings.Contains(h.Err, "502") || h.Failures != i+1 || h.FailuresTotal != uint64(i+1) {
				t.Fatalf("after %d failed rounds: %+v", i+1, h)
			}
		}
		if p := m.Progress(); p.Running || p.Total != 6 || p.Done != 6 || p.Failed != 6 {
			t.Fatalf("progress after round %d: %+v", i+1, p)
		}
		clock.Advance(want)
	}
	if len(changed) != 0 {
		t.Fatal("changed called although every download failed")
	}
	down.Store(false)
	if got := clock.WaitAfter(t); got != 24*time.Hour {
		t.Fatalf("wait after recovery: %v, want the refresh period", got)
	}
	if len(changed) != 1 {
		t.Fatalf("changed called %d times after the recovering round, want 1", len(changed))
	}
	for _, h := range m.Health(clock.Now()) {
		if h.State != StateFresh || h.Err != "" || h.Failures != 0 || h.FailuresTotal != 4 || !h.FetchedAt.Equal(start.Add(75*time.Second)) {
			t.Fatalf("after recovery: %+v", h)
		}
	}
	c, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Index.Lookup("l3.example"); !r.Matched() {
		t.Error("recovered list not compiled")
	}

	// The mirror goes down again: the copy is kept and reported stale
	// since the first failure.
	down.Store(true)
	clock.Advance(24 * time.Hour)
	failedAt := clock.Now()
	if got := clock.WaitAfter(t); got != 5*time.Second {
		t.Fatalf("wait after a refresh failed: %v", got)
	}
	for _, h := range m.Health(clock.Now()) {
		if h.State != StateStale || !h.StaleSince.Equal(failedAt) || h.Err == "" {
			t.Fatalf("refresh failed with a copy: %+v", h)
		}
	}
	c, _ = m.Compile()
	if r := c.Index.Lookup("l3.example"); !r.Matched() || !c.Lists[3].Loaded {
		t.Error("a failed refresh lost the last good copy")
	}
}

// TestRunBoundsParallelDownloads: never more than Parallel downloads at
// once, and all of them in parallel up to that bound.
func TestRunBoundsParallelDownloads(t *testing.T) {
	const parallel, lists = 3, 10
	var inflight, peak atomic.Int32
	entered := make(chan struct{}, lists)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		entered <- struct{}{}
		<-release
		inflight.Add(-1)
		w.Write([]byte("x.example\n"))
	}))
	defer srv.Close()
	fetcher, _ := New(t.TempDir(), srv.Client(), nil)
	var entries []Entry
	for i := range lists {
		entries = append(entries, Entry{Source: Source{ID: fmt.Sprintf("l%d", i), URL: fmt.Sprintf("%s/%d", srv.URL, i), Format: FormatDomains}, Tag: "ads"})
	}
	m, err := NewManager(ManagerConfig{Entries: entries, Fetcher: fetcher, Parallel: parallel})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); m.Refresh(context.Background()) }()
	for range parallel {
		<-entered
	}
	if p := m.Progress(); !p.Running || p.Total != lists || p.Done != 0 {
		t.Errorf("progress with %d downloads held: %+v", parallel, p)
	}
	// Each release lets exactly one more download start.
	for range lists - parallel {
		release <- struct{}{}
		<-entered
	}
	for range parallel {
		release <- struct{}{}
	}
	wg.Wait()
	if got := peak.Load(); got != parallel {
		t.Errorf("peak parallel downloads %d, want %d", got, parallel)
	}
	if p := m.Progress(); p.Running || p.Done != lists || p.Failed != 0 {
		t.Errorf("final progress %+v", p)
	}
}

// TestReloadKeepsDownloadState: a manager built for a reload keeps the
// schedule and counts of lists it shares (same ID and URL) with the one
// it replaces, and starts afresh for the others.
func TestReloadKeepsDownloadState(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer srv.Close()
	fetcher, _ := New(t.TempDir(), srv.Client(), nil)
	clock := dnstest.NewClock(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
	src := func(id, path string) Entry {
		return Entry{Source: Source{ID: id, URL: srv.URL + path, Format: FormatDomains}, Tag: "ads"}
	}
	old, err := NewManager(ManagerConfig{Entries: []Entry{src("a", "/a"), src("b", "/b")}, Fetcher: fetcher, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	old.Refresh(context.Background())
	old.Refresh(context.Background())
	m, err := NewManager(ManagerConfig{Entries: []Entry{src("a", "/a"), src("b", "/b2"), src("c", "/c")}, Fetcher: fetcher, Now: clock.Now, Previous: old})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		state    State
		failures int
	}{"a": {StateFailed, 2}, "b": {StatePending, 0}, "c": {StatePending, 0}}
	for _, h := range m.Health(clock.Now()) {
		if w := want[h.ID]; h.State != w.state || h.Failures != w.failures || h.FailuresTotal != uint64(w.failures) {
			t.Errorf("%s after reload: %s, %d failures (%d total); want %s, %d", h.ID, h.State, h.Failures, h.FailuresTotal, w.state, w.failures)
		}
	}
	if got := m.untilNext(clock.Now()); got != 0 {
		t.Errorf("next download in %v, want now (the new lists)", got)
	}
	if due := m.due(clock.Now()); len(due) != 2 {
		t.Errorf("due after reload: %v, want the two new lists only (a waits for its retry)", due)
	}
}
