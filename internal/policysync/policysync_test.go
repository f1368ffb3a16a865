package policysync

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/policy/compile"
	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlite"
)

// wait bounds how long a test waits for what should happen at once;
// reaching it is a failure, never a way to synchronise.
const wait = 10 * time.Second

// node is the policy side of a Syncer in these tests: it holds a store
// state and patches it with each delta as compile.Snapshot.Apply does, and
// records what it was handed.
type node struct {
	mu      sync.Mutex
	st      store.State
	has     bool
	deltas  []compile.Delta
	loads   int
	failing error
	applied chan int64 // the Seq after each load or delta, when set
}

func (n *node) state() (store.State, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st, n.has
}

func (n *node) load(_ context.Context, st store.State) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.failing != nil {
		return n.failing
	}
	n.st, n.has = st, true
	n.loads++
	n.tell(st.Seq)
	return nil
}

func (n *node) apply(_ context.Context, d compile.Delta) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.failing != nil {
		return n.failing
	}
	st := n.st
	st.Households = patch(st.Households, d.Households, d.Deleted, store.KindHousehold, func(x store.Household) string { return x.ID })
	st.Profiles = patch(st.Profiles, d.Profiles, d.Deleted, store.KindProfile, func(x store.Profile) string { return x.ID })
	st.Devices = patch(st.Devices, d.Devices, d.Deleted, store.KindDevice, func(x store.Device) string { return x.ID })
	st.Grants = patch(st.Grants, d.Grants, d.Deleted, store.KindGrant, func(x store.Grant) string { return x.ID })
	for _, c := range d.Deleted {
		if c.Kind == store.KindDevice {
			st.Grants = slices.DeleteFunc(slices.Clone(st.Grants), func(g store.Grant) bool { return g.Device == c.ID })
		}
	}
	st.Seq = d.Seq
	n.st = st
	n.deltas = append(n.deltas, d)
	n.tell(st.Seq)
	return nil
}

func (n *node) tell(seq int64) {
	if n.applied != nil {
		n.applied <- seq
	}
}

func patch[T any](items, put []T, deleted []store.Change, kind string, id func(T) string) []T {
	out := slices.Clone(items)
	for _, p := range put {
		i := slices.IndexFunc(out, func(x T) bool { return id(x) == id(p) })
		if i >= 0 {
			out[i] = p
		} else {
			out = append(out, p)
		}
	}
	for _, c := range deleted {
		if c.Kind == kind {
			out = slices.DeleteFunc(out, func(x T) bool { return id(x) == c.ID })
		}
	}
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(id(a), id(b)) })
	if len(out) == 0 {
		return nil
	}
	return out
}

func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), &sqlite.Config{Path: filepath.Join(t.TempDir(), "hearth.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newSyncer(st store.Store, n *node, c Config) *Syncer {
	c.Store, c.State, c.Load, c.Apply = st, n.state, n.load, n.apply
	return New(c)
}

// inStep fails unless the node holds what the store holds.
func inStep(t *testing.T, what string, s store.Store, n *node) {
	t.Helper()
	want, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := n.state()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: the node holds\n%+v\nthe store\n%+v", what, got, want)
	}
}

// TestSyncAppliesDeltas: after the first whole read, each write reaches
// the node as a delta of the items it changed (never a whole read), and
// the node ends up holding what the store holds.
func TestSyncAppliesDeltas(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	n := &node{}
	sy := newSyncer(s, n, Config{})
	if err := sy.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	until := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		write func()
		// want is the delta's items: kind/id, "-" before a deletion.
		want []string
	}{
		{"household", func() { must(s.PutHousehold(ctx, store.Household{ID: "h1", Name: "H"})) }, []string{"household/h1"}},
		{"profile", func() { must(s.PutProfile(ctx, store.Profile{ID: "kid", Household: "h1", Name: "Kid"})) }, []string{"profile/kid"}},
		{"device", func() {
			must(s.PutDevice(ctx, store.Device{ID: "tab", Household: "h1", Name: "Tab", Profile: "kid", IPs: []string{"192.0.2.7"}}))
		}, []string{"device/tab"}},
		{"grant", func() {
			must(s.AddGrant(ctx, store.Grant{ID: "g1", Device: "tab", Kind: store.GrantPause, Until: until}))
		}, []string{"grant/g1"}},
		{"one item written twice", func() {
			p, err := s.Profile(ctx, "kid")
			must(nil, err)
			p.Block = []string{"gambling"}
			p, err = s.PutProfile(ctx, p)
			must(nil, err)
			p.Block = []string{"gambling", "adult"}
			must(s.PutProfile(ctx, p))
		}, []string{"profile/kid"}},
		{"created then deleted", func() {
			must(s.PutDevice(ctx, store.Device{ID: "tv", Household: "h1", Name: "TV"}))
			must(nil, s.DeleteDevice(ctx, "tv"))
		}, []string{"-device/tv"}},
		{"device and its grants deleted", func() { must(nil, s.DeleteDevice(ctx, "tab")) }, []string{"-grant/g1", "-device/tab"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.write()
			if err := sy.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if len(n.deltas) != i+1 {
				t.Fatalf("%d deltas, want %d", len(n.deltas), i+1)
			}
			d := n.deltas[i]
			var got []string
			for _, x := range d.Households {
				got = append(got, "household/"+x.ID)
			}
			for _, x := range d.Profiles {
				got = append(got, "profile/"+x.ID)
			}
			for _, x := range d.Devices {
				got = append(got, "device/"+x.ID)
			}
			for _, x := range d.Grants {
				got = append(got, "grant/"+x.ID)
			}
			for _, c := range d.Deleted {
				got = append(got, "-"+c.Kind+"/"+c.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("delta %v, want %v", got, tc.want)
			}
			inStep(t, tc.name, s, n)
		})
	}
	if n.loads != 1 {
		t.Errorf("%d whole reads, want only the first", n.loads)
	}
	st := sy.Stats()
	if st.Reloads[ReloadStart] != 1 || st.Deltas != uint64(len(tests)) || !st.Up {
		t.Errorf("stats %+v", st)
	}
	// Nothing new: nothing applied.
	if err := sy.Sync(ctx); err != nil || len(n.deltas) != len(tests) {
		t.Errorf("a sync without changes: %v, %d deltas", err, len(n.deltas))
	}
}

// TestResumeFromSeq: a node that starts with the state of its snapshot
// file applies only the changes after it, then checks agreement.
func TestResumeFromSeq(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	if _, err := s.PutHousehold(ctx, store.Household{ID: "h1"}); err != nil {
		t.Fatal(err)
	}
	saved, err := s.Load(ctx) // what the node wrote to its file before it stopped
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutHousehold(ctx, store.Household{ID: "h2"}); err != nil {
		t.Fatal(err)
	}
	n := &node{st: saved, has: true}
	sy := newSyncer(s, n, Config{})
	sy.CheckNext()
	if err := sy.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n.loads != 0 || len(n.deltas) != 1 || n.deltas[0].Seq != saved.Seq+1 {
		t.Errorf("resume: %d whole reads, deltas %+v; want one delta to %d", n.loads, n.deltas, saved.Seq+1)
	}
	if st := sy.Stats(); st.Checks != 1 || st.Disagreements != 0 {
		t.Errorf("stats %+v: want one agreement check that passed", st)
	}
	inStep(t, "after resuming", s, n)
}

// gapStore is a store whose feed lost its entries up to and including
// lost.
type gapStore struct {
	store.Store
	lost int64
}

func (g gapStore) Changes(ctx context.Context, after int64, limit int) ([]store.Change, error) {
	return g.Store.Changes(ctx, max(after, g.lost), limit)
}

// kindStore's feed holds a change of a kind the node cannot fetch.
type kindStore struct{ store.Store }

func (k kindStore) Changes(ctx context.Context, after int64, limit int) ([]store.Change, error) {
	cs, err := k.Store.Changes(ctx, after, limit)
	for i := range cs {
		cs[i].Kind = store.KindBinding
	}
	return cs, err
}

// TestSyncReloadsWhole: each way the feed cannot bring a node up to date
// makes it read the whole state, for that reason, and ends in step.
func TestSyncReloadsWhole(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		reason string
		// prepare writes, and may wrap the store and change the node.
		prepare func(s *sqlite.Store, n *node) store.Store
		check   bool
	}{
		{"gap in the feed", ReloadGap, func(s *sqlite.Store, n *node) store.Store {
			writes(t, s, 3)
			return gapStore{s, n.st.Seq + 1}
		}, false},
		{"too far behind", ReloadBehind, func(s *sqlite.Store, n *node) store.Store {
			writes(t, s, 4) // MaxBehind is 3
			return s
		}, false},
		{"kind without a getter", ReloadKind, func(s *sqlite.Store, n *node) store.Store {
			writes(t, s, 1)
			return kindStore{s}
		}, false},
		{"a change missed", ReloadDisagree, func(s *sqlite.Store, n *node) store.Store {
			writes(t, s, 1)
			st, _ := s.Load(ctx)
			st.Households = st.Households[1:] // the node lost one
			n.st = st
			return s
		}, true},
		{"an update missed", ReloadDisagree, func(s *sqlite.Store, n *node) store.Store {
			st, _ := s.Load(ctx)
			st.Households[0].Version = 7
			n.st = st
			return s
		}, true},
		{"the database was replaced", ReloadDisagree, func(s *sqlite.Store, n *node) store.Store {
			n.st.Seq += 100 // a node ahead of its store
			return s
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openSQLite(t)
			writes(t, s, 2)
			n := &node{}
			if err := newSyncer(s, n, Config{}).Sync(ctx); err != nil {
				t.Fatal(err)
			}
			wrapped := tc.prepare(s, n)
			sy := newSyncer(wrapped, n, Config{MaxBehind: 3})
			sync := sy.Sync
			if tc.check {
				sync = sy.Check
			}
			if err := sync(ctx); err != nil {
				t.Fatal(err)
			}
			st := sy.Stats()
			for _, r := range ReloadReasons {
				want := uint64(0)
				if r == tc.reason {
					want = 1
				}
				if st.Reloads[r] != want {
					t.Errorf("reloads for %s: %d, want %d (%+v)", r, st.Reloads[r], want, st)
				}
			}
			if tc.reason == ReloadDisagree && st.Disagreements != 1 {
				t.Errorf("disagreements %d, want 1", st.Disagreements)
			}
			inStep(t, "after the reload", s, n)
		})
	}
}

// writes makes n policy writes (a household each).
func writes(t *testing.T, s store.Store, n int) {
	t.Helper()
	hs, err := s.Households(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := s.PutHousehold(context.Background(), store.Household{ID: fmt.Sprintf("h%d", len(hs)+i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// downStore is a store that cannot be reached until up is closed.
type downStore struct {
	store.Store
	up chan struct{}
}

func (d *downStore) reachable() error {
	select {
	case <-d.up:
		return nil
	default:
		return fmt.Errorf("dial tcp 127.0.0.1:5432: connection refused: %w", store.ErrUnavailable)
	}
}

func (d *downStore) Changes(ctx context.Context, after int64, limit int) ([]store.Change, error) {
	if err := d.reachable(); err != nil {
		return nil, err
	}
	return d.Store.Changes(ctx, after, limit)
}

func (d *downStore) Load(ctx context.Context) (store.State, error) {
	if err := d.reachable(); err != nil {
		return store.State{}, err
	}
	return d.Store.Load(ctx)
}

// TestRunThroughOutage: while the store cannot be reached, Run reports it
// to Health (the app's 503s and banner) and keeps the policy in effect;
// it retries by itself, and once the store answers it applies what was
// written meanwhile, without a whole read.
func TestRunThroughOutage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openSQLite(t)
	writes(t, s, 1)
	n := &node{}
	if err := newSyncer(s, n, Config{}).Sync(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := n.state()
	down := &downStore{Store: s, up: make(chan struct{})}
	health := make(chan error, 100)
	n.applied = make(chan int64, 100)
	sy := newSyncer(down, n, Config{Poll: time.Hour, Check: time.Hour, GrantSweep: time.Hour, Health: func(err error) { health <- err }})
	done := make(chan struct{})
	go func() { sy.Run(ctx); close(done) }()
	writes(t, s, 2) // written by another node while this one cannot see the store; it wakes Run
	select {
	case err := <-health:
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("health heard %v, want store.ErrUnavailable", err)
		}
	case <-time.After(wait):
		t.Fatal("health never heard of the outage")
	}
	if st, _ := n.state(); st.Seq != before.Seq || sy.Stats().Up {
		t.Errorf("during the outage: node at %d, up %v; want %d kept and down", st.Seq, sy.Stats().Up, before.Seq)
	}
	close(down.up) // no notification: the retry finds it
	select {
	case seq := <-n.applied:
		if seq != before.Seq+2 {
			t.Errorf("caught up to %d, want %d", seq, before.Seq+2)
		}
	case <-time.After(wait):
		t.Fatal("the node never caught up")
	}
	// The delta is applied before the sync reports: wait for the report.
	for recovered := false; !recovered; {
		select {
		case err := <-health:
			recovered = err == nil
		case <-time.After(wait):
			t.Fatal("health never heard that the store is back")
		}
	}
	if n.loads != 1 || !sy.Stats().Up {
		t.Errorf("after the outage: %d whole reads (want the first only), up %v", n.loads, sy.Stats().Up)
	}
	inStep(t, "after the outage", s, n)
	cancel()
	<-done
}

// TestRunSweepsGrants: Run deletes expired grants every GrantSweep.
func TestRunSweepsGrants(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openSQLite(t)
	if _, err := s.PutHousehold(ctx, store.Household{ID: "h1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutDevice(ctx, store.Device{ID: "tab", Household: "h1", Name: "Tab"}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.AddGrant(ctx, store.Grant{ID: "g1", Device: "tab", Kind: store.GrantPause, Until: now.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	n := &node{applied: make(chan int64, 10)}
	sy := newSyncer(s, n, Config{GrantSweep: time.Millisecond, Poll: time.Hour, Now: func() time.Time { return now }})
	if err := sy.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	<-n.applied
	go sy.Run(ctx)
	// The sweep's deletion announces itself, and the node applies it.
	select {
	case <-n.applied:
	case <-time.After(wait):
		t.Fatal("the expired grant was never swept")
	}
	if st, _ := n.state(); len(st.Grants) != 0 {
		t.Errorf("grants after the sweep: %+v", st.Grants)
	}
}

// TestFailedApplyKeepsPosition: a delta that cannot be applied leaves the
// node where it was, and the same changes are applied at the next sync.
func TestFailedApplyKeepsPosition(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	n := &node{}
	sy := newSyncer(s, n, Config{})
	if err := sy.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	writes(t, s, 2)
	n.failing = errors.New("bad policy")
	if err := sy.Sync(ctx); err == nil || !strings.Contains(err.Error(), "bad policy") {
		t.Fatalf("sync with a failing apply: %v", err)
	}
	if sy.Applied() != 0 || sy.Stats().Failures != 1 {
		t.Errorf("applied %d, stats %+v after the failure", sy.Applied(), sy.Stats())
	}
	n.failing = nil
	if err := sy.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	inStep(t, "after the retry", s, n)
}

// TestCanceledSyncNotReported: a sync its caller gave up on (an API
// client that went away) tells Health nothing: it says nothing about the
// store, and must not put a problem in the parents' banner.
func TestCanceledSyncNotReported(t *testing.T) {
	s := openSQLite(t)
	n := &node{}
	var heard []error
	sy := newSyncer(s, n, Config{Health: func(err error) { heard = append(heard, err) }})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sy.Sync(ctx); err == nil {
		t.Fatal("a sync with a canceled context succeeded")
	}
	if len(heard) != 0 || sy.Stats().Failures != 0 {
		t.Errorf("health heard %v, failures %d; want nothing", heard, sy.Stats().Failures)
	}
	if err := sy.Sync(context.Background()); err != nil || len(heard) != 1 || heard[0] != nil {
		t.Errorf("then a sync: %v, health heard %v", err, heard)
	}
}

// bindingStore's feed holds binding changes, and it can fetch bindings
// one by one (as a store with bindings does).
type bindingStore struct {
	store.Store
	changes []store.Change
	held    map[string]store.Binding // by change ID
}

func (b bindingStore) Changes(ctx context.Context, after int64, limit int) ([]store.Change, error) {
	var out []store.Change
	for _, c := range b.changes {
		if c.Seq > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (b bindingStore) Binding(ctx context.Context, kind, key string) (store.Binding, error) {
	if x, ok := b.held[store.BindingID(kind, key)]; ok {
		return x, nil
	}
	return store.Binding{}, store.ErrNotFound
}

// TestBindingChangesAreDeltas: a binding written, or removed, reaches the
// node in Delta.Bindings and Delta.Deleted, with its kind and key taken
// from the change's ID (an IPv6 prefix holds colons).
func TestBindingChangesAreDeltas(t *testing.T) {
	moved := store.Binding{Kind: store.BindIPv6, Key: "2001:db8:7::/56", Household: "h2"}
	bs := bindingStore{
		changes: []store.Change{
			{Seq: 1, Kind: store.KindBinding, ID: store.BindingID(moved.Kind, moved.Key)},
			{Seq: 2, Kind: store.KindBinding, ID: store.BindingID(store.BindIPv4, "192.0.2.7"), Deleted: true},
		},
		held: map[string]store.Binding{store.BindingID(moved.Kind, moved.Key): moved},
	}
	n := &node{has: true}
	sy := newSyncer(bs, n, Config{})
	if err := sy.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(n.deltas) != 1 {
		t.Fatalf("%d deltas, want 1", len(n.deltas))
	}
	d := n.deltas[0]
	if !reflect.DeepEqual(d.Bindings, []store.Binding{moved}) || len(d.Deleted) != 1 || d.Deleted[0].ID != "ipv4:192.0.2.7" || d.Seq != 2 {
		t.Errorf("delta %+v, want the moved binding put and the other deleted, at seq 2", d)
	}
	if n.loads != 0 {
		t.Errorf("%d whole reads, want none", n.loads)
	}
}

// heldStore counts Changes calls; while hold is set, the next call
// reports on entered and waits for release.
type heldStore struct {
	store.Store
	calls   atomic.Int32
	hold    atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (h *heldStore) Changes(ctx context.Context, after int64, limit int) ([]store.Change, error) {
	h.calls.Add(1)
	if h.hold.CompareAndSwap(true, false) {
		h.entered <- struct{}{}
		<-h.release
	}
	return h.Store.Changes(ctx, after, limit)
}

// TestConcurrentSyncsShare: API writers that call Sync while a sync runs
// share the next one instead of queueing one sync each (a burst of k
// writes cost k+1 syncs, each a read of the feed, before), and each
// returns only once its own write is in effect.
func TestConcurrentSyncsShare(t *testing.T) {
	for _, k := range []int{1, 8, 64} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			ctx := context.Background()
			h := &heldStore{Store: openSQLite(t), entered: make(chan struct{}), release: make(chan struct{})}
			n := &node{}
			sy := newSyncer(h, n, Config{})
			if err := sy.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			writes(t, h, 1)
			h.hold.Store(true)
			first := make(chan error)
			go func() { first <- sy.Sync(ctx) }()
			<-h.entered // the first sync is reading the feed
			before := h.calls.Load()

			writes(t, h, k) // committed after the running sync read the feed
			v, err := h.Version(ctx)
			if err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, k)
			for range k {
				go func() {
					if err := sy.Sync(ctx); err != nil {
						errs <- err
						return
					}
					if got, _ := n.state(); got.Seq < v.Seq {
						errs <- fmt.Errorf("Sync returned at change %d, before the write of change %d", got.Seq, v.Seq)
						return
					}
					errs <- nil
				}()
			}
			deadline := time.Now().Add(wait)
			for sy.waiting.Load() < int32(k) {
				if time.Now().After(deadline) {
					t.Fatalf("%d callers waiting, want %d", sy.waiting.Load(), k)
				}
				runtime.Gosched() // the event is a caller taking its ticket
			}
			close(h.release)
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			for range k {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
			// The held sync read the feed once; the k callers share one
			// sync, which reads it once more (its changes fit one page).
			if got := h.calls.Load() - before; got != 1 {
				t.Errorf("%d callers made %d more reads of the feed, want 1", k, got)
			}
			inStep(t, "after the burst", h, n)
		})
	}
}

// manyStore is a store with ManyGetter that counts its round trips: the
// batch calls, and the one-item getters it must no longer be asked.
type manyStore struct {
	store.Store
	batches, singles atomic.Int32
}

func (m *manyStore) Device(ctx context.Context, id string) (store.Device, error) {
	m.singles.Add(1)
	return m.Store.Device(ctx, id)
}

func (m *manyStore) Grant(ctx context.Context, id string) (store.Grant, error) {
	m.singles.Add(1)
	return m.Store.Grant(ctx, id)
}

func (m *manyStore) DevicesByID(ctx context.Context, ids []string) ([]store.Device, error) {
	m.batches.Add(1)
	var out []store.Device
	for _, id := range ids {
		d, err := m.Store.Device(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func (m *manyStore) GrantsByID(ctx context.Context, ids []string) ([]store.Grant, error) {
	m.batches.Add(1)
	var out []store.Grant
	for _, id := range ids {
		g, err := m.Store.Grant(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// TestDeltaFetchesManyAtOnce: with a store that fetches many items at
// once, a delta of k device and grant changes costs two round trips
// (one per kind) instead of k, and items gone since their change (a
// grant added then deleted within the delta's feed, read as its last
// entry) leave the node in step with the store.
func TestDeltaFetchesManyAtOnce(t *testing.T) {
	for _, k := range []int{1, 10, 200} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			ctx := context.Background()
			m := &manyStore{Store: openSQLite(t)}
			n := &node{}
			sy := newSyncer(m, n, Config{})
			if _, err := m.PutHousehold(ctx, store.Household{ID: "h1", Name: "H"}); err != nil {
				t.Fatal(err)
			}
			if err := sy.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			devicesWithPauses(t, m, k, 1)
			m.batches.Store(0)
			if err := sy.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if got := m.batches.Load(); got != 2 {
				t.Errorf("%d devices and grants fetched in %d batches, want 2", k, got)
			}
			if got := m.singles.Load(); got != 0 {
				t.Errorf("%d items fetched one by one, want none", got)
			}
			inStep(t, "after the delta", m, n)
		})
	}
}

// TestSyncReadsSeqNotState: with Config.Seq set, a sync and Stats ask
// only for the position (State copies every item of the policy: on a
// node at a thousand changes a second that copy was half its CPU); the
// agreement check alone reads the state.
func TestSyncReadsSeqNotState(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	n := &node{}
	var states, seqs atomic.Int64
	sy := New(Config{
		Store: s, Load: n.load, Apply: n.apply,
		State: func() (store.State, bool) { states.Add(1); return n.state() },
		Seq: func() (int64, bool) {
			seqs.Add(1)
			st, ok := n.state()
			return st.Seq, ok
		},
	})
	tests := []struct {
		name       string
		run        func() error
		wantStates int64
	}{
		{"first sync", func() error { return sy.Sync(ctx) }, 0},
		{"sync after a write", func() error {
			if _, err := s.PutHousehold(ctx, store.Household{ID: "h1", Name: "H"}); err != nil {
				return err
			}
			return sy.Sync(ctx)
		}, 0},
		{"stats", func() error { sy.Stats(); sy.Applied(); return nil }, 0},
		{"agreement check", func() error { return sy.Check(ctx) }, 1},
	}
	for _, tc := range tests {
		states.Store(0)
		seqs.Store(0)
		if err := tc.run(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := states.Load(); got != tc.wantStates {
			t.Errorf("%s: State called %d times, want %d", tc.name, got, tc.wantStates)
		}
		if tc.name != "agreement check" && seqs.Load() == 0 {
			t.Errorf("%s: Seq never called", tc.name)
		}
	}
	inStep(t, "after the syncs", s, n)
}

// feedStore is a manyStore that also reads the feed with its grants
// (FeedReader) and says what it heard of (HeardSeq). It counts the feed
// reads of each kind; each page's At is at, plus the page's last seq in
// seconds.
type feedStore struct {
	manyStore
	pages, plainReads atomic.Int32
	heard             atomic.Int64
}

var at0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (f *feedStore) Changes(ctx context.Context, after int64, limit int) ([]store.Change, error) {
	f.plainReads.Add(1)
	return f.manyStore.Changes(ctx, after, limit)
}

func (f *feedStore) ChangesWithGrants(ctx context.Context, after int64, limit int) (store.FeedPage, error) {
	f.pages.Add(1)
	cs, err := f.manyStore.Changes(ctx, after, limit)
	if err != nil {
		return store.FeedPage{}, err
	}
	p := store.FeedPage{Changes: cs}
	for _, c := range cs {
		if c.Kind != store.KindGrant || c.Deleted {
			continue
		}
		g, err := f.manyStore.Store.Grant(ctx, c.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return store.FeedPage{}, err
		}
		p.Grants = append(p.Grants, g)
	}
	if len(cs) > 0 {
		p.At = at0.Add(time.Duration(cs[len(cs)-1].Seq) * time.Second)
	}
	return p, nil
}

func (f *feedStore) HeardSeq() int64 { return f.heard.Load() }

// TestDeltaReadsFeedWithGrants: with a FeedReader store, a delta's feed
// and its grants come in one read per page of the feed (Changes and
// GrantsByID are not asked), the node ends up in step, and Stats reports
// the position heard of and when the newest applied change was written.
func TestDeltaReadsFeedWithGrants(t *testing.T) {
	for _, k := range []int{1, 10, 400} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			ctx := context.Background()
			f := &feedStore{manyStore: manyStore{Store: openSQLite(t)}}
			n := &node{}
			sy := newSyncer(f, n, Config{})
			if _, err := f.PutHousehold(ctx, store.Household{ID: "h1", Name: "H"}); err != nil {
				t.Fatal(err)
			}
			if err := sy.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			devicesWithPauses(t, f, k, 2)
			head, err := f.Version(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Heard of more than the store holds yet: a notification
			// that arrived before its write is visible here.
			f.heard.Store(head.Seq + 3)
			if st := sy.Stats(); st.Heard != head.Seq+3 || st.Applied != 1 || !st.AppliedAt.IsZero() {
				t.Errorf("before the sync: heard %d, applied %d at %v; want %d, 1, zero", st.Heard, st.Applied, st.AppliedAt, head.Seq+3)
			}
			f.pages.Store(0)
			f.plainReads.Store(0)
			f.batches.Store(0)
			if err := sy.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			changes := int(head.Seq - 1)
			if got, want := f.pages.Load(), int32(changes/page+1); got != want {
				t.Errorf("%d changes read in %d pages, want %d", changes, got, want)
			}
			if got := f.plainReads.Load(); got != 0 {
				t.Errorf("Changes asked %d times, want none", got)
			}
			if got := f.batches.Load(); got != 1 {
				t.Errorf("%d batch fetches, want 1 (devices; grants came with the feed)", got)
			}
			if got := f.singles.Load(); got != 0 {
				t.Errorf("%d items fetched one by one, want none", got)
			}
			inStep(t, "after the delta", f, n)
			st := sy.Stats()
			if want := at0.Add(time.Duration(head.Seq) * time.Second); st.Applied != head.Seq || !st.AppliedAt.Equal(want) {
				t.Errorf("after the sync: applied %d at %v, want %d at %v", st.Applied, st.AppliedAt, head.Seq, want)
			}
			if st.Heard != head.Seq+3 {
				t.Errorf("after the sync: heard %d, want %d", st.Heard, head.Seq+3)
			}
			f.heard.Store(0) // a store that heard nothing: the feed read says
			if st := sy.Stats(); st.Heard != head.Seq {
				t.Errorf("heard %d with no announcement, want the feed's %d", st.Heard, head.Seq)
			}
		})
	}
}

// devicesWithPauses writes k devices d0... of household h1, each with
// pauses grants; the pauses of every other device end (are deleted) at
// once, as if paused and resumed before a node syncs.
func devicesWithPauses(t *testing.T, s store.Store, k, pauses int) {
	t.Helper()
	ctx := context.Background()
	until := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range k {
		id := fmt.Sprintf("d%d", i)
		if _, err := s.PutDevice(ctx, store.Device{ID: id, Household: "h1", Name: id}); err != nil {
			t.Fatal(err)
		}
		for range pauses {
			g, err := s.AddGrant(ctx, store.Grant{Device: id, Kind: store.GrantPause, Until: until})
			if err != nil {
				t.Fatal(err)
			}
			if i%2 == 1 {
				if err := s.DeleteGrant(ctx, g.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
