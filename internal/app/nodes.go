package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hearth-dns/hearth/internal/metrics"
	"github.com/hearth-dns/hearth/internal/policy/compile"
	"github.com/hearth-dns/hearth/internal/policysync"
	"github.com/hearth-dns/hearth/internal/store"
)

// newSyncer makes the syncer that keeps the policy in effect in step with
// st: changes arrive as deltas applied to the snapshot in effect (see
// package policysync), and its outcome drives the storage status.
func (a *App) newSyncer(st store.Store) *policysync.Syncer {
	sy := policysync.New(policysync.Config{
		Store: st,
		State: func() (store.State, bool) {
			b := a.cur.Load()
			if b == nil {
				return store.State{}, false
			}
			return b.live.Load().State(), true
		},
		// Not State's: that copies every item, and each sync asks.
		Seq: func() (int64, bool) {
			b := a.cur.Load()
			if b == nil {
				return 0, false
			}
			return b.live.Load().Seq(), true
		},
		Load: func(ctx context.Context, s store.State) error {
			b := a.cur.Load()
			if b == nil {
				return errors.New("not started")
			}
			return a.applyState(b, s)
		},
		Apply: func(ctx context.Context, d compile.Delta) error {
			b := a.cur.Load()
			if b == nil {
				return errors.New("not started")
			}
			return a.applyDelta(b, d)
		},
		Health: a.storeHealth,
		Now:    a.now,
		Logger: a.log,
	})
	a.registerSyncMetrics(sy)
	return sy
}

// applyDelta swaps in the policy after d, keeping b's lists.
func (a *App) applyDelta(b *built, d compile.Delta) error {
	b.policyMu.Lock()
	defer b.policyMu.Unlock()
	s, err := b.live.Load().Apply(d, a.now())
	if err != nil {
		return err
	}
	a.logProblems(s)
	b.live.Store(s)
	a.saveSnapshotLater(s)
	return nil
}

// storeHealth hears the outcome of every store sync: the banner, the
// API's gate (storeGate) and /metrics follow it.
func (a *App) storeHealth(err error) {
	s := a.storage
	if s == nil {
		return
	}
	switch {
	case err == nil:
		s.mu.Lock()
		reopen := s.reopen
		s.reopen = false
		s.mu.Unlock()
		if reopen {
			a.finishOpen()
		}
		s.ok("load")
		s.ok("unavailable")
		if s.blocked() == "" {
			s.setPolicyFrom(true, policyFromStore)
		}
	case errors.Is(err, store.ErrUnavailable):
		s.unavailable(err)
		s.mu.Lock()
		s.status.PolicyFrom = policyFromSnapshot
		s.mu.Unlock()
	default:
		s.problem("load", "Hearth cannot read its database (it may be damaged). DNS keeps answering with the policy in effect.", err)
	}
}

// finishOpen runs the checks of openStorage for a store that was down at
// start and now answers: the home household exists, and a database that
// comes back empty although setup was done keeps the API shut (setup
// must not reopen to whoever asks first).
func (a *App) finishOpen() {
	ctx := context.Background()
	s := a.storage
	if err := ensureHome(ctx, a.store); err != nil {
		a.log.Warn("creating the home household", "err", err)
	}
	users, err := a.store.Users(ctx)
	s.mu.Lock()
	setupDone := s.saved.SetupDone
	s.mu.Unlock()
	if err == nil && len(users) == 0 && setupDone {
		s.problem("empty", "Hearth's database is empty or missing, but Hearth was set up before. DNS keeps answering with the last saved policy, and setup stays closed: restore the database, or set a password with `hearth admin set-password`.",
			fmt.Errorf("store %s has no administrator but %s says setup was done", StoreName(a.cfg), s.path))
	}
}

// storeGate answers every API request 503 while the store cannot be
// used, rather than let each one wait for the database and fail: the
// accounts and sessions that authenticate a request live there too.
// GET /api/v1/status stays open (it is served beside the gate).
func (a *App) storeGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		why := a.storage.blocked()
		if why == "" {
			next.ServeHTTP(w, r)
			return
		}
		msg := "policy store unavailable: the database cannot be reached, so changes cannot be saved; DNS keeps answering with the last policy. Retry later."
		if why == "empty" {
			msg = "policy store unavailable: the database is empty although Hearth was set up; see GET /api/v1/status"
		} else {
			w.Header().Set("Retry-After", "5")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
	})
}

// registerSyncMetrics exposes the syncer's counters on /metrics.
func (a *App) registerSyncMetrics(sy *policysync.Syncer) {
	r := a.metrics
	if r == nil {
		return
	}
	r.GaugeFunc("hearth_policy_applied_seq", "Change-feed position of the policy in effect.", func() float64 {
		return float64(sy.Stats().Applied)
	})
	r.GaugeFunc("hearth_policy_heard_seq", "Newest change-feed position the node has heard of (the store's notifications, or a read of the feed).", func() float64 {
		return float64(sy.Stats().Heard)
	})
	r.GaugeFunc("hearth_policy_lag_changes", "Changes the node has heard of but not applied yet (hearth_policy_heard_seq - hearth_policy_applied_seq).", func() float64 {
		st := sy.Stats()
		return float64(st.Heard - st.Applied)
	})
	r.GaugeFunc("hearth_policy_applied_change_age_seconds", "Seconds since the newest change applied as a delta was written, by the writing node's clock (0: none yet). It grows while no one writes; with a lag above 0 it is how late the node is.", func() float64 {
		if t := sy.Stats().AppliedAt; !t.IsZero() {
			return time.Since(t).Seconds() // the writer's clock: a real one, not a.now (tests)
		}
		return 0
	})
	r.CounterFunc("hearth_policy_deltas_total", "Store changes applied as deltas to the policy in effect.", func() float64 {
		return float64(sy.Stats().Deltas)
	})
	r.CounterFunc("hearth_policy_changes_total", "Change-feed entries the applied deltas carried.", func() float64 {
		return float64(sy.Stats().Changes)
	})
	r.Collect("hearth_policy_reloads_total", "Whole reads of the policy state, by reason: start, gap (the feed misses entries), behind (too many changes), disagree (the agreement check failed), kind (a change the store cannot fetch).", metrics.TypeCounter, []string{"reason"}, func(emit metrics.EmitFunc) {
		st := sy.Stats()
		for _, reason := range policysync.ReloadReasons {
			emit(float64(st.Reloads[reason]), reason)
		}
	})
	r.CounterFunc("hearth_policy_agreement_checks_total", "Checks that the node's policy state agrees with the store's.", func() float64 {
		return float64(sy.Stats().Checks)
	})
	r.CounterFunc("hearth_policy_disagreements_total", "Agreement checks that found the node's policy state differing from the store's (each is followed by a whole read).", func() float64 {
		return float64(sy.Stats().Disagreements)
	})
	r.CounterFunc("hearth_policy_sync_failures_total", "Syncs with the store that failed (the running policy keeps serving).", func() float64 {
		return float64(sy.Stats().Failures)
	})
	r.GaugeFunc("hearth_policy_last_sync_seconds", "Unix time the policy in effect was last found in step with the store (0: never).", func() float64 {
		if t := sy.Stats().LastSync; !t.IsZero() {
			return float64(t.UnixNano()) / 1e9
		}
		return 0
	})
}
