package app

import (
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// TestConfigDeviceTakesGrants: a device declared in the config file can
// be paused and given an allowance through the API, like a device added
// in the UI (grants are state, not config). Before, the API refused both
// with 400 and the laptop kept its profile.
func TestConfigDeviceTakesGrants(t *testing.T) {
	e := startHTTP(t, policyConfig(t), dnstest.Zone(t, policyRecords...))
	c := newAPIClient(t, e)
	const laptop = "127.0.0.2" // kid-laptop in policyConfig, profile kid

	if addr, text := ask(t, e, laptop, "bet365.com"); addr != "0.0.0.0" {
		t.Fatalf("before any grant: %q %q, want the kid profile's gambling block", addr, text)
	}
	var g struct{ ID string }
	for _, tc := range []struct {
		name     string
		grant    map[string]any
		wantCode int
		qname    string
		wantAddr string
		wantText string
	}{
		{"allow a category", map[string]any{"device": "kid-laptop", "kind": "allow", "target": "gambling", "minutes": 30}, 201, "bet365.com", "192.0.2.50", ""},
		{"pause", map[string]any{"device": "kid-laptop", "kind": "pause", "minutes": 60}, 201, "www.example.org", "0.0.0.0", "grant=pause"},
		{"unknown device", map[string]any{"device": "nobody", "kind": "pause", "minutes": 60}, 400, "www.example.org", "0.0.0.0", "grant=pause"},
	} {
		if code := c.do("POST", "/api/v1/grants", tc.grant, &g); code != tc.wantCode {
			t.Fatalf("%s: POST /api/v1/grants = %d, want %d", tc.name, code, tc.wantCode)
		}
		if addr, text := ask(t, e, laptop, tc.qname); addr != tc.wantAddr || !strings.Contains(text, tc.wantText) {
			t.Errorf("%s: %s answered %q %q, want %q with %q", tc.name, tc.qname, addr, text, tc.wantAddr, tc.wantText)
		}
	}
	var dev struct {
		Provisioned bool
		Grants      []struct{ Kind string }
	}
	if code := c.do("GET", "/api/v1/devices/kid-laptop", nil, &dev); code != 200 || !dev.Provisioned || len(dev.Grants) != 2 {
		t.Errorf("the config device: %d %+v, want it provisioned with its 2 grants", code, dev)
	}

	// "Resume all" ends the pause; "pause all" reaches config devices too.
	if code := c.do("DELETE", "/api/v1/pause", nil, nil); code != 204 {
		t.Fatalf("resume all: %d", code)
	}
	if addr, _ := ask(t, e, laptop, "www.example.org"); addr != "192.0.2.54" {
		t.Fatalf("resumed: %q, want the real answer", addr)
	}
	if code := c.do("POST", "/api/v1/pause", map[string]any{"minutes": 15}, nil); code != 201 {
		t.Fatalf("pause all: %d", code)
	}
	if addr, text := ask(t, e, laptop, "www.example.org"); addr != "0.0.0.0" {
		t.Fatalf("after pause all: %q %q, want the config device paused", addr, text)
	}
	// Grants end by themselves.
	e.clock.Advance(61 * time.Minute)
	if err := e.app.sync.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if addr, text := ask(t, e, laptop, "bet365.com"); addr != "0.0.0.0" || !strings.Contains(text, "gambling") {
		t.Errorf("after the grants ended: %q %q, want the gambling block again", addr, text)
	}
}

// TestDashboardDeviceStates: GET /api/v1/devices says, per device, what
// is in force now (schedule windows and grants), computed from the
// running policy and worded in the household's time zone (Tokyo, while
// the clock and the browser are in UTC). Before, the dashboard showed
// no schedule at all.
func TestDashboardDeviceStates(t *testing.T) {
	e := startHTTP(t, apiConfig(t), dnstest.Zone(t, policyRecords...))
	c := newAPIClient(t, e)
	// The test clock: Friday 2026-11-27 12:00 UTC = 21:00 in Tokyo.
	if code := c.do("PUT", "/api/v1/settings", map[string]string{"time_zone": "Asia/Tokyo"}, nil); code != 200 {
		t.Fatalf("settings: %d", code)
	}
	every := "mon,tue,wed,thu,fri,sat,sun"
	prof := map[string]any{"name": "Leo", "preset": "kid", "schedules": []map[string]any{
		{"name": "bedtime", "days": every, "from": "21:30", "to": "07:00", "pause": true},
		{"name": "games time", "days": every, "from": "20:00", "to": "21:30", "allow_only": []string{"games"}},
	}}
	if code := c.do("POST", "/api/v1/profiles", prof, nil); code != 201 {
		t.Fatalf("profile: %d", code)
	}
	if code := c.do("POST", "/api/v1/devices", map[string]any{"name": "Leo's tablet", "profile": "leo", "ips": []string{"127.0.0.5"}}, nil); code != 201 {
		t.Fatalf("device: %d", code)
	}
	states := func() string {
		t.Helper()
		var d struct{ Now []struct{ Kind, Text string } }
		if code := c.do("GET", "/api/v1/devices/leos-tablet", nil, &d); code != 200 {
			t.Fatalf("device: %d", code)
		}
		var out []string
		for _, s := range d.Now {
			out = append(out, s.Kind+": "+s.Text)
		}
		return strings.Join(out, " | ")
	}
	for _, tc := range []struct {
		name    string
		advance time.Duration
		grant   map[string]any
		want    string
	}{
		{"games time", 0, nil, "allow_window: games allowed, 30 min left"},
		{"paused by a parent", 0, map[string]any{"device": "leos-tablet", "kind": "pause", "minutes": 25}, "paused: paused, 25 min left | allow_window: games allowed, 30 min left"},
		{"bedtime after the pause", 40 * time.Minute, nil, "pause_window: bedtime until 07:00 tomorrow"},
		{"an allowance at bedtime", 0, map[string]any{"device": "leos-tablet", "kind": "allow", "target": "youtube", "minutes": 120}, "allowed: youtube allowed until 23:40 | pause_window: bedtime until 07:00 tomorrow"},
		{"morning", 10 * time.Hour, nil, ""},
	} {
		e.clock.Advance(tc.advance)
		if tc.grant != nil {
			if code := c.do("POST", "/api/v1/grants", tc.grant, nil); code != 201 {
				t.Fatalf("%s: grant: %d", tc.name, code)
			}
		}
		if got := states(); got != tc.want {
			t.Errorf("%s: now = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestConfigDefaultProfileWins: a default_profile written in the config
// file wins over the one set in the UI, and the API says so: setting
// another one is refused naming the file and line, and one an older
// wizard stored is reported, not silently used. Before, the wizard's
// choice silently replaced the config's.
func TestConfigDefaultProfileWins(t *testing.T) {
	e := startHTTP(t, policyConfig(t), dnstest.Zone(t, policyRecords...))
	c := newAPIClient(t, e)
	const stranger = "127.0.0.7" // no device: the default profile
	var errResp struct{ Error string }
	var s struct {
		DefaultProfile         string `json:"default_profile"`
		ConfigDefaultProfile   string `json:"config_default_profile"`
		ConfigDefaultProfileAt string `json:"config_default_profile_at"`
	}
	for _, tc := range []struct {
		body     map[string]string
		wantCode int
		wantErr  string
	}{
		{map[string]string{"time_zone": "UTC", "default_profile": "kid"}, 400, "config file sets it to \"adult\" (test.yaml:"},
		{map[string]string{"time_zone": "UTC", "default_profile": "adult"}, 200, ""},
		{map[string]string{"time_zone": "UTC", "default_profile": ""}, 200, ""},
	} {
		errResp.Error = ""
		if code := c.do("PUT", "/api/v1/settings", tc.body, &errResp); code != tc.wantCode || !strings.Contains(errResp.Error, tc.wantErr) {
			t.Errorf("PUT settings %v: %d %q, want %d %q", tc.body, code, errResp.Error, tc.wantCode, tc.wantErr)
		}
	}
	if code := c.do("GET", "/api/v1/settings", nil, &s); code != 200 || s.ConfigDefaultProfile != "adult" || !strings.HasPrefix(s.ConfigDefaultProfileAt, "test.yaml:") {
		t.Errorf("GET settings: %d %+v, want the config's adult and where", code, s)
	}
	if addr, _ := ask(t, e, stranger, "www.tiktok.com"); addr != "192.0.2.51" {
		t.Errorf("unknown device: %q, want the config's adult profile", addr)
	}

	// A default an older wizard stored is not used, and the parent is told.
	h, err := e.app.store.Household(t.Context(), HomeHousehold)
	if err != nil {
		t.Fatal(err)
	}
	h.DefaultProfile = "kid"
	if _, err := e.app.store.PutHousehold(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	if err := e.app.sync.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if addr, _ := ask(t, e, stranger, "www.tiktok.com"); addr != "192.0.2.51" {
		t.Errorf("unknown device with kid stored as the home default: %q, want the config's adult", addr)
	}
	var aside struct {
		SetAside []string `json:"set_aside"`
	}
	if code := c.do("GET", "/api/v1/set-aside", nil, &aside); code != 200 || !strings.Contains(strings.Join(aside.SetAside, "\n"), `default_profile "kid" is not used: the config file's default_profile "adult" (test.yaml:`) {
		t.Errorf("set-aside: %d %q, want the ignored default reported", code, aside.SetAside)
	}
}
