package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
)

// setupCodeSetting is the store setting that holds the first-run setup
// code while no user exists; "" once setup is done.
const setupCodeSetting = "auth.setup_code"

// setupAlphabet has no 0/O, 1/I/L: the code is read off a log and typed
// by hand. Its 31 symbols give almost 5 bits each.
const setupAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// setupCodeLen is the number of symbols in a setup code: 12 symbols of
// log2(31) bits, about 59 bits, shown as three groups of four. With the
// attempt limit (5 per address per 15 minutes) nobody on the network can
// guess it before its owner reads it.
const setupCodeLen = 12

// SetupCode returns the one-time code that first-run setup asks for, and
// needed false (with no code) once a user exists. The code is made on
// first call and kept in the store, so `hearth serve` and
// `hearth admin setup-code` show the same one; it stops working once
// setup has created the first user. The code is a secret: show it only
// to the machine's owner (the server's log, the command line).
func (a *Auth) SetupCode(ctx context.Context) (code string, needed bool, err error) {
	users, err := a.accounts.Users(ctx)
	if err != nil {
		return "", false, fmt.Errorf("list users: %w", err)
	}
	if len(users) > 0 {
		return "", false, nil
	}
	a.setupMu.Lock()
	defer a.setupMu.Unlock()
	code, ok, err := a.accounts.Setting(ctx, setupCodeSetting)
	if err != nil {
		return "", false, fmt.Errorf("read setup code: %w", err)
	}
	if ok && validSetupCode(code) {
		return code, true, nil
	}
	code = newSetupCode()
	if err := a.accounts.PutSetting(ctx, setupCodeSetting, code); err != nil {
		return "", false, fmt.Errorf("store setup code: %w", err)
	}
	return code, true, nil
}

// AnnounceSetup logs the setup code when setup is still to be done, so
// that whoever starts `hearth serve` can finish it in the browser. It is
// the one place Hearth logs a secret, on purpose: the log is the owner's.
func (a *Auth) AnnounceSetup(ctx context.Context) {
	code, needed, err := a.SetupCode(ctx)
	switch {
	case err != nil:
		a.log.ErrorContext(ctx, "first-run setup code", "err", err)
	case needed:
		a.log.InfoContext(ctx, "first-run setup: open the web UI and enter this setup code (also shown by `hearth admin setup-code`)", "setup_code", code)
	}
}

// checkSetupCode reports whether sent is the stored setup code, ignoring
// case, spaces and dashes.
func (a *Auth) checkSetupCode(ctx context.Context, sent string) (bool, error) {
	want, ok, err := a.accounts.Setting(ctx, setupCodeSetting)
	if err != nil {
		return false, fmt.Errorf("read setup code: %w", err)
	}
	if !ok || !validSetupCode(want) {
		return false, errors.New("no setup code: restart hearth or run `hearth admin setup-code`")
	}
	got := normalizeSetupCode(sent)
	return subtle.ConstantTimeCompare([]byte(got), []byte(normalizeSetupCode(want))) == 1, nil
}

// forgetSetupCode clears the code once the first user exists.
func (a *Auth) forgetSetupCode(ctx context.Context) {
	if err := a.accounts.PutSetting(ctx, setupCodeSetting, ""); err != nil {
		a.log.WarnContext(ctx, "clear setup code", "err", err)
	}
}

// newSetupCode returns a random code formatted XXXX-XXXX-XXXX.
func newSetupCode() string {
	var b strings.Builder
	for i := range setupCodeLen {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(setupAlphabet[randIntn(len(setupAlphabet))])
	}
	return b.String()
}

// randIntn returns a uniform random number in [0, n) for n <= 256.
func randIntn(n int) int {
	// Rejection sampling: the largest multiple of n below 256.
	limit := 256 - 256%n
	var b [1]byte
	for {
		_, _ = rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// normalizeSetupCode upper-cases s and drops spaces and dashes, so that
// "abcd efgh-jkmn" matches "ABCD-EFGH-JKMN".
func normalizeSetupCode(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// validSetupCode reports whether a stored code has the expected shape.
func validSetupCode(s string) bool {
	n := normalizeSetupCode(s)
	if len(n) != setupCodeLen {
		return false
	}
	for i := 0; i < len(n); i++ {
		if !strings.ContainsRune(setupAlphabet, rune(n[i])) {
			return false
		}
	}
	return true
}
