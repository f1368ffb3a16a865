package observe

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/activity"
	"github.com/hearth-dns/hearth/internal/domainindex"
	"github.com/hearth-dns/hearth/internal/metrics"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/querylog"
	"github.com/hearth-dns/hearth/internal/usage"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func snapshot(t testing.TB) *policy.Snapshot {
	t.Helper()
	b := domainindex.NewBuilder(4)
	b.Add("bet365.com", 0, domainindex.Subtree)
	ix, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	s, err := policy.NewSnapshot(policy.Config{
		Tags:           []policy.TagInfo{{ID: "gambling"}},
		Lists:          []policy.ListInfo{{ID: "gambling-list", Tag: 0}},
		Index:          ix,
		Profiles:       []policy.ProfileSpec{{Name: "kid", Block: policy.TagSet{}.With(0)}, {Name: "adult"}},
		DefaultProfile: "kid",
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// discovered records what a Discoverer hears.
type discovered struct {
	mu    sync.Mutex
	addrs []netip.Addr
}

func (d *discovered) Unknown(a netip.Addr, mac string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addrs = append(d.addrs, a)
}

// TestObserveRecordsWhatPolicyReported runs the step over a fake Policy
// step and checks the counters and discovery.
func TestObserveRecordsWhatPolicyReported(t *testing.T) {
	s := snapshot(t)
	blocked := s.Decide(0, t0, []byte("bet365.com."), dns.TypeA)
	src := netip.MustParseAddr("192.168.1.9")
	tests := []struct {
		name        string
		device      string
		outcome     pipeline.Outcome
		err         error
		wantQueries map[string]uint64 // transport/decision -> count
		wantBlocked uint64
		wantOffered int
	}{
		{"allowed, known device", "tab", pipeline.Outcome{Decided: true, Written: true}, nil, map[string]uint64{"udp/allowed": 1}, 0, 0},
		{"blocked, unknown device", "", pipeline.Outcome{Decided: true, Written: true, Decision: blocked}, nil, map[string]uint64{"udp/blocked": 1}, 1, 1},
		{"not answered yet", "", pipeline.Outcome{}, pipeline.ErrWouldBlock, map[string]uint64{}, 0, 0},
		{"undecided", "tab", pipeline.Outcome{}, nil, map[string]uint64{}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := metrics.NewRegistry()
			o := New(Config{Metrics: reg})
			d := &discovered{}
			h := o.Middleware(d)(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
				r.Outcome = tc.outcome
				return tc.err
			}))
			r := &pipeline.Request{Msg: new(dns.Msg).SetQuestion("bet365.com.", dns.TypeA), Transport: pipeline.UDP,
				Identity: pipeline.Identity{Device: tc.device}, Source: src, Policy: s}
			if err := h.ServeDNS(context.Background(), nil, r); err != tc.err {
				t.Fatalf("ServeDNS = %v, want %v", err, tc.err)
			}
			for tr := range pipeline.NumTransports {
				for a := range policy.NumActions {
					key := tr.String() + "/" + querylog.ActionLabel(a)
					if got, want := o.queries[tr][a].Value(), tc.wantQueries[key]; got != want {
						t.Errorf("queries %v/%v = %d, want %d", tr, a, got, want)
					}
				}
			}
			if got := o.counterFor(s, 0).Value(); got != tc.wantBlocked {
				t.Errorf("blocked{gambling} = %d, want %d", got, tc.wantBlocked)
			}
			if len(d.addrs) != tc.wantOffered || tc.wantOffered > 0 && d.addrs[0] != src {
				t.Errorf("discovery heard %v, want %d offer(s) of %v", d.addrs, tc.wantOffered, src)
			}
		})
	}
}

// TestObserveAllocs guards the query path: recording a block, counted
// per household too, costs no allocation.
func TestObserveAllocs(t *testing.T) {
	s := snapshot(t)
	u, err := usage.New(usage.Config{Households: 16, Categories: []string{"gambling"}})
	if err != nil {
		t.Fatal(err)
	}
	o := New(Config{Metrics: metrics.NewRegistry(), Usage: u, HomeHousehold: "home"})
	d := s.Decide(0, t0, []byte("bet365.com."), dns.TypeA)
	h := o.Middleware(nil)(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
		r.Outcome = pipeline.Outcome{Decided: true, Written: true, Decision: d}
		return nil
	}))
	r := &pipeline.Request{Msg: new(dns.Msg).SetQuestion("bet365.com.", dns.TypeA), Transport: pipeline.UDP, Policy: s}
	ctx := context.Background()
	h.ServeDNS(ctx, nil, r) // resolves the tag counters once
	if n := testing.AllocsPerRun(100, func() { h.ServeDNS(ctx, nil, r) }); n != 0 {
		t.Errorf("%v allocations per observed query, want 0", n)
	}
	if c := u.Get("home"); c.Queries != 102 || c.Blocked != 102 || c.ByCategory["gambling"] != 102 {
		t.Errorf("home's counts %+v, want 102 blocked gambling queries", c)
	}
}

// BenchmarkObserve records a blocked query, without and with the
// per-household counters (households of a table sized for a million).
func BenchmarkObserve(b *testing.B) {
	s := snapshot(b)
	d := s.Decide(0, t0, []byte("bet365.com."), dns.TypeA)
	u, err := usage.New(usage.Config{Households: 1_000_000, Categories: []string{"gambling"}})
	if err != nil {
		b.Fatal(err)
	}
	households := make([]string, 1<<14)
	for i := range households {
		households[i] = fmt.Sprintf("subscriber-%d", i*61)
	}
	for _, bc := range []struct {
		name string
		u    *usage.Table
	}{{"without-usage", nil}, {"with-usage", u}} {
		b.Run(bc.name, func(b *testing.B) {
			o := New(Config{Metrics: metrics.NewRegistry(), Usage: bc.u, HomeHousehold: "home"})
			h := o.Middleware(nil)(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
				r.Outcome = pipeline.Outcome{Decided: true, Written: true, Decision: d}
				return nil
			}))
			r := &pipeline.Request{Msg: new(dns.Msg).SetQuestion("bet365.com.", dns.TypeA), Transport: pipeline.UDP, Policy: s}
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r.Identity.Household = households[i&(len(households)-1)]
				h.ServeDNS(ctx, nil, r)
			}
		})
	}
}

// watchRecorder records what the Observer tells its Watcher.
type watchRecorder struct{ got []string }

func (w *watchRecorder) Watch(device, tag string, service, blocked bool) {
	w.got = append(w.got, fmt.Sprintf("%s %s service=%v blocked=%v", device, tag, service, blocked))
}

// TestObserveWatch: a recognised device's tagged query reaches the
// Watcher with its tag and whether it was blocked; an unknown device's
// does not. With a real activity Watcher the query path still does not
// allocate.
func TestObserveWatch(t *testing.T) {
	s := snapshot(t)
	for _, tc := range []struct {
		device  string
		profile int
		want    []string
	}{
		{"tablet", 0, []string{"tablet gambling service=false blocked=true"}},
		{"laptop", 1, []string{"laptop gambling service=false blocked=false"}},
		{"", 0, nil},
	} {
		d := s.Decide(tc.profile, t0, []byte("bet365.com."), dns.TypeA)
		rec := &watchRecorder{}
		o := New(Config{Metrics: metrics.NewRegistry(), Watch: rec})
		h := o.Middleware(nil)(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
			r.Outcome = pipeline.Outcome{Decided: true, Written: true, Decision: d}
			return nil
		}))
		r := &pipeline.Request{Msg: new(dns.Msg).SetQuestion("bet365.com.", dns.TypeA), Transport: pipeline.UDP,
			Identity: pipeline.Identity{Device: tc.device}, Policy: s}
		h.ServeDNS(context.Background(), nil, r)
		if fmt.Sprint(rec.got) != fmt.Sprint(tc.want) {
			t.Errorf("device %q: watcher heard %v, want %v", tc.device, rec.got, tc.want)
		}
	}

	for _, profile := range []int{0, 1} { // blocked, and allowed (one more index probe)
		d := s.Decide(profile, t0, []byte("bet365.com."), dns.TypeA)
		o := New(Config{Metrics: metrics.NewRegistry(), Watch: activity.New(activity.Config{Buffer: 16})})
		h := o.Middleware(nil)(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
			r.Outcome = pipeline.Outcome{Decided: true, Written: true, Decision: d}
			return nil
		}))
		r := &pipeline.Request{Msg: new(dns.Msg).SetQuestion("bet365.com.", dns.TypeA), Transport: pipeline.UDP,
			Identity: pipeline.Identity{Device: "tablet"}, Policy: s}
		ctx := context.Background()
		h.ServeDNS(ctx, nil, r)
		if n := testing.AllocsPerRun(100, func() { h.ServeDNS(ctx, nil, r) }); n != 0 {
			t.Errorf("profile %d: %v allocations per watched query, want 0", profile, n)
		}
	}
}

// TestObserveLogTime checks a log entry's time and duration: with the
// real clock the time is when the listener read the query (Received,
// no second reading), with a test's clock it is the clock's reading; the
// duration is the time since Received either way.
func TestObserveLogTime(t *testing.T) {
	s := snapshot(t)
	fake := t0.Add(time.Hour)
	for _, tc := range []struct {
		name string
		now  func() time.Time
		// want returns the wanted entry time from Received.
		want func(received time.Time) time.Time
	}{
		{"real clock", nil, func(r time.Time) time.Time { return r }},
		{"test clock", func() time.Time { return fake }, func(time.Time) time.Time { return fake }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ql, err := querylog.New(querylog.Config{Path: t.TempDir() + "/q.db", Now: func() time.Time { return fake }})
			if err != nil {
				t.Fatal(err)
			}
			defer ql.Close()
			o := New(Config{Metrics: metrics.NewRegistry(), Log: ql, Now: tc.now})
			h := o.Middleware(nil)(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
				r.Outcome = pipeline.Outcome{Decided: true, Written: true}
				return nil
			}))
			const took = 5 * time.Millisecond
			received := time.Now().Add(-took)
			r := &pipeline.Request{Msg: new(dns.Msg).SetQuestion("example.com.", dns.TypeA), Transport: pipeline.UDP,
				Policy: s, Received: received}
			if err := h.ServeDNS(context.Background(), nil, r); err != nil {
				t.Fatal(err)
			}
			if err := ql.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			rows, err := ql.Search(context.Background(), querylog.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 {
				t.Fatalf("%d rows, want 1", len(rows))
			}
			want := tc.want(received).Truncate(time.Microsecond)
			if got := rows[0].Time; !got.Equal(want) {
				t.Errorf("entry time %v, want %v", got, want)
			}
			if d := time.Duration(rows[0].DurationUS) * time.Microsecond; d < took || d > time.Minute {
				t.Errorf("duration %v, want at least %v", d, took)
			}
		})
	}
}

// TestDurationSince: an entry's duration is clamped to 0 for a Received
// after now (it wrapped round to 71 minutes) and to 2^32-1 microseconds.
func TestDurationSince(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name     string
		t        time.Time
		min, max uint32
	}{
		{"5 ms ago", now.Add(-5 * time.Millisecond), 5000, 60_000_000},
		{"an hour ahead", now.Add(time.Hour), 0, 0},
		{"two hours ago", now.Add(-2 * time.Hour), 1<<32 - 1, 1<<32 - 1},
	} {
		if got := durationSince(tc.t); got < tc.min || got > tc.max {
			t.Errorf("%s: durationSince = %d µs, want %d to %d", tc.name, got, tc.min, tc.max)
		}
	}
}
