package auth

import (
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password hashing: argon2id with the OWASP minimum parameters (19 MiB,
// two passes, one lane), a 16-byte salt and a 32-byte key.
const (
	argonMemory  = 19456 // KiB
	argonTime    = 2
	argonThreads = 1
	saltLen      = 16
	keyLen       = 32
)

// Password policy.
const (
	minPasswordChars = 10
	// maxPasswordBytes bounds the work a request can ask for and matches
	// what password managers produce with room to spare.
	maxPasswordBytes = 256
)

// Bounds on the parameters CheckPassword accepts from a stored hash, so a
// corrupted or hostile hash cannot make one login allocate gigabytes.
const (
	maxArgonMemory = 1 << 20 // KiB: 1 GiB
	maxArgonTime   = 64
	minSaltLen     = 8
	maxSaltLen     = 64
	minKeyLen      = 16
	maxKeyLen      = 128
)

// argonParams are the cost parameters of one hash.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
}

func defaultParams() argonParams {
	return argonParams{memory: argonMemory, time: argonTime, threads: argonThreads}
}

// commonPasswordsFile is the embedded list of common passwords; its
// header records where it comes from and its licence.
//
//go:embed common-passwords.txt
var commonPasswordsFile string

// commonPasswords is the set of commonPasswordsFile's entries, built on
// first use and never changed after.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 2048)
	for line := range strings.Lines(commonPasswordsFile) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			m[line] = struct{}{}
		}
	}
	return m
})

// ValidatePassword reports whether pw may become a password: not empty
// nor only white space, at least 10 characters and at most 256 bytes, more
// than three distinct characters, and not one of the most common
// passwords (compared without case). The error names the field
// ("password: at least 10 characters"). Logins do not apply it, so a
// password set under an older policy still works until it is changed.
func ValidatePassword(pw string) error {
	return checkPolicy("password", pw)
}

// checkPolicy is ValidatePassword with the name of the field to blame.
func checkPolicy(field, pw string) error {
	switch {
	case pw == "":
		return fmt.Errorf("%s: required", field)
	case strings.TrimSpace(pw) == "":
		return fmt.Errorf("%s: must not be only spaces", field)
	case len(pw) > maxPasswordBytes:
		return fmt.Errorf("%s: at most %d bytes", field, maxPasswordBytes)
	case utf8.RuneCountInString(pw) < minPasswordChars:
		return fmt.Errorf("%s: at least %d characters", field, minPasswordChars)
	case distinctRunes(pw, 4) < 4:
		return fmt.Errorf("%s: too repetitive; use at least 4 different characters", field)
	}
	if _, ok := commonPasswords()[strings.ToLower(strings.TrimSpace(pw))]; ok {
		return fmt.Errorf("%s: one of the most common passwords; choose another (a few unrelated words make a good one)", field)
	}
	return nil
}

// distinctRunes counts the distinct runes of s, stopping at limit.
func distinctRunes(s string, limit int) int {
	var seen []rune
	for _, r := range s {
		if !containsRune(seen, r) {
			if seen = append(seen, r); len(seen) >= limit {
				break
			}
		}
	}
	return len(seen)
}

func containsRune(rs []rune, r rune) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// HashPassword checks pw against the password policy and returns its
// argon2id hash as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key> (unpadded standard base64).
func HashPassword(pw string) (string, error) {
	if err := ValidatePassword(pw); err != nil {
		return "", err
	}
	return hashWith(defaultParams(), pw), nil
}

// hashWith hashes pw with the parameters p and a fresh random salt.
func hashWith(p argonParams, pw string) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // never fails (crypto/rand crashes the program instead)
	key := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// CheckPassword reports whether pw matches the PHC string hash. It hashes
// with the parameters written in hash, so they can be raised later without
// invalidating stored hashes, and compares in constant time. An error
// means hash is not a valid argon2id PHC string; it never quotes the salt
// or key.
func CheckPassword(hash, pw string) (bool, error) {
	p, salt, key, err := parsePHC(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// parsePHC splits $argon2id$v=19$m=M,t=T,p=P$salt$key.
func parsePHC(s string) (argonParams, []byte, []byte, error) {
	var p argonParams
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return p, nil, nil, fmt.Errorf("password hash: want 5 $-separated fields, have %d", len(parts)-1)
	}
	if parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("password hash: algorithm %q: want argon2id", truncate(parts[1]))
	}
	if want := "v=" + strconv.Itoa(argon2.Version); parts[2] != want {
		return p, nil, nil, fmt.Errorf("password hash: version %q: want %s", truncate(parts[2]), want)
	}
	p, err := parseParams(parts[3])
	if err != nil {
		return p, nil, nil, fmt.Errorf("password hash: parameters %q: %w", truncate(parts[3]), err)
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, errors.New("password hash: salt: not unpadded base64")
	}
	if len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return p, nil, nil, fmt.Errorf("password hash: salt: %d bytes, want %d to %d", len(salt), minSaltLen, maxSaltLen)
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil {
		return p, nil, nil, errors.New("password hash: key: not unpadded base64")
	}
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return p, nil, nil, fmt.Errorf("password hash: key: %d bytes, want %d to %d", len(key), minKeyLen, maxKeyLen)
	}
	return p, salt, key, nil
}

// parseParams parses "m=19456,t=2,p=1" (in that order, as PHC requires).
func parseParams(s string) (argonParams, error) {
	var p argonParams
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return p, errors.New("want m=,t=,p=")
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(fields[i], name+"=")
		if !ok {
			return p, fmt.Errorf("field %d: want %s=", i+1, name)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, fmt.Errorf("%s: not a number", name)
		}
		vals[i] = n
	}
	switch m, t, th := vals[0], vals[1], vals[2]; {
	case th < 1 || th > 255:
		return p, fmt.Errorf("p=%d: want 1 to 255", th)
	case m < 8*th || m > maxArgonMemory:
		return p, fmt.Errorf("m=%d: want %d to %d", m, 8*th, maxArgonMemory)
	case t < 1 || t > maxArgonTime:
		return p, fmt.Errorf("t=%d: want 1 to %d", t, maxArgonTime)
	}
	return argonParams{memory: uint32(vals[0]), time: uint32(vals[1]), threads: uint8(vals[2])}, nil
}

// truncate keeps error messages short when a field is garbage.
func truncate(s string) string {
	const n = 32
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
