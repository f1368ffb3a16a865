package compile

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/testutil/cycles"

	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/store/postgres"
	"github.com/hearth-dns/hearth/internal/testutil/pgtest"
)

// BenchmarkColdStartPostgres measures issue #13's cold start: a node with
// no snapshot file reads the whole state of HEARTH_BENCH_SCALE households
// from PostgreSQL (Store.Load, as the node's first sync does) and builds
// its snapshot. It needs the throwaway cluster of scripts/postgres:
//
//	HEARTH_BENCH_SCALE=1 scripts/postgres go test -run '^$' -bench BenchmarkColdStartPostgres -benchtime 1x ./internal/policy/compile/
//
// The state is written with COPY, straight into the tables in the rows
// the store's own writes make (the store's writes are tested elsewhere;
// a million households through them would take an hour). load-cpu-s is
// this process's CPU only: the server's is not counted.
func BenchmarkColdStartPostgres(b *testing.B) {
	n := scaleHouseholds(b)
	dsn := pgtest.DSN(b)
	ctx := context.Background()
	s, err := postgres.Open(ctx, &postgres.Config{DSN: dsn})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := t0
	fill := time.Now()
	pgtest.CopyState(b, dsn, synthState(n, now))
	filled := time.Since(fill)
	p, c := testPlan(b)
	base := identity.Config{DefaultProfile: "adult", TrustedForwarders: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}
	heap0 := heapBytes()
	for b.Loop() {
		start, cpu := time.Now(), cycles.ProcessCPU()
		st, err := s.Load(ctx)
		if err != nil {
			b.Fatal(err)
		}
		loaded, loadCPU := time.Now(), cycles.ProcessCPU()
		snap, err := p.Compile(base, c, st, now)
		if err != nil {
			b.Fatal(err)
		}
		if len(snap.Problems) > 0 || snap.Identity == nil {
			b.Fatalf("%d problems, the first: %v", len(snap.Problems), snap.Problems[0])
		}
		b.ReportMetric(filled.Seconds(), "fill-wall-s")
		b.ReportMetric(loaded.Sub(start).Seconds(), "load-wall-s")
		b.ReportMetric((loadCPU - cpu).Seconds(), "load-cpu-s")
		b.ReportMetric(time.Since(loaded).Seconds(), "build-wall-s")
		b.ReportMetric((cycles.ProcessCPU() - loadCPU).Seconds(), "build-cpu-s")
		b.ReportMetric(time.Since(start).Seconds(), "cold-start-wall-s")
		b.ReportMetric(float64(heapBytes()-heap0)/(1<<20), "heap-MB")
		b.ReportMetric(float64(rssBytes())/(1<<20), "rss-MB")
		runtime.KeepAlive(snap)
	}
}
