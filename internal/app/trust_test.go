package app

// End-to-end tests of issue #9, sections 3 and 5: each starts the real
// server on loopback ports and attacks its admin listener with a real
// HTTP client, as a guest or a child on the home network would.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/admintls"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// adminEnv is a running Hearth with its admin listener, and its log.
type adminEnv struct {
	t     *testing.T
	app   *App
	clock *dnstest.Clock
	cert  *dnstest.Cert
	// base is the admin URL ("http://127.0.0.1:port").
	base string
	// port is the admin listener's port.
	port string
	logs *lockedBuffer
}

// lockedBuffer is a bytes.Buffer the server's goroutines can log to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startAdmin starts Hearth with the admin listener on 127.0.0.1 and
// extra YAML, logging to a buffer.
func startAdmin(t *testing.T, extra string) *adminEnv {
	t.Helper()
	e := &adminEnv{t: t, cert: dnstest.NewCert(t), clock: dnstest.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)), logs: &lockedBuffer{}}
	up := dnstest.NewServer(t, dnstest.Zone(t, "example.org. 300 IN A 192.0.2.54"))
	doc := strings.Replace(testConfigDoc(t, e.cert, up.Addr, extra), `http: ""`, `http: "127.0.0.1:0"`, 1)
	cfg, err := config.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := New(cfg, log, WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	e.app = a
	_, e.port, _ = net.SplitHostPort(a.HTTPAddr())
	e.base = "http://" + a.HTTPAddr()
	if strings.Contains(extra, "tls: self-signed") || strings.Contains(extra, "tls: cert") {
		e.base = "https://" + a.HTTPAddr()
	}
	return e
}

// setupCode returns the code the server logged at start.
func (e *adminEnv) setupCode() string {
	e.t.Helper()
	_, rest, ok := strings.Cut(e.logs.String(), "setup_code=")
	if !ok {
		e.t.Fatalf("no setup code in the log:\n%s", e.logs)
	}
	return strings.Fields(rest)[0]
}

// adminClient is one device's HTTP client: its own cookies, its own source
// address on loopback, and the CSRF token of its session.
type adminClient struct {
	e    *adminEnv
	c    *http.Client
	csrf string
}

// from returns a client whose connections come from source ip
// (127.0.0.x: Linux routes all of 127/8 to loopback).
func (e *adminEnv) from(ip string) *adminClient {
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	if strings.HasPrefix(e.base, "https://") {
		tr.TLSClientConfig = e.trust()
	}
	return &adminClient{e: e, c: &http.Client{Jar: jar, Transport: tr, Timeout: 10 * time.Second}}
}

// trust returns a TLS config that trusts the admin certificate the
// server made in its data directory.
func (e *adminEnv) trust() *tls.Config {
	e.t.Helper()
	pool := x509.NewCertPool()
	pemFile := filepath.Join(e.app.cfg.DataDir, admintls.CertFile)
	if e.app.cfg.Admin.TLS == config.AdminTLSCert {
		pemFile = e.cert.CertFile
	}
	b, err := os.ReadFile(pemFile)
	if err != nil {
		e.t.Fatal(err)
	}
	if !pool.AppendCertsFromPEM(b) {
		e.t.Fatalf("no certificate in %s", pemFile)
	}
	return &tls.Config{RootCAs: pool}
}

// req is one request's extras.
type req struct {
	host    string            // Host header, if not the address dialled
	headers map[string]string // more headers
	bearer  string            // Authorization: Bearer
	noCSRF  bool              // leave the session's CSRF token out
}

// do sends method path with a JSON body (when not nil) and returns the
// status and the decoded JSON answer (or the raw body under "raw").
func (b *adminClient) do(method, path string, body any, o req) (int, map[string]any, http.Header) {
	b.e.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	r, err := http.NewRequest(method, b.e.base+path, rd)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if o.host != "" {
		r.Host = o.host
	}
	if b.csrf != "" && !o.noCSRF && method != "GET" {
		r.Header.Set("X-CSRF-Token", b.csrf)
	}
	if o.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+o.bearer)
	}
	for k, v := range o.headers {
		r.Header.Set(k, v)
	}
	resp, err := b.c.Do(r)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if json.Unmarshal(raw, &out) != nil {
		out = map[string]any{"raw": string(raw)}
	}
	return resp.StatusCode, out, resp.Header
}

// setup runs first-run setup with the logged code and keeps the session.
func (b *adminClient) setup(pw string) {
	b.e.t.Helper()
	code, out, _ := b.do("POST", "/api/v1/setup", map[string]string{"code": b.e.setupCode(), "password": pw}, req{})
	if code != http.StatusCreated {
		b.e.t.Fatalf("setup: %d %v", code, out)
	}
	b.csrf, _ = out["csrf"].(string)
}

// login logs in as admin and keeps the session.
func (b *adminClient) login(pw string) int {
	b.e.t.Helper()
	code, out, _ := b.do("POST", "/api/v1/login", map[string]string{"user": "admin", "password": pw}, req{})
	if code == http.StatusOK {
		b.csrf, _ = out["csrf"].(string)
	}
	return code
}

// token creates a token and returns its secret.
func (b *adminClient) token(name, scope string, expires *time.Time) string {
	b.e.t.Helper()
	body := map[string]any{"name": name, "scope": scope}
	if expires != nil {
		body["expires"] = expires.Format(time.RFC3339)
	}
	code, out, _ := b.do("POST", "/api/v1/tokens", body, req{})
	if code != http.StatusCreated {
		b.e.t.Fatalf("token %s: %d %v", name, code, out)
	}
	return out["token"].(string)
}

const parentPW = "correct horse battery"

// TestAttackSetupWithoutCode: whoever reaches the page first can no
// longer become the admin; only the holder of the logged code can.
func TestAttackSetupWithoutCode(t *testing.T) {
	e := startAdmin(t, "")
	guest := e.from("127.0.0.2")
	tests := []struct {
		name     string
		body     map[string]string
		wantCode int
	}{
		{"no code", map[string]string{"password": "guest's own password"}, http.StatusBadRequest},
		{"empty code", map[string]string{"code": "", "password": "guest's own password"}, http.StatusBadRequest},
		{"guessed code", map[string]string{"code": "ABCD-EFGH-JKMN", "password": "guest's own password"}, http.StatusForbidden},
		{"code of the wrong shape", map[string]string{"code": "123456", "password": "guest's own password"}, http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, _ := guest.do("POST", "/api/v1/setup", tc.body, req{})
			if code != tc.wantCode || !strings.HasPrefix(fmt.Sprint(out["error"]), "code: ") {
				t.Errorf("setup: %d %v, want %d naming the code", code, out, tc.wantCode)
			}
		})
	}
	if users, err := e.app.store.Users(context.Background()); err != nil || len(users) != 0 {
		t.Fatalf("users after the guest's attempts: %v %v", users, err)
	}
	// The parent reads the code in the log and sets Hearth up.
	parent := e.from("127.0.0.3")
	parent.setup(parentPW)
	if code, _, _ := parent.do("GET", "/api/v1/devices", nil, req{}); code != http.StatusOK {
		t.Errorf("the parent's session after setup: %d", code)
	}
	// The used code opens nothing again.
	code, _, _ := guest.do("POST", "/api/v1/setup", map[string]string{"code": e.setupCode(), "password": "guest's own password"}, req{})
	if code != http.StatusConflict {
		t.Errorf("setup again with the used code: %d, want 409", code)
	}
}

// TestAttackDNSRebinding: a web page whose name now resolves to the
// server (DNS rebinding) sends its own name as Host; the admin listener
// refuses it with 421 on every route but /healthz, and accepts its own
// names and addresses.
func TestAttackDNSRebinding(t *testing.T) {
	e := startAdmin(t, "admin:\n  hosts: [hearth.lan]\n")
	c := e.from("127.0.0.2")
	tests := []struct {
		name, method, path, host string
		want                     int
	}{
		{"rebound name, setup status", "GET", "/api/v1/setup", "evil.example:" + e.port, http.StatusMisdirectedRequest},
		{"rebound name, setup", "POST", "/api/v1/setup", "evil.example:" + e.port, http.StatusMisdirectedRequest},
		{"rebound name, login", "POST", "/api/v1/login", "evil.example", http.StatusMisdirectedRequest},
		{"rebound name, UI", "GET", "/", "evil.example:" + e.port, http.StatusMisdirectedRequest},
		{"rebound name, metrics", "GET", "/metrics", "evil.example:" + e.port, http.StatusMisdirectedRequest},
		{"a name ending in a configured one", "GET", "/api/v1/setup", "hearth.lan.evil.example:" + e.port, http.StatusMisdirectedRequest},
		{"an address the server does not hold", "GET", "/api/v1/setup", "192.0.2.1:" + e.port, http.StatusMisdirectedRequest},
		{"health probe by any name", "GET", "/healthz", "evil.example:" + e.port, http.StatusOK},
		{"configured name", "GET", "/api/v1/setup", "hearth.lan:" + e.port, http.StatusOK},
		{"configured name, other case, trailing dot", "GET", "/api/v1/setup", "HEARTH.LAN.:" + e.port, http.StatusOK},
		{"localhost", "GET", "/api/v1/setup", "localhost:" + e.port, http.StatusOK},
		{"the address dialled", "GET", "/api/v1/setup", "127.0.0.1:" + e.port, http.StatusOK},
		{"IPv6 loopback", "GET", "/api/v1/setup", "[::1]:" + e.port, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.method == "POST" {
				body = map[string]string{"user": "admin", "password": "whatever-it-is"}
			}
			code, out, _ := c.do(tc.method, tc.path, body, req{host: tc.host})
			if code != tc.want {
				t.Errorf("%s %s with Host %s: %d %v, want %d", tc.method, tc.path, tc.host, code, out, tc.want)
			}
		})
	}
	if !strings.Contains(e.logs.String(), "unknown Host") {
		t.Error("refused Hosts were not logged")
	}
}

// TestAttackCrossOriginPost: a page on another site makes the parent's
// browser send changes with its cookie. Origin and Sec-Fetch-Site give it
// away even when it got hold of the CSRF token; same-origin changes work.
func TestAttackCrossOriginPost(t *testing.T) {
	e := startAdmin(t, "")
	parent := e.from("127.0.0.2")
	parent.setup(parentPW)
	device := map[string]any{"name": "Evil's device", "ips": []string{"192.168.1.66"}, "profile": "adult"}
	tests := []struct {
		name    string
		path    string
		body    any
		headers map[string]string
		want    int
	}{
		{"Origin of another site", "/api/v1/devices", device, map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"Origin of another port", "/api/v1/devices", device, map[string]string{"Origin": "http://127.0.0.1:1"}, http.StatusForbidden},
		{"Origin null (sandboxed frame)", "/api/v1/devices", device, map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"Sec-Fetch-Site cross-site", "/api/v1/devices", device, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"Sec-Fetch-Site same-site (a sibling host)", "/api/v1/devices", device, map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"login from another site", "/api/v1/login", map[string]string{"user": "admin", "password": parentPW}, map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"password change from another site", "/api/v1/password", map[string]string{"current": parentPW, "new": "evil's new password"}, map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"same origin", "/api/v1/devices", device, map[string]string{"Origin": e.base, "Sec-Fetch-Site": "same-origin"}, http.StatusCreated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, _ := parent.do("POST", tc.path, tc.body, req{headers: tc.headers})
			if code != tc.want {
				t.Errorf("POST %s: %d %v, want %d", tc.path, code, out, tc.want)
			}
			if tc.want == http.StatusForbidden && !strings.HasPrefix(fmt.Sprint(out["error"]), "cross-origin request refused") {
				t.Errorf("error %v, want it to say cross-origin", out["error"])
			}
		})
	}
	devs, err := e.app.store.Devices(context.Background(), "")
	if err != nil || len(devs) != 1 {
		t.Errorf("devices: %d (%v), want only the same-origin one", len(devs), err)
	}
	if code := e.from("127.0.0.3").login(parentPW); code != http.StatusOK {
		t.Errorf("the password changed cross-site: login with the old one: %d", code)
	}
}

// TestAttackKidLocksOutParent: a kid fails on purpose as "admin" from
// their tablet until refused; the parent, on their own phone, still logs
// in, and the kid's tablet stays refused.
func TestAttackKidLocksOutParent(t *testing.T) {
	e := startAdmin(t, "")
	e.from("127.0.0.2").setup(parentPW)
	kid, parent := e.from("127.0.0.20"), e.from("127.0.0.30")
	for i := range 5 {
		if code := kid.login(fmt.Sprintf("guess number %d", i)); code != http.StatusUnauthorized {
			t.Fatalf("kid's guess %d: %d, want 401", i, code)
		}
	}
	tests := []struct {
		name string
		b    *adminClient
		pw   string
		want int
	}{
		{"kid keeps guessing", kid, "guess number 6", http.StatusTooManyRequests},
		{"kid even with the right password", kid, parentPW, http.StatusTooManyRequests},
		{"parent on their phone", parent, parentPW, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code := tc.b.login(tc.pw); code != tc.want {
				t.Errorf("login: %d, want %d", code, tc.want)
			}
		})
	}
	// The lock lifts when the window has passed.
	e.clock.Advance(16 * time.Minute)
	if code := kid.login("guess after the wait"); code != http.StatusUnauthorized {
		t.Errorf("kid after 16 minutes: %d, want 401 (a new try, wrong)", code)
	}
}

// TestAttackOldCredentialsAfterPasswordChange: the parent suspects the
// password leaked and changes it on the laptop; the session on the
// tablet the kid used, and every token, stop working; the laptop stays
// logged in.
func TestAttackOldCredentialsAfterPasswordChange(t *testing.T) {
	e := startAdmin(t, "")
	laptop := e.from("127.0.0.2")
	laptop.setup(parentPW)
	tablet := e.from("127.0.0.3")
	if code := tablet.login(parentPW); code != http.StatusOK {
		t.Fatalf("tablet login: %d", code)
	}
	adminTok := laptop.token("home assistant", "admin", nil)
	metricsTok := laptop.token("prometheus", "metrics", nil)
	noToken := e.from("127.0.0.4")

	code, out, _ := laptop.do("POST", "/api/v1/password", map[string]string{"current": parentPW, "new": "a brand new passphrase"}, req{})
	if code != http.StatusNoContent {
		t.Fatalf("change password: %d %v", code, out)
	}
	tests := []struct {
		name string
		b    *adminClient
		path string
		o    req
		want int
	}{
		{"the tablet's session", tablet, "/api/v1/devices", req{}, http.StatusUnauthorized},
		{"the admin token", noToken, "/api/v1/devices", req{bearer: adminTok}, http.StatusUnauthorized},
		{"the metrics token", noToken, "/metrics", req{bearer: metricsTok}, http.StatusUnauthorized},
		{"the laptop that changed it", laptop, "/api/v1/devices", req{}, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, out, _ := tc.b.do("GET", tc.path, nil, tc.o); code != tc.want {
				t.Errorf("GET %s: %d %v, want %d", tc.path, code, out, tc.want)
			}
		})
	}
	if code := tablet.login(parentPW); code != http.StatusUnauthorized {
		t.Errorf("login with the old password: %d, want 401", code)
	}
	if code, _, _ := laptop.do("GET", "/api/v1/tokens", nil, req{}); code != http.StatusOK {
		t.Errorf("list tokens: %d", code)
	}
}

// TestAttackTokenScopes: a read token cannot write, a metrics token reads
// only /metrics, an expired token does nothing; the list shows scope,
// expiry and last use, and a revoked token stops at once.
func TestAttackTokenScopes(t *testing.T) {
	e := startAdmin(t, "")
	parent := e.from("127.0.0.2")
	parent.setup(parentPW)
	inAnHour := e.clock.Now().Add(time.Hour)
	read := parent.token("dashboard", "read", nil)
	metrics := parent.token("prometheus", "metrics", nil)
	admin := parent.token("home assistant", "admin", nil)
	expiring := parent.token("guest week", "admin", &inAnHour)
	c := e.from("127.0.0.5")
	device := map[string]any{"name": "Token's device", "ips": []string{"192.168.1.77"}, "profile": "adult"}

	type call struct {
		method, path string
		body         any
		token        string
		want         int
	}
	check := func(t *testing.T, calls []call) {
		t.Helper()
		for _, tc := range calls {
			code, out, _ := c.do(tc.method, tc.path, tc.body, req{bearer: tc.token})
			if code != tc.want {
				t.Errorf("%s %s: %d %v, want %d", tc.method, tc.path, code, out, tc.want)
			}
		}
	}
	t.Run("scopes", func(t *testing.T) {
		check(t, []call{
			{"GET", "/api/v1/devices", nil, read, http.StatusOK},
			{"GET", "/metrics", nil, read, http.StatusOK},
			{"POST", "/api/v1/devices", device, read, http.StatusForbidden},
			{"PUT", "/api/v1/settings", map[string]any{"time_zone": "UTC"}, read, http.StatusForbidden},
			{"POST", "/api/v1/tokens", map[string]any{"name": "escalate", "scope": "admin"}, read, http.StatusForbidden},
			{"POST", "/api/v1/pause", map[string]any{"minutes": 30}, read, http.StatusForbidden},
			{"GET", "/metrics", nil, metrics, http.StatusOK},
			{"GET", "/api/v1/devices", nil, metrics, http.StatusForbidden},
			{"GET", "/api/v1/querylog", nil, metrics, http.StatusForbidden},
			{"POST", "/api/v1/devices", device, admin, http.StatusCreated},
			{"GET", "/api/v1/devices", nil, expiring, http.StatusOK},
		})
	})
	e.clock.Advance(time.Hour)
	t.Run("expired", func(t *testing.T) {
		check(t, []call{
			{"GET", "/api/v1/devices", nil, expiring, http.StatusUnauthorized},
			{"GET", "/metrics", nil, expiring, http.StatusUnauthorized},
			{"GET", "/api/v1/devices", nil, read, http.StatusOK},
		})
	})
	if devs, _ := e.app.store.Devices(context.Background(), ""); len(devs) != 1 {
		t.Errorf("%d devices, want only the admin token's", len(devs))
	}

	var list struct {
		Tokens []struct {
			ID, Name, Scope string
			Expires         *time.Time
			LastUsed        *time.Time `json:"last_used"`
			Expired         bool
		}
	}
	code, out, _ := parent.do("GET", "/api/v1/tokens", nil, req{})
	raw, _ := json.Marshal(out)
	if code != http.StatusOK || json.Unmarshal(raw, &list) != nil || len(list.Tokens) != 4 {
		t.Fatalf("token list: %d %v", code, out)
	}
	ids := map[string]string{}
	for _, tk := range list.Tokens {
		ids[tk.Name] = tk.ID
		switch tk.Name {
		case "guest week":
			if tk.Scope != "admin" || !tk.Expired || tk.Expires == nil || !tk.Expires.Equal(inAnHour) {
				t.Errorf("guest week: %+v, want admin, expired at %v", tk, inAnHour)
			}
		case "dashboard":
			if tk.Scope != "read" || tk.Expired || tk.Expires != nil || tk.LastUsed == nil || !tk.LastUsed.Equal(e.clock.Now()) {
				t.Errorf("dashboard: %+v, want read, never expiring, last used now", tk)
			}
		}
	}
	if code, _, _ := parent.do("DELETE", "/api/v1/tokens/"+ids["dashboard"], nil, req{}); code != http.StatusNoContent {
		t.Fatalf("revoke: %d", code)
	}
	check(t, []call{{"GET", "/api/v1/devices", nil, read, http.StatusUnauthorized}})
}

// TestMetricsScrapeNetworks: /metrics needs a token, except from the
// configured scrape networks.
func TestMetricsScrapeNetworks(t *testing.T) {
	e := startAdmin(t, "admin:\n  metrics_networks: [127.0.0.7/32]\n")
	tests := []struct {
		name, from, path string
		want             int
	}{
		{"scraper in the network", "127.0.0.7", "/metrics", http.StatusOK},
		{"the network does not open the API", "127.0.0.7", "/api/v1/devices", http.StatusUnauthorized},
		{"another address", "127.0.0.8", "/metrics", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, _ := e.from(tc.from).do("GET", tc.path, nil, req{})
			if code != tc.want {
				t.Errorf("GET %s from %s: %d %v, want %d", tc.path, tc.from, code, out, tc.want)
			}
		})
	}
}

// TestAttackWeakPasswords: setup and password changes refuse empty,
// blank, short and common passwords, name the field, and change nothing.
func TestAttackWeakPasswords(t *testing.T) {
	e := startAdmin(t, "")
	parent := e.from("127.0.0.2")
	tests := []struct {
		name, pw, wantErr string
	}{
		{"empty", "", "required"},
		{"spaces", "            ", "must not be only spaces"},
		{"tabs and newlines", "\t\t\n\n\t\t\n\n\t\t", "must not be only spaces"},
		{"nine characters", "kq7#zm!2x", "at least 10 characters"},
		{"common", "password123", "one of the most common passwords"},
		{"common, capitalised", "Qwertyuiop", "one of the most common passwords"},
		{"repetitive", "aaaaaaaaaaaaaaaa", "too repetitive"},
	}
	for _, tc := range tests {
		t.Run("setup "+tc.name, func(t *testing.T) {
			code, out, _ := parent.do("POST", "/api/v1/setup", map[string]string{"code": e.setupCode(), "password": tc.pw}, req{})
			if code != http.StatusBadRequest || out["error"] != "password: "+tc.wantErr && !strings.HasPrefix(fmt.Sprint(out["error"]), "password: "+tc.wantErr) {
				t.Errorf("setup with %q: %d %v, want 400 password: %s", tc.pw, code, out, tc.wantErr)
			}
		})
	}
	if users, _ := e.app.store.Users(context.Background()); len(users) != 0 {
		t.Fatalf("a weak password created a user")
	}
	parent.setup(parentPW)
	for _, tc := range tests {
		t.Run("change to "+tc.name, func(t *testing.T) {
			code, out, _ := parent.do("POST", "/api/v1/password", map[string]string{"current": parentPW, "new": tc.pw}, req{})
			if code != http.StatusBadRequest || !strings.HasPrefix(fmt.Sprint(out["error"]), "new: "+tc.wantErr) {
				t.Errorf("change to %q: %d %v, want 400 new: %s", tc.pw, code, out, tc.wantErr)
			}
		})
	}
	if code := e.from("127.0.0.3").login(parentPW); code != http.StatusOK {
		t.Errorf("the old password after refused changes: %d, want 200", code)
	}
}

// TestAdminHTTPS: with admin.tls the UI and API are served over HTTPS
// (a self-signed certificate kept in data_dir, or the DoT/DoH one), with
// HSTS and a Secure session cookie; plain HTTP is not answered.
func TestAdminHTTPS(t *testing.T) {
	for _, mode := range []string{"self-signed", "cert"} {
		t.Run(mode, func(t *testing.T) {
			e := startAdmin(t, "admin:\n  tls: "+mode+"\n")
			parent := e.from("127.0.0.2")
			code, out, h := parent.do("GET", "/", nil, req{})
			if code != http.StatusOK || h.Get("Strict-Transport-Security") != "max-age=31536000" {
				t.Errorf("GET / over HTTPS: %d %v, HSTS %q", code, out["raw"] != nil, h.Get("Strict-Transport-Security"))
			}
			r, _ := http.NewRequest("POST", e.base+"/api/v1/setup", strings.NewReader(fmt.Sprintf(`{"code":%q,"password":%q}`, e.setupCode(), parentPW)))
			r.Header.Set("Content-Type", "application/json")
			resp, err := parent.c.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var secure bool
			for _, c := range resp.Cookies() {
				secure = secure || c.Name == "hearth_session" && c.Secure
			}
			if resp.StatusCode != http.StatusCreated || !secure {
				t.Errorf("setup over HTTPS: %d, Secure cookie %v", resp.StatusCode, secure)
			}
			// The name the DoT/DoH certificate was issued for is one of
			// the server's names.
			wantDNSTest := http.StatusMisdirectedRequest
			if mode == "cert" {
				wantDNSTest = http.StatusOK
			}
			if code, out, _ := parent.do("GET", "/api/v1/setup", nil, req{host: "dns.test:" + e.port}); code != wantDNSTest {
				t.Errorf("Host dns.test: %d %v, want %d", code, out, wantDNSTest)
			}
			// Plain HTTP is redirected to the same URL over HTTPS, never
			// answered.
			noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			plain, err := noFollow.Get("http://" + e.app.HTTPAddr() + "/api/v1/setup?from=phone")
			if err != nil {
				t.Fatalf("plain HTTP: %v", err)
			}
			body, _ := io.ReadAll(plain.Body)
			plain.Body.Close()
			wantLoc := "https://" + e.app.HTTPAddr() + "/api/v1/setup?from=phone"
			if plain.StatusCode != http.StatusPermanentRedirect || plain.Header.Get("Location") != wantLoc || len(body) != 0 {
				t.Errorf("plain HTTP: %d, Location %q, body %q; want 308 to %s", plain.StatusCode, plain.Header.Get("Location"), body, wantLoc)
			}
			if code, _, _ := parent.do("GET", strings.TrimPrefix(wantLoc, e.base), nil, req{}); code != http.StatusOK {
				t.Errorf("the redirect's target over HTTPS: %d", code)
			}
			// A Host that cannot go into a Location header is refused;
			// so is anything else that is not TLS, and the listener goes
			// on serving.
			for _, raw := range []string{
				"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
				"GET / HTTP/1.1\r\nHost: evil.example\"><script>\r\n\r\n",
				"\x00\x01garbage\r\n\r\n",
			} {
				c, err := net.Dial("tcp", e.app.HTTPAddr())
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, raw)
				got, _ := io.ReadAll(c)
				c.Close()
				if strings.Contains(string(got), "Location") || strings.Contains(string(got), "200 OK") {
					t.Errorf("%q answered %q, want 400 or nothing", raw, got)
				}
			}
			if code, _, _ := parent.do("GET", "/api/v1/setup", nil, req{}); code != http.StatusOK {
				t.Errorf("HTTPS after the plain requests: %d", code)
			}
		})
	}
}
