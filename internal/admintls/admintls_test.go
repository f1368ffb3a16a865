package admintls

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func leaf(t *testing.T, c Config) *x509.Certificate {
	t.Helper()
	tc, err := Load(c)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	l, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestSelfSigned: the first Load makes a certificate and keeps it; the
// next reuses it; one about to expire, or one not covering a newly
// configured host, is replaced.
func TestSelfSigned(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c := Config{Mode: ModeSelfSigned, Dir: dir, Hosts: []string{"hearth.lan", "192.168.1.2"}, Now: clock}

	first := leaf(t, c)
	for _, h := range []string{"localhost", "hearth.lan", "192.168.1.2", "127.0.0.1", "::1"} {
		if err := first.VerifyHostname(h); err != nil {
			t.Errorf("certificate does not cover %s: %v", h, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}

	tests := []struct {
		name     string
		advance  time.Duration
		hosts    []string
		wantSame bool
	}{
		{"restart reuses it", 0, c.Hosts, true},
		{"a year later still valid", 365 * 24 * time.Hour, c.Hosts, true},
		{"a new host gets a new certificate", 0, []string{"hearth.lan", "192.168.1.2", "parents.lan"}, false},
		{"near expiry it is renewed", validity - renewBefore/2, nil, false},
	}
	prev := first
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now = now.Add(tc.advance)
			c.Hosts = tc.hosts
			got := leaf(t, c)
			if same := got.SerialNumber.Cmp(prev.SerialNumber) == 0; same != tc.wantSame {
				t.Errorf("same certificate: %v, want %v", same, tc.wantSame)
			}
			prev = got
		})
	}
}

func TestDamagedFilesReplaced(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, CertFile), []byte("garbage"), 0o644)
	os.WriteFile(filepath.Join(dir, KeyFile), []byte("garbage"), 0o600)
	leaf(t, Config{Mode: ModeSelfSigned, Dir: dir})
}

func TestCertMode(t *testing.T) {
	dir := t.TempDir()
	// A self-signed pair doubles as "the DoT/DoH certificate".
	leaf(t, Config{Mode: ModeSelfSigned, Dir: dir})
	got := leaf(t, Config{Mode: ModeCert, CertFile: filepath.Join(dir, CertFile), KeyFile: filepath.Join(dir, KeyFile)})
	if got.Subject.CommonName != "Hearth admin" {
		t.Errorf("loaded %v", got.Subject)
	}
	if _, err := Load(Config{Mode: ModeCert, CertFile: filepath.Join(dir, "none.pem"), KeyFile: filepath.Join(dir, "none.pem")}); err == nil {
		t.Error("missing files: no error")
	}
	if _, err := Load(Config{Mode: "sometimes"}); err == nil {
		t.Error("unknown mode: no error")
	}
}

func TestRedirectHost(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"hearth.local:8080", "hearth.local:8080", true},
		{"192.168.1.2", "192.168.1.2", true},
		{"[fd00::2]:8080", "[fd00::2]:8080", true},
		{"fd00::2", "[fd00::2]", true},
		{"Hearth.Local", "Hearth.Local", true},
		{"", "", false},
		{"a b", "", false},
		{"evil.example\"><script>", "", false},
		{"host:80x", "", false},
		{"[fe80::1%eth0]:8080", "", false},
		{"host/path", "", false},
	}
	for _, tc := range tests {
		got, ok := redirectHost(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("redirectHost(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
