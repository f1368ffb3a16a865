package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// budgetConfig: Leo's tablet (127.0.0.2) may play games 60 minutes on
// school days and 120 at weekends, in Paris time; the test clock starts on
// Friday 2026-11-27 at 13:00 in Paris.
const budgetConfig = `profiles:
  leo:
    preset: kid
    time_zone: Europe/Paris
    budgets:
      - {tag: games, minutes: 60, days: [weekdays]}
      - {tag: games, minutes: 120, days: [weekends]}
      - {tag: video, minutes: 30}
devices:
  - {name: leo-tablet, ip: 127.0.0.2, profile: leo}
default_profile: leo
lists: {defaults: false}
`

var budgetRecords = []string{
	"www.roblox.com. 300 IN A 192.0.2.60",
	"apis.roblox.com. 300 IN A 192.0.2.61",
	"tr.rbxcdn.com. 300 IN A 192.0.2.62",
	"ephemeralcounters.api.roblox.com. 300 IN A 192.0.2.63",
	"www.example.org. 300 IN A 192.0.2.54",
}

// traceQuery is one query of a recorded trace: At after its start.
type traceQuery struct {
	At   time.Duration
	Name string
}

// readTrace reads a trace of testdata: "<seconds> <name>" per line,
// "#" comments.
func readTrace(t *testing.T, path string) []traceQuery {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []traceQuery
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		f := strings.Fields(s)
		sec, err := strconv.Atoi(f[0])
		if len(f) != 2 || err != nil {
			t.Fatalf("%s:%d: want <seconds> <name>", path, line)
		}
		out = append(out, traceQuery{time.Duration(sec) * time.Second, f[1]})
	}
	return out
}

// budgetOf reads a device's budget from the API.
func budgetOf(t *testing.T, c *apiClient, device, budget string) (used, left int, spent bool, text string) {
	t.Helper()
	var d struct {
		Budgets []struct {
			Budget     string
			Used, Left int
			Spent      bool
			Text       string
		}
	}
	if code := c.do("GET", "/api/v1/devices/"+device, nil, &d); code != 200 {
		t.Fatalf("GET device %s: %d", device, code)
	}
	for _, b := range d.Budgets {
		if b.Budget == budget {
			return b.Used, b.Left, b.Spent, b.Text
		}
	}
	t.Fatalf("device %s has no %s budget: %+v", device, budget, d.Budgets)
	return 0, 0, false, ""
}

// TestTimeBudgetUsedUpOverDNS (#15): Leo's tablet plays Roblox over real
// DNS queries while the fake clock runs: a recorded trace of an idle
// hour (background telemetry only), then play. Background queries count
// nothing; after 60 active minutes the games budget is used up and
// Roblox is blocked with "time budget used" (EDE, API, block page,
// explain); 15 minutes of extra time from the parent unblock it for 15
// more active minutes; at midnight in Paris the weekend's budget starts.
// Before, there were no budgets: every query was answered.
func TestTimeBudgetUsedUpOverDNS(t *testing.T) {
	e := startListening(t, `http: "127.0.0.1:0", block_page: "127.0.0.1:0"`, budgetConfig+"blocking: {mode: address, address: [127.0.0.1]}\n", dnstest.Zone(t, budgetRecords...))
	c := newAPIClient(t, e)
	if code := c.do("PUT", "/api/v1/settings", map[string]string{"time_zone": "Europe/Paris"}, nil); code != 200 {
		t.Fatalf("settings: %d", code)
	}
	const tablet = "127.0.0.2"
	start := e.clock.Now()

	// The recorded idle hour: the app's telemetry, every few minutes.
	for _, q := range readTrace(t, "testdata/budget-idle.trace") {
		e.clock.Advance(start.Add(q.At).Sub(e.clock.Now()))
		if addr, text := ask(t, e, tablet, q.Name); addr == "0.0.0.0" || addr == "127.0.0.1" {
			t.Fatalf("idle %s: blocked %q", q.Name, text)
		}
	}
	if used, left, _, _ := budgetOf(t, c, "leo-tablet", "games"); used != 0 || left != 60 {
		t.Fatalf("after the idle hour: used %d left %d, want 0 and 60", used, left)
	}

	// Play: a query a minute (and a second one in the same minute, which
	// adds nothing) until the budget blocks.
	play := func(minutes int) (allowed int, blockedText string) {
		t.Helper()
		for range minutes {
			e.clock.Advance(time.Minute)
			addr, text := ask(t, e, tablet, "www.roblox.com")
			if addr != "192.0.2.60" {
				return allowed, text
			}
			ask(t, e, tablet, "tr.rbxcdn.com")
			allowed++
		}
		return allowed, ""
	}
	allowed, text := play(90)
	if allowed != 60 || !strings.Contains(text, "time budget used budget=games service=roblox") {
		t.Fatalf("played %d minutes, then %q; want 60, then a time budget block", allowed, text)
	}
	// Background names are blocked with the service; others are not.
	if addr, text := ask(t, e, tablet, "ephemeralcounters.api.roblox.com"); addr != "127.0.0.1" || !strings.Contains(text, "time budget used") {
		t.Errorf("telemetry after the budget: %q %q", addr, text)
	}
	if addr, _ := ask(t, e, tablet, "www.example.org"); addr != "192.0.2.54" {
		t.Errorf("an unbudgeted name after the budget: %q", addr)
	}
	if used, left, spent, text := budgetOf(t, c, "leo-tablet", "games"); used != 60 || left != 0 || !spent || !strings.Contains(text, "time budget used until 00:00") {
		t.Errorf("API after the budget: used %d left %d spent %v %q", used, left, spent, text)
	}
	var ex struct{ Reason, Text string }
	if code := c.do("GET", "/api/v1/explain?device=leo-tablet&name=www.roblox.com", nil, &ex); code != 200 || ex.Reason != "budget" || !strings.Contains(ex.Text, "time budget used") {
		t.Errorf("explain: %d %+v", code, ex)
	}
	if body := blockPage(t, e, "www.roblox.com", tablet); !strings.Contains(body, "Time budget used") {
		t.Errorf("block page:\n%s", body)
	}
	if err := e.app.qlog.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var logged struct {
		Rows []struct{ Name, Action, Reason, Text string }
	}
	if code := c.do("GET", "/api/v1/querylog?device=leo-tablet&action=blocked&name=www.roblox.com", nil, &logged); code != 200 || len(logged.Rows) == 0 ||
		logged.Rows[0].Reason != "budget" || !strings.Contains(logged.Rows[0].Text, "time budget used") {
		t.Errorf("query log: %d %+v, want the block with reason budget", code, logged.Rows)
	}

	// Extra time: a parent's grant of 15 minutes, for today only.
	for _, tc := range []struct {
		grant    map[string]any
		wantCode int
	}{
		{map[string]any{"device": "leo-tablet", "kind": "extra-time", "target": "social", "minutes": 15}, 400},
		{map[string]any{"device": "leo-tablet", "kind": "extra-time", "target": "games", "minutes": 1000}, 400},
		{map[string]any{"device": "nobody", "kind": "extra-time", "target": "games", "minutes": 15}, 400},
		{map[string]any{"device": "leo-tablet", "kind": "extra-time", "target": "games", "minutes": 15}, 201},
	} {
		if code := c.do("POST", "/api/v1/grants", tc.grant, nil); code != tc.wantCode {
			t.Fatalf("grant %v: %d, want %d", tc.grant, code, tc.wantCode)
		}
	}
	if allowed, text := play(30); allowed != 15 || !strings.Contains(text, "time budget used") {
		t.Errorf("with extra time: played %d minutes then %q, want 15", allowed, text)
	}

	// Midnight in Paris (23:00 UTC): Saturday's 120 minutes begin.
	midnight := time.Date(2026, 11, 27, 23, 0, 30, 0, time.UTC)
	e.clock.Advance(midnight.Sub(e.clock.Now()))
	if addr, text := ask(t, e, tablet, "www.roblox.com"); addr != "192.0.2.60" {
		t.Fatalf("after midnight: %q %q", addr, text)
	}
	if used, left, spent, _ := budgetOf(t, c, "leo-tablet", "games"); used != 1 || left != 119 || spent {
		t.Errorf("after midnight: used %d left %d spent %v, want 1, 119", used, left, spent)
	}
}

// blockPage fetches the block page for host as from would.
func blockPage(t *testing.T, e *env, host, from string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+e.app.BlockPageAddr()+"/", nil)
	req.Host = host
	// From the device's own address: the page explains for the device
	// that asks.
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// TestBudgetUsageSurvivesRestart (#15): the minutes counted before a
// restart still count after it (they are saved in the store), so
// restarting Hearth does not give a child a fresh budget.
func TestBudgetUsageSurvivesRestart(t *testing.T) {
	e := startListening(t, `http: "127.0.0.1:0"`, budgetConfig, dnstest.Zone(t, budgetRecords...))
	const tablet = "127.0.0.2"
	for range 45 {
		e.clock.Advance(time.Minute)
		if addr, text := ask(t, e, tablet, "apis.roblox.com"); addr != "192.0.2.61" {
			t.Fatalf("playing: %q %q", addr, text)
		}
	}
	cfg := e.app.cfg
	if err := e.app.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, nil, WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	e2 := &env{app: a, clock: e.clock, udp: a.Addrs().UDP[0]}
	allowed := 0
	for range 30 {
		e.clock.Advance(time.Minute)
		if addr, _ := ask(t, e2, tablet, "apis.roblox.com"); addr != "192.0.2.61" {
			break
		}
		allowed++
	}
	if allowed != 15 {
		t.Errorf("after a restart at 45 minutes: %d more allowed, want 15", allowed)
	}
}

// TestBrowserBudgetDisplay (#15) drives the dashboard in headless
// Chromium: a device that used up its games budget over DNS shows "time
// budget used" with its bar full; "+15 min" gives extra time, after which
// the dashboard shows 15 minutes left and the device's next DNS answer for
// Roblox is allowed again.
func TestBrowserBudgetDisplay(t *testing.T) {
	ctx := browser(t)
	// The browser runs on the real clock: bring the server's to it, in a
	// zone where it is noon, so the test never crosses a midnight.
	now := time.Now()
	offset := (12 - now.UTC().Hour() + 24) % 24
	if offset > 14 {
		offset -= 24
	}
	zone := "Etc/GMT"
	if offset != 0 {
		zone = fmt.Sprintf("Etc/GMT%+d", -offset) // POSIX signs: Etc/GMT-2 is UTC+2
	}
	cfg := fmt.Sprintf("profiles:\n  leo:\n    preset: kid\n    time_zone: %s\n    budgets: [{tag: games, minutes: 30}]\n"+
		"devices:\n  - {name: leo-tablet, ip: 127.0.0.2, profile: leo}\ndefault_profile: leo\nlists: {defaults: false}\n", zone)
	e := startHTTP(t, cfg, dnstest.Zone(t, budgetRecords...))
	e.clock.Advance(time.Since(e.clock.Now()))
	c := newAPIClient(t, e)
	if code := c.do("PUT", "/api/v1/settings", map[string]string{"time_zone": zone}, nil); code != 200 {
		t.Fatalf("settings: %d", code)
	}
	const tablet = "127.0.0.2"
	for i := range 31 {
		e.clock.Advance(time.Minute)
		addr, text := ask(t, e, tablet, "www.roblox.com")
		if (addr == "0.0.0.0") != (i == 30) {
			t.Fatalf("minute %d: %q %q", i, addr, text)
		}
	}

	shots := artifacts(t)
	textRow := tid("dash-budget-text-leo-tablet-games")
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(412, 915, chromedp.EmulateMobile),
		chromedp.Navigate("http://"+e.app.HTTPAddr()+"/"),
		chromedp.WaitVisible(tid("screen-login")),
		chromedp.SendKeys(tid("login-password"), "correct horse battery"),
		chromedp.Click(tid("login-submit")),
		// Settings were saved above: no wizard.
		chromedp.WaitVisible(textRow),
		screenshot(shots, "budget-used"),
	)
	if err != nil {
		if buf, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
			os.WriteFile(filepath.Join(shots, "budget-failed.png"), buf, 0o644)
		}
		t.Fatalf("login to the dashboard: %v (screenshot budget-failed.png in %s)", err, shots)
	}
	row, err := chromedp.Run(ctx, chromedp.Text(tid("dash-budget-leo-tablet-games")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(row, "Games") || !strings.Contains(row, "30 of 30 min used, time budget used until 00:00") {
		t.Errorf("dashboard budget row %q: want games used up until midnight", row)
	}
	err = chromedp.Do(ctx, chromedp.Click(tid("extra-leo-tablet-games-15")), chromedp.WaitVisible(tid("toast")))
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(document.querySelector('[data-testid="dash-budget-text-leo-tablet-games"]') || {}).textContent === "games: 30 of 45 min used (15 extra), 15 min left"`, chromedp.WithPollingTimeout(15*time.Second)))
	}
	if err == nil {
		err = chromedp.Do(ctx, screenshot(shots, "budget-extra-time"))
	}
	if err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Text(textRow))
		t.Fatalf("extra time: %v (row says %q)", err, got)
	}
	if err := e.app.sync.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if addr, text := ask(t, e, tablet, "www.roblox.com"); addr != "192.0.2.60" {
		t.Errorf("after extra time: %q %q, want Roblox answered", addr, text)
	}
}

// TestBrowserProfileBudgets (#15): a parent gives a profile made on the
// page a time budget for social media (30 minutes on school days, 45 at
// weekends) in its editor; the store holds it in the one profile form, and
// the device with that profile shows the budget on the API.
func TestBrowserProfileBudgets(t *testing.T) {
	ctx := browser(t)
	e := startHTTP(t, apiConfig(t), dnstest.Zone(t, budgetRecords...))
	e.clock.Advance(time.Since(e.clock.Now()))
	c := newAPIClient(t, e)
	if code := c.do("PUT", "/api/v1/settings", map[string]string{"time_zone": "UTC"}, nil); code != 200 {
		t.Fatalf("settings: %d", code)
	}
	if code := c.do("POST", "/api/v1/profiles", map[string]any{"name": "Mia", "preset": "teen"}, nil); code != 201 {
		t.Fatalf("profile: %d", code)
	}
	if code := c.do("POST", "/api/v1/devices", map[string]any{"name": "Mia's phone", "profile": "mia", "ips": []string{"127.0.0.6"}}, nil); code != 201 {
		t.Fatalf("device: %d", code)
	}
	shots := artifacts(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+e.app.HTTPAddr()+"/"),
		chromedp.WaitVisible(tid("screen-login")),
		chromedp.SendKeys(tid("login-password"), "correct horse battery"),
		chromedp.Click(tid("login-submit")),
		chromedp.WaitVisible(tid("screen-dashboard")),
		chromedp.Navigate("http://"+e.app.HTTPAddr()+"/#/profiles/mia"),
		chromedp.WaitVisible(tid("budget-empty")),
		chromedp.Click(tid("budget-add")),
		chromedp.WaitVisible(tid("budget-tag-0")),
		chromedp.SetValue(tid("budget-tag-0"), "social"),
		chromedp.SetValue(tid("budget-school-0"), "30"),
		chromedp.SetValue(tid("budget-weekend-0"), "45"),
		screenshot(shots, "profile-budgets"),
		chromedp.Click(tid("profile-save")),
		chromedp.WaitVisible(toastSaying("Saved")),
	)
	if err != nil {
		if buf, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
			os.WriteFile(filepath.Join(shots, "profile-budgets-failed.png"), buf, 0o644)
		}
		t.Fatalf("profile budgets: %v", err)
	}
	var p struct {
		Budgets []struct {
			Tag     string
			Minutes int
			Days    []string
		}
	}
	if code := c.do("GET", "/api/v1/profiles/mia", nil, &p); code != 200 {
		t.Fatalf("profile: %d", code)
	}
	got := fmt.Sprint(p.Budgets)
	if want := "[{social 30 [weekdays]} {social 45 [weekends]}]"; got != want {
		t.Errorf("stored budgets %s, want %s", got, want)
	}
	if err := e.app.sync.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := 30
	if wd := e.clock.Now().Weekday(); wd == time.Saturday || wd == time.Sunday {
		want = 45
	}
	var d struct {
		Budgets []struct {
			Budget string
			Limit  int
		}
	}
	if code := c.do("GET", "/api/v1/devices/mias-phone", nil, &d); code != 200 || len(d.Budgets) != 1 || d.Budgets[0].Budget != "social" || d.Budgets[0].Limit != want {
		t.Errorf("device budgets: %d %+v, want social with %d minutes today", code, d.Budgets, want)
	}
}
