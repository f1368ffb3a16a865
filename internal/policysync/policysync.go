// Package policysync is the node side of the store: it keeps the policy
// in effect in step with the store's change feed. After every change the
// store announces (and on a slow safety poll, in case an announcement was
// lost) it reads the feed from the last change the node applied, fetches
// the items those changes name and hands them on as one compile.Delta.
// The whole state is read only when the node has none, when the feed
// cannot bring it up to date (a gap, or more than MaxBehind changes), or
// when the periodic agreement check finds that the node's copy and the
// store differ. Queries never wait for it: the builder swaps a finished
// snapshot in.
package policysync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-dns/hearth/internal/policy/compile"
	"github.com/hearth-dns/hearth/internal/store"
)

// Defaults of Config.
const (
	DefaultPoll       = 30 * time.Second
	DefaultCheck      = 5 * time.Minute
	DefaultMaxBehind  = 10000
	DefaultGrantSweep = time.Minute
)

// page is how many feed entries one Changes call reads.
const page = 1000

// Retry backoff after a failed sync: doubled from the first to the cap.
const (
	retryFirst = 100 * time.Millisecond
	retryMax   = 5 * time.Second
)

// Config configures a Syncer.
type Config struct {
	Store store.Store
	// State returns the store state of the policy in effect (its Seq is
	// the last change applied), and false while there is none.
	State func() (store.State, bool)
	// Seq returns the change-feed position of the policy in effect (the
	// Seq of State), and false while there is none. Every sync asks it,
	// so it must not copy the state, as State may; nil means State's.
	Seq func() (int64, bool)
	// Load builds a policy from a whole state and swaps it in.
	Load func(ctx context.Context, st store.State) error
	// Apply builds the next policy from the one in effect and d, and
	// swaps it in. When Load or Apply fails, the running policy keeps
	// serving and the error is logged; the same changes are tried again
	// at the next sync.
	Apply func(ctx context.Context, d compile.Delta) error
	// Poll is the safety poll period; default DefaultPoll.
	Poll time.Duration
	// Check is the period of the agreement check; default DefaultCheck.
	Check time.Duration
	// MaxBehind is how many feed entries a node applies as a delta;
	// further behind, it reads the whole state. Default DefaultMaxBehind.
	MaxBehind int
	// GrantSweep is how often expired grants are deleted from the store;
	// default DefaultGrantSweep. (An expired grant stops applying at its
	// end by itself; the sweep only tidies the store.)
	GrantSweep time.Duration
	// Health, when set, hears the outcome of every sync: nil when the
	// policy in effect is in step with the store, else why not (wrapping
	// store.ErrUnavailable while the store cannot be reached).
	Health func(err error)
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Reasons for reading the whole state (Stats.Reloads).
const (
	ReloadStart    = "start"    // the node had no state
	ReloadGap      = "gap"      // the feed misses entries after the node's
	ReloadBehind   = "behind"   // more than MaxBehind entries to apply
	ReloadDisagree = "disagree" // the agreement check failed
	ReloadKind     = "kind"     // a change of a kind the store has no getter for
)

// ReloadReasons lists the reasons, for metrics.
var ReloadReasons = []string{ReloadStart, ReloadGap, ReloadBehind, ReloadDisagree, ReloadKind}

// Stats are a Syncer's counters since New.
type Stats struct {
	// Deltas is how many deltas were applied, Changes how many feed
	// entries they carried.
	Deltas, Changes uint64
	// Reloads counts whole-state reads by reason (Reload...).
	Reloads map[string]uint64
	// Checks counts agreement checks made, Disagreements those that
	// failed.
	Checks, Disagreements uint64
	// Failures counts syncs that failed.
	Failures uint64
	// Applied is the change-feed position of the policy in effect.
	Applied int64
	// Heard is the newest change-feed position the node has heard of:
	// from the store's announcements (a store with HeardSeq) or from
	// reading the feed. Heard - Applied is how far behind the node is.
	Heard int64
	// AppliedAt is when the newest change applied as a delta was written
	// (by the writing node's clock; a store with FeedReader), zero when
	// not known.
	AppliedAt time.Time
	// Up is true when the last sync reached the store.
	Up bool
	// LastSync is when the policy was last found in step with the store.
	LastSync time.Time
}

// Syncer keeps the running policy in step with the store.
type Syncer struct {
	c   Config
	log *slog.Logger

	mu sync.Mutex // serialises syncs
	// started numbers the syncs Sync runs (incremented under mu as one
	// starts); completed is the number of the last one finished and
	// lastErr its outcome (both under mu). A caller needs a sync that
	// started after its call, not one of its own: concurrent writers
	// share the next sync instead of queueing one each.
	started   atomic.Uint64
	completed uint64
	lastErr   error
	// waiting counts Sync callers that hold a ticket and wait for the
	// lock (tests watch it).
	waiting atomic.Int32
	// checkNext makes the next sync run the agreement check (a node that
	// resumed from its snapshot file checks at once).
	checkNext bool

	deltas, changes, checks, disagreements, failures atomic.Uint64
	reloads                                          [5]atomic.Uint64 // by ReloadReasons
	up                                               atomic.Bool
	lastSync                                         atomic.Int64 // unix nanoseconds
	// readSeq is the newest feed position a sync read; appliedAt the write
	// time of the newest change applied as a delta (unix nanoseconds).
	readSeq, appliedAt atomic.Int64
}

// New returns a Syncer; call Sync once, then Run.
func New(c Config) *Syncer {
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.Check <= 0 {
		c.Check = DefaultCheck
	}
	if c.MaxBehind <= 0 {
		c.MaxBehind = DefaultMaxBehind
	}
	if c.GrantSweep <= 0 {
		c.GrantSweep = DefaultGrantSweep
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Seq == nil {
		state := c.State
		c.Seq = func() (int64, bool) {
			st, ok := state()
			return st.Seq, ok
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return &Syncer{c: c, log: c.Logger}
}

// CheckNext makes the next sync run the agreement check: a node that
// starts from its snapshot file calls it, since the database may have been
// replaced or restored while it was away.
func (s *Syncer) CheckNext() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkNext = true
}

// Sync brings the policy in effect up to date with the store. It returns
// when the policy reflecting every write committed before the call is
// serving, so an API handler can call it after a write and answer only
// once the change is in effect.
//
// Callers that arrive while a sync runs share the next one: a sync
// started after a call has read every change committed before it, so
// under a burst of writes each API handler waits for at most two syncs,
// and the node runs one sync per burst rather than one per write.
func (s *Syncer) Sync(ctx context.Context) error {
	ticket := s.started.Load() + 1 // the first sync that starts after this call
	s.waiting.Add(1)
	s.mu.Lock()
	s.waiting.Add(-1)
	defer s.mu.Unlock()
	if s.completed >= ticket {
		// Another caller's sync started after this call and finished
		// while this one waited for the lock.
		return s.lastErr
	}
	n := s.started.Add(1)
	err := s.report(ctx, s.sync(ctx, s.checkNext))
	if ctx.Err() != nil {
		// Cut short by its caller: not an outcome to share.
		return err
	}
	s.completed, s.lastErr = n, err
	return err
}

// Check brings the policy up to date, then checks that it agrees with the
// store (store.Version) and reads the whole state when it does not.
func (s *Syncer) Check(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.report(ctx, s.sync(ctx, true))
}

// report records the outcome of a sync and tells Health. A sync cut
// short by its caller (an API client that went away, a shutdown) says
// nothing about the store, and is not reported.
func (s *Syncer) report(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return err
	}
	if err != nil {
		s.failures.Add(1)
	} else {
		s.lastSync.Store(s.c.Now().UnixNano())
	}
	s.up.Store(err == nil || !errors.Is(err, store.ErrUnavailable))
	if s.c.Health != nil {
		s.c.Health(err)
	}
	return err
}

// Stats returns the counters.
func (s *Syncer) Stats() Stats {
	st := Stats{
		Deltas: s.deltas.Load(), Changes: s.changes.Load(),
		Checks: s.checks.Load(), Disagreements: s.disagreements.Load(),
		Failures: s.failures.Load(), Up: s.up.Load(),
		Reloads: make(map[string]uint64, len(ReloadReasons)),
	}
	for i, r := range ReloadReasons {
		st.Reloads[r] = s.reloads[i].Load()
	}
	if n := s.lastSync.Load(); n != 0 {
		st.LastSync = time.Unix(0, n)
	}
	if seq, ok := s.c.Seq(); ok {
		st.Applied = seq
	}
	st.Heard = max(st.Applied, s.readSeq.Load())
	if h, ok := s.c.Store.(HeardSeq); ok {
		st.Heard = max(st.Heard, h.HeardSeq())
	}
	if n := s.appliedAt.Load(); n != 0 {
		st.AppliedAt = time.Unix(0, n)
	}
	return st
}

// HeardSeq is a store that knows the newest change-feed position it was
// told of (PostgreSQL's notifications carry it), for Stats.Heard.
type HeardSeq interface {
	HeardSeq() int64
}

// Applied returns the change-feed position of the state in effect.
func (s *Syncer) Applied() int64 {
	seq, _ := s.c.Seq()
	return seq
}

// reloadError says why the feed cannot bring the node up to date.
type reloadError struct {
	reason string
	err    error
}

func (e *reloadError) Error() string { return e.reason + ": " + e.err.Error() }

// sync applies the changes after the state in effect, reading the whole
// state when they cannot be applied as a delta, then, when check is set,
// runs the agreement check. Callers hold s.mu.
func (s *Syncer) sync(ctx context.Context, check bool) error {
	seq, ok := s.c.Seq()
	if !ok {
		return s.reload(ctx, ReloadStart, nil)
	}
	d, n, at, err := s.delta(ctx, seq)
	var re *reloadError
	if errors.As(err, &re) {
		return s.reload(ctx, re.reason, re.err)
	}
	if err != nil {
		return err
	}
	if n > 0 {
		if err := s.c.Apply(ctx, d); err != nil {
			return fmt.Errorf("apply changes %d-%d: %w", seq+1, d.Seq, err)
		}
		s.deltas.Add(1)
		s.changes.Add(uint64(n))
		if !at.IsZero() {
			s.appliedAt.Store(at.UnixNano())
		}
	}
	if !check {
		return nil
	}
	s.checkNext = false
	return s.check(ctx)
}

// check compares the state in effect with the store's Version, and reads
// the whole state when they differ. A store that moved on in between is
// not a disagreement: the next check compares again.
func (s *Syncer) check(ctx context.Context) error {
	v, err := s.c.Store.Version(ctx)
	if err != nil {
		s.checkNext = true // as soon as the store answers again
		return fmt.Errorf("agreement check: %w", err)
	}
	s.checks.Add(1)
	cur, _ := s.c.State()
	switch {
	case v.Seq > cur.Seq:
		return nil // written since the delta was read
	case v.Seq < cur.Seq:
		return s.disagree(ctx, fmt.Sprintf("the node is at change %d, the store at %d (was the database replaced or restored?)", cur.Seq, v.Seq))
	}
	if diff := store.Summarize(cur).Disagrees(v); diff != "" {
		return s.disagree(ctx, diff)
	}
	return nil
}

func (s *Syncer) disagree(ctx context.Context, diff string) error {
	s.disagreements.Add(1)
	s.log.Warn("the node's policy disagrees with the store; reading the whole state", "diff", diff)
	return s.reload(ctx, ReloadDisagree, errors.New(diff))
}

// reload reads the whole state and swaps it in.
func (s *Syncer) reload(ctx context.Context, reason string, why error) error {
	if why != nil {
		s.log.Info("reading the whole policy state", "reason", reason, "why", why)
	}
	st, err := s.c.Store.Load(ctx)
	if err != nil {
		return fmt.Errorf("load policy state: %w", err)
	}
	if err := s.c.Load(ctx, st); err != nil {
		return fmt.Errorf("apply policy state %d: %w", st.Seq, err)
	}
	for i, r := range ReloadReasons {
		if r == reason {
			s.reloads[i].Add(1)
		}
	}
	return nil
}

// delta reads the feed after seq and fetches the items it names: the
// Delta to apply, how many feed entries it carries, and when its last one
// was written (zero when the store does not say). Each item is as stored
// when fetched, which may be after a later change than the last entry
// read; that later change is applied again at the next sync, to the same
// effect. A *reloadError says the feed cannot bring the node up to date.
func (s *Syncer) delta(ctx context.Context, seq int64) (compile.Delta, int, time.Time, error) {
	cs, withGrants, at, err := s.read(ctx, seq)
	if err != nil || len(cs) == 0 {
		return compile.Delta{}, 0, time.Time{}, err
	}
	d := compile.Delta{Seq: cs[len(cs)-1].Seq}
	// The last entry of each item says what became of it.
	last := make(map[[2]string]int, len(cs))
	for i, c := range cs {
		last[[2]string{c.Kind, c.ID}] = i
	}
	mg, many := s.c.Store.(ManyGetter)
	var devices, grants []store.Change // fetched together when many
	for i, c := range cs {
		if last[[2]string{c.Kind, c.ID}] != i {
			continue
		}
		if c.Deleted {
			d.Deleted = append(d.Deleted, c)
			continue
		}
		if many && c.Kind == store.KindDevice {
			devices = append(devices, c)
			continue
		}
		if (many || withGrants != nil) && c.Kind == store.KindGrant {
			grants = append(grants, c)
			continue
		}
		err := fetch(ctx, s.c.Store, c, &d)
		if errors.Is(err, store.ErrNotFound) {
			// Deleted since: a later entry says so too.
			d.Deleted = append(d.Deleted, store.Change{Seq: c.Seq, Kind: c.Kind, ID: c.ID, Deleted: true})
			continue
		}
		if errors.Is(err, errNoGetter) {
			return compile.Delta{}, 0, time.Time{}, &reloadError{ReloadKind, fmt.Errorf("change %d: %w", c.Seq, err)}
		}
		if err != nil {
			return compile.Delta{}, 0, time.Time{}, fmt.Errorf("change %d: %w", c.Seq, err)
		}
	}
	if len(devices) > 0 {
		got, err := fetchMany(ctx, mg.DevicesByID, devices, func(x store.Device) string { return x.ID }, &d)
		if err != nil {
			return compile.Delta{}, 0, time.Time{}, err
		}
		d.Devices = append(d.Devices, got...)
	}
	if len(grants) > 0 {
		var getter func(context.Context, []string) ([]store.Grant, error)
		if withGrants == nil {
			getter = mg.GrantsByID
		} else {
			// Read with the feed already.
			getter = func(_ context.Context, ids []string) ([]store.Grant, error) {
				got := make([]store.Grant, 0, len(ids))
				for _, id := range ids {
					if g, ok := withGrants[id]; ok {
						got = append(got, g)
					}
				}
				return got, nil
			}
		}
		got, err := fetchMany(ctx, getter, grants, func(x store.Grant) string { return x.ID }, &d)
		if err != nil {
			return compile.Delta{}, 0, time.Time{}, err
		}
		d.Grants = append(d.Grants, got...)
	}
	return d, len(cs), at, nil
}

// read reads the feed after seq, in pages. With a FeedReader store it
// also returns the grants the feed names, by id (non-nil then), and
// when the last entry was written.
func (s *Syncer) read(ctx context.Context, seq int64) (cs []store.Change, grants map[string]store.Grant, at time.Time, err error) {
	fr, withGrants := s.c.Store.(FeedReader)
	if withGrants {
		grants = make(map[string]store.Grant)
	}
	for after := seq; ; {
		var got []store.Change
		if withGrants {
			p, err := fr.ChangesWithGrants(ctx, after, page)
			if err != nil {
				return nil, nil, time.Time{}, fmt.Errorf("read changes after %d: %w", after, err)
			}
			got = p.Changes
			for _, g := range p.Grants {
				grants[g.ID] = g // a later page's read is the newer
			}
			if !p.At.IsZero() {
				at = p.At
			}
		} else if got, err = s.c.Store.Changes(ctx, after, page); err != nil {
			return nil, nil, time.Time{}, fmt.Errorf("read changes after %d: %w", after, err)
		}
		for _, c := range got {
			// Both stores number the feed without gaps (see their
			// package comments): an entry missing means the feed
			// was trimmed, or belongs to another database.
			if c.Seq != after+1 {
				return nil, nil, time.Time{}, &reloadError{ReloadGap, fmt.Errorf("change %d follows %d", c.Seq, after)}
			}
			after = c.Seq
		}
		if after > s.readSeq.Load() {
			s.readSeq.Store(after) // under s.mu: no other sync writes it
		}
		cs = append(cs, got...)
		if len(cs) > s.c.MaxBehind {
			return nil, nil, time.Time{}, &reloadError{ReloadBehind, fmt.Errorf("more than %d changes after %d", s.c.MaxBehind, seq)}
		}
		if len(got) < page {
			return cs, grants, at, nil
		}
	}
}

// FeedReader reads a page of the change feed with the grants it names
// in one round trip (store.FeedPage). With it a node's sync of a burst of
// grants (pauses, allowances: the busiest writes) is one query per page
// instead of two.
type FeedReader interface {
	ChangesWithGrants(ctx context.Context, after int64, limit int) (store.FeedPage, error)
}

// ManyGetter fetches the items of many ids of one kind at once. A store
// that has it answers a delta's devices and grants in one round trip per
// kind; without it, each changed item is one query, which at a thousand
// changes a second was most of a node's sync.
type ManyGetter interface {
	// DevicesByID and GrantsByID return the items of those ids that
	// exist, in any order.
	DevicesByID(ctx context.Context, ids []string) ([]store.Device, error)
	GrantsByID(ctx context.Context, ids []string) ([]store.Grant, error)
}

// fetchMany gets the items cs name with getter; an id it does not return
// was deleted since (a later entry says so too) and goes to d.Deleted.
func fetchMany[T any](ctx context.Context, getter func(context.Context, []string) ([]T, error), cs []store.Change, id func(T) string, d *compile.Delta) ([]T, error) {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	got, err := getter(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("changes %d-%d: %w", cs[0].Seq, cs[len(cs)-1].Seq, err)
	}
	found := make(map[string]bool, len(got))
	for _, x := range got {
		found[id(x)] = true
	}
	for _, c := range cs {
		if !found[c.ID] {
			d.Deleted = append(d.Deleted, store.Change{Seq: c.Seq, Kind: c.Kind, ID: c.ID, Deleted: true})
		}
	}
	return got, nil
}

// errNoGetter: the store cannot fetch one item of a change's kind.
var errNoGetter = errors.New("no getter for this kind of item")

// fetch gets the item c names into d. A kind added to the change feed
// needs one case here, and its field in compile.Delta.
func fetch(ctx context.Context, st store.Store, c store.Change, d *compile.Delta) error {
	switch c.Kind {
	case store.KindHousehold:
		return get(ctx, st.Household, c.ID, &d.Households)
	case store.KindProfile:
		return get(ctx, st.Profile, c.ID, &d.Profiles)
	case store.KindDevice:
		return get(ctx, st.Device, c.ID, &d.Devices)
	case store.KindGrant:
		return get(ctx, st.Grant, c.ID, &d.Grants)
	case store.KindBinding:
		bg, ok := st.(BindingGetter)
		kind, key, found := strings.Cut(c.ID, ":")
		if !ok || !found {
			return fmt.Errorf("%s %q: %w", c.Kind, c.ID, errNoGetter)
		}
		return get(ctx, func(ctx context.Context, key string) (store.Binding, error) { return bg.Binding(ctx, kind, key) }, key, &d.Bindings)
	}
	return fmt.Errorf("%s %q: %w", c.Kind, c.ID, errNoGetter)
}

// BindingGetter is the getter of one binding, by its kind and key; a
// store without it is read whole after a change of a binding.
type BindingGetter interface {
	Binding(ctx context.Context, kind, key string) (store.Binding, error)
}

// get appends the item of that id to items.
func get[T any](ctx context.Context, getter func(context.Context, string) (T, error), id string, items *[]T) error {
	x, err := getter(ctx, id)
	if err != nil {
		return err
	}
	*items = append(*items, x)
	return nil
}

// Run syncs after every announced change and every Poll, checks agreement
// every Check, retries a failed sync with backoff, and deletes expired
// grants every GrantSweep, until ctx ends.
func (s *Syncer) Run(ctx context.Context) {
	poll := time.NewTicker(s.c.Poll)
	defer poll.Stop()
	check := time.NewTicker(s.c.Check)
	defer check.Stop()
	sweep := time.NewTicker(s.c.GrantSweep)
	defer sweep.Stop()
	notify := s.c.Store.Notify()
	var (
		retry  *time.Timer
		retryC <-chan time.Time
		wait   = retryFirst
	)
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-notify:
			err = s.Sync(ctx)
		case <-poll.C:
			err = s.Sync(ctx)
		case <-retryC:
			err = s.Sync(ctx)
		case <-check.C:
			err = s.Check(ctx)
		case <-sweep.C:
			if n, err := s.c.Store.DeleteExpiredGrants(ctx, s.c.Now()); err != nil {
				s.log.Warn("deleting expired grants", "err", err)
			} else if n > 0 {
				s.log.Debug("expired grants deleted", "count", n)
			}
			continue // the deletion announces itself
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			retryC, wait = nil, retryFirst
			continue
		}
		s.log.Error("policy sync failed; the running policy keeps serving", "err", err, "retry_in", wait)
		if retry == nil {
			retry = time.NewTimer(wait)
		} else {
			retry.Reset(wait)
		}
		retryC, wait = retry.C, min(2*wait, retryMax)
	}
}
