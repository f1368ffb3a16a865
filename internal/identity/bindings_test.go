package identity

import (
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/pipeline"
)

// The subscribers of the binding tests: the Smiths (household smiths,
// profile family) and the Joneses (household joneses, profile teens).
// The Smiths' own devices: a laptop by IP on their address and a tablet
// by client id; the Joneses' router claims a MAC.
func bindingConfig() Config {
	return Config{
		Devices: []Device{
			{Name: "smith-laptop", Profile: "adult", Household: "smiths", IPs: addrs("2001:db8:7::10")},
			{Name: "smith-tablet", Profile: "kid", Household: "smiths", ClientIDs: []string{"smith-tablet"}},
			{Name: "jones-router", Profile: "adult", Household: "joneses", MACs: []net.HardwareAddr{hw(leoMAC)}, IPs: addrs("198.51.100.7")},
			{Name: "lan", Profile: "adult", Household: "home", CIDRs: prefixes("198.51.100.0/24")},
		},
		DefaultProfile:    "new-device",
		TrustedForwarders: prefixes("127.0.0.2/32"),
		ClientIDDomains:   []string{"dns.example.net"},
		Households:        []Household{{ID: "smiths", DefaultProfile: "family"}, {ID: "joneses", DefaultProfile: "teens"}},
		Bindings: []Binding{
			{Household: "smiths", Addr: netip.MustParseAddr("198.51.100.7")},
			{Household: "smiths", Prefix: netip.MustParsePrefix("2001:db8:7::/48")},
			{Household: "joneses", Prefix: netip.MustParsePrefix("2001:db8:7:42::/64")},
			{Household: "joneses", CPE: "cpe-jones"},
			{Household: "smiths", ClientID: "smith-home"},
		},
	}
}

func sub(household, profile, via, mac string) pipeline.Identity {
	return pipeline.Identity{Household: household, Profile: profile, Via: via, MAC: mac}
}

func dev(name, household, profile, via, mac string) pipeline.Identity {
	return pipeline.Identity{Household: household, Device: name, Profile: profile, Via: via, MAC: mac}
}

// TestIdentifyBindings: a query carrying a binding is its household's,
// in the documented order, and only that household's devices take it.
func TestIdentifyBindings(t *testing.T) {
	id := newTestIdentifier(t, bindingConfig())
	tests := []struct {
		name       string
		client     string
		clientID   string
		serverName string
		opts       []dns.EDNS0
		want       pipeline.Identity
	}{
		{name: "IPv4 binding beats another household's IP device", client: "198.51.100.7:5353", want: sub("smiths", "family", "binding-ip", "")},
		{name: "IPv6 /48 binding", client: "[2001:db8:7:1::5]:5353", want: sub("smiths", "family", "binding-ip", "")},
		{name: "longest IPv6 prefix wins", client: "[2001:db8:7:42::5]:5353", want: sub("joneses", "teens", "binding-ip", "")},
		{name: "outside every prefix", client: "[2001:db8:8::5]:5353", want: want("", "", "")},
		{name: "own device by IP beats its binding", client: "[2001:db8:7::10]:5353", want: dev("smith-laptop", "smiths", "adult", "ip", "")},
		{name: "other household's CIDR loses to the binding", client: "[::ffff:198.51.100.7]:5353", want: sub("smiths", "family", "binding-ip", "")},
		{name: "unbound address keeps its CIDR device", client: "198.51.100.9:5353", want: dev("lan", "home", "adult", "cidr", "")},
		{name: "client id binding", client: stranger, clientID: "Smith-Home", want: sub("smiths", "family", "binding-client-id", "")},
		{name: "SNI client id binding", client: stranger, serverName: "smith-home.dns.example.net", want: sub("smiths", "family", "binding-client-id", "")},
		{name: "device client id beats the address binding", client: "[2001:db8:7:42::5]:5353", clientID: "smith-tablet", want: dev("smith-tablet", "smiths", "kid", "client-id", "")},
		{name: "client id binding beats the address binding", client: "[2001:db8:7:42::5]:5353", clientID: "smith-home", want: sub("smiths", "family", "binding-client-id", "")},
		{name: "CPE binding from a trusted forwarder", client: forwarder, opts: []dns.EDNS0{deviceIDOpt("CPE-Jones")}, want: sub("joneses", "teens", "binding-cpe", "")},
		{name: "CPE binding beats the ECS address binding", client: forwarder, opts: []dns.EDNS0{deviceIDOpt("cpe-jones"), ecs("2001:db8:7:1::1/128")}, want: sub("joneses", "teens", "binding-cpe", "")},
		{name: "CPE household's own device by ECS address", client: forwarder, opts: []dns.EDNS0{deviceIDOpt("cpe-jones"), ecs("198.51.100.7/32")}, want: dev("jones-router", "joneses", "adult", "ip", "")},
		{name: "CPE household's own device by MAC", client: forwarder, opts: []dns.EDNS0{deviceIDOpt("cpe-jones"), macOpt(leoMAC)}, want: dev("jones-router", "joneses", "adult", "edns-mac", leoMAC)},
		{name: "other household's MAC loses to the address binding", client: forwarder, opts: []dns.EDNS0{ecs("198.51.100.7/32"), macOpt(leoMAC)}, want: sub("smiths", "family", "binding-ip", leoMAC)},
		{name: "ECS host address binding", client: forwarder, opts: []dns.EDNS0{ecs("2001:db8:7:9::1/128")}, want: sub("smiths", "family", "binding-ip", "")},
		{name: "CPE id from an untrusted source is ignored", client: "[2001:db8:8::5]:5353", opts: []dns.EDNS0{deviceIDOpt("cpe-jones")}, want: want("", "", "")},
		{name: "unknown CPE id falls to the address", client: forwarder, opts: []dns.EDNS0{deviceIDOpt("cpe-nobody"), ecs("198.51.100.7/32")}, want: sub("smiths", "family", "binding-ip", "")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := request(query(tc.opts...), tc.client)
			r.ClientID, r.ServerName = tc.clientID, tc.serverName
			if got := id.Identify(r); got != tc.want {
				t.Errorf("Identify = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestIdentifyBindingsAllocs: a binding lookup allocates nothing.
func TestIdentifyBindingsAllocs(t *testing.T) {
	id := newTestIdentifier(t, bindingConfig())
	for _, r := range []*pipeline.Request{
		request(query(), "198.51.100.7:5353"),
		request(query(), "[2001:db8:7:42::5]:5353"),
		request(query(deviceIDOpt("CPE-Jones")), forwarder),
		{Msg: query(), Client: netip.MustParseAddrPort(stranger), ClientID: "SMITH-HOME"},
	} {
		var got pipeline.Identity
		if allocs := testing.AllocsPerRun(100, func() { got = id.Identify(r) }); allocs != 0 {
			t.Errorf("%v: %v allocations per Identify, want 0", r.Client, allocs)
		}
		if got.Household == "" {
			t.Errorf("%v: not recognised by a binding: %+v", r.Client, got)
		}
	}
}

func BenchmarkIdentifyBinding(b *testing.B) {
	id := newTestIdentifier(b, bindingConfig())
	for _, bc := range []struct {
		name string
		r    *pipeline.Request
	}{
		{"ipv4", request(query(), "198.51.100.7:5353")},
		{"ipv6", request(query(), "[2001:db8:7:42::5]:5353")},
		{"cpe", request(query(deviceIDOpt("cpe-jones")), forwarder)},
		{"unbound", request(query(), stranger)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				id.Identify(bc.r)
			}
		})
	}
}
