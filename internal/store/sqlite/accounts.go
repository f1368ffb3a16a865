package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// Users returns every user, by name.
func (s *Store) Users(ctx context.Context) ([]store.User, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT name, password_hash, created, household FROM users ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

func scanUser(r interface{ Scan(...any) error }) (store.User, error) {
	var (
		u       store.User
		created sql.NullInt64
	)
	if err := r.Scan(&u.Name, &u.PasswordHash, &created, &u.Household); err != nil {
		return store.User{}, err
	}
	u.Created = goTime(created)
	return u, nil
}

// User returns the user called name.
func (s *Store) User(ctx context.Context, name string) (store.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, "SELECT name, password_hash, created, household FROM users WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.User{}, fmt.Errorf("get user %q: %w", name, err)
	}
	return u, nil
}

// PutUser creates or replaces the user called u.Name.
func (s *Store) PutUser(ctx context.Context, u store.User) error {
	if u.Name == "" {
		return fmt.Errorf("put user: no name: %w", store.ErrInvalid)
	}
	created, err := dbTime("created", u.Created)
	if err != nil {
		return fmt.Errorf("put user %q: %w", u.Name, err)
	}
	err = s.write(ctx, func(tx *wtx) error {
		// An upsert, not INSERT OR REPLACE: replacing would delete the
		// row, which the sessions and tokens refer to.
		if err := householdExists(ctx, tx, u.Household); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO users (name, password_hash, created, household) VALUES (?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, created = excluded.created, household = excluded.household`,
			u.Name, u.PasswordHash, created, u.Household)
		return err
	})
	if err != nil {
		return fmt.Errorf("put user %q: %w", u.Name, err)
	}
	return nil
}

// householdExists returns ErrInvalid unless id is "" (an operator's) or
// an existing household.
func householdExists(ctx context.Context, tx querier, id string) error {
	if id == "" {
		return nil
	}
	ok, err := exists(ctx, tx, "SELECT 1 FROM households WHERE id = ?", id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("household %q does not exist: %w", id, store.ErrInvalid)
	}
	return nil
}

// DeleteUser deletes user name with its sessions and tokens.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_name = ?", name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM tokens WHERE user_name = ?", name); err != nil {
			return err
		}
		return deleted(tx.ExecContext(ctx, "DELETE FROM users WHERE name = ?", name))
	})
	if err != nil {
		return fmt.Errorf("delete user %q: %w", name, err)
	}
	return nil
}

// userExists returns ErrInvalid unless user name exists.
func userExists(ctx context.Context, tx querier, name string) error {
	ok, err := exists(ctx, tx, "SELECT 1 FROM users WHERE name = ?", name)
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
	expires, err := dbTime("expires", sess.Expires)
	if err != nil || expires == nil {
		return fmt.Errorf("create session of user %q: expires %v: %w", sess.User, sess.Expires, store.ErrInvalid)
	}
	err = s.write(ctx, func(tx *wtx) error {
		if err := userExists(ctx, tx, sess.User); err != nil {
			return err
		}
		ok, err := exists(ctx, tx, "SELECT 1 FROM sessions WHERE hash = ?", sess.Hash)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("session already exists: %w", store.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO sessions (hash, user_name, csrf, expires) VALUES (?, ?, ?, ?)",
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
		expires sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, "SELECT hash, user_name, csrf, expires FROM sessions WHERE hash = ?", hash).
		Scan(&sess.Hash, &sess.User, &sess.CSRF, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", err)
	}
	sess.Expires = goTime(expires)
	return sess, nil
}

// DeleteSession deletes the session whose cookie hashes to hash.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	err := s.write(ctx, func(tx *wtx) error {
		return deleted(tx.ExecContext(ctx, "DELETE FROM sessions WHERE hash = ?", hash))
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions deletes the sessions whose Expires is at or
// before now and returns how many it deleted.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	at, err := dbTime("now", now)
	if err != nil || at == nil {
		return 0, fmt.Errorf("delete sessions expired at %v: bad time: %w", now, store.ErrInvalid)
	}
	var n int64
	err = s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE expires <= ?", at)
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
	created, err := dbTime("created", t.Created)
	if err != nil {
		return store.Token{}, fmt.Errorf("create token %q: %w", t.ID, err)
	}
	expires, err := dbTime("expires", t.Expires)
	if err != nil {
		return store.Token{}, fmt.Errorf("create token %q: %w", t.ID, err)
	}
	lastUsed, err := dbTime("last_used", t.LastUsed)
	if err != nil {
		return store.Token{}, fmt.Errorf("create token %q: %w", t.ID, err)
	}
	t.Created, t.Expires, t.LastUsed = utc(t.Created), utc(t.Expires), utc(t.LastUsed)
	err = s.write(ctx, func(tx *wtx) error {
		if err := userExists(ctx, tx, t.User); err != nil {
			return err
		}
		ok, err := exists(ctx, tx, "SELECT 1 FROM tokens WHERE id = ? OR hash = ?", t.ID, t.Hash)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("a token with that id or hash exists: %w", store.ErrConflict)
		}
		if err := householdExists(ctx, tx, t.Household); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO tokens (id, name, user_name, hash, created, scope, expires, last_used, household) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
func scanToken(r interface{ Scan(...any) error }, more ...any) (store.Token, error) {
	var (
		t                          store.Token
		created, expires, lastUsed sql.NullInt64
	)
	dest := append([]any{&t.ID, &t.Name, &t.User, &t.Hash, &created, &t.Scope, &expires, &lastUsed, &t.Household}, more...)
	if err := r.Scan(dest...); err != nil {
		return store.Token{}, err
	}
	t.Created, t.Expires, t.LastUsed = goTime(created), goTime(expires), goTime(lastUsed)
	return t, nil
}

// utc returns t in UTC, keeping the zero time zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// TouchToken records that token id was used at the time at.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	t, err := dbTime("at", at)
	if err != nil || t == nil {
		return fmt.Errorf("touch token %q: bad time %v: %w", id, at, store.ErrInvalid)
	}
	err = s.write(ctx, func(tx *wtx) error {
		return deleted(tx.ExecContext(ctx, "UPDATE tokens SET last_used = ? WHERE id = ?", t, id))
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
	err := s.write(ctx, func(tx *wtx) error {
		if err := deleted(tx.ExecContext(ctx, "UPDATE users SET password_hash = ? WHERE name = ?", hash, name)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_name = ? AND hash <> ?", name, keepSession); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM tokens WHERE user_name = ?", name)
		return err
	})
	if err != nil {
		return fmt.Errorf("change password of %q: %w", name, err)
	}
	return nil
}

// Tokens returns every token, by ID.
func (s *Store) Tokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+tokenColumns+" FROM tokens ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// TokenByHash returns the token that hashes to hash.
func (s *Store) TokenByHash(ctx context.Context, hash string) (store.Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("get token by hash: %w", err)
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
	row := s.db.QueryRowContext(ctx, "SELECT "+tokenUserColumns+" FROM tokens t JOIN users u ON u.name = t.user_name WHERE t.hash = ?", hash)
	var (
		u       store.User
		created sql.NullInt64
	)
	t, err := scanToken(row, &u.Name, &u.PasswordHash, &created, &u.Household)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Token{}, store.User{}, fmt.Errorf("get token and user by hash: %w", err)
	}
	u.Created = goTime(created)
	return t, u, nil
}

// DeleteToken deletes token id.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *wtx) error {
		return deleted(tx.ExecContext(ctx, "DELETE FROM tokens WHERE id = ?", id))
	})
	if err != nil {
		return fmt.Errorf("delete token %q: %w", id, err)
	}
	return nil
}

// Setting returns the value of key, and false when it is not set.
func (s *Store) Setting(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get setting %q: %w", key, err)
	}
	return v, true, nil
}

// PutSetting sets key to value.
func (s *Store) PutSetting(ctx context.Context, key, value string) error {
	if key == "" {
		return fmt.Errorf("put setting: no key: %w", store.ErrInvalid)
	}
	err := s.write(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
		return err
	})
	if err != nil {
		return fmt.Errorf("put setting %q: %w", key, err)
	}
	return nil
}
