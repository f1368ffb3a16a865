package app

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// discoveryEvent is one offered source's outcome at the recorder.
type discoveryEvent struct {
	addr    netip.Addr
	outcome string
}

// TestNewDeviceFloodIsBounded is issue #9, section 6: spoofed sources
// filled the list of new devices for good. Now sources outside the LAN
// networks create none, each source has an allowance, and a full list
// evicts its oldest unclaimed device, so the newest source is always
// listed. The sources are loopback addresses, real DNS queries over UDP.
func TestNewDeviceFloodIsBounded(t *testing.T) {
	cert := dnstest.NewCert(t)
	up := dnstest.NewServer(t, dnstest.Zone(t, policyRecords...))
	extra := apiConfig(t) + `access: {allow: ["127.0.0.0/8"]}
new_devices: {record: true, max: 3, networks: ["127.0.0.0/24"], per_source: 1, window: 1h}
`
	doc := strings.Replace(testConfigDoc(t, cert, up.Addr, extra), `http: ""`, `http: "127.0.0.1:0"`, 1)
	cfg, err := config.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	clock := dnstest.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	events := make(chan discoveryEvent, 256)
	observe := func(a *App) {
		a.discoveryObserver = func(addr netip.Addr, outcome string) { events <- discoveryEvent{addr, outcome} }
	}
	a, err := New(cfg, nil, WithClock(clock.Now), observe)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	e := &env{app: a, up: up, clock: clock, udp: a.Addrs().UDP[0]}
	c := newAPIClient(t, e)

	// offer queries from src and waits for the recorder's outcome for
	// it. The recorder handles offers in order, so an outcome for any
	// other source first is a failure; one query may offer its source
	// more than once, so a repeat of the previous outcome is skipped.
	var last discoveryEvent
	offer := func(src, want string) {
		t.Helper()
		r, _, err := clientFrom(src).Exchange(query("bet365.com", dns.TypeA), e.udp)
		if err != nil || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("query from %s: %v %v", src, r, err)
		}
		timeout := time.After(10 * time.Second)
		for {
			select {
			case ev := <-events:
				if ev == last {
					continue
				}
				if ev.addr.String() != src || ev.outcome != want {
					t.Fatalf("recorder: %s %s, want %s %s", ev.addr, ev.outcome, src, want)
				}
				last = ev
				return
			case <-timeout:
				t.Fatalf("no outcome for %s", src)
			}
		}
	}
	newDevices := func() []string {
		t.Helper()
		// A write answers once the policy reflects every earlier store
		// write (evictions included), so that the next query sees it.
		if code := c.do("PUT", "/api/v1/settings", map[string]string{"default_profile": "adult"}, nil); code != 200 {
			t.Fatalf("settings: %d", code)
		}
		var list struct{ Devices []apiDevice }
		c.do("GET", "/api/v1/devices", nil, &list)
		var out []string
		for _, d := range list.Devices {
			if d.New {
				out = append(out, strings.Join(d.IPs, ","))
			}
		}
		slices.Sort(out)
		return out
	}

	// Sources outside the LAN networks (but allowed to query) are
	// answered and create nothing: the first outcome is the LAN one's.
	for i := 1; i <= 10; i++ {
		r, _, err := clientFrom("127.0.1."+strconv.Itoa(i)).Exchange(query("bet365.com", dns.TypeA), e.udp)
		if err != nil || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("query from outside the LAN: %v %v", r, err)
		}
	}
	offer("127.0.0.11", "recorded")
	if got := newDevices(); strings.Join(got, " ") != "127.0.0.11" {
		t.Fatalf("new devices %v, want only 127.0.0.11", got)
	}

	// A flood of LAN sources: the list holds max (3) and always the
	// newest, evicting the oldest unclaimed.
	for i := 12; i <= 30; i++ {
		clock.Advance(time.Minute)
		offer("127.0.0."+strconv.Itoa(i), "recorded")
	}
	if got := newDevices(); strings.Join(got, " ") != "127.0.0.28 127.0.0.29 127.0.0.30" {
		t.Fatalf("new devices %v, want the three newest", got)
	}

	// 127.0.0.11 was evicted; within the window its allowance is used up.
	clock.Advance(time.Minute)
	offer("127.0.0.11", "limited")
	clock.Advance(time.Hour)
	offer("127.0.0.11", "recorded")
	if got := newDevices(); strings.Join(got, " ") != "127.0.0.11 127.0.0.29 127.0.0.30" {
		t.Fatalf("new devices %v, want 127.0.0.11 back in place of the oldest", got)
	}

	// A claimed device is never evicted.
	var list struct{ Devices []apiDevice }
	c.do("GET", "/api/v1/devices", nil, &list)
	var claimed apiDevice
	for _, d := range list.Devices {
		if d.New && d.IPs[0] == "127.0.0.11" {
			claimed = d
		}
	}
	claimed.New, claimed.Name, claimed.Profile = false, "Emma's tablet", "kid"
	if code := c.do("PUT", "/api/v1/devices/"+claimed.ID, claimed, nil); code != 200 {
		t.Fatalf("claim: %d", code)
	}
	for i := 31; i <= 35; i++ {
		clock.Advance(time.Minute)
		offer("127.0.0."+strconv.Itoa(i), "recorded")
	}
	if got := newDevices(); strings.Join(got, " ") != "127.0.0.33 127.0.0.34 127.0.0.35" {
		t.Fatalf("new devices %v, want the three newest", got)
	}
	var dev apiDevice
	if code := c.do("GET", "/api/v1/devices/"+claimed.ID, nil, &dev); code != 200 || dev.New {
		t.Fatalf("claimed device after the flood: %d %+v", code, dev)
	}
}
