package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/policysync"
	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// storageConfig: the parents' tablet is a store device with the adult
// profile (gambling allowed); everyone else gets kid (gambling blocked).
func storageConfig(t *testing.T, dataDir string) string {
	list := filepath.Join(t.TempDir(), "gambling.txt")
	if err := os.WriteFile(list, []byte("bet365.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`data_dir: %q
default_profile: kid
profiles:
  kid: {block: [gambling]}
  adult: {block: [malware]}
sources:
  - {tag: gambling, file: %q, format: domains}
`, dataDir, list)
}

// firstRun starts Hearth on dataDir, sets it up (an administrator), adds
// the parents' tablet, checks its answer, and stops. It leaves a store
// and a policy snapshot behind.
func firstRun(t *testing.T, cfg string) {
	t.Helper()
	e := startHTTP(t, cfg, dnstest.Zone(t, policyRecords...))
	newAPIClient(t, e)
	ctx := context.Background()
	if _, err := e.app.store.PutDevice(ctx, store.Device{ID: "tablet", Household: HomeHousehold, Name: "Parents' tablet", Profile: "adult", IPs: []string{"127.0.0.5"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.app.sync.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if addr, _ := ask(t, e, "127.0.0.5", "bet365.com"); addr != "192.0.2.50" {
		t.Fatalf("first run: the tablet got %q, want the allowed answer", addr)
	}
	if err := e.app.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// getJSON fetches path from e's HTTP listener without logging in.
func getJSON(t *testing.T, e *env, method, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+e.app.HTTPAddr()+path, strings.NewReader(`{"password":"a new password for me"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// login logs the first run's administrator in.
func login(t *testing.T, e *env) *apiClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &apiClient{t: t, base: "http://" + e.app.HTTPAddr(), http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	var s struct{ CSRF string }
	if code := c.do("POST", "/api/v1/login", map[string]string{"user": "admin", "password": "correct horse battery"}, &s); code != http.StatusOK {
		t.Fatalf("login: %d", code)
	}
	c.csrf = s.CSRF
	return c
}

// metricValue returns the value of the metric line that starts with
// series on /metrics, fetched with c (nil: without logging in), or ""
// when there is none.
func metricValue(t *testing.T, e *env, c *http.Client, series string) string {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Get("http://" + e.app.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestDNSSurvivesBrokenStore damages the data directory of a set-up
// Hearth between two runs, then checks that the second run starts,
// answers DNS by the last saved policy (or, without one, gives every
// device the default profile: fail closed), reports the problem in the
// log, /metrics and the UI's status, and keeps first-run setup shut.
func TestDNSSurvivesBrokenStore(t *testing.T) {
	tests := []struct {
		name string
		// damage breaks dataDir after the first run.
		damage func(t *testing.T, dataDir string)
		// wantTablet is the answer the parents' tablet gets for bet365.com:
		// allowed (its profile, from the snapshot) or blocked (defaults).
		wantTablet string
		wantFrom   string
		wantOp     string
	}{
		{"corrupted database", func(t *testing.T, dir string) { overwrite(t, filepath.Join(dir, "hearth.db")) }, "192.0.2.50", "snapshot", "open"},
		{"database truncated mid-file", func(t *testing.T, dir string) { truncate(t, filepath.Join(dir, "hearth.db"), 3000) }, "192.0.2.50", "snapshot", "open"},
		{"database truncated to nothing", func(t *testing.T, dir string) { truncate(t, filepath.Join(dir, "hearth.db"), 0) }, "192.0.2.50", "snapshot", "empty"},
		{"database deleted", func(t *testing.T, dir string) { remove(t, filepath.Join(dir, "hearth.db")) }, "192.0.2.50", "snapshot", "empty"},
		{"database is a directory", func(t *testing.T, dir string) {
			remove(t, filepath.Join(dir, "hearth.db"))
			if err := os.Mkdir(filepath.Join(dir, "hearth.db"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, "192.0.2.50", "snapshot", "open"},
		{"corrupted database, no snapshot", func(t *testing.T, dir string) {
			overwrite(t, filepath.Join(dir, "hearth.db"))
			remove(t, filepath.Join(dir, policysync.FileName))
		}, "0.0.0.0", "defaults", "open"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			cfg := storageConfig(t, dataDir)
			firstRun(t, cfg)
			tc.damage(t, dataDir)

			e := startHTTP(t, cfg, dnstest.Zone(t, policyRecords...))
			addr, text := ask(t, e, "127.0.0.5", "bet365.com")
			if addr != tc.wantTablet {
				t.Errorf("tablet: %q %q, want %s (policy from %s)", addr, text, tc.wantTablet, tc.wantFrom)
			}
			if addr, _ := ask(t, e, "127.0.0.6", "bet365.com"); addr != "0.0.0.0" {
				t.Errorf("an unknown device got %q, want the default profile's block", addr)
			}
			var st Status
			if code := getJSON(t, e, "GET", "/api/v1/status", &st); code != 200 || !st.Degraded || st.StoreOK || st.PolicyFrom != tc.wantFrom || len(st.Problems) == 0 {
				t.Errorf("status: %d %+v, want degraded, store not ok, policy from %s, a problem to show", code, st, tc.wantFrom)
			}
			if v := metricValue(t, e, nil, "hearth_store_up"); v != "0" {
				t.Errorf("hearth_store_up = %q, want 0", v)
			}
			if v := metricValue(t, e, nil, fmt.Sprintf("hearth_storage_errors_total{op=%q}", tc.wantOp)); v == "" || v == "0" {
				t.Errorf("hearth_storage_errors_total{op=%q} = %q, want at least 1", tc.wantOp, v)
			}
			// Setup stays shut: nobody on the network can claim Hearth
			// because its database is gone.
			var setup map[string]any
			if code := getJSON(t, e, "GET", "/api/v1/setup", &setup); code == 200 || setup["needed"] == true {
				t.Errorf("GET /api/v1/setup: %d %v, want no setup offered", code, setup)
			}
			if code := getJSON(t, e, "POST", "/api/v1/setup", nil); code != http.StatusServiceUnavailable {
				t.Errorf("POST /api/v1/setup: %d, want 503", code)
			}
		})
	}
}

// TestSnapshotWriteFailure: the disk fills (or turns read-only) while
// Hearth runs. A parent's change still takes effect on DNS, the old
// snapshot file stays whole, and the failure shows in /metrics and the
// status; a later write that works clears the banner.
func TestSnapshotWriteFailure(t *testing.T) {
	dataDir := t.TempDir()
	cfg := storageConfig(t, dataDir)
	firstRun(t, cfg)
	before, err := os.ReadFile(filepath.Join(dataDir, policysync.FileName))
	if err != nil {
		t.Fatal(err)
	}
	var full atomicBool
	full.set(true)
	e := startListening(t, `http: "127.0.0.1:0"`, cfg, dnstest.Zone(t, policyRecords...), withSnapshotWriter(func(path string, data []byte) error {
		if full.get() {
			return fmt.Errorf("writing %s: %w", path, syscall.ENOSPC)
		}
		return policysync.WriteFileAtomic(path, data)
	}))
	ctx := context.Background()
	d, err := e.app.store.Device(ctx, "tablet")
	if err != nil {
		t.Fatal(err)
	}
	d.Profile = "kid"
	if _, err := e.app.store.PutDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := e.app.sync.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if addr, _ := ask(t, e, "127.0.0.5", "bet365.com"); addr != "0.0.0.0" {
		t.Errorf("after the change the tablet got %q, want kid's block", addr)
	}
	after, err := os.ReadFile(filepath.Join(dataDir, policysync.FileName))
	if err != nil || string(after) != string(before) {
		t.Errorf("snapshot file changed or lost by a failed write: %v", err)
	}
	var st Status
	// The snapshot writer saves deltas off the apply path: the failure
	// is reported once it has tried.
	pollUntil(t, "the failed snapshot write is reported", func() bool {
		getJSON(t, e, "GET", "/api/v1/status", &st)
		return st.Degraded
	})
	if getJSON(t, e, "GET", "/api/v1/status", &st); !st.Degraded || !st.StoreOK || len(st.Problems) != 1 || !strings.Contains(st.Problems[0], "snapshot") {
		t.Errorf("status %+v, want one snapshot problem, store ok", st)
	}
	if v := metricValue(t, e, login(t, e).http, `hearth_storage_errors_total{op="snapshot-write"}`); v == "" || v == "0" {
		t.Errorf(`hearth_storage_errors_total{op="snapshot-write"} = %q, want at least 1`, v)
	}

	full.set(false)
	if d, err = e.app.store.Device(ctx, "tablet"); err != nil {
		t.Fatal(err)
	}
	d.Profile = "adult"
	if _, err := e.app.store.PutDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := e.app.sync.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "a good snapshot write clears the banner", func() bool {
		getJSON(t, e, "GET", "/api/v1/status", &st)
		return !st.Degraded
	})
	f, err := policysync.ReadFile(filepath.Join(dataDir, policysync.FileName))
	if err != nil || !f.SetupDone || len(f.State.Devices) != 1 || f.State.Devices[0].Profile != "adult" {
		t.Errorf("snapshot file after a good write: %+v %v", f, err)
	}
}

// overwrite replaces the file's bytes with text that is no database,
// and removes its write-ahead log.
func overwrite(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	junk := []byte(strings.Repeat("not a database ", int(fi.Size())/15+1))[:fi.Size()]
	if err := os.WriteFile(path, junk, 0o644); err != nil {
		t.Fatal(err)
	}
	// The write-ahead log goes too: when the last run left page 1 in it
	// (no checkpoint at shutdown), SQLite reads the header from the log
	// and the junk file opens as a database after all, now and then.
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
}

// truncate cuts the file to size bytes.
func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// remove deletes a database file and its WAL files.
func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
}

// atomicBool is a flag a test flips while the server reads it.
type atomicBool struct{ v atomic.Bool }

func (b *atomicBool) set(v bool) { b.v.Store(v) }
func (b *atomicBool) get() bool  { return b.v.Load() }

// BenchmarkStartWithCorruptedStore measures what the issue asks for: the
// time from starting Hearth on a data directory whose database is
// corrupted to its first DNS answer (by the saved snapshot's policy),
// beside the same start with a healthy database. One op is New, Start,
// one answered query, and Shutdown.
func BenchmarkStartWithCorruptedStore(b *testing.B) {
	for _, corrupt := range []bool{false, true} {
		name := "healthy"
		if corrupt {
			name = "corrupted"
		}
		b.Run(name, func(b *testing.B) {
			dataDir := b.TempDir()
			up := dnstest.NewServer(b, dnstest.Zone(b, policyRecords...))
			list := filepath.Join(b.TempDir(), "gambling.txt")
			if err := os.WriteFile(list, []byte("bet365.com\n"), 0o644); err != nil {
				b.Fatal(err)
			}
			cert := dnstest.NewCert(b)
			doc := strings.Replace(testConfigDoc(b, cert, up.Addr, fmt.Sprintf("data_dir: %q\ndefault_profile: kid\nprofiles:\n  kid: {block: [gambling]}\n  adult: {block: [malware]}\nsources:\n  - {tag: gambling, file: %q, format: domains}\n", dataDir, list)), `http: ""`, `http: "127.0.0.1:0"`, 1)
			cfg, err := config.Parse("bench.yaml", []byte(doc))
			if err != nil {
				b.Fatal(err)
			}
			// A first run leaves a store and a snapshot.
			a, err := New(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := a.Start(); err != nil {
				b.Fatal(err)
			}
			a.Shutdown(context.Background())
			if corrupt {
				db := filepath.Join(dataDir, "hearth.db")
				fi, err := os.Stat(db)
				if err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(db, []byte(strings.Repeat("x", int(fi.Size()))), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			q := query("bet365.com", dns.TypeA)
			for b.Loop() {
				a, err := New(cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := a.Start(); err != nil {
					b.Fatal(err)
				}
				r, _, err := clientFrom("127.0.0.5").Exchange(q, a.Addrs().UDP[0])
				if err != nil || firstAddr(r) != "0.0.0.0" {
					b.Fatalf("first answer: %v %v", r, err)
				}
				if up := a.storage.Status().StoreOK; up == corrupt {
					b.Fatalf("store ok = %v with a corrupted database = %v", up, corrupt)
				}
				a.Shutdown(context.Background())
			}
		})
	}
}

// firstAddr returns the first A record's address of r, or "".
func firstAddr(r *dns.Msg) string {
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String()
		}
	}
	return ""
}

// TestSnapshotWriteOffApplyPath: a slow disk (here a snapshot write that
// blocks) no longer holds up changes. Before, every delta rewrote the
// whole file on the path that swaps the policy in, so a write through
// the API waited for the disk; now the API answers and DNS follows while
// the writer is stuck, the writer then saves only the latest state, and
// after a clean stop the file holds the state the node served.
func TestSnapshotWriteOffApplyPath(t *testing.T) {
	dataDir := t.TempDir()
	cfg := storageConfig(t, dataDir)
	firstRun(t, cfg)
	var stuck atomicBool
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var unstick sync.Once // a failing test must not leave the writer stuck
	var mu sync.Mutex
	var saved []int64 // the seq of each file written
	e := startListening(t, `http: "127.0.0.1:0"`, cfg, dnstest.Zone(t, policyRecords...), withSnapshotWriter(func(path string, data []byte) error {
		if stuck.get() {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
		var f policysync.File
		if err := json.Unmarshal(data, &f); err != nil {
			return err
		}
		mu.Lock()
		saved = append(saved, f.State.Seq)
		mu.Unlock()
		return policysync.WriteFileAtomic(path, data)
	}))
	t.Cleanup(func() { unstick.Do(func() { close(release) }) })
	ctx := context.Background()
	stuck.set(true)
	setProfile := func(profile string) {
		t.Helper()
		d, err := e.app.store.Device(ctx, "tablet")
		if err != nil {
			t.Fatal(err)
		}
		d.Profile = profile
		if _, err := e.app.store.PutDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- e.app.sync.Sync(ctx) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the change to %s waited for the snapshot file", profile)
		}
	}
	setProfile("kid")
	<-entered // the writer is stuck on the first delta's file
	profiles := []string{"adult", "kid", "adult", "kid"}
	for _, p := range profiles {
		setProfile(p)
	}
	if addr, _ := ask(t, e, "127.0.0.5", "bet365.com"); addr != "0.0.0.0" {
		t.Errorf("with the disk stuck, the tablet got %q, want kid's block", addr)
	}
	stuck.set(false)
	unstick.Do(func() { close(release) })
	want := e.app.sync.Applied()
	if err := e.app.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := policysync.ReadFile(filepath.Join(dataDir, policysync.FileName))
	if err != nil || f.State.Seq != want || len(f.State.Devices) != 1 || f.State.Devices[0].Profile != "kid" {
		t.Errorf("snapshot file after a clean stop: seq %d devices %+v, %v; want seq %d with the tablet on kid", f.State.Seq, f.State.Devices, err, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := len(saved); n > 3 {
		t.Errorf("%d deltas made %d snapshot writes %v, want the stuck one and the latest (at most 3)", 1+len(profiles), n, saved)
	}
}
