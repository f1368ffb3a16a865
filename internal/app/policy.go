package app

import (
	"context"
	"net/netip"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/hearth-dns/hearth/internal/budget"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/filter"
	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/lists"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/policy/compile"
	"github.com/hearth-dns/hearth/internal/store"
)

// buildPolicy plans the policy of cfg, compiles the lists from what is on
// disk (never the network: start must work offline and fast), and makes
// the filter and the first snapshot of the config's and st's policy.
// Downloads run in the background once b starts.
func (a *App) buildPolicy(cfg *config.Config, b *built, st store.State) error {
	// A serving App plans every category's lists: parents turn categories
	// on at run time, and a policy read from the snapshot file may block
	// any of them.
	plan, err := compile.NewPlan(cfg, a.cat, !a.readOnly || a.store != nil)
	if err != nil {
		return err
	}
	var fetcher *lists.Fetcher
	for _, e := range plan.Entries() {
		if e.Source.URL != "" {
			if fetcher, err = lists.New(filepath.Join(cfg.DataDir, "lists"), a.listClient, a.log); err != nil {
				return cfg.Errorf("data_dir", "%v", err)
			}
			break
		}
	}
	mc := lists.ManagerConfig{Entries: plan.Entries(), Fetcher: fetcher, Logger: a.log,
		Parallel: cfg.Lists.Parallel, Refresh: cfg.Lists.Refresh, Now: a.now, After: a.after}
	if old := a.cur.Load(); old != nil {
		mc.Previous = old.lists // a reload keeps the download schedule
	}
	mgr, err := lists.NewManager(mc)
	if err != nil {
		return cfg.Errorf("sources", "%v", err)
	}
	compiled, err := mgr.CompileCached(filepath.Join(cfg.DataDir, "index"), !a.readOnly)
	if err != nil {
		return err
	}
	a.logCompiled(compiled)
	// Parsing left the builder's garbage behind (about 40 bytes a name):
	// give it back to the system now rather than keep it as RSS.
	debug.FreeOSMemory()
	b.plan, b.lists, b.dataDir = plan, mgr, cfg.DataDir
	// The compiled index is saved in the background once the server
	// answers (off the way to the first answer); closing waits for the
	// save, so the next start finds it.
	b.background = append(b.background, func(context.Context) { mgr.StartSaving() })
	b.closers = append(b.closers, func() error { mgr.WaitSaved(); return nil })

	var trusted []netip.Prefix
	for _, s := range cfg.Access.TrustedForwarders {
		p, _ := config.ParsePrefix(s) // checked by config.Validate
		trusted = append(trusted, p)
	}
	warnWeakClientIDs(a.log, cfg)
	b.identBase = identity.Config{
		TrustedForwarders: trusted,
		ClientIDDomains:   cfg.Access.ClientIDDomains,
		Guard:             a.idGuard,
		Logger:            a.log,
	}
	if plan.NeedNeighbors() || hasMACs(st) || (b.recorder != nil && !a.readOnly) {
		n := identity.NewNeighbors(identity.NeighborsConfig{Logger: a.log})
		if err := n.Refresh(); err != nil {
			a.log.Warn("neighbour table", "err", err)
		}
		b.identBase.Neighbors = n
		b.background = append(b.background, func(ctx context.Context) { n.Run(ctx, 30*time.Second) })
	}
	s, err := plan.Compile(b.identBase, compiled, st, a.now())
	if err != nil {
		return err
	}
	a.logProblems(s)
	b.live.Store(s)
	a.updateMemoryLimit(b)
	fc := filter.Config{Blocking: plan.Blocking(), Now: a.now, Logger: a.log, Budgets: a.budgetCounter()}
	if a.wallClock {
		fc.Now = nil // each query's Received: one clock read per query, not two
	}
	b.filter = filter.New(fc)
	if mgr.HasDownloads() {
		b.background = append(b.background, func(ctx context.Context) {
			mgr.Run(ctx, func(ctx context.Context) { a.recompileLists(b) })
		})
	}
	return nil
}

// hasMACs reports whether some store device is known by MAC, so that the
// neighbour table is needed.
func hasMACs(st store.State) bool {
	for _, d := range st.Devices {
		if len(d.MACs) > 0 {
			return true
		}
	}
	return false
}

// logProblems logs the store items a snapshot left out.
func (a *App) logProblems(s *compile.Snapshot) {
	for _, p := range s.Problems {
		a.log.Warn("store item left out", "err", p)
	}
}

// applyState swaps in the policy of st, keeping b's lists: the store
// changed. Queries never wait: they see the old snapshot or the new one.
func (a *App) applyState(b *built, st store.State) error {
	b.policyMu.Lock()
	defer b.policyMu.Unlock()
	s, err := b.plan.Compile(b.identBase, b.live.Load().Lists, st, a.now())
	if err != nil {
		return err
	}
	a.logProblems(s)
	b.live.Store(s)
	a.updateMemoryLimit(b)
	if a.storage != nil {
		a.storage.ok("load")
		a.storage.setPolicyFrom(true, policyFromStore)
		// A delta still waiting for the snapshot writer is older
		// than st: it must not be written over it.
		a.storage.next.Store(nil)
	}
	a.saveSnapshot(context.Background(), st)
	return nil
}

// applyLists swaps in the policy over a newly compiled index.
func (a *App) applyLists(b *built, c *lists.Compiled) error {
	b.policyMu.Lock()
	defer b.policyMu.Unlock()
	s, err := b.live.Load().Apply(compile.Delta{Lists: c}, a.now())
	if err != nil {
		return err
	}
	b.live.Store(s)
	a.logCompiled(c)
	a.updateMemoryLimit(b)
	debug.FreeOSMemory()
	return nil
}

func (a *App) logCompiled(c *lists.Compiled) {
	loaded := 0
	for _, l := range c.Lists {
		if l.Loaded {
			loaded++
		} else {
			a.log.Debug("list not loaded", "list", l.ID, "err", l.Err)
		}
	}
	a.log.Info("lists compiled", "lists", loaded, "of", len(c.Lists), "names", c.Index.Len(), "index_bytes", c.Index.Bytes(), "took", c.Took.Round(time.Millisecond), "from_snapshot", c.FromSnapshot)
}

// recompileLists compiles the lists after a download changed one, and
// swaps in a new snapshot over them.
func (a *App) recompileLists(b *built) {
	c, err := b.lists.CompileCached(filepath.Join(b.dataDir, "index"), true)
	if err == nil {
		err = a.applyLists(b, c)
	}
	if err != nil {
		a.log.Error("list rebuild failed; the running lists keep serving", "err", err)
	}
}

// budgetCounter is the filter's view of the budget tracker: nil (budgets
// off) when the App has none.
func (a *App) budgetCounter() filter.Budgets {
	if a.budgets == nil {
		return nil
	}
	return a.budgets
}

// budgetView reads the budget tracker without counting: an explanation
// is not the device's activity.
type budgetView struct{ t *budget.Tracker }

func (v budgetView) Spent(device string, s *policy.Snapshot, prof int, now time.Time) policy.TagSet {
	return v.t.Spent(device, s, prof, now)
}

func (budgetView) Count(string, *policy.Snapshot, int, uint32, time.Time) {}

func (budgetView) Held(string, *policy.Snapshot, int, int, time.Time) {}
