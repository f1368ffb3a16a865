package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// Admin holds the admin web UI and API's own settings (listen.http is
// where they are served).
type Admin struct {
	// Hosts are the names (or addresses) parents reach the admin UI by.
	// A request whose Host is none of them, localhost or an address of
	// the server is refused (421), which defeats DNS rebinding. Empty
	// means localhost, the machine's host name and <host name>.local.
	Hosts []string `yaml:"hosts"`
	// TLS serves listen.http over HTTPS: "off" (the default), "cert" (the
	// tls.cert and tls.key that DoT and DoH use) or "self-signed" (a
	// certificate made on first use and kept in data_dir). HSTS is sent
	// over HTTPS.
	TLS string `yaml:"tls"`
	// MetricsNetworks may read /metrics without a token (a Prometheus
	// server on the LAN); everyone else needs a token or a session.
	MetricsNetworks []string `yaml:"metrics_networks"`
}

// Admin TLS modes.
const (
	AdminTLSOff        = "off"
	AdminTLSCert       = "cert"
	AdminTLSSelfSigned = "self-signed"
)

// validateAdmin checks the admin section.
func (c *Config) validateAdmin(bad func(path, format string, args ...any)) {
	for i, h := range c.Admin.Hosts {
		if err := checkAdminHost(h); err != nil {
			bad(fmt.Sprintf("admin.hosts[%d]", i), "%v", err)
		}
	}
	switch c.Admin.TLS {
	case "", AdminTLSOff, AdminTLSSelfSigned:
	case AdminTLSCert:
		if c.TLS.Cert == "" || c.TLS.Key == "" {
			bad("admin.tls", "cert needs tls.cert and tls.key")
		}
	default:
		bad("admin.tls", "%q is not off, cert or self-signed", c.Admin.TLS)
	}
	for i, n := range c.Admin.MetricsNetworks {
		if _, err := ParsePrefix(n); err != nil {
			bad(fmt.Sprintf("admin.metrics_networks[%d]", i), "%v", err)
		}
	}
}

// checkAdminHost accepts an IP address or a host name of letters,
// digits, '-' and '.', without scheme, port or path.
func checkAdminHost(h string) error {
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	name := strings.TrimSuffix(h, ".")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("%q: want a host name or IP address", h)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q: want a host name or IP address, without scheme, port or path", h)
		}
		for i := 0; i < len(label); i++ {
			ch := label[i] | 0x20
			if !('a' <= ch && ch <= 'z' || '0' <= label[i] && label[i] <= '9' || label[i] == '-' || label[i] == '_') {
				return fmt.Errorf("%q: want a host name or IP address, without scheme, port or path", h)
			}
		}
	}
	return nil
}
