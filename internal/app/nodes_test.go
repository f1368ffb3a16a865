package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/policysync"
	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlite"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// pgCluster is a PostgreSQL cluster of one test's own, which the test may
// stop and start: the cluster scripts/postgres shares with every package
// must stay up for the tests running beside this one.
type pgCluster struct {
	t      *testing.T
	run    []string // the command prefix (runuser -u nobody --) and pg_ctl
	dir    string
	port   int
	dsn    string
	opts   string
	stopAt []func()
}

// newPGCluster makes and starts a cluster with the binaries (and, when
// root, the unprivileged user) of HEARTH_TEST_POSTGRES_CTL, which
// scripts/postgres sets. Without it the test skips, and fails in CI.
func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	ctl := os.Getenv("HEARTH_TEST_POSTGRES_CTL")
	if ctl == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("HEARTH_TEST_POSTGRES_CTL is not set: run the tests through scripts/test or scripts/postgres")
		}
		t.Skip("HEARTH_TEST_POSTGRES_CTL is not set: run through scripts/postgres")
	}
	fields := strings.Fields(ctl)
	i := slices.IndexFunc(fields, func(f string) bool { return filepath.Base(f) == "pg_ctl" })
	if i < 0 {
		t.Fatalf("HEARTH_TEST_POSTGRES_CTL %q names no pg_ctl", ctl)
	}
	prefix, bin := fields[:i], filepath.Dir(fields[i])
	dir, err := os.MkdirTemp("", "hearth-nodes-pg.")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var pw [16]byte
	rand.Read(pw[:])
	password := hex.EncodeToString(pw[:])
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if len(prefix) > 0 {
		// The cluster runs as the user of the prefix (nobody), who must
		// own its folder.
		u, err := user.Lookup(prefix[len(prefix)-2])
		if err != nil {
			t.Fatalf("user of %q: %v", ctl, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		for _, p := range []string{dir, pwfile} {
			if err := os.Chown(p, uid, -1); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := &pgCluster{t: t, dir: dir, run: append(slices.Clone(prefix), filepath.Join(bin, "pg_ctl"), "-D", filepath.Join(dir, "data"), "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60")}
	initdb := append(slices.Clone(prefix), filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "hearth",
		"--pwfile="+pwfile, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
	if out, err := exec.Command(initdb[0], initdb[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	// A free port: taken by someone else between the probe and the
	// start, the start fails and another is tried.
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		c.opts = fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -k %s -c fsync=off -c max_connections=100", c.port, dir)
		err = c.ctl("start", "-o", c.opts)
		if err == nil {
			break
		}
		if attempt == 4 {
			t.Fatalf("start the cluster: %v", err)
		}
	}
	t.Cleanup(func() { c.ctl("stop", "-m", "immediate") })
	c.dsn = fmt.Sprintf("postgres://hearth:%s@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", password, c.port)
	return c
}

// ctl runs pg_ctl with args.
func (c *pgCluster) ctl(args ...string) error {
	cmd := append(slices.Clone(c.run), args...)
	out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		return fmt.Errorf("pg_ctl %s: %v\n%s\nserver log:\n%s", strings.Join(args, " "), err, out, log)
	}
	return nil
}

// stop stops the server, at once (as a crash or a lost network would).
func (c *pgCluster) stop() {
	c.t.Helper()
	if err := c.ctl("stop", "-m", "fast"); err != nil {
		c.t.Fatal(err)
	}
}

// start starts the stopped server again on the same port, which the
// nodes' DSN names.
func (c *pgCluster) start() {
	c.t.Helper()
	if err := c.ctl("start", "-o", c.opts); err != nil {
		c.t.Fatalf("%v (is port %d taken now?)", err, c.port)
	}
}

// pollUntil polls cond until it holds or the deadline passes: the test
// waits on a condition (a DNS answer, a status), never on a sleep.
func pollUntil(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(20 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		<-tick.C
	}
	return time.Since(start)
}

// storeStatus returns e's GET /api/v1/status.
func storeStatus(t *testing.T, e *env) Status {
	t.Helper()
	var st Status
	if code := getJSON(t, e, "GET", "/api/v1/status", &st); code != http.StatusOK {
		t.Fatalf("status: %d", code)
	}
	return st
}

// percentile returns the p-th percentile of ds (sorted in place).
func percentile(ds []time.Duration, p float64) time.Duration {
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// TestThreeNodes runs three Hearth nodes on loopback over one PostgreSQL
// database: a change through node 1's API reaches DNS on nodes 2 and 3;
// with PostgreSQL stopped every node keeps answering by the last policy,
// API writes answer 503, and a node restarted during the outage serves
// from its snapshot file; with PostgreSQL back the nodes catch up from
// the change they had applied, and a write on node 1 reaches the others.
// It logs the change-to-effect latency (API write answered to the DNS
// answer changed on nodes 2 and 3), p50 and p99.
func TestThreeNodes(t *testing.T) {
	start := time.Now()
	pg := newPGCluster(t)
	// The test polls DNS every millisecond from one address, above the
	// default per-client and repeated-answer rates.
	storeCfg := fmt.Sprintf("store: {driver: postgres, dsn: %q}\nlimits: {qps: 100000, burst: 100000, repeat_qps: 100000}\nadmin: {metrics_networks: [127.0.0.0/8]}\n", pg.dsn)
	zone := dnstest.Zone(t, policyRecords...)
	dataDirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	startNode := func(i int) *env {
		return startHTTP(t, apiConfig(t)+storeCfg+fmt.Sprintf("data_dir: %q\n", dataDirs[i]), zone)
	}
	nodes := []*env{startNode(0), startNode(1), startNode(2)}
	c := newAPIClient(t, nodes[0])
	const tablet, phone = "127.0.0.4", "127.0.0.5"
	// blocked reports whether node e answers bet365.com (gambling) to a
	// client with the block.
	blocked := func(e *env, from string) bool {
		addr, _ := ask(t, e, from, "bet365.com")
		return addr == "0.0.0.0"
	}

	// 1. A change on node 1 is seen on nodes 2 and 3.
	var emma struct {
		ID      string
		Version int64
	}
	if code := c.do("POST", "/api/v1/profiles", map[string]any{"name": "Emma", "preset": "kid", "block": []string{"gambling"}}, &emma); code != http.StatusCreated {
		t.Fatalf("create profile: %d", code)
	}
	for i, e := range nodes[1:] {
		if blocked(e, tablet) {
			t.Fatalf("node %d blocks the tablet before it exists", i+2)
		}
	}
	if code := c.do("POST", "/api/v1/devices", map[string]any{"name": "Emma's tablet", "profile": emma.ID, "ips": []string{tablet}}, nil); code != http.StatusCreated {
		t.Fatalf("create device: %d", code)
	}
	for i, e := range nodes {
		pollUntil(t, fmt.Sprintf("node %d blocks the new tablet", i+1), func() bool { return blocked(e, tablet) })
	}

	// Change-to-effect: each write flips the profile's gambling unblock;
	// the time runs from the API's answer to the flipped DNS answer on
	// each of nodes 2 and 3.
	var lat []time.Duration
	for n := range 20 {
		unblock := []string{"gambling"}
		if n%2 == 1 {
			unblock = []string{}
		}
		if code := c.do("PUT", "/api/v1/profiles/"+emma.ID, map[string]any{"id": emma.ID, "household": HomeHousehold, "name": "Emma", "preset": "kid", "block": []string{"gambling"}, "unblock": unblock, "version": emma.Version}, &emma); code != http.StatusOK {
			t.Fatalf("update profile: %d", code)
		}
		written := time.Now()
		want := n%2 == 1
		for i, e := range nodes[1:] {
			pollUntil(t, fmt.Sprintf("write %d on node %d", n, i+2), func() bool { return blocked(e, tablet) == want })
			lat = append(lat, time.Since(written))
		}
	}
	t.Logf("change-to-effect on nodes 2 and 3 over %d observations: p50 %v, p99 %v", len(lat), percentile(lat, 0.50), percentile(lat, 0.99))
	// The propagation metrics followed: each following node heard of
	// the last write and applied it, and knows when it was written.
	last := float64(nodes[0].app.sync.Stats().Applied)
	for i, e := range nodes[1:] {
		value := func(name string) float64 {
			f, err := strconv.ParseFloat(metricValue(t, e, nil, name), 64)
			if err != nil {
				t.Fatalf("node %d: %s: %v", i+2, name, err)
			}
			return f
		}
		heard, applied, lag := value("hearth_policy_heard_seq"), value("hearth_policy_applied_seq"), value("hearth_policy_lag_changes")
		if heard != last || applied != last || lag != 0 {
			t.Errorf("node %d: heard seq %v, applied %v, lag %v; want %v, %v, 0", i+2, heard, applied, lag, last, last)
		}
		if age := value("hearth_policy_applied_change_age_seconds"); age <= 0 || age > time.Since(start).Seconds() {
			t.Errorf("node %d: the newest applied change is %v s old, want within the test's %v", i+2, age, time.Since(start))
		}
	}
	for i, e := range nodes {
		pollUntil(t, fmt.Sprintf("node %d blocks the tablet", i+1), func() bool { return blocked(e, tablet) })
	}

	// 2. PostgreSQL stops: DNS answers on, writes answer 503.
	pg.stop()
	for i, e := range nodes {
		pollUntil(t, fmt.Sprintf("node %d reports the store down", i+1), func() bool { return !storeStatus(t, e).StoreOK })
		if !blocked(e, tablet) {
			t.Errorf("node %d stopped blocking the tablet during the outage", i+1)
		}
		if addr, _ := ask(t, e, tablet, "www.example.org"); addr != "192.0.2.54" {
			t.Errorf("node %d during the outage: www.example.org answered %q", i+1, addr)
		}
		st := storeStatus(t, e)
		if !st.Degraded || !strings.Contains(strings.Join(st.Problems, " "), "cannot reach its policy database") {
			t.Errorf("node %d status during the outage: %+v", i+1, st)
		}
	}
	for _, want := range []string{"hearth_store_up 0", `hearth_storage_errors_total{op="unavailable"} 1`, "hearth_policy_sync_failures_total"} {
		if m := scrape(t, nodes[1]); !strings.Contains(m, want) {
			t.Errorf("node 2's /metrics during the outage lacks %q", want)
		}
	}
	var failed struct{ Error string }
	if code := c.do("POST", "/api/v1/devices", map[string]any{"name": "Emma's phone", "profile": emma.ID, "ips": []string{phone}}, &failed); code != http.StatusServiceUnavailable || !strings.Contains(failed.Error, "policy store unavailable") {
		t.Errorf("a write during the outage: %d %q, want 503 and a clear message", code, failed.Error)
	}
	if code := c.do("GET", "/api/v1/devices", nil, nil); code != http.StatusServiceUnavailable {
		t.Errorf("a read during the outage: %d, want 503", code)
	}

	// A node restarted during the outage serves from its snapshot file.
	if err := nodes[2].app.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	nodes[2] = startNode(2)
	if !blocked(nodes[2], tablet) {
		t.Error("node 3, restarted during the outage, does not block the tablet: it did not serve its snapshot")
	}
	if st := storeStatus(t, nodes[2]); st.StoreOK || st.PolicyFrom != policyFromSnapshot {
		t.Errorf("node 3 restarted during the outage: status %+v, want the snapshot in use and the store down", st)
	}

	// 3. PostgreSQL returns: the nodes reconnect and catch up, and a
	// write on node 1 reaches the others.
	pg.start()
	for i, e := range nodes {
		pollUntil(t, fmt.Sprintf("node %d reports the store back", i+1), func() bool {
			st := storeStatus(t, e)
			return st.StoreOK && !st.Degraded
		})
	}
	if code := c.do("POST", "/api/v1/devices", map[string]any{"name": "Emma's phone", "profile": emma.ID, "ips": []string{phone}}, nil); code != http.StatusCreated {
		t.Fatalf("create device after the outage: %d", code)
	}
	for i, e := range nodes {
		pollUntil(t, fmt.Sprintf("node %d blocks the phone added after the outage", i+1), func() bool { return blocked(e, phone) })
	}
	if m := scrape(t, nodes[1]); !strings.Contains(m, "hearth_store_up 1") || !strings.Contains(m, "hearth_policy_deltas_total") {
		t.Errorf("node 2's /metrics after the outage lacks the store up and the deltas applied")
	}
	// Nodes 2 and 3 followed with deltas, never a whole read after the
	// start: node 3 resumed from its file and caught up from its seq.
	for i, e := range nodes[1:] {
		st := e.app.sync.Stats()
		reloads := uint64(0)
		for _, n := range st.Reloads {
			reloads += n
		}
		if st.Deltas == 0 || reloads != 0 {
			t.Errorf("node %d: %+v, want deltas only", i+2, st)
		}
	}
}

// scrape returns e's /metrics, read from loopback (admin.metrics_networks).
func scrape(t *testing.T, e *env) string {
	t.Helper()
	resp, err := http.Get("http://" + e.app.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// TestNodeResumesFromSnapshot: a node restarts from its snapshot file and
// reads only what changed while it was stopped; a snapshot that
// disagrees with the store (the agreement check), or that an older
// Hearth wrote (its items may be in an older form), is replaced by a
// whole read, rather than served.
func TestNodeResumesFromSnapshot(t *testing.T) {
	const tablet, phone = "127.0.0.4", "127.0.0.5"
	tests := []struct {
		name string
		// whileStopped changes the store or the snapshot file of the
		// stopped node in dataDir.
		whileStopped func(t *testing.T, dataDir, profile string)
		// wantChecks is 1 when the node resumed from its file (and
		// checked agreement), 0 when it read the store whole.
		wantDeltas, wantDisagree, wantChecks uint64
		wantBlocked, wantAllowed             []string
	}{
		{"the store changed", func(t *testing.T, dataDir, profile string) {
			st, err := sqlite.Open(context.Background(), &sqlite.Config{Path: filepath.Join(dataDir, "hearth.db")})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.PutDevice(context.Background(), store.Device{ID: "phone", Household: HomeHousehold, Name: "Phone", Profile: profile, IPs: []string{phone}}); err != nil {
				t.Fatal(err)
			}
		}, 1, 0, 1, []string{tablet, phone}, nil},
		{"the snapshot lost a device", func(t *testing.T, dataDir, profile string) {
			path := filepath.Join(dataDir, policysync.FileName)
			f, err := policysync.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f.State.Devices = nil // same Seq: only the check can tell
			b, err := f.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if err := policysync.WriteFileAtomic(path, b); err != nil {
				t.Fatal(err)
			}
		}, 0, 1, 1, []string{tablet}, nil},
		{"the snapshot is of an older model", func(t *testing.T, dataDir, profile string) {
			path := filepath.Join(dataDir, policysync.FileName)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// What a Hearth before resuming wrote: no model; and a
			// device it read in a form this one does not know.
			old := strings.Replace(string(b), fmt.Sprintf(`,"model":%d`, policysync.Model), "", 1)
			old = strings.Replace(old, `"ips":["127.0.0.4"]`, `"ips":[]`, 1)
			if old == string(b) || strings.Contains(old, `"model"`) {
				t.Fatalf("the file changed no way the test expects: %s", b)
			}
			if err := policysync.WriteFileAtomic(path, []byte(old)); err != nil {
				t.Fatal(err)
			}
		}, 0, 0, 0, []string{tablet}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			cfg := apiConfig(t) + fmt.Sprintf("data_dir: %q\n", dataDir)
			zone := dnstest.Zone(t, policyRecords...)
			e := startHTTP(t, cfg, zone)
			c := newAPIClient(t, e)
			var emma struct{ ID string }
			if code := c.do("POST", "/api/v1/profiles", map[string]any{"name": "Emma", "preset": "kid", "block": []string{"gambling"}}, &emma); code != http.StatusCreated {
				t.Fatalf("create profile: %d", code)
			}
			if code := c.do("POST", "/api/v1/devices", map[string]any{"name": "Tablet", "profile": emma.ID, "ips": []string{tablet}}, nil); code != http.StatusCreated {
				t.Fatalf("create device: %d", code)
			}
			if err := e.app.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			tc.whileStopped(t, dataDir, emma.ID)

			e = startHTTP(t, cfg, zone)
			// New catches up before it returns: no waiting.
			for _, from := range tc.wantBlocked {
				if addr, text := ask(t, e, from, "bet365.com"); addr != "0.0.0.0" {
					t.Errorf("%s after the restart: %q %q, want Emma's block", from, addr, text)
				}
			}
			for _, from := range tc.wantAllowed {
				if addr, _ := ask(t, e, from, "bet365.com"); addr == "0.0.0.0" {
					t.Errorf("%s after the restart: blocked, want the default profile", from)
				}
			}
			st := e.app.sync.Stats()
			if st.Deltas != tc.wantDeltas || st.Disagreements != tc.wantDisagree || st.Reloads[policysync.ReloadDisagree] != tc.wantDisagree || st.Reloads[policysync.ReloadStart] != 0 || st.Checks != tc.wantChecks {
				t.Errorf("stats %+v: want %d deltas, %d disagreements, %d checks", st, tc.wantDeltas, tc.wantDisagree, tc.wantChecks)
			}
		})
	}
}
