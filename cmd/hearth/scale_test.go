package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/app"
	"github.com/hearth-dns/hearth/internal/auth"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/querylog"
	"github.com/hearth-dns/hearth/internal/store"
)

// BenchmarkHomeScale measures a busy home's state: the RSS of a running
// hearth (built without the race detector) with 1,000 devices and 30 days
// of hourly counters for each, against the same binary with an empty
// store, and how long the dashboard's stats call takes over those 30
// days. Run with -benchtime 1x; b.N is not used.
func BenchmarkHomeScale(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "hearth")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	empty := scaleDataDir(b, 0, 0)
	full := scaleDataDir(b, 1000, 30)
	rssEmpty, _, _ := scaleRun(b, bin, empty, "")
	rssFull, rssAfter, statsTook := scaleRun(b, bin, full, "stats")
	b.ReportMetric(float64(rssEmpty)/1024, "MiB-RSS-empty")
	b.ReportMetric(float64(rssFull)/1024, "MiB-RSS-1000-devices-30-days")
	b.ReportMetric(float64(rssAfter)/1024, "MiB-RSS-after-30-day-stats")
	b.ReportMetric(float64(statsTook.Microseconds())/1000, "ms-stats-30-days")
}

// scaleDataDir makes a data directory whose store has devices devices
// and whose query log has days of hourly counters for each (one query
// and one gambling block per device and hour), and a config using it.
func scaleDataDir(b *testing.B, devices, days int) string {
	dir := b.TempDir()
	cfgPath := filepath.Join(dir, "hearth.yaml")
	doc := fmt.Sprintf("listen: {dns: [\"127.0.0.1:0\"], http: \"127.0.0.1:0\"}\nupstream: {servers: [\"127.0.0.1:9\"]}\ndata_dir: %q\nnew_devices: {record: false}\n", filepath.Join(dir, "data"))
	if err := os.WriteFile(cfgPath, []byte(doc), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	st, err := app.OpenStore(ctx, cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	a, err := auth.New(auth.Config{Accounts: st})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.SetPassword(ctx, "admin", "correct horse battery"); err != nil {
		b.Fatal(err)
	}
	tok, _, err := a.CreateToken(ctx, "admin", "bench", auth.TokenOptions{Scope: store.ScopeAdmin})
	if err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "token"), []byte(tok), 0o600)
	for i := range devices {
		d := store.Device{ID: fmt.Sprintf("dev-%04d", i), Household: app.HomeHousehold, Name: fmt.Sprintf("Device %d", i), Profile: "kid",
			IPs: []string{netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(i%250 + 1)}).String()}}
		if _, err := st.PutDevice(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
	if days > 0 {
		ql, err := querylog.New(querylog.Config{Path: filepath.Join(cfg.DataDir, "querylog.db"), Buffer: 1 << 16, Retention: 24 * time.Hour, CounterRetention: 90 * 24 * time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]string, devices)
		for i := range ids {
			ids[i] = fmt.Sprintf("dev-%04d", i)
		}
		start := time.Now().Add(-time.Duration(days) * 24 * time.Hour)
		var e querylog.Entry
		e.SetName([]byte("bet365.com"))
		for h := 0; h < days*24; h++ {
			for i := range devices {
				e.Time = start.Add(time.Duration(h) * time.Hour).UnixNano()
				e.Device, e.Profile, e.Tag, e.Action, e.Reason = ids[i], "kid", "gambling", querylog.ActionBlocked, "tag"
				ql.Log(&e)
			}
			if err := ql.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
		if _, _, err := ql.Prune(ctx, time.Now()); err != nil { // raw rows older than a day go
			b.Fatal(err)
		}
		if err := ql.Close(); err != nil {
			b.Fatal(err)
		}
		if s := ql.Stats(); s.Dropped > 0 {
			b.Fatalf("%d log entries dropped while filling", s.Dropped)
		}
	}
	return dir
}

// scaleRun starts the binary on dir, waits for it to serve, optionally
// times a 30-day stats call, and returns its RSS in KiB before and after
// that call.
func scaleRun(b *testing.B, bin, dir, what string) (int, int, time.Duration) {
	cmd := exec.Command(bin, "serve", "--config", filepath.Join(dir, "hearth.yaml"), "--log-level", "info")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// The log line "hearth serving" names the HTTP address.
	httpAddr := ""
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "http="); i >= 0 && strings.Contains(line, "hearth serving") {
			httpAddr = strings.Fields(line[i+5:])[0]
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	if _, _, err := net.SplitHostPort(httpAddr); err != nil {
		b.Fatalf("no HTTP address in the log (%q)", httpAddr)
	}
	tok, _ := os.ReadFile(filepath.Join(dir, "token"))
	get := func(path string) time.Duration {
		req, _ := http.NewRequest("GET", "http://"+httpAddr+path, nil)
		req.Header.Set("Authorization", "Bearer "+string(tok))
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return time.Since(t0)
	}
	get("/api/v1/devices")
	before := rss(b, cmd.Process.Pid)
	var took time.Duration
	if what == "stats" {
		since := time.Now().Add(-30 * 24 * time.Hour).UTC().Format(time.RFC3339)
		took = get("/api/v1/stats?since=" + since)
	}
	return before, rss(b, cmd.Process.Pid), took
}

// rss returns the resident set of process pid in KiB.
func rss(b *testing.B, pid int) int {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return kb
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
