package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// errUnauthenticated means the request carries no valid credentials.
var errUnauthenticated = errors.New("authentication required")

// Require passes to next only requests with a valid bearer token or
// session cookie, with the Principal in the request context
// (FromContext). Others get 401 {"error":"authentication required"} and
// WWW-Authenticate: Bearer. A cookie-authenticated request whose method
// can change something (not GET, HEAD or OPTIONS) must also carry the
// session's CSRF token in X-CSRF-Token, else 403; bearer requests need
// none, since a browser never adds an Authorization header by itself.
// A token's scope must allow the request, else 403: admin allows
// everything, read only GET and HEAD, metrics nothing here (it is for
// RequireMetrics).
//
// Require admits operators only: a household's user or token gets 403.
// A route that a household may use says so with RequireHousehold, so a
// route that forgets to choose is closed to households.
func (a *Auth) Require(next http.Handler) http.Handler {
	return a.requireScope(next, func(p Principal, r *http.Request) string {
		if !p.Operator() {
			return "operator only: a household's login or token cannot use this"
		}
		return apiScope(p, r)
	})
}

// RequireHousehold is Require that also admits household principals.
// next must then confine what it reads and changes to
// Principal.Household (FromContext).
func (a *Auth) RequireHousehold(next http.Handler) http.Handler {
	return a.requireScope(next, apiScope)
}

// apiScope says why p may not make API request r, or "".
func apiScope(p Principal, r *http.Request) string {
	switch p.Scope {
	case store.ScopeAdmin:
		return ""
	case store.ScopeRead:
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return ""
		}
		return "token scope read: may only read"
	}
	return fmt.Sprintf("token scope %s: may only read /metrics", p.Scope)
}

// requireScope is Require with the scope rule refuse, which returns why
// a principal may not make a request, or "".
func (a *Auth) requireScope(next http.Handler, refuse func(Principal, *http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authenticate(r)
		if errors.Is(err, errUnauthenticated) {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeError(w, http.StatusUnauthorized, "authentication required")
			return
		}
		if err != nil {
			a.internalError(w, r, "authenticate", err)
			return
		}
		if p.Session && !safeMethod(r.Method) && !validCSRF(r.Header.Get(CSRFHeader), p.CSRF) {
			a.log.WarnContext(r.Context(), "csrf check failed", "user", p.User, "method", r.Method, "path", r.URL.Path)
			writeError(w, http.StatusForbidden, "csrf token missing or wrong")
			return
		}
		if why := refuse(p, r); why != "" {
			a.log.WarnContext(r.Context(), "request refused", "reason", why, "user", p.User, "household", p.Household,
				"token_id", p.TokenID, "method", r.Method, "path", truncate(r.URL.Path))
			writeError(w, http.StatusForbidden, why)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

// authenticate finds the principal of r: the bearer token if there is an
// Authorization header (and then only it), else the session cookie.
func (a *Auth) authenticate(r *http.Request) (Principal, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		tok = strings.TrimSpace(tok)
		if !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(tok, tokenPrefix) {
			return Principal{}, errUnauthenticated
		}
		// The token and its user in one query: this runs on every API
		// request, and a second round trip was a tenth of a busy node's
		// CPU.
		t, u, err := a.accounts.TokenWithUser(ctx, hashSecret(tok))
		if errors.Is(err, store.ErrNotFound) {
			return Principal{}, errUnauthenticated
		}
		if err != nil {
			return Principal{}, fmt.Errorf("look up token: %w", err)
		}
		now := a.now()
		if !t.Expires.IsZero() && !now.Before(t.Expires) {
			a.log.WarnContext(ctx, "expired token refused", "user", t.User, "token_id", t.ID, "remote", r.RemoteAddr)
			return Principal{}, errUnauthenticated
		}
		if now.Sub(t.LastUsed) >= touchEvery {
			if err := a.accounts.TouchToken(ctx, t.ID, now.UTC()); err != nil && !errors.Is(err, store.ErrNotFound) {
				a.log.WarnContext(ctx, "record token use", "token_id", t.ID, "err", err)
			}
		}
		scope := t.Scope
		if scope == "" {
			scope = store.ScopeAdmin
		}
		household, err := a.userHousehold(ctx, u, t.Household)
		if err != nil {
			return Principal{}, err
		}
		return Principal{User: t.User, Scope: scope, TokenID: t.ID, Household: household}, nil
	}
	hash, ok := sessionHash(r)
	if !ok {
		return Principal{}, errUnauthenticated
	}
	s, err := a.accounts.Session(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, errUnauthenticated
	}
	if err != nil {
		return Principal{}, fmt.Errorf("look up session: %w", err)
	}
	if !a.now().Before(s.Expires) {
		if err := a.accounts.DeleteSession(ctx, hash); err != nil && !errors.Is(err, store.ErrNotFound) {
			a.log.WarnContext(ctx, "delete expired session", "user", s.User, "err", err)
		}
		return Principal{}, errUnauthenticated
	}
	household, err := a.household(ctx, s.User, "")
	if err != nil {
		return Principal{}, err
	}
	return Principal{User: s.User, Session: true, CSRF: s.CSRF, Scope: store.ScopeAdmin, Household: household}, nil
}

// household returns the household a credential of user, bound to
// bound ("" for none), may act for: the user's when the user has one,
// else bound. It fails closed: a missing user, or a token bound to
// another household than its user's (which CreateToken never makes),
// authenticates nothing.
func (a *Auth) household(ctx context.Context, user, bound string) (string, error) {
	u, err := a.accounts.User(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return "", errUnauthenticated
	}
	if err != nil {
		return "", fmt.Errorf("look up user: %w", err)
	}
	return a.userHousehold(ctx, u, bound)
}

// userHousehold is household for the user u, already read.
func (a *Auth) userHousehold(ctx context.Context, u store.User, bound string) (string, error) {
	if u.Household == "" {
		return bound, nil
	}
	if bound != "" && bound != u.Household {
		a.log.WarnContext(ctx, "token refused: bound to another household than its user's", "user", u.Name)
		return "", errUnauthenticated
	}
	return u.Household, nil
}

// sessionHash returns the stored hash of r's session cookie. A cookie of
// the wrong shape is refused without asking the store.
func sessionHash(r *http.Request) (string, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil || len(c.Value) != cookieLen {
		return "", false
	}
	return hashSecret(c.Value), true
}

// cookieLen is the length of a cookie value: secretBytes in unpadded
// base64.
const cookieLen = (secretBytes*8 + 5) / 6

// startSession stores a new session for user and sets its cookie on w. It
// returns the session's CSRF token.
func (a *Auth) startSession(w http.ResponseWriter, r *http.Request, user string) (string, error) {
	value, csrf := randomSecret(), randomSecret()
	s := store.Session{
		Hash:    hashSecret(value),
		User:    user,
		CSRF:    csrf,
		Expires: a.now().Add(a.ttl).UTC(),
	}
	if err := a.accounts.CreateSession(r.Context(), s); err != nil {
		return "", fmt.Errorf("create session for %q: %w", user, err)
	}
	http.SetCookie(w, a.cookie(r, value, int(a.ttl/time.Second)))
	return csrf, nil
}

// cookie returns the session cookie with its attributes: HttpOnly so
// scripts cannot read it, SameSite=Strict so other sites cannot send it,
// Secure whenever the request came over TLS (not over plain HTTP, or a
// LAN install without a certificate could never log in).
func (a *Auth) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     CookieName,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	}
}

// safeMethod reports whether method only reads (RFC 9110, 9.2.1).
func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// validCSRF compares the sent token with the session's in constant time.
func validCSRF(sent, want string) bool {
	return sent != "" && want != "" && subtle.ConstantTimeCompare([]byte(sent), []byte(want)) == 1
}
