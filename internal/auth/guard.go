package auth

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"
)

// GuardConfig configures a Guard.
type GuardConfig struct {
	// Hosts are the names (and addresses) the admin UI is reached by,
	// matched without case or port. "localhost" is always allowed. Empty
	// means localhost, the machine's host name and <host name>.local.
	Hosts []string
	// ExtraHosts are allowed on top of Hosts or its default (the names
	// of the admin certificate).
	ExtraHosts []string
	// Logger receives refused requests (default: discard).
	Logger *slog.Logger
}

// Guard refuses admin requests a browser was tricked into sending: a Host
// that is not one of the server's names or addresses (DNS rebinding: a
// page on evil.example whose name now points at the server), and a
// change sent from another origin (cross-site request forgery, also
// refused by the CSRF token; this is the second lock). Over TLS it adds
// HSTS. It is safe for concurrent use and holds no mutable state.
type Guard struct {
	hosts map[string]bool
	log   *slog.Logger
}

// NewGuard validates c and returns a Guard.
func NewGuard(c GuardConfig) (*Guard, error) {
	g := &Guard{hosts: map[string]bool{"localhost": true}, log: c.Logger}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	hosts := c.Hosts
	if len(hosts) == 0 {
		if name, err := os.Hostname(); err == nil && name != "" {
			hosts = []string{name, name + ".local"}
		}
	}
	hosts = append(hosts[:len(hosts):len(hosts)], c.ExtraHosts...)
	for i, h := range hosts {
		n := normalizeHost(h)
		if n == "" || strings.ContainsAny(h, "/ \t@?#") || strings.ContainsAny(n, ":[]") && !isIP(n) {
			return nil, fmt.Errorf("hosts[%d]: %q: want a host name or IP address, without scheme or port", i, h)
		}
		g.hosts[n] = true
	}
	return g, nil
}

// hstsMaxAge is one year, as the HSTS preload list asks. Browsers ignore
// the header when the certificate is not trusted (RFC 6797, 8.1), so a
// self-signed certificate does not lock anyone out.
const hstsValue = "max-age=31536000"

// Wrap returns next behind the guard. /healthz is exempt from the Host
// check (it says only "ok", and probes call it by any name). Refusals
// are 421 Misdirected Request for a Host, 403 for a cross-origin change,
// with a JSON error naming the reason.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", hstsValue)
		}
		if r.URL.Path != "/healthz" && !g.allowedHost(r) {
			g.log.WarnContext(r.Context(), "admin request refused: unknown Host (DNS rebinding?)",
				"host", truncate(r.Host), "remote", r.RemoteAddr, "path", truncate(r.URL.Path))
			writeError(w, http.StatusMisdirectedRequest,
				fmt.Sprintf("host %q is not a name of this server; add it to admin.hosts in the config", truncate(r.Host)))
			return
		}
		if !safeMethod(r.Method) {
			if reason := crossOrigin(r); reason != "" {
				g.log.WarnContext(r.Context(), "admin request refused: cross-origin change",
					"reason", reason, "remote", r.RemoteAddr, "method", r.Method, "path", truncate(r.URL.Path))
				writeError(w, http.StatusForbidden, "cross-origin request refused: "+reason)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// allowedHost reports whether r's Host names this server: a configured
// name, localhost, a loopback address, or the address the connection
// came in on. Any other IP literal is refused too: a request the server
// received for an address it does not hold was routed or forwarded, and
// its owner can list that address in admin.hosts.
func (g *Guard) allowedHost(r *http.Request) bool {
	host := normalizeHost(r.Host)
	if host == "" {
		return false
	}
	if g.hosts[host] {
		return true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	if a.IsLoopback() {
		return true
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ap, err := netip.ParseAddrPort(la.String()); err == nil && ap.Addr().Unmap().WithZone("") == a.WithZone("") {
			return true
		}
	}
	return false
}

// crossOrigin returns why a state-changing request r comes from another
// site, or "" when nothing says so. Browsers send Sec-Fetch-Site (all
// current ones) and Origin on every POST, PUT and DELETE; clients that
// are not browsers (curl, Home Assistant) send neither and are left to
// the bearer token or CSRF check.
func crossOrigin(r *http.Request) string {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" {
		return fmt.Sprintf("Sec-Fetch-Site is %q", truncate(s))
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ""
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	if !strings.EqualFold(origin, scheme+r.Host) {
		return fmt.Sprintf("Origin %q is not %q", truncate(origin), truncate(scheme+r.Host))
	}
	return ""
}

// normalizeHost lower-cases a Host value and drops its port, brackets
// and trailing dot.
func normalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(h, ".")
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// MetricsAccess decides who may read /metrics: sources inside Networks
// without credentials (a Prometheus server on the LAN), everyone else
// with a session or a bearer token of any scope.
type MetricsAccess struct {
	// Networks may scrape without a token.
	Networks []netip.Prefix
}

// FromNetworks reports whether r comes from one of m.Networks.
func (m MetricsAccess) FromNetworks(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range m.Networks {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// RequireMetrics passes to next requests from m.Networks and requests
// with an operator's valid credentials of any scope; others get 401, and
// a household's credentials 403.
func (a *Auth) RequireMetrics(m MetricsAccess, next http.Handler) http.Handler {
	// /metrics counts every household: a household's credentials get 403.
	authed := a.requireScope(next, func(p Principal, _ *http.Request) string {
		if !p.Operator() {
			return "operator only: /metrics counts every household"
		}
		return ""
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" && m.FromNetworks(r) {
			next.ServeHTTP(w, r)
			return
		}
		authed.ServeHTTP(w, r)
	})
}

// touchEvery is how stale a token's recorded last use may get before a
// use writes it again: the list shows "used a minute ago" either way,
// and a scraper every 15 s does not cost a write each time.
const touchEvery = time.Minute
