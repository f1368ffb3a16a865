package lists

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-dns/hearth/internal/domainindex"
	"github.com/klauspost/compress/gzip"
)

// Entry is one list the Manager compiles into the index.
type Entry struct {
	Source Source
	// Tag is the category or service the list's names belong to.
	Tag string
	// FS, when set, holds the list at Source.File (the embedded lists).
	FS fs.FS
	// Exclude are names the list must not match, with their subdomains
	// (the catalog's exclude entries): compiled as exceptions of the list.
	Exclude []string
}

// Status is what is known of one list after a compile.
type Status struct {
	ID, Tag string
	// Stats are the parse counts of the copy compiled.
	Stats Stats
	// Loaded reports whether a copy of the list is in the index.
	Loaded bool
	// Path is the copy compiled: a file, a cached download or an
	// embedded path.
	Path string
	// FetchedAt is when the compiled copy was downloaded (zero for files).
	FetchedAt time.Time
	// Err is the last read or download error, "" when none.
	Err string
}

// Compiled is one build of the index with the lists behind it. The
// ListID of a list in the index is its position in Lists.
type Compiled struct {
	Index *domainindex.Index
	Lists []Status
	// Rules counts the names added to the index.
	Rules int
	// IPs are the lists' address rules (IP literals in name lists and
	// ip-list sources), matched against the addresses in answers.
	IPs []IPRule
	// Took is how long parsing and building (or loading) took.
	Took time.Duration
	// FromSnapshot reports that the index was loaded from a saved
	// compile of the same lists rather than parsed.
	FromSnapshot bool
}

// IPRule is one address, or range of addresses, a list names.
type IPRule struct {
	Addr netip.Addr
	// Prefix is set for a range; Addr is then its first address.
	Prefix netip.Prefix `json:",omitzero"`
	List   domainindex.ListID
}

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	Entries []Entry
	// Fetcher downloads URL sources and keeps their last good copies.
	Fetcher *Fetcher
	Logger  *slog.Logger
	// Parallel bounds the downloads that run at once; 0 means
	// DefaultParallel.
	Parallel int
	// Refresh is how often a list is downloaded again when its Source
	// has no Refresh of its own; 0 means DefaultRefresh.
	Refresh time.Duration
	// Now and After are the clock of the download schedule; nil means the
	// real clock. Tests pass a fake one, so retries need no sleeps.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// Previous, when set, is the manager this one replaces (a reload): a
	// list with the same ID and URL keeps its schedule, failure counts and
	// error, so a reload neither resets the metrics nor downloads every
	// list again at once.
	Previous *Manager
}

// Defaults of the download schedule.
const (
	// DefaultParallel is how many downloads run at once: enough that 47
	// lists arrive in a few round trips, few enough not to flood a home
	// uplink or one mirror.
	DefaultParallel = 4
	// DefaultRefresh is how often a list is downloaded again.
	DefaultRefresh = 24 * time.Hour
	// FirstRetry is the wait after a first failed download; each further
	// failure doubles it, up to MaxRetry.
	FirstRetry = 5 * time.Second
	// MaxRetry bounds the wait between two attempts of a failing list.
	MaxRetry = 15 * time.Minute
)

// RetryDelay is the wait before the next attempt of a list whose last
// failures downloads in a row failed: 5 s, 10 s, 20 s, ... up to 15 min.
func RetryDelay(failures int) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := FirstRetry
	for i := 1; i < failures && d < MaxRetry; i++ {
		d *= 2
	}
	return min(d, MaxRetry)
}

// Manager compiles lists into an index and keeps URL lists fresh: each one
// is downloaded again every refresh period, and a failed download is
// retried with backoff while the last good copy keeps serving. It is safe
// for concurrent use.
type Manager struct {
	entries  []Entry
	fetcher  *Fetcher
	log      *slog.Logger
	parallel int
	refresh  time.Duration
	now      func() time.Time
	after    func(time.Duration) <-chan time.Time

	mu       sync.Mutex
	state    map[string]*download // by source ID, URL sources only
	progress Progress

	// saveMu is held from the start of CompileCached until the snapshot
	// it writes in the background is saved, so that a compile never reads
	// a snapshot another is still writing (see CompileCached).
	saveMu sync.Mutex
	// gateMu guards serving and gate: until StartSaving, a save waits for
	// gate to close.
	gateMu  sync.Mutex
	serving bool
	gate    chan struct{}

	// workers is the number of goroutines Compile parses on (0:
	// GOMAXPROCS) and pieceBytes the least size of a piece of a list cut
	// for them (split.go); tests set them.
	workers    int
	pieceBytes int64
}

// download is the schedule and outcome of one URL source.
type download struct {
	// okAt is when a copy was last confirmed current (downloaded or
	// not modified); zero when there is no copy.
	okAt time.Time
	// failedSince is the first failed attempt since okAt; zero when the
	// last attempt succeeded.
	failedSince time.Time
	// failures counts failed attempts in a row; total counts them all.
	failures int
	total    uint64
	err      string
	// next is when the source is due; zero means now.
	next    time.Time
	running bool
}

// Progress is how far the current (or last) round of downloads got.
type Progress struct {
	// Total is the number of downloads of the round; Done of them
	// finished, Failed of those failed.
	Total, Done, Failed int
	// Running reports whether the round is still going.
	Running bool
	// Started is when the round began; zero before the first.
	Started time.Time
}

// State is what a parent should know about one list.
type State string

// The states of a list.
const (
	// StateLocal is a file or embedded list: nothing to download.
	StateLocal State = "local"
	// StatePending is a download that has not finished yet, with no
	// copy from before.
	StatePending State = "pending"
	// StateFresh is a copy confirmed current within the refresh period.
	StateFresh State = "fresh"
	// StateStale is a copy kept after failed downloads or older than
	// twice the refresh period: it still blocks, but may miss new names.
	StateStale State = "stale"
	// StateFailed is a list never downloaded: nothing of it is blocked.
	StateFailed State = "failed"
)

// Health is the live download state of one list, for the UI, the API and
// metrics.
type Health struct {
	ID, Tag string
	// URL is the list's address; empty for file and embedded lists.
	URL   string
	State State
	// FetchedAt is when the copy in use was last confirmed current.
	FetchedAt time.Time
	// StaleSince is when the copy stopped being fresh (StateStale).
	StaleSince time.Time
	// Err says why the last download failed; Failures counts the failed
	// attempts in a row, FailuresTotal all of them since start.
	Err           string
	Failures      int
	FailuresTotal uint64
	// NextAttempt is when the list is downloaded next (URL lists).
	NextAttempt time.Time
	// Downloading reports a download in progress.
	Downloading bool
}

// NewManager checks the entries and returns a manager for them.
func NewManager(c ManagerConfig) (*Manager, error) {
	if len(c.Entries) > 1<<16 {
		return nil, fmt.Errorf("lists: %d lists, at most 65536", len(c.Entries))
	}
	seen := map[string]bool{}
	for _, e := range c.Entries {
		if e.FS == nil {
			if err := e.Source.Validate(); err != nil {
				return nil, err
			}
		}
		if seen[e.Source.ID] {
			return nil, fmt.Errorf("list %q: defined twice", e.Source.ID)
		}
		seen[e.Source.ID] = true
		if e.Source.URL != "" && c.Fetcher == nil {
			return nil, fmt.Errorf("list %q: a URL source needs a fetcher (a data directory)", e.Source.ID)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Parallel < 0 || c.Refresh < 0 {
		return nil, fmt.Errorf("lists: negative parallel downloads or refresh period")
	}
	if c.Parallel == 0 {
		c.Parallel = DefaultParallel
	}
	if c.Refresh == 0 {
		c.Refresh = DefaultRefresh
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.After == nil {
		c.After = time.After
	}
	m := &Manager{entries: c.Entries, fetcher: c.Fetcher, log: c.Logger, parallel: c.Parallel, refresh: c.Refresh,
		now: c.Now, after: c.After, state: map[string]*download{}, pieceBytes: defaultPieceBytes}
	for _, e := range c.Entries {
		if !e.isDownload() {
			continue
		}
		if d, ok := c.Previous.carry(e.Source); ok {
			m.state[e.Source.ID] = &d
			continue
		}
		d := &download{}
		// A copy from an earlier run counts from when it was fetched.
		d.okAt, _ = c.Fetcher.FetchedAt(e.Source)
		m.state[e.Source.ID] = d
	}
	return m, nil
}

// carry returns the download state of src in m, if m has src at the same
// URL; a download in progress is due again at once.
func (m *Manager) carry(src Source) (download, bool) {
	if m == nil {
		return download{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries {
		if e.Source.ID != src.ID || e.Source.URL != src.URL || !e.isDownload() {
			continue
		}
		d := *m.state[src.ID]
		if d.running {
			d.running, d.next = false, time.Time{}
		}
		return d, true
	}
	return download{}, false
}

// isDownload reports whether e comes from a URL.
func (e Entry) isDownload() bool { return e.Source.URL != "" && e.FS == nil }

// refreshOf is how often e is downloaded again.
func (m *Manager) refreshOf(e Entry) time.Duration {
	if e.Source.Refresh > 0 {
		return e.Source.Refresh
	}
	return m.refresh
}

// Compile parses every list from what is on disk now (files, the last
// good copies of downloads, embedded lists) and builds the index. It never
// touches the network, so it is fast at start and works offline. A list
// that cannot be read is reported in its Status and left out.
//
// Lists are parsed on up to GOMAXPROCS goroutines, each list into a
// Builder of its own, merged in list order before the build (merging moves
// chunks, not entries), so the result is the same as parsing the lists one
// after the other, whichever goroutine parsed which. A large plain list is
// cut into pieces at line starts and its pieces parsed on several
// goroutines (see split.go), with the same result.
func (m *Manager) Compile() (*Compiled, error) {
	start := time.Now()
	workers := m.workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	c := &Compiled{Lists: make([]Status, len(m.entries))}
	ips := make([][]IPRule, len(m.entries))
	rules := make([]int, len(m.entries))
	builders := make([]*domainindex.Builder, len(m.entries))
	// The pieces of cut lists go first: they are the largest units, so
	// the goroutines finish together with the small lists last.
	split := make([][]piece, len(m.entries))
	var units []piece
	for i := range m.entries {
		split[i] = m.split(i, workers)
		units = append(units, split[i]...)
	}
	results := make([]pieceResult, len(units))
	first := make([]int, len(m.entries)) // index of list i's first piece in units
	for k := len(units) - 1; k >= 0; k-- {
		first[units[k].list] = k
	}
	for i := range m.entries {
		if split[i] == nil {
			units = append(units, piece{list: i})
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(workers, len(units))) {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= len(units) {
					return
				}
				u := units[k]
				if u.f != nil {
					results[k] = m.parsePiece(m.entries[u.list], u)
					continue
				}
				builders[u.list] = domainindex.NewBuilder(0)
				rules[u.list], ips[u.list] = m.compileOne(u.list, &c.Lists[u.list], builders[u.list])
			}
		})
	}
	wg.Wait()
	b := domainindex.NewBuilder(0)
	for i, o := range builders {
		if ps := split[i]; ps != nil {
			ps[0].f.Close()
			rules[i], ips[i] = m.joinPieces(i, ps, results[first[i]:first[i]+len(ps)], &c.Lists[i], b)
		} else {
			b.Merge(o)
		}
		c.Rules += rules[i]
		c.IPs = append(c.IPs, ips[i]...)
	}
	ix, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("build index: %w", err)
	}
	c.Index = ix
	c.Took = time.Since(start)
	return c, nil
}

// compileOne parses list i into b and fills in its status; it returns the
// names added and the list's address rules.
func (m *Manager) compileOne(i int, st *Status, b *domainindex.Builder) (rules int, ips []IPRule) {
	e := m.entries[i]
	st.ID, st.Tag = e.Source.ID, e.Tag
	st.Err, st.FetchedAt = m.lastDownload(e.Source.ID)
	rc, path, err := m.open(e)
	if err != nil {
		if st.Err == "" {
			st.Err = err.Error()
		}
		return 0, nil
	}
	defer rc.Close()
	list := domainindex.ListID(i)
	// Names go straight from the parser's buffer into the builder's
	// hash records: no string per name (5 M of them at ISP scale).
	st.Stats, err = ParseNames(rc, e.Source.Format, e.Source.ParseOptions(), func(name []byte, k Kind, exception bool) {
		b.AddBytes(name, list, indexKind(k, exception))
		rules++
	}, func(r Rule) {
		if !r.Exception {
			ips = append(ips, IPRule{Addr: r.IP, Prefix: r.Prefix, List: list})
		}
	})
	if err != nil {
		// What was read before the error is in b already: it stays, as
		// it always has, but the list is reported as not loaded.
		st.Err = fmt.Sprintf("read list %q: %v", e.Source.ID, err)
		return rules, ips
	}
	for _, n := range e.Exclude {
		b.Add(n, list, domainindex.Exception)
	}
	st.Loaded, st.Path = true, path
	return rules, ips
}

// open returns a reader for the copy of e to compile.
func (m *Manager) open(e Entry) (io.ReadCloser, string, error) {
	switch {
	case e.FS != nil:
		f, err := e.FS.Open(e.Source.File)
		if err != nil || !strings.HasSuffix(e.Source.File, ".gz") {
			return f, "embedded:" + e.Source.File, err
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, "", fmt.Errorf("list %q: %w", e.Source.ID, err)
		}
		return &readCloser{Reader: zr, close: f.Close}, "embedded:" + e.Source.File, nil
	case e.Source.File != "":
		rc, err := Open(e.Source.File)
		return rc, e.Source.File, err
	default:
		path, ok := m.fetcher.Cached(e.Source)
		if !ok {
			return nil, "", fmt.Errorf("list %q: not downloaded yet", e.Source.ID)
		}
		rc, err := Open(path)
		return rc, path, err
	}
}

// lastDownload returns the last download error of a list and when its
// copy was last confirmed current.
func (m *Manager) lastDownload(id string) (string, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.state[id]; ok {
		return d.err, d.okAt
	}
	return "", time.Time{}
}

// Refresh downloads every URL list now (conditionally: an unchanged list
// costs one request), at most Parallel at a time, and reports whether any
// copy changed. Failures are logged and kept for Health; the last good
// copy stays in place.
func (m *Manager) Refresh(ctx context.Context) (changed bool) {
	var due []int
	for i, e := range m.entries {
		if e.isDownload() {
			due = append(due, i)
		}
	}
	return m.fetchAll(ctx, due)
}

// Run keeps the URL lists fresh until ctx ends: it downloads every list at
// once, then each again when its refresh period has passed, and a list
// whose download failed after RetryDelay (5 s, doubling, at most 15 min),
// so a home that starts without internet is protected minutes after the
// link comes up rather than a day later. After a round in which some copy
// changed, it calls changed (which recompiles) before waiting again.
func (m *Manager) Run(ctx context.Context, changed func(ctx context.Context)) {
	for ctx.Err() == nil {
		if due := m.due(m.now()); len(due) > 0 {
			if m.fetchAll(ctx, due) && ctx.Err() == nil {
				changed(ctx)
			}
			continue // the round took time: look again before waiting
		}
		wait := m.untilNext(m.now())
		if wait <= 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-m.after(wait):
		}
	}
}

// due returns the entries whose download is due at now.
func (m *Manager) due(now time.Time) []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []int
	for i, e := range m.entries {
		if d := m.state[e.Source.ID]; d != nil && !d.running && !d.next.After(now) {
			due = append(due, i)
		}
	}
	return due
}

// untilNext returns the wait until the next download is due.
func (m *Manager) untilNext(now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	found := false
	for _, d := range m.state {
		if !found || d.next.Before(next) {
			next, found = d.next, true
		}
	}
	if !found {
		return m.refresh // no downloads at all
	}
	return max(next.Sub(now), 0)
}

// fetchAll downloads the entries at indexes due, at most m.parallel at a
// time, and reports whether any copy changed.
func (m *Manager) fetchAll(ctx context.Context, due []int) bool {
	if len(due) == 0 {
		return false
	}
	m.mu.Lock()
	for _, i := range due {
		m.state[m.entries[i].Source.ID].running = true
	}
	m.progress = Progress{Total: len(due), Running: true, Started: m.now()}
	m.mu.Unlock()
	m.log.Info("downloading lists", "lists", len(due), "parallel", m.parallel)

	var (
		wg      sync.WaitGroup
		changed atomic.Bool
		sem     = make(chan struct{}, m.parallel)
	)
	for _, i := range due {
		e := m.entries[i]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			res, err := m.fetcher.Fetch(ctx, e.Source)
			if err != nil && ctx.Err() != nil {
				// Shutdown or reload, not a failure of the list: the
				// next generation downloads it again at once.
				m.mu.Lock()
				m.state[e.Source.ID].running = false
				m.progress.Done++
				m.mu.Unlock()
				return
			}
			if m.record(e, res, err) {
				changed.Store(true)
			}
		}()
	}
	wg.Wait()
	m.mu.Lock()
	p := &m.progress
	p.Running = false
	done, failed := p.Done, p.Failed
	m.mu.Unlock()
	if failed > 0 {
		m.log.Warn("list downloads failed; the last good copies keep blocking and failed lists are retried", "failed", failed, "of", done)
	} else {
		m.log.Info("lists downloaded", "lists", done)
	}
	return changed.Load()
}

// record keeps the outcome of one download and schedules the next, and
// reports whether the copy changed.
func (m *Manager) record(e Entry, res Result, err error) bool {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.state[e.Source.ID]
	d.running = false
	p := &m.progress
	p.Done++
	if err != nil {
		p.Failed++
		if d.failures == 0 {
			d.failedSince = now
			// Once per outage, not once per retry.
			m.log.Warn("list download failed; retrying", "list", e.Source.ID, "tag", e.Tag, "err", err, "have_copy", !d.okAt.IsZero())
		} else {
			m.log.Debug("list download failed again", "list", e.Source.ID, "failures", d.failures+1, "err", err)
		}
		d.failures++
		d.total++
		d.err = err.Error()
		d.next = now.Add(RetryDelay(d.failures))
		m.logProgress(p)
		return false
	}
	if d.failures > 0 {
		m.log.Info("list download recovered", "list", e.Source.ID, "after_failures", d.failures)
	}
	d.failures, d.err, d.failedSince = 0, "", time.Time{}
	d.okAt = now
	d.next = now.Add(m.refreshOf(e))
	m.logProgress(p)
	return res.Changed
}

// logProgress logs how far a round got; a round of one (a retry) only at
// debug level, so a list retried for hours does not flood the log.
func (m *Manager) logProgress(p *Progress) {
	level := slog.LevelInfo
	if p.Total == 1 {
		level = slog.LevelDebug
	}
	m.log.Log(context.Background(), level, "list downloads", "done", p.Done, "of", p.Total, "failed", p.Failed)
}

// Progress returns how far the current or last round of downloads got.
func (m *Manager) Progress() Progress {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.progress
}

// Health returns the live state of every list at now, in entry order.
func (m *Manager) Health(now time.Time) []Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Health, len(m.entries))
	for i, e := range m.entries {
		h := &out[i]
		h.ID, h.Tag, h.URL = e.Source.ID, e.Tag, e.Source.URL
		d := m.state[e.Source.ID]
		if d == nil {
			h.State = StateLocal
			continue
		}
		h.FetchedAt, h.Err, h.Failures, h.FailuresTotal, h.NextAttempt, h.Downloading = d.okAt, d.err, d.failures, d.total, d.next, d.running
		refresh := m.refreshOf(e)
		switch {
		case d.okAt.IsZero() && d.failures == 0:
			h.State = StatePending
		case d.okAt.IsZero():
			h.State = StateFailed
		case d.failures > 0:
			h.State, h.StaleSince = StateStale, d.failedSince
		case now.Sub(d.okAt) > 2*refresh:
			h.State, h.StaleSince = StateStale, d.okAt.Add(2*refresh)
		default:
			h.State = StateFresh
		}
	}
	return out
}

// HasDownloads reports whether any list comes from a URL.
func (m *Manager) HasDownloads() bool {
	for _, e := range m.entries {
		if e.Source.URL != "" && e.FS == nil {
			return true
		}
	}
	return false
}
