package policysync

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// fakeStore serves a state whose Seq the test sets; the other methods of
// store.Store are not used by a Syncer.
type fakeStore struct {
	store.Store
	mu     sync.Mutex
	seq    int64
	notify chan struct{}
	swept  chan time.Time
}

func newFake() *fakeStore {
	return &fakeStore{notify: make(chan struct{}, 1), swept: make(chan time.Time, 1)}
}

func (f *fakeStore) Load(ctx context.Context) (store.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return store.State{Seq: f.seq, Devices: []store.Device{{ID: "d"}}}, nil
}

func (f *fakeStore) Notify() <-chan struct{} { return f.notify }

func (f *fakeStore) DeleteExpiredGrants(ctx context.Context, now time.Time) (int, error) {
	select {
	case f.swept <- now:
	default:
	}
	return 0, nil
}

// write is a committed change: the seq moves and a wake-up is sent.
func (f *fakeStore) write() {
	f.mu.Lock()
	f.seq++
	f.mu.Unlock()
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

func TestSyncAppliesEachStateOnce(t *testing.T) {
	f := newFake()
	var applied []int64
	fail := false
	s := New(Config{Store: f, Apply: func(ctx context.Context, st store.State) error {
		if fail {
			return errors.New("bad state")
		}
		applied = append(applied, st.Seq)
		return nil
	}})
	ctx := context.Background()
	for range 2 {
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	f.write()
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if len(applied) != 2 || applied[0] != 0 || applied[1] != 1 {
		t.Fatalf("applied %v, want [0 1]", applied)
	}
	// A state that fails to apply is reported, and tried again later.
	f.write()
	fail = true
	if err := s.Sync(ctx); err == nil {
		t.Fatal("a failing apply was not reported")
	}
	if s.Applied() != 1 {
		t.Errorf("applied seq %d after a failure, want 1", s.Applied())
	}
	fail = false
	if err := s.Sync(ctx); err != nil || s.Applied() != 2 {
		t.Fatalf("retry: %v, applied %d", err, s.Applied())
	}
}

func TestRunFollowsNotifications(t *testing.T) {
	f := newFake()
	got := make(chan int64, 16)
	s := New(Config{Store: f, Poll: time.Hour, GrantSweep: time.Millisecond, Apply: func(ctx context.Context, st store.State) error {
		got <- st.Seq
		return nil
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	<-got
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	for want := int64(1); want <= 3; want++ {
		f.write()
		select {
		case seq := <-got:
			if seq != want {
				t.Fatalf("applied seq %d, want %d", seq, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("change %d never applied", want)
		}
	}
	select {
	case <-f.swept:
	case <-time.After(10 * time.Second):
		t.Fatal("expired grants never swept")
	}
	cancel()
	<-done
}

// failingStore is a store whose state cannot be read.
type failingStore struct {
	store.Store // nil: only Load and Notify are called
	notify      chan struct{}
}

func (f *failingStore) Load(context.Context) (store.State, error) {
	return store.State{}, errors.New("database disk image is malformed")
}
func (f *failingStore) Notify() <-chan struct{} { return f.notify }

// TestRunReportsFailedSync: a sync that cannot read the store is reported
// to Failed (the app shows it in /metrics and the UI), not only logged.
func TestRunReportsFailedSync(t *testing.T) {
	st := &failingStore{notify: make(chan struct{}, 1)}
	failed := make(chan error, 1)
	s := New(Config{Store: st, Apply: func(context.Context, store.State) error { return nil }, Failed: func(err error) {
		select {
		case failed <- err:
		default:
		}
	}, Poll: time.Hour, GrantSweep: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	st.notify <- struct{}{}
	select {
	case err := <-failed:
		if !strings.Contains(err.Error(), "malformed") {
			t.Errorf("Failed heard %v", err)
		}
	case <-time.After(10 * time.Second): // watchdog only
		t.Fatal("Failed was not called")
	}
}
