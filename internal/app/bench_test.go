package app

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/testutil/cycles"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// discardWriter drops answers without allocating.
type discardWriter struct{ n int }

func (d *discardWriter) WriteMsg(m *dns.Msg) error { d.n++; return nil }
func (d *discardWriter) WriteWire(b []byte) error  { d.n++; return nil }

// benchNames is how many names BenchmarkPipelineHit cycles over: as many
// as scripts/bench-cpu-vs's full-load run, so that the query log holds
// about as many rows at once.
const benchNames = 1000

// benchBatch is how many queries share one Received time, as the queries
// of one read of the UDP listener do.
const benchBatch = 32

// benchRate is the query rate the requests' Received times say, about
// scripts/bench-cpu-vs's at full load: the log then holds rows of about
// 140 entries each, 1,000 a second, as it does there, though the loop
// answers faster than that (the socket, unpacking and packing are not in
// it).
const benchRate = 140_000

// BenchmarkPipelineHit measures the whole chain (identity, policy, local,
// cache, observe) for cached, allowed answers: the work a cache hit costs
// beyond the listener's unpacking and the socket. It cycles over
// benchNames names, all cached first, with the query log off (log=off)
// and on as serve runs it (log=on: SQLite in the data directory, the
// writer goroutine running), so that the two sub-benchmarks give the
// log's cost; with -count N they alternate.
//
// Besides ns/op it reports cpu-ns/op, the process's CPU time over the
// loop (every thread, getrusage) per query, which counts the writer's
// work on other threads; the log=on loop ends with a Flush inside the
// timed region, so that every logged query's work is counted. It also
// checks that the log counted every query and wrote rows for them
// (docs/performance.md, "The log's cost with confidence"). Sub-benchmarks
// do not interleave with -count: alternate them by running the test
// binary once per round.
func BenchmarkPipelineHit(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "log=off"
		if on {
			name = "log=on"
		}
		b.Run(name, func(b *testing.B) { benchPipelineHit(b, on) })
	}
}

func benchPipelineHit(b *testing.B, logOn bool) {
	records := make([]string, benchNames)
	for i := range records {
		records[i] = fmt.Sprintf("h%04d.hit.bench. 3600 IN A 192.0.2.1", i)
	}
	up := dnstest.NewServer(b, dnstest.Zone(b, records...))
	// No rate limits: one client sends every query, as dnsperf does to
	// scripts/bench-cpu-vs's servers.
	extra := "limits: {qps: 0, repeat_qps: 0, refused_qps: 0}\n"
	if !logOn {
		extra += "query_log: {enabled: false}\n"
	}
	cfg := parseBenchConfig(b, up.Addr, extra)
	a, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		a.Shutdown(context.Background())
	}()
	if logOn != (a.qlog != nil) {
		b.Fatalf("query log on = %v, want %v", a.qlog != nil, logOn)
	}
	if a.qlog != nil {
		// As App.Start does when serve runs.
		a.qlog.Start(ctx)
	}
	h := a.built.handler
	reqs := make([]pipeline.Request, benchNames)
	for i := range reqs {
		q := new(dns.Msg).SetQuestion(fmt.Sprintf("h%04d.hit.bench.", i), dns.TypeA)
		q.SetEdns0(1232, false)
		reqs[i] = pipeline.Request{Msg: q, Transport: pipeline.UDP, Client: netip.MustParseAddrPort("127.0.0.2:5353"), EDNS: true, MaxSize: 1232}
	}
	w := &discardWriter{}
	for i := range reqs { // fill the cache
		r := reqs[i]
		r.Received = time.Now()
		if err := h.ServeDNS(context.Background(), w, &r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cycles.ProcessCPU()
	// Received runs at benchRate from now on, ahead of the clock, so that
	// the writer closes a second by the entries' times as it does at full
	// load (times behind the clock would close every row at every batch).
	// The entries' durations are then 0.
	interval := time.Second / benchRate
	start := time.Now()
	var received time.Time
	r := new(pipeline.Request) // reused, as the listener reuses its requests
	for i := range b.N {
		if i%benchBatch == 0 {
			// The listener's reader waits in the kernel for its next
			// batch; the yield lets the writer goroutine run then, as
			// it does beside a server pinned to one CPU (with -cpu 1,
			// where it would otherwise wait for preemption and the
			// log drop most entries).
			runtime.Gosched()
			received = start.Add(time.Duration(i) * interval)
		}
		*r = reqs[i%benchNames]
		r.Received = received
		h.ServeDNS(context.Background(), w, r)
	}
	if a.qlog != nil {
		if err := a.qlog.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cycles.ProcessCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if w.n != benchNames+b.N {
		b.Fatalf("%d answers written, want %d", w.n, benchNames+b.N)
	}
	if a.qlog == nil {
		return
	}
	checkLogged(b, a, benchNames+b.N)
}

// checkLogged fails b unless the query log took or counted all n queries
// and committed rows for them: its counters (which count dropped entries
// too) total n, nothing is left buffered, and at least one row was
// written a name.
func checkLogged(b *testing.B, a *App, n int) {
	st := a.qlog.Stats()
	if got := st.Logged + st.Dropped; got != uint64(n) {
		b.Errorf("query log took %d and dropped %d entries, want %d in all", st.Logged, st.Dropped, n)
	}
	if st.Buffered != 0 || st.Failed != 0 {
		b.Errorf("query log after Flush: %d buffered, %d failed, want 0", st.Buffered, st.Failed)
	}
	if st.Written < benchNames {
		b.Errorf("query log wrote %d rows, want at least one a name (%d)", st.Written, benchNames)
	}
	sum, err := a.qlog.Summary(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	if sum.Queries != int64(n) {
		b.Errorf("query log counters total %d queries, want %d", sum.Queries, n)
	}
	b.ReportMetric(float64(st.Dropped)/float64(n), "dropped/query")
}

func parseBenchConfig(b *testing.B, upstream, extra string) *config.Config {
	cfg, err := config.Parse("bench.yaml", []byte("listen: {dns: [\"127.0.0.1:0\"], http: \"\"}\nupstream: {servers: [\""+upstream+"\"], strategy: failover}\ndata_dir: "+b.TempDir()+"\n"+extra))
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}
