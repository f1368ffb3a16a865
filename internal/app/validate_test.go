package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlite"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// persistent is a Hearth whose config, and so data directory, outlives
// one App: a test can stop it and start it again, as `hearth serve` after
// a reboot.
type persistent struct {
	t   testing.TB
	doc string
	up  *dnstest.Server
	e   *env
}

// startPersistent starts Hearth with the HTTP listener and extra config.
func startPersistent(t testing.TB, extra string) *persistent {
	t.Helper()
	p := &persistent{t: t}
	t.Cleanup(func() {
		if p.e != nil {
			p.e.app.Shutdown(context.Background())
		}
	})
	cert := dnstest.NewCert(t)
	p.up = dnstest.NewServer(t, dnstest.Zone(t, policyRecords...))
	p.doc = strings.Replace(testConfigDoc(t, cert, p.up.Addr, extra), `http: ""`, `http: "127.0.0.1:0"`, 1)
	if err := p.start(); err != nil {
		t.Fatalf("first start: %v", err)
	}
	return p
}

// start builds and starts an App of p's config, as `hearth serve` does;
// its error is what would make serve exit 1.
func (p *persistent) start() error {
	cfg, err := config.Parse("test.yaml", []byte(p.doc))
	if err != nil {
		return err
	}
	clock := dnstest.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	a, err := New(cfg, nil, WithClock(clock.Now))
	if err != nil {
		return err
	}
	if err := a.Start(); err != nil {
		return err
	}
	addrs := a.Addrs()
	p.e = &env{app: a, up: p.up, clock: clock, udp: addrs.UDP[0], tcp: addrs.TCP[0]}
	return nil
}

// restart stops the running App and starts a new one on the same data.
func (p *persistent) restart() error {
	if err := p.e.app.Shutdown(context.Background()); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	p.e = nil
	return p.start()
}

// login opens an API session on the running App (setup is done); t
// receives the client's failures.
func (p *persistent) login(t testing.TB) *apiClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &apiClient{t: t, base: "http://" + p.e.app.HTTPAddr(), http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	var s struct{ CSRF string }
	if code := c.do("POST", "/api/v1/login", map[string]string{"user": "admin", "password": "correct horse battery"}, &s); code != http.StatusOK {
		t.Fatalf("login: %d", code)
	}
	c.csrf = s.CSRF
	return c
}

// answers reports whether the running App answers a DNS query.
func (p *persistent) answers() bool {
	r, _, err := clientFrom("127.0.0.1").Exchange(query("bet365.com", dns.TypeA), p.e.udp)
	return err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0
}

// TestAPIWriteCannotStopHearth is issue #9's first attack: one device
// write with an identifier the policy compiler cannot take (an all-zero
// MAC, a client id differing from another only in case, a zoned IPv6
// address) made every later change answer 500 and the next start fail.
// Each must now be refused with 400 or 409 naming the field or the other
// device, change nothing, and leave both the running server and the next
// start working.
func TestAPIWriteCannotStopHearth(t *testing.T) {
	tests := []struct {
		name string
		// first is written before the attack and must succeed.
		first map[string]any
		// attack is the write under test.
		attack   map[string]any
		wantCode int
		wantText string
	}{
		{name: "zero MAC", attack: map[string]any{"name": "tv", "macs": []string{"00:00:00:00:00:00"}}, wantCode: 400, wantText: "macs[0]"},
		{name: "broadcast MAC", attack: map[string]any{"name": "tv", "macs": []string{"ff:ff:ff:ff:ff:ff"}}, wantCode: 400, wantText: "macs[0]"},
		{name: "multicast MAC", attack: map[string]any{"name": "tv", "macs": []string{"01:00:5e:00:00:fb"}}, wantCode: 400, wantText: "macs[0]"},
		{name: "zoned IP", attack: map[string]any{"name": "tv", "ips": []string{"fe80::1%eth0"}}, wantCode: 400, wantText: "ips[0]"},
		{name: "bad client id", attack: map[string]any{"name": "tv", "client_ids": []string{"kid_1"}}, wantCode: 400, wantText: "client_ids[0]"},
		{name: "bad host name", attack: map[string]any{"name": "tv", "hostname": "a b"}, wantCode: 400, wantText: "hostname"},
		{
			// Chosen client ids, the way two could differ only in case,
			// are no longer taken at all: Hearth makes DNS ids. Stored
			// duplicates are set aside (TestBadStoreRowsAreSetAside).
			name:     "client id differing in case",
			attack:   map[string]any{"name": "parent", "client_ids": []string{"Kid1"}},
			wantCode: 400, wantText: "client_ids",
		},
		{
			name:     "same MAC in another spelling",
			first:    map[string]any{"name": "kid", "macs": []string{"a8:bb:cc:dd:ee:01"}},
			attack:   map[string]any{"name": "parent", "macs": []string{"A8-BB-CC-DD-EE-01"}},
			wantCode: 409, wantText: "device kid",
		},
		{
			name:     "same IP mapped",
			first:    map[string]any{"name": "kid", "ips": []string{"127.0.0.9"}},
			attack:   map[string]any{"name": "parent", "ips": []string{"::ffff:127.0.0.9"}},
			wantCode: 409, wantText: "device kid",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startPersistent(t, apiConfig(t))
			c := newAPIClient(t, p.e)
			if tt.first != nil {
				if code := c.do("POST", "/api/v1/devices", tt.first, nil); code != http.StatusCreated {
					t.Fatalf("first device: %d", code)
				}
			}
			var before struct{ Devices []apiDevice }
			c.do("GET", "/api/v1/devices", nil, &before)

			var res struct{ Error string }
			if code := c.do("POST", "/api/v1/devices", tt.attack, &res); code != tt.wantCode || !strings.Contains(res.Error, tt.wantText) {
				t.Errorf("attack: %d %q, want %d naming %q", code, res.Error, tt.wantCode, tt.wantText)
			}
			var after struct{ Devices []apiDevice }
			c.do("GET", "/api/v1/devices", nil, &after)
			if len(after.Devices) != len(before.Devices) {
				t.Errorf("the refused write changed the devices: %d before, %d after", len(before.Devices), len(after.Devices))
			}
			// A later change still works, and its DNS answer follows it.
			if code := c.do("POST", "/api/v1/devices", map[string]any{"name": "tablet", "profile": "kid", "ips": []string{"127.0.0.4"}}, nil); code != http.StatusCreated {
				t.Fatalf("a later change: %d, want 201", code)
			}
			if addr, _ := ask(t, p.e, "127.0.0.4", "bet365.com"); addr != "0.0.0.0" {
				t.Errorf("tablet after the later change: %q, want the kid block", addr)
			}
			if err := p.restart(); err != nil {
				t.Fatalf("the next start failed: %v", err)
			}
			if !p.answers() {
				t.Fatal("no DNS answer after the restart")
			}
			if addr, _ := ask(t, p.e, "127.0.0.4", "bet365.com"); addr != "0.0.0.0" {
				t.Errorf("tablet after the restart: %q, want the kid block", addr)
			}
		})
	}
}

// TestBadStoreRowsAreSetAside: rows that fail validation, written by an
// older version or by someone editing the database, no longer stop the
// start. Each is set aside and reported in GET /api/v1/set-aside (the web
// banner); every other device keeps its profile.
func TestBadStoreRowsAreSetAside(t *testing.T) {
	p := startPersistent(t, apiConfig(t))
	newAPIClient(t, p.e) // setup, so that a login works after the restart
	if err := p.e.app.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.e = nil
	cfg, err := config.Parse("test.yaml", []byte(p.doc))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, &sqlite.Config{Path: StorePath(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	rows := []store.Device{
		{ID: "tablet", Name: "tablet", Profile: "kid", IPs: []string{"127.0.0.4"}},
		{ID: "zero", Name: "zero", Profile: "kid", MACs: []string{"00:00:00:00:00:00"}},
		{ID: "zoned", Name: "zoned", Profile: "kid", IPs: []string{"fe80::1%eth0"}},
		{ID: "kid", Name: "kid", Profile: "kid", ClientIDs: []string{"kid1"}},
		{ID: "parent", Name: "parent", Profile: "adult", ClientIDs: []string{"Kid1"}, IPs: []string{"127.0.0.5"}},
		{ID: "tv", Name: "tv", Profile: "adult", IPs: []string{"::ffff:127.0.0.4"}},
	}
	for _, d := range rows {
		d.Household = HomeHousehold
		if _, err := st.PutDevice(ctx, d); err != nil {
			t.Fatalf("writing %s: %v", d.ID, err)
		}
	}
	st.Close()

	if err := p.start(); err != nil {
		t.Fatalf("start with bad rows: %v", err)
	}
	if !p.answers() {
		t.Fatal("no DNS answer")
	}
	tests := []struct {
		from, want string
	}{
		{"127.0.0.4", "0.0.0.0"},    // tablet: kid; tv, later by id, does not take it
		{"127.0.0.5", "192.0.2.50"}, // parent: adult, by IP; its client id is kid's
	}
	for _, tt := range tests {
		if addr, text := ask(t, p.e, tt.from, "bet365.com"); addr != tt.want {
			t.Errorf("from %s: %q %q, want %s", tt.from, addr, text, tt.want)
		}
	}
	c := p.login(t)
	var s struct {
		SetAside []string `json:"set_aside"`
	}
	if code := c.do("GET", "/api/v1/set-aside", nil, &s); code != 200 {
		t.Fatalf("status: %d", code)
	}
	all := strings.Join(s.SetAside, "\n")
	for _, want := range []string{"device zero set aside: macs[0]", "device zoned set aside: ips[0]", "device parent: a client id belongs to device kid", "device tv: ip 127.0.0.4 belongs to device tablet"} {
		if !strings.Contains(all, want) {
			t.Errorf("status set_aside lacks %q:\n%s", want, all)
		}
	}
	// The parent fixes a set-aside device through the API, and the
	// banner's entry goes.
	var zero apiDevice
	c.do("GET", "/api/v1/devices/zero", nil, &zero)
	body := map[string]any{"id": "zero", "name": "zero", "profile": "kid", "macs": []string{"a8:bb:cc:dd:ee:01"}, "version": zero.Version}
	if code := c.do("PUT", "/api/v1/devices/zero", body, nil); code != 200 {
		t.Fatalf("fixing zero: %d", code)
	}
	c.do("GET", "/api/v1/set-aside", nil, &s)
	if strings.Contains(strings.Join(s.SetAside, "\n"), "device zero") {
		t.Errorf("zero still set aside after the fix: %v", s.SetAside)
	}
}

// TestBrowserBannerShowsSetAside: the parent sees the set-aside rows in
// the web page's banner after logging in.
func TestBrowserBannerShowsSetAside(t *testing.T) {
	ctx := browser(t)
	p := startPersistent(t, apiConfig(t))
	c := newAPIClient(t, p.e)
	if code := c.do("PUT", "/api/v1/settings", map[string]string{"default_profile": "adult"}, nil); code != 200 {
		t.Fatalf("settings: %d", code)
	}
	if err := p.e.app.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.e = nil
	cfg, err := config.Parse("test.yaml", []byte(p.doc))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), &sqlite.Config{Path: StorePath(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutDevice(context.Background(), store.Device{ID: "zero", Name: "zero", Household: HomeHousehold, MACs: []string{"00:00:00:00:00:00"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := p.start(); err != nil {
		t.Fatalf("start with a bad row: %v", err)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate("http://"+p.e.app.HTTPAddr()+"/"),
		chromedp.WaitVisible(tid("screen-login")),
		chromedp.SendKeys(tid("login-password"), "correct horse battery"),
		chromedp.Click(tid("login-submit")),
		chromedp.WaitVisible(tid("banner")),
	)
	if err != nil {
		t.Fatal(err)
	}
	banner, err := chromedp.Run(ctx, chromedp.Text(tid("banner")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(banner, "device zero set aside: macs[0]") || !strings.Contains(banner, "default profile") {
		t.Fatalf("banner %q, want the set-aside device and what it means", banner)
	}
}
