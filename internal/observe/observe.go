// Package observe is the Observe step of the query path: once the rest of
// the chain has answered, it counts the query in the metrics, writes it to
// the query log, and offers a source no device claims to new-device
// discovery. It sits between Identify and Policy (see pipeline.Steps), so
// following one query through pipeline.Build shows where it is recorded.
//
// Nothing here waits: the counters are atomic, the query log's Log copies
// a fixed-size entry into a bounded buffer (dropping and counting when it
// is full), and discovery's Unknown only offers to a small queue.
package observe

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/hearth-dns/hearth/internal/metrics"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/querylog"
	"github.com/hearth-dns/hearth/internal/usage"
)

// Discoverer hears of queries from sources no device claims. Unknown is
// called on the query path: it must not block or do I/O, and must be safe
// for concurrent use. mac is the source's MAC in text form when one was
// learned, else "".
type Discoverer interface {
	Unknown(addr netip.Addr, mac string)
}

// Watcher hears each answered query of a recognised device that matched
// a category or service (the one that blocked it, or else the first it
// matched), and whether it was blocked. Watch is called on the query
// path: it must not block, allocate or do I/O, and must be safe for
// concurrent use.
type Watcher interface {
	Watch(device, tag string, service, blocked bool)
}

// Config configures an Observer.
type Config struct {
	// Metrics receives the query counters; required.
	Metrics *metrics.Registry
	// Log is the query log; nil when it is off.
	Log *querylog.Writer
	// Now is the clock of the log entries; nil means time.Now.
	Now func() time.Time
	// Watch hears tagged queries (activity counters); nil for none.
	Watch Watcher
	// Usage counts queries per household (ISP mode's replacement for
	// the raw log); nil counts none.
	Usage *usage.Table
	// CategoryOf returns the category a tag (a category or service id)
	// belongs to, for Usage's blocked-by-category counts; "" for none.
	CategoryOf func(tag string) string
	// HomeHousehold is the household Usage counts queries of devices
	// without one under (a home installation's).
	HomeHousehold string
}

// Observer is the Observe step. It lives as long as the App: what depends
// on the policy in effect (the profiles kept out of the log, the tag
// table) is read from each request's own snapshot.
type Observer struct {
	log *querylog.Writer
	now func() time.Time
	// realClock reports that now is time.Now: a log entry's time is then
	// its request's Received, read by the listener on the same clock.
	realClock bool
	watch     Watcher
	// queries are counters by transport and action.
	queries [pipeline.NumTransports][policy.NumActions]*metrics.Counter
	// blocked are counters by tag id.
	blocked *metrics.CounterVec
	none    *metrics.Counter
	// tagCounters caches blocked's children by policy.Tag for the tag
	// table of one snapshot, so a block costs no label lookup.
	tagCounters atomic.Pointer[tagCounters]
	usage       *usage.Table
	categoryOf  func(string) string
	home        string
	// tagCategories caches the usage category index of each tag of one
	// snapshot, as tagCounters does.
	tagCategories atomic.Pointer[tagCategories]
}

type tagCategories struct {
	s   *policy.Snapshot
	idx []int
}

// categoryFor returns the usage category index of tag t in s's tag
// table.
func (o *Observer) categoryFor(s *policy.Snapshot, t policy.Tag) int {
	tc := o.tagCategories.Load()
	if tc == nil || tc.s != s {
		tc = &tagCategories{s: s, idx: make([]int, s.NumTags())}
		for i := range tc.idx {
			id := s.Tag(policy.Tag(i)).ID
			if o.categoryOf != nil {
				id = o.categoryOf(id)
			}
			tc.idx[i] = o.usage.Category(id)
		}
		o.tagCategories.Store(tc)
	}
	return tc.idx[t]
}

type tagCounters struct {
	s  *policy.Snapshot
	cs []*metrics.Counter
}

// counterFor returns the blocked counter of tag t in s's tag table.
func (o *Observer) counterFor(s *policy.Snapshot, t policy.Tag) *metrics.Counter {
	tc := o.tagCounters.Load()
	if tc == nil || tc.s != s {
		// A new snapshot: resolve its tags once, off the common path.
		tc = &tagCounters{s: s, cs: make([]*metrics.Counter, s.NumTags())}
		for i := range tc.cs {
			tc.cs[i] = o.blocked.With(s.Tag(policy.Tag(i)).ID)
		}
		o.tagCounters.Store(tc)
	}
	return tc.cs[t]
}

// New registers the query counters and returns the Observe step.
func New(c Config) *Observer {
	realClock := c.Now == nil
	if realClock {
		c.Now = time.Now
	}
	o := &Observer{log: c.Log, now: c.Now, realClock: realClock, watch: c.Watch, usage: c.Usage, categoryOf: c.CategoryOf, home: c.HomeHousehold}
	q := c.Metrics.CounterVec("hearth_queries_total", "DNS queries answered by the policy step, by transport and decision.", "transport", "decision")
	for t := range pipeline.NumTransports {
		label := t.String()
		if t == pipeline.NoTransport {
			label = "other"
		}
		for a := range policy.NumActions {
			o.queries[t][a] = q.With(label, querylog.ActionLabel(a))
		}
	}
	o.blocked = c.Metrics.CounterVec("hearth_blocked_total", "Blocked queries by the category or service that blocked them (\"none\" for pauses and deny rules).", "tag")
	o.none = o.blocked.With("none")
	return o
}

// Middleware returns the Observe step of one pipeline generation, which
// offers unknown sources to discovery (nil for none). The step clears
// r.Outcome, runs the rest of the chain, then records what the Policy
// step reported there.
func (o *Observer) Middleware(discovery Discoverer) pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
			r.Outcome = pipeline.Outcome{}
			err := next.ServeDNS(ctx, w, r)
			if err == pipeline.ErrWouldBlock {
				// Nothing was answered: the listener runs the request
				// again, and it is recorded then.
				return err
			}
			// A query a subscriber binding recognised (a household but
			// no device) is no new device of the home.
			if r.Identity.Device == "" && r.Identity.Household == "" && discovery != nil && r.Source.IsValid() {
				discovery.Unknown(r.Source, r.Identity.MAC)
			}
			o.record(r)
			return err
		})
	}
}

// record counts and logs one answered request.
func (o *Observer) record(r *pipeline.Request) {
	out := &r.Outcome
	s := r.Policy
	if !out.Decided || !out.Written || s == nil {
		return
	}
	d := out.Decision
	t := r.Transport
	if t >= pipeline.NumTransports {
		t = pipeline.NoTransport
	}
	o.queries[t][d.Action].Inc()
	blocked := d.Action != policy.Allow && d.Action != policy.Rewrite
	if blocked {
		if d.HasTag {
			o.counterFor(s, d.Tag).Inc()
		} else {
			o.none.Inc()
		}
	}
	var nameBuf [256]byte
	var name []byte
	if o.watch != nil && r.Identity.Device != "" {
		set := d.Matched
		if d.HasTag {
			set = policy.TagSet{}.With(d.Tag)
		} else if set.Empty() && d.Action == policy.Allow {
			// An allowed name's tags were not looked up by the policy:
			// one more index probe, without allocation.
			name = lowerName(nameBuf[:0], r.Msg.Question[0].Name)
			set = s.NameTags(name)
		}
		if !set.Empty() {
			ti := firstTag(s, set)
			o.watch.Watch(r.Identity.Device, ti.ID, ti.Service, d.Action.Blocks())
		}
	}
	if o.usage != nil {
		household := r.Identity.Household
		if household == "" {
			household = o.home
		}
		category := usage.NoCategory
		if blocked && d.HasTag {
			category = o.categoryFor(s, d.Tag)
		}
		o.usage.Count(household, blocked, category)
	}
	if o.log == nil || !s.ProfileLogged(d.Profile) {
		return
	}
	var textBuf [256]byte
	if name == nil {
		name = lowerName(nameBuf[:0], r.Msg.Question[0].Name)
	}
	var e querylog.Entry
	switch {
	case r.Received.IsZero():
		e.Time = o.now().UnixNano()
	case o.realClock:
		// The entry's time is when the query arrived, which the listener
		// read already; its duration costs one reading of the monotonic
		// clock. time.Now reads two clocks, and a reading cost the
		// query log a sixth of its share of the CPU at full load
		// (docs/performance.md, "The query log at full load").
		e.Time = r.Received.UnixNano()
		e.Duration = durationSince(r.Received)
	default:
		// A test's clock: the entry's time is its reading.
		e.Time = o.now().UnixNano()
		e.Duration = durationSince(r.Received)
	}
	e.Client = r.Client.Addr()
	e.Device = r.Identity.Device
	e.Profile = s.ProfileLabel(d.Profile)
	e.Reason = d.Reason.String()
	if d.HasTag {
		e.Tag = s.Tag(d.Tag).ID
	}
	e.QType = r.Msg.Question[0].Qtype
	e.Rcode = uint8(out.Rcode)
	e.Action = d.Action
	e.Transport = t
	e.Cached = out.Cached
	e.SetName(name)
	switch {
	case out.Text != "":
		e.SetText(append(textBuf[:0], out.Text...))
	case d.Reason != policy.ReasonNone:
		e.SetText(s.AppendExplain(textBuf[:0], d, unsafe.String(unsafe.SliceData(name), len(name))))
	}
	o.log.Log(&e)
}

// durationSince returns the microseconds since t for an entry's
// Duration: 0 for a t after now (a benchmark's or test's Received in the
// future, which would otherwise wrap round to 71 minutes), at most
// 2^32-1.
func durationSince(t time.Time) uint32 {
	return uint32(min(max(time.Since(t)/time.Microsecond, 0), 1<<32-1))
}

// firstTag returns the first service of set, or else its first tag: the
// most specific thing a query was for (tiktok rather than social).
func firstTag(s *policy.Snapshot, set policy.TagSet) policy.TagInfo {
	for rest := set; !rest.Empty(); {
		t := rest.First()
		if ti := s.Tag(t); ti.Service {
			return ti
		}
		rest = rest.Without(t)
	}
	return s.Tag(set.First())
}

// lowerName copies a presentation-form name into buf, lower-cased.
func lowerName(buf []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}
