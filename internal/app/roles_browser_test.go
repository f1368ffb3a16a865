package app

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserHouseholdScoped: a household's parent logs in to the same
// web page and sees only their household: their device and profile, not
// the other household's; their settings are their household's, without
// the operator's lists and without metrics tokens.
func TestBrowserHouseholdScoped(t *testing.T) {
	ctx := browser(t)
	e, _, a, b := setUpTenants(t)
	base := "http://" + e.app.HTTPAddr()
	shots := artifacts(t)
	failed := func(step string, err error) {
		t.Helper()
		if buf, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
			os.WriteFile(filepath.Join(shots, "household-failed-"+step+".png"), buf, 0o644)
		}
		t.Fatalf("%s: %v (screenshot household-failed-%s.png in %s)", step, err, step, shots)
	}
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			failed(step, err)
		}
	}
	holds := func(step, js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			failed(step, err)
		}
	}
	run("login",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(tid("screen-login")),
		chromedp.SetValue(tid("login-user"), "alpha-parent"),
		chromedp.SendKeys(tid("login-password"), rolesPassword),
		chromedp.Click(tid("login-submit")),
		chromedp.WaitVisible(tid("screen-dashboard")),
		screenshot(shots, "household-01-dashboard"),
		chromedp.Navigate(base+"/#/devices"),
		chromedp.WaitVisible(tid("device-row-"+a.device)),
		screenshot(shots, "household-02-devices"),
	)
	holds("no other household's device", fmt.Sprintf(`!document.body.innerText.includes(%q) && !document.querySelector('[data-testid="device-row-%s"]')`, "bravo secret", b.device))
	run("profiles",
		chromedp.Navigate(base+"/#/profiles"),
		chromedp.WaitVisible(tid("profile-row-"+a.profile)),
	)
	holds("no other household's profile", fmt.Sprintf(`!document.body.innerText.includes(%q) && !document.querySelector('[data-testid="profile-row-%s"]')`, "bravo secret", b.profile))
	run("settings",
		chromedp.Navigate(base+"/#/settings"),
		chromedp.WaitVisible(tid("screen-settings")),
		screenshot(shots, "household-03-settings"),
	)
	holds("settings are the household's", `!document.querySelector('[data-testid="sources-list"]') && ![...document.querySelectorAll('[data-testid="token-scope"] option')].some((o) => o.value === "metrics")`)
}
