// Package admintls owns the certificate of the admin web UI when it is
// served over HTTPS: either the certificate DoT and DoH use, or a
// self-signed one made on first use and kept in the data directory, so
// that the browser's "trust this certificate" decision lasts across
// restarts.
package admintls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Modes of Config.Mode.
const (
	ModeCert       = "cert"
	ModeSelfSigned = "self-signed"
)

// Files of a self-signed certificate, in Config.Dir.
const (
	CertFile = "admin-cert.pem"
	KeyFile  = "admin-key.pem"
)

// validity is how long a self-signed certificate lasts. It is renewed
// (a new key, which browsers ask to trust again) when less than renewBefore
// is left.
const (
	validity    = 2 * 365 * 24 * time.Hour
	renewBefore = 30 * 24 * time.Hour
)

// Config says which certificate to serve.
type Config struct {
	// Mode is ModeCert or ModeSelfSigned.
	Mode string
	// CertFile and KeyFile are the PEM files of ModeCert.
	CertFile, KeyFile string
	// Dir keeps the self-signed certificate (the data directory).
	Dir string
	// Hosts are names and addresses the self-signed certificate covers
	// besides localhost, the machine's host name, <host name>.local and
	// the loopback addresses.
	Hosts []string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Load returns the TLS config of the admin listener: TLS 1.2 or later,
// HTTP/2 and HTTP/1.1. In ModeSelfSigned it makes the certificate when
// Dir has none, or when the one there is expiring, unreadable or does not
// cover c.Hosts.
func Load(c Config) (*tls.Config, error) {
	if c.Now == nil {
		c.Now = time.Now
	}
	var cert tls.Certificate
	var err error
	switch c.Mode {
	case ModeCert:
		cert, err = tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("admin certificate: %w", err)
		}
	case ModeSelfSigned:
		cert, err = selfSigned(c)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("admin tls mode %q: want %s or %s", c.Mode, ModeCert, ModeSelfSigned)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}, nil
}

// selfSigned loads the kept certificate or makes a new one.
func selfSigned(c Config) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(c.Dir, CertFile), filepath.Join(c.Dir, KeyFile)
	names, addrs := subjects(c.Hosts)
	// A missing, damaged, expiring or too narrow pair is replaced rather
	// than fatal: the admin UI must come up.
	if cert, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && usable(cert, c.Now(), names, addrs) {
		return cert, nil
	}
	certPEM, keyPEM, err := generate(c.Now(), names, addrs)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("admin certificate: %w", err)
	}
	// The key first, both written whole and renamed, so a crash leaves
	// either the old pair or the new one.
	if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFile(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("admin certificate: %w", err)
	}
	return cert, nil
}

// subjects returns the DNS names and IP addresses a self-signed
// certificate covers.
func subjects(hosts []string) ([]string, []net.IP) {
	names := []string{"localhost"}
	addrs := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, strings.ToLower(h), strings.ToLower(h)+".local")
	}
	for _, h := range hosts {
		if a, err := netip.ParseAddr(h); err == nil {
			addrs = append(addrs, net.IP(a.Unmap().AsSlice()))
			continue
		}
		names = append(names, strings.ToLower(strings.TrimSuffix(h, ".")))
	}
	return names, addrs
}

// usable reports whether cert is valid for a while yet and covers every
// name and address.
func usable(cert tls.Certificate, now time.Time, names []string, addrs []net.IP) bool {
	if len(cert.Certificate) == 0 {
		return false
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil || now.Before(leaf.NotBefore) || now.Add(renewBefore).After(leaf.NotAfter) {
		return false
	}
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			return false
		}
	}
	for _, a := range addrs {
		if leaf.VerifyHostname(a.String()) != nil {
			return false
		}
	}
	return true
}

// generate makes an ECDSA P-256 self-signed certificate.
func generate(now time.Time, names []string, addrs []net.IP) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("admin certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("admin certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Hearth admin", Organization: []string{"Hearth (self-signed)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           addrs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("admin certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("admin certificate key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// writeFile writes data to path through a temporary file and a rename.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("admin certificate: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("admin certificate: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("admin certificate: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("admin certificate: sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("admin certificate: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("admin certificate: %w", err)
	}
	return nil
}
