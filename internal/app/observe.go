package app

import (
	"sync/atomic"
	"time"

	"github.com/hearth-dns/hearth/internal/filter"
	"github.com/hearth-dns/hearth/internal/metrics"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/querylog"
)

// observer turns answered queries into query-log entries and metrics. It
// lives as long as the App; what depends on the policy in effect (the
// profiles kept out of the log) is swapped with the policy.
type observer struct {
	log *querylog.Writer // nil when the query log is off
	// queries are counters by transport and action.
	queries [numTransports][numActions]*metrics.Counter
	// blocked are counters by tag id.
	blocked *metrics.CounterVec
	// tagCounters caches blocked's children by policy.Tag for the tag
	// table in effect (tags are the catalog's, the same in every
	// snapshot of one catalog).
	tagCounters atomic.Pointer[tagCounters]
}

type tagCounters struct {
	s  *policy.Snapshot
	cs []*metrics.Counter
}

const (
	numTransports = 5 // pipeline transports, UDP to DoH, plus unknown
	numActions    = 5 // policy actions
)

var transportLabels = [numTransports]string{"other", "udp", "tcp", "dot", "doh"}

// transportIndex maps a pipeline transport to its label index.
func transportIndex(t pipeline.Transport) int {
	switch t {
	case pipeline.UDP:
		return 1
	case pipeline.TCP:
		return 2
	case pipeline.DoT:
		return 3
	case pipeline.DoH:
		return 4
	}
	return 0
}

func newObserver(reg *metrics.Registry, log *querylog.Writer) *observer {
	o := &observer{log: log}
	q := reg.CounterVec("hearth_queries_total", "DNS queries answered by the policy step, by transport and decision.", "transport", "decision")
	for t := range numTransports {
		for a := range numActions {
			o.queries[t][a] = q.With(transportLabels[t], querylog.Action(a).String())
		}
	}
	o.blocked = reg.CounterVec("hearth_blocked_total", "Blocked queries by the category or service that blocked them (\"none\" for pauses and deny rules).", "tag")
	return o
}

// counterFor returns the blocked counter of tag t in s's tag table.
func (o *observer) counterFor(s *policy.Snapshot, d policy.Decision) *metrics.Counter {
	if !d.HasTag {
		return o.blocked.With("none")
	}
	tc := o.tagCounters.Load()
	if tc == nil || tc.s != s {
		// A new snapshot: resolve its tags once, off the common path.
		tc = &tagCounters{s: s, cs: make([]*metrics.Counter, s.NumTags())}
		for i := range tc.cs {
			tc.cs[i] = o.blocked.With(s.Tag(policy.Tag(i)).ID)
		}
		o.tagCounters.Store(tc)
	}
	return tc.cs[d.Tag]
}

// Observe implements filter.Observer.
func (o *observer) Observe(ev *filter.Event) {
	r, d := ev.Request, ev.Decision
	t := transportIndex(r.Transport)
	o.queries[t][d.Action].Inc()
	if d.Action != policy.Allow && d.Action != policy.Rewrite {
		o.counterFor(ev.Snapshot, d).Inc()
	}
	if o.log == nil {
		return
	}
	s := ev.Snapshot
	if !s.ProfileLogged(d.Profile) {
		return
	}
	var e querylog.Entry
	e.Time = ev.Now.UnixNano()
	e.Client = r.Client.Addr()
	e.Device = r.Identity.Device
	e.Profile = s.ProfileLabel(d.Profile)
	e.Reason = d.Reason.String()
	if d.HasTag {
		e.Tag = s.Tag(d.Tag).ID
	}
	if !r.Received.IsZero() {
		e.Duration = uint32(min(time.Since(r.Received)/time.Microsecond, 1<<32-1))
	}
	e.QType = r.Msg.Question[0].Qtype
	e.Rcode = uint8(ev.Rcode)
	e.Action = querylog.Action(d.Action)
	e.Transport = querylog.Transport(t)
	e.SetName(ev.Name)
	e.SetText(ev.Text)
	o.log.Log(&e)
}
