package identity

import (
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// Guard counts the client ids that match no device, per source, and slows
// down a source that tries many: each source has a token bucket of
// unknown ids, and once it is empty the queries that carry an unknown id
// are refused until it refills. Without it a child could try ids at
// thousands a second without a trace.
//
// Only queries with an unknown id reach the Guard (a known id never
// does), so its mutex is off the normal query path. Its table is
// bounded: when full, idle sources are dropped, and if none is idle new
// sources share one bucket, so a crowd of sources is slowed together
// rather than let through.
type Guard struct {
	burst      float64
	perSecond  float64
	maxSources int
	now        func() time.Time
	log        *slog.Logger
	logEvery   time.Duration

	mu       sync.Mutex
	sources  map[netip.Addr]*guessSource
	overflow guessSource
	unknown  uint64
	refused  uint64
}

// guessSource is one source's bucket and counts.
type guessSource struct {
	tokens  float64
	last    time.Time
	tries   uint64
	refused uint64
	// logged is when the source was last logged; logTries its tries then.
	logged   time.Time
	logTries uint64
}

// GuardConfig configures a Guard. Zero values take the defaults.
type GuardConfig struct {
	// Burst is how many unknown ids a source may try before it is slowed
	// down; default 10.
	Burst int
	// Every is how often a slowed source earns one more try; default 30s
	// (at most 2,880 tries a day).
	Every time.Duration
	// MaxSources bounds the table of sources; default 1024.
	MaxSources int
	// LogEvery is the least time between two log lines about one source;
	// default one minute.
	LogEvery time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the warnings; nil discards them.
	Logger *slog.Logger
}

// NewGuard returns a Guard of c.
func NewGuard(c GuardConfig) *Guard {
	g := &Guard{
		burst: 10, perSecond: 1.0 / 30, maxSources: 1024, logEvery: time.Minute,
		now: c.Now, log: c.Logger, sources: map[netip.Addr]*guessSource{},
	}
	if c.Burst > 0 {
		g.burst = float64(c.Burst)
	}
	if c.Every > 0 {
		g.perSecond = 1 / c.Every.Seconds()
	}
	if c.MaxSources > 0 {
		g.maxSources = c.MaxSources
	}
	if c.LogEvery > 0 {
		g.logEvery = c.LogEvery
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	return g
}

// sourceKey is the unit a source is counted by: its IPv4 address, or the
// /64 of its IPv6 address, which one home client can change at will.
func sourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// Unknown records that src presented a client id no device holds and
// reports whether the query may still be answered (as from an unknown
// device). The id itself is never logged: it may be a mistyped secret.
func (g *Guard) Unknown(src netip.Addr) bool {
	now := g.now()
	key := sourceKey(src)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.unknown++
	s := g.sources[key]
	if s == nil {
		s = g.add(key, now)
	}
	if el := now.Sub(s.last).Seconds(); el > 0 {
		s.tokens = min(g.burst, s.tokens+el*g.perSecond)
	}
	s.last = now
	s.tries++
	ok := s.tokens >= 1
	if ok {
		s.tokens--
	} else {
		s.refused++
		g.refused++
	}
	if s.logged.IsZero() || now.Sub(s.logged) >= g.logEvery {
		name := key.String()
		if s == &g.overflow {
			name = "many sources"
		}
		g.log.Warn("unknown encrypted-DNS client id", "source", name, "tries", s.tries, "new_tries", s.tries-s.logTries, "refused", s.refused, "slowed", !ok)
		s.logged, s.logTries = now, s.tries
	}
	return ok
}

// add makes room for and adds a source; the caller holds g.mu.
func (g *Guard) add(key netip.Addr, now time.Time) *guessSource {
	if len(g.sources) >= g.maxSources {
		// Drop the sources whose bucket has refilled: forgetting them
		// changes nothing but their counts.
		full := time.Duration(g.burst / g.perSecond * float64(time.Second))
		for k, s := range g.sources {
			if now.Sub(s.last) >= full {
				delete(g.sources, k)
			}
		}
		if len(g.sources) >= g.maxSources {
			if g.overflow.last.IsZero() {
				g.overflow.tokens = g.burst
			}
			return &g.overflow
		}
	}
	s := &guessSource{tokens: g.burst, last: now}
	g.sources[key] = s
	return s
}

// GuardSource is one source's counts.
type GuardSource struct {
	// Source is the address (an IPv6 source's /64 as its first address).
	Source netip.Addr
	// Tries counts the unknown ids it sent; Refused the queries refused.
	Tries, Refused uint64
	// Last is when it last sent one.
	Last time.Time
}

// GuardStats are a Guard's counts.
type GuardStats struct {
	// Unknown counts queries with an unknown client id; Refused those of
	// them refused because their source was slowed down.
	Unknown, Refused uint64
	// Sources are the sources in the table, by address.
	Sources []GuardSource
}

// Stats returns the counts, for metrics.
func (g *Guard) Stats() GuardStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := GuardStats{Unknown: g.unknown, Refused: g.refused, Sources: make([]GuardSource, 0, len(g.sources))}
	for k, s := range g.sources {
		st.Sources = append(st.Sources, GuardSource{Source: k, Tries: s.tries, Refused: s.refused, Last: s.last})
	}
	sort.Slice(st.Sources, func(i, j int) bool { return st.Sources[i].Source.Less(st.Sources[j].Source) })
	return st
}
