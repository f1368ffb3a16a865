package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/hearth-dns/hearth/internal/api"
	"github.com/hearth-dns/hearth/internal/auth"
	"github.com/hearth-dns/hearth/internal/cache"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/lists"
	"github.com/hearth-dns/hearth/internal/metrics"
	"github.com/hearth-dns/hearth/internal/observe"
	"github.com/hearth-dns/hearth/internal/querylog"
	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/postgres"
	"github.com/hearth-dns/hearth/internal/store/sqlite"
)

// StorePath returns the store file of cfg.
func StorePath(cfg *config.Config) string {
	if cfg.Store.Path != "" {
		return cfg.Store.Path
	}
	return filepath.Join(cfg.DataDir, "hearth.db")
}

// StoreName names cfg's store for people: the SQLite file, or the
// PostgreSQL store (never its DSN, which may hold a password).
func StoreName(cfg *config.Config) string {
	if cfg.StoreDriver() == config.DriverPostgres {
		return "the PostgreSQL store (store.dsn)"
	}
	return StorePath(cfg)
}

// storeMayExist reports whether cfg's store may hold data: a PostgreSQL
// store always may; a SQLite one only once its file exists, so that
// read-only commands (explain) never create one.
func storeMayExist(cfg *config.Config) bool {
	if cfg.StoreDriver() == config.DriverPostgres {
		return true
	}
	_, err := os.Stat(StorePath(cfg))
	return err == nil
}

// OpenStore opens cfg's store, creating it and the home household when
// missing.
func OpenStore(ctx context.Context, cfg *config.Config, a *App) (store.Store, error) {
	st, err := openDriver(ctx, cfg, a)
	if err != nil {
		return nil, err
	}
	if err := ensureHome(ctx, st); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// ensureHome creates the home household when st lacks it.
func ensureHome(ctx context.Context, st store.Store) error {
	if _, err := st.Household(ctx, HomeHousehold); errors.Is(err, store.ErrNotFound) {
		_, err = st.PutHousehold(ctx, store.Household{ID: HomeHousehold, Name: "Home"})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("create the home household: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("read the home household: %w", err)
	}
	return nil
}

// openDriver opens the store of cfg's driver.
func openDriver(ctx context.Context, cfg *config.Config, a *App) (store.Store, error) {
	log := slog.New(slog.DiscardHandler)
	if a != nil {
		log = a.log
	}
	if cfg.StoreDriver() == config.DriverPostgres {
		// Lazy: a node started while the database is down serves from
		// its snapshot file and uses the store once it answers.
		st, err := postgres.Open(ctx, &postgres.Config{DSN: cfg.StoreDSN(), Logger: log, Lazy: a != nil && !a.readOnly})
		if err != nil {
			return nil, cfg.Errorf("store.dsn", "%v", err)
		}
		return st, nil
	}
	path := StorePath(cfg)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, cfg.Errorf("data_dir", "%v", err)
	}
	st, err := sqlite.Open(ctx, &sqlite.Config{Path: path, Logger: log})
	if err != nil {
		return nil, cfg.Errorf("store", "%v", err)
	}
	return st, nil
}

// openState opens what lives as long as the App rather than one
// generation of the pipeline: the store, the query log, the metrics, the
// accounts and the API. A read-only App (check, explain) opens none.
func (a *App) openState(cfg *config.Config) error {
	if a.readOnly {
		return nil
	}
	ctx := context.Background()
	// Nothing in the data directory may keep DNS from starting: a store
	// or query log that cannot be opened is reported (log, /metrics, the
	// UI's banner) and left out.
	a.storage = a.newStorage(cfg)
	a.metrics = metrics.NewRegistry()
	a.registerStorageMetrics()
	a.openStorage(ctx, cfg)
	st := a.store
	if cfg.QueryLog.Enabled {
		ql, err := querylog.New(querylog.Config{
			Path:             filepath.Join(cfg.DataDir, "querylog.db"),
			Buffer:           cfg.QueryLog.Buffer,
			Retention:        cfg.QueryLog.Retention,
			CounterRetention: cfg.QueryLog.CountersRetention,
			TruncateIPv4Bits: cfg.QueryLog.IPv4Prefix,
			TruncateIPv6Bits: cfg.QueryLog.IPv6Prefix,
			Now:              a.now,
			Logger:           a.log,
		})
		if err != nil {
			a.storage.problem("query-log", "The query log cannot be opened; queries are answered but not logged.", cfg.Errorf("query_log", "%v", err))
		} else {
			a.qlog = ql
		}
	}
	usageTable, categoryOf, err := a.openUsage(cfg)
	if err != nil {
		a.closeState()
		return err
	}
	a.usage = usageTable
	if a.tap, err = a.openTap(cfg); err != nil {
		a.closeState()
		return err
	}
	oc := observe.Config{Metrics: a.metrics, Log: a.qlog, Now: a.now,
		Usage: a.usage, CategoryOf: categoryOf, HomeHousehold: HomeHousehold, Watch: a.activityWatcher()}
	if a.wallClock {
		oc.Now = nil // a log entry's time and duration from one clock read, not two
	}
	a.obs = observe.New(oc)
	a.registerMetrics()
	if st == nil {
		return nil
	}
	if a.auth, err = auth.New(auth.Config{Accounts: st, Now: a.now, Logger: a.log}); err != nil {
		a.closeState()
		return err
	}
	a.sync = a.newSyncer(st)
	a.api, err = api.New(api.Config{Store: st, Auth: a.auth, Backend: backend{a}, Log: a.qlog, Usage: a.usage, Now: a.now, Logger: a.log})
	if err != nil {
		a.closeState()
		return err
	}
	return nil
}

// closeState closes what openState opened.
func (a *App) closeState() error {
	var errs []error
	if a.qlog != nil {
		errs = append(errs, a.qlog.Close())
		a.qlog = nil
	}
	if a.store != nil {
		errs = append(errs, a.store.Close())
		a.store = nil
	}
	return errors.Join(errs...)
}

// purgeSessions deletes expired sessions.
func (a *App) purgeSessions(ctx context.Context) {
	if _, err := a.auth.PurgeExpired(ctx); err != nil && ctx.Err() == nil {
		a.log.Warn("purging expired sessions", "err", err)
	}
}

// every calls f every d until ctx is done.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// registerMetrics registers the metrics read at scrape time.
func (a *App) registerMetrics() {
	r := a.metrics
	a.upstreamSeconds = r.HistogramVec("hearth_upstream_duration_seconds", "Exchanges with each upstream server, by outcome.",
		metrics.ExponentialBuckets(0.001, 2, 13), "upstream", "result")
	cacheStat := func(name, help string, f func(s cacheStats) uint64) {
		r.CounterFunc(name, help, func() float64 {
			b := a.cur.Load()
			if b == nil || b.cache == nil {
				return 0
			}
			return float64(f(b.cache.Stats()))
		})
	}
	cacheStat("hearth_cache_hits_total", "Cacheable queries answered from a fresh cache entry (this pipeline generation).", func(s cacheStats) uint64 { return s.Hits })
	cacheStat("hearth_cache_misses_total", "Cacheable queries not answered from a fresh cache entry (this pipeline generation).", func(s cacheStats) uint64 { return s.Misses })
	cacheStat("hearth_cache_stale_total", "Stale answers served after upstream failures (this pipeline generation).", func(s cacheStats) uint64 { return s.Stale })
	cacheStat("hearth_cache_busy_total", "Misses answered SERVFAIL at once because a client, or all, had too many upstream queries in flight (this pipeline generation).", func(s cacheStats) uint64 { return s.Busy })
	cacheStat("hearth_cache_failures_total", "Misses answered from a cached resolution failure, RFC 9520 (this pipeline generation).", func(s cacheStats) uint64 { return s.Failures })
	r.GaugeFunc("hearth_cache_bytes", "Memory of the answer cache's entries, as bounded by cache.max_bytes.", func() float64 {
		if b := a.cur.Load(); b != nil {
			return float64(b.cacheBytes())
		}
		return 0
	})
	a.registerGuardMetrics()
	r.CounterFunc("hearth_rate_limited_total", "Queries over a client's query rate or a network's response rate (limits.qps, refused_qps, repeat_qps): dropped, refused or slipped.", func() float64 {
		return float64(a.limiter.Limited.Load())
	})
	r.CounterFunc("hearth_rate_limit_slipped_total", "Truncated answers (TC=1) sent in place of rate-limited ones, so a real client retries over TCP (limits.slip).", func() float64 {
		return float64(a.limiter.Slipped.Load())
	})
	r.GaugeFunc("hearth_cache_entries", "Entries in the answer cache.", func() float64 {
		if b := a.cur.Load(); b != nil && b.cache != nil {
			return float64(b.cache.Len())
		}
		return 0
	})
	r.GaugeFunc("hearth_index_bytes", "Memory of the compiled domain index.", func() float64 {
		if b := a.cur.Load(); b != nil {
			return float64(b.live.Load().Lists.Index.Bytes())
		}
		return 0
	})
	r.GaugeFunc("hearth_memory_limit_bytes", "The Go runtime's soft memory limit (memory_limit; GOMEMLIMIT).", func() float64 {
		if n := debug.SetMemoryLimit(-1); n < math.MaxInt64 {
			return float64(n)
		}
		return 0 // none
	})
	r.GaugeFunc("hearth_index_names", "Names in the compiled domain index.", func() float64 {
		if b := a.cur.Load(); b != nil {
			return float64(b.live.Load().Lists.Index.Len())
		}
		return 0
	})
	r.Collect("hearth_source_rules", "Rules each list source contributed to the index.", metrics.TypeGauge, []string{"source", "tag"}, func(emit metrics.EmitFunc) {
		for _, l := range a.compiledLists() {
			emit(float64(l.Stats.Rules), l.ID, l.Tag)
		}
	})
	r.Collect("hearth_list_age_seconds", "Seconds since each downloaded list's copy in use was last confirmed current.", metrics.TypeGauge, []string{"source"}, func(emit metrics.EmitFunc) {
		now := a.now()
		for _, h := range a.listHealth() {
			if !h.FetchedAt.IsZero() {
				emit(now.Sub(h.FetchedAt).Seconds(), h.ID)
			}
		}
	})
	r.Collect("hearth_list_failures_total", "Failed downloads of each downloaded list since start.", metrics.TypeCounter, []string{"source"}, func(emit metrics.EmitFunc) {
		for _, h := range a.listHealth() {
			if h.URL != "" {
				emit(float64(h.FailuresTotal), h.ID)
			}
		}
	})
	r.Collect("hearth_lists", "Lists by state: local, pending, fresh, stale (last good copy kept) or failed (no data).", metrics.TypeGauge, []string{"state"}, func(emit metrics.EmitFunc) {
		n := map[lists.State]int{}
		for _, h := range a.listHealth() {
			n[h.State]++
		}
		for _, st := range []lists.State{lists.StateLocal, lists.StatePending, lists.StateFresh, lists.StateStale, lists.StateFailed} {
			emit(float64(n[st]), string(st))
		}
	})
	if a.qlog != nil {
		r.CounterFunc("hearth_querylog_dropped_total", "Query-log entries dropped because the writer was behind.", func() float64 { return float64(a.qlog.Stats().Dropped) })
		r.CounterFunc("hearth_querylog_written_total", "Query-log rows written.", func() float64 { return float64(a.qlog.Stats().Written) })
	}
}

type (
	cacheStats = cache.Stats
	listStatus = lists.Status
)

// compiledLists returns the lists of the index in use.
func (a *App) compiledLists() []listStatus {
	b := a.cur.Load()
	if b == nil {
		return nil
	}
	return b.live.Load().Lists.Lists
}

// listHealth returns the live download state of the lists in use.
func (a *App) listHealth() []lists.Health {
	b := a.cur.Load()
	if b == nil || b.lists == nil {
		return nil
	}
	return b.lists.Health(a.now())
}

// observeUpstream records one upstream exchange.
func (a *App) observeUpstream(server string, took time.Duration, failed bool) {
	if a.upstreamSeconds == nil {
		return
	}
	result := "ok"
	if failed {
		result = "error"
	}
	a.upstreamSeconds.With(server, result).ObserveDuration(took)
}
