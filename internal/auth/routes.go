package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// maxBodyBytes bounds every request body.
const maxBodyBytes = 64 << 10

// defaultSetupUser is the name of the first user when setup names none.
const defaultSetupUser = "admin"

// dummyHash is checked when a login names no existing user, so that the
// answer takes as long as for a wrong password and does not reveal which
// names exist. It is the hash of a random password nobody kept, with the
// default parameters (a test checks they stay in step).
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$vhhK1Mht6mlnEePZY+sQmQ$9dVlL1DkiczRqKAwTqB4y5/6BOnXIA1d1QxqGVqV8rs"

// Routes registers the account routes on mux:
//
//	GET    /api/v1/setup        {"needed": bool}, no authentication
//	POST   /api/v1/setup        {"code","user","password"}: create the first user and log in;
//	                            403 for a wrong setup code, 409 once a user exists
//	POST   /api/v1/login        {"user","password"} -> {"user","csrf"} and the cookie
//	POST   /api/v1/logout       end the session, expire the cookie
//	GET    /api/v1/session      {"user","csrf"} of the caller
//	GET    /api/v1/tokens       {"tokens":[{"id","name","user","scope","created","expires","last_used","expired"}]}
//	POST   /api/v1/tokens       {"name","scope","expires"} -> the token's record and {"token"}
//	DELETE /api/v1/tokens/{id}  revoke a token
//	POST   /api/v1/password     {"current","new"}: change the caller's password; ends
//	                            the caller's other sessions and revokes the caller's tokens
//	GET    /api/v1/users        {"users":[{"name","created","household"}]}, operators only
//	POST   /api/v1/users        {"name","password","household"}: a new user, operators only
//	DELETE /api/v1/users/{name} delete a user, its sessions and tokens, operators only
//
// A household's user or token sees and revokes only its own user's
// tokens, and its tokens are bound to its household.
//
// Errors are JSON {"error": "..."}; a 400 names the bad field. Request
// bodies must be application/json (which a cross-site form cannot send
// without a CORS preflight) and at most 64 KiB.
func (a *Auth) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/setup", a.setupStatus)
	mux.HandleFunc("POST /api/v1/setup", a.setup)
	mux.HandleFunc("POST /api/v1/login", a.login)
	mux.Handle("POST /api/v1/logout", a.RequireHousehold(http.HandlerFunc(a.logout)))
	mux.Handle("GET /api/v1/session", a.RequireHousehold(http.HandlerFunc(a.session)))
	mux.Handle("GET /api/v1/tokens", a.RequireHousehold(http.HandlerFunc(a.listTokens)))
	mux.Handle("POST /api/v1/tokens", a.RequireHousehold(http.HandlerFunc(a.createToken)))
	mux.Handle("DELETE /api/v1/tokens/{id}", a.RequireHousehold(http.HandlerFunc(a.deleteToken)))
	mux.Handle("POST /api/v1/password", a.RequireHousehold(http.HandlerFunc(a.changePassword)))
	mux.Handle("GET /api/v1/users", a.Require(http.HandlerFunc(a.listUsers)))
	mux.Handle("POST /api/v1/users", a.Require(http.HandlerFunc(a.createUser)))
	mux.Handle("DELETE /api/v1/users/{name}", a.Require(http.HandlerFunc(a.deleteUser)))
}

// sessionResponse answers setup, login and GET session.
type sessionResponse struct {
	User string `json:"user"`
	CSRF string `json:"csrf"`
	// Household is the caller's household, "" for an operator; the UI
	// shows a household only its own things.
	Household string `json:"household,omitempty"`
	// Role is "operator" or "household".
	Role string `json:"role"`
}

// Roles, as sessionResponse.Role says them.
const (
	RoleOperator  = "operator"
	RoleHousehold = "household"
)

func role(household string) string {
	if household == "" {
		return RoleOperator
	}
	return RoleHousehold
}

func (a *Auth) setupStatus(w http.ResponseWriter, r *http.Request) {
	users, err := a.accounts.Users(r.Context())
	if err != nil {
		a.internalError(w, r, "list users", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"needed": len(users) == 0})
}

func (a *Auth) setup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code     string `json:"code"`
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.User == "" {
		req.User = defaultSetupUser
	}
	if err := checkUserName(req.User); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if strings.TrimSpace(req.Code) == "" {
		writeError(w, http.StatusBadRequest, "code: required; it is in hearth's log, or run `hearth admin setup-code`")
		return
	}
	if err := ValidatePassword(req.Password); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	a.setupMu.Lock()
	defer a.setupMu.Unlock()
	users, err := a.accounts.Users(ctx)
	if err != nil {
		a.internalError(w, r, "list users", err)
		return
	}
	if len(users) > 0 {
		writeError(w, http.StatusConflict, "already set up")
		return
	}
	// Guesses of the code count like password guesses, per address.
	keys := []string{"setup:" + addrKey(r.RemoteAddr)}
	if !a.reserve(w, r, req.User, a.limiter, keys) {
		return
	}
	ok, err := a.checkSetupCode(ctx, req.Code)
	if err != nil {
		a.internalError(w, r, "check setup code", err)
		return
	}
	if !ok {
		a.log.WarnContext(ctx, "setup refused: wrong setup code", "remote", r.RemoteAddr)
		writeError(w, http.StatusForbidden, "code: wrong setup code; it is in hearth's log, or run `hearth admin setup-code`")
		return
	}
	a.limiter.succeed(keys...)
	h, err := a.hash(ctx, req.Password)
	if err != nil {
		a.internalError(w, r, "hash password", err)
		return
	}
	if err := a.accounts.PutUser(ctx, store.User{Name: req.User, PasswordHash: h, Created: a.now().UTC()}); err != nil {
		a.internalError(w, r, "store first user", err)
		return
	}
	a.forgetSetupCode(ctx)
	a.log.InfoContext(ctx, "first user created", "user", req.User, "remote", r.RemoteAddr)
	csrf, err := a.startSession(w, r, req.User)
	if err != nil {
		a.internalError(w, r, "start session", err)
		return
	}
	writeJSON(w, http.StatusCreated, sessionResponse{User: req.User, CSRF: csrf, Role: RoleOperator})
}

func (a *Auth) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	// Every stored name passes checkUserName, so this reveals nothing; it
	// bounds what reaches the log and the rate limiter's keys.
	if err := checkUserName(req.User); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Password == "" {
		writeError(w, http.StatusBadRequest, "password: required")
		return
	}
	ctx := r.Context()
	// Failures count per (user, address): a kid who fails on purpose
	// locks out only their own device, never the parent's.
	keys, ok := a.reservePassword(w, r, req.User)
	if !ok {
		return
	}
	ok, err := a.verify(r, req.User, req.Password)
	if err != nil {
		a.internalError(w, r, "check password", err)
		return
	}
	if !ok {
		a.log.WarnContext(ctx, "login failed", "user", req.User, "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, "wrong user name or password")
		return
	}
	// A success resets the counts: earlier failures were the owner's typos
	// or, if not, the password is still unknown to whoever made them.
	a.limiter.succeed(keys...)
	// Replace any session the browser already had.
	if hash, ok := sessionHash(r); ok {
		if err := a.accounts.DeleteSession(ctx, hash); err != nil && !errors.Is(err, store.ErrNotFound) {
			a.log.WarnContext(ctx, "delete previous session", "err", err)
		}
	}
	csrf, err := a.startSession(w, r, req.User)
	if err != nil {
		a.internalError(w, r, "start session", err)
		return
	}
	a.log.InfoContext(ctx, "login", "user", req.User, "remote", r.RemoteAddr)
	u, err := a.accounts.User(ctx, req.User)
	if err != nil {
		a.internalError(w, r, "read user", err)
		return
	}
	writeJSON(w, http.StatusOK, sessionResponse{User: req.User, CSRF: csrf, Household: u.Household, Role: role(u.Household)})
}

// reservePassword counts a password attempt of user from r's address,
// or answers 429 and returns false when the (user, address) pair or the
// address is over its limit. It returns the keys a success resets: the
// pair's only, so the address's count of other names still ages out.
func (a *Auth) reservePassword(w http.ResponseWriter, r *http.Request, user string) ([]string, bool) {
	keys := []string{userAddrKey(user, r.RemoteAddr)}
	if !a.reserve(w, r, user, a.limiter, keys) {
		return nil, false
	}
	if !a.reserve(w, r, user, a.addrLimiter, []string{addrKey(r.RemoteAddr)}) {
		return nil, false
	}
	return keys, true
}

// reserve counts an attempt for keys in l, or answers 429 and returns
// false when one of them is over the limit.
func (a *Auth) reserve(w http.ResponseWriter, r *http.Request, user string, l *limiter, keys []string) bool {
	wait, ok := l.reserve(a.now(), keys...)
	if ok {
		return true
	}
	secs := int((wait + time.Second - 1) / time.Second)
	a.log.WarnContext(r.Context(), "password attempts limited", "user", user, "remote", r.RemoteAddr, "retry_after_s", secs)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, fmt.Sprintf("too many failed attempts; retry in %d s", secs))
	return false
}

// verify reports whether pw is user's password. An unknown user costs the
// same hash as a known one.
func (a *Auth) verify(r *http.Request, user, pw string) (bool, error) {
	ctx := r.Context()
	u, err := a.accounts.User(ctx, user)
	switch {
	case errors.Is(err, store.ErrNotFound):
		_, err := a.check(ctx, dummyHash, pw)
		return false, err
	case err != nil:
		return false, fmt.Errorf("read user %q: %w", user, err)
	}
	ok, err := a.check(ctx, u.PasswordHash, pw)
	if err != nil {
		return false, fmt.Errorf("user %q: %w", user, err)
	}
	return ok, nil
}

func (a *Auth) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p, _ := FromContext(ctx); p.Session {
		if hash, ok := sessionHash(r); ok {
			if err := a.accounts.DeleteSession(ctx, hash); err != nil && !errors.Is(err, store.ErrNotFound) {
				a.internalError(w, r, "delete session", err)
				return
			}
		}
		http.SetCookie(w, a.cookie(r, "", -1))
		a.log.InfoContext(ctx, "logout", "user", p.User)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (a *Auth) session(w http.ResponseWriter, r *http.Request) {
	p, _ := FromContext(r.Context())
	writeJSON(w, http.StatusOK, sessionResponse{User: p.User, CSRF: p.CSRF, Household: p.Household, Role: role(p.Household)})
}

// tokenView is a token as the API shows it: never its hash. Expires and
// LastUsed are null for never.
type tokenView struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	User     string     `json:"user"`
	Scope    string     `json:"scope"`
	Created  time.Time  `json:"created"`
	Expires  *time.Time `json:"expires"`
	LastUsed *time.Time `json:"last_used"`
	Expired  bool       `json:"expired"`
	// Household is the household the token is bound to, "" for none.
	Household string `json:"household,omitempty"`
}

func (a *Auth) viewToken(t store.Token) tokenView {
	v := tokenView{ID: t.ID, Name: t.Name, User: t.User, Scope: t.Scope, Created: t.Created, Household: t.Household}
	if v.Scope == "" {
		v.Scope = store.ScopeAdmin
	}
	if !t.Expires.IsZero() {
		v.Expires = &t.Expires
		v.Expired = !a.now().Before(t.Expires)
	}
	if !t.LastUsed.IsZero() {
		v.LastUsed = &t.LastUsed
	}
	return v
}

func (a *Auth) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := a.accounts.Tokens(r.Context())
	if err != nil {
		a.internalError(w, r, "list tokens", err)
		return
	}
	p, _ := FromContext(r.Context())
	views := make([]tokenView, 0, len(ts))
	for _, t := range ts {
		if p.Operator() || t.User == p.User && t.Household == p.Household {
			views = append(views, a.viewToken(t))
		}
	}
	writeJSON(w, http.StatusOK, map[string][]tokenView{"tokens": views})
}

func (a *Auth) createToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name      string     `json:"name"`
		Scope     string     `json:"scope"`
		Expires   *time.Time `json:"expires"`
		Household string     `json:"household"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	if err := checkTokenName(req.Name); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	o := TokenOptions{Scope: req.Scope, Household: req.Household}
	if o.Scope == "" {
		writeError(w, http.StatusBadRequest, "scope: required: admin, read or metrics")
		return
	}
	if err := checkScope(o.Scope); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Expires != nil {
		if err := checkExpiry(*req.Expires, a.now()); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		o.Expires = req.Expires.UTC()
	}
	p, _ := FromContext(r.Context())
	if !p.Operator() && o.Household != "" && o.Household != p.Household {
		writeError(w, http.StatusForbidden, fmt.Sprintf("household: %q: you may only make tokens of your household", truncate(o.Household)))
		return
	}
	if !p.Operator() && o.Scope == store.ScopeMetrics {
		writeError(w, http.StatusForbidden, "scope: metrics: /metrics counts every household; operators only")
		return
	}
	if !p.Operator() {
		// An operator's token bound to a household makes tokens of that
		// household only, never one of its operator's.
		o.Household = p.Household
	}
	if o.Household != "" {
		if err := store.ValidateID("household", o.Household); err != nil {
			writeError(w, http.StatusBadRequest, "household: "+err.Error())
			return
		}
	}
	plain, t, err := a.CreateToken(r.Context(), p.User, req.Name, o)
	if errors.Is(err, store.ErrInvalid) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("household: %q: no such household", truncate(o.Household)))
		return
	}
	if err != nil {
		a.internalError(w, r, "create token", err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Token string `json:"token"`
		tokenView
	}{plain, a.viewToken(t)})
}

func (a *Auth) deleteToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p, _ := FromContext(r.Context())
	if !p.Operator() {
		// Another user's token is as missing as one that never existed:
		// the answer must not tell them apart.
		ts, err := a.accounts.Tokens(r.Context())
		if err != nil {
			a.internalError(w, r, "list tokens", err)
			return
		}
		if !slices.ContainsFunc(ts, func(t store.Token) bool { return t.ID == id && t.User == p.User && t.Household == p.Household }) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("token %q: not found", truncate(id)))
			return
		}
	}
	err := a.accounts.DeleteToken(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("token %q: not found", truncate(id)))
		return
	}
	if err != nil {
		a.internalError(w, r, "delete token", err)
		return
	}
	a.log.InfoContext(r.Context(), "token deleted", "user", p.User, "token_id", id)
	w.WriteHeader(http.StatusNoContent)
}

func (a *Auth) changePassword(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.Current == "" {
		writeError(w, http.StatusBadRequest, "current: required")
		return
	}
	if err := checkPolicy("new", req.New); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	p, _ := FromContext(ctx)
	// Guessing the current password through a stolen session would reveal
	// it (and perhaps the owner's other accounts): limit it like a login.
	keys, reserved := a.reservePassword(w, r, p.User)
	if !reserved {
		return
	}
	u, err := a.accounts.User(ctx, p.User)
	if err != nil {
		a.internalError(w, r, "read user", err)
		return
	}
	if u.Household != p.Household {
		writeError(w, http.StatusForbidden, "a token bound to a household cannot change its operator's password")
		return
	}
	ok, err := a.check(ctx, u.PasswordHash, req.Current)
	if err != nil {
		a.internalError(w, r, "check password", err)
		return
	}
	if !ok {
		a.log.WarnContext(ctx, "password change: wrong current password", "user", p.User, "remote", r.RemoteAddr)
		writeError(w, http.StatusForbidden, "current: wrong password")
		return
	}
	a.limiter.succeed(keys...)
	h, err := a.hash(ctx, req.New)
	if err != nil {
		a.internalError(w, r, "hash password", err)
		return
	}
	// Every other session and every token of the user ends with the old
	// password: a password is changed because someone else may know it.
	keep := ""
	if p.Session {
		keep, _ = sessionHash(r)
	}
	if err := a.accounts.ChangePassword(ctx, p.User, h, keep); err != nil {
		a.internalError(w, r, "change password", err)
		return
	}
	a.log.InfoContext(ctx, "password changed; other sessions ended and tokens revoked", "user", p.User)
	w.WriteHeader(http.StatusNoContent)
}

// userView is a user as the API shows it: never the password hash.
type userView struct {
	Name      string    `json:"name"`
	Created   time.Time `json:"created"`
	Household string    `json:"household,omitempty"`
	Role      string    `json:"role"`
}

func (a *Auth) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := a.accounts.Users(r.Context())
	if err != nil {
		a.internalError(w, r, "list users", err)
		return
	}
	views := make([]userView, 0, len(us))
	for _, u := range us {
		views = append(views, userView{Name: u.Name, Created: u.Created, Household: u.Household, Role: role(u.Household)})
	}
	writeJSON(w, http.StatusOK, map[string][]userView{"users": views})
}

func (a *Auth) createUser(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name      string `json:"name"`
		Password  string `json:"password"`
		Household string `json:"household"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	if err := checkUserName(req.Name); err != nil {
		writeError(w, http.StatusBadRequest, "name: "+strings.TrimPrefix(err.Error(), "user: "))
		return
	}
	if err := ValidatePassword(req.Password); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Household != "" {
		if err := store.ValidateID("household", req.Household); err != nil {
			writeError(w, http.StatusBadRequest, "household: "+err.Error())
			return
		}
	}
	err := a.CreateUser(r.Context(), req.Name, req.Password, req.Household)
	switch {
	case errors.Is(err, ErrUserExists):
		writeError(w, http.StatusConflict, fmt.Sprintf("name: user %q exists", req.Name))
		return
	case errors.Is(err, store.ErrInvalid):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("household: %q: no such household", truncate(req.Household)))
		return
	case err != nil:
		a.internalError(w, r, "create user", err)
		return
	}
	u, err := a.accounts.User(r.Context(), req.Name)
	if err != nil {
		a.internalError(w, r, "read user", err)
		return
	}
	writeJSON(w, http.StatusCreated, userView{Name: u.Name, Created: u.Created, Household: u.Household, Role: role(u.Household)})
}

func (a *Auth) deleteUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p, _ := FromContext(r.Context())
	if name == p.User {
		writeError(w, http.StatusConflict, "you cannot delete yourself")
		return
	}
	err := a.accounts.DeleteUser(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("user %q: not found", truncate(name)))
		return
	}
	if err != nil {
		a.internalError(w, r, "delete user", err)
		return
	}
	a.log.InfoContext(r.Context(), "user deleted", "user", name, "by", p.User)
	w.WriteHeader(http.StatusNoContent)
}

// internalError logs err and answers 500 without details.
func (a *Auth) internalError(w http.ResponseWriter, r *http.Request, action string, err error) {
	a.log.ErrorContext(r.Context(), action, "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal error")
}

// decodeJSON reads r's body, a single JSON object, into dst. On failure it
// answers with an error naming the problem and returns false.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type: must be application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errTrailing
			var mbe *http.MaxBytesError
			if errors.As(terr, &mbe) {
				err = terr
			}
		}
	}
	if err == nil {
		return true
	}
	status, msg := http.StatusBadRequest, describeJSONError(err)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		status = http.StatusRequestEntityTooLarge
	}
	writeError(w, status, msg)
	return false
}

var errTrailing = errors.New("request body: unexpected data after the JSON object")

// describeJSONError turns a decoding error into a message naming the
// field or the position at fault.
func describeJSONError(err error) string {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.Is(err, errTrailing):
		return err.Error()
	case errors.As(err, &mbe):
		return fmt.Sprintf("request body: larger than %d KiB", mbe.Limit>>10)
	case errors.Is(err, io.EOF):
		return "request body: empty, want a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "request body: JSON ends too early"
	case errors.As(err, &syn):
		return fmt.Sprintf("request body: malformed JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("request body: want a JSON object, not %s", typ.Value)
		}
		return fmt.Sprintf("%s: want %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Sprintf("%s: unknown field", strings.Trim(name, `"`))
	}
	return "request body: " + strings.TrimPrefix(err.Error(), "json: ")
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	}
	return "a number"
}

// writeJSON writes v as the JSON body. Responses may carry secrets (CSRF
// token, new bearer token), so none may be cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

// writeError writes {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
