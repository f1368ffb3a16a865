package app

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/hearth-dns/hearth/internal/auth"
)

// Without a store no token can be checked, so /metrics must not open to
// the whole LAN: only loopback and the configured scrape networks.
func TestMetricsWithoutAccounts(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	h := metricsWithoutAccounts(auth.MetricsAccess{Networks: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}, ok)
	for _, tc := range []struct {
		remote string
		want   int
	}{
		{"127.0.0.1:4000", http.StatusOK},
		{"[::1]:4000", http.StatusOK},
		{"10.9.3.4:4000", http.StatusOK},
		{"[::ffff:10.9.3.4]:4000", http.StatusOK},
		{"192.168.1.23:4000", http.StatusServiceUnavailable},
		{"[fd00::5]:4000", http.StatusServiceUnavailable},
		{"garbage", http.StatusServiceUnavailable},
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.RemoteAddr = tc.remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.remote, w.Code, tc.want)
		}
	}
}
