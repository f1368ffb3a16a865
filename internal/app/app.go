// Package app is Hearth's composition root: it builds every component from
// the configuration, wires the query pipeline, starts and stops the
// listeners, and reloads by building a new pipeline beside the old one and
// swapping it in only when it is whole.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/access"
	"github.com/hearth-dns/hearth/internal/api"
	"github.com/hearth-dns/hearth/internal/auth"
	"github.com/hearth-dns/hearth/internal/budget"
	"github.com/hearth-dns/hearth/internal/cache"
	"github.com/hearth-dns/hearth/internal/catalog"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/discovery"
	"github.com/hearth-dns/hearth/internal/dnstap"
	"github.com/hearth-dns/hearth/internal/filter"
	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/lists"
	"github.com/hearth-dns/hearth/internal/local"
	"github.com/hearth-dns/hearth/internal/metrics"
	"github.com/hearth-dns/hearth/internal/observe"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/policy/compile"
	"github.com/hearth-dns/hearth/internal/policysync"
	"github.com/hearth-dns/hearth/internal/querylog"
	"github.com/hearth-dns/hearth/internal/radius"
	"github.com/hearth-dns/hearth/internal/server"
	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/upstream"
	"github.com/hearth-dns/hearth/internal/usage"
	"github.com/hearth-dns/hearth/internal/web"
)

// App is one running Hearth.
type App struct {
	log *slog.Logger
	// now is the clock of the cache and the policy; nil means time.Now.
	now func() time.Time
	// wallClock says that now is time.Now (no WithClock): the filter
	// then takes each query's receive time instead of reading it again.
	wallClock bool
	// after is the timer of list downloads; nil means time.After.
	after func(time.Duration) <-chan time.Time
	// listClient downloads lists; nil means a plain http.Client.
	listClient *http.Client
	// cat is the embedded catalog, loaded once.
	cat *catalog.Catalog
	// readOnly builds without writing to the data directory (check).
	readOnly bool
	// discoveryObserver, when set, hears each new-device outcome (tests).
	discoveryObserver func(addr netip.Addr, outcome string)
	// afterIdentify, when set, runs on the query path between the
	// Identify and Policy steps: tests use it to swap policy generations
	// at the worst moment.
	afterIdentify func()

	// store holds what parents change at run time; nil when read-only,
	// or when it cannot be opened or read (see storage).
	store store.Store
	// storage tracks the data directory's health and the policy snapshot
	// file; nil when read-only.
	storage *storage
	// writeFile writes the snapshot file; nil means
	// policysync.WriteFileAtomic (tests inject disk errors).
	writeFile func(path string, data []byte) error
	// sync keeps the running policy in step with the store.
	sync *policysync.Syncer
	// qlog is the query log; nil when off or read-only.
	qlog *querylog.Writer
	// metrics is the Prometheus registry of /metrics; obs feeds it and
	// the query log.
	metrics *metrics.Registry
	obs     *observe.Observer
	// usage counts queries per household; tap is the dnstap output (nil
	// when off). See isp.go.
	usage *usage.Table
	tap   *dnstap.Tap
	// upstreamSeconds times upstream exchanges.
	upstreamSeconds *metrics.HistogramVec
	auth            *auth.Auth
	api             *api.API
	// idGuard slows down sources that guess encrypted-DNS client ids; it
	// outlives pipeline generations.
	idGuard *identity.Guard
	// limiter rate-limits clients; it outlives reloads.
	limiter *access.Limiter
	// budgets counts the active minutes of time budgets; it outlives
	// reloads.
	budgets *budget.Tracker
	// cur is the generation in effect, for readers that must not wait
	// for a.mu (store syncs, the API).
	cur atomic.Pointer[built]
	// stopBackground ends the App-wide background work (store sync), and
	// background is done once that work has returned: Shutdown waits for
	// it before closing the store the work uses.
	stopBackground context.CancelFunc
	background     sync.WaitGroup

	mu    sync.Mutex // serialises Start, Reload, Shutdown and store syncs
	cfg   *config.Config
	built *built
	srv   *server.Server
	http  *http.Server
	httpA string
	// block serves the block page; blockA is its bound address.
	block  *http.Server
	blockA string
	// parents is ask a parent, notifications and the digest.
	parents parents
	// radius is the RADIUS accounting listener; nil when off.
	radius *radius.Server
}

// built is one generation of the pipeline and what it owns.
type built struct {
	cfg     *config.Config
	handler pipeline.Handler
	allow   []netip.Prefix
	closers []func() error
	cache   *cache.Cache
	filter  *filter.Filter
	// local is the Local step, kept for explanations.
	local pipeline.Middleware
	plan  *compile.Plan
	lists *lists.Manager
	// compiled is the index build the filter started with.
	compiled *lists.Compiled
	dataDir  string
	// background work (list refresh, neighbour table) runs until stop.
	background []func(ctx context.Context)
	stop       context.CancelFunc

	// live holds the snapshot queries are decided against (device
	// tables, policy, lists), swapped whole when the store or the lists
	// change.
	live compile.Live
	// identBase is the identifier config without devices.
	identBase identity.Config
	// recorder records new devices; nil when off.
	recorder *discovery.Recorder
	// policyMu serialises the builders of the next snapshot (store
	// syncs, list refreshes); readers never take it.
	policyMu sync.Mutex
}

// start runs b's background work until b is closed.
func (b *built) start(log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	b.stop = cancel
	b.closers = append([]func() error{func() error { cancel(); return nil }}, b.closers...)
	for _, run := range b.background {
		go run(ctx)
	}
}

// close releases what b owns, last built first (the cache before the
// upstreams it asks).
func (b *built) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

// Option changes how New builds the app.
type Option func(*App)

// HomeHousehold is the household of a home installation (store.HomeHousehold).
const HomeHousehold = store.HomeHousehold

// ReadOnly builds the app without writing anything to the data directory,
// for validating a config.
func ReadOnly() Option { return func(a *App) { a.readOnly = true } }

// withSnapshotWriter sets the writer of the snapshot file, for tests.
func withSnapshotWriter(w func(path string, data []byte) error) Option {
	return func(a *App) { a.writeFile = w }
}

// withAfterIdentify sets the afterIdentify test hook.
func withAfterIdentify(f func()) Option { return func(a *App) { a.afterIdentify = f } }

// WithClock sets the clock the cache reads, for tests.
func WithClock(now func() time.Time) Option { return func(a *App) { a.now = now } }

// WithTimer sets the timer that schedules list downloads and their
// retries, for tests with a fake clock.
func WithTimer(after func(time.Duration) <-chan time.Time) Option {
	return func(a *App) { a.after = after }
}

// WithListClient sets the HTTP client that downloads lists, for tests
// that serve the catalog's lists from a local server.
func WithListClient(c *http.Client) Option { return func(a *App) { a.listClient = c } }

// New builds an App from cfg without starting it. Errors name the config
// file, line and field.
func New(cfg *config.Config, log *slog.Logger, opts ...Option) (*App, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &App{log: log, cfg: cfg}
	for _, o := range opts {
		o(a)
	}
	if a.now == nil {
		a.now, a.wallClock = time.Now, true
	}
	a.log = a.tapErrors(a.log)
	a.initActivity(cfg)
	cat, err := catalog.Default()
	if err != nil {
		return nil, fmt.Errorf("embedded catalog: %w", err)
	}
	a.cat = cat
	a.idGuard = identity.NewGuard(identity.GuardConfig{Now: a.now, Logger: log})
	if a.limiter, err = newLimiter(cfg, log, a.now); err != nil {
		return nil, err
	}
	if err := a.openState(cfg); err != nil {
		return nil, err
	}
	a.budgets = budget.New(budget.Config{Now: a.now, Logger: log})
	if a.store != nil && !a.readOnly {
		if err := a.budgets.Load(context.Background(), a.store); err != nil {
			// Today's counts start afresh; the parent sees it in the log.
			log.Error("time budgets", "err", err)
		}
	}
	if err := a.openParents(cfg); err != nil {
		a.closeState()
		return nil, err
	}
	b, err := a.build(cfg)
	if err != nil {
		a.closeState()
		return nil, err
	}
	var tlsCfg *tls.Config
	if len(cfg.Listen.DoT)+len(cfg.Listen.DoH) > 0 {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			b.close()
			a.closeState()
			return nil, cfg.Errorf("tls", "load certificate: %v", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	srv, err := server.New(server.Config{
		DNS:            cfg.Listen.DNS,
		DoT:            cfg.Listen.DoT,
		DoH:            cfg.Listen.DoH,
		TLS:            tlsCfg,
		Handler:        b.handler,
		Allow:          b.allow,
		UDPPause:       cfg.Listen.UDPPause,
		TCPIdle:        cfg.Limits.TCPIdle,
		TCPConnections: cfg.Limits.TCPConnections,
		TCPPerSource:   cfg.Limits.TCPPerSource,
		DoHLimits:      ptr(dohLimits(cfg.Limits)),
		Limiter:        a.limiter,
		Logger:         log,
	})
	if err != nil {
		b.close()
		a.closeState()
		return nil, err
	}
	a.built, a.srv = b, srv
	a.cur.Store(b)
	if a.sync != nil {
		// Catch up from the snapshot file, or fail and keep serving it.
		a.sync.Sync(context.Background())
	}
	return a, nil
}

// build makes one generation of the pipeline from cfg.
func (a *App) build(cfg *config.Config) (*built, error) {
	b := &built{cfg: cfg}
	var allow []netip.Prefix
	for _, s := range cfg.Access.Allow {
		p, err := config.ParsePrefix(s)
		if err != nil {
			return nil, cfg.Errorf("access.allow", "%v", err)
		}
		allow = append(allow, p)
	}
	b.allow = allow

	up, err := upstream.New(upstream.Config{
		Servers:   cfg.Upstream.Servers,
		Strategy:  cfg.Upstream.Strategy,
		Bootstrap: cfg.Upstream.Bootstrap,
		Timeout:   cfg.Upstream.Timeout,
		Logger:    a.log,
		Observe:   a.observeUpstream,
	})
	if err != nil {
		return nil, cfg.Errorf("upstream.servers", "%v", err)
	}
	b.closers = append(b.closers, up.Close)

	var records []dns.RR
	for i, s := range cfg.Local.Records {
		rr, err := local.ParseRecord(s)
		if err != nil {
			b.close()
			return nil, cfg.Errorf(fmt.Sprintf("local.records[%d]", i), "%v", err)
		}
		records = append(records, rr)
	}
	forward := map[string]local.Exchanger{}
	for domain, addr := range cfg.Local.Forward {
		g, err := upstream.New(upstream.Config{Servers: []string{addr}, Strategy: "failover", Timeout: cfg.Upstream.Timeout, Logger: a.log})
		if err != nil {
			b.close()
			return nil, cfg.Errorf("local.forward."+domain, "%v", err)
		}
		b.closers = append(b.closers, g.Close)
		forward[domain] = g
	}

	// Read in the build, under a.mu: a store sync waits for the swap,
	// then applies anything newer to the new pipeline. Without a working
	// store, the state is the saved snapshot's (or none).
	st, err := a.loadState(context.Background())
	if err != nil {
		b.close()
		return nil, fmt.Errorf("load store: %w", err)
	}
	if a.store != nil && !a.readOnly {
		if cfg.NewDevices.Record {
			if b.recorder, err = a.newRecorder(cfg); err != nil {
				b.close()
				return nil, err
			}
			if b.recorder != nil {
				b.background = append(b.background, b.recorder.Run)
			}
		}
	}
	if err := a.buildPolicy(cfg, b, st); err != nil {
		b.close()
		return nil, err
	}

	maxBytes, _ := config.ParseBytes(cfg.Cache.MaxBytes) // checked by Validate
	c, err := cache.New(cache.Config{
		Size:                 cfg.Cache.Size,
		MaxBytes:             maxBytes,
		MinTTL:               cfg.Cache.MinTTL,
		MaxTTL:               cfg.Cache.MaxTTL,
		Prefetch:             cfg.Cache.Prefetch,
		ServeStale:           cfg.Cache.ServeStale,
		FailureTTL:           cfg.Cache.ServfailTTL,
		MaxInflight:          cfg.Cache.MaxInflight,
		MaxInflightPerClient: cfg.Cache.MaxInflightPerClient,
		Now:                  a.now,
		Logger:               a.log,
	}, up)
	if err != nil {
		b.close()
		return nil, cfg.Errorf("cache", "%v", err)
	}
	b.cache = c
	b.closers = append(b.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return c.Shutdown(ctx)
	})
	identify := b.live.Identify()
	if hook := a.afterIdentify; hook != nil {
		identify = func(next pipeline.Handler) pipeline.Handler {
			return b.live.Identify()(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
				hook()
				return next.ServeDNS(ctx, w, r)
			}))
		}
	}
	var observeStep pipeline.Middleware
	if a.obs != nil {
		var d observe.Discoverer
		if b.recorder != nil {
			d = b.recorder
		}
		observeStep = a.obs.Middleware(d)
	}
	zones := local.New(records, forward, local.WithChaos(local.Chaos(cfg.Local.Chaos)),
		local.WithLimiter(c), local.WithMaxTTL(cfg.Cache.MaxTTL))
	b.local = zones.Middleware()
	b.handler = pipeline.Build(pipeline.Steps{
		Access:   a.limiter.Middleware(),
		Identify: identify,
		Observe:  withTap(observeStep, a.tap),
		Policy:   b.filter.Middleware(),
		Local:    b.local,
		Resolve:  c,
	})
	return b, nil
}

// Start binds the listeners and starts serving.
func (a *App) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.startTap(); err != nil {
		return err
	}
	if err := a.srv.Start(); err != nil {
		return err
	}
	a.built.start(a.log)
	if a.store != nil {
		a.saveSnapshot(context.Background(), a.built.live.Load().State())
	}
	if a.sync != nil {
		ctx, cancel := context.WithCancel(context.Background())
		a.stopBackground = cancel
		a.background.Go(func() { a.sync.Run(ctx) })
		if a.storage != nil {
			a.background.Go(func() { a.snapshotWriter(ctx) })
		}
		if a.qlog != nil {
			a.qlog.Start(ctx)
		}
		a.background.Go(func() { every(ctx, time.Hour, func() { a.purgeSessions(ctx) }) })
		a.background.Go(func() { a.tuneGC(ctx) })
		if !a.readOnly {
			// Saved each real minute (not on the test clock's timer,
			// which schedules list downloads).
			a.background.Go(func() { a.budgets.Run(ctx, a.store, time.Minute, time.After) })
		}
		a.startParents(ctx)
	}
	if addr := a.cfg.Listen.HTTP; addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			a.srv.Shutdown(context.Background())
			return fmt.Errorf("listen http %s: %w", addr, err)
		}
		a.httpA = ln.Addr().String()
		ln, handler, err := a.secureAdmin(limitHTTP(ln, a.cfg))
		if err != nil {
			a.srv.Shutdown(context.Background())
			return err
		}
		a.http = newAdminServer(handler, a.cfg, a.log.With("listener", "http"))
		go a.http.Serve(ln)
	}
	if addr := a.cfg.Listen.BlockPage; addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			a.srv.Shutdown(context.Background())
			if a.http != nil {
				a.http.Close()
			}
			return fmt.Errorf("listen block page %s: %w", addr, err)
		}
		a.blockA = ln.Addr().String()
		a.block = serveHTTP(ln, a.blockPageHandler(), a.cfg, a.log.With("listener", "block page"))
	}
	if err := a.startRadius(); err != nil {
		a.srv.Shutdown(context.Background())
		for _, s := range []*http.Server{a.http, a.block} {
			if s != nil {
				s.Close()
			}
		}
		return err
	}
	a.log.Info("hearth serving", "dns", a.srv.Addrs().UDP, "dot", a.srv.Addrs().DoT, "doh", a.srv.Addrs().DoH, "http", a.httpA, "config", a.cfg.File())
	return nil
}

func (a *App) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	if a.api != nil {
		mux.Handle("/api/", a.storeGate(a.api))
		mux.Handle("GET /metrics", a.auth.RequireMetrics(metricsAccess(a.cfg), a.metrics))
		mux.Handle("/", web.Handler())
	} else if a.storage != nil {
		// No store, so no accounts: the UI loads to show its banner, and
		// /metrics, which the operator needs for the storage gauges now,
		// answers loopback and the configured scrape networks only.
		mux.HandleFunc("/api/", serveUnavailable)
		mux.Handle("GET /metrics", metricsWithoutAccounts(metricsAccess(a.cfg), a.metrics))
		mux.Handle("/", web.Handler())
	}
	if a.storage != nil {
		mux.HandleFunc("GET /api/v1/status", a.serveStatus)
	}
	a.mountParents(mux)
	return mux
}

// blockInfo explains a block-page request: the name is the request's
// Host, the device the one its source address identifies.
func (a *App) blockInfo(r *http.Request) web.BlockInfo {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	info := web.BlockInfo{Host: host, AskForm: a.askEnabled()}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return info
	}
	e, err := a.Explain(r.Context(), ExplainQuery{Client: ap.Addr().Unmap(), At: a.now(), Name: host, Type: dns.TypeA})
	if err != nil {
		return info
	}
	info.Device, info.Profile, info.Reason, info.Text, info.Category = e.Device, e.Profile, e.Reason, e.Text, e.TagName
	if a.store != nil && e.Device != "" {
		if d, err := a.store.Device(r.Context(), e.Device); err == nil {
			info.Device = d.Name
		}
	}
	switch e.Decision.Action {
	case policy.Block, policy.NXDomain, policy.NoData:
		info.Blocked = true
	}
	return info
}

// BlockPageAddr returns the bound address of the block page, or "".
func (a *App) BlockPageAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.blockA
}

// Addrs returns the listeners' bound addresses.
func (a *App) Addrs() server.Addrs { return a.srv.Addrs() }

// HTTPAddr returns the bound address of the HTTP listener, or "".
func (a *App) HTTPAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.httpA
}

// Reload builds a new pipeline from cfg and swaps it in. When cfg cannot
// be built, the error is returned and the running pipeline keeps serving.
// Listener addresses and TLS files are read only at start: a change to
// them is reported and needs a restart.
func (a *App) Reload(cfg *config.Config) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, err := a.build(cfg)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	if !reflect.DeepEqual(cfg.Listen, a.cfg.Listen) || cfg.TLS != a.cfg.TLS || cfg.Limits != a.cfg.Limits {
		a.log.Warn("reload: listen, tls and limits changes take effect at the next restart")
	}
	old := a.built
	a.srv.Update(b.handler, b.allow)
	a.built, a.cfg = b, cfg
	a.cur.Store(b)
	b.start(a.log)
	if a.sync != nil {
		// b was built from the state in effect then; a store write
		// applied to the old generation since, or not yet applied, is
		// applied to b now (the syncer reads the feed from b's state).
		a.sync.Sync(context.Background())
	}
	// Queries that started on the old pipeline may still be talking to
	// its upstreams: close them once those exchanges have timed out.
	time.AfterFunc(2*cfg.Upstream.Timeout+time.Second, old.close)
	a.log.Info("config reloaded", "config", cfg.File())
	return nil
}

// Shutdown stops accepting queries, answers those in flight, and closes
// everything.
func (a *App) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	if a.http != nil {
		errs = append(errs, a.http.Shutdown(ctx))
	}
	if a.block != nil {
		errs = append(errs, a.block.Shutdown(ctx))
	}
	errs = append(errs, a.srv.Shutdown(ctx))
	errs = append(errs, a.stopRadius(ctx))
	errs = append(errs, a.stopTap(ctx))
	if a.stopBackground != nil {
		a.stopBackground()
		a.background.Wait()
	}
	a.built.close()
	errs = append(errs, a.closeState())
	return errors.Join(errs...)
}

// localNames maps the addresses of the config's local A and AAAA records
// to their names.
func localNames(cfg *config.Config) map[netip.Addr]string {
	names := map[netip.Addr]string{}
	for _, rec := range cfg.Local.Records {
		rr, err := local.ParseRecord(rec)
		if err != nil {
			continue
		}
		name := strings.TrimSuffix(rr.Header().Name, ".")
		switch v := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A); ok {
				names[a.Unmap()] = name
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA); ok {
				names[a] = name
			}
		}
	}
	return names
}
