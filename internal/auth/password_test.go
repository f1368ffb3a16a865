package auth

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// cheapParams make test users fast to check; CheckPassword reads the
// parameters from the hash, so this also tests that it does.
func cheapParams() argonParams { return argonParams{memory: 64, time: 1, threads: 1} }

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q: want the PHC prefix with the OWASP parameters", h)
	}
	_, salt, key, err := parsePHC(h)
	if err != nil {
		t.Fatalf("parsePHC: %v", err)
	}
	if len(salt) != saltLen || len(key) != keyLen {
		t.Errorf("salt %d bytes, key %d bytes; want %d, %d", len(salt), len(key), saltLen, keyLen)
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horsE": false} {
		if ok, err := CheckPassword(h, pw); err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v, nil", pw, ok, err, want)
		}
	}
}

// TestHashRoundTrip uses cheap parameters: the cost does not change the
// logic, and the race detector makes argon2 slow.
func TestHashRoundTrip(t *testing.T) {
	tests := []struct {
		name, pw, try string
		want          bool
	}{
		{"same password", "correct horse", "correct horse", true},
		{"wrong password", "correct horse", "correct horsE", false},
		{"prefix of it", "correct horse", "correct hors", false},
		{"longer", "correct horse", "correct horse ", false},
		{"empty try", "correct horse", "", false},
		{"unicode", "ünïcødé-pässwörd", "ünïcødé-pässwörd", true},
		{"unicode normalisation is not applied", "é-password", "e\u0301-password", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hashWith(cheapParams(), tt.pw)
			ok, err := CheckPassword(h, tt.try)
			if err != nil {
				t.Fatalf("CheckPassword: %v", err)
			}
			if ok != tt.want {
				t.Errorf("CheckPassword(%q) = %v, want %v", tt.try, ok, tt.want)
			}
		})
	}
}

func TestHashSalted(t *testing.T) {
	if a, b := hashWith(cheapParams(), "same password"), hashWith(cheapParams(), "same password"); a == b {
		t.Errorf("two hashes of one password are equal: the salt is not random")
	}
}

func TestCheckPasswordUsesHashParameters(t *testing.T) {
	h := hashWith(cheapParams(), "password123")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q: parameters not written", h)
	}
	for pw, want := range map[string]bool{"password123": true, "password124": false} {
		ok, err := CheckPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v, nil", pw, ok, err, want)
		}
	}
}

func TestPasswordPolicy(t *testing.T) {
	tests := []struct {
		name, pw, wantErr string
	}{
		{"empty", "", "password: required"},
		{"one space", " ", "password: must not be only spaces"},
		{"twelve spaces", "            ", "password: must not be only spaces"},
		{"tabs and newlines", "\t\t\n\n\r\n\t\t  \t\t", "password: must not be only spaces"},
		{"9 chars", "k7#mq2!xz", "password: at least 10 characters"},
		{"10 chars", "k7#mq2!xzp", ""},
		{"10 two-byte chars", "éàüöçñøåßé", ""},
		{"9 two-byte chars are 18 bytes", "éàüöçñøåß", "password: at least 10 characters"},
		{"one character repeated", "aaaaaaaaaaaa", "password: too repetitive; use at least 4 different characters"},
		{"three characters repeated", "abcabcabcabc", "password: too repetitive; use at least 4 different characters"},
		{"common", "password123", "password: one of the most common passwords; choose another (a few unrelated words make a good one)"},
		{"common, other case", "QwertyUIOP", "password: one of the most common passwords; choose another (a few unrelated words make a good one)"},
		{"common, digits", "1234567890", "password: one of the most common passwords; choose another (a few unrelated words make a good one)"},
		{"common, added for hearth", "hearthadmin", "password: one of the most common passwords; choose another (a few unrelated words make a good one)"},
		{"four words", "correct horse battery staple", ""},
		{"256 bytes", strings.Repeat("abcd", 64), ""},
		{"257 bytes", strings.Repeat("abcd", 64) + "e", "password: at most 256 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePassword(tt.pw)
			if got := errString(err); got != tt.wantErr {
				t.Errorf("ValidatePassword: %q, want %q", got, tt.wantErr)
			}
			if tt.wantErr != "" {
				if _, err := HashPassword(tt.pw); errString(err) != tt.wantErr {
					t.Errorf("HashPassword: %v, want %q", err, tt.wantErr)
				}
			}
		})
	}
}

// TestCommonPasswordsList: the embedded list loads, holds only entries
// the length rule would not already refuse, and stays small.
func TestCommonPasswordsList(t *testing.T) {
	m := commonPasswords()
	if n := len(m); n < 1000 || n > 5000 {
		t.Errorf("%d common passwords, want 1,000 to 5,000", n)
	}
	for pw := range m {
		if utf8.RuneCountInString(pw) < minPasswordChars || pw != strings.ToLower(pw) {
			t.Errorf("entry %q: want lower case and at least %d characters", pw, minPasswordChars)
		}
	}
}

func TestCheckPasswordParseErrors(t *testing.T) {
	const salt, key = "c2FsdHNhbHRzYWx0c2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	tests := []struct {
		name, hash, wantErr string
	}{
		{"empty", "", "want 5 $-separated fields, have 0"},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuu5Z0HRFEIxZ6r1Vd6Ae5jIeFqUUbhS3u", "want 5 $-separated fields"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key, `algorithm "argon2i": want argon2id`},
		{"old version", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key, `version "v=16": want v=19`},
		{"params order", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key, `parameters "t=1,m=64,p=1": field 1: want m=`},
		{"params missing", "$argon2id$v=19$m=64,t=1$" + salt + "$" + key, "want m=,t=,p="},
		{"params not number", "$argon2id$v=19$m=x,t=1,p=1$" + salt + "$" + key, "m: not a number"},
		{"memory too big", "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key, "m=4194304: want 8 to 1048576"},
		{"memory too small", "$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + key, "m=7: want 8 to"},
		{"zero time", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key, "t=0: want 1 to 64"},
		{"zero threads", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key, "p=0: want 1 to 255"},
		{"salt not base64", "$argon2id$v=19$m=64,t=1,p=1$!!!$" + key, "salt: not unpadded base64"},
		{"salt padded", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key, "salt: not unpadded base64"},
		{"salt short", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key, "salt: 4 bytes, want 8 to 64"},
		{"key not base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$@@@", "key: not unpadded base64"},
		{"key short", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$a2V5", "key: 3 bytes, want 16 to 128"},
		{"extra field", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$x", "want 5 $-separated fields, have 6"},
		{"no leading $", "argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$", "want 5 $-separated fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := CheckPassword(tt.hash, "password")
			if err == nil {
				t.Fatalf("CheckPassword = %v, nil; want error containing %q", ok, tt.wantErr)
			}
			if ok {
				t.Errorf("CheckPassword = true with an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantErr) || !strings.HasPrefix(msg, "password hash: ") {
				t.Errorf("error %q, want it to start with %q and contain %q", msg, "password hash: ", tt.wantErr)
			}
			if strings.Contains(msg, salt) || strings.Contains(msg, key) {
				t.Errorf("error %q quotes the salt or key", msg)
			}
		})
	}
	// The valid form of the strings above parses, so the cases fail for
	// the reason they name.
	if _, err := CheckPassword("$argon2id$v=19$m=64,t=1,p=1$"+salt+"$"+key, "password"); err != nil {
		t.Errorf("valid hash: %v", err)
	}
}

// TestDummyHashInStep keeps the unknown-user hash as costly as a real one.
func TestDummyHashInStep(t *testing.T) {
	p, salt, key, err := parsePHC(dummyHash)
	if err != nil {
		t.Fatal(err)
	}
	if p != defaultParams() || len(salt) != saltLen || len(key) != keyLen {
		t.Errorf("dummyHash has %+v, %d-byte salt, %d-byte key; want %+v, %d, %d: regenerate it with hashWith",
			p, len(salt), len(key), defaultParams(), saltLen, keyLen)
	}
}

func FuzzCheckPassword(f *testing.F) {
	f.Add(hashWith(cheapParams(), "password123"), "password123")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$$", "x")
	f.Add("$argon2id$v=19$m=64,t=1,p=255$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw", "x")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		p, _, _, err := parsePHC(hash)
		if err != nil {
			return
		}
		// Keep the fuzzer from spending its time in argon2 itself.
		if uint64(p.memory)*uint64(p.time) > 1<<12 {
			return
		}
		if _, err := CheckPassword(hash, pw); err != nil {
			t.Fatalf("parsePHC accepted %q but CheckPassword failed: %v", hash, err)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzSetupCode: any typed code normalises without panicking, and only
// a code of the issued shape is ever valid.
func FuzzSetupCode(f *testing.F) {
	f.Add("ABCD-EFGH-JKMN")
	f.Add("abcd efgh jkmn")
	f.Add(strings.Repeat("-", 100))
	f.Add("ÀBCD-EFGH-JKMN")
	f.Fuzz(func(t *testing.T, s string) {
		n := normalizeSetupCode(s)
		if validSetupCode(s) && len(n) != setupCodeLen {
			t.Errorf("%q valid but normalises to %q", s, n)
		}
	})
}
