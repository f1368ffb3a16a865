package postgres

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/testutil/benchscale"
	"github.com/hearth-dns/hearth/internal/testutil/cycles"
	"github.com/hearth-dns/hearth/internal/testutil/pgtest"
)

// BenchmarkLoad measures Load alone, the read of a node's cold start
// (issue #13), at HEARTH_BENCH_SCALE households (1 means 1,000,000), each
// with 5 devices, 2 bindings, one in ten a profile of its own and one in
// a hundred a grant (the shape of compile's synthState). It skips
// without HEARTH_BENCH_SCALE:
//
//	HEARTH_BENCH_SCALE=100000 scripts/postgres go test -run '^$' -bench BenchmarkLoad -benchtime 1x ./internal/store/postgres/
//
// The rows are written with COPY, as the store's writes leave them. With
// HEARTH_BENCH_SCHEMA set, they go to that schema of the cluster, which
// is kept: a later run (of another build, too) that finds it filled at
// the same scale reads it as it is, so old and new code can alternate on
// one fill. load-cpu-s is this process's CPU; server-cpu-s is that of the
// server processes serving Load (read from /proc).
func BenchmarkLoad(b *testing.B) {
	n := benchscale.Households(b, "cold start read benchmark")
	dsn := loadSchema(b, n)
	ctx := context.Background()
	s := openDSN(b, &Config{DSN: pgtest.WithParam(dsn, "application_name", benchApp)})
	server := serverCPU(b, dsn)
	var (
		st                       store.State
		wall, cpu, srv, peakHeap float64
	)
	b.ReportAllocs()
	for b.Loop() {
		st = store.State{}
		runtime.GC()
		stop := watchHeap()
		start, cpu0, srv0 := time.Now(), cycles.ProcessCPU(), server()
		var err error
		if st, err = s.Load(ctx); err != nil {
			b.Fatal(err)
		}
		wall += time.Since(start).Seconds()
		cpu += (cycles.ProcessCPU() - cpu0).Seconds()
		srv += (server() - srv0).Seconds()
		peakHeap = max(peakHeap, float64(stop())/(1<<20))
	}
	b.StopTimer()
	if len(st.Households) != n || len(st.Devices) != 5*n || len(st.Bindings) != 2*n || len(st.Grants) != (n+99)/100 || len(st.Profiles) != (n+9)/10 {
		b.Fatalf("loaded %d households, %d devices, %d bindings, %d grants, %d profiles; want %d households",
			len(st.Households), len(st.Devices), len(st.Bindings), len(st.Grants), len(st.Profiles), n)
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(wall/float64(b.N), "load-wall-s")
	b.ReportMetric(cpu/float64(b.N), "load-cpu-s")
	b.ReportMetric(srv/float64(b.N), "server-cpu-s")
	b.ReportMetric(peakHeap, "peak-heap-MB")
	b.ReportMetric(float64(m.HeapAlloc)/(1<<20), "state-heap-MB")
	runtime.KeepAlive(st)
}

// loadSchema returns the DSN of a schema holding n households' state:
// a new one, or HEARTH_BENCH_SCHEMA's, filled unless it holds n
// households already.
func loadSchema(b *testing.B, n int) string {
	name := os.Getenv("HEARTH_BENCH_SCHEMA")
	if name == "" {
		dsn := newSchema(b)
		fillState(b, dsn, n)
		return dsn
	}
	ctx := context.Background()
	cluster := pgtest.Cluster(b)
	conn, err := pgx.Connect(ctx, cluster)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var have int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", name).Scan(&have); err != nil {
		b.Fatal(err)
	}
	dsn := pgtest.WithParam(cluster, "search_path", name)
	if have == 1 {
		var count int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{name, "households"}.Sanitize()).Scan(&count); err == nil && count == n {
			return dsn
		}
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	fillState(b, dsn, n)
	return dsn
}

// fillState writes n households' state with COPY, in the rows the
// store's writes make (version 1, the JSON they marshal).
func fillState(b testing.TB, dsn string, n int) {
	ctx := context.Background()
	s, err := Open(ctx, &Config{DSN: dsn}) // the schema
	if err != nil {
		b.Fatal(err)
	}
	s.Close()
	pgtest.CopyState(b, dsn, loadState(n))
}

// loadState makes n households' state with every field the loader
// decodes: names, time zones, host names, DNS ids, grants' authors.
func loadState(n int) store.State {
	presets := []string{"kid", "tween", "teen", "adult"}
	until := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	seen := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	st := store.State{
		Seq:        1,
		Households: make([]store.Household, n),
		Profiles:   make([]store.Profile, (n+9)/10),
		Devices:    make([]store.Device, 5*n),
		Grants:     make([]store.Grant, (n+99)/100),
		Bindings:   make([]store.Binding, 2*n),
	}
	for i := range st.Households {
		h := store.Household{ID: fmt.Sprintf("h%07d", i), Name: "Household " + strconv.Itoa(i), DefaultProfile: presets[i%len(presets)]}
		if i%3 == 0 {
			h.TimeZone = "Europe/Paris"
		}
		st.Households[i] = h
	}
	for i := range st.Profiles {
		h := fmt.Sprintf("h%07d", i*10)
		st.Profiles[i] = store.Profile{ID: h + "-kid", Household: h, Name: "Kid", Preset: "kid", Block: []string{"gambling"}, Allow: []string{"school.example"}}
	}
	for k := range st.Devices {
		i := k / 5
		h := fmt.Sprintf("h%07d", i)
		d := store.Device{ID: fmt.Sprintf("%s-d%d", h, k%5), Household: h, Name: "Device " + strconv.Itoa(k%5), FirstSeen: seen}
		switch k % 5 {
		case 0, 1:
			d.MACs = []string{fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", byte(k>>32), byte(k>>24), byte(k>>16), byte(k>>8), byte(k))}
			d.Hostname = "phone-" + strconv.Itoa(k)
		case 2, 3:
			d.ClientIDs = []string{fmt.Sprintf("c%08d", k)}
		default:
			d.IPs = []string{netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}).String()}
			d.New = true
		}
		if k%50 == 7 {
			d.ClientIDs = nil
			d.DNSID = &store.DNSID{Hash: fmt.Sprintf("%064x", k), Label: "tablet", Hint: "ab3x", Created: seen}
		}
		switch x := k % 10; {
		case x < 6:
		case x < 9:
			d.Profile = presets[k%len(presets)]
		case i%10 == 0:
			d.Profile = h + "-kid"
		}
		st.Devices[k] = d
	}
	for i := range st.Grants {
		st.Grants[i] = store.Grant{ID: fmt.Sprintf("g%07d", i), Device: fmt.Sprintf("h%07d-d0", i*100), Kind: store.GrantAllow, Target: "social", Until: until, By: "parent", Created: until.Add(-time.Hour)}
	}
	for k := range st.Bindings {
		i := k / 2
		h := fmt.Sprintf("h%07d", i)
		if k%2 == 0 {
			st.Bindings[k] = store.Binding{Kind: store.BindIPv4, Key: netip.AddrFrom4([4]byte{100, 64 + byte(i>>16), byte(i >> 8), byte(i)}).String(), Household: h, Origin: "import", Updated: seen}
			continue
		}
		v6 := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 16), byte(i >> 8), byte(i)}), 56)
		st.Bindings[k] = store.Binding{Kind: store.BindIPv6, Key: v6.String(), Household: h, Origin: "radius", Session: "s" + strconv.Itoa(i), Updated: seen}
	}
	return st
}

// benchApp names the benchmark's connections to the server
// (application_name), so that serverCPU counts theirs alone.
const benchApp = "hearth-bench-load"

// serverCPU returns a function that reads the CPU time of the server
// processes serving connections named benchApp (from /proc; 0 where it
// cannot tell). A process that ends between two reads is lost: Load's
// connections stay in the pool.
func serverCPU(b *testing.B, dsn string) func() time.Duration {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(ctx) })
	return func() time.Duration {
		rows, err := conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", benchApp)
		if err != nil {
			b.Fatal(err)
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			b.Fatal(err)
		}
		var total time.Duration
		for _, pid := range pids {
			data, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/stat")
			if err != nil {
				continue
			}
			s := string(data)
			f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // f[0] is field 3
			for _, i := range []int{14, 15} {                        // utime, stime
				v, _ := strconv.ParseInt(f[i-3], 10, 64)
				total += time.Duration(v) * (time.Second / 100) // USER_HZ
			}
		}
		return total
	}
}

// watchHeap samples the heap's live objects until the function it
// returns is called, which returns the highest sample.
func watchHeap() func() uint64 {
	done, peak := make(chan struct{}), make(chan uint64)
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var high uint64
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			high = max(high, sample[0].Value.Uint64())
			select {
			case <-t.C:
			case <-done:
				peak <- high
				return
			}
		}
	}()
	return func() uint64 { close(done); return <-peak }
}
