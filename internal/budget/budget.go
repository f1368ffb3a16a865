// Package budget counts the active minutes of the time budgets of
// devices (games 1 h a day, social 30 min) and says which budgets are used
// up. An active minute of a budget is a minute of the day in which the
// device asked for one of the budget's foreground names (policy.Decision's
// Count); the budgets reset at midnight in the profile's time zone.
//
// The query path does no I/O and takes no lock here: each device has, per
// budget, a bitmap of the day's minutes set with one atomic OR (a minute
// already set costs one atomic load), and a cached "used up" tag set that
// holds until the policy snapshot, the day or the count changes. Locks
// are taken only to add a device or a budget seen for the first time.
// Memory is bounded: at most Config.MaxDevices devices (device names come
// from the policy's device table, not from clients), at most
// 2*policy.MaxBudgets budgets each, about 400 bytes a budget.
//
// Usage survives restarts: Run saves the day's bitmaps in a store setting
// once a minute when something changed, and Load reads them back.
package budget

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-dns/hearth/internal/policy"
)

// SettingKey is the store setting usage is saved under.
const SettingKey = "budget-usage"

// DefaultMaxDevices is Config.MaxDevices when it is 0.
const DefaultMaxDevices = 4096

// dayWords is the size of a day's minute bitmap: 25 × 64 = 1600 minutes,
// enough for the 25-hour day at the end of daylight-saving time.
const dayWords = 25

// Config configures a Tracker.
type Config struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives problems; nil discards them.
	Logger *slog.Logger
	// MaxDevices bounds how many devices are tracked. Beyond it, the
	// budgets of a new device count as used up (fail closed) and the
	// problem is logged once.
	MaxDevices int
}

// Settings is where usage is saved: the store's settings.
type Settings interface {
	Setting(ctx context.Context, key string) (string, bool, error)
	PutSetting(ctx context.Context, key, value string) error
}

// Tracker counts active minutes per device and budget. Its methods are
// safe for concurrent use.
type Tracker struct {
	cfg Config
	log *slog.Logger
	// devices is replaced whole (copy on write) when a device is added,
	// so readers never lock.
	devices atomic.Pointer[map[string]*device]
	mu      sync.Mutex // serialises additions of devices and budgets
	// dirty is set when a minute is counted and cleared by Save.
	dirty atomic.Bool
	// full is set once MaxDevices is reached (logged once).
	full atomic.Bool
}

// device is one device's budgets.
type device struct {
	slots atomic.Pointer[[]*slot]
	spent atomic.Pointer[spentCache]
}

// slot is one budget of a device: the current day's minutes.
type slot struct {
	id  string
	day atomic.Pointer[dayBits]
}

// dayBits is one local day of a budget: bit i is the i-th minute after
// its midnight.
type dayBits struct {
	start, end int64 // Unix seconds of the day's two midnights
	bits       [dayWords]atomic.Uint64
	// held are the minutes in which the budget blocked a query: a gap
	// holding one is not bridged.
	held [dayWords]atomic.Uint64
}

// spentCache is a device's used-up tags, valid for one policy snapshot
// and profile while the Unix second is in [from, until) and no minute is
// counted (Count drops it).
type spentCache struct {
	pol         *policy.Snapshot
	prof        int
	from, until int64
	set         policy.TagSet
}

// New returns a tracker.
func New(c Config) *Tracker {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxDevices <= 0 {
		c.MaxDevices = DefaultMaxDevices
	}
	t := &Tracker{cfg: c, log: c.Logger}
	t.devices.Store(&map[string]*device{})
	return t
}

// device returns the entry of name, adding it when there is room; nil
// when the table is full.
func (t *Tracker) device(name string) *device {
	if d := (*t.devices.Load())[name]; d != nil {
		return d
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.devices.Load()
	if d := old[name]; d != nil {
		return d
	}
	if len(old) >= t.cfg.MaxDevices {
		if !t.full.Swap(true) {
			t.log.Error("time budgets: device table full; the budgets of further devices count as used up", "max_devices", t.cfg.MaxDevices)
		}
		return nil
	}
	next := make(map[string]*device, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	d := &device{}
	d.slots.Store(&[]*slot{})
	next[name] = d
	t.devices.Store(&next)
	return d
}

// slot returns the device's slot of budget id, adding it when there is
// room; nil when the device has too many.
func (t *Tracker) slot(d *device, id string) *slot {
	for _, s := range *d.slots.Load() {
		if s.id == id {
			return s
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *d.slots.Load()
	for _, s := range old {
		if s.id == id {
			return s
		}
	}
	if len(old) >= 2*policy.MaxBudgets {
		return nil
	}
	s := &slot{id: id}
	next := append(append(make([]*slot, 0, len(old)+1), old...), s)
	d.slots.Store(&next)
	return s
}

// today returns s's bitmap of the day holding sec (its midnights start
// and end), making it when s holds another day. A bitmap of a later day
// is kept (a clock stepping back) and nil returned.
func (s *slot) today(sec, start, end int64) *dayBits {
	for {
		cur := s.day.Load()
		if cur != nil && cur.start == start {
			return cur
		}
		if cur != nil && cur.start > start {
			return nil
		}
		next := &dayBits{start: start, end: end}
		if s.day.CompareAndSwap(cur, next) {
			return next
		}
	}
}

// BridgeMinutes is the longest gap between two active minutes that is
// counted as active too: an app in use that polls every minute or two
// leaves minutes without a query (docs/budgets.md has the figures).
const BridgeMinutes = 2

// bridge counts the minutes before idx back to the last active one when
// at most BridgeMinutes lie between them.
func (b *dayBits) bridge(idx int64) {
	has := func(i int64) bool { return i >= 0 && b.bits[i/64].Load()&(1<<(i%64)) != 0 }
	for gap := int64(1); gap <= BridgeMinutes; gap++ {
		if has(idx-gap) || idx-gap >= 0 && b.held[(idx-gap)/64].Load()&(1<<((idx-gap)%64)) != 0 {
			return // no gap, one already bridged, or the budget blocked
		}
		if has(idx - gap - 1) {
			for i := idx - gap; i < idx; i++ {
				b.bits[i/64].Or(1 << (i % 64))
			}
			return
		}
	}
}

// used returns the minutes counted in b, and whether the minute holding
// sec is one of them.
func (b *dayBits) used(sec int64) (n int, cur bool) {
	if b == nil {
		return 0, false
	}
	for i := range b.bits {
		n += bits.OnesCount64(b.bits[i].Load())
	}
	if i := (sec - b.start) / 60; sec >= b.start && i < dayWords*64 {
		cur = b.bits[i/64].Load()&(1<<(i%64)) != 0
	}
	return n, cur
}

// Spent returns the tags of the budgets device has used up at now under
// profile prof of pol: DecideSpent's spent argument. Once the cache
// holds, it is one map read and two atomic loads, with no allocation.
func (t *Tracker) Spent(dev string, pol *policy.Snapshot, prof int, now time.Time) policy.TagSet {
	if !pol.HasBudgets(prof) {
		return policy.TagSet{}
	}
	d := t.device(dev)
	if d == nil {
		// No room to count: fail closed.
		var all policy.TagSet
		for _, b := range pol.Budgets(prof, now) {
			all = all.Or(b.Tags)
		}
		return all
	}
	sec := now.Unix()
	if c := d.spent.Load(); c != nil && c.pol == pol && c.prof == prof && sec >= c.from && sec < c.until {
		return c.set
	}
	c := &spentCache{pol: pol, prof: prof, from: sec, until: sec + 24*3600}
	for _, u := range t.usage(d, pol, prof, now) {
		if u.Spent {
			c.set = c.set.Or(u.Tags)
		}
		c.until = min(c.until, u.DayEnd.Unix())
		if u.Used == u.Limit {
			// Used up from the next minute on, unless this one counts.
			c.until = min(c.until, sec-sec%60+60)
		}
	}
	d.spent.Store(c)
	return c.set
}

// Count records an active minute at now for each budget of profile prof
// of pol whose bit mask holds (policy.Decision.Count). A minute already
// counted costs one atomic load per budget; no allocation but the first
// of a device, a budget or a day.
func (t *Tracker) Count(dev string, pol *policy.Snapshot, prof int, mask uint32, now time.Time) {
	if mask == 0 {
		return
	}
	d := t.device(dev)
	if d == nil {
		return
	}
	for mask != 0 {
		i := bits.TrailingZeros32(mask)
		mask &^= 1 << i
		b, idx := t.minute(d, pol, prof, i, now)
		if b == nil {
			continue
		}
		w, bit := &b.bits[idx/64], uint64(1)<<(idx%64)
		if w.Load()&bit != 0 {
			continue
		}
		if w.Or(bit)&bit == 0 {
			b.bridge(idx)
			d.spent.Store(nil)
			t.dirty.Store(true)
		}
	}
}

// Held records that budget i of profile prof blocked a query of device
// at now, so that the minute is never counted by bridging a gap.
func (t *Tracker) Held(dev string, pol *policy.Snapshot, prof, i int, now time.Time) {
	d := t.device(dev)
	if d == nil {
		return
	}
	if b, idx := t.minute(d, pol, prof, i, now); b != nil {
		if w, bit := &b.held[idx/64], uint64(1)<<(idx%64); w.Load()&bit == 0 {
			w.Or(bit)
		}
	}
}

// minute returns the day's bitmap of budget i of d at now, and the index
// of now's minute in it; nil when it cannot be kept.
func (t *Tracker) minute(d *device, pol *policy.Snapshot, prof, i int, now time.Time) (*dayBits, int64) {
	s := t.slot(d, pol.BudgetID(prof, i))
	if s == nil {
		return nil, 0
	}
	sec := now.Unix()
	b := s.day.Load()
	if b == nil || sec < b.start || sec >= b.end {
		st, en := policy.Day(now, pol.Location(prof))
		if b = s.today(sec, st.Unix(), en.Unix()); b == nil {
			return nil, 0
		}
	}
	idx := (sec - b.start) / 60
	if idx < 0 || idx >= dayWords*64 {
		return nil, 0
	}
	return b, idx
}

// Use is one budget of a device on the day of an instant.
type Use struct {
	policy.BudgetState
	// Used is the active minutes counted today; Left is what remains of
	// Limit (0 when used up).
	Used, Left int
	// Spent is true once the budget is used up: its tags are blocked
	// until DayEnd, or until a parent gives extra time.
	Spent bool
}

// Usage returns device's budgets under profile prof of pol at now, with
// the minutes used and left: for the dashboard and the API.
func (t *Tracker) Usage(dev string, pol *policy.Snapshot, prof int, now time.Time) []Use {
	if !pol.HasBudgets(prof) {
		return nil
	}
	d := (*t.devices.Load())[dev]
	if d == nil {
		d = &device{}
		d.slots.Store(&[]*slot{})
	}
	return t.usage(d, pol, prof, now)
}

func (t *Tracker) usage(d *device, pol *policy.Snapshot, prof int, now time.Time) []Use {
	sec := now.Unix()
	slots := *d.slots.Load()
	var out []Use
	for _, b := range pol.Budgets(prof, now) {
		u := Use{BudgetState: b}
		for _, s := range slots {
			if s.id != b.ID {
				continue
			}
			if day := s.day.Load(); day != nil && day.start == b.DayStart.Unix() {
				var cur bool
				u.Used, cur = day.used(sec)
				u.Spent = u.Used > u.Limit || u.Used == u.Limit && !cur
			}
		}
		if u.Used == 0 && u.Limit == 0 {
			u.Spent = true
		}
		u.Left = max(0, u.Limit-u.Used)
		out = append(out, u)
	}
	return out
}

// saved is the setting's JSON form.
type saved struct {
	Version int           `json:"version"`
	Days    []savedBudget `json:"days"`
}

type savedBudget struct {
	Device string `json:"device"`
	Budget string `json:"budget"`
	Start  int64  `json:"start"`
	End    int64  `json:"end"`
	// Bits is the minute bitmap, base64 of little-endian words.
	Bits string `json:"bits"`
}

// Save writes the current days' usage to st and forgets the days that
// have ended. It writes nothing when nothing was counted since the last
// Save, unless force.
func (t *Tracker) Save(ctx context.Context, st Settings, force bool) error {
	if !t.dirty.Swap(false) && !force {
		return nil
	}
	now := t.cfg.Now().Unix()
	out := saved{Version: 1, Days: []savedBudget{}}
	t.mu.Lock()
	old := *t.devices.Load()
	keep := make(map[string]*device, len(old))
	for name, d := range old {
		var live []*slot
		for _, s := range *d.slots.Load() {
			b := s.day.Load()
			if b == nil || b.end <= now {
				continue
			}
			live = append(live, s)
			var raw [dayWords * 8]byte
			for i := range b.bits {
				w := b.bits[i].Load()
				for j := range 8 {
					raw[i*8+j] = byte(w >> (8 * j))
				}
			}
			out.Days = append(out.Days, savedBudget{Device: name, Budget: s.id, Start: b.start, End: b.end, Bits: base64.StdEncoding.EncodeToString(raw[:])})
		}
		if len(live) > 0 || d.spent.Load() != nil {
			if len(live) != len(*d.slots.Load()) {
				d.slots.Store(&live)
			}
			keep[name] = d
		}
	}
	t.devices.Store(&keep)
	t.mu.Unlock()
	data, err := json.Marshal(out)
	if err == nil {
		err = st.PutSetting(ctx, SettingKey, string(data))
	}
	if err != nil {
		t.dirty.Store(true) // try again next time
		return fmt.Errorf("saving time budget usage: %w", err)
	}
	return nil
}

// Load reads the usage Save wrote. Records of days that have ended, and
// records that are malformed (logged), are left out: nothing stored can
// stop the start.
func (t *Tracker) Load(ctx context.Context, st Settings) error {
	v, ok, err := st.Setting(ctx, SettingKey)
	if err != nil {
		return fmt.Errorf("reading time budget usage: %w", err)
	}
	if !ok {
		return nil
	}
	var in saved
	if err := json.Unmarshal([]byte(v), &in); err != nil {
		t.log.Warn("time budget usage unreadable; starting the day's counts afresh", "err", err)
		return nil
	}
	now := t.cfg.Now().Unix()
	for i, r := range in.Days {
		raw, err := base64.StdEncoding.DecodeString(r.Bits)
		switch {
		case err == nil && len(raw) != dayWords*8:
			err = fmt.Errorf("%d bytes of bits, want %d", len(raw), dayWords*8)
		case err == nil && (r.End <= r.Start || r.End-r.Start > dayWords*64*60):
			err = errors.New("bad day")
		}
		if err != nil {
			t.log.Warn("time budget usage record left out", "record", i, "device", r.Device, "err", err)
			continue
		}
		if r.End <= now {
			continue
		}
		d := t.device(r.Device)
		if d == nil {
			continue
		}
		s := t.slot(d, r.Budget)
		if s == nil {
			continue
		}
		b := &dayBits{start: r.Start, end: r.End}
		for w := range b.bits {
			var x uint64
			for j := range 8 {
				x |= uint64(raw[w*8+j]) << (8 * j)
			}
			b.bits[w].Store(x)
		}
		s.day.Store(b)
		d.spent.Store(nil)
	}
	return nil
}

// Run saves usage to st every period while ctx lives (after is the clock's
// timer, time.After in production), and once more when ctx ends.
func (t *Tracker) Run(ctx context.Context, st Settings, period time.Duration, after func(time.Duration) <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			// The final save outlives ctx: it is what a restart reads.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := t.Save(sctx, st, false); err != nil {
				t.log.Error("time budgets", "err", err)
			}
			cancel()
			return
		case <-after(period):
			if err := t.Save(ctx, st, false); err != nil {
				t.log.Error("time budgets", "err", err)
			}
		}
	}
}
