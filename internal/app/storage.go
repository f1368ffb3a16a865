package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/metrics"
	"github.com/hearth-dns/hearth/internal/policy/compile"
	"github.com/hearth-dns/hearth/internal/policysync"
	"github.com/hearth-dns/hearth/internal/store"
)

// Where the policy in effect came from (Status.PolicyFrom).
const (
	policyFromStore    = "store"
	policyFromSnapshot = "snapshot"
	policyFromDefaults = "defaults"
)

// Status is what the web UI shows in its banner, and what
// GET /api/v1/status answers without login: whether Hearth's data
// directory works, and where the policy in effect came from. Problems
// are for people; details (paths, driver errors) go to the log only.
type Status struct {
	// Degraded is true while something below keeps Hearth from working
	// fully; DNS keeps answering either way.
	Degraded bool `json:"degraded"`
	// StoreOK is false when the store could not be opened or read.
	StoreOK bool `json:"store_ok"`
	// PolicyFrom is "store", "snapshot" (the last policy saved in the
	// data directory) or "defaults" (no snapshot: every device gets the
	// default profile).
	PolicyFrom string `json:"policy_from"`
	// Problems are one sentence each, for the banner.
	Problems []string `json:"problems"`
}

// storage tracks the health of the data directory: the store, the
// snapshot file and the query log.
type storage struct {
	log *slog.Logger
	// path is the snapshot file; write writes it (tests inject failures).
	path  string
	write func(path string, data []byte) error

	// errors counts failures by operation, for /metrics.
	errors *metrics.CounterVec

	mu sync.Mutex
	// saved is the snapshot file as last read or written.
	saved    policysync.File
	status   Status
	problems map[string]string // by operation: open, load, snapshot...
	// reopen is set while a store that was down at start has not
	// answered yet: the checks of openStorage run when it does.
	reopen bool

	// next is the state the snapshot writer writes next (nil: none),
	// and kick wakes it: deltas are saved off the apply path, and a
	// burst of them costs one write of the file (see saveSnapshotLater).
	next atomic.Pointer[compile.Snapshot]
	kick chan struct{}
}

// storageOps are the operations a problem is recorded for, in the order
// the banner shows them.
var storageOps = []string{"open", "load", "empty", "unavailable", "snapshot-read", "snapshot-write", "query-log"}

// unavailableText is the banner's and the API's message while the
// database cannot be reached.
const unavailableText = "Hearth cannot reach its policy database. DNS keeps answering with the last policy; changes cannot be saved until the database is back."

// unavailable records that the store cannot be reached, once per outage.
func (s *storage) unavailable(err error) {
	s.mu.Lock()
	_, already := s.problems["unavailable"]
	s.status.StoreOK = false
	s.mu.Unlock()
	if !already {
		s.problem("unavailable", unavailableText, err)
	}
}

// blocked reports why the API cannot be used now, or "": the database
// is down, or came back empty although setup was done.
func (s *storage) blocked() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.problems["empty"]; ok {
		return "empty"
	}
	if _, ok := s.problems["unavailable"]; ok {
		return "unavailable"
	}
	return ""
}

// problem records a failure of op, logs it with its details and shows
// text in the banner until ok(op).
func (s *storage) problem(op, text string, err error) {
	s.log.Error(text, "op", op, "err", err)
	if s.errors != nil {
		s.errors.With(op).Inc()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems[op] = text
}

// ok clears the problem of op.
func (s *storage) ok(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.problems, op)
}

// Status returns the current status.
func (s *storage) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Problems = []string{}
	for _, op := range storageOps {
		if p, ok := s.problems[op]; ok {
			st.Problems = append(st.Problems, p)
		}
	}
	st.Degraded = len(st.Problems) > 0 || !st.StoreOK
	return st
}

// setPolicyFrom records where the policy in effect came from.
func (s *storage) setPolicyFrom(storeOK bool, from string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.StoreOK, s.status.PolicyFrom = storeOK, from
}

// openStorage reads the snapshot file and opens the store. A store that
// cannot be opened or read, or that is empty although the snapshot says
// setup was done, is closed and left out (a.store stays nil): DNS then
// answers from the snapshot, the API answers 503, and setup stays shut.
func (a *App) openStorage(ctx context.Context, cfg *config.Config) {
	s := a.storage
	f, err := policysync.ReadFile(s.path)
	if err != nil {
		s.problem("snapshot-read", "The saved policy snapshot could not be read; it is written again from the store.", err)
	}
	s.saved = f
	st, err := openDriver(ctx, cfg, a)
	if err != nil {
		s.problem("open", "Hearth cannot open its database. DNS keeps answering with the last saved policy; changes cannot be saved until the database is restored.", err)
		return
	}
	// Version is the cheap proof that the store can be read; the state
	// itself is read whole only when the snapshot file cannot be resumed
	// from (loadState).
	_, err = st.Version(ctx)
	if errors.Is(err, store.ErrUnavailable) {
		// A database server that is down: kept, and used once it
		// answers (the syncer retries; storeHealth finishes the open).
		a.store = st
		s.mu.Lock()
		s.reopen = true
		s.mu.Unlock()
		s.unavailable(err)
		return
	}
	if err == nil {
		err = ensureHome(ctx, st)
	}
	if err != nil {
		st.Close()
		s.problem("load", "Hearth cannot read its database (it may be damaged). DNS keeps answering with the last saved policy; changes cannot be saved until the database is restored.", err)
		return
	}
	users, err := st.Users(ctx)
	if err != nil {
		st.Close()
		s.problem("load", "Hearth cannot read its database (it may be damaged). DNS keeps answering with the last saved policy; changes cannot be saved until the database is restored.", err)
		return
	}
	if len(users) == 0 && f.SetupDone {
		st.Close()
		s.problem("empty", "Hearth's database is empty or missing, but Hearth was set up before. DNS keeps answering with the last saved policy, and setup stays closed: restore the database, or set a password with `hearth admin set-password`.",
			fmt.Errorf("store %s has no administrator but %s says setup was done", StoreName(cfg), s.path))
		return
	}
	a.store = st
}

// loadState reads the store's state for a new policy generation. Without
// a working store it is the saved snapshot's state, or nothing (every
// device gets the default profile: fail closed, never open). A read-only
// App (explain) reads the store as it is, if there is one, and fails
// when it cannot.
func (a *App) loadState(ctx context.Context) (store.State, error) {
	s := a.storage
	if s == nil {
		if a.store == nil {
			return store.State{}, nil
		}
		return a.store.Load(ctx)
	}
	if b := a.cur.Load(); b != nil {
		// A reload keeps the state in effect; the syncer brings the new
		// generation up to date once it is swapped in.
		return b.live.Load().State(), nil
	}
	s.mu.Lock()
	saved, reopen := s.saved, s.reopen
	s.mu.Unlock()
	if a.store != nil && !reopen && saved.Version != 0 && saved.Model == policysync.Model && a.sync != nil {
		// Resume from the snapshot file: the syncer applies the changes
		// made since, then checks that the node agrees with the store.
		a.sync.CheckNext()
		s.setPolicyFrom(true, policyFromSnapshot)
		return saved.State, nil
	}
	if a.store != nil && !reopen {
		st, err := a.store.Load(ctx)
		if err == nil {
			s.ok("load")
			s.setPolicyFrom(true, policyFromStore)
			return st, nil
		}
		s.problem("load", "Hearth cannot read its database (it may be damaged). DNS keeps answering with the last saved policy.", err)
	}
	up := a.store != nil && !reopen
	if saved.Version == 0 {
		s.setPolicyFrom(up, policyFromDefaults)
		return store.State{}, nil
	}
	s.setPolicyFrom(up, policyFromSnapshot)
	return saved.State, nil
}

// saveSnapshot writes the store state of the policy in effect to the
// snapshot file, with the setup marker. A failure (read-only or full
// disk) is reported and the previous file stays whole.
func (a *App) saveSnapshot(ctx context.Context, st store.State) {
	s := a.storage
	if s == nil || a.store == nil {
		return
	}
	s.mu.Lock()
	f := policysync.File{SetupDone: s.saved.SetupDone, State: st, Saved: a.now().UTC()}
	s.mu.Unlock()
	if !f.SetupDone {
		if users, err := a.store.Users(ctx); err == nil && len(users) > 0 {
			f.SetupDone = true
		}
	}
	data, err := f.Encode()
	if err == nil {
		err = s.write(s.path, data)
	}
	if err != nil {
		s.problem("snapshot-write", "Hearth cannot save its policy snapshot (is the disk full or read-only?). DNS keeps answering; after a restart it may use an older policy.", err)
		return
	}
	s.ok("snapshot-write")
	s.mu.Lock()
	f.Version, f.Model = 1, policysync.Model
	s.saved = f
	s.mu.Unlock()
}

// saveSnapshotLater has the snapshot writer save snap's state. The file holds the
// whole state, so writing it after every delta made each change cost a
// full encode, fsync and rename on the path that swaps it in (at 1,000
// changes a second, more than the changes themselves); the writer keeps
// only the latest state, so a burst of changes costs one write. A node
// that crashes in between resumes from an older seq and applies the
// changes since as a delta, which is safe: the file's seq is always
// that of the state it holds.
func (a *App) saveSnapshotLater(snap *compile.Snapshot) {
	s := a.storage
	if s == nil || a.store == nil {
		return
	}
	// The snapshot, not its State(): copying a million households'
	// items out is the writer's work, once a second at most, not each
	// delta's.
	s.next.Store(snap)
	select {
	case s.kick <- struct{}{}:
	default: // the writer is already due to run
	}
}

// snapshotWriter saves the states saveSnapshotLater hands it until ctx
// ends, then saves the last one still pending, so that a node stopped
// cleanly resumes from the state it served.
func (a *App) snapshotWriter(ctx context.Context) {
	s := a.storage
	flush := func() {
		if snap := s.next.Swap(nil); snap != nil {
			a.saveSnapshot(context.Background(), snap.State())
		}
	}
	for {
		select {
		case <-ctx.Done():
			flush()
			return
		case <-s.kick:
			flush()
		}
		// Encoding the whole state was a fifth of a node's CPU at 1,000
		// changes a second even off the apply path; one write per
		// snapshotEvery bounds it, and a crash loses only changes the
		// node reads again from the feed at its next start.
		t := time.NewTimer(snapshotEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			flush()
			return
		case <-t.C:
		}
	}
}

// snapshotEvery is the least time between two writes of the snapshot
// file by the snapshot writer.
const snapshotEvery = time.Second

// newStorage makes the storage tracker of cfg's data directory.
func (a *App) newStorage(cfg *config.Config) *storage {
	w := a.writeFile
	if w == nil {
		w = policysync.WriteFileAtomic
	}
	return &storage{log: a.log, path: filepath.Join(cfg.DataDir, policysync.FileName), write: w, problems: map[string]string{}, kick: make(chan struct{}, 1)}
}

// registerStorageMetrics exposes the storage health on /metrics.
func (a *App) registerStorageMetrics() {
	s := a.storage
	s.errors = a.metrics.CounterVec("hearth_storage_errors_total", "Failures of the data directory and the store by operation (open, load, empty, unavailable, snapshot-read, snapshot-write, query-log).", "op")
	for _, op := range storageOps {
		s.errors.With(op)
	}
	a.metrics.GaugeFunc("hearth_store_up", "1 when the store was opened and read, 0 when DNS answers from the saved snapshot or the defaults.", func() float64 {
		if s.Status().StoreOK {
			return 1
		}
		return 0
	})
	a.metrics.GaugeFunc("hearth_storage_degraded", "1 while a storage problem is shown in the UI banner.", func() float64 {
		if s.Status().Degraded {
			return 1
		}
		return 0
	})
}

// serveStatus answers GET /api/v1/status.
func (a *App) serveStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(a.storage.Status())
}

// serveUnavailable answers the API while the store is unavailable.
func serveUnavailable(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	json.NewEncoder(w).Encode(map[string]string{"error": "the database is unavailable; see GET /api/v1/status"})
}
