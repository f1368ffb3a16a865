package discovery

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/devicelimit"
	"github.com/hearth-dns/hearth/internal/netid"
	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlite"
)

// TestRecordedDevicesPassTheAPIChecks: whatever name a DHCP client sends,
// the device recorded has a name and host name the API accepts back, so a
// parent can claim it as it is.
func TestRecordedDevicesPassTheAPIChecks(t *testing.T) {
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63)
	tests := []struct {
		lease, wantName, wantHost string
	}{
		{"Emma's iPad", "emmas-ipad", "emmas-ipad"},
		{long, long[:64], long},
		{"*", "192.168.1.9", ""},
	}
	for _, tt := range tests {
		t.Run(tt.lease, func(t *testing.T) {
			dir := t.TempDir()
			leases := filepath.Join(dir, "leases")
			if err := os.WriteFile(leases, []byte("0 a8:bb:cc:dd:ee:09 192.168.1.9 "+strings.ReplaceAll(tt.lease, " ", "_")+" *\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			st, err := sqlite.Open(ctx, &sqlite.Config{Path: filepath.Join(dir, "h.db")})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.PutHousehold(ctx, store.Household{ID: store.HomeHousehold, Name: "Home"}); err != nil {
				t.Fatal(err)
			}
			now := func() time.Time { return time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC) }
			limit, err := devicelimit.New(devicelimit.Config{Networks: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan string, 1)
			r, err := New(Config{Store: st, Limit: limit, Max: 10, Leases: leases, LeasesFormat: "dnsmasq", Now: now,
				Observe: func(_ netip.Addr, outcome string) { done <- outcome }})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go r.Run(ctx)
			r.Unknown(netip.MustParseAddr("192.168.1.9"), "")
			if got := <-done; got != "recorded" {
				t.Fatalf("outcome %q", got)
			}
			ds, err := st.Devices(ctx, store.HomeHousehold)
			if err != nil || len(ds) != 1 {
				t.Fatalf("devices %v, %v", ds, err)
			}
			d := ds[0]
			if d.Name != tt.wantName || d.Hostname != tt.wantHost {
				t.Errorf("name %q host %q, want %q %q", d.Name, d.Hostname, tt.wantName, tt.wantHost)
			}
			if d.Hostname != "" {
				if _, err := netid.ParseHostname(d.Hostname); err != nil {
					t.Errorf("host name refused by the API: %v", err)
				}
			}
		})
	}
}
