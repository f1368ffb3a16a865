// Package querylog owns Hearth's query log: every answered query becomes
// one Entry, which Log copies into a bounded in-memory buffer without
// blocking or allocating; a writer goroutine stores the buffered entries
// in SQLite in batches, with hourly per-device and per-tag counters that
// outlive the raw rows. When the buffer is full, entries are dropped and
// counted, though still added to the hourly counters: the resolver never
// waits for the log. Identical queries of one device in the same second
// share a row with a count. The writer runs on its own OS thread at a
// lower priority, so on a busy CPU the answers go first.
//
// The log is its own SQLite file, separate from the policy store, in WAL
// mode with synchronous=NORMAL: a crash (of the machine, not of Hearth)
// can lose the last second or so of rows, which is acceptable for a log
// and keeps writes cheap. Entries still in the buffer when the process is
// killed are lost too; Close writes them.
//
// Privacy: client addresses are truncated by the writer (Config's
// Truncate*Bits), raw rows expire after Config.Retention and counters
// after Config.CounterRetention.
package querylog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Defaults for the zero values of Config.
const (
	DefaultBuffer           = 16384
	DefaultRetention        = 7 * 24 * time.Hour
	DefaultCounterRetention = 90 * 24 * time.Hour
	DefaultFlushInterval    = time.Second
	DefaultPruneInterval    = time.Hour
)

// maxBatch is the most entries moved into the held rows at once;
// wakeDivisor and maxWake set the fill level (Buffer/wakeDivisor, at most
// maxWake) at which Log wakes the writer before its next tick. A batch
// costs no SQL but for new names and strings (rows are counted when
// inserted). Fewer entries a batch keep the slots of the ring in use
// fewer, and warmer in the CPU's cache (restartLocked); more let a batch
// find the held rows and names it looks up warm. At full load 2,048 cost
// the least of 1,024, 2,048 and 4,096 (docs/performance.md, "The query
// log at full load").
const (
	maxBatch    = 8192
	wakeDivisor = 4
	maxWake     = 2048
)

// ErrClosed is returned by Flush and the read methods after Close.
var ErrClosed = errors.New("query log closed")

// Config configures a Writer.
type Config struct {
	// Path is the SQLite file, e.g. data_dir/querylog.db. Required.
	Path string
	// Buffer is how many entries wait for the writer before Log drops;
	// 0 means DefaultBuffer. Each entry takes about 570 bytes.
	Buffer int
	// Retention is how long raw rows are kept; 0 means DefaultRetention.
	Retention time.Duration
	// CounterRetention is how long hourly counters are kept; 0 means
	// DefaultCounterRetention. It may not be shorter than Retention.
	CounterRetention time.Duration
	// TruncateIPv4Bits and TruncateIPv6Bits are how many leading bits of
	// a client address are stored: 32 and 128 keep it whole, 24 and 48
	// keep the network, 0 (the zero value) stores no address at all.
	TruncateIPv4Bits int
	TruncateIPv6Bits int
	// FlushInterval is how often buffered entries are written when the
	// buffer is not filling fast; 0 means DefaultFlushInterval.
	FlushInterval time.Duration
	// PruneInterval is how often the writer goroutine prunes expired
	// rows; 0 means DefaultPruneInterval.
	PruneInterval time.Duration
	// Now is the clock used for pruning; nil means time.Now.
	Now func() time.Time
	// Logger receives write and prune errors; nil discards them.
	Logger *slog.Logger
}

// Stats are a Writer's counts since New.
type Stats struct {
	// Logged is how many entries Log accepted into the buffer.
	Logged uint64
	// Written is how many rows were committed to the database.
	Written uint64
	// Dropped is how many entries Log refused because the buffer was full
	// (or the Writer closed).
	Dropped uint64
	// Failed is how many accepted entries were lost because their batch
	// failed to commit.
	Failed uint64
	// Buffered is how many accepted entries are not yet committed.
	Buffered int
}

// Writer is the query log: Log buffers entries, a goroutine (Start) or
// Flush writes them, and Search, Counters, Hourly and Summary read them
// back.
// All methods are safe for concurrent use.
type Writer struct {
	cfg    Config
	log    *slog.Logger
	db     *sql.DB
	wakeAt int

	// mu guards the ring's bookkeeping and the Log-side counters. Slots in
	// [head, head+n) belong to the writer until it advances head (under
	// mu) after committing them; Log writes only the slots outside.
	mu      sync.Mutex
	ring    []Entry
	head    int
	n       int
	logged  uint64
	dropped uint64
	closed  bool
	// overflow counts the dropped entries for the hourly counters, so
	// the dashboard's totals stay exact when raw rows are dropped.
	overflow map[counterKey]counterVal

	wake    chan struct{}
	written atomic.Uint64
	failed  atomic.Uint64
	// commits counts the writer's commits, for the checkpoint goroutine.
	commits atomic.Uint64
	// pending counts the entries taken from the ring and not committed
	// yet: held, or inserted in the open transaction.
	pending atomic.Int64
	// hook, when set (by BenchmarkSustainedFakeTime), is called between
	// two INSERTs, where entries that arrived meanwhile are moved.
	hook func()

	// wmu serialises everything that writes through wconn: batches
	// (Flush and the goroutine), and the name cleanup of Prune.
	wmu   sync.Mutex
	wconn *writeConn

	runMu   sync.Mutex // guards started, stop, done
	started bool
	stop    chan struct{}
	done    chan struct{}
}

// New validates cfg, opens (creating if needed) the database and returns
// a Writer. Call Start to write in the background, and Close when done.
func New(cfg Config) (*Writer, error) {
	if cfg.Path == "" {
		return nil, errors.New("query log: path is empty")
	}
	if strings.ContainsRune(cfg.Path, '?') {
		return nil, fmt.Errorf("query log path %q: must not contain '?'", cfg.Path)
	}
	if cfg.Buffer < 0 {
		return nil, fmt.Errorf("query log buffer %d: must not be negative", cfg.Buffer)
	}
	if cfg.Buffer == 0 {
		cfg.Buffer = DefaultBuffer
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"retention", &cfg.Retention, DefaultRetention},
		{"counter retention", &cfg.CounterRetention, DefaultCounterRetention},
		{"flush interval", &cfg.FlushInterval, DefaultFlushInterval},
		{"prune interval", &cfg.PruneInterval, DefaultPruneInterval},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("query log %s %v: must not be negative", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.CounterRetention < cfg.Retention {
		return nil, fmt.Errorf("query log counter retention %v: shorter than raw retention %v", cfg.CounterRetention, cfg.Retention)
	}
	if cfg.TruncateIPv4Bits < 0 || cfg.TruncateIPv4Bits > 32 {
		return nil, fmt.Errorf("query log IPv4 truncation %d bits: want 0 to 32", cfg.TruncateIPv4Bits)
	}
	if cfg.TruncateIPv6Bits < 0 || cfg.TruncateIPv6Bits > 128 {
		return nil, fmt.Errorf("query log IPv6 truncation %d bits: want 0 to 128", cfg.TruncateIPv6Bits)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	db, wc, err := openDB(cfg.Path)
	if err != nil {
		return nil, err
	}
	wc.v4bits, wc.v6bits = cfg.TruncateIPv4Bits, cfg.TruncateIPv6Bits
	w := &Writer{
		cfg:      cfg,
		log:      log,
		db:       db,
		ring:     make([]Entry, cfg.Buffer),
		overflow: map[counterKey]counterVal{},
		wakeAt:   max(1, min(maxWake, cfg.Buffer/wakeDivisor)),
		wake:     make(chan struct{}, 1),
		wconn:    wc,
	}
	return w, nil
}

// Log copies e into the buffer and returns at once. When the buffer is
// full it drops e and counts it in Stats.Dropped; the hourly counters
// still count it (the next Flush adds it), so the dashboard's totals stay
// exact. It does not allocate once its device and tag have been seen in
// the hour, and e may be reused as soon as it returns.
func (w *Writer) Log(e *Entry) {
	w.mu.Lock()
	if w.n == len(w.ring) || w.closed {
		w.dropped++
		if !w.closed {
			w.countDropped(e)
		}
		w.mu.Unlock()
		return
	}
	if w.n == 0 {
		w.head = 0 // see restartLocked
	}
	i := w.head + w.n
	if i >= len(w.ring) {
		i -= len(w.ring)
	}
	copyEntry(&w.ring[i], e)
	w.n++
	w.logged++
	wake := w.n == w.wakeAt
	if i++; i == len(w.ring) {
		i = 0
	}
	next := &w.ring[i]
	w.mu.Unlock()
	// The next Log most likely fills the next slot: fetch its lines now,
	// while the rest of this query and the next one run, not while the
	// next unlock waits for the copy's stores (that wait was most of
	// Log's time at full load).
	prefetchW(unsafe.Pointer(next))
	if wake {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// copyEntry copies src into dst, of Name and Text only the bytes used.
// Copying the whole Entry wrote its 560 bytes, about nine cache lines, into
// a ring too big for the cache; an entry's fields and name are two or
// three (docs/performance.md, "The query log at full load"). Bytes of
// dst's Name and Text past NameLen and TextLen may be left from an older
// entry: nothing reads them.
func copyEntry(dst, src *Entry) {
	dst.Time = src.Time
	dst.Client = src.Client
	dst.Device = src.Device
	dst.Profile = src.Profile
	dst.Reason = src.Reason
	dst.Tag = src.Tag
	dst.Duration = src.Duration
	dst.QType = src.QType
	dst.Rcode = src.Rcode
	dst.Action = src.Action
	dst.Transport = src.Transport
	dst.Cached = src.Cached
	// A TextLen past MaxTextLen (set by hand, not by SetText) is cut.
	dst.NameLen = uint8(copy(dst.Name[:], src.Name[:src.NameLen]))
	dst.TextLen = uint8(copy(dst.Text[:], src.Text[:min(int(src.TextLen), MaxTextLen)]))
}

// releaseEntry drops e's references (its strings and the client address's
// zone), so that a free slot of the ring pins no memory; the rest is
// overwritten by the next copyEntry.
func releaseEntry(e *Entry) {
	e.Client = netip.Addr{}
	e.Device, e.Profile, e.Reason, e.Tag = "", "", "", ""
}

// restartLocked moves the buffered entries to the ring's first slots when
// they are few (at most half the wake level) and do not wrap; w.mu is
// held. The ring is then used from its start again after every write
// instead of all round: at full load the slots Log fills are those the
// writer has just read, still in the CPU's cache, where a slot of the
// whole ring (16,384 of 570 bytes) had to be fetched from memory, which
// Log waited for as it unlocked (two thirds of Log's time,
// docs/performance.md, "The query log at full load").
func (w *Writer) restartLocked() {
	if w.head == 0 || w.n > w.wakeAt/2 || w.head+w.n > len(w.ring) {
		return
	}
	for i := range w.n {
		copyEntry(&w.ring[i], &w.ring[w.head+i])
	}
	for i := max(w.n, w.head); i < w.head+w.n; i++ {
		releaseEntry(&w.ring[i])
	}
	w.head = 0
}

// countDropped adds a dropped entry to the overflow counters; w.mu is
// held. A key seen before costs no allocation.
func (w *Writer) countDropped(e *Entry) {
	t := e.Time
	if t <= 0 {
		t = w.cfg.Now().UnixNano()
	}
	countEntry(w.overflow, e, t)
}

// Stats returns the Writer's counts.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	s := Stats{Logged: w.logged, Dropped: w.dropped, Buffered: w.n}
	w.mu.Unlock()
	s.Written = w.written.Load()
	s.Failed = w.failed.Load()
	s.Buffered += int(w.pending.Load())
	return s
}

// Start launches the writer goroutine: it writes the buffer every
// FlushInterval, or sooner when the buffer fills past a quarter (at most
// 2,048 entries), and prunes expired rows at start and every
// PruneInterval. It runs until ctx is done or Close; calling Start again
// does nothing.
func (w *Writer) Start(ctx context.Context) {
	w.runMu.Lock()
	defer w.runMu.Unlock()
	if w.started {
		return
	}
	w.started = true
	w.stop = make(chan struct{})
	w.done = make(chan struct{})
	go w.run(ctx, w.stop, w.done)
}

// maxCommitDelay bounds how long rows written on a wake wait for their
// commit, and so how late Search sees them.
const maxCommitDelay = time.Second

// writerNice is the writer thread's nice value (see lowerThreadPriority).
const writerNice = 10

func (w *Writer) run(ctx context.Context, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	// The writer has a thread of its own at a lower priority. The thread
	// ends with the goroutine (no UnlockOSThread), so its nice value never
	// passes to other goroutines.
	runtime.LockOSThread()
	if err := lowerThreadPriority(); err != nil {
		w.log.Warn("query log writer: could not lower its priority", "err", err)
	}
	// A batch once begun is finished even if ctx ends meanwhile, so that
	// shutting down does not throw away rows Close would have written.
	wctx := context.WithoutCancel(ctx)
	// Checkpoints run beside the writer, not after its commits; they stop
	// after the last commit below (deferred calls run last first).
	defer w.startCheckpoints(wctx)()
	// Rows left in the open transaction are committed on the way out.
	defer func() {
		if err := w.commitPending(wctx); err != nil && !errors.Is(err, ErrClosed) {
			w.log.Error("writing query log", "err", err)
		}
	}()
	w.pruneAndLog(wctx)
	// Batches written on a wake stay in an open transaction until commit
	// fires, at most commitDelay after the first: at full rate a second's
	// batches share one commit (see writeConn.begin).
	commitDelay := min(w.cfg.FlushInterval, maxCommitDelay)
	var commit <-chan time.Time
	flush := time.NewTicker(w.cfg.FlushInterval)
	defer flush.Stop()
	prune := time.NewTicker(w.cfg.PruneInterval)
	defer prune.Stop()
	// A version 1 file's rows are moved a chunk at a time while nothing
	// else is due: a closed channel is always ready, nil never.
	var migrate <-chan struct{}
	if w.hasLegacy() {
		c := make(chan struct{})
		close(c)
		migrate = c
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-w.wake:
			// Keep writing while entries arrive faster than one batch.
			for w.buffered() >= w.wakeAt && ctx.Err() == nil {
				if err := w.write(wctx, keepOpen); err != nil {
					w.log.Error("writing query log", "err", err)
				}
				select {
				case <-stop:
					return
				default:
				}
			}
			if commit == nil && w.pending.Load() > 0 {
				commit = time.After(commitDelay)
			}
		case <-commit:
			commit = nil
			w.tickAndLog(wctx)
		case <-flush.C:
			w.tickAndLog(wctx)
		case <-prune.C:
			w.pruneAndLog(wctx)
		case <-migrate:
			more, err := w.migrateStep(wctx)
			if err != nil {
				// The rows left wait for the next start, and expire.
				w.log.Error("upgrading query log", "err", err)
			}
			if !more {
				migrate = nil
			}
		}
	}
}

// checkpointInterval is how often the checkpoint goroutine copies the
// WAL's committed pages into the database file, if anything was
// committed since.
const checkpointInterval = 2 * time.Second

// startCheckpoints turns the writer connection's automatic checkpoints
// off and starts a goroutine that checkpoints every checkpointInterval
// on another connection; the function it returns stops it and turns them
// back on.
//
// An automatic checkpoint runs in the COMMIT that crosses
// wal_autocheckpoint pages: it copied up to 64 MB of pages on the
// writer's thread, the longest pause of the writer (BenchmarkSustainedFakeTime's
// max-commit-ms), while Log filled the buffer. A PASSIVE checkpoint
// runs beside the writer (WAL mode lets them), and the WAL starts over
// from its beginning at the first commit after a checkpoint that copied
// everything.
func (w *Writer) startCheckpoints(ctx context.Context) (stop func()) {
	if err := w.setAutoCheckpoint(ctx, 0); err != nil {
		w.log.Warn("query log: checkpoints stay on the writer", "err", err)
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go w.checkpoints(ctx, quit, done)
	return func() {
		close(quit)
		<-done
		if err := w.setAutoCheckpoint(ctx, walAutoCheckpoint); err != nil && !errors.Is(err, ErrClosed) {
			w.log.Error("query log: turning automatic checkpoints back on", "err", err)
		}
	}
}

// setAutoCheckpoint sets the writer connection's wal_autocheckpoint.
func (w *Writer) setAutoCheckpoint(ctx context.Context, pages int) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.wconn == nil {
		return ErrClosed
	}
	if _, err := w.wconn.conn.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", pages)); err != nil {
		return fmt.Errorf("setting wal_autocheckpoint: %w", err)
	}
	return nil
}

func (w *Writer) checkpoints(ctx context.Context, quit <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	// Like the writer, on its own thread at a lower priority.
	runtime.LockOSThread()
	if err := lowerThreadPriority(); err != nil {
		w.log.Warn("query log checkpoints: could not lower their priority", "err", err)
	}
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		if n := w.commits.Load(); n != last {
			last = n
			if _, _, err := w.checkpoint(ctx); err != nil {
				w.log.Error("query log checkpoint", "err", err)
			}
		}
	}
}

// checkpoint copies the WAL's committed pages into the database file
// without waiting for the writer or readers (PASSIVE), and returns how
// many pages the WAL holds and how many of them are copied.
func (w *Writer) checkpoint(ctx context.Context) (walPages, copied int, err error) {
	var busy int
	if err := w.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &walPages, &copied); err != nil {
		return 0, 0, fmt.Errorf("checkpointing query log: %w", err)
	}
	return walPages, copied, nil
}

// hasLegacy reports whether version 1 rows are waiting to be moved.
func (w *Writer) hasLegacy() bool {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.wconn != nil && w.wconn.legacy
}

func (w *Writer) buffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// tickAndLog writes the buffer and commits the rows of the seconds that
// are over (the writer goroutine's commit and flush ticks).
func (w *Writer) tickAndLog(ctx context.Context) {
	if err := w.write(ctx, commitClosed); err != nil && ctx.Err() == nil {
		w.log.Error("writing query log", "err", err)
	}
}

func (w *Writer) pruneAndLog(ctx context.Context) {
	rows, counters, err := w.Prune(ctx, w.cfg.Now())
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("pruning query log", "err", err)
		}
		return
	}
	if rows > 0 || counters > 0 {
		w.log.Debug("pruned query log", "rows", rows, "counters", counters)
	}
}

// Flush writes every entry buffered when it is called, in batches of up
// to 8192 entries, and returns once they are committed. When a batch
// fails, the transaction is rolled back and its entries, with those of the
// batches the writer goroutine wrote before it in the same transaction,
// are counted in Stats.Failed; Flush returns the first error.
func (w *Writer) Flush(ctx context.Context) error {
	return w.write(ctx, commitAll)
}

// maxTxRows is how many rows (inserted or held) the writer goroutine lets
// wait in its open transaction before it commits without waiting for
// commitDelay.
const maxTxRows = 1 << 16

// writeMode is what Writer.write commits.
type writeMode int

const (
	// keepOpen leaves the transaction open for the next batches (unless
	// past maxTxRows); the writer goroutine commits within commitDelay.
	keepOpen writeMode = iota
	// commitClosed commits the rows of the seconds that are over and keeps
	// the rows of the last two seconds held for their repeats.
	commitClosed
	// commitAll inserts and commits every row.
	commitAll
)

// write moves the buffered entries into the held rows, inserts the rows
// of the seconds that are over (every held row with commitAll) and
// commits as mode says.
//
// The buffer never waits for SQLite longer than one INSERT: moving
// entries into held rows is cheap (a few map lookups each, no SQL but for
// a new name), and between two INSERTs of rowsPerInsert rows, entries
// that arrived meanwhile are moved too once they pass the wake level. A
// second is over when two later seconds have begun, by the entries'
// times or by the clock, so an answer logged up to a second late still
// joins its row; rows are searchable at most about three seconds after
// their query (two seconds held, then commitDelay).
func (w *Writer) write(ctx context.Context, mode writeMode) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.wconn == nil {
		return ErrClosed
	}
	w.mu.Lock()
	todo := w.n
	// The overflow map is taken only when it holds counts: the one Log
	// keeps filling must not be read (not even its length) once w.mu is
	// released.
	var overflow map[counterKey]counterVal
	if len(w.overflow) > 0 {
		overflow = w.overflow
		w.overflow = map[counterKey]counterVal{}
	}
	w.mu.Unlock()
	var firstErr error
	if len(overflow) > 0 {
		if err := w.wconn.addCounters(ctx, overflow); err != nil {
			firstErr = w.abortLocked(ctx, fmt.Errorf("counting %d dropped query log entries: %w", len(overflow), err), 0)
		}
	}
	if err := w.drainLocked(ctx, todo); err != nil {
		return errors.Join(firstErr, err)
	}

	wc := w.wconn
	before := int64(math.MaxInt64)
	if mode != commitAll {
		before = max(wc.lastSec, w.cfg.Now().Unix()) - 1
	}
	if len(wc.held) >= maxHeld {
		before = math.MaxInt64
	}
	between := func() error {
		if w.hook != nil {
			w.hook()
		}
		if n := w.buffered(); n >= w.wakeAt && len(wc.held)+n < maxHeld { // MemoryBound
			return w.drainLocked(ctx, n)
		}
		return nil
	}
	if err := wc.insertBefore(ctx, before, between); err != nil {
		return errors.Join(firstErr, w.abortLocked(ctx, fmt.Errorf("writing query log rows: %w", err), 0))
	}
	if mode == commitAll {
		// Entries moved between INSERTs above.
		if err := wc.insertHeld(ctx); err != nil {
			return errors.Join(firstErr, w.abortLocked(ctx, fmt.Errorf("writing query log rows: %w", err), 0))
		}
	}
	if mode != keepOpen || wc.txRows+len(wc.held) >= maxTxRows {
		if err := w.commitInserted(ctx); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// drainLocked moves todo buffered entries into the held rows, maxBatch at
// a time, and frees their slots; wmu is held. A batch that fails rolls
// the transaction back.
func (w *Writer) drainLocked(ctx context.Context, todo int) error {
	var firstErr error
	for todo > 0 {
		// The slots [head, head+k) are ours until head moves: Log writes
		// only past head+n, and nothing else moves head.
		w.mu.Lock()
		head := w.head
		w.mu.Unlock()
		k := min(todo, maxBatch)
		a, b := w.ring[head:min(head+k, len(w.ring))], []Entry(nil)
		if len(a) < k {
			b = w.ring[:k-len(a)]
		}
		if err := w.wconn.addBatch(ctx, &w.cfg, a, b); err != nil {
			err = w.abortLocked(ctx, fmt.Errorf("writing %d query log entries: %w", k, err), k)
			if firstErr == nil {
				firstErr = err
			}
		} else {
			w.pending.Add(int64(k))
		}
		// The entries are held (or lost): free the slots, and drop their
		// string references so they do not pin memory.
		for i := range a {
			releaseEntry(&a[i])
		}
		for i := range b {
			releaseEntry(&b[i])
		}
		w.mu.Lock()
		w.head = (head + k) % len(w.ring)
		w.n -= k
		w.restartLocked()
		w.mu.Unlock()
		todo -= k
		if ctx.Err() != nil {
			return errors.Join(firstErr, ctx.Err())
		}
	}
	return firstErr
}

// commitLocked inserts the held rows, commits the open transaction and
// counts its entries as written; wmu is held.
func (w *Writer) commitLocked(ctx context.Context) error {
	if err := w.wconn.insertHeld(ctx); err != nil {
		return w.abortLocked(ctx, fmt.Errorf("writing query log rows: %w", err), 0)
	}
	return w.commitInserted(ctx)
}

// commitInserted commits the open transaction, leaving the held rows
// held, and counts the entries of the rows inserted as written; wmu is
// held.
func (w *Writer) commitInserted(ctx context.Context) error {
	n, open := w.wconn.txEntries, w.wconn.inTx
	if err := w.wconn.commit(ctx); err != nil {
		return w.abortLocked(ctx, err, 0)
	}
	w.written.Add(uint64(n))
	w.pending.Add(-n)
	if open {
		w.commits.Add(1) // an idle log is not checkpointed
	}
	return nil
}

// abortLocked rolls the open transaction back after err and counts its
// rows, and lost more, as failed; wmu is held. It returns err with the
// rollback's error, if any.
func (w *Writer) abortLocked(ctx context.Context, err error, lost int) error {
	err = errors.Join(err, w.wconn.rollback(ctx))
	w.failed.Add(uint64(w.pending.Swap(0)) + uint64(lost))
	return err
}

// commitPending commits the rows the writer goroutine left in its open
// transaction.
func (w *Writer) commitPending(ctx context.Context) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.wconn == nil {
		return ErrClosed
	}
	return w.commitLocked(ctx)
}

// Close stops the writer goroutine, writes what is buffered, and closes
// the database. Log calls after Close are dropped.
func (w *Writer) Close() error {
	w.runMu.Lock()
	if w.started {
		w.started = false
		close(w.stop)
		<-w.done
	}
	w.runMu.Unlock()

	w.mu.Lock()
	already := w.closed
	w.closed = true
	w.mu.Unlock()
	if already {
		return nil
	}
	err := w.Flush(context.Background())

	w.wmu.Lock()
	wc := w.wconn
	w.wconn = nil
	w.wmu.Unlock()
	err = errors.Join(err, wc.close(), w.db.Close())
	if err != nil {
		return fmt.Errorf("closing query log %s: %w", w.cfg.Path, err)
	}
	return nil
}
