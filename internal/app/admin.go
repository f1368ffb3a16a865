package app

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

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
	g, err := auth.NewGuard(auth.GuardConfig{Hosts: cfg.Admin.Hosts, Logger: a.log})
	if err != nil {
		ln.Close()
		return nil, nil, cfg.Errorf("admin.hosts", "%v", err)
	}
	h := g.Wrap(a.httpHandler())
	if mode := cfg.Admin.TLS; mode != "" && mode != config.AdminTLSOff {
		tc, err := admintls.Load(admintls.Config{
			Mode: mode, CertFile: cfg.TLS.Cert, KeyFile: cfg.TLS.Key,
			Dir: cfg.DataDir, Hosts: cfg.Admin.Hosts, Now: a.now,
		})
		if err != nil {
			ln.Close()
			return nil, nil, cfg.Errorf("admin.tls", "%v", err)
		}
		ln = tls.NewListener(ln, tc)
	}
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
