package auth

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// fakeAccounts is an in-memory Accounts. When err is set every method
// fails with it.
type fakeAccounts struct {
	mu       sync.Mutex
	users    map[string]store.User
	sessions map[string]store.Session
	tokens   map[string]store.Token
	settings map[string]string
	nextID   int
	err      error
	// reads counts the calls of the methods that read a credential or
	// its user, by method name (the token check's queries).
	reads map[string]int
}

var _ Accounts = (*fakeAccounts)(nil)

func newFakeAccounts() *fakeAccounts {
	return &fakeAccounts{
		users:    map[string]store.User{},
		sessions: map[string]store.Session{},
		tokens:   map[string]store.Token{},
		settings: map[string]string{},
		reads:    map[string]int{},
	}
}

// count records a read by method; callers hold f.mu.
func (f *fakeAccounts) count(method string) { f.reads[method]++ }

// readCounts returns a copy of the reads so far and resets them.
func (f *fakeAccounts) readCounts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.reads
	f.reads = map[string]int{}
	return r
}

func (f *fakeAccounts) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeAccounts) Users(ctx context.Context) ([]store.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var us []store.User
	for _, u := range f.users {
		us = append(us, u)
	}
	slices.SortFunc(us, func(a, b store.User) int { return strings.Compare(a.Name, b.Name) })
	return us, nil
}

func (f *fakeAccounts) User(ctx context.Context, name string) (store.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("User")
	if f.err != nil {
		return store.User{}, f.err
	}
	u, ok := f.users[name]
	if !ok {
		return store.User{}, fmt.Errorf("user %q: %w", name, store.ErrNotFound)
	}
	return u, nil
}

func (f *fakeAccounts) PutUser(ctx context.Context, u store.User) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.users[u.Name] = u
	return nil
}

func (f *fakeAccounts) DeleteUser(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if _, ok := f.users[name]; !ok {
		return store.ErrNotFound
	}
	delete(f.users, name)
	for h, s := range f.sessions {
		if s.User == name {
			delete(f.sessions, h)
		}
	}
	for id, t := range f.tokens {
		if t.User == name {
			delete(f.tokens, id)
		}
	}
	return nil
}

func (f *fakeAccounts) CreateSession(ctx context.Context, s store.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if _, ok := f.sessions[s.Hash]; ok {
		return store.ErrConflict
	}
	f.sessions[s.Hash] = s
	return nil
}

func (f *fakeAccounts) Session(ctx context.Context, hash string) (store.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return store.Session{}, f.err
	}
	s, ok := f.sessions[hash]
	if !ok {
		return store.Session{}, store.ErrNotFound
	}
	return s, nil
}

func (f *fakeAccounts) DeleteSession(ctx context.Context, hash string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if _, ok := f.sessions[hash]; !ok {
		return store.ErrNotFound
	}
	delete(f.sessions, hash)
	return nil
}

func (f *fakeAccounts) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	n := 0
	for h, s := range f.sessions {
		if !s.Expires.After(now) {
			delete(f.sessions, h)
			n++
		}
	}
	return n, nil
}

func (f *fakeAccounts) CreateToken(ctx context.Context, t store.Token) (store.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return store.Token{}, f.err
	}
	if t.ID == "" {
		f.nextID++
		t.ID = "t" + strconv.Itoa(f.nextID)
	}
	f.tokens[t.ID] = t
	return t, nil
}

func (f *fakeAccounts) Tokens(ctx context.Context) ([]store.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var ts []store.Token
	for _, t := range f.tokens {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b store.Token) int { return strings.Compare(a.ID, b.ID) })
	return ts, nil
}

func (f *fakeAccounts) TokenWithUser(ctx context.Context, hash string) (store.Token, store.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("TokenWithUser")
	if f.err != nil {
		return store.Token{}, store.User{}, f.err
	}
	for _, t := range f.tokens {
		if t.Hash != hash {
			continue
		}
		u, ok := f.users[t.User]
		if !ok {
			break
		}
		return t, u, nil
	}
	return store.Token{}, store.User{}, store.ErrNotFound
}

func (f *fakeAccounts) TokenByHash(ctx context.Context, hash string) (store.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count("TokenByHash")
	if f.err != nil {
		return store.Token{}, f.err
	}
	for _, t := range f.tokens {
		if t.Hash == hash {
			return t, nil
		}
	}
	return store.Token{}, store.ErrNotFound
}

func (f *fakeAccounts) DeleteToken(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if _, ok := f.tokens[id]; !ok {
		return store.ErrNotFound
	}
	delete(f.tokens, id)
	return nil
}

func (f *fakeAccounts) ChangePassword(ctx context.Context, name, hash, keep string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	u, ok := f.users[name]
	if !ok {
		return store.ErrNotFound
	}
	u.PasswordHash = hash
	f.users[name] = u
	for h, s := range f.sessions {
		if s.User == name && h != keep {
			delete(f.sessions, h)
		}
	}
	for id, t := range f.tokens {
		if t.User == name {
			delete(f.tokens, id)
		}
	}
	return nil
}

func (f *fakeAccounts) TouchToken(ctx context.Context, id string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	t, ok := f.tokens[id]
	if !ok {
		return store.ErrNotFound
	}
	t.LastUsed = at
	f.tokens[id] = t
	return nil
}

func (f *fakeAccounts) Setting(ctx context.Context, key string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", false, f.err
	}
	v, ok := f.settings[key]
	return v, ok, nil
}

func (f *fakeAccounts) PutSetting(ctx context.Context, key, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.settings[key] = value
	return nil
}

func (f *fakeAccounts) session(hash string) (store.Session, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[hash]
	return s, ok
}

func (f *fakeAccounts) sessionCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sessions)
}

func (f *fakeAccounts) user(name string) (store.User, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[name]
	return u, ok
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
