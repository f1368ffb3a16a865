package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
	"github.com/hearth-dns/hearth/internal/testutil/setupcheck"
)

// Source addresses of the encrypted-DNS tests: the kid's phone and the
// kid's laptop, neither known to Hearth (so they get the home default,
// the kid profile), and the parent's phone.
const (
	kidPhone  = "127.0.0.5"
	kidLaptop = "127.0.0.6"
	dadSource = "127.0.0.7"
)

// dnsIDConfig is apiConfig with client ids under dns.test, the name of the
// test certificate.
func dnsIDConfig(t testing.TB) string {
	return apiConfig(t) + "access: {client_id_domains: [dns.test]}\n"
}

// encClient asks Hearth over DoH and DoT from a given loopback source.
type encClient struct {
	t    testing.TB
	e    *env
	from string
}

// doh asks name at path (such as "/dns-query/dad") over DoH and returns
// the answer; the TLS server name is dns.test.
func (c encClient) doh(path, name string) *dns.Msg {
	c.t.Helper()
	return c.dohURL("https://dns.test"+path, name)
}

// dohURL asks name at url, whatever host it names, over a connection to
// Hearth's DoH listener from c.from.
func (c encClient) dohURL(url, name string) *dns.Msg {
	c.t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.from)}, Timeout: 5 * time.Second}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: c.e.cert.Pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, c.e.doh)
		},
	}}
	defer hc.CloseIdleConnections()
	q := query(name, dns.TypeA)
	b, err := q.Pack()
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := hc.Post(url, "application/dns-message", bytes.NewReader(b))
	if err != nil {
		c.t.Fatalf("DoH %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("DoH %s: %d %s", url, resp.StatusCode, body)
	}
	r := new(dns.Msg)
	if err := r.Unpack(body); err != nil {
		c.t.Fatalf("DoH %s: %v", url, err)
	}
	return r
}

// dot asks name over DoT with the TLS server name sni.
func (c encClient) dot(sni, name string) *dns.Msg {
	c.t.Helper()
	dc := &dns.Client{Net: "tcp-tls", Timeout: 5 * time.Second,
		TLSConfig: &tls.Config{RootCAs: c.e.cert.Pool, ServerName: sni},
		Dialer:    &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.from)}}}
	r, _, err := dc.Exchange(query(name, dns.TypeA), c.e.dot)
	if err != nil {
		c.t.Fatalf("DoT as %s: %v", sni, err)
	}
	return r
}

// answer is the first A record of r, or its rcode when it has none.
func answer(r *dns.Msg) string {
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String()
		}
	}
	return dns.RcodeToString[r.Rcode]
}

// dnsIDSetup is the API's answer to POST /api/v1/devices/{id}/dns-id.
type dnsIDSetup struct {
	Device struct {
		ID            string   `json:"id"`
		ClientIDs     []string `json:"client_ids"`
		WeakClientIDs bool     `json:"weak_client_ids"`
		DNSID         *struct {
			Label, Hint string
		} `json:"dns_id"`
	} `json:"device"`
	ID           string   `json:"id"`
	Host         string   `json:"host"`
	DoHPath      string   `json:"doh_path"`
	DoHURL       string   `json:"doh_url"`
	QRText       string   `json:"qr_text"`
	QRPNG        []byte   `json:"qr_png"`
	MobileConfig []byte   `json:"mobileconfig"`
	Notes        []string `json:"notes"`
}

// weakParentPhone starts Hearth with the kid profile as home default and
// Dad's phone (adult) known by the chosen client id "dad", as a store an
// older Hearth wrote holds it.
func weakParentPhone(t *testing.T) (*env, *apiClient) {
	t.Helper()
	e := startHTTP(t, dnsIDConfig(t), dnstest.Zone(t, policyRecords...))
	c := newAPIClient(t, e)
	if code := c.do("POST", "/api/v1/profiles", map[string]any{"name": "Kids", "preset": "kid", "block": []string{"gambling"}}, nil); code != 201 {
		t.Fatalf("create profile: %d", code)
	}
	if code := c.do("PUT", "/api/v1/settings", map[string]string{"default_profile": "kids"}, nil); code != 200 {
		t.Fatalf("settings: %d", code)
	}
	ctx := context.Background()
	_, err := e.app.store.PutDevice(ctx, store.Device{ID: "dad-phone", Household: HomeHousehold, Name: "Dad's phone", Profile: "adult", ClientIDs: []string{"dad"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.app.sync.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	return e, c
}

// TestKidCannotPoseAsParentOverEncryptedDNS: the kid types Dad's chosen
// client id into the phone's Private DNS and the browser's DoH URL. Until
// Dad's phone gets a DNS id, that works (and the API says the id is
// weak); once it has one, neither Dad's chosen name, nor the readable
// label, nor the label with any other secret gets Dad's profile, over DoH
// or DoT, while Dad's own id does. A second rotation cuts off the first
// id before the API answers.
func TestKidCannotPoseAsParentOverEncryptedDNS(t *testing.T) {
	e, c := weakParentPhone(t)
	kid := encClient{t, e, kidPhone}
	dad := encClient{t, e, dadSource}
	const gambling = "bet365.com"

	var before struct {
		WeakClientIDs bool `json:"weak_client_ids"`
	}
	if code := c.do("GET", "/api/v1/devices/dad-phone", nil, &before); code != 200 || !before.WeakClientIDs {
		t.Fatalf("device with a chosen id: %d, weak_client_ids %v, want true", code, before.WeakClientIDs)
	}
	if got := answer(kid.doh("/dns-query/dad", gambling)); got != "192.0.2.50" {
		t.Fatalf("before the rotation the chosen id gave %s, want Dad's unfiltered answer (the weakness the id fixes)", got)
	}
	if got := answer(kid.doh("/dns-query", gambling)); got != "0.0.0.0" {
		t.Fatalf("the kid without an id got %s, want the kid profile's block", got)
	}

	var s dnsIDSetup
	if code := c.do("POST", "/api/v1/devices/dad-phone/dns-id", nil, &s); code != 201 {
		t.Fatalf("make DNS id: %d", code)
	}
	if !strings.HasPrefix(s.ID, "dads-phone-") || len(s.ID) != len("dads-phone-")+16 {
		t.Fatalf("DNS id %q, want dads-phone- and 16 characters of secret", s.ID)
	}
	if s.Device.WeakClientIDs || len(s.Device.ClientIDs) != 0 || s.Device.DNSID == nil || s.Device.DNSID.Hint != s.ID[11:15] {
		t.Errorf("device after rotation: %+v, want no chosen ids, not weak, hint %q", s.Device, s.ID[11:15])
	}
	first := s.ID

	tests := []struct {
		name string
		ask  func() *dns.Msg
		want string
	}{
		{"kid, Dad's chosen id over DoH", func() *dns.Msg { return kid.doh("/dns-query/dad", gambling) }, "0.0.0.0"},
		{"kid, Dad's chosen id over DoT", func() *dns.Msg { return kid.dot("dad.dns.test", gambling) }, "0.0.0.0"},
		{"kid, the readable label over DoH", func() *dns.Msg { return kid.doh("/dns-query/dads-phone", gambling) }, "0.0.0.0"},
		{"kid, the label with another secret over DoT", func() *dns.Msg {
			return kid.dot("dads-phone-"+strings.Repeat("a", 16)+".dns.test", gambling)
		}, "0.0.0.0"},
		{"Dad, the id over DoH", func() *dns.Msg { return dad.doh(s.DoHPath, gambling) }, "192.0.2.50"},
		{"Dad, the id over DoT", func() *dns.Msg { return dad.dot(s.Host, gambling) }, "192.0.2.50"},
		{"Dad, the id in upper case over DoT", func() *dns.Msg { return dad.dot(strings.ToUpper(s.Host), gambling) }, "192.0.2.50"},
		{"Dad, the setup's DoH URL", func() *dns.Msg { return dad.dohURL(s.DoHURL, gambling) }, "192.0.2.50"},
	}
	for _, tc := range tests {
		if got := answer(tc.ask()); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}

	// One click again: the first id stops before the API answers.
	if code := c.do("POST", "/api/v1/devices/dad-phone/dns-id", nil, &s); code != 201 || s.ID == first {
		t.Fatalf("rotate: %d, id %q (first %q)", code, s.ID, first)
	}
	rotated := []struct {
		name string
		ask  func() *dns.Msg
		want string
	}{
		{"old id over DoH", func() *dns.Msg { return dad.doh("/dns-query/"+first, gambling) }, "0.0.0.0"},
		{"old id over DoT", func() *dns.Msg { return dad.dot(first+".dns.test", gambling) }, "0.0.0.0"},
		{"new id over DoH", func() *dns.Msg { return dad.doh("/dns-query/"+s.ID, gambling) }, "192.0.2.50"},
		{"new id over DoT", func() *dns.Msg { return dad.dot(s.ID+".dns.test", gambling) }, "192.0.2.50"},
	}
	for _, tc := range rotated {
		if got := answer(tc.ask()); got != tc.want {
			t.Errorf("after rotation, %s: %s, want %s", tc.name, got, tc.want)
		}
	}

	if code := c.do("GET", "/api/v1/devices/dad-phone", nil, &before); code != 200 || before.WeakClientIDs {
		t.Errorf("device after rotation: %d, weak %v", code, before.WeakClientIDs)
	}
}

// TestDNSIDsSurviveRestartAndBadRows: after a restart the DNS id still
// works and the chosen id still does not. A row that someone edited so
// that its hash is not a hash, or is missing, does not stop Hearth from
// starting: that device is left out and every other one serves.
func TestDNSIDsSurviveRestartAndBadRows(t *testing.T) {
	e, c := weakParentPhone(t)
	var s dnsIDSetup
	if code := c.do("POST", "/api/v1/devices/dad-phone/dns-id", nil, &s); code != 201 {
		t.Fatalf("make DNS id: %d", code)
	}
	cfg := e.app.cfg
	if err := e.app.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(cfg.DataDir, "hearth.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO devices (id, household, version, data, dns_id_hash) VALUES ('bad-hash', 'home', 1, '{"name":"x","dns_id":{"hint":"abcd"}}', 'not-a-hash')`,
		`INSERT INTO devices (id, household, version, data) VALUES ('no-hash', 'home', 1, '{"name":"y","dns_id":{"hint":"efgh"}}')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	a, err := New(cfg, nil, WithClock(e.clock.Now))
	if err != nil {
		t.Fatalf("restart with edited rows: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("restart with edited rows: %v", err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	addrs := a.Addrs()
	e2 := &env{app: a, cert: e.cert, clock: e.clock, udp: addrs.UDP[0], dot: addrs.DoT[0], doh: addrs.DoH[0]}
	dad, kid := encClient{t, e2, dadSource}, encClient{t, e2, kidPhone}
	tests := []struct {
		name string
		ask  func() *dns.Msg
		want string
	}{
		{"Dad's id over DoT", func() *dns.Msg { return dad.dot(s.ID+".dns.test", "bet365.com") }, "192.0.2.50"},
		{"Dad's id over DoH", func() *dns.Msg { return dad.doh("/dns-query/"+s.ID, "bet365.com") }, "192.0.2.50"},
		{"the old chosen id", func() *dns.Msg { return kid.doh("/dns-query/dad", "bet365.com") }, "0.0.0.0"},
	}
	for _, tc := range tests {
		if got := answer(tc.ask()); got != tc.want {
			t.Errorf("after restart, %s: %s, want %s", tc.name, got, tc.want)
		}
	}

	// The database is then lost: DNS answers from the policy snapshot
	// file, which keeps the id's hash, so Dad's phone keeps its profile
	// and the chosen id stays cut off.
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	overwrite(t, filepath.Join(cfg.DataDir, "hearth.db"))
	a, err = New(cfg, nil, WithClock(e.clock.Now))
	if err != nil {
		t.Fatalf("restart with a corrupted database: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("restart with a corrupted database: %v", err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	addrs = a.Addrs()
	e3 := &env{app: a, cert: e.cert, clock: e.clock, udp: addrs.UDP[0], dot: addrs.DoT[0], doh: addrs.DoH[0]}
	dad, kid = encClient{t, e3, dadSource}, encClient{t, e3, kidPhone}
	for _, tc := range tests {
		if got := answer(tc.ask()); got != tc.want {
			t.Errorf("from the snapshot file, %s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestDNSIDSetupForDevices checks what the parent gets once: a QR code
// that decodes to the Android Private DNS host name, and an Apple profile
// that parses as a property list with a managed DNS payload pointing at
// the DoH URL, which itself answers.
func TestDNSIDSetupForDevices(t *testing.T) {
	e, c := weakParentPhone(t)
	var s dnsIDSetup
	if code := c.do("POST", "/api/v1/devices/dad-phone/dns-id", nil, &s); code != 201 {
		t.Fatalf("make DNS id: %d", code)
	}
	_, dotPort, _ := net.SplitHostPort(e.dot)
	_, dohPort, _ := net.SplitHostPort(e.doh)
	if s.Host != s.ID+".dns.test" || s.DoHURL != "https://"+s.ID+".dns.test:"+dohPort+"/dns-query/"+s.ID {
		t.Errorf("host %q, DoH URL %q", s.Host, s.DoHURL)
	}
	// The test listeners are not on 853: the parent is told.
	if notes := strings.Join(s.Notes, " "); !strings.Contains(notes, "port "+dotPort) {
		t.Errorf("notes %q do not mention the DoT port %s", notes, dotPort)
	}
	qr, err := setupcheck.QR(s.QRPNG)
	if err != nil || qr != s.Host {
		t.Errorf("QR code reads %q (%v), want the host name %q", qr, err, s.Host)
	}
	v, err := setupcheck.Plist(s.MobileConfig)
	if err != nil {
		t.Fatalf("mobileconfig: %v\n%s", err, s.MobileConfig)
	}
	top, _ := v.(map[string]any)
	content, _ := top["PayloadContent"].([]any)
	if top["PayloadType"] != "Configuration" || len(content) != 1 {
		t.Fatalf("profile %v: want a Configuration with one payload", top)
	}
	p, _ := content[0].(map[string]any)
	ds, _ := p["DNSSettings"].(map[string]any)
	if p["PayloadType"] != "com.apple.dnsSettings.managed" || ds["DNSProtocol"] != "HTTPS" || ds["ServerURL"] != s.DoHURL {
		t.Fatalf("payload %v: want com.apple.dnsSettings.managed over HTTPS to %s", p, s.DoHURL)
	}
	url, _ := ds["ServerURL"].(string)
	if got := answer(encClient{t, e, dadSource}.dohURL(url, "bet365.com")); got != "192.0.2.50" {
		t.Errorf("the profile's ServerURL answered %s, want Dad's unfiltered answer", got)
	}

	// The id is shown once: the device never shows it again.
	resp, err := c.http.Get(c.base + "/api/v1/devices/dad-phone")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	secret := s.ID[len(s.ID)-16:]
	if bytes.Contains(body, []byte(secret)) || !bytes.Contains(body, []byte(`"hint":"`+secret[:4]+`"`)) {
		t.Errorf("device after setup: %s; want the hint %q and never the secret", body, secret[:4])
	}
}

// TestAPIRefusesNewChosenClientIDs: the API no longer takes client ids
// that people choose, and an update cannot add one; it can keep or drop
// the ones a device already has.
func TestAPIRefusesNewChosenClientIDs(t *testing.T) {
	e, c := weakParentPhone(t)
	var dev struct {
		ID        string   `json:"id"`
		Name      string   `json:"name"`
		Profile   string   `json:"profile"`
		ClientIDs []string `json:"client_ids"`
		Version   int64    `json:"version"`
	}
	if code := c.do("GET", "/api/v1/devices/dad-phone", nil, &dev); code != 200 {
		t.Fatalf("get: %d", code)
	}
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		want   int
	}{
		{"create with a chosen id", "POST", "/api/v1/devices", map[string]any{"name": "Kid tablet", "client_ids": []string{"mum"}}, 400},
		{"add a chosen id", "PUT", "/api/v1/devices/dad-phone", map[string]any{"id": dev.ID, "name": dev.Name, "profile": dev.Profile, "client_ids": []string{"dad", "mum"}, "version": dev.Version}, 400},
		{"keep the chosen id", "PUT", "/api/v1/devices/dad-phone", map[string]any{"id": dev.ID, "name": "Dad", "profile": dev.Profile, "client_ids": []string{"dad"}, "version": dev.Version}, 200},
	}
	for _, tc := range tests {
		if code := c.do(tc.method, tc.path, tc.body, nil); code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
		}
	}
	if got := answer(encClient{t, e, kidPhone}.doh("/dns-query/mum", "bet365.com")); got != "0.0.0.0" {
		t.Errorf("the refused chosen id mum gave %s, want the kid profile's block", got)
	}
}

// TestGuessingClientIDsIsCountedAndSlowed: the kid's laptop tries ids
// over DoH and DoT. Each unknown id is counted for its source in
// /metrics; after the burst the laptop's queries with unknown ids are
// refused, while another source and a known id still get answers, and
// the laptop earns one more try as time passes.
func TestGuessingClientIDsIsCountedAndSlowed(t *testing.T) {
	e, c := weakParentPhone(t)
	laptop := encClient{t, e, kidLaptop}
	other := encClient{t, e, kidPhone}
	answered, refused := 0, 0
	for i := range 30 {
		guess := "guess" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		var r *dns.Msg
		if i%2 == 0 {
			r = laptop.doh("/dns-query/"+guess, "www.example.org")
		} else {
			r = laptop.dot(guess+".dns.test", "www.example.org")
		}
		switch r.Rcode {
		case dns.RcodeSuccess:
			answered++
		case dns.RcodeRefused:
			refused++
		default:
			t.Fatalf("guess %d: rcode %s", i, dns.RcodeToString[r.Rcode])
		}
	}
	if answered != 10 || refused != 20 {
		t.Errorf("of 30 guesses %d were answered and %d refused, want 10 and 20", answered, refused)
	}
	if r := other.doh("/dns-query/nobody", "www.example.org"); r.Rcode != dns.RcodeSuccess {
		t.Errorf("another source's first unknown id: %s, want an answer", dns.RcodeToString[r.Rcode])
	}
	if got := answer(laptop.doh("/dns-query/dad", "bet365.com")); got != "192.0.2.50" {
		t.Errorf("a known id from the slowed source: %s, want its answer", got)
	}
	if r := laptop.doh("/dns-query", "www.example.org"); r.Rcode != dns.RcodeSuccess {
		t.Errorf("the slowed source without an id: %s, want an answer", dns.RcodeToString[r.Rcode])
	}
	e.clock.Advance(30 * time.Second)
	if r := laptop.doh("/dns-query/guess-again", "www.example.org"); r.Rcode != dns.RcodeSuccess {
		t.Errorf("after 30 s: %s, want one more try answered", dns.RcodeToString[r.Rcode])
	}
	if r := laptop.doh("/dns-query/guess-more", "www.example.org"); r.Rcode != dns.RcodeRefused {
		t.Errorf("right after it: %s, want refused", dns.RcodeToString[r.Rcode])
	}

	// The parent is told: the API the dashboard reads lists the source.
	var listed struct {
		Sources []struct {
			Source         string
			Tries, Refused uint64
		}
	}
	if code := c.do("GET", "/api/v1/unknown-client-ids", nil, &listed); code != 200 || len(listed.Sources) != 2 ||
		listed.Sources[1].Source != kidLaptop || listed.Sources[1].Tries != 32 || listed.Sources[1].Refused != 21 {
		t.Errorf("unknown client ids: %d %+v, want the laptop with 32 tries, 21 refused", code, listed)
	}

	resp, err := c.http.Get(c.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"hearth_client_id_unknown_total 33\n",
		"hearth_client_id_refused_total 21\n",
		`hearth_client_id_unknown_by_source_total{source="` + kidLaptop + `"} 32` + "\n",
		`hearth_client_id_unknown_by_source_total{source="` + kidPhone + `"} 1` + "\n",
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestBrowserDNSIDSetup: in the UI, Dad's phone is marked weak; one click
// replaces its chosen id with a secret one and shows, once, the Android
// host name, the DoH URL, a QR code that the browser renders, and the
// Apple profile download. The host name shown then works over DoT and the
// chosen id no longer does.
func TestBrowserDNSIDSetup(t *testing.T) {
	ctx := browser(t)
	e, _ := weakParentPhone(t)
	base := "http://" + e.app.HTTPAddr()
	// The kid's laptop guesses ids until it is slowed down.
	laptop := encClient{t, e, kidLaptop}
	for i := range 12 {
		laptop.doh("/dns-query/guess"+string(rune('a'+i)), "www.example.org")
	}
	shots := artifacts(t)
	shot := func(name string) chromedp.Action[chromedp.Void] { return screenshot(shots, name) }
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			if buf, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
				os.WriteFile(filepath.Join(shots, "failed-dnsid-"+step+".png"), buf, 0o644)
			}
			t.Fatalf("%s: %v (screenshot in %s)", step, err, shots)
		}
	}
	run("login",
		chromedp.EmulateViewport(412, 915, chromedp.EmulateMobile),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(tid("screen-login")),
		chromedp.SendKeys(tid("login-password"), "correct horse battery"),
		chromedp.Click(tid("login-submit")),
		chromedp.WaitVisible(tid("screen-dashboard")),
		chromedp.WaitVisible(tid("dash-id-guesses")),
		shot("dnsid-0-dashboard"),
	)
	read := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	if note := read(`document.querySelector('[data-testid="dash-id-guesses"]').textContent`); !strings.Contains(note, kidLaptop+" tried 12 ") {
		t.Errorf("dashboard note %q does not name the guessing laptop", note)
	}
	run("rotate",
		chromedp.Navigate(base+"/#/devices"),
		chromedp.WaitVisible(tid("device-weak-dad-phone")),
		chromedp.Navigate(base+"/#/devices/dad-phone"),
		chromedp.WaitVisible(tid("device-dnsid-weak")),
		shot("dnsid-1-weak"),
		chromedp.Click(tid("device-dnsid-rotate")),
		chromedp.WaitVisible(tid("dnsid-setup")),
		chromedp.WaitVisible(tid("dnsid-mobileconfig")),
		shot("dnsid-2-setup"),
	)
	host := read(`document.querySelector('[data-testid="dnsid-host"]').textContent`)
	if !strings.HasPrefix(host, "dads-phone-") || !strings.HasSuffix(host, ".dns.test") {
		t.Fatalf("UI shows host %q", host)
	}
	if w := read(`String(document.querySelector('[data-testid="dnsid-qr"]').naturalWidth)`); w == "0" {
		t.Error("the QR code image did not load (CSP or a bad PNG)")
	}
	if href := read(`document.querySelector('[data-testid="dnsid-mobileconfig"]').href`); !strings.HasPrefix(href, "blob:") {
		t.Errorf("profile link %q, want a blob: download", href)
	}
	dad, kid := encClient{t, e, dadSource}, encClient{t, e, kidPhone}
	if got := answer(dad.dot(host, "bet365.com")); got != "192.0.2.50" {
		t.Errorf("the UI's host name over DoT: %s, want Dad's answer", got)
	}
	if got := answer(kid.dot("dad.dns.test", "bet365.com")); got != "0.0.0.0" {
		t.Errorf("the old chosen id over DoT: %s, want the kid profile's block", got)
	}
	// Reloading the page shows the hint, never the id again.
	run("reload", chromedp.Navigate(base+"/#/devices"), chromedp.Navigate(base+"/#/devices/dad-phone"), chromedp.WaitVisible(tid("device-dnsid-status")), shot("dnsid-3-after"))
	if text := read(`document.querySelector('[data-testid="screen-device"]').textContent`); strings.Contains(text, host) {
		t.Error("the device screen shows the id again after a reload")
	}

	// One click makes a new id; the old host name stops at once.
	run("rotate again", chromedp.Click(tid("device-dnsid-rotate")), chromedp.WaitVisible(tid("dnsid-host")), shot("dnsid-4-rotated"))
	next := read(`document.querySelector('[data-testid="dnsid-host"]').textContent`)
	if next == host || !strings.HasSuffix(next, ".dns.test") {
		t.Fatalf("after rotation the UI shows host %q (before %q)", next, host)
	}
	if got := answer(dad.dot(host, "bet365.com")); got != "0.0.0.0" {
		t.Errorf("the old host name over DoT after rotation: %s, want the kid profile's block", got)
	}
	if got := answer(dad.dot(next, "bet365.com")); got != "192.0.2.50" {
		t.Errorf("the new host name over DoT: %s, want Dad's answer", got)
	}
}

// TestConfigChosenClientIDIsWeak: a config-file device with a chosen
// client_id still works, but the log warns at start, naming the field and
// never the id; the API's read-only copy keeps the id, so it shows weak.
func TestConfigChosenClientIDIsWeak(t *testing.T) {
	var logs bytes.Buffer
	doc := testConfigDoc(t, dnstest.NewCert(t), "127.0.0.1:9", "devices:\n  - {name: mum-laptop, client_id: mum-secret-word, profile: adult}\n")
	cfg, err := config.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	out := logs.String()
	if !strings.Contains(out, "weak client id") || !strings.Contains(out, "devices[0].client_id") || strings.Contains(out, "mum-secret-word") {
		t.Errorf("log %q: want a weak client id warning naming devices[0].client_id and not the id", out)
	}
	_, devices := backend{a}.Provisioned()
	if len(devices) != 1 || !slices.Equal(devices[0].ClientIDs, []string{"mum-secret-word"}) {
		t.Fatalf("provisioned devices %+v", devices)
	}
}
