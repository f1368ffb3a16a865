package auth

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hearth-dns/hearth/internal/store"
)

// TestHouseholdPrincipals checks what a household's login and tokens may
// do in package auth itself: operator-only routes and /metrics refuse
// them, they see and revoke their own user's tokens only, and their
// tokens stay bound to their household.
func TestHouseholdPrincipals(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.addUser("op", "password123")
	h.addUser("other", "password123")
	h.acc.PutUser(ctx, store.User{Name: "anna", PasswordHash: hashWith(cheapParams(), "password123"), Household: "smith"})
	annaCookie, annaCSRF := h.login("anna", "password123")
	annaTok, annaRec, err := h.auth.CreateToken(ctx, "anna", "phone", TokenOptions{Scope: store.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if annaRec.Household != "smith" {
		t.Fatalf("anna's token household = %q, want smith", annaRec.Household)
	}
	opTok, opRec, err := h.auth.CreateToken(ctx, "op", "ci", TokenOptions{Scope: store.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	// An operator may bind a token to a household (an ISP portal's).
	portalTok, _, err := h.auth.CreateToken(ctx, "op", "portal", TokenOptions{Scope: store.ScopeAdmin, Household: "smith"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.auth.CreateToken(ctx, "anna", "x", TokenOptions{Scope: store.ScopeRead, Household: "jones"}); err == nil {
		t.Error("anna made a token of household jones")
	}
	metrics := h.auth.RequireMetrics(MetricsAccess{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))

	household := []struct {
		name string
		opt  reqOpt
	}{
		{"anna's cookie", withCookie(annaCookie)},
		{"anna's token", withBearer(annaTok)},
		{"operator's household token", withBearer(portalTok)},
	}
	for _, p := range household {
		t.Run(p.name, func(t *testing.T) {
			w := h.do("GET", "/api/v1/echo", "", p.opt)
			wantError(t, w, http.StatusForbidden, "operator only: a household's login or token cannot use this")
			wantError(t, h.do("GET", "/api/v1/users", "", p.opt), http.StatusForbidden, "operator only: a household's login or token cannot use this")

			r, _ := http.NewRequest("GET", "/metrics", nil)
			p.opt(r)
			r.RemoteAddr = "192.0.2.1:1"
			rec := httptest.NewRecorder()
			metrics.ServeHTTP(rec, r)
			if rec.Code != http.StatusForbidden {
				t.Errorf("/metrics: %d, want 403", rec.Code)
			}

			w = h.do("GET", "/api/v1/session", "", p.opt)
			if b := body(t, w); b["household"] != "smith" || b["role"] != RoleHousehold {
				t.Errorf("session: %s, want household smith, role household", w.Body)
			}
			// The operator's token is another user's: not found, as if
			// it never existed.
			wantError(t, h.do("DELETE", "/api/v1/tokens/"+opRec.ID, "", p.opt, withCSRF(annaCSRF)),
				http.StatusNotFound, `token "`+opRec.ID+`": not found`)
			w = h.do("POST", "/api/v1/tokens", `{"name":"scrape","scope":"metrics"}`, p.opt, withCSRF(annaCSRF))
			wantError(t, w, http.StatusForbidden, "scope: metrics: /metrics counts every household; operators only")
			w = h.do("POST", "/api/v1/tokens", `{"name":"x","scope":"read","household":"jones"}`, p.opt, withCSRF(annaCSRF))
			wantError(t, w, http.StatusForbidden, `household: "jones": you may only make tokens of your household`)
			// A token it makes is bound to its household too.
			w = h.do("POST", "/api/v1/tokens", `{"name":"made","scope":"admin"}`, p.opt, withCSRF(annaCSRF))
			if b := body(t, w); w.Code != http.StatusCreated || b["household"] != "smith" {
				t.Errorf("token made by a household principal: %d %s, want household smith", w.Code, w.Body)
			}
		})
	}

	// Anna lists her own user's tokens only.
	w := h.do("GET", "/api/v1/tokens", "", withCookie(annaCookie))
	for _, tok := range body(t, w)["tokens"].([]any) {
		if m := tok.(map[string]any); m["user"] != "anna" || m["household"] != "smith" {
			t.Errorf("anna's token list holds %v", m)
		}
	}
	// The bound token cannot change its operator's password.
	wantError(t, h.do("POST", "/api/v1/password", `{"current":"password123","new":"password456"}`, withBearer(portalTok)),
		http.StatusForbidden, "a token bound to a household cannot change its operator's password")
	// The operator lists all and may use everything.
	w = h.do("GET", "/api/v1/tokens", "", withBearer(opTok))
	if n := len(body(t, w)["tokens"].([]any)); n != 6 {
		t.Errorf("operator's token list has %d tokens, want 6: %s", n, w.Body)
	}
	if w := h.do("GET", "/api/v1/echo", "", withBearer(opTok)); w.Code != 200 {
		t.Errorf("operator on an operator route: %d %s", w.Code, w.Body)
	}
}

// TestUserRoutes creates, lists and deletes users through the API.
func TestUserRoutes(t *testing.T) {
	h := newHarness(t)
	h.addUser("op", "password123")
	tok, _, err := h.auth.CreateToken(context.Background(), "op", "ci", TokenOptions{Scope: store.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, body string
		status     int
		wantErr    string
	}{
		{"household user", `{"name":"anna","password":"correct horse","household":"smith"}`, 201, ""},
		{"exists", `{"name":"anna","password":"correct horse","household":"smith"}`, 409, `name: user "anna" exists`},
		{"bad household id", `{"name":"bob","password":"correct horse","household":"Smith!"}`, 400, ""},
		{"bad name", `{"name":"b b","password":"correct horse"}`, 400, ""},
		{"short password", `{"name":"bob","password":"x"}`, 400, ""},
	}
	for _, tc := range cases {
		w := h.do("POST", "/api/v1/users", tc.body, withBearer(tok))
		if w.Code != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, w.Code, w.Body, tc.status)
			continue
		}
		if tc.wantErr != "" {
			wantError(t, w, tc.status, tc.wantErr)
		}
	}
	w := h.do("GET", "/api/v1/users", "", withBearer(tok))
	users := body(t, w)["users"].([]any)
	if len(users) != 2 || users[0].(map[string]any)["household"] != "smith" || users[0].(map[string]any)["role"] != RoleHousehold {
		t.Errorf("users: %s", w.Body)
	}
	if w := h.do("DELETE", "/api/v1/users/anna", "", withBearer(tok)); w.Code != http.StatusNoContent {
		t.Errorf("delete anna: %d %s", w.Code, w.Body)
	}
	wantError(t, h.do("DELETE", "/api/v1/users/anna", "", withBearer(tok)), http.StatusNotFound, `user "anna": not found`)
	wantError(t, h.do("DELETE", "/api/v1/users/op", "", withBearer(tok)), http.StatusConflict, "you cannot delete yourself")
}

// TestTokenCheckOneQuery checks that a bearer token is checked with one
// read of the store (the token and its user together), for an operator's
// and a household's token, and that nothing of it is kept: a deleted
// token or user stops authenticating at the next request.
func TestTokenCheckOneQuery(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.addUser("op", "password123")
	h.acc.PutUser(ctx, store.User{Name: "anna", PasswordHash: hashWith(cheapParams(), "password123"), Household: "smith"})
	opTok, opRec, err := h.auth.CreateToken(ctx, "op", "ci", TokenOptions{Scope: store.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	annaTok, _, err := h.auth.CreateToken(ctx, "anna", "phone", TokenOptions{Scope: store.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tok  string
		want int
	}{
		{"operator", opTok, http.StatusOK},
		{"household", annaTok, http.StatusForbidden}, // authenticated, then refused the operator route
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.acc.readCounts()
			if w := h.do("GET", "/api/v1/echo", "", withBearer(tc.tok)); w.Code != tc.want {
				t.Fatalf("echo: %d %s, want %d", w.Code, w.Body, tc.want)
			}
			if got, want := h.acc.readCounts(), map[string]int{"TokenWithUser": 1}; !maps.Equal(got, want) {
				t.Errorf("reads of one token check: %v, want %v", got, want)
			}
		})
	}

	// Revocation takes effect at the next request.
	if err := h.acc.DeleteToken(ctx, opRec.ID); err != nil {
		t.Fatal(err)
	}
	wantError(t, h.do("GET", "/api/v1/echo", "", withBearer(opTok)), http.StatusUnauthorized, "authentication required")
	if err := h.acc.DeleteUser(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	wantError(t, h.do("GET", "/api/v1/session", "", withBearer(annaTok)), http.StatusUnauthorized, "authentication required")
}
