package app

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/hearth-dns/hearth/internal/auth"
	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// TestBrowserLanguagesAndBackup drives the UI in headless Chromium set to
// German:
//   - Accept-Language alone makes the first-run wizard, the navigation and
//     the screens German;
//   - the language menu switches to Spanish for this browser (a cookie),
//     and "Automatic" goes back to the browser's German;
//   - the Backup card's button downloads a JSON export, which a fresh
//     install imports (its next DNS answer follows the restored profile),
//     and which the same card restores after the profile was deleted.
func TestBrowserLanguagesAndBackup(t *testing.T) {
	ctx := browser(t, chromedp.Flag("lang", "de-DE"), chromedp.Flag("accept-lang", "de-DE,de"))
	e := startHTTP(t, apiConfig(t), dnstest.Zone(t, policyRecords...))
	base := "http://" + e.app.HTTPAddr()
	shots := artifacts(t)
	failed := func(step string, err error) {
		t.Helper()
		if buf, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
			os.WriteFile(filepath.Join(shots, "lang-failed-"+step+".png"), buf, 0o644)
		}
		t.Fatalf("%s: %v (screenshot lang-failed-%s.png in %s)", step, err, step, shots)
	}
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			failed(step, err)
		}
	}
	text := func(step, testid string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(tid(testid)))
		if err != nil {
			failed(step, err)
		}
		return strings.TrimSpace(s)
	}
	eval := func(js string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[any](js)(ctx, tg)
			return err
		})
	}
	// waitText waits until the element shows want: the screens draw
	// after their API calls answer.
	waitText := func(step, testid, want string) {
		t.Helper()
		js := `(document.querySelector('[data-testid="` + testid + `"]')||{}).textContent === ` + jsString(want)
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			failed(step, err)
		}
	}

	// 1. The wizard, in German from Accept-Language alone.
	setupCode, _, err := e.app.auth.SetupCode(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	run("wizard-1",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(tid("screen-wizard-1")),
		chromedp.WaitVisible(`//h1[contains(., "Willkommen bei Hearth")]`),
		screenshot(shots, "lang-01-wizard-de"),
		chromedp.SetValue(tid("wizard-code"), setupCode),
		chromedp.SetValue(tid("wizard-password"), "correct horse battery"),
		chromedp.SetValue(tid("wizard-password2"), "correct horse battery"),
		chromedp.Click(tid("wizard-next")),
		chromedp.WaitVisible(tid("screen-wizard-2")),
		chromedp.WaitVisible(`//h2[contains(., "Schritt 2 von 2")]`),
		chromedp.SetValue(tid("wizard-timezone-text"), "UTC"),
		chromedp.SetValue(tid("wizard-default-profile"), "adult"),
		chromedp.Click(tid("wizard-finish")),
		chromedp.WaitVisible(tid("screen-dashboard")),
	)
	for _, c := range []struct{ testid, want string }{
		{"nav-dashboard", "Start"}, {"nav-devices", "Geräte"}, {"nav-profiles", "Profile"},
		{"nav-log", "Aktivität"}, {"nav-settings", "Einstellungen"}, {"nav-logout", "Abmelden"},
	} {
		if got := text("nav", c.testid); got != c.want {
			t.Errorf("%s reads %q, want %q", c.testid, got, c.want)
		}
	}
	waitText("dashboard", "pause-status", "Gerade ist nichts pausiert.")
	// German words are longer: on a 360 px phone the five tabs of the
	// bottom bar and the header still fit without widening the page.
	run("phone",
		chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile),
		chromedp.Navigate(base+"/#/settings"),
		chromedp.WaitVisible(tid("backup")),
		screenshot(shots, "lang-00-phone-de"),
	)
	if wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`)); err != nil || wide {
		t.Errorf("the German page is wider than a 360 px phone (%v)", err)
	}
	if over, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#nav a')].filter((a) => a.scrollWidth > a.clientWidth).map((a) => a.textContent)`)); err != nil || len(over) > 0 {
		t.Errorf("tabs whose label overflows on a phone: %q (%v)", over, err)
	}
	run("desktop", chromedp.EmulateViewport(1000, 900), chromedp.Navigate(base+"/#/dashboard"), chromedp.WaitVisible(tid("screen-dashboard")))

	// Emma's profile and tablet, made through the API.
	tok, _, err := e.app.auth.CreateToken(context.Background(), "admin", "test", auth.TokenOptions{Scope: store.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	api := &apiClient{t: t, base: base, http: &http.Client{Timeout: 10 * time.Second}}
	const tablet = "127.0.0.4"
	if code, body, _ := api.raw("POST", "/api/v1/profiles", []byte(`{"name": "Emma", "preset": "kid", "block": ["gambling"]}`), tok, false); code != 201 {
		t.Fatalf("profile: %d %s", code, body)
	}
	if code, body, _ := api.raw("POST", "/api/v1/devices", []byte(`{"name": "Emma's tablet", "profile": "emma", "ips": ["`+tablet+`"]}`), tok, false); code != 201 {
		t.Fatalf("device: %d %s", code, body)
	}

	// 2. Settings in German; the menu switches to Spanish and back.
	run("settings-de",
		chromedp.Click(tid("nav-settings")),
		chromedp.WaitVisible(tid("backup")),
		chromedp.WaitVisible(`//h2[contains(., "Sicherung")]`),
		screenshot(shots, "lang-02-settings-de"),
	)
	if got := text("settings-de", "backup-export"); got != "Sicherung herunterladen" {
		t.Errorf("export button reads %q", got)
	}
	run("to-spanish",
		eval(`{ const s = document.querySelector('[data-testid="lang-select"]'); s.value = 'es'; s.dispatchEvent(new Event('change')); }`),
		chromedp.WaitVisible(`//h2[contains(., "Copia de seguridad")]`),
	)
	waitText("spanish", "nav-settings", "Ajustes")
	waitText("spanish", "backup-export", "Descargar una copia de seguridad")
	run("spanish-shot", screenshot(shots, "lang-03-settings-es"))
	if v, err := chromedp.Run(ctx, chromedp.Value(tid("lang-select"))); err != nil || v != "es" {
		t.Errorf("language menu shows %q (%v), want es", v, err)
	}
	run("to-automatic",
		eval(`{ const s = document.querySelector('[data-testid="lang-select"]'); s.value = ''; s.dispatchEvent(new Event('change')); }`),
		chromedp.WaitVisible(`//h2[contains(., "Sicherung")]`),
	)
	waitText("automatic", "nav-settings", "Einstellungen")

	// 3. The export button downloads the backup.
	dir := t.TempDir()
	progress := chromedp.Events(ctx, cdpbrowser.DownloadProgress)
	yes := true
	run("download",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
				Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &yes,
			})
			return err
		}),
		chromedp.Click(tid("backup-export")),
	)
	var file string
	for ev, err := range progress {
		if err != nil {
			failed("download-progress", err)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			failed("download-progress", errString("download canceled"))
		}
		if ev.State == cdpbrowser.DownloadProgressStateCompleted {
			file = filepath.Join(dir, ev.GUID)
			break
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Format   string
		Version  int
		Profiles []struct{ ID string }
		Devices  []struct{ ID string }
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.Format != "hearth-export" || doc.Version != 1 || len(doc.Profiles) != 1 || len(doc.Devices) != 1 {
		t.Fatalf("downloaded %+v (%v):\n%s", doc, err, data)
	}
	if strings.Contains(string(data), "argon2") || strings.Contains(string(data), tok) {
		t.Fatalf("the download holds a secret:\n%s", data)
	}

	// 4. A fresh install imports the download; its next answer follows
	// Emma's profile.
	fresh := startHTTP(t, apiConfig(t), dnstest.Zone(t, policyRecords...))
	fc := newAPIClient(t, fresh)
	if addr, _ := ask(t, fresh, tablet, "bet365.com"); addr != "192.0.2.50" {
		t.Fatalf("fresh install before the import: %q", addr)
	}
	if code, body, _ := fc.raw("POST", "/api/v1/import", data, "", false); code != 200 {
		t.Fatalf("import of the download: %d %s", code, body)
	}
	if addr, text := ask(t, fresh, tablet, "bet365.com"); addr != "0.0.0.0" || !strings.Contains(text, "profile=emma") {
		t.Errorf("fresh install after the import: %q %q, want Emma's block", addr, text)
	}

	// 5. The card restores the download here after Emma's profile and
	// tablet are gone and Leo's profile came: the store is in use, so the
	// card asks for "replace" first.
	if code, body, _ := api.raw("DELETE", "/api/v1/devices/emmas-tablet", nil, tok, false); code != 204 {
		t.Fatalf("delete device: %d %s", code, body)
	}
	if code, body, _ := api.raw("DELETE", "/api/v1/profiles/emma", nil, tok, false); code != 204 {
		t.Fatalf("delete profile: %d %s", code, body)
	}
	if code, body, _ := api.raw("POST", "/api/v1/profiles", []byte(`{"name": "Leo", "preset": "teen"}`), tok, false); code != 201 {
		t.Fatalf("profile: %d %s", code, body)
	}
	if addr, _ := ask(t, e, tablet, "bet365.com"); addr != "192.0.2.50" {
		t.Fatalf("without Emma's profile: %q, want the real address", addr)
	}
	run("restore-refused",
		chromedp.SetUploadFiles(tid("backup-file"), []string{file}),
		chromedp.Click(tid("backup-import")),
		chromedp.WaitVisible(`//*[@data-testid="backup-error"][contains(., "Ersetzen") or contains(., "ersetzen")]`),
	)
	run("restore",
		chromedp.Click(tid("backup-replace")),
		chromedp.Click(tid("backup-import")),
		chromedp.WaitVisible(toastSaying("wiederhergestellt")),
		screenshot(shots, "lang-04-restored-de"),
	)
	if p, err := e.app.store.Profile(context.Background(), "emma"); err != nil || p.Preset != "kid" {
		t.Errorf("after the restore: profile %+v, %v", p, err)
	}
	if _, err := e.app.store.Profile(context.Background(), "leo"); err == nil {
		t.Error("after the restore with replace: Leo's profile is still there")
	}
	if addr, text := ask(t, e, tablet, "bet365.com"); addr != "0.0.0.0" || !strings.Contains(text, "profile=emma") {
		t.Errorf("after the restore: %q %q, want Emma's block", addr, text)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// jsString quotes s for JavaScript.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
