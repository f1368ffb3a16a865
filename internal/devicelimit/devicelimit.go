// Package devicelimit decides which sources seen for the first time may
// be recorded as new devices, so that nobody on the network can flood
// the parent's list of new devices (issue #9, section 6):
//
//   - only sources inside the configured LAN networks create devices, so
//     a public (or spoofed public) address never does;
//   - creation is rate-limited per source (an IPv4 address, or an IPv6
//     /64, since one host can pick any address of its /64);
//   - when the list of unclaimed new devices is full, the oldest one is
//     evicted to make room, so the list never fills for good.
//
// The Limiter holds no store: the recorder asks it and does the writes.
package devicelimit

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Config configures a Limiter.
type Config struct {
	// Networks are the LAN networks whose sources may create new
	// devices; required (an empty list would record nobody, which is
	// what Record: false is for).
	Networks []netip.Prefix
	// PerSource is how many devices one source may create per Window.
	// 0 means 1.
	PerSource int
	// Window is the period PerSource is counted over; 0 means an hour.
	Window time.Duration
	// MaxSources bounds the per-source table; 0 means 4096. When it is
	// full of sources still within their limit, new sources are refused
	// until some recover: the table's memory is bounded whatever the
	// number of sources.
	MaxSources int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Limiter applies Config. InLAN is safe for concurrent use and cheap
// enough for the query path; Admit is safe for concurrent use.
type Limiter struct {
	networks  []netip.Prefix
	perSource float64
	refill    time.Duration // time for one token to come back
	max       int
	now       func() time.Time

	mu      sync.Mutex
	buckets map[netip.Prefix]bucket
}

// bucket is a token bucket of one source.
type bucket struct {
	tokens float64
	at     time.Time
}

// New checks c and returns a Limiter.
func New(c Config) (*Limiter, error) {
	if len(c.Networks) == 0 {
		return nil, errors.New("devicelimit: no LAN networks")
	}
	for _, p := range c.Networks {
		if !p.IsValid() {
			return nil, fmt.Errorf("devicelimit: network %q is not valid", p)
		}
	}
	if c.PerSource < 0 || c.Window < 0 || c.MaxSources < 0 {
		return nil, fmt.Errorf("devicelimit: negative limit (per source %d, window %s, sources %d)", c.PerSource, c.Window, c.MaxSources)
	}
	if c.PerSource == 0 {
		c.PerSource = 1
	}
	if c.Window == 0 {
		c.Window = time.Hour
	}
	if c.MaxSources == 0 {
		c.MaxSources = 4096
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	l := &Limiter{
		perSource: float64(c.PerSource),
		refill:    c.Window / time.Duration(c.PerSource),
		max:       c.MaxSources,
		now:       c.Now,
		buckets:   map[netip.Prefix]bucket{},
	}
	for _, p := range c.Networks {
		l.networks = append(l.networks, p.Masked())
	}
	return l, nil
}

// InLAN reports whether addr is inside a LAN network: only such sources
// may create devices. It neither locks nor allocates.
func (l *Limiter) InLAN(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, p := range l.networks {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// SourceKey is the unit the per-source limit counts: the IPv4 address,
// or the IPv6 /64.
func SourceKey(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return netip.PrefixFrom(addr, 32)
	}
	p, _ := addr.Prefix(64)
	return p
}

// Admit reports whether addr may create a device now, and if so takes
// one from its allowance. A source outside the LAN is never admitted.
func (l *Limiter) Admit(addr netip.Addr) bool {
	if !l.InLAN(addr) {
		return false
	}
	key := SourceKey(addr)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.max && !l.sweep(now) {
			return false // every tracked source is still limited: fail closed
		}
		b = bucket{tokens: l.perSource, at: now}
	}
	b = l.refilled(b, now)
	if b.tokens < 1 {
		l.buckets[key] = b
		return false
	}
	b.tokens--
	l.buckets[key] = b
	return true
}

// refilled returns b with the tokens earned since b.at.
func (l *Limiter) refilled(b bucket, now time.Time) bucket {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.perSource, b.tokens+float64(d)/float64(l.refill))
		b.at = now
	}
	return b
}

// sweep forgets the sources whose allowance is whole again (they would
// start afresh anyway) and reports whether that made room.
func (l *Limiter) sweep(now time.Time) bool {
	for k, b := range l.buckets {
		if l.refilled(b, now).tokens >= l.perSource {
			delete(l.buckets, k)
		}
	}
	return len(l.buckets) < l.max
}

// Sources returns how many sources the per-source table holds.
func (l *Limiter) Sources() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// Unclaimed is a new device no parent has claimed yet.
type Unclaimed struct {
	ID        string
	FirstSeen time.Time
}

// Evict returns the ids of the unclaimed devices to remove so that one
// more fits under max: the oldest first (by first seen, then id, so the
// choice is stable). With max 0 there is no limit and nothing is evicted.
func Evict(devices []Unclaimed, max int) []string {
	if max <= 0 || len(devices) < max {
		return nil
	}
	sorted := slices.Clone(devices)
	slices.SortFunc(sorted, func(a, b Unclaimed) int {
		if c := a.FirstSeen.Compare(b.FirstSeen); c != 0 {
			return c
		}
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	out := make([]string, 0, len(sorted)-max+1)
	for _, d := range sorted[:len(sorted)-max+1] {
		out = append(out, d.ID)
	}
	return out
}

// DefaultNetworks are the LAN networks when none are configured: the
// private, shared (CGNAT), link-local and loopback ranges that allow
// covers, never a public address. An allow entry inside such a range
// counts as itself; a range inside an allow entry (allow 0.0.0.0/0)
// counts whole.
func DefaultNetworks(allow []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range allow {
		a = a.Masked()
		for _, lan := range lanRanges {
			switch {
			case lan.Bits() <= a.Bits() && lan.Contains(a.Addr()):
				out = append(out, a)
			case a.Bits() < lan.Bits() && a.Contains(lan.Addr()):
				out = append(out, lan)
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(out)
}

// lanRanges are the non-public address ranges a home network uses.
var lanRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("::1/128"),
}
