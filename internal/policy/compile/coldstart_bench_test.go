package compile

import (
	"context"
	"encoding/json"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/store"
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
	copyState(b, dsn, synthState(n, now))
	filled := time.Since(fill)
	p, c := testPlan(b)
	base := identity.Config{DefaultProfile: "adult", TrustedForwarders: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}
	heap0 := heapBytes()
	for b.Loop() {
		start, cpu := time.Now(), processCPU()
		st, err := s.Load(ctx)
		if err != nil {
			b.Fatal(err)
		}
		loaded, loadCPU := time.Now(), processCPU()
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
		b.ReportMetric((processCPU() - loadCPU).Seconds(), "build-cpu-s")
		b.ReportMetric(time.Since(start).Seconds(), "cold-start-wall-s")
		b.ReportMetric(float64(heapBytes()-heap0)/(1<<20), "heap-MB")
		b.ReportMetric(float64(rssBytes())/(1<<20), "rss-MB")
		runtime.KeepAlive(snap)
	}
}

// copyState writes st into the store's tables with COPY, as the store's
// writes would have left them (version 1, the JSON they marshal).
func copyState(b *testing.B, dsn string, st store.State) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	js := func(v any) string {
		data, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		return string(data)
	}
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	tables := []struct {
		name string
		cols []string
		n    int
		row  func(i int) []any
	}{
		{"households", []string{"id", "version", "default_profile", "data"}, len(st.Households), func(i int) []any {
			h := st.Households[i]
			h.Version = 1
			return []any{h.ID, h.Version, null(h.DefaultProfile), js(h)}
		}},
		{"profiles", []string{"id", "household", "version", "data"}, len(st.Profiles), func(i int) []any {
			p := st.Profiles[i]
			p.Version = 1
			return []any{p.ID, p.Household, p.Version, js(p)}
		}},
		{"devices", []string{"id", "household", "profile", "version", "data"}, len(st.Devices), func(i int) []any {
			d := st.Devices[i]
			d.Version = 1
			return []any{d.ID, d.Household, null(d.Profile), d.Version, js(d)}
		}},
		{"grants", []string{"id", "device", "kind", "target", "until", "created_by", "created"}, len(st.Grants), func(i int) []any {
			g := st.Grants[i]
			return []any{g.ID, g.Device, g.Kind, g.Target, g.Until.UnixNano(), g.By, nil}
		}},
		{"bindings", []string{"kind", "key", "household", "origin", "session", "updated"}, len(st.Bindings), func(i int) []any {
			bd := st.Bindings[i]
			return []any{bd.Kind, bd.Key, bd.Household, bd.Origin, bd.Session, nil}
		}},
	}
	for _, t := range tables {
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, pgx.CopyFromSlice(t.n, func(i int) ([]any, error) { return t.row(i), nil })); err != nil {
			b.Fatalf("copy %s: %v", t.name, err)
		}
	}
	if _, err := conn.Exec(ctx, "UPDATE policy_feed_head SET last = $1 WHERE id = 1", st.Seq); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
}
