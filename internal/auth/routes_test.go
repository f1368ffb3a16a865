package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// harness is an Auth over a fake store and clock, with its routes and a
// protected echo route (any method on /api/v1/echo) that answers with the
// principal.
type harness struct {
	t     *testing.T
	acc   *fakeAccounts
	clock *fakeClock
	auth  *Auth
	mux   *http.ServeMux
	logs  *syncBuffer
}

func newHarness(t *testing.T, mods ...func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, acc: newFakeAccounts(), clock: newFakeClock(), logs: &syncBuffer{}}
	c := Config{
		Accounts: h.acc,
		Now:      h.clock.Now,
		Logger:   slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mods {
		m(&c)
	}
	a, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.auth = a
	h.mux = http.NewServeMux()
	a.Routes(h.mux)
	h.mux.Handle("/api/v1/echo", a.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := FromContext(r.Context())
		if !ok {
			writeError(w, http.StatusInternalServerError, "no principal")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"user": p.User, "session": p.Session, "csrf": p.CSRF})
	})))
	return h
}

// addUser stores a user whose hash is cheap to check.
func (h *harness) addUser(name, pw string) {
	h.t.Helper()
	if err := h.acc.PutUser(context.Background(), store.User{Name: name, PasswordHash: hashWith(cheapParams(), pw), Created: h.clock.Now()}); err != nil {
		h.t.Fatal(err)
	}
}

type reqOpt func(*http.Request)

func withCookie(v string) reqOpt {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: CookieName, Value: v}) }
}
func withCSRF(v string) reqOpt { return func(r *http.Request) { r.Header.Set(CSRFHeader, v) } }
func withBearer(v string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+v) }
}
func from(addr string) reqOpt { return func(r *http.Request) { r.RemoteAddr = addr } }
func withHeader(k, v string) reqOpt {
	return func(r *http.Request) { r.Header.Set(k, v) }
}

// do serves one request; a non-empty body is sent as application/json.
func (h *harness) do(method, target, body string, opts ...reqOpt) *httptest.ResponseRecorder {
	h.t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	h.mux.ServeHTTP(w, r)
	return w
}

// login logs in and returns the cookie value and CSRF token.
func (h *harness) login(user, pw string, opts ...reqOpt) (cookie, csrf string) {
	h.t.Helper()
	w := h.do("POST", "/api/v1/login", loginBody(user, pw), opts...)
	if w.Code != http.StatusOK {
		h.t.Fatalf("login %s: %d %s", user, w.Code, w.Body)
	}
	return sessionCookie(h.t, w).Value, body(h.t, w)["csrf"].(string)
}

func loginBody(user, pw string) string {
	b, _ := json.Marshal(map[string]string{"user": user, "password": pw})
	return string(b)
}

func sessionCookie(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", CookieName, w.Result().Header["Set-Cookie"])
	return nil
}

func body(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q, want JSON; body %s", ct, w.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	return m
}

// wantError checks an error answer: its status and {"error": msg}.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, msg string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	b := body(t, w)
	if got, _ := b["error"].(string); got != msg || len(b) != 1 {
		t.Errorf("body %s, want {\"error\":%q}", w.Body, msg)
	}
}

// setupCode returns the current setup code.
func (h *harness) setupCode() string {
	h.t.Helper()
	code, needed, err := h.auth.SetupCode(context.Background())
	if err != nil || !needed {
		h.t.Fatalf("SetupCode: %q, %v, %v", code, needed, err)
	}
	return code
}

// setupBody is a setup request's JSON.
func setupBody(code, user, pw string) string {
	b, _ := json.Marshal(map[string]string{"code": code, "user": user, "password": pw})
	return string(b)
}

func TestSetupFlow(t *testing.T) {
	h := newHarness(t)
	needed := func() bool {
		w := h.do("GET", "/api/v1/setup", "")
		if w.Code != http.StatusOK {
			t.Fatalf("GET setup: %d %s", w.Code, w.Body)
		}
		return body(t, w)["needed"].(bool)
	}
	if !needed() {
		t.Fatal("setup not needed with no user")
	}
	code := h.setupCode()
	if again := h.setupCode(); again != code {
		t.Errorf("setup code changed between calls: %q then %q", code, again)
	}
	for _, tc := range []struct {
		name, body string
		status     int
		msg        string
	}{
		{"no code", `{"password":"long enough"}`, 400, "code: required; it is in hearth's log, or run `hearth admin setup-code`"},
		{"blank code", setupBody("  ", "", "long enough"), 400, "code: required; it is in hearth's log, or run `hearth admin setup-code`"},
		{"wrong code", setupBody("AAAA-AAAA-AAAA", "", "long enough"), 403, "code: wrong setup code; it is in hearth's log, or run `hearth admin setup-code`"},
		{"short password", setupBody(code, "", "short"), 400, "password: at least 10 characters"},
		{"bad user", setupBody(code, "a b", "long enough"), 400, `user: "a b": only letters, digits and . _ - @ allowed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, h.do("POST", "/api/v1/setup", tc.body), tc.status, tc.msg)
		})
	}
	if !needed() {
		t.Fatal("a refused setup created a user")
	}

	// The code is accepted without dashes and in lower case.
	typed := strings.ToLower(strings.ReplaceAll(code, "-", " "))
	w := h.do("POST", "/api/v1/setup", setupBody(typed, "", "long enough"))
	if w.Code != http.StatusCreated {
		t.Fatalf("POST setup: %d %s", w.Code, w.Body)
	}
	b := body(t, w)
	if b["user"] != "admin" || b["csrf"] == "" {
		t.Errorf("setup answered %s, want user admin and a csrf token", w.Body)
	}
	cookie := sessionCookie(t, w)
	if needed() {
		t.Error("setup still needed after the first user")
	}
	if c, needed, err := h.auth.SetupCode(context.Background()); c != "" || needed || err != nil {
		t.Errorf("SetupCode after setup: %q, %v, %v; want none", c, needed, err)
	}
	// Setup logged in: the cookie works.
	if w := h.do("GET", "/api/v1/session", "", withCookie(cookie.Value)); w.Code != 200 || body(t, w)["user"] != "admin" {
		t.Errorf("session after setup: %d %s", w.Code, w.Body)
	}
	// And the password was stored hashed.
	h.login("admin", "long enough")

	wantError(t, h.do("POST", "/api/v1/setup", setupBody(code, "mallory", "long enough")), 409, "already set up")
	if _, ok := h.acc.user("mallory"); ok {
		t.Error("a second setup created a user")
	}
}

// TestSetupCodeGuessesLimited: guessing the code is limited per address
// like a password; another address is not affected.
func TestSetupCodeGuessesLimited(t *testing.T) {
	h := newHarness(t)
	code := h.setupCode()
	for i := range defaultFailures {
		w := h.do("POST", "/api/v1/setup", setupBody(fmt.Sprintf("AAAA-AAAA-AAA%d", i+2), "", "long enough"), from("192.0.2.9:1"))
		if w.Code != http.StatusForbidden {
			t.Fatalf("guess %d: %d %s", i, w.Code, w.Body)
		}
	}
	if w := h.do("POST", "/api/v1/setup", setupBody(code, "", "long enough"), from("192.0.2.9:1")); w.Code != http.StatusTooManyRequests {
		t.Errorf("right code after %d guesses from the same address: %d %s, want 429", defaultFailures, w.Code, w.Body)
	}
	if w := h.do("POST", "/api/v1/setup", setupBody(code, "", "long enough"), from("192.0.2.10:1")); w.Code != http.StatusCreated {
		t.Errorf("right code from another address: %d %s, want 201", w.Code, w.Body)
	}
}

func TestSetupNamedUser(t *testing.T) {
	h := newHarness(t)
	w := h.do("POST", "/api/v1/setup", setupBody(h.setupCode(), "mum", "long enough"))
	if w.Code != http.StatusCreated || body(t, w)["user"] != "mum" {
		t.Fatalf("POST setup: %d %s", w.Code, w.Body)
	}
	if _, ok := h.acc.user("mum"); !ok {
		t.Error("user mum not stored")
	}
}

// TestSetupConcurrent: of simultaneous first-run requests, one wins.
func TestSetupConcurrent(t *testing.T) {
	h := newHarness(t)
	code := h.setupCode()
	const n = 4
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes <- h.do("POST", "/api/v1/setup", setupBody(code, fmt.Sprintf("u%d", i), "long enough")).Code
		})
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[201] != 1 || count[409] != n-1 {
		t.Errorf("status counts %v, want one 201 and %d 409", count, n-1)
	}
	if users, _ := h.acc.Users(context.Background()); len(users) != 1 {
		t.Errorf("%d users, want 1", len(users))
	}
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		opts        []reqOpt
		wantStatus  int
		wantErr     string
		wantSession bool
	}{
		{name: "ok", body: loginBody("admin", "password123"), wantStatus: 200, wantSession: true},
		{name: "wrong password", body: loginBody("admin", "password124"), wantStatus: 401, wantErr: "wrong user name or password"},
		{name: "unknown user", body: loginBody("root", "password123"), wantStatus: 401, wantErr: "wrong user name or password"},
		{name: "user case matters", body: loginBody("Admin", "password123"), wantStatus: 401, wantErr: "wrong user name or password"},
		{name: "no user", body: `{"password":"password123"}`, wantStatus: 400, wantErr: "user: required"},
		{name: "user name too long", body: loginBody(strings.Repeat("a", 65), "password123"), wantStatus: 400, wantErr: "user: at most 64 characters"},
		{name: "no password", body: `{"user":"admin"}`, wantStatus: 400, wantErr: "password: required"},
		{name: "empty body", body: "", opts: []reqOpt{withHeader("Content-Type", "application/json")}, wantStatus: 400, wantErr: "request body: empty, want a JSON object"},
		{name: "malformed", body: `{"user":"admin",}`, wantStatus: 400, wantErr: "request body: malformed JSON at byte 17: invalid character '}' looking for beginning of object key string"},
		{name: "truncated", body: `{"user":"admin"`, wantStatus: 400, wantErr: "request body: JSON ends too early"},
		{name: "wrong type", body: `{"user":"admin","password":12345678}`, wantStatus: 400, wantErr: "password: want a string, not number"},
		{name: "array", body: `["admin"]`, wantStatus: 400, wantErr: "request body: want a JSON object, not array"},
		{name: "unknown field", body: `{"user":"admin","pass":"password123"}`, wantStatus: 400, wantErr: "pass: unknown field"},
		{name: "trailing data", body: loginBody("admin", "password123") + `{}`, wantStatus: 400, wantErr: "request body: unexpected data after the JSON object"},
		{name: "form post", body: loginBody("admin", "password123"), opts: []reqOpt{withHeader("Content-Type", "text/plain")}, wantStatus: 415, wantErr: "Content-Type: must be application/json"},
		{name: "json with charset", body: loginBody("admin", "password123"), opts: []reqOpt{withHeader("Content-Type", "application/json; charset=utf-8")}, wantStatus: 200, wantSession: true},
		{name: "too large", body: `{"user":"admin","password":"` + strings.Repeat("a", maxBodyBytes) + `"}`, wantStatus: 413, wantErr: "request body: larger than 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.addUser("admin", "password123")
			w := h.do("POST", "/api/v1/login", tt.body, tt.opts...)
			if tt.wantErr != "" {
				wantError(t, w, tt.wantStatus, tt.wantErr)
			} else if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			hasCookie := len(w.Result().Cookies()) > 0
			if hasCookie != tt.wantSession || (h.acc.sessionCount() == 1) != tt.wantSession {
				t.Errorf("cookie set %v, %d sessions stored; want session %v", hasCookie, h.acc.sessionCount(), tt.wantSession)
			}
			if tt.wantSession {
				b := body(t, w)
				s, ok := h.acc.session(hashSecret(sessionCookie(t, w).Value))
				if !ok || b["user"] != "admin" || b["csrf"] != s.CSRF || s.User != "admin" {
					t.Errorf("answer %s, stored session %+v (found %v)", w.Body, s, ok)
				}
			}
		})
	}
}

func TestLoginRateLimit(t *testing.T) {
	h := newHarness(t)
	h.addUser("admin", "password123")
	const ip = "198.51.100.7:4000"
	for i := range 5 {
		wantError(t, h.do("POST", "/api/v1/login", loginBody("admin", fmt.Sprint("guess", i, "xxxx")), from(ip)), 401, "wrong user name or password")
	}
	// Limited now, even with the right password.
	w := h.do("POST", "/api/v1/login", loginBody("admin", "password123"), from(ip))
	wantError(t, w, 429, "too many failed attempts; retry in 900 s")
	if ra := w.Header().Get("Retry-After"); ra != "900" {
		t.Errorf("Retry-After %q, want 900", ra)
	}
	h.clock.Advance(15*time.Minute - time.Second)
	w = h.do("POST", "/api/v1/login", loginBody("admin", "password123"), from(ip))
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("a second before the window ends: %d, Retry-After %q; want 429, 1", w.Code, w.Header().Get("Retry-After"))
	}
	h.clock.Advance(time.Second)
	h.login("admin", "password123", from(ip))
}

func TestLoginRateLimitKeys(t *testing.T) {
	tests := []struct {
		name string
		// fail makes the i-th failed attempt (of 5).
		fail func(h *harness, i int) *httptest.ResponseRecorder
		// last is the attempt that must then be refused.
		last func(h *harness) *httptest.ResponseRecorder
		// other is an attempt that must still be allowed.
		other func(h *harness) *httptest.ResponseRecorder
	}{
		{
			// A kid failing on purpose as admin from their tablet does
			// not lock the parent, on another device, out.
			name: "per (user, address)",
			fail: func(h *harness, i int) *httptest.ResponseRecorder {
				return h.do("POST", "/api/v1/login", loginBody("admin", "wrong-password"), from(fmt.Sprintf("203.0.113.1:%d", i+1)))
			},
			last: func(h *harness) *httptest.ResponseRecorder {
				return h.do("POST", "/api/v1/login", loginBody("admin", "password123"), from("203.0.113.1:99"))
			},
			other: func(h *harness) *httptest.ResponseRecorder {
				return h.do("POST", "/api/v1/login", loginBody("admin", "password123"), from("203.0.113.2:1"))
			},
		},
		{
			name: "another user from the same address is not limited",
			fail: func(h *harness, i int) *httptest.ResponseRecorder {
				return h.do("POST", "/api/v1/login", loginBody("admin", "wrong-password"), from("203.0.113.1:1"))
			},
			last: func(h *harness) *httptest.ResponseRecorder {
				return h.do("POST", "/api/v1/login", loginBody("admin", "password123"), from("203.0.113.1:2"))
			},
			other: func(h *harness) *httptest.ResponseRecorder {
				return h.do("POST", "/api/v1/login", loginBody("dad", "password456"), from("203.0.113.1:3"))
			},
		},
		{
			name: "per IPv6 /64",
			fail: func(h *harness, i int) *httptest.ResponseRecorder {
				return h.do("POST", "/api/v1/login", loginBody("admin", "wrong-password"), from(fmt.Sprintf("[2001:db8:0:1::%d]:1", i)))
			},
			last: func(h *harness) *httptest.ResponseRecorder {
				return h.do("POST", "/api/v1/login", loginBody("admin", "password123"), from("[2001:db8:0:1:abcd::1]:1"))
			},
			other: func(h *harness) *httptest.ResponseRecorder {
				return h.do("POST", "/api/v1/login", loginBody("admin", "password123"), from("[2001:db8:0:2::1]:1"))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.addUser("admin", "password123")
			h.addUser("dad", "password456")
			for i := range 5 {
				h.addUser(fmt.Sprint("user", i), "password789")
			}
			for i := range 5 {
				wantError(t, tt.fail(h, i), 401, "wrong user name or password")
			}
			if w := tt.last(h); w.Code != 429 {
				t.Errorf("6th attempt: %d %s, want 429", w.Code, w.Body)
			}
			if w := tt.other(h); w.Code != 200 {
				t.Errorf("unrelated attempt: %d %s, want 200", w.Code, w.Body)
			}
		})
	}
}

func TestLoginSuccessResets(t *testing.T) {
	h := newHarness(t)
	h.addUser("admin", "password123")
	const ip = "198.51.100.7:4000"
	fail := func() int {
		return h.do("POST", "/api/v1/login", loginBody("admin", "wrong-password"), from(ip)).Code
	}
	for range 4 {
		if c := fail(); c != 401 {
			t.Fatalf("failure: %d, want 401", c)
		}
	}
	h.login("admin", "password123", from(ip))
	// Five more failures are allowed: the success reset the counts.
	for i := range 5 {
		if c := fail(); c != 401 {
			t.Fatalf("failure %d after success: %d, want 401", i+1, c)
		}
	}
	if c := fail(); c != 429 {
		t.Errorf("6th failure after success: %d, want 429", c)
	}
}

// TestLoginParallelGuesses: attempts are counted before the password is
// checked, so parallel guesses get no more than the limit.
func TestLoginParallelGuesses(t *testing.T) {
	h := newHarness(t)
	h.addUser("admin", "password123")
	const n = 20
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes <- h.do("POST", "/api/v1/login", loginBody("admin", fmt.Sprint("guess-", i)), from("198.51.100.7:1")).Code
		})
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[401] != 5 || count[429] != n-5 {
		t.Errorf("status counts %v, want 5 401 and %d 429", count, n-5)
	}
}

func TestSessionCookie(t *testing.T) {
	tests := []struct {
		name       string
		target     string
		ttl        time.Duration
		wantSecure bool
		wantMaxAge int
	}{
		{"plain http", "http://hearth.lan/api/v1/login", 0, false, 7 * 24 * 3600},
		{"tls", "https://hearth.lan/api/v1/login", 0, true, 7 * 24 * 3600},
		{"short ttl", "https://hearth.lan/api/v1/login", time.Hour, true, 3600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.SessionTTL = tt.ttl })
			h.addUser("admin", "password123")
			w := h.do("POST", tt.target, loginBody("admin", "password123"))
			if w.Code != 200 {
				t.Fatalf("login: %d %s", w.Code, w.Body)
			}
			c := sessionCookie(t, w)
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure != tt.wantSecure || c.MaxAge != tt.wantMaxAge {
				t.Errorf("cookie %q: HttpOnly %v SameSite %v Path %q Secure %v MaxAge %d; want true, Strict, /, %v, %d",
					w.Header().Get("Set-Cookie"), c.HttpOnly, c.SameSite, c.Path, c.Secure, c.MaxAge, tt.wantSecure, tt.wantMaxAge)
			}
			if len(c.Value) != 43 {
				t.Errorf("cookie value of %d characters, want 43 (32 bytes base64url)", len(c.Value))
			}
			s, ok := h.acc.session(hashSecret(c.Value))
			if !ok {
				t.Fatal("the store does not hold the hash of the cookie")
			}
			if _, ok := h.acc.session(c.Value); ok {
				t.Error("the store holds the cookie value itself")
			}
			want := tt.ttl
			if want == 0 {
				want = DefaultSessionTTL
			}
			if !s.Expires.Equal(h.clock.Now().Add(want)) {
				t.Errorf("session expires %v, want %v", s.Expires, h.clock.Now().Add(want))
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
		})
	}
}

// creds are a logged-in session and a bearer token of user admin.
type creds struct {
	cookie, csrf, token, tokenID string
}

func TestRequire(t *testing.T) {
	tests := []struct {
		name string
		// prep may change the state; it returns the request options.
		prep        func(h *harness, c creds) (method string, opts []reqOpt)
		wantStatus  int
		wantErr     string
		wantSession bool
	}{
		{
			name:       "no credentials",
			prep:       func(h *harness, c creds) (string, []reqOpt) { return "GET", nil },
			wantStatus: 401, wantErr: "authentication required",
		},
		{
			name: "unknown cookie",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				return "GET", []reqOpt{withCookie(randomSecret())}
			},
			wantStatus: 401, wantErr: "authentication required",
		},
		{
			name: "malformed cookie",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				return "GET", []reqOpt{withCookie(c.cookie[:20])}
			},
			wantStatus: 401, wantErr: "authentication required",
		},
		{
			name: "cookie of the stored hash",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				return "GET", []reqOpt{withCookie(hashSecret(c.cookie))}
			},
			wantStatus: 401, wantErr: "authentication required",
		},
		{
			name: "expired session",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				h.clock.Advance(DefaultSessionTTL)
				return "GET", []reqOpt{withCookie(c.cookie)}
			},
			wantStatus: 401, wantErr: "authentication required",
		},
		{
			name: "session about to expire",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				h.clock.Advance(DefaultSessionTTL - time.Second)
				return "GET", []reqOpt{withCookie(c.cookie)}
			},
			wantStatus: 200, wantSession: true,
		},
		{
			name: "cookie GET",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				return "GET", []reqOpt{withCookie(c.cookie)}
			},
			wantStatus: 200, wantSession: true,
		},
		{
			name: "cookie HEAD without csrf",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				return "HEAD", []reqOpt{withCookie(c.cookie)}
			},
			wantStatus: 200, wantSession: true,
		},
		{
			name: "cookie POST without csrf",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				return "POST", []reqOpt{withCookie(c.cookie)}
			},
			wantStatus: 403, wantErr: "csrf token missing or wrong",
		},
		{
			name: "cookie POST with wrong csrf",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				return "POST", []reqOpt{withCookie(c.cookie), withCSRF(randomSecret())}
			},
			wantStatus: 403, wantErr: "csrf token missing or wrong",
		},
		{
			name: "cookie POST with another session's csrf",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				_, other := h.login("admin", "password123")
				return "POST", []reqOpt{withCookie(c.cookie), withCSRF(other)}
			},
			wantStatus: 403, wantErr: "csrf token missing or wrong",
		},
		{
			name: "cookie DELETE with right csrf",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				return "DELETE", []reqOpt{withCookie(c.cookie), withCSRF(c.csrf)}
			},
			wantStatus: 200, wantSession: true,
		},
		{
			name: "cookie POST with right csrf",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				return "POST", []reqOpt{withCookie(c.cookie), withCSRF(c.csrf)}
			},
			wantStatus: 200, wantSession: true,
		},
		{
			name: "bearer POST needs no csrf",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				return "POST", []reqOpt{withBearer(c.token)}
			},
			wantStatus: 200,
		},
		{
			name: "bearer scheme in lower case",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				return "GET", []reqOpt{withHeader("Authorization", "bearer "+c.token)}
			},
			wantStatus: 200,
		},
		{
			name: "unknown bearer",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				return "GET", []reqOpt{withBearer(tokenPrefix + randomSecret())}
			},
			wantStatus: 401, wantErr: "authentication required",
		},
		{
			name: "revoked bearer",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				if err := h.acc.DeleteToken(context.Background(), c.tokenID); err != nil {
					h.t.Fatal(err)
				}
				return "GET", []reqOpt{withBearer(c.token)}
			},
			wantStatus: 401, wantErr: "authentication required",
		},
		{
			name: "bearer without prefix",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				return "GET", []reqOpt{withBearer(strings.TrimPrefix(c.token, tokenPrefix))}
			},
			wantStatus: 401, wantErr: "authentication required",
		},
		{
			name: "basic auth",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				return "GET", []reqOpt{withHeader("Authorization", "Basic YWRtaW46cGFzc3dvcmQxMjM=")}
			},
			wantStatus: 401, wantErr: "authentication required",
		},
		{
			name: "a bad bearer does not fall back to the cookie",
			prep: func(h *harness, c creds) (string, []reqOpt) {
				return "GET", []reqOpt{withCookie(c.cookie), withBearer("hth_nope")}
			},
			wantStatus: 401, wantErr: "authentication required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.addUser("admin", "password123")
			var c creds
			c.cookie, c.csrf = h.login("admin", "password123")
			tok, st, err := h.auth.CreateToken(context.Background(), "admin", "ci", TokenOptions{Scope: store.ScopeAdmin})
			if err != nil {
				t.Fatal(err)
			}
			c.token, c.tokenID = tok, st.ID
			method, opts := tt.prep(h, c)
			w := h.do(method, "/api/v1/echo", "", opts...)
			if tt.wantErr != "" {
				wantError(t, w, tt.wantStatus, tt.wantErr)
				if tt.wantStatus == 401 && w.Header().Get("WWW-Authenticate") != "Bearer" {
					t.Errorf("WWW-Authenticate %q, want Bearer", w.Header().Get("WWW-Authenticate"))
				}
				return
			}
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if method == "HEAD" {
				return
			}
			b := body(t, w)
			wantCSRF := ""
			if tt.wantSession {
				wantCSRF = c.csrf
			}
			if b["user"] != "admin" || b["session"] != tt.wantSession || b["csrf"] != wantCSRF {
				t.Errorf("principal %s, want user admin, session %v, csrf %q", w.Body, tt.wantSession, wantCSRF)
			}
		})
	}
}

func TestExpiredSessionDeleted(t *testing.T) {
	h := newHarness(t)
	h.addUser("admin", "password123")
	cookie, _ := h.login("admin", "password123")
	h.clock.Advance(DefaultSessionTTL)
	if w := h.do("GET", "/api/v1/session", "", withCookie(cookie)); w.Code != 401 {
		t.Fatalf("expired session: %d", w.Code)
	}
	if _, ok := h.acc.session(hashSecret(cookie)); ok {
		t.Error("expired session still stored after use")
	}
}

func TestPurgeExpired(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.SessionTTL = time.Hour })
	h.addUser("admin", "password123")
	h.login("admin", "password123")
	h.clock.Advance(30 * time.Minute)
	h.login("admin", "password123")
	h.do("POST", "/api/v1/login", loginBody("admin", "wrong-password"))
	h.clock.Advance(30 * time.Minute)
	n, err := h.auth.PurgeExpired(context.Background())
	if err != nil || n != 1 || h.acc.sessionCount() != 1 {
		t.Errorf("PurgeExpired = %d, %v with %d left; want 1, nil, 1 left", n, err, h.acc.sessionCount())
	}
	if h.auth.limiter.len() != 0 {
		t.Errorf("limiter keeps %d keys whose window has passed", h.auth.limiter.len())
	}
	h.acc.fail(errors.New("disk on fire"))
	if _, err := h.auth.PurgeExpired(context.Background()); err == nil || !strings.Contains(err.Error(), "delete expired sessions: disk on fire") {
		t.Errorf("PurgeExpired with a failing store: %v", err)
	}
}

func TestLogout(t *testing.T) {
	h := newHarness(t)
	h.addUser("admin", "password123")
	cookie, csrf := h.login("admin", "password123")
	other, _ := h.login("admin", "password123")

	// Logout is a change: a cross-site request cannot log you out.
	wantError(t, h.do("POST", "/api/v1/logout", "", withCookie(cookie)), 403, "csrf token missing or wrong")

	w := h.do("POST", "/api/v1/logout", "", withCookie(cookie), withCSRF(csrf))
	if w.Code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	c := sessionCookie(t, w)
	if c.Value != "" || c.MaxAge >= 0 || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("logout cookie %q, want it emptied and expired", w.Header().Get("Set-Cookie"))
	}
	if _, ok := h.acc.session(hashSecret(cookie)); ok {
		t.Error("session still stored after logout")
	}
	wantError(t, h.do("GET", "/api/v1/session", "", withCookie(cookie)), 401, "authentication required")
	// Other sessions live on.
	if w := h.do("GET", "/api/v1/session", "", withCookie(other)); w.Code != 200 {
		t.Errorf("other session after logout: %d", w.Code)
	}
}

func TestLoginReplacesSession(t *testing.T) {
	h := newHarness(t)
	h.addUser("admin", "password123")
	old, _ := h.login("admin", "password123")
	h.login("admin", "password123", withCookie(old))
	if _, ok := h.acc.session(hashSecret(old)); ok || h.acc.sessionCount() != 1 {
		t.Errorf("old session kept (%d sessions) after logging in again", h.acc.sessionCount())
	}
}

func TestSessionRoute(t *testing.T) {
	h := newHarness(t)
	h.addUser("admin", "password123")
	cookie, csrf := h.login("admin", "password123")
	tok, _, err := h.auth.CreateToken(context.Background(), "admin", "ci", TokenOptions{Scope: store.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		opt      reqOpt
		wantCSRF string
	}{
		{"cookie", withCookie(cookie), csrf},
		{"bearer", withBearer(tok), ""},
	}
	for _, tt := range tests {
		w := h.do("GET", "/api/v1/session", "", tt.opt)
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", tt.name, w.Code, w.Body)
		}
		if b := body(t, w); b["user"] != "admin" || b["csrf"] != tt.wantCSRF || b["role"] != RoleOperator || len(b) != 3 {
			t.Errorf("%s: %s, want user admin, csrf %q and role operator", tt.name, w.Body, tt.wantCSRF)
		}
	}
}

func TestTokens(t *testing.T) {
	h := newHarness(t)
	h.addUser("admin", "password123")
	cookie, csrf := h.login("admin", "password123")
	auth := []reqOpt{withCookie(cookie), withCSRF(csrf)}

	for _, tc := range []struct {
		name, body string
		status     int
		msg        string
	}{
		{"blank name", `{"name":"  ","scope":"read"}`, 400, "name: required"},
		{"long name", `{"name":"` + strings.Repeat("x", 101) + `","scope":"read"}`, 400, "name: at most 100 bytes"},
		{"control character", `{"name":"a\nb","scope":"read"}`, 400, "name: control characters not allowed"},
		{"no scope", `{"name":"ci"}`, 400, "scope: required: admin, read or metrics"},
		{"unknown scope", `{"name":"ci","scope":"root"}`, 400, `scope: "root": want admin, read or metrics`},
		{"expiry in the past", `{"name":"ci","scope":"read","expires":"2026-03-01T11:59:59Z"}`, 400, "expires: 2026-03-01T11:59:59Z is not in the future"},
		{"expiry not a time", `{"name":"ci","scope":"read","expires":"tomorrow"}`, 400, ""},
		{"expiry past the store's range", `{"name":"ci","scope":"read","expires":"9999-01-01T00:00:00Z"}`, 400, "expires: 9999-01-01T00:00:00Z is more than 10 years ahead; leave it out for a token that never expires"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := h.do("POST", "/api/v1/tokens", tc.body, auth...)
			if tc.msg == "" {
				if w.Code != tc.status {
					t.Errorf("status %d, want %d: %s", w.Code, tc.status, w.Body)
				}
				return
			}
			wantError(t, w, tc.status, tc.msg)
		})
	}
	wantError(t, h.do("POST", "/api/v1/tokens", `{"name":"ci","scope":"read"}`, withCookie(cookie)), 403, "csrf token missing or wrong")

	w := h.do("POST", "/api/v1/tokens", `{"name":"home assistant","scope":"admin"}`, auth...)
	if w.Code != http.StatusCreated {
		t.Fatalf("create token: %d %s", w.Code, w.Body)
	}
	created := body(t, w)
	plain, _ := created["token"].(string)
	id, _ := created["id"].(string)
	if !strings.HasPrefix(plain, tokenPrefix) || len(plain) != len(tokenPrefix)+43 || id == "" ||
		created["name"] != "home assistant" || created["user"] != "admin" || created["created"] == nil {
		t.Fatalf("created %s", w.Body)
	}
	stored, err := h.acc.TokenByHash(context.Background(), hashSecret(plain))
	if err != nil || stored.ID != id {
		t.Fatalf("the store does not hold the token's hash: %v", err)
	}

	// The token works, without CSRF, and can list tokens.
	w = h.do("GET", "/api/v1/tokens", "", withBearer(plain))
	if w.Code != 200 {
		t.Fatalf("list tokens: %d %s", w.Code, w.Body)
	}
	list := w.Body.String()
	for _, secret := range []string{stored.Hash, plain, strings.TrimPrefix(plain, tokenPrefix), `"hash"`, `"Hash"`} {
		if strings.Contains(list, secret) {
			t.Errorf("token list %s contains %q", list, secret)
		}
	}
	var got struct {
		Tokens []map[string]any `json:"tokens"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Tokens) != 1 || got.Tokens[0]["id"] != id || got.Tokens[0]["name"] != "home assistant" ||
		got.Tokens[0]["scope"] != "admin" || got.Tokens[0]["expires"] != nil || got.Tokens[0]["expired"] != false ||
		got.Tokens[0]["last_used"] != "2026-03-01T12:00:00Z" || len(got.Tokens[0]) != 8 {
		t.Errorf("token list %s, want the one token with id, name, user, scope, created, expires, last_used, expired", list)
	}

	// Revoke it with the session; it stops working.
	wantError(t, h.do("DELETE", "/api/v1/tokens/"+id, "", withCookie(cookie)), 403, "csrf token missing or wrong")
	if w := h.do("DELETE", "/api/v1/tokens/"+id, "", auth...); w.Code != http.StatusNoContent {
		t.Fatalf("delete token: %d %s", w.Code, w.Body)
	}
	wantError(t, h.do("GET", "/api/v1/tokens", "", withBearer(plain)), 401, "authentication required")
	wantError(t, h.do("DELETE", "/api/v1/tokens/"+id, "", auth...), 404, fmt.Sprintf("token %q: not found", id))

	// An empty list is [], not null.
	w = h.do("GET", "/api/v1/tokens", "", withCookie(cookie))
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"tokens":[]}` {
		t.Errorf("empty list: %d %s", w.Code, w.Body)
	}
}

func TestChangePassword(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantErr    string
	}{
		{"no current", `{"new":"brand new pw"}`, 400, "current: required"},
		{"wrong current", `{"current":"password124","new":"brand new pw"}`, 403, "current: wrong password"},
		{"new too short", `{"current":"password123","new":"short"}`, 400, "new: at least 10 characters"},
		{"new too long", `{"current":"password123","new":"` + strings.Repeat("x", 257) + `"}`, 400, "new: at most 256 bytes"},
		{"typo in field", `{"current":"password123","nwe":"brand new pw"}`, 400, "nwe: unknown field"},
		{"ok", `{"current":"password123","new":"brand new pw"}`, 204, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.addUser("admin", "password123")
			before, _ := h.acc.user("admin")
			other, _ := h.login("admin", "password123", from("192.0.2.2:1"))
			tok, _, err := h.auth.CreateToken(context.Background(), "admin", "ci", TokenOptions{Scope: store.ScopeAdmin})
			if err != nil {
				t.Fatal(err)
			}
			cookie, csrf := h.login("admin", "password123")
			w := h.do("POST", "/api/v1/password", tt.body, withCookie(cookie), withCSRF(csrf))
			if tt.wantErr != "" {
				wantError(t, w, tt.wantStatus, tt.wantErr)
				if after, _ := h.acc.user("admin"); after != before {
					t.Error("the password changed")
				}
				return
			}
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			after, _ := h.acc.user("admin")
			if after.Created != before.Created {
				t.Error("the user's creation time changed")
			}
			wantError(t, h.do("POST", "/api/v1/login", loginBody("admin", "password123")), 401, "wrong user name or password")
			h.login("admin", "brand new pw")
			// The session that changed it stays; the other one and the
			// token end.
			if w := h.do("GET", "/api/v1/session", "", withCookie(cookie)); w.Code != http.StatusOK {
				t.Errorf("own session after the change: %d", w.Code)
			}
			wantError(t, h.do("GET", "/api/v1/session", "", withCookie(other)), 401, "authentication required")
			wantError(t, h.do("GET", "/api/v1/session", "", withBearer(tok)), 401, "authentication required")
		})
	}
}

func TestChangePasswordRateLimited(t *testing.T) {
	h := newHarness(t)
	h.addUser("admin", "password123")
	cookie, csrf := h.login("admin", "password123")
	for range 5 {
		wantError(t, h.do("POST", "/api/v1/password", `{"current":"guess-guess","new":"brand new pw"}`, withCookie(cookie), withCSRF(csrf)), 403, "current: wrong password")
	}
	if w := h.do("POST", "/api/v1/password", `{"current":"password123","new":"brand new pw"}`, withCookie(cookie), withCSRF(csrf)); w.Code != 429 {
		t.Errorf("6th attempt: %d %s, want 429", w.Code, w.Body)
	}
}

func TestSetPassword(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.auth.SetPassword(ctx, "admin", "first password"); err != nil {
		t.Fatal(err)
	}
	first, _ := h.acc.user("admin")
	if !strings.HasPrefix(first.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") || !first.Created.Equal(h.clock.Now()) {
		t.Errorf("created user %+v", first)
	}
	h.clock.Advance(time.Hour)
	if err := h.auth.SetPassword(ctx, "admin", "second password"); err != nil {
		t.Fatal(err)
	}
	second, _ := h.acc.user("admin")
	if !second.Created.Equal(first.Created) {
		t.Errorf("replacing the password changed Created to %v", second.Created)
	}
	h.login("admin", "second password")
	wantError(t, h.do("POST", "/api/v1/login", loginBody("admin", "first password")), 401, "wrong user name or password")

	// A reset from the command line (a forgotten or leaked password)
	// ends every session and revokes every token of the user.
	cookie, _ := h.login("admin", "second password")
	tok, _, err := h.auth.CreateToken(ctx, "admin", "ci", TokenOptions{Scope: store.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.auth.SetPassword(ctx, "admin", "reset password"); err != nil {
		t.Fatal(err)
	}
	wantError(t, h.do("GET", "/api/v1/session", "", withCookie(cookie)), 401, "authentication required")
	wantError(t, h.do("GET", "/api/v1/session", "", withBearer(tok)), 401, "authentication required")

	for _, tt := range []struct{ user, pw, wantErr string }{
		{"admin", "short", "password: at least 10 characters"},
		{"", "long enough", "user: required"},
		{"a/b", "long enough", `user: "a/b": only letters, digits and . _ - @ allowed`},
	} {
		if err := h.auth.SetPassword(ctx, tt.user, tt.pw); errString(err) != tt.wantErr {
			t.Errorf("SetPassword(%q, %q) = %v, want %q", tt.user, tt.pw, err, tt.wantErr)
		}
	}
	h.acc.fail(errors.New("disk on fire"))
	if err := h.auth.SetPassword(ctx, "admin", "third password"); err == nil || !strings.Contains(err.Error(), `read user "admin": disk on fire`) {
		t.Errorf("SetPassword with a failing store: %v", err)
	}
}

func TestStoreErrors(t *testing.T) {
	tests := []struct {
		name, method, target, body string
		useSession                 bool
	}{
		{"setup status", "GET", "/api/v1/setup", "", false},
		{"setup", "POST", "/api/v1/setup", setupBody("AAAA-AAAA-AAAA", "", "long enough"), false},
		{"login", "POST", "/api/v1/login", loginBody("admin", "password123"), false},
		{"authenticate", "GET", "/api/v1/session", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			var opts []reqOpt
			if tt.useSession {
				h.addUser("admin", "password123")
				cookie, _ := h.login("admin", "password123")
				opts = append(opts, withCookie(cookie))
			}
			h.acc.fail(errors.New("disk on fire"))
			wantError(t, h.do(tt.method, tt.target, tt.body, opts...), 500, "internal error")
			if !strings.Contains(h.logs.String(), "disk on fire") {
				t.Errorf("the store error was not logged: %s", h.logs)
			}
		})
	}
}

// TestNoSecretsLogged runs every route and checks that no password,
// cookie, CSRF token, bearer token or hash reaches the log.
func TestNoSecretsLogged(t *testing.T) {
	h := newHarness(t)
	const pw, newPW, wrong = "first-Secret-pw", "second-Secret-pw", "wrong-Secret-pw"
	code := h.setupCode()
	w := h.do("POST", "/api/v1/setup", setupBody(code, "", pw))
	setupCookie := sessionCookie(t, w).Value
	h.do("POST", "/api/v1/login", loginBody("admin", wrong))
	h.do("POST", "/api/v1/login", loginBody("nobody", wrong))
	cookie, csrf := h.login("admin", pw)
	auth := []reqOpt{withCookie(cookie), withCSRF(csrf)}
	w = h.do("POST", "/api/v1/tokens", `{"name":"ci","scope":"read"}`, auth...)
	tok := body(t, w)["token"].(string)
	h.do("POST", "/api/v1/echo", "", withCookie(cookie))
	h.do("GET", "/api/v1/tokens", "", withBearer(tok))
	h.do("POST", "/api/v1/password", `{"current":"`+wrong+`","new":"`+newPW+`"}`, auth...)
	h.do("POST", "/api/v1/password", `{"current":"`+pw+`","new":"`+newPW+`"}`, auth...)
	h.do("POST", "/api/v1/logout", "", auth...)
	u, _ := h.acc.user("admin")

	logs := h.logs.String()
	if !strings.Contains(logs, "login failed") || !strings.Contains(logs, "password changed") {
		t.Fatalf("expected events missing from the log:\n%s", logs)
	}
	for name, secret := range map[string]string{
		"password": pw, "new password": newPW, "wrong password": wrong,
		"cookie": cookie, "setup cookie": setupCookie, "cookie hash": hashSecret(cookie), "csrf": csrf,
		"token": tok, "token body": strings.TrimPrefix(tok, tokenPrefix), "token hash": hashSecret(tok),
		"password hash": u.PasswordHash, "argon2 marker": "$argon2id", "setup code": code,
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains the %s", name)
		}
	}
}

func TestNew(t *testing.T) {
	acc := newFakeAccounts()
	tests := []struct {
		name    string
		c       Config
		wantErr string
	}{
		{"defaults", Config{Accounts: acc}, ""},
		{"no accounts", Config{}, "auth: accounts: required"},
		{"negative ttl", Config{Accounts: acc, SessionTTL: -time.Hour}, "auth: session ttl -1h0m0s: negative"},
		{"tiny ttl", Config{Accounts: acc, SessionTTL: time.Millisecond}, "auth: session ttl 1ms: want at least 1s"},
		{"negative failures", Config{Accounts: acc, LoginRate: RateLimit{Failures: -1}}, "auth: login rate failures -1: negative"},
		{"negative window", Config{Accounts: acc, LoginRate: RateLimit{Window: -time.Second}}, "auth: login rate window -1s: negative"},
		{"negative max keys", Config{Accounts: acc, LoginRate: RateLimit{MaxKeys: -1}}, "auth: login rate max keys -1: negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.c)
			if errString(err) != tt.wantErr {
				t.Fatalf("New: %v, want %q", err, tt.wantErr)
			}
			if err == nil && (a.ttl != DefaultSessionTTL || a.limiter.max != 5 || a.limiter.window != 15*time.Minute || a.limiter.maxKeys != 10000) {
				t.Errorf("defaults: ttl %v, limit %d per %v, %d keys", a.ttl, a.limiter.max, a.limiter.window, a.limiter.maxKeys)
			}
		})
	}
}

func TestFromContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Error("FromContext found a principal in an empty context")
	}
	want := Principal{User: "admin", Session: true, CSRF: "x"}
	if got, ok := FromContext(NewContext(context.Background(), want)); !ok || got != want {
		t.Errorf("FromContext = %+v, %v; want %+v", got, ok, want)
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LoginRate = RateLimit{Failures: 1, Window: 90 * time.Second} })
	h.addUser("admin", "password123")
	h.do("POST", "/api/v1/login", loginBody("admin", "wrong-password"))
	h.clock.Advance(500 * time.Millisecond)
	w := h.do("POST", "/api/v1/login", loginBody("admin", "password123"))
	if got, want := w.Header().Get("Retry-After"), strconv.Itoa(90); w.Code != 429 || got != want {
		t.Errorf("%d, Retry-After %q; want 429, %s (89.5 s rounded up)", w.Code, got, want)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestUnknownUserCostsAHash: a login naming no user still runs argon2, so
// its timing does not tell which names exist. With every hash slot taken
// and the request already cancelled, a login that hashes fails (500)
// instead of answering 401 at once.
func TestUnknownUserCostsAHash(t *testing.T) {
	for _, user := range []string{"admin", "nobody"} {
		t.Run(user, func(t *testing.T) {
			h := newHarness(t)
			h.addUser("admin", "password123")
			for range cap(h.auth.hashSlots) {
				h.auth.hashSlots <- struct{}{}
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			r := httptest.NewRequestWithContext(ctx, "POST", "/api/v1/login", strings.NewReader(loginBody(user, "wrong-password")))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.mux.ServeHTTP(w, r)
			wantError(t, w, 500, "internal error")
			if !strings.Contains(h.logs.String(), "wait to hash password: context canceled") {
				t.Errorf("log does not show the wait for a hash slot: %s", h.logs)
			}
		})
	}
}

// TestTokenScopesAndExpiry: what each scope may do on the API and on
// /metrics, and that an expired token is refused.
func TestTokenScopesAndExpiry(t *testing.T) {
	h := newHarness(t)
	h.addUser("admin", "password123")
	metricsOK := h.auth.RequireMetrics(MetricsAccess{Networks: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	h.mux.Handle("GET /metrics", metricsOK)
	ctx := context.Background()
	mk := func(scope string, expires time.Time) string {
		tok, _, err := h.auth.CreateToken(ctx, "admin", scope, TokenOptions{Scope: scope, Expires: expires})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	read, metrics, admin := mk(store.ScopeRead, time.Time{}), mk(store.ScopeMetrics, time.Time{}), mk(store.ScopeAdmin, h.clock.Now().Add(time.Minute))
	if _, _, err := h.auth.CreateToken(ctx, "admin", "late", TokenOptions{Scope: store.ScopeRead, Expires: h.clock.Now()}); err == nil {
		t.Error("a token expiring now was created")
	}
	tests := []struct {
		name, method, target string
		opts                 []reqOpt
		want                 int
	}{
		{"read token reads", "GET", "/api/v1/echo", []reqOpt{withBearer(read)}, 200},
		{"read token cannot write", "POST", "/api/v1/echo", []reqOpt{withBearer(read)}, 403},
		{"read token cannot delete", "DELETE", "/api/v1/echo", []reqOpt{withBearer(read)}, 403},
		{"read token scrapes", "GET", "/metrics", []reqOpt{withBearer(read), from("203.0.113.1:1")}, http.StatusTeapot},
		{"metrics token scrapes", "GET", "/metrics", []reqOpt{withBearer(metrics), from("203.0.113.1:1")}, http.StatusTeapot},
		{"metrics token cannot read the API", "GET", "/api/v1/echo", []reqOpt{withBearer(metrics)}, 403},
		{"admin token writes", "POST", "/api/v1/echo", []reqOpt{withBearer(admin)}, 200},
		{"scrape network needs no token", "GET", "/metrics", []reqOpt{from("192.0.2.7:1")}, http.StatusTeapot},
		{"scrape network with a bad token is refused", "GET", "/metrics", []reqOpt{withBearer("hth_nope"), from("192.0.2.7:1")}, 401},
		{"outside the network without a token", "GET", "/metrics", []reqOpt{from("203.0.113.1:1")}, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if w := h.do(tc.method, tc.target, "", tc.opts...); w.Code != tc.want {
				t.Errorf("%s %s: %d %s, want %d", tc.method, tc.target, w.Code, w.Body, tc.want)
			}
		})
	}
	h.clock.Advance(time.Minute)
	wantError(t, h.do("GET", "/api/v1/echo", "", withBearer(admin)), 401, "authentication required")
}

// TestLoginSprayLimited: one address trying many user names is limited
// over all of them (addrFailuresFactor times the per-user room), so it
// cannot push its own counts out of the bounded limiter; other addresses
// are not affected.
func TestLoginSprayLimited(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LoginRate = RateLimit{Failures: 2, MaxKeys: 4} })
	h.addUser("admin", "password123")
	const sprayer = "203.0.113.9:1"
	for i := range 2 * addrFailuresFactor {
		wantError(t, h.do("POST", "/api/v1/login", loginBody(fmt.Sprint("name", i), "wrong-password"), from(sprayer)), 401, "wrong user name or password")
	}
	if w := h.do("POST", "/api/v1/login", loginBody("admin", "password123"), from(sprayer)); w.Code != http.StatusTooManyRequests {
		t.Errorf("after spraying %d names: %d, want 429", 2*addrFailuresFactor, w.Code)
	}
	h.login("admin", "password123", from("203.0.113.10:1"))
}
