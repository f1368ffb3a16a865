package discovery

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
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

// devices is a store that keeps the devices put into it.
type devices struct {
	store.Store // nil: only Devices and PutDevice are called (Max is 0: no eviction)
	mu          sync.Mutex
	put         []store.Device
}

func (d *devices) Devices(ctx context.Context, household string) ([]store.Device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.put), nil
}

func (d *devices) PutDevice(ctx context.Context, dev store.Device) (store.Device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.put = append(d.put, dev)
	return dev, nil
}

// TestRecorderNamesDevices offers sources and checks what reaches the
// store, inside a synctest bubble: the recorder's goroutine and clock are
// the bubble's, and Flush says when it has handled the offers, so the
// test never polls.
func TestRecorderNamesDevices(t *testing.T) {
	leases := filepath.Join(t.TempDir(), "dnsmasq.leases")
	if err := os.WriteFile(leases, []byte("0 aa:bb:cc:00:00:07 192.168.1.7 emmas-ipad *\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a7, a8, a9 := netip.MustParseAddr("192.168.1.7"), netip.MustParseAddr("192.168.1.8"), netip.MustParseAddr("192.168.1.9")
	type offer struct {
		addr netip.Addr
		mac  string
	}
	tests := []struct {
		name      string
		offers    []offer
		wantNames []string
		wantMACs  []string
	}{
		{"named from the leases, known by MAC", []offer{{a7, "aa:bb:cc:00:00:07"}}, []string{"emmas-ipad"}, []string{"aa:bb:cc:00:00:07"}},
		{"named from the local records", []offer{{a8, ""}}, []string{"printer-lan"}, []string{""}},
		{"unnamed: its address", []offer{{a9, ""}}, []string{"192.168.1.9"}, []string{""}},
		{"offered twice, recorded once", []offer{{a9, ""}, {a9, ""}}, []string{"192.168.1.9"}, []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &devices{}
				limit, err := devicelimit.New(devicelimit.Config{Networks: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}})
				if err != nil {
					t.Fatal(err)
				}
				r, err := New(Config{Store: st, Limit: limit, Leases: leases, LeasesFormat: "dnsmasq",
					Names: map[netip.Addr]string{a8: "printer-lan"}})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				go r.Run(ctx)
				for _, o := range tc.offers {
					r.Unknown(o.addr, o.mac)
					if err := r.Flush(ctx); err != nil {
						t.Fatal(err)
					}
				}
				if len(st.put) != len(tc.wantNames) {
					t.Fatalf("recorded %+v, want %v", st.put, tc.wantNames)
				}
				for i, d := range st.put {
					mac := ""
					if len(d.MACs) > 0 {
						mac = d.MACs[0]
					}
					if d.Name != tc.wantNames[i] || mac != tc.wantMACs[i] || !d.New || d.Household != store.HomeHousehold || !d.FirstSeen.Equal(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) {
						t.Errorf("device %d: %+v, want name %s mac %q, new, home, first seen at the bubble's start", i, d, tc.wantNames[i], tc.wantMACs[i])
					}
				}
			})
		})
	}
}

// TestStoredDeviceIsNotRecordedAgain: a source the policy in effect does
// not know yet, but a stored device holds (a reload built the policy from
// a state read a moment before the device was written), is not recorded a
// second time: the second device would take the first one's address.
func TestStoredDeviceIsNotRecordedAgain(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, &sqlite.Config{Path: filepath.Join(t.TempDir(), "h.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.PutHousehold(ctx, store.Household{ID: store.HomeHousehold, Name: "Home"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []store.Device{
		{ID: "tablet", Household: store.HomeHousehold, Name: "tablet", IPs: []string{"192.168.1.9"}},
		{ID: "console", Household: store.HomeHousehold, Name: "console", MACs: []string{"a8:bb:cc:dd:ee:0a"}},
	} {
		if _, err := st.PutDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	now := func() time.Time { return time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC) }
	limit, err := devicelimit.New(devicelimit.Config{Networks: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	r, err := New(Config{Store: st, Limit: limit, Max: 10, Now: now,
		Observe: func(_ netip.Addr, outcome string) { done <- outcome }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go r.Run(ctx)
	tests := []struct {
		addr, mac, want string
	}{
		{"192.168.1.9", "", "known"},
		{"192.168.1.10", "a8:bb:cc:dd:ee:0a", "known"},
		{"192.168.1.11", "", "recorded"},
	}
	for _, tc := range tests {
		r.Unknown(netip.MustParseAddr(tc.addr), tc.mac)
		if got := <-done; got != tc.want {
			t.Errorf("%s %s: outcome %q, want %q", tc.addr, tc.mac, got, tc.want)
		}
	}
	ds, err := st.Devices(ctx, store.HomeHousehold)
	if err != nil || len(ds) != 3 {
		t.Errorf("devices %+v, %v: want the two stored and one new", ds, err)
	}
}
