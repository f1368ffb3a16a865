package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// startHTTP starts the app of the base test config plus extra, with the
// HTTP listener (API, UI, metrics) on a loopback port.
func startHTTP(t testing.TB, extra string, upstreamHandler dns.Handler) *env {
	t.Helper()
	return startListening(t, `http: "127.0.0.1:0"`, extra, upstreamHandler)
}

// startListening is startHTTP with listen settings of the caller's.
func startListening(t testing.TB, listen, extra string, upstreamHandler dns.Handler, opts ...Option) *env {
	t.Helper()
	e := &env{cert: dnstest.NewCert(t), clock: dnstest.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))}
	if upstreamHandler == nil {
		upstreamHandler = dnstest.Zone(t, upstreamRecords...)
	}
	e.up = dnstest.NewServer(t, upstreamHandler)
	doc := strings.Replace(testConfigDoc(t, e.cert, e.up.Addr, extra), `http: ""`, listen, 1)
	cfg, err := config.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, nil, append([]Option{WithClock(e.clock.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	e.app = a
	addrs := a.Addrs()
	e.udp, e.tcp = addrs.UDP[0], addrs.TCP[0]
	if len(addrs.DoT) > 0 {
		e.dot, e.doh = addrs.DoT[0], addrs.DoH[0]
	}
	return e
}

// apiClient is a logged-in browser: the session cookie and the CSRF token.
type apiClient struct {
	t    testing.TB
	base string
	http *http.Client
	csrf string
}

// newAPIClient runs first-run setup and keeps the session.
func newAPIClient(t testing.TB, e *env) *apiClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &apiClient{t: t, base: "http://" + e.app.HTTPAddr(), http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	var s struct{ CSRF string }
	setupCode, _, err := e.app.auth.SetupCode(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if code := c.do("POST", "/api/v1/setup", map[string]string{"code": setupCode, "password": "correct horse battery"}, &s); code != http.StatusCreated {
		t.Fatalf("setup: %d", code)
	}
	c.csrf = s.CSRF
	return c
}

// jsonRequest builds a request whose body is body as JSON (nil sends
// none), with the CSRF header when csrf is not "".
func jsonRequest(t testing.TB, method, url string, body any, csrf string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	return req
}

// do sends a JSON request and decodes the answer into out (when not nil),
// returning the status code.
func (c *apiClient) do(method, path string, body, out any) int {
	c.t.Helper()
	req := jsonRequest(c.t, method, c.base+path, body, c.csrf)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	if resp.StatusCode >= 400 {
		c.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	return resp.StatusCode
}

// apiConfig: a gambling list, and no devices: the store has them.
func apiConfig(t testing.TB) string {
	list := filepath.Join(t.TempDir(), "gambling.txt")
	if err := os.WriteFile(list, []byte("bet365.com\ncasino.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// No default_profile: the built-in one (adult) applies, and the UI may
	// change it (a default_profile written in the file would win).
	return fmt.Sprintf("sources:\n  - {tag: gambling, file: %q, format: domains}\n", list)
}

// ask queries name from a source address and returns the answer's first
// address and EDE text.
func ask(t testing.TB, e *env, from, name string) (string, string) {
	t.Helper()
	q := query(name, dns.TypeA)
	q.SetEdns0(1232, false)
	r, _, err := clientFrom(from).Exchange(q, e.udp)
	if err != nil {
		t.Fatalf("query %s from %s: %v", name, from, err)
	}
	addr := ""
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			addr = a.A.String()
			break
		}
	}
	return addr, edeText(r)
}

type apiDevice struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Profile          string   `json:"profile"`
	IPs              []string `json:"ips"`
	New              bool     `json:"new"`
	Version          int64    `json:"version"`
	EffectiveProfile string   `json:"effective_profile"`
}

// TestAPIChangesDNSAnswers is a parent's afternoon through the API: a
// profile for Emma, her tablet, a one-site allowance, a pause; each write
// is answered once the next DNS answer reflects it.
func TestAPIChangesDNSAnswers(t *testing.T) {
	e := startHTTP(t, apiConfig(t), dnstest.Zone(t, policyRecords...))
	c := newAPIClient(t, e)
	const tablet = "127.0.0.4"

	if code := c.do("PUT", "/api/v1/settings", map[string]string{"time_zone": "Europe/Paris", "default_profile": "adult"}, nil); code != 200 {
		t.Fatalf("settings: %d", code)
	}
	var prof struct{ ID string }
	if code := c.do("POST", "/api/v1/profiles", map[string]any{"name": "Emma", "preset": "kid", "block": []string{"gambling"}}, &prof); code != 201 || prof.ID != "emma" {
		t.Fatalf("create profile: %d %+v", code, prof)
	}
	// Before the tablet is known, it gets the default (adult) profile.
	if addr, _ := ask(t, e, tablet, "bet365.com"); addr != "192.0.2.50" {
		t.Fatalf("unknown device: bet365.com answered %q, want the real address", addr)
	}
	var dev apiDevice
	if code := c.do("POST", "/api/v1/devices", map[string]any{"name": "Emma's tablet", "profile": "emma", "ips": []string{tablet}}, &dev); code != 201 {
		t.Fatalf("create device: %d", code)
	}
	if dev.ID != "emmas-tablet" || dev.EffectiveProfile != "emma" {
		t.Errorf("device %+v, want id emmas-tablet with profile emma", dev)
	}
	addr, text := ask(t, e, tablet, "bet365.com")
	if addr != "0.0.0.0" || !strings.Contains(text, "category=gambling") || !strings.Contains(text, "profile=emma") {
		t.Fatalf("after assigning the profile: %q %q, want a gambling block for emma", addr, text)
	}

	// Allow it for 30 minutes, then end the grant early.
	var g struct{ ID string }
	if code := c.do("POST", "/api/v1/grants", map[string]any{"device": dev.ID, "kind": "allow", "target": "bet365.com", "minutes": 30}, &g); code != 201 {
		t.Fatalf("grant: %d", code)
	}
	if addr, text := ask(t, e, tablet, "www.bet365.com"); addr != "192.0.2.50" {
		t.Fatalf("under the allow grant: %q %q", addr, text)
	}
	e.clock.Advance(31 * time.Minute)
	if addr, text := ask(t, e, tablet, "bet365.com"); addr != "0.0.0.0" {
		t.Fatalf("after the grant ended by itself: %q %q, want blocked", addr, text)
	}
	if code := c.do("DELETE", "/api/v1/grants/"+g.ID, nil, nil); code != 204 {
		t.Fatalf("delete grant: %d", code)
	}

	// Pause the tablet for an hour.
	if code := c.do("POST", "/api/v1/grants", map[string]any{"device": dev.ID, "kind": "pause", "minutes": 60}, &g); code != 201 {
		t.Fatalf("pause: %d", code)
	}
	if addr, text := ask(t, e, tablet, "www.example.org"); addr != "0.0.0.0" || !strings.Contains(text, "paused grant=pause") {
		t.Fatalf("paused: %q %q", addr, text)
	}
	if code := c.do("DELETE", "/api/v1/pause", nil, nil); code != 204 {
		t.Fatalf("resume all: %d", code)
	}
	if addr, _ := ask(t, e, tablet, "www.example.org"); addr != "192.0.2.54" {
		t.Fatalf("resumed: %q", addr)
	}

	// Bad input: 400 naming the field, and nothing changes.
	var errResp struct{ Error string }
	dev.IPs = []string{"not-an-ip"}
	if code := c.do("PUT", "/api/v1/devices/"+dev.ID, dev, &errResp); code != 400 || !strings.Contains(errResp.Error, "ips[0]") {
		t.Errorf("bad ip: %d %q, want 400 naming ips[0]", code, errResp.Error)
	}
	if code := c.do("POST", "/api/v1/profiles", map[string]any{"name": "X", "block": []string{"gamblin"}}, &errResp); code != 400 || !strings.Contains(errResp.Error, "block[0]") {
		t.Errorf("bad tag: %d %q, want 400 naming block[0]", code, errResp.Error)
	}
	if code := c.do("POST", "/api/v1/grants", map[string]any{"device": dev.ID, "kind": "allow", "target": "bet365.com"}, &errResp); code != 400 || !strings.Contains(errResp.Error, "minutes") {
		t.Errorf("grant without duration: %d %q", code, errResp.Error)
	}
	var got apiDevice
	c.do("GET", "/api/v1/devices/"+dev.ID, nil, &got)
	if len(got.IPs) != 1 || got.IPs[0] != tablet {
		t.Errorf("a refused write changed the device: %+v", got)
	}
	// Stale versions are refused.
	dev.IPs, dev.Version = []string{tablet}, got.Version+1
	if code := c.do("PUT", "/api/v1/devices/"+dev.ID, dev, &errResp); code != 409 {
		t.Errorf("stale version: %d, want 409", code)
	}

	// Reassign to the adult preset: allowed again.
	got.Profile = "adult"
	if code := c.do("PUT", "/api/v1/devices/"+dev.ID, got, &got); code != 200 {
		t.Fatalf("reassign: %d", code)
	}
	if addr, _ := ask(t, e, tablet, "bet365.com"); addr != "192.0.2.50" {
		t.Fatalf("after reassigning to adult: %q", addr)
	}

	// The query log has the blocks with their reasons, and explain agrees.
	if err := e.app.qlog.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Rows []struct{ Name, Action, Text, Device string }
	}
	if code := c.do("GET", "/api/v1/querylog?action=blocked&device="+dev.ID, nil, &log); code != 200 || len(log.Rows) == 0 {
		t.Fatalf("query log: %d %+v", code, log)
	}
	if r := log.Rows[len(log.Rows)-1]; r.Name != "bet365.com" || !strings.Contains(r.Text, "category=gambling") {
		t.Errorf("oldest blocked row %+v, want bet365.com with its reason", r)
	}
	var stats struct {
		Queries, Blocked int64
		TopBlocked       []struct{ Tag string } `json:"top_blocked"`
	}
	if code := c.do("GET", "/api/v1/stats", nil, &stats); code != 200 || stats.Blocked < 3 || stats.Queries <= stats.Blocked {
		t.Errorf("stats: %d %+v", code, stats)
	}
	var ex struct{ Action, Profile, Text string }
	if code := c.do("GET", "/api/v1/explain?name=bet365.com&client="+tablet, nil, &ex); code != 200 || ex.Action != "allow" || ex.Profile != "adult" {
		t.Errorf("explain: %d %+v", code, ex)
	}
}

// TestAPIRoutesNeedAuth walks every operation of the OpenAPI document:
// without credentials each answers 401, but for setup and login.
func TestAPIRoutesNeedAuth(t *testing.T) {
	e := startHTTP(t, "", dnstest.Zone(t))
	data, err := os.ReadFile("../api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	public := map[string]bool{"GET /api/v1/setup": true, "POST /api/v1/setup": true, "POST /api/v1/login": true}
	n := 0
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			op := strings.ToUpper(method) + " " + path
			n++
			url := "http://" + e.app.HTTPAddr() + strings.ReplaceAll(path, "{id}", "x")
			req, _ := http.NewRequest(strings.ToUpper(method), url, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if public[op] {
				if resp.StatusCode == http.StatusUnauthorized {
					t.Errorf("%s: 401, but it must work before login", op)
				}
				continue
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s without credentials: %d, want 401", op, resp.StatusCode)
			}
		}
	}
	if n < 30 {
		t.Errorf("only %d operations walked", n)
	}
	// /metrics too.
	resp, err := http.Get("http://" + e.app.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without credentials: %d", resp.StatusCode)
	}
}

// TestNewDeviceRecordedAndClaimed: the first query from an unknown source
// records it as a new device, named from the DHCP leases; a parent claims
// it with a profile and its next answer follows that profile.
func TestNewDeviceRecordedAndClaimed(t *testing.T) {
	leases := filepath.Join(t.TempDir(), "dnsmasq.leases")
	if err := os.WriteFile(leases, []byte("0 aa:bb:cc:00:00:07 127.0.0.7 emmas-ipad *\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := startHTTP(t, apiConfig(t)+fmt.Sprintf("new_devices: {record: true, leases: %q, leases_format: dnsmasq}\n", leases), dnstest.Zone(t, policyRecords...))
	c := newAPIClient(t, e)
	if addr, _ := ask(t, e, "127.0.0.7", "bet365.com"); addr != "192.0.2.50" {
		t.Fatalf("unknown device: %q, want the default (adult) answer", addr)
	}
	// The recorder works off the query path: wait until it has handled
	// the offer, then until the store's change is in effect.
	ctx := context.Background()
	if err := e.app.cur.Load().recorder.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.app.sync.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var found *apiDevice
	var list struct{ Devices []apiDevice }
	c.do("GET", "/api/v1/devices", nil, &list)
	for i, d := range list.Devices {
		if d.New && len(d.IPs) == 1 && d.IPs[0] == "127.0.0.7" {
			found = &list.Devices[i]
		}
	}
	if found == nil {
		t.Fatalf("no new device recorded for 127.0.0.7: %+v", list.Devices)
	}
	if found.Name != "emmas-ipad" {
		t.Errorf("new device named %q, want emmas-ipad from the leases", found.Name)
	}
	found.New, found.Profile, found.Name = false, "kid", "Emma's iPad"
	if code := c.do("PUT", "/api/v1/devices/"+found.ID, found, found); code != 200 || found.EffectiveProfile != "kid" {
		t.Fatalf("claim: %d %+v", code, found)
	}
	if addr, text := ask(t, e, "127.0.0.7", "bet365.com"); addr != "0.0.0.0" || !strings.Contains(text, "profile=kid") {
		t.Fatalf("claimed device: %q %q, want the kid block", addr, text)
	}
}

// BenchmarkChangeToEffect measures a parent's change reaching DNS: an API
// write assigning a device another profile, then the device's next query,
// which must already follow the new profile. One op is both.
func BenchmarkChangeToEffect(b *testing.B) {
	e := startHTTP(b, apiConfig(b), dnstest.Zone(b, policyRecords...))
	c := newAPIClient(b, e)
	var dev apiDevice
	if code := c.do("POST", "/api/v1/devices", map[string]any{"name": "tablet", "profile": "kid", "ips": []string{"127.0.0.4"}}, &dev); code != 201 {
		b.Fatalf("create device: %d", code)
	}
	want := map[string]string{"kid": "0.0.0.0", "adult": "192.0.2.50"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dev.Profile = "adult"
		if i%2 == 1 {
			dev.Profile = "kid"
		}
		if code := c.do("PUT", "/api/v1/devices/"+dev.ID, dev, &dev); code != 200 {
			b.Fatalf("put: %d", code)
		}
		if addr, _ := ask(b, e, "127.0.0.4", "bet365.com"); addr != want[dev.Profile] {
			b.Fatalf("after switching to %s: %s, want %s", dev.Profile, addr, want[dev.Profile])
		}
	}
}

// TestBlockPage: with the block-page address, a browser on a device that
// asks for a blocked site over plain HTTP is told what was blocked and why.
func TestBlockPage(t *testing.T) {
	e := startListening(t, `http: "127.0.0.1:0", block_page: "127.0.0.1:0"`,
		apiConfig(t)+"blocking: {mode: address, address: [127.0.0.1]}\nprofiles:\n  kid2: {preset: kid}\ndevices:\n  - {name: kid-laptop, ip: 127.0.0.1, profile: kid2}\n",
		dnstest.Zone(t, policyRecords...))
	if addr, _ := ask(t, e, "127.0.0.1", "bet365.com"); addr != "127.0.0.1" {
		t.Fatalf("blocked answer %q, want the block-page address", addr)
	}
	tests := []struct {
		host     string
		wantCode int
		want     string
	}{
		{"bet365.com", http.StatusForbidden, "blocked on kid-laptop"},
		{"www.example.org", http.StatusOK, "not blocked"},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest("GET", "http://"+e.app.BlockPageAddr()+"/some/page", nil)
		req.Host = tc.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.wantCode || !strings.Contains(string(body), tc.want) {
			t.Errorf("block page for %s: %d, want %d containing %q:\n%s", tc.host, resp.StatusCode, tc.wantCode, tc.want, body)
		}
		if tc.wantCode == http.StatusForbidden && !strings.Contains(string(body), "Gambling") {
			t.Errorf("block page for %s does not name the category:\n%s", tc.host, body)
		}
	}
}

// TestMetricsEndpoint: with a bearer token, /metrics shows the queries
// by decision and the blocks by category.
func TestMetricsEndpoint(t *testing.T) {
	e := startHTTP(t, apiConfig(t)+"profiles:\n  kid2: {preset: kid}\ndevices:\n  - {name: kid-laptop, ip: 127.0.0.5, profile: kid2}\n", dnstest.Zone(t, policyRecords...))
	c := newAPIClient(t, e)
	var tok struct{ Token string }
	if code := c.do("POST", "/api/v1/tokens", map[string]string{"name": "prometheus", "scope": "metrics"}, &tok); code != 201 {
		t.Fatalf("token: %d", code)
	}
	ask(t, e, "127.0.0.5", "bet365.com")
	ask(t, e, "127.0.0.5", "www.example.org")
	req, _ := http.NewRequest("GET", "http://"+e.app.HTTPAddr()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		// client_golang writes labels sorted by name.
		`hearth_queries_total{decision="blocked",transport="udp"} 1`,
		`hearth_queries_total{decision="allowed",transport="udp"} 1`,
		`hearth_blocked_total{tag="gambling"} 1`,
		`hearth_cache_misses_total 1`,
		`hearth_upstream_duration_seconds_count{result="ok",upstream=`,
		"hearth_index_names ",
		`hearth_source_rules{source="config-gambling-0",tag="gambling"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// memory_limit: auto sets the runtime's limit from the budgets: at
	// least the 64 MiB cache, the base and the query log's bound.
	if e.app.qlog == nil {
		t.Fatal("the query log is off: the limit's test needs it on")
	}
	if m := regexp.MustCompile(`(?m)^hearth_memory_limit_bytes (\S+)$`).FindSubmatch(body); m == nil {
		t.Error("/metrics lacks hearth_memory_limit_bytes")
	} else if v, _ := strconv.ParseFloat(string(m[1]), 64); v < float64(memoryBase+64<<20+e.app.qlog.MemoryBound()) {
		t.Errorf("hearth_memory_limit_bytes %s, want at least the base, the cache budget and the query log's bound", m[1])
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// TestQueryLogPrivacy: a profile that opts out keeps its devices' queries
// out of the log, and addresses are truncated as configured.
func TestQueryLogPrivacy(t *testing.T) {
	e := startHTTP(t, apiConfig(t)+`profiles:
  private: {preset: adult, query_log: false}
devices:
  - {name: parents, ip: 127.0.0.6, profile: private}
query_log: {ipv4_prefix: 24}
`, dnstest.Zone(t, policyRecords...))
	c := newAPIClient(t, e)
	ask(t, e, "127.0.0.6", "www.example.org")
	ask(t, e, "127.0.0.8", "www.example.org")
	if err := e.app.qlog.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Rows []struct{ Name, Client, Device, Profile string }
	}
	if code := c.do("GET", "/api/v1/querylog?name=example.org", nil, &log); code != 200 {
		t.Fatalf("query log: %d", code)
	}
	if len(log.Rows) != 1 || log.Rows[0].Device == "parents" || log.Rows[0].Client != "127.0.0.0" {
		t.Errorf("rows %+v, want only the other device's query, its address cut to 127.0.0.0", log.Rows)
	}
}

// TestQueryLogCached: the log says which answers came from the cache (it
// said false for every row before the cache reported its hits).
func TestQueryLogCached(t *testing.T) {
	e := startHTTP(t, apiConfig(t), dnstest.Zone(t, policyRecords...))
	c := newAPIClient(t, e)
	ask(t, e, "127.0.0.8", "www.example.org")
	ask(t, e, "127.0.0.8", "www.example.org")
	if err := e.app.qlog.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Rows []struct {
			Name   string
			Time   time.Time
			Cached bool
		}
	}
	if code := c.do("GET", "/api/v1/querylog?name=www.example.org", nil, &log); code != 200 {
		t.Fatalf("query log: %d", code)
	}
	if len(log.Rows) != 2 {
		t.Fatalf("rows %+v, want the two queries", log.Rows)
	}
	// Newest first: the second query was answered from the cache.
	if !log.Rows[0].Cached || log.Rows[1].Cached {
		t.Errorf("cached: newest %v, oldest %v; want true, false", log.Rows[0].Cached, log.Rows[1].Cached)
	}
}

// TestAPIRoutes calls every route of this package's API once with good
// input and once with bad, checking the status and, for the bad, that the
// message names the field.
func TestAPIRoutes(t *testing.T) {
	e := startHTTP(t, apiConfig(t), dnstest.Zone(t, policyRecords...))
	c := newAPIClient(t, e)
	var dev apiDevice
	if code := c.do("POST", "/api/v1/devices", map[string]any{"name": "Leo's phone", "ips": []string{"127.0.0.9"}}, &dev); code != 201 || dev.ID != "leos-phone" {
		t.Fatalf("create device: %d %+v", code, dev)
	}
	type hh struct {
		ID, Name, TimeZone string `json:",omitempty"`
		Version            int64
	}
	tests := []struct {
		method, path string
		body         any
		want         int
		wantIn       string // in the answer
	}{
		{"GET", "/api/v1/openapi.json", nil, 200, `"openapi"`},
		{"GET", "/api/v1/catalog", nil, 200, `"gambling"`},
		{"GET", "/api/v1/sources", nil, 200, `"config-gambling-0"`},
		{"GET", "/api/v1/settings", nil, 200, `"configured":false`},
		{"PUT", "/api/v1/settings", map[string]string{"time_zone": "Mars/Olympus"}, 400, "time_zone"},
		{"PUT", "/api/v1/settings", map[string]string{"default_profile": "nope"}, 400, "default_profile"},
		{"PUT", "/api/v1/settings", map[string]string{"time_zone": "Europe/Paris", "default_profile": "teen"}, 200, `"configured":true`},
		{"GET", "/api/v1/households", nil, 200, `"home"`},
		{"POST", "/api/v1/households", map[string]string{"name": "Grandma's"}, 201, `"grandmas"`},
		{"POST", "/api/v1/households", map[string]string{"id": "Bad Id"}, 400, "id"},
		{"GET", "/api/v1/households/grandmas", nil, 200, `"Grandma's"`},
		{"GET", "/api/v1/households/nobody", nil, 404, "not found"},
		{"PUT", "/api/v1/households/grandmas", hh{ID: "grandmas", Name: "Gran", Version: 1}, 200, `"Gran"`},
		{"PUT", "/api/v1/households/grandmas", hh{ID: "grandmas", Name: "Gran", Version: 1}, 409, "grandmas"},
		{"DELETE", "/api/v1/households/grandmas", nil, 204, ""},
		{"GET", "/api/v1/profiles", nil, 200, `"provisioned":true`},
		{"GET", "/api/v1/profiles/kid", nil, 200, `"preset":"kid"`},
		{"PUT", "/api/v1/profiles/kid", map[string]any{"id": "kid", "name": "Kid", "version": 1}, 403, "read-only"},
		{"DELETE", "/api/v1/profiles/kid", nil, 403, "read-only"},
		{"POST", "/api/v1/profiles", map[string]any{"name": "Bedtime test", "schedules": []map[string]any{{"name": "bed", "days": "daily", "from": "25:00", "to": "07:00", "pause": true}}}, 400, "schedules[0].from"},
		{"POST", "/api/v1/profiles", map[string]any{"name": "Teen plus", "preset": "teen", "youtube": "loud"}, 400, "youtube"},
		{"POST", "/api/v1/profiles", map[string]any{"name": "Teen plus", "preset": "teen", "unknown_field": 1}, 400, "unknown_field"},
		{"POST", "/api/v1/profiles", map[string]any{"name": "Teen plus", "preset": "teen"}, 201, `"teen-plus"`},
		{"DELETE", "/api/v1/profiles/teen-plus", nil, 204, ""},
		{"GET", "/api/v1/devices", nil, 200, `"leos-phone"`},
		{"GET", "/api/v1/devices/leos-phone", nil, 200, `"effective_profile":"teen"`},
		{"POST", "/api/v1/devices", map[string]any{"name": "x", "macs": []string{"zz"}}, 400, "macs[0]"},
		{"POST", "/api/v1/devices", map[string]any{"name": "x", "profile": "nope"}, 400, "profile"},
		{"POST", "/api/v1/devices", map[string]any{"name": ""}, 400, "name"},
		{"POST", "/api/v1/grants", map[string]any{"device": "leos-phone", "kind": "allow", "target": "not a name", "minutes": 5}, 400, "target"},
		{"POST", "/api/v1/grants", map[string]any{"device": "leos-phone", "kind": "nap", "minutes": 5}, 400, "kind"},
		{"POST", "/api/v1/grants", map[string]any{"device": "nobody", "kind": "pause", "minutes": 5}, 400, "device"},
		{"POST", "/api/v1/grants", map[string]any{"device": "leos-phone", "kind": "allow", "target": "youtube", "minutes": 99999}, 400, "minutes"},
		{"POST", "/api/v1/grants", map[string]any{"device": "leos-phone", "kind": "allow", "target": "youtube", "minutes": 30}, 201, `"youtube"`},
		{"GET", "/api/v1/grants?device=leos-phone", nil, 200, `"youtube"`},
		{"POST", "/api/v1/pause", map[string]any{"minutes": 10}, 201, `"pause"`},
		{"POST", "/api/v1/pause", map[string]any{}, 400, "minutes"},
		{"DELETE", "/api/v1/pause", nil, 204, ""},
		{"GET", "/api/v1/querylog?action=sleeping", nil, 400, "action"},
		{"GET", "/api/v1/querylog?since=yesterday", nil, 400, "since"},
		{"GET", "/api/v1/querylog?limit=5000", nil, 400, "limit"},
		{"GET", "/api/v1/querylog", nil, 200, `"rows"`},
		{"GET", "/api/v1/stats?until=2020-01-01T00:00:00Z", nil, 400, "since"},
		{"GET", "/api/v1/stats", nil, 200, `"top_blocked"`},
		{"GET", "/api/v1/stats?since=2026-10-28T00:00:00Z", nil, 200, `"daily":[`},
		{"GET", "/api/v1/explain?name=bet365.com", nil, 400, "device"},
		{"GET", "/api/v1/explain?name=bet365.com&device=leos-phone&type=BOGUS", nil, 400, "type"},
		{"GET", "/api/v1/explain?name=bet365.com&client=not-an-ip", nil, 400, "client"},
		{"GET", "/api/v1/explain?name=bet365.com&device=leos-phone", nil, 200, `"category"`},
		{"DELETE", "/api/v1/devices/leos-phone", nil, 204, ""},
		{"GET", "/api/v1/devices/leos-phone", nil, 404, "not found"},
	}
	for _, tc := range tests {
		var raw json.RawMessage
		code := c.do(tc.method, tc.path, tc.body, &raw)
		if code != tc.want || !strings.Contains(string(raw), tc.wantIn) {
			t.Errorf("%s %s: %d %s, want %d containing %q", tc.method, tc.path, code, raw, tc.want, tc.wantIn)
		}
	}
}
