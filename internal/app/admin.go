package app

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/hearth-dns/hearth/internal/admintls"
	"github.com/hearth-dns/hearth/internal/auth"
	"github.com/hearth-dns/hearth/internal/config"
)

// secureAdmin puts the admin listener ln behind its defences: the Host
// and cross-origin guard around the handler, and TLS around ln when
// admin.tls asks for it. It also logs the first-run setup code while
// setup is still to be done. On error it closes ln.
func (a *App) secureAdmin(ln net.Listener) (net.Listener, http.Handler, error) {
	cfg := a.cfg
	var certNames []string
	if mode := cfg.Admin.TLS; mode != "" && mode != config.AdminTLSOff {
		// The certificate also covers the address listened on, when it
		// is a specific one.
		hosts := cfg.Admin.Hosts
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && !ap.Addr().IsUnspecified() {
			hosts = append(hosts[:len(hosts):len(hosts)], ap.Addr().Unmap().String())
		}
		tc, err := admintls.Load(admintls.Config{
			Mode: mode, CertFile: cfg.TLS.Cert, KeyFile: cfg.TLS.Key,
			Dir: cfg.DataDir, Hosts: hosts, Now: a.now,
		})
		if err != nil {
			ln.Close()
			return nil, nil, cfg.Errorf("admin.tls", "%v", err)
		}
		ln = admintls.NewListener(ln, tc)
		// A name the certificate was issued for is one parents use.
		if leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0]); err == nil {
			for _, n := range leaf.DNSNames {
				if !strings.Contains(n, "*") {
					certNames = append(certNames, n)
				}
			}
		}
	}
	g, err := auth.NewGuard(auth.GuardConfig{Hosts: cfg.Admin.Hosts, ExtraHosts: certNames, Logger: a.log})
	if err != nil {
		ln.Close()
		return nil, nil, cfg.Errorf("admin.hosts", "%v", err)
	}
	h := g.Wrap(a.httpHandler())
	if a.auth != nil {
		a.auth.AnnounceSetup(context.Background())
	}
	return ln, h, nil
}

// metricsAccess is who may read /metrics without credentials.
func metricsAccess(cfg *config.Config) auth.MetricsAccess {
	var m auth.MetricsAccess
	for _, s := range cfg.Admin.MetricsNetworks {
		// Validated with the config; a bad entry cannot get here.
		if p, err := config.ParsePrefix(s); err == nil {
			m.Networks = append(m.Networks, p)
		}
	}
	return m
}

// metricsWithoutAccounts serves /metrics while no store (and so no token)
// can be checked: to loopback and the scrape networks, never to the LAN.
func metricsWithoutAccounts(m auth.MetricsAccess, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err == nil && ap.Addr().Unmap().IsLoopback() || m.FromNetworks(r) {
			next.ServeHTTP(w, r)
			return
		}
		http.Error(w, "the store is unavailable, so /metrics answers only loopback and admin.metrics_networks", http.StatusServiceUnavailable)
	})
}
