package auth

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGuard(t *testing.T) {
	g, err := NewGuard(GuardConfig{Hosts: []string{"hearth.lan", "192.168.1.2"}})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	local := &net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 8053}
	tests := []struct {
		name, method, host, path string
		headers                  map[string]string
		tls                      bool
		want                     int
	}{
		{"configured name", "GET", "hearth.lan:8053", "/", nil, false, http.StatusTeapot},
		{"configured address", "GET", "192.168.1.2", "/", nil, false, http.StatusTeapot},
		{"address the connection came in on", "GET", "10.0.0.5:8053", "/", nil, false, http.StatusTeapot},
		{"loopback", "GET", "127.0.0.9:8053", "/", nil, false, http.StatusTeapot},
		{"localhost", "GET", "LOCALHOST", "/", nil, false, http.StatusTeapot},
		{"other name", "GET", "evil.example", "/", nil, false, http.StatusMisdirectedRequest},
		{"other address", "GET", "10.0.0.6:8053", "/", nil, false, http.StatusMisdirectedRequest},
		{"empty host", "GET", "", "/", nil, false, http.StatusMisdirectedRequest},
		{"health check by any name", "GET", "evil.example", "/healthz", nil, false, http.StatusTeapot},
		{"POST without browser headers", "POST", "hearth.lan", "/api/v1/x", nil, false, http.StatusTeapot},
		{"POST same origin", "POST", "hearth.lan:8053", "/api/v1/x", map[string]string{"Origin": "http://hearth.lan:8053", "Sec-Fetch-Site": "same-origin"}, false, http.StatusTeapot},
		{"POST same origin over TLS", "POST", "hearth.lan", "/api/v1/x", map[string]string{"Origin": "https://hearth.lan"}, true, http.StatusTeapot},
		{"POST http origin to the TLS site", "POST", "hearth.lan", "/api/v1/x", map[string]string{"Origin": "http://hearth.lan"}, true, http.StatusForbidden},
		{"POST cross-site", "POST", "hearth.lan", "/api/v1/x", map[string]string{"Sec-Fetch-Site": "cross-site"}, false, http.StatusForbidden},
		{"POST typed in (none)", "POST", "hearth.lan", "/api/v1/x", map[string]string{"Sec-Fetch-Site": "none"}, false, http.StatusForbidden},
		{"DELETE from another origin", "DELETE", "hearth.lan", "/api/v1/x", map[string]string{"Origin": "http://evil.example"}, false, http.StatusForbidden},
		{"GET from another origin is a read", "GET", "hearth.lan", "/api/v1/x", map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, false, http.StatusTeapot},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, nil)
			r.Host = tc.host
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, net.Addr(local)))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Errorf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if hsts := w.Header().Get("Strict-Transport-Security"); (hsts != "") != tc.tls {
				t.Errorf("HSTS %q over TLS=%v", hsts, tc.tls)
			}
		})
	}
}

func TestNewGuardRefusesBadHosts(t *testing.T) {
	for _, h := range []string{"", "http://x", "x/y", "x y"} {
		if _, err := NewGuard(GuardConfig{Hosts: []string{h}}); err == nil {
			t.Errorf("host %q accepted", h)
		}
	}
}

// FuzzGuard sends arbitrary Host, Origin and Sec-Fetch-Site values: the
// guard never panics, answers only 421, 403 or passes the request on,
// never passes a Host naming another site, and never passes a change
// that a browser marked cross-site.
func FuzzGuard(f *testing.F) {
	f.Add("hearth.lan:8053", "POST", "http://hearth.lan:8053", "same-origin")
	f.Add("evil.example", "GET", "", "")
	f.Add("[::1]:80", "DELETE", "null", "cross-site")
	f.Add("HEARTH.LAN.", "PUT", "http://HEARTH.LAN.", "none")
	f.Add("10.0.0.5%eth0", "POST", "", "same-site")
	g, err := NewGuard(GuardConfig{Hosts: []string{"hearth.lan"}})
	if err != nil {
		f.Fatal(err)
	}
	passed := false
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { passed = true }))
	f.Fuzz(func(t *testing.T, host, method, origin, site string) {
		if method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
			method = "POST"
		}
		r := httptest.NewRequest("GET", "/api/v1/x", nil)
		r.Method, r.Host = method, host
		r.Header.Set("Origin", origin)
		r.Header.Set("Sec-Fetch-Site", site)
		w := httptest.NewRecorder()
		passed = false
		h.ServeHTTP(w, r)
		switch {
		case passed && strings.Contains(strings.ToLower(host), "evil"):
			t.Errorf("Host %q passed", host)
		case passed && !safeMethod(method) && site != "" && site != "same-origin":
			t.Errorf("%s with Sec-Fetch-Site %q passed", method, site)
		case !passed && w.Code != http.StatusMisdirectedRequest && w.Code != http.StatusForbidden:
			t.Errorf("refused with %d", w.Code)
		}
	})
}
