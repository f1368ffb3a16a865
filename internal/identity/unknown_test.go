package identity

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/hearth-dns/hearth/internal/pipeline"
)

// seen records what an UnknownRecorder hears.
type seen struct {
	mu    sync.Mutex
	addrs []netip.Addr
	macs  []string
}

func (s *seen) Unknown(a netip.Addr, mac string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addrs = append(s.addrs, a)
	s.macs = append(s.macs, mac)
}

func TestSwapReportsUnknown(t *testing.T) {
	rec := &seen{}
	newID := func(devices []Device) *Identifier {
		id, err := New(Config{Devices: devices, DefaultProfile: "kid", Unknown: rec, Neighbors: fakeNeighbors{netip.MustParseAddr("192.168.1.50"): hw(otherMAC)}})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	cur := newID(nil)
	var got pipeline.Identity
	ask := func() {
		h := cur.Middleware()(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
			got = r.Identity
			return nil
		}))
		if err := h.ServeDNS(context.Background(), nil, request(query(), "192.168.1.50:4000")); err != nil {
			t.Fatal(err)
		}
	}

	ask()
	if got.Device != "" || got.Profile != "kid" || got.MAC != otherMAC {
		t.Fatalf("unknown device: got %+v", got)
	}
	if len(rec.addrs) != 1 || rec.addrs[0] != netip.MustParseAddr("192.168.1.50") || rec.macs[0] != otherMAC {
		t.Fatalf("recorder heard %v %v, want 192.168.1.50 %s", rec.addrs, rec.macs, otherMAC)
	}

	// The device is recorded and a new Identifier swapped in: it is now
	// known, and the recorder hears nothing more.
	cur = (newID([]Device{{Name: "new-1", Profile: "teen", MACs: []net.HardwareAddr{hw(otherMAC)}}}))
	ask()
	if got.Device != "new-1" || got.Profile != "teen" {
		t.Fatalf("after the swap: got %+v", got)
	}
	if len(rec.addrs) != 1 {
		t.Errorf("recorder heard a known device: %v", rec.addrs)
	}
}
