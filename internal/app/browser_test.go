package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// chromium returns the headless browser's path, skipping the test on a
// machine without it (but failing in CI, whose test command installs it).
func chromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed; scripts/test installs Debian's chromium package")
		}
		t.Skip("chromium not installed (apt-get install chromium): browser tests skipped")
	}
	return path
}

// browser starts headless Chromium with the flags this closed network
// needs (no background connections), a fresh profile and extra options
// (a time zone, say).
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// artifacts is where screenshots go: $HEARTH_ARTIFACTS (the test command
// sets it) or a temporary folder.
func artifacts(t *testing.T) string {
	dir := os.Getenv("HEARTH_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, "browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves a full-page PNG of the browser as dir/name.png.
func screenshot(dir, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		buf, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	})
}

// tid selects an element by its data-testid.
func tid(id string) string { return fmt.Sprintf(`[data-testid=%q]`, id) }

// TestBrowserParentFlow drives the web UI in headless Chromium as a parent
// would on a phone: the first-run wizard, a profile with bedtime, a new
// device given that profile, the block seen in the query log with its
// reason, and "allow for 30 min", after which the device's next DNS answer
// is allowed.
func TestBrowserParentFlow(t *testing.T) {
	ctx := browser(t)
	e := startHTTP(t, apiConfig(t), dnstest.Zone(t, policyRecords...))
	base := "http://" + e.app.HTTPAddr()
	shots := artifacts(t)
	shot := func(name string) chromedp.Action[chromedp.Void] { return screenshot(shots, name) }
	eval := func(js string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[any](js)(ctx, tg)
			return err
		})
	}
	failed := func(step string, err error) {
		t.Helper()
		if buf, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
			os.WriteFile(filepath.Join(shots, "failed-"+step+".png"), buf, 0o644)
		}
		t.Fatalf("%s: %v (screenshot failed-%s.png in %s)", step, err, step, shots)
	}
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			failed(step, err)
		}
	}

	// 1. First run: the setup code from the log (a wrong one first, which
	// is refused), a password, then time zone and the new-device profile.
	setupCode, needed, err := e.app.auth.SetupCode(context.Background())
	if err != nil || !needed {
		t.Fatalf("setup code: %q %v %v", setupCode, needed, err)
	}
	run("wizard-wrong-code",
		// A phone: Chrome's windows are at least 500 px wide.
		chromedp.EmulateViewport(412, 915, chromedp.EmulateMobile),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(tid("screen-wizard-1")),
		chromedp.SendKeys(tid("wizard-code"), "AAAA-BBBB-CCCC"),
		chromedp.SendKeys(tid("wizard-password"), "correct horse battery"),
		chromedp.SendKeys(tid("wizard-password2"), "correct horse battery"),
		chromedp.Click(tid("wizard-next")),
	)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('[data-testid="wizard-error"]').textContent.includes("wrong setup code")`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		failed("wizard-wrong-code", err)
	}
	if users, err := e.app.store.Users(context.Background()); err != nil || len(users) != 0 {
		t.Fatalf("a wrong setup code created users %v (%v)", users, err)
	}
	run("wizard",
		chromedp.SetValue(tid("wizard-code"), strings.ToLower(setupCode)),
		shot("01-wizard-password"),
		chromedp.Click(tid("wizard-next")),
		chromedp.WaitVisible(tid("screen-wizard-2")),
		chromedp.SetValue(tid("wizard-timezone"), "UTC"),
		chromedp.SetValue(tid("wizard-timezone-text"), "UTC"),
		chromedp.SetValue(tid("wizard-default-profile"), "adult"),
		shot("02-wizard-settings"),
		chromedp.Click(tid("wizard-finish")),
		chromedp.WaitVisible(tid("screen-dashboard")),
		shot("03-dashboard"),
	)
	users, err := e.app.store.Users(context.Background())
	if err != nil || len(users) != 1 {
		t.Fatalf("after the wizard: users %v, %v", users, err)
	}

	// 2. A profile for Emma from the kid preset, with bedtime now (the
	// test clock says 12:00 UTC).
	run("profile",
		chromedp.Click(tid("nav-profiles")),
		chromedp.WaitVisible(tid("screen-profiles")),
		chromedp.SendKeys(tid("profile-new-name"), "Emma"),
		chromedp.SetValue(tid("profile-new-preset"), "kid"),
		chromedp.Click(tid("profile-new-submit")),
		chromedp.WaitVisible(tid("screen-profile")),
		chromedp.Click(tid("schedule-add")),
		chromedp.WaitVisible(tid("schedule-name-0")),
		chromedp.SetValue(tid("schedule-name-0"), "bedtime"),
		chromedp.SetValue(tid("schedule-kind-0"), "pause"),
		chromedp.SetValue(tid("schedule-from-0"), "11:00"),
		chromedp.SetValue(tid("schedule-to-0"), "13:00"),
		eval(`for (const d of ["mon","tue","wed","thu","fri","sat","sun"]) { const c = document.querySelector('[data-testid="schedule-day-0-'+d+'"]'); if (!c.checked) c.click(); }`),
		shot("04-profile-bedtime"),
		chromedp.Click(tid("profile-save")),
	)
	if msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('[data-testid="profile-error"]')||{}).textContent||""`)); err == nil && msg != "" {
		t.Logf("profile form says: %s", msg)
	}
	// The page says "Saved" once the API answered, and the API answers
	// once the change is in effect: wait for the page, then check once.
	run("profile-saved", chromedp.WaitVisible(toastSaying("Saved")))
	if p, err := e.app.store.Profile(context.Background(), "emma"); err != nil || len(p.Schedules) != 1 || !p.Schedules[0].Pause || p.Schedules[0].From != "11:00" || len(p.Schedules[0].Days) != 7 {
		t.Fatalf("the profile saved: %+v, %v; want its bedtime", p, err)
	}
	// Reopened, the page reads the days back from the API's list.
	run("profile-reopen",
		chromedp.Navigate(base+"/#/profiles/emma"),
		chromedp.WaitVisible(tid("schedule-day-0-sun")),
	)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelectorAll('[data-testid^="schedule-day-0-"]:checked').length`)); err != nil || n != 7 {
		t.Fatalf("the reopened profile shows %v days ticked (%v), want 7", n, err)
	}

	// 3. The tablet asks once, is recorded as a new device, and the
	// parent gives it Emma's profile.
	const tablet = "127.0.0.4"
	if addr, _ := ask(t, e, tablet, "www.example.org"); addr != "192.0.2.54" {
		t.Fatalf("unknown tablet: %q, want allowed", addr)
	}
	id := waitNewDevice(t, e, tablet)
	run("assign",
		chromedp.Navigate(base+"/#/devices/"+id),
		chromedp.WaitVisible(tid("device-profile-select")),
		chromedp.SetValue(tid("device-profile-select"), "emma"),
		chromedp.Click(tid("device-save")),
	)
	run("device-saved", chromedp.WaitVisible(toastSaying("now gets")))
	if d, err := e.app.store.Device(context.Background(), id); err != nil || d.Profile != "emma" {
		t.Fatalf("the device saved: %+v, %v; want Emma's profile", d, err)
	}
	run("assigned", shot("05-device-assigned"))
	addr, text := ask(t, e, tablet, "www.example.org")
	if addr != "0.0.0.0" || !strings.Contains(text, "schedule=bedtime") {
		t.Fatalf("bedtime on the tablet: %q %q, want blocked by the bedtime schedule", addr, text)
	}

	// 4. The query log shows the block and why; allow it for 30 min.
	if err := e.app.qlog.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	run("log",
		chromedp.Click(tid("nav-log")),
		chromedp.WaitVisible(tid("screen-log")),
		chromedp.Click(tid("log-refresh")),
		chromedp.WaitVisible(`[data-name="www.example.org"][data-action="blocked"]`),
		shot("06-query-log-block"),
	)
	rowID, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-name="www.example.org"][data-action="blocked"]').dataset.testid.replace("log-row-","")`))
	if err != nil {
		failed("row", err)
	}
	reason, err := chromedp.Run(ctx, chromedp.Text(tid("log-reason-"+rowID)))
	if err != nil {
		failed("reason", err)
	}
	if !strings.Contains(reason, "bedtime") {
		t.Errorf("the log's reason %q does not name bedtime", reason)
	}
	run("allow",
		chromedp.SetValue(tid("log-allow-duration-"+rowID), "30"),
		chromedp.Click(tid("log-allow-"+rowID)),
	)
	run("allowed", chromedp.WaitVisible(toastSaying("allowed for")), shot("07-allowed-30-min"))
	if gs, err := e.app.store.Grants(context.Background(), id); err != nil || len(gs) != 1 || gs[0].Kind != "allow" || gs[0].Target != "www.example.org" {
		t.Fatalf("grants of the tablet: %+v, %v; want one allow of www.example.org", gs, err)
	}
	if addr, text := ask(t, e, tablet, "www.example.org"); addr != "192.0.2.54" {
		t.Fatalf("after allowing for 30 min: %q %q, want the real answer", addr, text)
	}
	e.clock.Advance(31 * time.Minute)
	if addr, _ := ask(t, e, tablet, "www.example.org"); addr != "0.0.0.0" {
		t.Fatalf("31 min later: %q, want bedtime again", addr)
	}

	// 5. The dashboard counts today's queries and blocks, hour by hour.
	if err := e.app.qlog.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	run("dashboard",
		chromedp.Click(tid("nav-dashboard")),
		chromedp.WaitVisible(tid("dash-hourly")),
		shot("08-dashboard-activity"),
	)
	blocked, err := chromedp.Run(ctx, chromedp.Text(tid("dash-blocked")))
	if err != nil {
		failed("dashboard-blocked", err)
	}
	if blocked != "2" {
		t.Errorf("dashboard blocked count %q, want 2 (bedtime before and after the allowance)", blocked)
	}

	// 6. Settings: a metrics-only token for Prometheus, expiring in 30
	// days, shown once; it reads /metrics and nothing else, is listed with
	// its scope, and is revoked with one click.
	run("token",
		chromedp.Click(tid("nav-settings")),
		chromedp.WaitVisible(tid("screen-settings")),
		chromedp.SendKeys(tid("token-name"), "prometheus"),
		chromedp.SetValue(tid("token-scope"), "metrics"),
		chromedp.SetValue(tid("token-expires"), "30"),
		chromedp.Click(tid("token-create")),
		chromedp.WaitVisible(tid("token-new-value")),
		shot("09-token-created"),
	)
	secret, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="token-new-value"]').value`))
	if err != nil {
		failed("token-value", err)
	}
	toks, err := e.app.store.Tokens(context.Background())
	if err != nil || len(toks) != 1 || toks[0].Scope != "metrics" || toks[0].Expires.IsZero() {
		t.Fatalf("tokens after the Settings form: %+v %v, want one metrics token with an expiry", toks, err)
	}
	for path, want := range map[string]int{"/metrics": http.StatusOK, "/api/v1/devices": http.StatusForbidden} {
		r, _ := http.NewRequest("GET", base+path, nil)
		r.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("the new token on %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	run("token-listed", chromedp.WaitVisible(tid("token-facts-"+toks[0].ID)))
	facts, err := chromedp.Run(ctx, chromedp.Text(tid("token-facts-"+toks[0].ID)))
	if err != nil {
		failed("token-facts", err)
	}
	if !strings.Contains(facts, "/metrics only") || !strings.Contains(facts, "expires") {
		t.Errorf("token row says %q, want its scope and expiry", facts)
	}
	run("token-revoke", chromedp.Click(tid("token-revoke-"+toks[0].ID)))
	eventually(t, "the token revoked", func() bool {
		toks, err := e.app.store.Tokens(context.Background())
		return err == nil && len(toks) == 0
	})
}

// toastSaying is an XPath for the page's notice while it shows text.
func toastSaying(text string) string {
	return fmt.Sprintf(`//*[@data-testid="toast"][contains(@class,"show")][contains(., %q)]`, text)
}

// eventually polls cond until it holds, failing after a deadline: the
// browser's requests run on their own, and the test watches their effect.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// waitNewDevice waits until the recorder has handled the offers made so
// far and the policy has the result, then returns the id of the device
// recorded from addr.
func waitNewDevice(t *testing.T, e *env, addr string) string {
	t.Helper()
	ctx := context.Background()
	if err := e.app.cur.Load().recorder.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.app.sync.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ds, err := e.app.store.Devices(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.New && len(d.IPs) == 1 && d.IPs[0] == addr {
			return d.ID
		}
	}
	t.Fatalf("no new device recorded for %s: %+v", addr, ds)
	return ""
}
