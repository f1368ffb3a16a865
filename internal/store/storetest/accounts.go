package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

func testUsers(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()

	_, err := s.User(ctx, "alice")
	wantErr(t, "get before creating", err, store.ErrNotFound)
	wantErr(t, "put without name", s.PutUser(ctx, store.User{PasswordHash: "x"}), store.ErrInvalid)

	alice := store.User{Name: "alice", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", Created: t0}
	must(t, "create alice", s.PutUser(ctx, alice))
	must(t, "create bob", s.PutUser(ctx, store.User{Name: "bob", PasswordHash: "h2"}))
	got, err := s.User(ctx, "alice")
	must(t, "get alice", err)
	want := alice
	want.Created = t0.UTC()
	equal(t, "alice", got, want)

	// A session of alice survives the replacement of her password.
	must(t, "create session", s.CreateSession(ctx, store.Session{Hash: "s1", User: "alice", Expires: t0}))
	want.PasswordHash = "$argon2id$new"
	must(t, "replace alice", s.PutUser(ctx, want))
	got, err = s.User(ctx, "alice")
	must(t, "get replaced", err)
	equal(t, "replaced", got, want)
	if _, err := s.Session(ctx, "s1"); err != nil {
		t.Errorf("session after replacing its user: %v", err)
	}

	list, err := s.Users(ctx)
	must(t, "list", err)
	equal(t, "users", list, []store.User{want, {Name: "bob", PasswordHash: "h2"}})
}

func testSessions(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	must(t, "create user", s.PutUser(ctx, store.User{Name: "alice", PasswordHash: "h"}))

	in := store.Session{Hash: "c0ffee", User: "alice", CSRF: "csrf-token", Expires: t0}
	must(t, "create", s.CreateSession(ctx, in))
	got, err := s.Session(ctx, "c0ffee")
	must(t, "get", err)
	want := in
	want.Expires = t0.UTC()
	equal(t, "session", got, want)

	wantErr(t, "create again", s.CreateSession(ctx, in), store.ErrConflict)
	wantErr(t, "create for a missing user",
		s.CreateSession(ctx, store.Session{Hash: "x", User: "mallory", Expires: t0}), store.ErrInvalid)
	wantErr(t, "create without expiry",
		s.CreateSession(ctx, store.Session{Hash: "y", User: "alice"}), store.ErrInvalid)
	_, err = s.Session(ctx, "x")
	wantErr(t, "get refused session", err, store.ErrNotFound)

	must(t, "delete", s.DeleteSession(ctx, "c0ffee"))
	_, err = s.Session(ctx, "c0ffee")
	wantErr(t, "get deleted", err, store.ErrNotFound)
	wantErr(t, "delete again", s.DeleteSession(ctx, "c0ffee"), store.ErrNotFound)

	for hash, exp := range map[string]time.Time{
		"ended":        t0.Add(-time.Second),
		"ends-now":     t0,
		"ends-next-ns": t0.Add(time.Nanosecond),
	} {
		must(t, "create "+hash, s.CreateSession(ctx, store.Session{Hash: hash, User: "alice", Expires: exp}))
	}
	for _, tc := range []struct {
		now  time.Time
		want int
	}{
		{t0.Add(-time.Hour), 0},
		{t0, 2},
		{t0, 0},
	} {
		n, err := s.DeleteExpiredSessions(ctx, tc.now)
		must(t, "delete expired", err)
		if n != tc.want {
			t.Errorf("at %v: deleted %d sessions, want %d", tc.now, n, tc.want)
		}
	}
	for hash, want := range map[string]error{"ended": store.ErrNotFound, "ends-now": store.ErrNotFound, "ends-next-ns": nil} {
		_, err := s.Session(ctx, hash)
		if want == nil {
			must(t, "get "+hash, err)
		} else {
			wantErr(t, "get "+hash, err, want)
		}
	}
}

func testTokens(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	must(t, "create user", s.PutUser(ctx, store.User{Name: "isp", PasswordHash: "h"}))

	in := store.Token{Name: "provisioning", User: "isp", Hash: "hash-1", Created: t0}
	tok, err := s.CreateToken(ctx, in)
	must(t, "create", err)
	if err := store.ValidateID("token", tok.ID); err != nil {
		t.Errorf("generated id: %v", err)
	}
	want := in
	want.ID = tok.ID
	want.Created = t0.UTC()
	want.Scope = store.ScopeAdmin // the default
	equal(t, "created", tok, want)
	got, err := s.TokenByHash(ctx, "hash-1")
	must(t, "get by hash", err)
	equal(t, "by hash", got, want)
	got, gotUser, err := s.TokenWithUser(ctx, "hash-1")
	must(t, "get with user", err)
	equal(t, "with user: token", got, want)
	equal(t, "with user: user", gotUser, store.User{Name: "isp", PasswordHash: "h"})

	named, err := s.CreateToken(ctx, store.Token{ID: "aaa", Name: "backup", User: "isp", Hash: "hash-2"})
	must(t, "create named", err)
	if named.ID != "aaa" {
		t.Errorf("named token got id %q", named.ID)
	}
	for _, tc := range []struct {
		name string
		tok  store.Token
		want error
	}{
		{"same hash", store.Token{Name: "dup", User: "isp", Hash: "hash-1"}, store.ErrConflict},
		{"same id", store.Token{ID: "aaa", Name: "dup", User: "isp", Hash: "hash-3"}, store.ErrConflict},
		{"missing user", store.Token{Name: "x", User: "mallory", Hash: "hash-4"}, store.ErrInvalid},
		{"no hash", store.Token{Name: "x", User: "isp"}, store.ErrInvalid},
		{"unknown scope", store.Token{Name: "x", User: "isp", Hash: "hash-5", Scope: "root"}, store.ErrInvalid},
	} {
		_, err := s.CreateToken(ctx, tc.tok)
		wantErr(t, tc.name, err, tc.want)
	}

	list, err := s.Tokens(ctx)
	must(t, "list", err)
	if len(list) != 2 || list[0].ID > list[1].ID {
		t.Errorf("tokens: %+v, want 2 sorted by id", list)
	}

	_, err = s.TokenByHash(ctx, "hash-9")
	wantErr(t, "get unknown hash", err, store.ErrNotFound)
	must(t, "delete", s.DeleteToken(ctx, tok.ID))
	_, err = s.TokenByHash(ctx, "hash-1")
	wantErr(t, "get deleted", err, store.ErrNotFound)
	_, _, err = s.TokenWithUser(ctx, "hash-1")
	wantErr(t, "get deleted with user", err, store.ErrNotFound)
	_, _, err = s.TokenWithUser(ctx, "hash-9")
	wantErr(t, "get unknown hash with user", err, store.ErrNotFound)
	wantErr(t, "delete again", s.DeleteToken(ctx, tok.ID), store.ErrNotFound)
}

func testTokenScopes(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	must(t, "create user", s.PutUser(ctx, store.User{Name: "isp", PasswordHash: "h"}))

	tests := []struct {
		name string
		in   store.Token
	}{
		{"read, expiring", store.Token{ID: "r", Name: "dashboard", User: "isp", Hash: "h-r", Scope: store.ScopeRead, Created: t0, Expires: t0.Add(time.Hour)}},
		{"metrics, never expiring", store.Token{ID: "m", Name: "prometheus", User: "isp", Hash: "h-m", Scope: store.ScopeMetrics, Created: t0}},
		{"admin, used before", store.Token{ID: "a", Name: "ha", User: "isp", Hash: "h-a", Scope: store.ScopeAdmin, Created: t0, LastUsed: t0.Add(time.Minute)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			created, err := s.CreateToken(ctx, tc.in)
			must(t, "create", err)
			want := tc.in
			want.Created, want.Expires, want.LastUsed = utc(want.Created), utc(want.Expires), utc(want.LastUsed)
			equal(t, "created", created, want)
			got, err := s.TokenByHash(ctx, tc.in.Hash)
			must(t, "get", err)
			equal(t, "read back", got, want)
		})
	}

	used := t0.Add(2 * time.Hour)
	must(t, "touch", s.TouchToken(ctx, "m", used))
	got, err := s.TokenByHash(ctx, "h-m")
	must(t, "get touched", err)
	if !got.LastUsed.Equal(used) || got.LastUsed.Location() != time.UTC {
		t.Errorf("last used = %v, want %v in UTC", got.LastUsed, used)
	}
	wantErr(t, "touch unknown", s.TouchToken(ctx, "nope", used), store.ErrNotFound)
}

func testChangePassword(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		must(t, "create "+u, s.PutUser(ctx, store.User{Name: u, PasswordHash: "old-" + u}))
		for _, n := range []string{"1", "2"} {
			must(t, "session", s.CreateSession(ctx, store.Session{Hash: u + "-s" + n, User: u, Expires: t0}))
			_, err := s.CreateToken(ctx, store.Token{Name: n, User: u, Hash: u + "-t" + n})
			must(t, "token", err)
		}
	}

	must(t, "change alice's password", s.ChangePassword(ctx, "alice", "new-alice", "alice-s1"))
	u, err := s.User(ctx, "alice")
	must(t, "get alice", err)
	if u.PasswordHash != "new-alice" {
		t.Errorf("hash = %q, want new-alice", u.PasswordHash)
	}
	for hash, want := range map[string]error{
		"alice-s1": nil, // the session that changed it
		"alice-s2": store.ErrNotFound,
		"bob-s1":   nil,
		"bob-s2":   nil,
	} {
		_, err := s.Session(ctx, hash)
		if want == nil {
			must(t, "session "+hash, err)
		} else {
			wantErr(t, "session "+hash, err, want)
		}
	}
	for hash, want := range map[string]error{
		"alice-t1": store.ErrNotFound,
		"alice-t2": store.ErrNotFound,
		"bob-t1":   nil,
		"bob-t2":   nil,
	} {
		_, err := s.TokenByHash(ctx, hash)
		if want == nil {
			must(t, "token "+hash, err)
		} else {
			wantErr(t, "token "+hash, err, want)
		}
	}

	must(t, "change bob's, keeping no session", s.ChangePassword(ctx, "bob", "new-bob", ""))
	for _, hash := range []string{"bob-s1", "bob-s2"} {
		_, err := s.Session(ctx, hash)
		wantErr(t, "session "+hash, err, store.ErrNotFound)
	}
	wantErr(t, "unknown user", s.ChangePassword(ctx, "mallory", "h", ""), store.ErrNotFound)
	wantErr(t, "no hash", s.ChangePassword(ctx, "bob", "", ""), store.ErrInvalid)
}

// utc is t in UTC, the zero time staying zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

func testSettings(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()

	type want struct {
		value string
		ok    bool
	}
	check := func(key string, w want) {
		t.Helper()
		v, ok, err := s.Setting(ctx, key)
		must(t, "get "+key, err)
		if v != w.value || ok != w.ok {
			t.Errorf("setting %q = %q, %v; want %q, %v", key, v, ok, w.value, w.ok)
		}
	}
	check("theme", want{"", false})
	must(t, "put", s.PutSetting(ctx, "theme", "dark"))
	check("theme", want{"dark", true})
	must(t, "overwrite", s.PutSetting(ctx, "theme", "light\nwith 'quotes' and ünïcode"))
	check("theme", want{"light\nwith 'quotes' and ünïcode", true})
	must(t, "put empty", s.PutSetting(ctx, "motd", ""))
	check("motd", want{"", true})
	check("other", want{"", false})
	wantErr(t, "put without key", s.PutSetting(ctx, "", "x"), store.ErrInvalid)
}

func testNotFound(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	putHousehold(t, s, "h")

	tests := []struct {
		name string
		do   func() error
	}{
		{"household", func() error { _, err := s.Household(ctx, "x"); return err }},
		{"profile", func() error { _, err := s.Profile(ctx, "x"); return err }},
		{"device", func() error { _, err := s.Device(ctx, "x"); return err }},
		{"user", func() error { _, err := s.User(ctx, "x"); return err }},
		{"session", func() error { _, err := s.Session(ctx, "x"); return err }},
		{"token by hash", func() error { _, err := s.TokenByHash(ctx, "x"); return err }},
		{"delete household", func() error { return s.DeleteHousehold(ctx, "x") }},
		{"delete profile", func() error { return s.DeleteProfile(ctx, "x") }},
		{"delete device", func() error { return s.DeleteDevice(ctx, "x") }},
		{"delete grant", func() error { return s.DeleteGrant(ctx, "x") }},
		{"delete session", func() error { return s.DeleteSession(ctx, "x") }},
		{"delete token", func() error { return s.DeleteToken(ctx, "x") }},
		{"update household", func() error {
			_, err := s.PutHousehold(ctx, store.Household{ID: "x", Version: 1})
			return err
		}},
		{"update profile", func() error {
			_, err := s.PutProfile(ctx, store.Profile{ID: "x", Household: "h", Version: 1})
			return err
		}},
		{"update device", func() error {
			_, err := s.PutDevice(ctx, store.Device{ID: "x", Household: "h", Version: 1})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.name, tc.do(), store.ErrNotFound)
		})
	}

	// Empty lists are nil, not errors.
	for what, n := range map[string]func() (int, error){
		"profiles": func() (int, error) { l, err := s.Profiles(ctx, ""); return len(l), err },
		"devices":  func() (int, error) { l, err := s.Devices(ctx, ""); return len(l), err },
		"grants":   func() (int, error) { l, err := s.Grants(ctx, ""); return len(l), err },
		"users":    func() (int, error) { l, err := s.Users(ctx); return len(l), err },
		"tokens":   func() (int, error) { l, err := s.Tokens(ctx); return len(l), err },
	} {
		got, err := n()
		must(t, "list "+what, err)
		if got != 0 {
			t.Errorf("%s: %d items in a new store", what, got)
		}
	}
}

// testRoles checks users and tokens bound to a household: the binding is
// kept, must name an existing household, and keeps the household from
// being deleted; DeleteUser takes the user's sessions and tokens along.
func testRoles(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	_, err := s.PutHousehold(ctx, store.Household{ID: "smith", Name: "Smith"})
	must(t, "create household", err)

	cases := []struct {
		name string
		user store.User
		want error
	}{
		{"operator", store.User{Name: "op", PasswordHash: "h"}, nil},
		{"household user", store.User{Name: "anna", PasswordHash: "h", Household: "smith"}, nil},
		{"missing household", store.User{Name: "eve", PasswordHash: "h", Household: "jones"}, store.ErrInvalid},
	}
	for _, tc := range cases {
		err := s.PutUser(ctx, tc.user)
		if tc.want != nil {
			wantErr(t, tc.name, err, tc.want)
			continue
		}
		must(t, tc.name, err)
		got, err := s.User(ctx, tc.user.Name)
		must(t, "get "+tc.name, err)
		equal(t, tc.name, got, tc.user)
	}

	tok, err := s.CreateToken(ctx, store.Token{Name: "portal", User: "anna", Hash: "h-anna", Household: "smith", Created: t0})
	must(t, "create household token", err)
	got, err := s.TokenByHash(ctx, "h-anna")
	must(t, "get household token", err)
	if got.Household != "smith" {
		t.Errorf("token household = %q, want smith", got.Household)
	}
	got, gotUser, err := s.TokenWithUser(ctx, "h-anna")
	must(t, "get household token with user", err)
	if got.Household != "smith" || gotUser.Name != "anna" || gotUser.Household != "smith" {
		t.Errorf("token with user: household %q, user %q of household %q; want smith, anna of smith", got.Household, gotUser.Name, gotUser.Household)
	}
	_, err = s.CreateToken(ctx, store.Token{Name: "x", User: "op", Hash: "h-x", Household: "jones"})
	wantErr(t, "token of a missing household", err, store.ErrInvalid)

	wantErr(t, "delete household with a user", s.DeleteHousehold(ctx, "smith"), store.ErrConflict)

	must(t, "create session", s.CreateSession(ctx, store.Session{Hash: "s-anna", User: "anna", Expires: t0}))
	must(t, "delete user", s.DeleteUser(ctx, "anna"))
	wantErr(t, "delete user again", s.DeleteUser(ctx, "anna"), store.ErrNotFound)
	_, err = s.Session(ctx, "s-anna")
	wantErr(t, "session of the deleted user", err, store.ErrNotFound)
	_, err = s.TokenByHash(ctx, tok.Hash)
	wantErr(t, "token of the deleted user", err, store.ErrNotFound)
	must(t, "delete household without users", s.DeleteHousehold(ctx, "smith"))
}
