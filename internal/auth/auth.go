// Package auth owns who may use Hearth's admin API and web UI:
// administrator accounts and their argon2id password hashes, browser
// sessions (an HttpOnly cookie plus a CSRF token for changes), bearer
// tokens for automation, the login rate limit, and the HTTP routes that
// manage them (first-run setup, login, logout, tokens, password change).
//
// The store keeps only the SHA-256 of session cookies and tokens, so a
// leaked database does not log anyone in. Nothing here logs a password,
// token, cookie or hash.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// Accounts is the part of store.Store that auth uses. Not-found errors
// match store.ErrNotFound.
type Accounts interface {
	Users(ctx context.Context) ([]store.User, error)
	User(ctx context.Context, name string) (store.User, error)
	// PutUser creates or replaces a user.
	PutUser(ctx context.Context, u store.User) error
	// DeleteUser deletes a user with its sessions and tokens.
	DeleteUser(ctx context.Context, name string) error
	// ChangePassword sets an existing user's hash and deletes the user's
	// sessions but keepSession and all the user's tokens.
	ChangePassword(ctx context.Context, name, hash, keepSession string) error

	CreateSession(ctx context.Context, s store.Session) error
	Session(ctx context.Context, hash string) (store.Session, error)
	DeleteSession(ctx context.Context, hash string) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)

	// CreateToken stores t with a new ID when t.ID is "".
	CreateToken(ctx context.Context, t store.Token) (store.Token, error)
	Tokens(ctx context.Context) ([]store.Token, error)
	// TokenWithUser returns the token that hashes to hash and its user
	// in one query; ErrNotFound when either is missing.
	TokenWithUser(ctx context.Context, hash string) (store.Token, store.User, error)
	DeleteToken(ctx context.Context, id string) error
	TouchToken(ctx context.Context, id string, at time.Time) error

	// Setting and PutSetting keep the first-run setup code.
	Setting(ctx context.Context, key string) (string, bool, error)
	PutSetting(ctx context.Context, key, value string) error
}

var _ Accounts = store.Store(nil)

// Defaults for Config.
const (
	DefaultSessionTTL = 7 * 24 * time.Hour
	defaultFailures   = 5
	defaultWindow     = 15 * time.Minute
	defaultMaxKeys    = 10000
	// addrFailuresFactor: an address may fail this many times the
	// per-(user, address) limit, over all user names together.
	addrFailuresFactor = 4
)

// CookieName is the name of the session cookie.
const CookieName = "hearth_session"

// CSRFHeader is the request header that must carry the session's CSRF
// token on every cookie-authenticated change.
const CSRFHeader = "X-CSRF-Token"

// tokenPrefix starts every bearer token, so that a leaked one is easy to
// recognise (secret scanners, logs) and to tell from a session cookie.
const tokenPrefix = "hth_"

// secretBytes is the entropy of cookies, CSRF tokens and bearer tokens.
const secretBytes = 32

// Config configures an Auth.
type Config struct {
	// Accounts stores users, sessions and tokens (required).
	Accounts Accounts
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SessionTTL is how long a login lasts (default 7 days).
	SessionTTL time.Duration
	// Logger receives login and failure events (default: discard).
	Logger *slog.Logger
	// LoginRate limits failed password attempts; zero fields take their
	// defaults.
	LoginRate RateLimit
}

// Auth authenticates admin requests and serves the account routes. It is
// safe for concurrent use.
type Auth struct {
	accounts Accounts
	now      func() time.Time
	ttl      time.Duration
	log      *slog.Logger
	// limiter counts failed passwords per (user, address) and setup codes
	// per address; addrLimiter counts failed passwords per address for
	// every user together, with addrFailuresFactor times the room, so one
	// source cannot spray user names to push its own counts out of the
	// bounded limiter.
	limiter     *limiter
	addrLimiter *limiter
	// hashSlots bounds concurrent argon2 runs: each takes 19 MiB, so
	// a burst of logins could otherwise exhaust memory.
	hashSlots chan struct{}
	// setupMu makes the "no user yet" check and the creation of the
	// first user one step within this process.
	setupMu sync.Mutex
}

// New validates c and returns an Auth.
func New(c Config) (*Auth, error) {
	if c.Accounts == nil {
		return nil, errors.New("auth: accounts: required")
	}
	if c.SessionTTL < 0 {
		return nil, fmt.Errorf("auth: session ttl %v: negative", c.SessionTTL)
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.SessionTTL < time.Second {
		return nil, fmt.Errorf("auth: session ttl %v: want at least 1s", c.SessionTTL)
	}
	r := c.LoginRate
	switch {
	case r.Failures < 0:
		return nil, fmt.Errorf("auth: login rate failures %d: negative", r.Failures)
	case r.Window < 0:
		return nil, fmt.Errorf("auth: login rate window %v: negative", r.Window)
	case r.MaxKeys < 0:
		return nil, fmt.Errorf("auth: login rate max keys %d: negative", r.MaxKeys)
	}
	if r.Failures == 0 {
		r.Failures = defaultFailures
	}
	if r.Window == 0 {
		r.Window = defaultWindow
	}
	if r.MaxKeys == 0 {
		r.MaxKeys = defaultMaxKeys
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return &Auth{
		accounts: c.Accounts,
		now:      c.Now,
		ttl:      c.SessionTTL,
		log:      c.Logger,
		limiter:  newLimiter(r),
		addrLimiter: newLimiter(RateLimit{
			Failures: addrFailuresFactor * r.Failures, Window: r.Window, MaxKeys: r.MaxKeys,
		}),
		hashSlots: make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
	}, nil
}

// Principal is who made an authenticated request.
type Principal struct {
	// User is the user name.
	User string
	// Session is true for a browser session cookie, false for a bearer
	// token.
	Session bool
	// CSRF is the session's CSRF token, "" for a bearer token.
	CSRF string
	// Scope is what the credential may do: store.ScopeAdmin for a
	// session, the token's scope for a bearer token.
	Scope string
	// TokenID is the bearer token's id, "" for a session.
	TokenID string
	// Household is "" for an operator, who manages every household, or
	// the one household this principal sees and changes: its user's,
	// or its token's.
	Household string
}

// Operator reports whether p manages every household.
func (p Principal) Operator() bool { return p.Household == "" }

type principalKey struct{}

// NewContext returns ctx carrying p, as Require does.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal Require stored in ctx.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// SetPassword creates user with password pw, or replaces the password of
// an existing user (for `hearth admin set-password`). Replacing it ends
// every session of the user and revokes every token, as a change through
// the API does: whoever held them may be why the password changes.
func (a *Auth) SetPassword(ctx context.Context, user, pw string) error {
	if err := checkUserName(user); err != nil {
		return err
	}
	if err := ValidatePassword(pw); err != nil {
		return err
	}
	_, err := a.accounts.User(ctx, user)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("read user %q: %w", user, err)
	}
	h, err := a.hash(ctx, pw)
	if err != nil {
		return err
	}
	if exists {
		if err := a.accounts.ChangePassword(ctx, user, h, ""); err != nil {
			return fmt.Errorf("change password of %q: %w", user, err)
		}
		a.log.InfoContext(ctx, "password set; sessions ended and tokens revoked", "user", user)
		return nil
	}
	if err := a.accounts.PutUser(ctx, store.User{Name: user, PasswordHash: h, Created: a.now().UTC()}); err != nil {
		return fmt.Errorf("store user %q: %w", user, err)
	}
	a.forgetSetupCode(ctx)
	a.log.InfoContext(ctx, "password set", "user", user)
	return nil
}

// CreateUser creates user with password pw, bound to household ("" makes
// an operator, who manages every household). It fails when the user
// exists: a household user is never turned into another household's by
// mistake. The household must exist.
func (a *Auth) CreateUser(ctx context.Context, user, pw, household string) error {
	if err := checkUserName(user); err != nil {
		return err
	}
	if err := ValidatePassword(pw); err != nil {
		return err
	}
	if household != "" {
		if err := store.ValidateID("household", household); err != nil {
			return fmt.Errorf("household: %w", err)
		}
	}
	switch _, err := a.accounts.User(ctx, user); {
	case err == nil:
		return fmt.Errorf("user %q: %w", user, ErrUserExists)
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("read user %q: %w", user, err)
	}
	h, err := a.hash(ctx, pw)
	if err != nil {
		return err
	}
	if err := a.accounts.PutUser(ctx, store.User{Name: user, PasswordHash: h, Created: a.now().UTC(), Household: household}); err != nil {
		return fmt.Errorf("store user %q: %w", user, err)
	}
	a.forgetSetupCode(ctx)
	a.log.InfoContext(ctx, "user created", "user", user, "household", household)
	return nil
}

// ErrUserExists is CreateUser's error for a name already taken.
var ErrUserExists = errors.New("user exists")

// TokenOptions are the optional settings of a new token.
type TokenOptions struct {
	// Scope is store.ScopeAdmin, store.ScopeRead or store.ScopeMetrics
	// ("" means store.ScopeRead: a token gets no more than it asks for).
	Scope string
	// Expires is when it stops working; zero means never.
	Expires time.Time
	// Household binds the token to one household. A household user's
	// tokens are always bound to the user's household: "" means that
	// one, and another is refused. An operator's token is bound when
	// this is set.
	Household string
}

// CreateToken makes a bearer token named name for user and returns its
// plaintext, which is not kept and cannot be shown again, and the stored
// record.
func (a *Auth) CreateToken(ctx context.Context, user, name string, o TokenOptions) (string, store.Token, error) {
	if err := checkTokenName(name); err != nil {
		return "", store.Token{}, err
	}
	if o.Scope == "" {
		o.Scope = store.ScopeRead
	}
	if err := checkScope(o.Scope); err != nil {
		return "", store.Token{}, err
	}
	now := a.now().UTC()
	if err := checkExpiry(o.Expires, now); err != nil {
		return "", store.Token{}, err
	}
	u, err := a.accounts.User(ctx, user)
	if err != nil {
		return "", store.Token{}, fmt.Errorf("create token %q for %q: %w", name, user, err)
	}
	switch {
	case u.Household != "" && o.Household == "":
		o.Household = u.Household
	case u.Household != "" && o.Household != u.Household:
		return "", store.Token{}, fmt.Errorf("household: %q: a user of household %q makes tokens of that household only", truncate(o.Household), u.Household)
	}
	if o.Household != "" && o.Scope == store.ScopeMetrics {
		return "", store.Token{}, errors.New("scope: metrics: a household token cannot read /metrics, which counts every household")
	}
	plain := tokenPrefix + randomSecret()
	t, err := a.accounts.CreateToken(ctx, store.Token{
		Name:      name,
		User:      user,
		Hash:      hashSecret(plain),
		Created:   now,
		Scope:     o.Scope,
		Expires:   o.Expires,
		Household: o.Household,
	})
	if err != nil {
		return "", store.Token{}, fmt.Errorf("create token %q for %q: %w", name, user, err)
	}
	a.log.InfoContext(ctx, "token created", "user", user, "token_id", t.ID, "token_name", name, "scope", t.Scope, "household", t.Household)
	return plain, t, nil
}

// maxTokenLifetime bounds a token's expiry: further than this is a
// mistake (or an attempt to overflow the store's time range).
const maxTokenLifetime = 10 * 365 * 24 * time.Hour

// checkExpiry accepts the zero time (never) or a time after now and at
// most maxTokenLifetime ahead.
func checkExpiry(t, now time.Time) error {
	switch {
	case t.IsZero():
		return nil
	case !t.After(now):
		return fmt.Errorf("expires: %s is not in the future", t.UTC().Format(time.RFC3339))
	case t.Sub(now) > maxTokenLifetime:
		return fmt.Errorf("expires: %s is more than 10 years ahead; leave it out for a token that never expires", t.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkScope accepts the three token scopes.
func checkScope(s string) error {
	switch s {
	case store.ScopeAdmin, store.ScopeRead, store.ScopeMetrics:
		return nil
	}
	return fmt.Errorf("scope: %q: want admin, read or metrics", truncate(s))
}

// PurgeExpired deletes expired sessions and forgets rate-limit entries
// whose window has passed; call it now and then (hourly is plenty:
// expired sessions are refused anyway). It returns the number of sessions
// deleted.
func (a *Auth) PurgeExpired(ctx context.Context) (int, error) {
	now := a.now()
	a.limiter.prune(now)
	a.addrLimiter.prune(now)
	n, err := a.accounts.DeleteExpiredSessions(ctx, now)
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}

// hash runs HashPassword within the bound on concurrent argon2 runs.
func (a *Auth) hash(ctx context.Context, pw string) (string, error) {
	if err := a.acquire(ctx); err != nil {
		return "", err
	}
	defer a.release()
	return HashPassword(pw)
}

// check runs CheckPassword within the bound on concurrent argon2 runs.
func (a *Auth) check(ctx context.Context, hash, pw string) (bool, error) {
	if err := a.acquire(ctx); err != nil {
		return false, err
	}
	defer a.release()
	return CheckPassword(hash, pw)
}

func (a *Auth) acquire(ctx context.Context) error {
	select {
	case a.hashSlots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait to hash password: %w", ctx.Err())
	}
}

func (a *Auth) release() { <-a.hashSlots }

// randomSecret returns secretBytes random bytes, base64url without
// padding.
func randomSecret() string {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashSecret is what the store keeps of a cookie or token: the hex
// SHA-256. The secrets carry 256 random bits, so a fast unsalted hash is
// enough: there is nothing to guess.
func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// checkUserName allows 1 to 64 letters, digits and ._@- so that names are
// safe in logs, URLs and the UI.
func checkUserName(name string) error {
	if name == "" {
		return errors.New("user: required")
	}
	if len(name) > 64 {
		return errors.New("user: at most 64 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == '@') {
			return fmt.Errorf("user: %q: only letters, digits and . _ - @ allowed", name)
		}
	}
	return nil
}

// checkTokenName allows any printable name up to 100 bytes.
func checkTokenName(name string) error {
	if name == "" {
		return errors.New("name: required")
	}
	if len(name) > 100 {
		return errors.New("name: at most 100 bytes")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return errors.New("name: control characters not allowed")
		}
	}
	return nil
}
