package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// Store is what the SQL backends share of a store.Store: everything but
// Load, Changes, Version, Notify, Close and the bindings' batch writes
// (PutBindings, DeleteBindings), which a backend adds. A backend embeds
// it, and may replace a method with its own.
type Store struct {
	db DB
}

// New returns the shared part of a store over db.
func New(db DB) *Store { return &Store{db: db} }

// Users returns every user, by name.
func (s *Store) Users(ctx context.Context) ([]store.User, error) {
	out, err := queryAll(ctx, s.db.SQL, scanUser, "SELECT name, password_hash, created, household FROM users ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", s.db.err(err))
	}
	return out, nil
}

func scanUser(r store.Scanner) (store.User, error) {
	var (
		u       store.User
		created *int64
	)
	if err := r.Scan(&u.Name, &u.PasswordHash, &created, &u.Household); err != nil {
		return store.User{}, err
	}
	u.Created = GoTime(created)
	return u, nil
}

// User returns the user called name.
func (s *Store) User(ctx context.Context, name string) (store.User, error) {
	u, err := scanUser(s.db.SQL.QueryRowContext(ctx, "SELECT name, password_hash, created, household FROM users WHERE name = $1", name))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.User{}, fmt.Errorf("get user %q: %w", name, s.db.err(err))
	}
	return u, nil
}

// PutUser creates or replaces the user called u.Name.
func (s *Store) PutUser(ctx context.Context, u store.User) error {
	if u.Name == "" {
		return fmt.Errorf("put user: no name: %w", store.ErrInvalid)
	}
	created, err := DBTime("created", u.Created)
	if err != nil {
		return fmt.Errorf("put user %q: %w", u.Name, err)
	}
	err = s.db.Write(ctx, false, func(tx *Tx) error {
		// An upsert, not INSERT OR REPLACE: replacing would delete the
		// row, which the sessions and tokens refer to.
		if err := HouseholdExists(ctx, tx, u.Household); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO users (name, password_hash, created, household) VALUES ($1, $2, $3, $4)
ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, created = excluded.created, household = excluded.household`,
			u.Name, u.PasswordHash, created, u.Household)
		return err
	})
	if err != nil {
		return fmt.Errorf("put user %q: %w", u.Name, err)
	}
	return nil
}

// DeleteUser deletes user name with its sessions and tokens.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	err := s.db.Write(ctx, false, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_name = $1", name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM tokens WHERE user_name = $1", name); err != nil {
			return err
		}
		return Deleted(tx.ExecContext(ctx, "DELETE FROM users WHERE name = $1", name))
	})
	if err != nil {
		return fmt.Errorf("delete user %q: %w", name, err)
	}
	return nil
}

// userExists returns ErrInvalid unless user name exists.
func userExists(ctx context.Context, tx Querier, name string) error {
	ok, err := Exists(ctx, tx, "SELECT 1 FROM users WHERE name = $1", name)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("user %q does not exist: %w", name, store.ErrInvalid)
	}
	return nil
}

// CreateSession stores a new session; its Hash must be new (ErrConflict)
// and its User must exist.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	if sess.Hash == "" {
		return fmt.Errorf("create session: no hash: %w", store.ErrInvalid)
	}
	expires, err := DBTime("expires", sess.Expires)
	if err != nil || expires == nil {
		return fmt.Errorf("create session of user %q: expires %v: %w", sess.User, sess.Expires, store.ErrInvalid)
	}
	err = s.db.Write(ctx, false, func(tx *Tx) error {
		if err := userExists(ctx, tx, sess.User); err != nil {
			return err
		}
		ok, err := Exists(ctx, tx, "SELECT 1 FROM sessions WHERE hash = $1", sess.Hash)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("session already exists: %w", store.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO sessions (hash, user_name, csrf, expires) VALUES ($1, $2, $3, $4)",
			sess.Hash, sess.User, sess.CSRF, expires)
		return err
	})
	if err != nil {
		// The hash is a credential: it stays out of errors and logs.
		return fmt.Errorf("create session of user %q: %w", sess.User, err)
	}
	return nil
}

// Session returns the session whose cookie hashes to hash, expired or
// not: the caller compares Expires with its clock.
func (s *Store) Session(ctx context.Context, hash string) (store.Session, error) {
	var (
		sess    store.Session
		expires *int64
	)
	err := s.db.SQL.QueryRowContext(ctx, "SELECT hash, user_name, csrf, expires FROM sessions WHERE hash = $1", hash).
		Scan(&sess.Hash, &sess.User, &sess.CSRF, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", s.db.err(err))
	}
	sess.Expires = GoTime(expires)
	return sess, nil
}

// DeleteSession deletes the session whose cookie hashes to hash.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	err := s.db.Write(ctx, false, func(tx *Tx) error {
		return Deleted(tx.ExecContext(ctx, "DELETE FROM sessions WHERE hash = $1", hash))
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions deletes the sessions whose Expires is at or
// before now and returns how many it deleted.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	at, err := DBTime("now", now)
	if err != nil || at == nil {
		return 0, fmt.Errorf("delete sessions expired at %v: bad time: %w", now, store.ErrInvalid)
	}
	var n int64
	err = s.db.Write(ctx, false, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE expires <= $1", at)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete sessions expired at %v: %w", now, err)
	}
	return int(n), nil
}

// CreateToken stores t, with a new random ID when t.ID is "". Its Hash
// must be new (ErrConflict) and its User must exist.
func (s *Store) CreateToken(ctx context.Context, t store.Token) (store.Token, error) {
	if t.ID == "" {
		t.ID = store.NewID()
	}
	if err := store.ValidateID("token", t.ID); err != nil {
		return store.Token{}, fmt.Errorf("create token: %w", err)
	}
	if t.Hash == "" {
		return store.Token{}, fmt.Errorf("create token %q: no hash: %w", t.ID, store.ErrInvalid)
	}
	if t.Scope == "" {
		t.Scope = store.ScopeAdmin
	}
	if !store.ValidScope(t.Scope) {
		return store.Token{}, fmt.Errorf("create token %q: scope %q: want admin, read or metrics: %w", t.ID, t.Scope, store.ErrInvalid)
	}
	created, err := DBTime("created", t.Created)
	if err != nil {
		return store.Token{}, fmt.Errorf("create token %q: %w", t.ID, err)
	}
	expires, err := DBTime("expires", t.Expires)
	if err != nil {
		return store.Token{}, fmt.Errorf("create token %q: %w", t.ID, err)
	}
	lastUsed, err := DBTime("last_used", t.LastUsed)
	if err != nil {
		return store.Token{}, fmt.Errorf("create token %q: %w", t.ID, err)
	}
	t.Created, t.Expires, t.LastUsed = UTC(t.Created), UTC(t.Expires), UTC(t.LastUsed)
	err = s.db.Write(ctx, false, func(tx *Tx) error {
		if err := userExists(ctx, tx, t.User); err != nil {
			return err
		}
		ok, err := Exists(ctx, tx, "SELECT 1 FROM tokens WHERE id = $1 OR hash = $2", t.ID, t.Hash)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("a token with that id or hash exists: %w", store.ErrConflict)
		}
		if err := HouseholdExists(ctx, tx, t.Household); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO tokens (id, name, user_name, hash, created, scope, expires, last_used, household) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			t.ID, t.Name, t.User, t.Hash, created, t.Scope, expires, lastUsed, t.Household)
		return err
	})
	if err != nil {
		return store.Token{}, fmt.Errorf("create token %q: %w", t.ID, err)
	}
	return t, nil
}

const tokenColumns = "id, name, user_name, hash, created, scope, expires, last_used, household"

// scanToken scans tokenColumns, then the columns after them into more.
func scanToken(r store.Scanner, more ...any) (store.Token, error) {
	var (
		t                          store.Token
		created, expires, lastUsed *int64
	)
	dest := append([]any{&t.ID, &t.Name, &t.User, &t.Hash, &created, &t.Scope, &expires, &lastUsed, &t.Household}, more...)
	if err := r.Scan(dest...); err != nil {
		return store.Token{}, err
	}
	t.Created, t.Expires, t.LastUsed = GoTime(created), GoTime(expires), GoTime(lastUsed)
	return t, nil
}

// TouchToken records that token id was used at the time at.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	t, err := DBTime("at", at)
	if err != nil || t == nil {
		return fmt.Errorf("touch token %q: bad time %v: %w", id, at, store.ErrInvalid)
	}
	err = s.db.Write(ctx, false, func(tx *Tx) error {
		return Deleted(tx.ExecContext(ctx, "UPDATE tokens SET last_used = $1 WHERE id = $2", t, id))
	})
	if err != nil {
		return fmt.Errorf("touch token %q: %w", id, err)
	}
	return nil
}

// ChangePassword sets the password hash of user name, deletes the user's
// sessions but keepSession and all the user's tokens, in one
// transaction.
func (s *Store) ChangePassword(ctx context.Context, name, hash, keepSession string) error {
	if hash == "" {
		return fmt.Errorf("change password of %q: no hash: %w", name, store.ErrInvalid)
	}
	err := s.db.Write(ctx, false, func(tx *Tx) error {
		if err := Deleted(tx.ExecContext(ctx, "UPDATE users SET password_hash = $1 WHERE name = $2", hash, name)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_name = $1 AND hash <> $2", name, keepSession); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM tokens WHERE user_name = $1", name)
		return err
	})
	if err != nil {
		return fmt.Errorf("change password of %q: %w", name, err)
	}
	return nil
}

// Tokens returns every token, by ID.
func (s *Store) Tokens(ctx context.Context) ([]store.Token, error) {
	out, err := queryAll(ctx, s.db.SQL, func(r store.Scanner) (store.Token, error) { return scanToken(r) },
		"SELECT "+tokenColumns+" FROM tokens ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", s.db.err(err))
	}
	return out, nil
}

// TokenByHash returns the token that hashes to hash.
func (s *Store) TokenByHash(ctx context.Context, hash string) (store.Token, error) {
	t, err := scanToken(s.db.SQL.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE hash = $1", hash))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("get token by hash: %w", s.db.err(err))
	}
	return t, nil
}

// tokenUserColumns are tokenColumns, then the user's columns, of
// "tokens t JOIN users u".
const tokenUserColumns = "t.id, t.name, t.user_name, t.hash, t.created, t.scope, t.expires, t.last_used, t.household," +
	" u.name, u.password_hash, u.created, u.household"

// TokenWithUser returns the token that hashes to hash and its user, in
// one query.
func (s *Store) TokenWithUser(ctx context.Context, hash string) (store.Token, store.User, error) {
	row := s.db.SQL.QueryRowContext(ctx, "SELECT "+tokenUserColumns+" FROM tokens t JOIN users u ON u.name = t.user_name WHERE t.hash = $1", hash)
	var (
		u       store.User
		created *int64
	)
	t, err := scanToken(row, &u.Name, &u.PasswordHash, &created, &u.Household)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Token{}, store.User{}, fmt.Errorf("get token and user by hash: %w", s.db.err(err))
	}
	u.Created = GoTime(created)
	return t, u, nil
}

// DeleteToken deletes token id.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	err := s.db.Write(ctx, false, func(tx *Tx) error {
		return Deleted(tx.ExecContext(ctx, "DELETE FROM tokens WHERE id = $1", id))
	})
	if err != nil {
		return fmt.Errorf("delete token %q: %w", id, err)
	}
	return nil
}

// Setting returns the value of key, and false when it is not set.
func (s *Store) Setting(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.db.SQL.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = $1", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get setting %q: %w", key, s.db.err(err))
	}
	return v, true, nil
}

// PutSetting sets key to value.
func (s *Store) PutSetting(ctx context.Context, key, value string) error {
	if key == "" {
		return fmt.Errorf("put setting: no key: %w", store.ErrInvalid)
	}
	err := s.db.Write(ctx, false, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
		return err
	})
	if err != nil {
		return fmt.Errorf("put setting %q: %w", key, err)
	}
	return nil
}
