// Package cache owns Hearth's shared answer cache, the Resolve step of the
// pipeline: answers from the upstreams kept as packed wire bytes and served
// by patching a copy (no unpacking on a hit), TTL clamping, negative caching
// (RFC 2308), coalescing of identical in-flight misses, prefetch of popular
// entries and serve-stale when the upstreams fail (RFC 8767). It also
// bounds what a client can make it hold or do: entries and bytes, cached
// failures (RFC 9520), upstream queries in flight per client and in total.
//
// The cache is shared by every device: policy runs outside it (see
// pipeline.Steps), so it only ever holds policy-free upstream answers.
package cache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/pipeline"
)

// Upstream is what the cache asks on a miss; upstream.Group implements it.
// Exchange must not modify q, and must return a reply (any rcode) or an
// error, which may carry an Extended DNS Error (dnsmsg.ExtendedError).
type Upstream interface {
	Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error)
}

// Config holds the cache settings. The zero value of each field selects its
// default.
type Config struct {
	// Size is the most entries the cache holds (default 100000).
	Size int
	// MaxBytes bounds the memory the entries take, their bookkeeping
	// included (default 64 MiB, at least 1 MiB): a client asking for
	// large answers cannot make the cache grow past it, whatever Size.
	MaxBytes int64
	// MinTTL and MaxTTL clamp the time an answer is cached and the TTL
	// clients see (defaults 0 and 24h). MaxTTL must be at least 1s.
	MinTTL time.Duration
	MaxTTL time.Duration
	// Prefetch refreshes popular entries shortly before they expire.
	Prefetch bool
	// ServeStale is how long past expiry an entry may still be served
	// when the upstreams fail (RFC 8767); 0 turns serve-stale off.
	ServeStale time.Duration
	// FailureTTL is how long a resolution failure (an upstream error or
	// SERVFAIL) is remembered, during which the same question gets
	// SERVFAIL with EDE 13 (Cached Error) without asking the upstreams
	// again (RFC 9520 section 3.2: at least 1 s, at most 5 min); 0 turns
	// the failure cache off. At most Size/8 failures are kept (at least 8
	// per shard).
	FailureTTL time.Duration
	// MaxInflight bounds the upstream queries in flight at once, which
	// also bounds the table of pending (coalesced) queries (default
	// 1000). MaxInflightPerClient bounds those of one client address
	// (default 100). A miss beyond either is answered SERVFAIL at once.
	MaxInflight          int
	MaxInflightPerClient int
	// Now returns the current time; nil means time.Now. Tests pass a
	// fake clock.
	Now func() time.Time
	// Logger receives background refresh failures at debug level; nil
	// discards them.
	Logger *slog.Logger
}

// Stats counts what the cache did since New. Hits and Misses count the
// cacheable queries, Misses including the coalesced ones; Upstream counts
// the exchanges actually sent: flights started by misses, prefetches, and
// uncacheable queries passed through.
type Stats struct {
	Hits       uint64 // answered from a fresh entry
	Misses     uint64 // not answered from a fresh entry
	Coalesced  uint64 // misses that joined an identical query in flight
	Stale      uint64 // stale answers served after an upstream failure
	Prefetches uint64 // background refreshes started
	Upstream   uint64 // upstream exchanges
	Evictions  uint64 // entries dropped to make room
	Busy       uint64 // misses answered SERVFAIL because of an in-flight cap
	Failures   uint64 // misses answered from a cached failure
}

const (
	defaultSize      = 100000
	defaultMaxBytes  = 64 << 20
	minMaxBytes      = 1 << 20
	maxMaxBytes      = 1 << 40  // a shard's ring places fit 32 bits of 8-byte words
	minShardBytes    = 64 << 10 // room for 16 of the largest entries
	defaultMaxTTL    = 24 * time.Hour
	maxFailureTTL    = 5 * time.Minute
	defaultInflight  = 1000
	defaultPerClient = 100
	maxShards        = 64
	// maxTTL is the largest TTL RFC 2181 section 8 allows.
	maxTTL = 1<<31 - 1

	// staleTTL is the TTL of a stale answer, as RFC 8767 section 4
	// recommends.
	staleTTL = 30
	// prefetchHits is how many hits make an entry popular enough to
	// prefetch.
	prefetchHits = 2
	// prefetchMinTTL is the shortest original TTL worth prefetching: its
	// last tenth is then at least a second, and shorter-lived answers are
	// usually load balancers that want to be asked again anyway.
	prefetchMinTTL = 10 * time.Second
	// flightTimeout bounds an upstream exchange that no client deadline
	// bounds (prefetches, clients without a deadline). The upstream group
	// applies its own, shorter, per-try timeouts.
	flightTimeout = 10 * time.Second
	// bgWorkers is the number of long-lived goroutines that run flights
	// and prefetches.
	bgWorkers = 64
)

// Cache is the shared answer cache. It is safe for concurrent use.
type Cache struct {
	up         Upstream
	now        func() time.Time
	log        *slog.Logger
	minTTL     uint32 // seconds
	maxTTL     uint32 // seconds
	prefetch   bool
	serveStale time.Duration
	failTTL    time.Duration
	inflight   *inflight

	seed maphash.Seed
	// epoch is when the cache was made: entries expire at a number of
	// nanoseconds since it (clock), measured on the monotonic clock when
	// now is time.Now, so that a jump of the wall clock (a router setting
	// its time at boot) does not expire or prolong answers.
	epoch  time.Time
	shards []shard
	mask   uint64
	bufs   sync.Pool // of *[]byte, answer buffers for the hit path

	coalesced  atomic.Uint64
	stale      atomic.Uint64
	prefetches atomic.Uint64
	upstream   atomic.Uint64
	evictions  atomic.Uint64
	busy       atomic.Uint64
	failures   atomic.Uint64

	// Background work (flights and prefetches) runs under base, which
	// Shutdown cancels, and is counted by bg so Shutdown can wait for it.
	base   context.Context
	cancel context.CancelFunc
	bgMu   sync.Mutex
	// bgWork hands background work to idle long-lived workers, whose
	// stacks are already grown; a new goroutine per miss grew (copied) its
	// stack every time.
	bgWork   chan func()
	shutdown bool
	bg       sync.WaitGroup

	// joinHook, when set by tests, runs each time a miss starts or joins
	// a flight.
	joinHook func()
}

var _ pipeline.Handler = (*Cache)(nil)

// New returns a cache that asks up on a miss.
func New(c Config, up Upstream) (*Cache, error) {
	if up == nil {
		return nil, errors.New("cache: no upstream")
	}
	if c.Size < 0 {
		return nil, fmt.Errorf("cache: size %d: must not be negative", c.Size)
	}
	if c.Size == 0 {
		c.Size = defaultSize
	}
	if c.MinTTL < 0 {
		return nil, fmt.Errorf("cache: min_ttl %v: must not be negative", c.MinTTL)
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = defaultMaxTTL
	}
	if c.MaxTTL < time.Second {
		return nil, fmt.Errorf("cache: max_ttl %v: must be at least 1s", c.MaxTTL)
	}
	if c.MinTTL > c.MaxTTL {
		return nil, fmt.Errorf("cache: min_ttl %v: must not exceed max_ttl %v", c.MinTTL, c.MaxTTL)
	}
	if c.ServeStale < 0 {
		return nil, fmt.Errorf("cache: serve_stale %v: must not be negative", c.ServeStale)
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = defaultMaxBytes
	}
	if c.MaxBytes < minMaxBytes {
		return nil, fmt.Errorf("cache: max_bytes %d: must be at least %d (1 MiB)", c.MaxBytes, minMaxBytes)
	}
	if c.MaxBytes > maxMaxBytes {
		return nil, fmt.Errorf("cache: max_bytes %d: must be at most %d (1 TiB)", c.MaxBytes, int64(maxMaxBytes))
	}
	if c.FailureTTL < 0 || c.FailureTTL > maxFailureTTL {
		return nil, fmt.Errorf("cache: servfail_ttl %v: must be between 0 (off) and %v (RFC 9520)", c.FailureTTL, maxFailureTTL)
	}
	if c.MaxInflight < 0 || c.MaxInflightPerClient < 0 {
		return nil, fmt.Errorf("cache: max_inflight %d, max_inflight_per_client %d: must not be negative", c.MaxInflight, c.MaxInflightPerClient)
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = defaultInflight
	}
	if c.MaxInflightPerClient == 0 {
		c.MaxInflightPerClient = min(defaultPerClient, c.MaxInflight)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	// Power-of-two shards, but never more than a quarter of Size, so that
	// every shard holds a few entries and the total is exactly Size, and
	// never so many that a shard's byte share is under minShardBytes.
	n := maxShards
	for n > 1 && (c.Size < 4*n || c.MaxBytes/int64(n) < minShardBytes) {
		n /= 2
	}
	base, cancel := context.WithCancel(context.Background())
	ca := &Cache{
		up:         up,
		now:        c.Now,
		log:        c.Logger,
		minTTL:     seconds(c.MinTTL),
		maxTTL:     seconds(c.MaxTTL),
		prefetch:   c.Prefetch,
		serveStale: c.ServeStale,
		failTTL:    c.FailureTTL,
		inflight:   newInflight(c.MaxInflight, c.MaxInflightPerClient),
		seed:       maphash.MakeSeed(),
		epoch:      c.Now(),
		shards:     make([]shard, n),
		mask:       uint64(n - 1),
		base:       base,
		cancel:     cancel,
		bgWork:     make(chan func()),
	}
	for range bgWorkers {
		go func() {
			for f := range ca.bgWork {
				f()
				ca.bg.Done()
			}
		}()
	}
	maxFails := max(c.Size/8/n, 8)
	for i := range ca.shards {
		capacity := c.Size / n
		if i < c.Size%n {
			capacity++
		}
		ca.shards[i].init(capacity, c.MaxBytes/int64(n), maxFails)
	}
	return ca, nil
}

// clock returns t as the entries' expiry times count it: nanoseconds
// since the cache's epoch.
func (c *Cache) clock(t time.Time) int64 {
	return int64(t.Sub(c.epoch))
}

func seconds(d time.Duration) uint32 {
	return uint32(min(d/time.Second, maxTTL))
}

// Bytes returns the memory the entries take by the cache's accounting: the
// shards' segments, filled or not, and their maps' slots.
func (c *Cache) Bytes() int64 {
	var n int64
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += s.bytes()
		s.mu.RUnlock()
	}
	return n
}

// Inflight returns the upstream queries in flight and the number of
// clients that have one.
func (c *Cache) Inflight() (queries, clients int) {
	return c.inflight.counts()
}

// Len returns the number of entries held, including expired ones kept for
// serve-stale.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	st := Stats{
		Coalesced:  c.coalesced.Load(),
		Stale:      c.stale.Load(),
		Prefetches: c.prefetches.Load(),
		Upstream:   c.upstream.Load(),
		Evictions:  c.evictions.Load(),
		Busy:       c.busy.Load(),
		Failures:   c.failures.Load(),
	}
	for i := range c.shards {
		st.Hits += c.shards[i].hits.Load()
		st.Misses += c.shards[i].misses.Load()
	}
	return st
}

// Shutdown cancels the upstream exchanges running in the background
// (prefetches and flights) and waits for them to end or for ctx to be done.
// Queries that miss after Shutdown get SERVFAIL.
func (c *Cache) Shutdown(ctx context.Context) error {
	c.bgMu.Lock()
	if !c.shutdown {
		c.shutdown = true
		close(c.bgWork) // goBackground sends only under bgMu, before shutdown
	}
	c.bgMu.Unlock()
	c.cancel()
	done := make(chan struct{})
	go func() {
		c.bg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cache: waiting for background exchanges: %w", ctx.Err())
	}
}

// goBackground runs f in a goroutine that Shutdown waits for, unless the
// cache is shut down.
func (c *Cache) goBackground(f func()) bool {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.shutdown {
		return false
	}
	c.bg.Add(1)
	select {
	case c.bgWork <- f:
	default: // every worker is busy: one more goroutine
		go func() {
			defer c.bg.Done()
			f()
		}()
	}
	return true
}

var errShutdown = errors.New("cache is shut down")

// ServeDNS answers r from the cache or, on a miss, from the upstream, and
// always writes one answer. Identical concurrent misses share one upstream
// exchange. When the upstream fails, ServeDNS answers a stale entry (EDE 3)
// if serve-stale allows and returns nil, or else writes SERVFAIL with the
// error's Extended DNS Error and returns the error, for the caller to log.
// Queries that cannot be cached (not opcode QUERY, not exactly one question)
// go to the upstream uncached. Only class IN is ever forwarded: another
// class gets REFUSED (the listener and the local step answer them first;
// this is the last line).
func (c *Cache) ServeDNS(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
	if q := r.Msg; q != nil && len(q.Question) > 0 && q.Question[0].Qclass != dns.ClassINET {
		return w.WriteMsg(dnsmsg.Reply(q, dns.RcodeRefused))
	}
	var kb keyBuf
	key, ok := makeKey(&kb, r)
	if !ok {
		if r.NoWait {
			return pipeline.ErrWouldBlock
		}
		return c.forward(ctx, w, r)
	}
	h := maphash.Bytes(c.seed, key)
	s := &c.shards[h&c.mask]
	now := c.clock(c.now())
	s.mu.RLock()
	if e := s.lookup(h, key); e != nil && e.fresh(now) {
		// The entry may move once the lock is released: the answer is
		// copied and patched under it.
		e.touch()
		prefetch := c.prefetch && c.wantPrefetch(e, now)
		bp := c.getBuf()
		*bp = appendAnswer((*bp)[:0], r, e, now)
		s.mu.RUnlock()
		s.hits.Add(1)
		if prefetch {
			c.startPrefetch(s, h, key, r)
		}
		r.Outcome.Cached = true
		return c.writeBuf(w, bp)
	}
	s.mu.RUnlock()
	if r.NoWait {
		return pipeline.ErrWouldBlock // asked again, where it may wait
	}
	s.misses.Add(1)
	return c.resolve(ctx, w, r, s, h, string(key))
}

// appendAnswer appends to b the answer to r from e: a copy of its wire
// bytes patched with the client's ID, RD and CD bits and question case,
// every TTL decremented by the entry's age, AD cleared unless the client
// asked for it (RFC 6840 5.7), and an OPT record if the client sent one.
// With b from the pool it does not allocate (BenchmarkHitWire,
// TestHitDoesNotAllocate).
func appendAnswer(b []byte, r *pipeline.Request, e *entry, now int64) []byte {
	start := len(b)
	b = append(b, e.wire()...)
	a := b[start:]
	dnsmsg.SetID(a, r.Msg.Id)
	dnsmsg.SetRDCD(a, r.Msg.RecursionDesired, r.Msg.CheckingDisabled)
	dnsmsg.SetQuestionCase(a, r.Msg.Question[0].Name)
	dnsmsg.SetTTLs(a, e.ttlOffs(), e.remaining(now))
	if !dnsmsg.WantAD(r.Msg, r.DO) {
		dnsmsg.ClearAD(a)
	}
	if r.EDNS {
		b = dnsmsg.AppendOPT(b, dnsmsg.UDPSize, r.DO)
	}
	return b
}

// writeEntry answers r from e, an entry no writer can move: a flight's or
// a clone.
func (c *Cache) writeEntry(w pipeline.ResponseWriter, r *pipeline.Request, e *entry, now int64) error {
	bp := c.getBuf()
	*bp = appendAnswer((*bp)[:0], r, e, now)
	return c.writeBuf(w, bp)
}

// writeBuf writes the answer in bp and returns bp to the pool.
func (c *Cache) writeBuf(w pipeline.ResponseWriter, bp *[]byte) error {
	err := w.WriteWire(*bp)
	c.putBuf(bp)
	return err
}

// getBuf returns a pooled answer buffer for the hit path.
func (c *Cache) getBuf() *[]byte {
	if bp, ok := c.bufs.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, 0, answerBufSize)
	return &b
}

// answerBufSize is the capacity of the hit path's buffers: every cached
// answer fits one with an OPT record (see maxEntryWire).
const answerBufSize = 4096

// putBuf returns bp to the pool unless append had to grow it, which
// maxEntryWire prevents.
func (c *Cache) putBuf(bp *[]byte) {
	if cap(*bp) == answerBufSize {
		c.bufs.Put(bp)
	}
}

// resolve answers a miss: through the flight for key, joined or started,
// then from the entry it stored, or from its uncacheable reply, or, when it
// failed, from a stale entry or with SERVFAIL.
func (c *Cache) resolve(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request, s *shard, h uint64, key string) error {
	if c.failTTL > 0 {
		if served, err := c.tryFailure(w, r, s, h, key); served {
			return err
		}
	}
	f, e, err := c.join(ctx, s, h, key, r.Msg, clientKey(r.Client), false)
	if err != nil { // busy: answered now, never queued
		c.busy.Add(1)
		return c.fail(w, r, s, h, key, err)
	}
	if e != nil { // stored by a flight that ended after our lookup
		r.Outcome.Cached = true
		return c.writeEntry(w, r, e, c.clock(c.now()))
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return c.fail(w, r, s, h, key, ctx.Err())
	}
	switch {
	case f.err != nil:
		return c.fail(w, r, s, h, key, f.err)
	case f.entry != nil:
		return c.writeEntry(w, r, f.entry, c.clock(c.now()))
	case f.resp.Rcode == dns.RcodeServerFailure && c.serveStale > 0:
		// RFC 8767 section 5: an upstream SERVFAIL is a failure to
		// refresh too.
		if served, err := c.tryStale(w, r, s, h, key); served {
			return err
		}
	}
	return c.writeUpstream(w, r, f.resp)
}

// writeUpstream answers r with resp, an upstream answer that was not
// cached, its TTLs read as RFC 2181 section 8 says and capped at MaxTTL
// like those of cached answers.
func (c *Cache) writeUpstream(w pipeline.ResponseWriter, r *pipeline.Request, resp *dns.Msg) error {
	m := dnsmsg.FromUpstream(r.Msg, resp)
	dnsmsg.FixTTLs(m)
	dnsmsg.CapTTLs(m, c.maxTTL)
	return w.WriteMsg(m)
}

// tryFailure answers r with SERVFAIL and EDE 13 (Cached Error) if a
// failure for key is cached, or from a stale entry if serve-stale allows.
func (c *Cache) tryFailure(w pipeline.ResponseWriter, r *pipeline.Request, s *shard, h uint64, key string) (bool, error) {
	now := c.now()
	s.mu.RLock()
	f, ok := s.fails[key]
	s.mu.RUnlock()
	if !ok || !now.Before(f.until) {
		return false, nil
	}
	c.failures.Add(1)
	if served, err := c.tryStale(w, r, s, h, key); served {
		return true, err
	}
	r.Outcome.Cached = true // a cached failure (RFC 9520)
	return true, w.WriteMsg(dnsmsg.Error(r.Msg, dns.RcodeServerFailure, dnsmsg.EDECachedError, f.text))
}

// fail answers r after the upstream failed with err: from a fresh entry if
// another flight stored one meanwhile, else from a stale one, else SERVFAIL.
func (c *Cache) fail(w pipeline.ResponseWriter, r *pipeline.Request, s *shard, h uint64, key string, err error) error {
	if served, werr := c.tryStale(w, r, s, h, key); served {
		return werr
	}
	if werr := w.WriteMsg(dnsmsg.ServFail(r.Msg, err)); werr != nil {
		return werr
	}
	if err == errBusy {
		return nil // expected under a flood; not worth a log line each
	}
	return fmt.Errorf("resolving %s: %w", r.Name(), err)
}

// tryStale answers r from the entry for key if it is fresh, or expired for
// less than ServeStale.
func (c *Cache) tryStale(w pipeline.ResponseWriter, r *pipeline.Request, s *shard, h uint64, key string) (bool, error) {
	now := c.clock(c.now())
	s.mu.RLock()
	e := s.lookupString(h, key)
	if e != nil {
		e = e.clone() // rare: a failed upstream
	}
	s.mu.RUnlock()
	switch {
	case e == nil:
		return false, nil
	case e.fresh(now):
		r.Outcome.Cached = true
		return true, c.writeEntry(w, r, e, now)
	case now < e.expires+int64(c.serveStale):
		c.stale.Add(1)
		r.Outcome.Cached = true
		return true, c.writeStale(w, r, e)
	}
	return false, nil
}

// writeStale answers r from the expired entry e with TTL 30 and EDE 3
// (RFC 8767 section 4, RFC 8914 section 4.4). Stale answers are rare, so
// this path unpacks.
func (c *Cache) writeStale(w pipeline.ResponseWriter, r *pipeline.Request, e *entry) error {
	m := new(dns.Msg)
	if err := m.Unpack(e.wire()); err != nil {
		return fmt.Errorf("unpacking stale entry for %s: %w", r.Name(), err)
	}
	m.Id = r.Msg.Id
	m.Question = r.Msg.Question
	m.RecursionDesired = r.Msg.RecursionDesired
	m.CheckingDisabled = r.Msg.CheckingDisabled
	m.AuthenticatedData = m.AuthenticatedData && dnsmsg.WantAD(r.Msg, r.DO)
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			rr.Header().Ttl = staleTTL
		}
	}
	if r.EDNS {
		m.SetEdns0(dnsmsg.UDPSize, r.DO)
		dnsmsg.SetEDE(m, dnsmsg.EDEStaleAnswer, "stale answer: upstreams failed")
	}
	return w.WriteMsg(m)
}

// forward answers a query the cache does not handle straight from the
// upstream.
func (c *Cache) forward(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
	client := clientKey(r.Client)
	if !c.inflight.acquire(client) {
		c.busy.Add(1)
		return w.WriteMsg(dnsmsg.ServFail(r.Msg, errBusy))
	}
	defer c.inflight.release(client)
	c.upstream.Add(1)
	resp, err := c.up.Exchange(ctx, r.Msg)
	if err == nil && resp == nil {
		err = errors.New("upstream returned no answer")
	}
	if err != nil {
		if werr := w.WriteMsg(dnsmsg.ServFail(r.Msg, err)); werr != nil {
			return werr
		}
		return fmt.Errorf("resolving uncached query: %w", err)
	}
	return c.writeUpstream(w, r, resp)
}

// wantPrefetch counts a hit of e and reports whether to refresh it now, in
// the background: once, when it has been hit at least prefetchHits times
// and less than a tenth of its TTL remains. The caller holds the shard's
// read lock.
func (c *Cache) wantPrefetch(e *entry, now int64) bool {
	ttl := time.Duration(e.ttl) * time.Second
	if e.hits.Add(1) < prefetchHits || ttl < prefetchMinTTL || time.Duration(e.expires-now) >= ttl/10 {
		return false
	}
	return e.startPrefetch()
}

// startPrefetch refreshes the entry for key, whose hash is h, through the
// flight for key, so that the refresh also serves any miss that arrives
// meanwhile.
func (c *Cache) startPrefetch(s *shard, h uint64, key []byte, r *pipeline.Request) {
	if _, _, err := c.join(context.Background(), s, h, string(key), r.Msg, netip.Addr{}, true); err != nil {
		// Busy: a later hit may try again.
		s.mu.RLock()
		if e := s.lookup(h, key); e != nil {
			e.flags.And(^uint32(flagPrefetched))
		}
		s.mu.RUnlock()
		return
	}
	c.prefetches.Add(1)
}
