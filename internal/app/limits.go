package app

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/access"
	"github.com/hearth-dns/hearth/internal/api"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/netlimit"
)

// httpLimits are the limits of the API and UI and of the block page.
func httpLimits(l config.Limits) netlimit.HTTP {
	return netlimit.HTTP{
		HeaderTimeout:  l.HTTPHeaderTimeout,
		Timeout:        l.HTTPTimeout,
		Idle:           l.HTTPIdle,
		MaxHeaderBytes: l.HTTPMaxHeaderBytes,
		MaxBodyBytes:   l.HTTPMaxBodyBytes,
		Conns:          netlimit.Conns{Total: l.HTTPConnections, PerSource: l.HTTPPerSource},
	}
}

// dohLimits are the DoH listeners' limits: a body holds one DNS message,
// and HTTP/2 streams are queries.
func dohLimits(l config.Limits) netlimit.HTTP {
	h := httpLimits(l)
	h.MaxBodyBytes = min(h.MaxBodyBytes, dns.MaxMsgSize)
	h.Timeout = min(h.Timeout, 10*time.Second)
	h.Streams = l.DoHStreams
	return h
}

// newLimiter makes the rate limiter shared by the listeners and the
// pipeline's Access step, on the App's clock; it outlives reloads. Its warnings go to log at
// most 20 lines a minute.
func newLimiter(cfg *config.Config, log *slog.Logger, now func() time.Time) (*access.Limiter, error) {
	l := cfg.Limits
	// The host itself is not held to the per-client rate: a forwarder
	// running beside Hearth (dnsmasq on the router) asks from 127.0.0.1
	// or ::1 for the whole home. Other loopback addresses are limited.
	exempt := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	for i, s := range cfg.Access.TrustedForwarders {
		p, err := config.ParsePrefix(s)
		if err != nil {
			return nil, cfg.Errorf(fmt.Sprintf("access.trusted_forwarders[%d]", i), "%v", err)
		}
		exempt = append(exempt, p)
	}
	lim, err := access.New(access.Config{
		Exempt: exempt,
		QPS:    l.QPS, Burst: l.Burst, RefusedQPS: l.RefusedQPS, RepeatQPS: l.RepeatQPS,
		Slip: l.Slip, TableSize: l.Table, Now: now,
		Logger: slog.New(netlimit.NewRateLimitedHandler(log.Handler(), 20, time.Minute, nil)),
	})
	if err != nil {
		return nil, cfg.Errorf("limits", "%v", err)
	}
	return lim, nil
}

// limitHTTP caps ln's connections with the HTTP limits of cfg. It wraps
// the plain listener, under any TLS, so that connections over the caps
// are closed before a handshake.
func limitHTTP(ln net.Listener, cfg *config.Config) net.Listener {
	return netlimit.NewListener(ln, httpLimits(cfg.Limits).Conns, nil)
}

// newHTTPServer returns an HTTP server for h with the HTTP limits of cfg.
func newHTTPServer(h http.Handler, cfg *config.Config, log *slog.Logger) *http.Server {
	return netlimit.NewHTTPServer(h, httpLimits(cfg.Limits), log)
}

// newAdminServer is newHTTPServer for the API and UI, whose bindings
// import streams a body larger than the others (api.ImportBindingsPath).
func newAdminServer(h http.Handler, cfg *config.Config, log *slog.Logger) *http.Server {
	l := httpLimits(cfg.Limits)
	l.BulkBodyBytes = map[string]int64{api.ImportBindingsPath: api.MaxImportBytes}
	return netlimit.NewHTTPServer(h, l, log)
}

// serveHTTP serves h on ln with the HTTP limits of cfg and returns the
// server, for Shutdown.
func serveHTTP(ln net.Listener, h http.Handler, cfg *config.Config, log *slog.Logger) *http.Server {
	s := newHTTPServer(h, cfg, log)
	go s.Serve(limitHTTP(ln, cfg))
	return s
}

func ptr[T any](v T) *T { return &v }
