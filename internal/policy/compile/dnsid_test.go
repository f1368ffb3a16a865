package compile

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/store"
)

// TestDNSIDReplacesChosenIDs: a store device with a DNS id is matched by
// its secret alone, its chosen ids no longer; a device whose stored hash is
// not a hash is reported and left without one, and the rest still compiles.
func TestDNSIDReplacesChosenIDs(t *testing.T) {
	p, c := testPlan(t)
	dad, err := identity.NewDNSID("Dad's phone")
	if err != nil {
		t.Fatal(err)
	}
	st := store.State{
		Households: []store.Household{{ID: "home"}},
		Devices: []store.Device{
			{ID: "dad", Household: "home", Profile: "kid", ClientIDs: []string{"dad"}, DNSID: &store.DNSID{Hash: dad.Hash}},
			{ID: "edited", Household: "home", Profile: "kid", ClientIDs: []string{"edited"}, DNSID: &store.DNSID{Hash: "not-a-hash"}},
			{ID: "mum", Household: "home", Profile: "kid", ClientIDs: []string{"mum"}},
		},
	}
	s, err := p.Compile(identity.Config{}, c, st, t0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		clientID, wantDevice string
	}{
		{dad.ID, "dad"},
		{"dad", ""},
		{"edited", ""},
		{"mum", "mum"},
	}
	for _, tc := range tests {
		r := &pipeline.Request{Msg: new(dns.Msg).SetQuestion("example.com.", dns.TypeA), Client: netip.MustParseAddrPort("192.168.1.10:53"), ClientID: tc.clientID}
		if got := s.Identity.Identify(r).Device; got != tc.wantDevice {
			t.Errorf("client id %q: device %q, want %q", tc.clientID, got, tc.wantDevice)
		}
	}
	if len(s.Problems) != 1 || !strings.Contains(s.Problems[0].Error(), "device edited: DNS id hash") {
		t.Errorf("problems %v, want the edited device's hash", s.Problems)
	}
}
