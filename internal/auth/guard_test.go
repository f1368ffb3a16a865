package auth

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
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
