package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// What every backend shares below its SQL: ids it makes, checks that need
// no query, and the decoding of the JSON data column.

// NewID returns 128 random bits in hex, for grants and tokens.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// Validate checks what a grant needs whatever the store holds: a known
// kind, a target for an allow grant, and an end. Errors wrap ErrInvalid.
func (g Grant) Validate() error {
	switch {
	case g.Kind != GrantPause && g.Kind != GrantAllow && g.Kind != GrantExtraTime:
		return fmt.Errorf("kind %q: want %q, %q or %q: %w", g.Kind, GrantPause, GrantAllow, GrantExtraTime, ErrInvalid)
	case g.Kind == GrantAllow && g.Target == "":
		return fmt.Errorf("allow grant without target: %w", ErrInvalid)
	case g.Kind == GrantExtraTime:
		if _, _, err := ParseExtraTimeTarget(g.Target); err != nil {
			return err
		}
		if g.Until.IsZero() {
			return fmt.Errorf("no until time: %w", ErrInvalid)
		}
	case g.Until.IsZero():
		return fmt.Errorf("no until time: %w", ErrInvalid)
	}
	return nil
}

// ValidScope reports whether s is one of the token scopes.
func ValidScope(s string) bool {
	return s == ScopeAdmin || s == ScopeRead || s == ScopeMetrics
}

// Scanner is a database row: *sql.Row, *sql.Rows, pgx.Row, pgx.Rows.
type Scanner interface{ Scan(dest ...any) error }

// ScanHousehold reads a row of (id, version, data).
func ScanHousehold(r Scanner) (Household, error) {
	var (
		h    Household
		id   string
		v    int64
		data []byte
	)
	if err := r.Scan(&id, &v, &data); err != nil {
		return Household{}, err
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return Household{}, fmt.Errorf("decode household %q: %w", id, err)
	}
	h.ID, h.Version = id, v
	return h, nil
}

// ScanProfile reads a row of (id, household, version, data).
func ScanProfile(r Scanner) (Profile, error) {
	var (
		p     Profile
		id, h string
		v     int64
		data  []byte
	)
	if err := r.Scan(&id, &h, &v, &data); err != nil {
		return Profile{}, err
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return Profile{}, fmt.Errorf("decode profile %q: %w", id, err)
	}
	p.ID, p.Household, p.Version = id, h, v
	return p, nil
}
