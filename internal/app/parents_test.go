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
