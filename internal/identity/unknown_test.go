package identity

import (
	"net"
	"net/netip"
	"testing"
)

// TestIdentifySetsSource checks that the Identify step names the source
// address and MAC that new-device discovery records.
func TestIdentifySetsSource(t *testing.T) {
	src := "192.168.1.50"
	neighbors := fakeNeighbors{netip.MustParseAddr(src): hw(otherMAC)}
	tests := []struct {
		name        string
		devices     []Device
		wantDevice  string
		wantProfile string
		wantAddr    netip.Addr
	}{
		{"unknown", nil, "", "kid", netip.MustParseAddr(src)},
		{"known by MAC", []Device{{Name: "new-1", Profile: "teen", MACs: []net.HardwareAddr{hw(otherMAC)}}}, "new-1", "teen", netip.MustParseAddr(src)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := New(Config{Devices: tc.devices, DefaultProfile: "kid", Neighbors: neighbors})
			if err != nil {
				t.Fatal(err)
			}
			r := request(query(), src+":4000")
			id.Apply(r)
			if got := r.Identity; got.Device != tc.wantDevice || got.Profile != tc.wantProfile || r.Source != tc.wantAddr || got.MAC != otherMAC {
				t.Errorf("identity %+v source %v, want device %q profile %q source %v mac %s", got, r.Source, tc.wantDevice, tc.wantProfile, tc.wantAddr, otherMAC)
			}
		})
	}
}
