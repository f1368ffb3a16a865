// Package activity keeps per-device counters of what devices ask for,
// by category and service, and watches for bypass attempts. The weekly
// digest is built from these counters, so it needs neither the query log
// nor its raw rows.
//
// The query path only calls Watch, which copies a few words into a
// bounded channel and never waits (a full channel drops and counts); one
// goroutine (Run) owns the counting. A bypass attempt is a blocked query
// for the bypass category (public DoH and DoT resolvers, VPN, proxy and
// Tor names), or Threshold blocked queries for one other category within
// Window: a child who keeps trying. Each is reported once per device and
// tag per Window. The bypass protections' own blocks (the Firefox canary,
// iCloud Private Relay, DDR) are not attempts: every Firefox and iPhone
// asks for them on its own.
package activity

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// BypassTag is the category of names that get around the filter.
const BypassTag = "bypass"

// Days is how many days of counters are kept: a week and the day the
// digest is sent.
const Days = 8

// maxKeys bounds the counters: devices × tags × days. Past it, new keys
// are dropped (and counted) until old days expire.
const maxKeys = 200_000

// Config configures a Watcher.
type Config struct {
	// Threshold blocked queries of one category within Window make a
	// bypass attempt; 0 means 30 in 10 minutes.
	Threshold int
	Window    time.Duration
	// Bypass hears each bypass attempt: the device, the tag, and how
	// many blocked queries made it. Called from Run's goroutine.
	Bypass func(device, tag string, n int)
	// Buffer is the channel's size; 0 means 4096.
	Buffer int
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// seen is one query, as the query path reports it.
type seen struct {
	device, tag string
	service     bool
	blocked     bool
	// flush, when not nil, is closed once every earlier query is counted.
	flush chan struct{}
}

// key is one device's count of one tag on one UTC day.
type key struct {
	Device string
	Tag    string
	Day    int64 // Unix days
}

// count is a key's queries and blocked queries, and for a service the
// minutes in which the device asked for it and was answered (active
// minutes, as time budgets count them, background names included).
type count struct {
	Queries, Blocked int64
	Service          bool
	Minutes          int64 `json:",omitempty"`
	// LastMinute is the Unix minute last counted in Minutes.
	LastMinute int64 `json:",omitempty"`
}

// streak tracks one device's blocked queries of one tag in a window.
type streak struct {
	start    time.Time
	n        int
	reported bool
}

// Watcher counts and watches.
type Watcher struct {
	cfg     Config
	log     *slog.Logger
	ch      chan seen
	dropped atomic.Uint64

	mu      sync.Mutex
	counts  map[key]count
	bypass  map[key]int64 // bypass attempts per device and day (Tag "")
	streaks map[[2]string]*streak
	full    uint64
}

// New returns a Watcher; Run starts it.
func New(c Config) *Watcher {
	if c.Threshold <= 0 {
		c.Threshold = 30
	}
	if c.Window <= 0 {
		c.Window = 10 * time.Minute
	}
	if c.Buffer <= 0 {
		c.Buffer = 4096
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return &Watcher{
		cfg: c, log: c.Logger, ch: make(chan seen, c.Buffer),
		counts: map[key]count{}, bypass: map[key]int64{}, streaks: map[[2]string]*streak{},
	}
}

// Watch reports one answered query of a recognised device that matched
// tag (a category or service id, service saying which), blocked or not.
// It is called on the query path: it never waits and does not allocate.
func (w *Watcher) Watch(device, tag string, service, blocked bool) {
	select {
	case w.ch <- seen{device: device, tag: tag, service: service, blocked: blocked}:
	default:
		w.dropped.Add(1)
	}
}

// Dropped counts the queries Watch dropped because Run fell behind.
func (w *Watcher) Dropped() uint64 { return w.dropped.Load() }

// Flush returns once every query watched before the call is counted, or
// ctx ends.
func (w *Watcher) Flush(ctx context.Context) {
	done := make(chan struct{})
	select {
	case w.ch <- seen{flush: done}:
	case <-ctx.Done():
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Run counts until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-w.ch:
			if s.flush != nil {
				close(s.flush)
				continue
			}
			w.count(s)
		}
	}
}

// day is t's Unix day.
func day(t time.Time) int64 { return t.Unix() / 86400 }

// count adds one query and checks for a bypass attempt.
func (w *Watcher) count(s seen) {
	now := w.cfg.Now()
	today := day(now)
	w.mu.Lock()
	k := key{Device: s.device, Tag: s.tag, Day: today}
	c, ok := w.counts[k]
	if !ok && len(w.counts) >= maxKeys {
		w.expire(today)
		if len(w.counts) >= maxKeys {
			w.full++
			w.mu.Unlock()
			return
		}
	}
	c.Queries++
	c.Service = s.service
	if s.blocked {
		c.Blocked++
	} else if m := now.Unix() / 60; s.service && m != c.LastMinute {
		c.Minutes++
		c.LastMinute = m
	}
	w.counts[k] = c
	var report int
	if s.blocked {
		sk := [2]string{s.device, s.tag}
		st := w.streaks[sk]
		if st == nil || now.Sub(st.start) >= w.cfg.Window {
			if len(w.streaks) >= maxKeys {
				w.streaks = map[[2]string]*streak{} // forget old streaks rather than grow
			}
			st = &streak{start: now}
			w.streaks[sk] = st
		}
		st.n++
		threshold := w.cfg.Threshold
		if s.tag == BypassTag {
			threshold = 1
		}
		if st.n >= threshold && !st.reported {
			st.reported = true
			report = st.n
			w.bypass[key{Device: s.device, Day: today}]++
		}
	}
	w.mu.Unlock()
	if report > 0 && w.cfg.Bypass != nil {
		w.cfg.Bypass(s.device, s.tag, report)
	}
}

// expire drops counters older than Days; the caller holds w.mu.
func (w *Watcher) expire(today int64) {
	for k := range w.counts {
		if k.Day <= today-Days {
			delete(w.counts, k)
		}
	}
	for k := range w.bypass {
		if k.Day <= today-Days {
			delete(w.bypass, k)
		}
	}
}

// TagCount is a tag's queries and blocked queries, and for a service its
// active minutes.
type TagCount struct {
	Tag     string `json:"tag"`
	Queries int64  `json:"queries"`
	Blocked int64  `json:"blocked"`
	Minutes int64  `json:"minutes"`
}

// DeviceWeek is one device's last seven days.
type DeviceWeek struct {
	Device string `json:"device"`
	// Services are the services it used, by active minutes, then
	// queries, most first.
	Services []TagCount `json:"services"`
	// Blocked are the categories and services blocked for it, by
	// blocked queries, most first.
	Blocked []TagCount `json:"blocked"`
	// BypassAttempts counts the attempts reported.
	BypassAttempts int64 `json:"bypass_attempts"`
}

// Week returns each device's counts of the seven UTC days before until's
// day and that day itself up to until, sorted by device.
func (w *Watcher) Week(until time.Time) []DeviceWeek {
	last := day(until)
	first := last - 7
	w.mu.Lock()
	defer w.mu.Unlock()
	byDev := map[string]map[string]*TagCount{}
	services := map[string]bool{}
	for k, c := range w.counts {
		if k.Day <= first || k.Day > last {
			continue
		}
		m := byDev[k.Device]
		if m == nil {
			m = map[string]*TagCount{}
			byDev[k.Device] = m
		}
		tc := m[k.Tag]
		if tc == nil {
			tc = &TagCount{Tag: k.Tag}
			m[k.Tag] = tc
		}
		tc.Queries += c.Queries
		tc.Blocked += c.Blocked
		tc.Minutes += c.Minutes
		services[k.Tag] = c.Service
	}
	attempts := map[string]int64{}
	for k, n := range w.bypass {
		if k.Day > first && k.Day <= last {
			attempts[k.Device] += n
			if byDev[k.Device] == nil {
				byDev[k.Device] = map[string]*TagCount{}
			}
		}
	}
	out := []DeviceWeek{}
	for dev, m := range byDev {
		dw := DeviceWeek{Device: dev, Services: []TagCount{}, Blocked: []TagCount{}, BypassAttempts: attempts[dev]}
		for tag, tc := range m {
			if services[tag] && tc.Queries > tc.Blocked {
				dw.Services = append(dw.Services, TagCount{Tag: tag, Queries: tc.Queries - tc.Blocked, Minutes: tc.Minutes})
			}
			if tc.Blocked > 0 {
				dw.Blocked = append(dw.Blocked, TagCount{Tag: tag, Queries: tc.Queries, Blocked: tc.Blocked})
			}
		}
		sort.Slice(dw.Services, func(i, j int) bool {
			a, b := dw.Services[i], dw.Services[j]
			if a.Minutes != b.Minutes {
				return a.Minutes > b.Minutes
			}
			return a.Queries > b.Queries || a.Queries == b.Queries && a.Tag < b.Tag
		})
		sort.Slice(dw.Blocked, func(i, j int) bool {
			a, b := dw.Blocked[i], dw.Blocked[j]
			return a.Blocked > b.Blocked || a.Blocked == b.Blocked && a.Tag < b.Tag
		})
		out = append(out, dw)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out
}

// file is the counters' form on disk.
type file struct {
	Version int         `json:"version"`
	Counts  []fileCount `json:"counts"`
}

type fileCount struct {
	key
	count
	Bypass int64 `json:"bypass,omitempty"`
}

// Save writes the counters with write (an atomic file write).
func (w *Watcher) Save(write func(data []byte) error) error {
	w.mu.Lock()
	f := file{Version: 1}
	for k, c := range w.counts {
		f.Counts = append(f.Counts, fileCount{key: k, count: c})
	}
	for k, n := range w.bypass {
		f.Counts = append(f.Counts, fileCount{key: k, Bypass: n})
	}
	w.mu.Unlock()
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encoding activity counters: %w", err)
	}
	return write(data)
}

// Load reads counters Save wrote from path; a missing file is no error,
// and a damaged one is reported and ignored (the counters start empty:
// the digest then covers less, nothing else suffers).
func (w *Watcher) Load(path string) error {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading activity counters: %w", err)
	}
	var f file
	if err := json.Unmarshal(data, &f); err != nil || f.Version != 1 {
		return fmt.Errorf("activity counters %s: not a version 1 counters file; starting empty", path)
	}
	today := day(w.cfg.Now())
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range f.Counts {
		if c.Day <= today-Days || c.Day > today || len(w.counts) >= maxKeys || len(c.Device) > 255 || len(c.Tag) > 64 {
			continue
		}
		if c.Bypass > 0 && c.Tag == "" {
			w.bypass[c.key] += c.Bypass
			continue
		}
		if c.Queries < 0 || c.Blocked < 0 || c.Minutes < 0 || c.Minutes > 1440 {
			continue
		}
		w.counts[c.key] = c.count
	}
	return nil
}
