package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// browserInZone is browser with the browser's own time zone set, so a
// test can tell the household's zone from the browser's.
func browserInZone(t *testing.T, tz string) context.Context {
	t.Helper()
	return browser(t, chromedp.Env("TZ="+tz))
}

// TestBrowserRoughEdges drives the rough edges of issue 15 in headless
// Chromium, the browser in New York and the household in Tokyo:
//   - the wizard shows that the config file's default_profile wins and
//     does not override it;
//   - preset labels read "Tween (ready-made)", not "Tween (preset)
//     (ready-made)";
//   - a device from the config file is paused from its screen, and the
//     pause shows on the dashboard ("paused, 30 min left") and in
//     Tokyo's time;
//   - a block in Activity is allowed for the whole service (TikTok for
//     1 h), after which a TikTok name never asked before is answered;
//   - "always" puts the service into the profile's unblock list;
//   - leaving a profile with unsaved edits asks first.
func TestBrowserRoughEdges(t *testing.T) {
	ctx := browserInZone(t, "America/New_York")
	records := append([]string{"www.tiktokcdn.com. 300 IN A 192.0.2.57", "v16.tiktokcdn.com. 300 IN A 192.0.2.58"}, policyRecords...)
	e := startHTTP(t, policyConfig(t), dnstest.Zone(t, records...))
	// The browser runs on the real clock: bring the server's to it.
	e.clock.Advance(time.Since(e.clock.Now()))
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + e.app.HTTPAddr()
	shots := artifacts(t)
	failed := func(step string, err error) {
		t.Helper()
		if buf, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
			os.WriteFile(filepath.Join(shots, "rough-failed-"+step+".png"), buf, 0o644)
		}
		t.Fatalf("%s: %v (screenshot rough-failed-%s.png in %s)", step, err, step, shots)
	}
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			failed(step, err)
		}
	}
	text := func(step, sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			failed(step, err)
		}
		return s
	}
	js := func(step, expr string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			failed(step, err)
		}
		return s
	}
	waitJS := func(step, cond string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			failed(step, err)
		}
	}

	// allowRow picks what and for how long on the blocked row of name and
	// clicks Allow, all in one script: the log may redraw its rows
	// between two steps of the browser.
	allowRow := func(step, name, what, dur string) {
		t.Helper()
		js(step, `(() => {
			const r = document.querySelector('[data-name="`+name+`"][data-action="blocked"]');
			const id = r.dataset.testid.replace("log-row-", "");
			const pick = (k, v) => { const el = document.querySelector('[data-testid="log-allow-' + k + '-' + id + '"]'); el.value = v; el.dispatchEvent(new Event("change")); };
			pick("what", "`+what+`");
			pick("duration", "`+dur+`");
			document.querySelector('[data-testid="log-allow-' + id + '"]').click();
			return id;
		})()`)
	}

	// 1. The wizard: the config file sets default_profile: adult, so the
	// choice is shown, fixed, with where it is set; the household keeps
	// none of its own.
	setupCode, _, err := e.app.auth.SetupCode(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	run("wizard",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(tid("screen-wizard-1")),
		chromedp.SetValue(tid("wizard-code"), setupCode),
		chromedp.SetValue(tid("wizard-password"), "correct horse battery"),
		chromedp.SetValue(tid("wizard-password2"), "correct horse battery"),
		chromedp.Click(tid("wizard-next")),
		chromedp.WaitVisible(tid("wizard-default-profile-note")),
	)
	note := text("wizard-note", tid("wizard-default-profile-note"))
	if !strings.Contains(note, "Adult") || !strings.Contains(note, "test.yaml:") || !strings.Contains(note, "config file wins") {
		t.Errorf("wizard note %q: want the config's profile, where it is set, and which wins", note)
	}
	if js("wizard-disabled", `String(document.querySelector('[data-testid="wizard-default-profile"]').disabled)`) != "true" {
		t.Error("the wizard's default profile can be changed although the config file sets it")
	}
	run("wizard-finish",
		chromedp.SetValue(tid("wizard-timezone"), "Asia/Tokyo"),
		chromedp.SetValue(tid("wizard-timezone-text"), "Asia/Tokyo"),
		chromedp.Click(tid("wizard-finish")),
		chromedp.WaitVisible(tid("screen-dashboard")),
	)
	h, err := e.app.store.Household(context.Background(), HomeHousehold)
	if err != nil || h.DefaultProfile != "" || h.TimeZone != "Asia/Tokyo" {
		t.Fatalf("household after the wizard: %+v %v, want Tokyo and no default of its own", h, err)
	}

	// 2. Labels: each preset once, marked once.
	run("labels", chromedp.Navigate(base+"/#/devices/kid-laptop"), chromedp.WaitVisible(tid("device-profile-select")))
	labels := js("labels", `[...document.querySelectorAll('[data-testid="device-profile-select"] option')].map(o => o.textContent).join("|")`)
	if strings.Contains(labels, "(preset)") || !strings.Contains(labels, "Tween (ready-made)") {
		t.Errorf("profile choices %q: want \"Tween (ready-made)\" and no \"(preset)\"", labels)
	}

	// 3. Pause the config file's laptop for 30 min from its screen.
	const laptop = "127.0.0.2"
	run("pause", chromedp.Click(tid("device-pause-30")), chromedp.WaitVisible(tid("toast")))
	var until time.Time
	eventually(t, "a pause grant for the config device", func() bool {
		gs, err := e.app.store.Grants(context.Background(), "kid-laptop")
		if err == nil && len(gs) == 1 && gs[0].Kind == "pause" {
			until = gs[0].Until
			return true
		}
		return false
	})
	// The page's write is in the store; the policy follows it.
	if err := e.app.sync.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if addr, text := ask(t, e, laptop, "www.example.org"); addr != "0.0.0.0" || !strings.Contains(text, "grant=pause") {
		t.Fatalf("the paused config device: %q %q, want blocked by the pause", addr, text)
	}
	wantClock := until.In(tokyo).Format("15:04")
	waitJS("pause-row", `!!document.querySelector('[data-testid="device-grants"] li')`)
	if row := text("pause-row", tid("device-grants")); !strings.Contains(row, wantClock) {
		t.Errorf("grant row %q: want Tokyo's %s (the browser is in New York)", row, wantClock)
	}
	run("dashboard", chromedp.Click(tid("nav-dashboard")), chromedp.WaitVisible(tid("dash-now-kid-laptop")))
	if now := text("dashboard", tid("dash-now-kid-laptop")); !strings.Contains(now, "paused, 30 min left") {
		t.Errorf("dashboard says %q for the laptop, want \"paused, 30 min left\"", now)
	}
	run("resume", chromedp.Click(tid("resume-all")))
	eventually(t, "the pause ended", func() bool {
		gs, err := e.app.store.Grants(context.Background(), "kid-laptop")
		return err == nil && len(gs) == 0
	})

	// 4. TikTok is blocked on the laptop (kid); Activity allows all of
	// TikTok for 1 h, and a TikTok name never asked before answers.
	// The page's write is in the store; the policy follows it.
	if err := e.app.sync.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if addr, _ := ask(t, e, laptop, "www.tiktok.com"); addr != "0.0.0.0" {
		t.Fatalf("tiktok on the kid laptop: %q, want blocked", addr)
	}
	if addr, _ := ask(t, e, laptop, "www.tiktokcdn.com"); addr != "0.0.0.0" {
		t.Fatalf("tiktokcdn on the kid laptop: %q, want blocked", addr)
	}
	if err := e.app.qlog.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	run("log",
		chromedp.Click(tid("nav-log")),
		chromedp.WaitVisible(tid("screen-log")),
		chromedp.Click(tid("log-refresh")),
		chromedp.WaitVisible(`[data-name="www.tiktok.com"][data-action="blocked"]`),
	)
	// The row's time and its allow choices, read in one script.
	row := js("row", `(() => {
		const r = document.querySelector('[data-name="www.tiktok.com"][data-action="blocked"]');
		const opts = [...r.querySelectorAll('select[aria-label="What to allow"] option')].map(o => o.value + "=" + o.textContent);
		return r.querySelector("td").textContent + "\n" + opts.join("|");
	})()`)
	logged, choices, _ := strings.Cut(row, "\n")
	if want := e.clock.Now().In(tokyo).Format("15:04"); !strings.HasPrefix(logged, want) {
		t.Errorf("log time %q, want Tokyo's %s (the browser is in New York)", logged, want)
	}
	if !strings.Contains(choices, "tag=all of TikTok") || !strings.Contains(choices, "name=only www.tiktok.com") {
		t.Errorf("allow choices %q: want all of TikTok and only this name", choices)
	}
	allowRow("allow-service", "www.tiktok.com", "tag", "60")
	eventually(t, "an allow grant for all of TikTok", func() bool {
		gs, err := e.app.store.Grants(context.Background(), "kid-laptop")
		return err == nil && len(gs) == 1 && gs[0].Kind == "allow" && gs[0].Target == "tiktok"
	})
	// The page's write is in the store; the policy follows it.
	if err := e.app.sync.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if addr, text := ask(t, e, laptop, "v16.tiktokcdn.com"); addr != "192.0.2.58" {
		t.Fatalf("a TikTok name under the service allowance: %q %q, want answered", addr, text)
	}

	// 5. Unsaved edits: Emma's profile, an allow entry typed, then away.
	run("profile",
		chromedp.Click(tid("nav-profiles")),
		chromedp.WaitVisible(tid("screen-profiles")),
		chromedp.SendKeys(tid("profile-new-name"), "Emma"),
		chromedp.SetValue(tid("profile-new-preset"), "kid"),
		chromedp.Click(tid("profile-new-submit")),
		chromedp.WaitVisible(tid("screen-profile")),
		chromedp.SendKeys(tid("profile-allow"), "example.org"),
		chromedp.Click(tid("nav-devices")),
		chromedp.WaitVisible(tid("leave-dialog")),
		chromedp.Click(tid("leave-stay")),
	)
	if v := js("stay", `document.querySelector('[data-testid="profile-allow"]').value + "|" + location.hash`); v != "example.org|#/profiles/emma" {
		t.Errorf("after \"stay\": %q, want the edit kept on Emma's profile", v)
	}
	run("discard",
		chromedp.Click(tid("nav-devices")),
		chromedp.WaitVisible(tid("leave-dialog")),
		chromedp.Click(tid("leave-discard")),
		chromedp.WaitVisible(tid("screen-devices")),
	)
	if p, err := e.app.store.Profile(context.Background(), "emma"); err != nil || len(p.Allow) != 0 {
		t.Errorf("after leaving without saving: %+v %v, want no allow entry", p, err)
	}

	// 6. "Always" for a service changes the device's own profile: TikTok
	// goes into Emma's unblock list, no grant is made.
	const tablet = "127.0.0.4"
	if _, err := e.app.store.PutDevice(context.Background(), store.Device{ID: "tablet", Household: HomeHousehold, Name: "Emma's tablet", Profile: "emma", IPs: []string{tablet}}); err != nil {
		t.Fatal(err)
	}
	if err := e.app.sync.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if addr, _ := ask(t, e, tablet, "www.tiktok.com"); addr != "0.0.0.0" {
		t.Fatalf("tiktok on Emma's tablet: %q, want blocked", addr)
	}
	if err := e.app.qlog.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	run("log-2",
		chromedp.Click(tid("nav-log")),
		chromedp.WaitVisible(tid("screen-log")),
		chromedp.SetValue(tid("log-device"), "tablet"),
		chromedp.Click(tid("log-refresh")),
		chromedp.WaitVisible(`[data-name="www.tiktok.com"][data-action="blocked"]`),
	)
	allowRow("always", "www.tiktok.com", "tag", "always")
	eventually(t, "tiktok in Emma's unblock list", func() bool {
		p, err := e.app.store.Profile(context.Background(), "emma")
		return err == nil && len(p.Unblock) == 1 && p.Unblock[0] == "tiktok"
	})
	if err := e.app.sync.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if gs, _ := e.app.store.Grants(context.Background(), "tablet"); len(gs) != 0 {
		t.Errorf("\"always\" made grants %+v, want the profile changed instead", gs)
	}
	if addr, text := ask(t, e, tablet, "www.tiktokcdn.com"); addr != "192.0.2.57" {
		t.Errorf("Emma's tablet after \"always\": %q %q, want answered", addr, text)
	}
}
