package identity

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// Addresses of the test home. 127.0.0.2 and 192.168.1.1 are dnsmasq
// forwarders Hearth trusts; 203.0.113.9 is a stranger.
const (
	emmaMAC   = "aa:bb:cc:00:00:01"
	leoMAC    = "aa:bb:cc:00:00:02"
	pcMAC     = "aa:bb:cc:00:00:03"
	otherMAC  = "11:22:33:44:55:66" // in the neighbour table, no device
	forwarder = "127.0.0.2:5353"
	stranger  = "203.0.113.9:5353"
)

func hw(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// fakeNeighbors is a NeighborTable from a map, as a generic
// implementation other than *Neighbors would be.
type fakeNeighbors map[netip.Addr]net.HardwareAddr

func (f fakeNeighbors) Lookup(a netip.Addr) (net.HardwareAddr, bool) {
	m, ok := f[a]
	return m, ok
}

func testDevices() []Device {
	return []Device{
		{Name: "emma-tablet", Profile: "kid", Household: "home", ClientIDs: []string{"emma"},
			MACs: []net.HardwareAddr{hw(emmaMAC)}, IPs: addrs("192.168.1.10")},
		{Name: "leo-phone", Profile: "teen", Household: "home", ClientIDs: []string{"Leo-Phone"},
			MACs: []net.HardwareAddr{hw(leoMAC)}, IPs: addrs("192.168.1.11", "fd00::11", "fe80::11")},
		{Name: "tv", Profile: "adult", Household: "home", IPs: addrs("192.168.1.20", "::ffff:192.168.1.21")},
		{Name: "router", Profile: "adult", Household: "home", IPs: addrs("192.168.1.1")},
		{Name: "kids-wifi", Profile: "kid", Household: "home", CIDRs: prefixes("192.168.2.0/24", "fd00:2::/64")},
		{Name: "kids-corner", Profile: "tween", Household: "home", CIDRs: prefixes("192.168.2.128/25")},
		{Name: "lan", Profile: "adult", Household: "home", CIDRs: prefixes("192.168.0.0/16")},
		{Name: "study-pc", Profile: "teen", Household: "home", ClientIDs: []string{"cpe-7"},
			MACs: []net.HardwareAddr{hw(pcMAC)}},
	}
}

func testConfig() Config {
	return Config{
		Devices:           testDevices(),
		DefaultProfile:    "new-device",
		TrustedForwarders: prefixes("127.0.0.2/32", "192.168.1.1/32", "fd00::53/128"),
		ClientIDDomains:   []string{"example.net", "dns.example.net"},
		Neighbors: fakeNeighbors{
			netip.MustParseAddr("192.168.1.30"): hw(leoMAC),   // Leo's phone on a new lease
			netip.MustParseAddr("192.168.1.20"): hw(emmaMAC),  // Emma's tablet took the TV's old address
			netip.MustParseAddr("192.168.1.10"): hw(otherMAC), // someone else on Emma's configured IP
		},
	}
}

func newTestIdentifier(t testing.TB, c Config) *Identifier {
	t.Helper()
	id, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// want returns the identity of a test device recognised via via.
func want(name, via, mac string) pipeline.Identity {
	if name == "" {
		return pipeline.Identity{Profile: "new-device", Via: "default", MAC: mac}
	}
	for _, d := range testDevices() {
		if d.Name == name {
			return pipeline.Identity{Household: d.Household, Device: d.Name, Profile: d.Profile, Via: via, MAC: mac}
		}
	}
	panic("no test device " + name)
}

func local(code uint16, data []byte) dns.EDNS0 { return &dns.EDNS0_LOCAL{Code: code, Data: data} }

func macOpt(s string) dns.EDNS0      { return local(optMAC, hw(s)) }
func macTextOpt(s string) dns.EDNS0  { return local(optMACText, []byte(s)) }
func deviceIDOpt(s string) dns.EDNS0 { return local(optDeviceID, []byte(s)) }

func ecs(prefix string) dns.EDNS0 {
	p := netip.MustParsePrefix(prefix)
	family := uint16(2)
	if p.Addr().Is4() {
		family = 1
	}
	return &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()}
}

func cookie() dns.EDNS0 { return &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"} }

// query returns an A query for example.com with DO set and opts in its
// OPT record.
func query(opts ...dns.EDNS0) *dns.Msg {
	q := new(dns.Msg).SetQuestion("example.com.", dns.TypeA)
	q.SetEdns0(1232, true)
	q.IsEdns0().Option = append(q.IsEdns0().Option, opts...)
	return q
}

func request(q *dns.Msg, client string) *pipeline.Request {
	return &pipeline.Request{Msg: q, Client: netip.MustParseAddrPort(client), Transport: pipeline.UDP}
}

func TestIdentify(t *testing.T) {
	id := newTestIdentifier(t, testConfig())
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString(hw(s)) }
	tests := []struct {
		name       string
		client     string
		clientID   string // from the DoH path
		serverName string
		opts       []dns.EDNS0
		want       pipeline.Identity
	}{
		// (1) Client id.
		{name: "DoH path client id", client: stranger, clientID: "emma", want: want("emma-tablet", "client-id", "")},
		{name: "client id ignores case", client: stranger, clientID: "LEO-phone", want: want("leo-phone", "client-id", "")},
		{name: "unknown client id falls through to IP", client: "192.168.1.11:5353", clientID: "nobody", want: want("leo-phone", "ip", "")},
		{name: "malformed client id falls through", client: stranger, clientID: "emma/../x", want: want("", "", "")},
		{name: "SNI client id", client: stranger, serverName: "emma.dns.example.net", want: want("emma-tablet", "client-id", "")},
		{name: "SNI case and trailing dot", client: stranger, serverName: "EMMA.Dns.Example.NET.", want: want("emma-tablet", "client-id", "")},
		{name: "SNI under another domain", client: stranger, serverName: "emma.dns.other.net", want: want("", "", "")},
		{name: "SNI suffix without dot", client: stranger, serverName: "emmadns.example.net", want: want("", "", "")},
		{name: "SNI two labels below", client: stranger, serverName: "x.emma.dns.example.net", want: want("", "", "")},
		{name: "SNI under the shorter domain", client: stranger, serverName: "leo-phone.example.net", want: want("leo-phone", "client-id", "")},
		{name: "SNI is the domain", client: stranger, serverName: "dns.example.net", want: want("", "", "")},
		{name: "DoH path beats SNI", client: stranger, clientID: "leo-phone", serverName: "emma.dns.example.net", want: want("leo-phone", "client-id", "")},
		{name: "unknown path id then SNI", client: stranger, clientID: "nobody", serverName: "emma.dns.example.net", want: want("emma-tablet", "client-id", "")},
		{name: "client id beats EDNS MAC", client: forwarder, clientID: "emma", opts: []dns.EDNS0{macOpt(leoMAC)}, want: want("emma-tablet", "client-id", "")},
		{name: "client id beats IP", client: "192.168.1.11:5353", clientID: "emma", want: want("emma-tablet", "client-id", "")},

		// (2) EDNS from trusted forwarders only.
		{name: "binary MAC from trusted forwarder", client: forwarder, opts: []dns.EDNS0{macOpt(leoMAC)}, want: want("leo-phone", "edns-mac", leoMAC)},
		{name: "text MAC from trusted forwarder", client: forwarder, opts: []dns.EDNS0{macTextOpt("AA:BB:CC:00:00:01")}, want: want("emma-tablet", "edns-mac", emmaMAC)},
		{name: "text MAC with hyphens", client: forwarder, opts: []dns.EDNS0{macTextOpt("aa-bb-cc-00-00-01")}, want: want("emma-tablet", "edns-mac", emmaMAC)},
		{name: "base64 MAC", client: forwarder, opts: []dns.EDNS0{macTextOpt(b64(leoMAC))}, want: want("leo-phone", "edns-mac", leoMAC)},
		{name: "EDNS device id", client: forwarder, opts: []dns.EDNS0{deviceIDOpt("CPE-7")}, want: want("study-pc", "client-id", "")},
		{name: "EDNS device id beats EDNS MAC", client: forwarder, opts: []dns.EDNS0{macOpt(emmaMAC), deviceIDOpt("cpe-7")}, want: want("study-pc", "client-id", "")},
		{name: "unknown device id falls to MAC", client: forwarder, opts: []dns.EDNS0{deviceIDOpt("cpe-99"), macOpt(emmaMAC)}, want: want("emma-tablet", "edns-mac", emmaMAC)},
		{name: "first MAC option wins", client: forwarder, opts: []dns.EDNS0{macTextOpt(leoMAC), macOpt(emmaMAC)}, want: want("leo-phone", "edns-mac", leoMAC)},
		{name: "EDNS MAC beats forwarder's IP", client: "192.168.1.1:5353", opts: []dns.EDNS0{macOpt(emmaMAC)}, want: want("emma-tablet", "edns-mac", emmaMAC)},
		{name: "forwarder itself by IP", client: "192.168.1.1:5353", want: want("router", "ip", "")},
		{name: "unknown EDNS MAC is reported", client: forwarder, opts: []dns.EDNS0{macOpt("de:ad:be:ef:00:01")}, want: want("", "", "de:ad:be:ef:00:01")},
		{name: "MAC from untrusted source falls to IP", client: "192.168.1.11:5353", opts: []dns.EDNS0{macOpt(emmaMAC)}, want: want("leo-phone", "ip", "")},
		{name: "MAC from untrusted source falls to CIDR", client: "192.168.2.5:5353", opts: []dns.EDNS0{macOpt(emmaMAC), macTextOpt(emmaMAC)}, want: want("kids-wifi", "cidr", "")},
		{name: "MAC from untrusted source falls to default", client: stranger, opts: []dns.EDNS0{macOpt(emmaMAC)}, want: want("", "", "")},
		{name: "device id from untrusted source ignored", client: stranger, opts: []dns.EDNS0{deviceIDOpt("emma")}, want: want("", "", "")},
		{name: "mapped forwarder address is trusted", client: "[::ffff:127.0.0.2]:5353", opts: []dns.EDNS0{macOpt(leoMAC)}, want: want("leo-phone", "edns-mac", leoMAC)},
		{name: "short binary MAC ignored", client: forwarder, opts: []dns.EDNS0{local(optMAC, []byte{0xaa, 0xbb, 0xcc, 0, 0})}, want: want("", "", "")},
		{name: "long binary MAC ignored", client: forwarder, opts: []dns.EDNS0{local(optMAC, []byte{0xaa, 0xbb, 0xcc, 0, 0, 1, 0})}, want: want("", "", "")},
		{name: "zero binary MAC ignored", client: forwarder, opts: []dns.EDNS0{local(optMAC, make([]byte, 6))}, want: want("", "", "")},
		{name: "bad hex in text MAC ignored", client: forwarder, opts: []dns.EDNS0{macTextOpt("aa:bb:cc:00:00:0g")}, want: want("", "", "")},
		{name: "bad separator in text MAC ignored", client: forwarder, opts: []dns.EDNS0{macTextOpt("aa.bb.cc.00.00.01")}, want: want("", "", "")},
		{name: "short text MAC ignored", client: forwarder, opts: []dns.EDNS0{macTextOpt("aa:bb:cc:00:00")}, want: want("", "", "")},
		{name: "bad base64 MAC ignored", client: forwarder, opts: []dns.EDNS0{macTextOpt("qrvMAAA!")}, want: want("", "", "")},
		{name: "malformed MAC then good one", client: forwarder, opts: []dns.EDNS0{local(optMAC, []byte{1}), macTextOpt(leoMAC)}, want: want("leo-phone", "edns-mac", leoMAC)},
		{name: "empty device id ignored", client: forwarder, opts: []dns.EDNS0{deviceIDOpt("")}, want: want("", "", "")},
		{name: "host ECS from trusted forwarder", client: forwarder, opts: []dns.EDNS0{ecs("192.168.1.11/32")}, want: want("leo-phone", "ip", "")},
		{name: "IPv6 host ECS to CIDR", client: "[fd00::53]:5353", opts: []dns.EDNS0{ecs("fd00:2::5/128")}, want: want("kids-wifi", "cidr", "")},
		{name: "subnet ECS ignored", client: forwarder, opts: []dns.EDNS0{ecs("192.168.1.0/24")}, want: want("", "", "")},
		{name: "ECS from untrusted source ignored", client: stranger, opts: []dns.EDNS0{ecs("192.168.1.11/32")}, want: want("", "", "")},
		{name: "EDNS MAC beats neighbour table", client: forwarder, opts: []dns.EDNS0{macOpt("de:ad:be:ef:00:01"), ecs("192.168.1.30/32")}, want: want("lan", "cidr", "de:ad:be:ef:00:01")},
		{name: "host ECS looked up in neighbours", client: forwarder, opts: []dns.EDNS0{ecs("192.168.1.30/32")}, want: want("leo-phone", "mac", leoMAC)},

		// (3) Neighbour table.
		{name: "neighbour MAC", client: "192.168.1.30:5353", want: want("leo-phone", "mac", leoMAC)},
		{name: "neighbour MAC beats IP", client: "192.168.1.20:5353", want: want("emma-tablet", "mac", emmaMAC)},
		{name: "unknown neighbour MAC reported with IP match", client: "192.168.1.10:5353", want: want("emma-tablet", "ip", otherMAC)},

		// (4) IP and (5) CIDR.
		{name: "IPv4", client: "192.168.1.11:5353", want: want("leo-phone", "ip", "")},
		{name: "IPv6", client: "[fd00::11]:5353", want: want("leo-phone", "ip", "")},
		{name: "IPv6 with zone", client: "[fe80::11%eth0]:5353", want: want("leo-phone", "ip", "")},
		{name: "IPv4-mapped source", client: "[::ffff:192.168.1.11]:5353", want: want("leo-phone", "ip", "")},
		{name: "IPv4-mapped configured IP", client: "192.168.1.21:5353", want: want("tv", "ip", "")},
		{name: "IP beats CIDR", client: "192.168.1.11:5353", want: want("leo-phone", "ip", "")},
		{name: "CIDR", client: "192.168.2.5:5353", want: want("kids-wifi", "cidr", "")},
		{name: "longest CIDR wins", client: "192.168.2.200:5353", want: want("kids-corner", "cidr", "")},
		{name: "shortest CIDR as last resort", client: "192.168.3.1:5353", want: want("lan", "cidr", "")},
		{name: "IPv6 CIDR", client: "[fd00:2::99]:5353", want: want("kids-wifi", "cidr", "")},
		{name: "IPv4-mapped source in CIDR", client: "[::ffff:192.168.2.200]:5353", want: want("kids-corner", "cidr", "")},
		{name: "IPv6 outside every CIDR", client: "[fd00:3::1]:5353", want: want("", "", "")},

		// (6) Unknown.
		{name: "stranger gets default profile", client: stranger, want: want("", "", "")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := request(query(tc.opts...), tc.client)
			r.ClientID = tc.clientID
			r.ServerName = tc.serverName
			if got := id.Identify(r); got != tc.want {
				t.Errorf("Identify = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestIdentifyWithoutEDNS covers requests without an OPT record and
// without a message (as the pipeline's own tests send).
func TestIdentifyWithoutEDNS(t *testing.T) {
	id := newTestIdentifier(t, testConfig())
	q := new(dns.Msg).SetQuestion("example.com.", dns.TypeA)
	if got, w := id.Identify(request(q, forwarder)), want("", "", ""); got != w {
		t.Errorf("no OPT: %+v, want %+v", got, w)
	}
	if got, w := id.Identify(&pipeline.Request{Client: netip.MustParseAddrPort(forwarder)}), want("", "", ""); got != w {
		t.Errorf("no message: %+v, want %+v", got, w)
	}
	if got, w := id.Identify(&pipeline.Request{}), want("", "", ""); got != w {
		t.Errorf("zero request: %+v, want %+v", got, w)
	}
}

// codes returns the option codes of m's OPT record, nil without one.
func codes(m *dns.Msg) []uint16 {
	opt := m.IsEdns0()
	if opt == nil {
		return nil
	}
	out := []uint16{}
	for _, o := range opt.Option {
		out = append(out, o.Option())
	}
	return out
}

func TestMiddlewareStripsPrivateOptions(t *testing.T) {
	id := newTestIdentifier(t, testConfig())
	all := func() []dns.EDNS0 {
		return []dns.EDNS0{cookie(), macOpt(leoMAC), macTextOpt(emmaMAC), deviceIDOpt("cpe-7"),
			local(optUmbrellaDeviceID, []byte{1, 2, 3, 4, 5, 6, 7, 8}), ecs("192.168.1.11/32"),
			&dns.EDNS0_PADDING{Padding: make([]byte, 4)}}
	}
	tests := []struct {
		name      string
		client    string
		opts      []dns.EDNS0
		wantCodes []uint16
		wantSame  bool // r.Msg is the listener's message, nothing copied
		wantIdent pipeline.Identity
	}{
		{"trusted forwarder", forwarder, all(), []uint16{dns.EDNS0COOKIE, dns.EDNS0PADDING}, false, want("study-pc", "client-id", "")},
		{"untrusted source", "192.168.1.11:5353", all(), []uint16{dns.EDNS0COOKIE, dns.EDNS0SUBNET, dns.EDNS0PADDING}, false, want("leo-phone", "ip", "")},
		{"only private options", stranger, []dns.EDNS0{macOpt(leoMAC)}, []uint16{}, false, want("", "", "")},
		{"Umbrella device id alone", stranger, []dns.EDNS0{local(optUmbrellaDeviceID, []byte{1})}, []uint16{}, false, want("", "", "")},
		{"untrusted ECS kept untouched", stranger, []dns.EDNS0{ecs("203.0.113.0/24"), cookie()}, []uint16{dns.EDNS0SUBNET, dns.EDNS0COOKIE}, true, want("", "", "")},
		{"trusted subnet ECS stripped", forwarder, []dns.EDNS0{ecs("192.168.1.0/24")}, []uint16{}, false, want("", "", "")},
		{"nothing private", stranger, []dns.EDNS0{cookie()}, []uint16{dns.EDNS0COOKIE}, true, want("", "", "")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := query(tc.opts...)
			q.Id = 4711
			before := q.Copy()
			origOpt := q.IsEdns0()
			origOptions := slices.Clone(origOpt.Option)
			r := request(q, tc.client)
			var seen *pipeline.Request
			h := id.Middleware()(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
				seen = r
				return nil
			}))
			if err := h.ServeDNS(context.Background(), &dnstest.Recorder{}, r); err != nil {
				t.Fatal(err)
			}
			if seen == nil {
				t.Fatal("next handler not called")
			}
			if seen.Identity != tc.wantIdent {
				t.Errorf("Identity = %+v, want %+v", seen.Identity, tc.wantIdent)
			}
			if got := codes(seen.Msg); !slices.Equal(got, tc.wantCodes) {
				t.Errorf("options upstream = %v, want %v", got, tc.wantCodes)
			}
			if (seen.Msg == q) != tc.wantSame {
				t.Errorf("message copied = %v, want %v", seen.Msg != q, !tc.wantSame)
			}
			out := seen.Msg.IsEdns0()
			if out == nil || !out.Do() || out.UDPSize() != 1232 {
				t.Errorf("OPT upstream = %v, want DO and size 1232 kept", out)
			}
			if seen.Msg.Id != 4711 || len(seen.Msg.Question) != 1 || seen.Msg.Question[0] != q.Question[0] {
				t.Errorf("header or question changed: %v", seen.Msg)
			}
			// Copy-on-write: the listener's message, its Extra slice and
			// its OPT record are as they were.
			if q.String() != before.String() {
				t.Errorf("original message changed:\n%v\nwant\n%v", q, before)
			}
			if q.IsEdns0() != origOpt || !slices.Equal(origOpt.Option, origOptions) {
				t.Error("original OPT record changed")
			}
		})
	}
}

func TestNew(t *testing.T) {
	okDevice := func(name string) Device {
		return Device{Name: name, Profile: "kid", IPs: addrs("192.168.1.10")}
	}
	tests := []struct {
		name    string
		config  func(c *Config)
		wantErr string // "" for success
	}{
		{"valid", func(c *Config) {}, ""},
		{"no default profile", func(c *Config) { c.DefaultProfile = "" }, "default profile is empty"},
		{"empty name", func(c *Config) { c.Devices = append(c.Devices, Device{Profile: "kid"}) }, "device 8: empty name"},
		{"duplicate name", func(c *Config) { c.Devices = append(c.Devices, Device{Name: "tv", Profile: "kid"}) }, `device "tv": duplicate name`},
		{"empty profile", func(c *Config) { c.Devices[2].Profile, c.Devices[2].Household = "", "" }, `device "tv": empty profile`},
		{"empty profile of a household device", func(c *Config) { c.Devices[2].Profile = "" }, ""},
		{"IP claimed twice", func(c *Config) { c.Devices = append(c.Devices, okDevice("new-tv")) },
			`device "new-tv": IP "192.168.1.10": already claimed by device "emma-tablet"`},
		{"mapped IP claimed twice", func(c *Config) {
			c.Devices = append(c.Devices, Device{Name: "x", Profile: "kid", IPs: addrs("::ffff:192.168.1.11")})
		}, `device "x": IP "::ffff:192.168.1.11": already claimed by device "leo-phone"`},
		{"IP repeated in one device", func(c *Config) { c.Devices[0].IPs = addrs("192.168.1.10", "192.168.1.10") }, ""},
		{"invalid IP", func(c *Config) { c.Devices[0].IPs = []netip.Addr{{}} }, `device "emma-tablet": IP: invalid`},
		{"MAC claimed twice", func(c *Config) {
			c.Devices = append(c.Devices, Device{Name: "x", Profile: "kid", MACs: []net.HardwareAddr{hw("AA:BB:CC:00:00:02")}})
		}, `device "x": MAC "aa:bb:cc:00:00:02": already claimed by device "leo-phone"`},
		{"EUI-64 MAC", func(c *Config) { c.Devices[0].MACs = []net.HardwareAddr{hw("02:00:5e:10:00:00:00:01")} },
			`device "emma-tablet": MAC "02:00:5e:10:00:00:00:01": want a non-zero 6-byte address`},
		{"zero MAC", func(c *Config) { c.Devices[0].MACs = []net.HardwareAddr{make(net.HardwareAddr, 6)} },
			`device "emma-tablet": MAC "00:00:00:00:00:00"`},
		{"client id claimed twice", func(c *Config) {
			c.Devices = append(c.Devices, Device{Name: "x", Profile: "kid", ClientIDs: []string{"EMMA"}})
		}, `device "x": client id "EMMA": already claimed by device "emma-tablet"`},
		{"client id with dot", func(c *Config) { c.Devices[0].ClientIDs = []string{"emma.tablet"} },
			`device "emma-tablet": client id "emma.tablet": want 1 to 63 letters, digits or hyphens`},
		{"empty client id", func(c *Config) { c.Devices[0].ClientIDs = []string{""} }, `device "emma-tablet": client id ""`},
		{"long client id", func(c *Config) { c.Devices[0].ClientIDs = []string{strings.Repeat("a", 64)} }, `client id "aaaa`},
		{"63-byte client id", func(c *Config) { c.Devices[0].ClientIDs = []string{strings.Repeat("a", 63)} }, ""},
		{"CIDR claimed twice", func(c *Config) {
			c.Devices = append(c.Devices, Device{Name: "x", Profile: "kid", CIDRs: prefixes("192.168.2.7/24")})
		}, `device "x": CIDR "192.168.2.0/24": already claimed by device "kids-wifi"`},
		{"mapped CIDR claimed twice", func(c *Config) {
			c.Devices = append(c.Devices, Device{Name: "x", Profile: "kid", CIDRs: prefixes("::ffff:192.168.2.0/120")})
		}, `device "x": CIDR "192.168.2.0/24": already claimed by device "kids-wifi"`},
		{"overlapping CIDRs", func(c *Config) {
			c.Devices = append(c.Devices, Device{Name: "x", Profile: "kid", CIDRs: prefixes("192.168.2.0/23")})
		}, ""},
		{"invalid CIDR", func(c *Config) { c.Devices[0].CIDRs = []netip.Prefix{{}} }, `device "emma-tablet": CIDR "invalid Prefix": invalid prefix`},
		{"device without identifiers", func(c *Config) { c.Devices = append(c.Devices, Device{Name: "x", Profile: "kid"}) }, ""},
		{"invalid trusted forwarder", func(c *Config) { c.TrustedForwarders = []netip.Prefix{{}} }, `trusted forwarder "invalid Prefix"`},
		{"empty client id domain", func(c *Config) { c.ClientIDDomains = []string{"."} }, "client id domain is empty"},
		{"bad client id domain", func(c *Config) { c.ClientIDDomains = []string{"dns..example.net"} }, `client id domain "dns..example.net": not a domain name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.config(&c)
			_, err := New(c)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("New succeeded, want error %q", tc.wantErr)
			case err != nil && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("New: %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestNewWarnsUnreachableDevice checks that a device without identifiers
// is accepted and logged.
func TestNewWarnsUnreachableDevice(t *testing.T) {
	var buf strings.Builder
	c := testConfig()
	c.Devices = append(c.Devices, Device{Name: "unclaimed", Profile: "kid"})
	c.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	newTestIdentifier(t, c)
	if !strings.Contains(buf.String(), "device=unclaimed") {
		t.Errorf("log = %q, want a warning naming the device", buf.String())
	}
}

// TestIdentifyAllocs guards the hot path: a lookup on the immutable tables
// allocates nothing.
func TestIdentifyAllocs(t *testing.T) {
	c := testConfig()
	n := NewNeighbors(NeighborsConfig{
		ReadARP: arpReader("IP address HW type Flags HW address Mask Device\n" +
			"192.168.1.30 0x1 0x2 " + leoMAC + " * eth0\n" +
			"192.168.1.10 0x1 0x2 " + otherMAC + " * eth0\n"),
		ListIPv6: func() ([]Neighbor, error) { return nil, nil },
	})
	if err := n.Refresh(); err != nil {
		t.Fatal(err)
	}
	c.Neighbors = n
	id := newTestIdentifier(t, c)
	tests := []struct {
		name     string
		r        *pipeline.Request
		wantVia  string
		wantName string
	}{
		{"IP", request(query(), "192.168.1.11:5353"), "ip", "leo-phone"},
		{"IPv6", request(query(), "[fd00::11]:5353"), "ip", "leo-phone"},
		{"CIDR", request(query(), "192.168.2.200:5353"), "cidr", "kids-corner"},
		{"IPv6 CIDR", request(query(), "[fd00:2::99]:5353"), "cidr", "kids-wifi"},
		{"mapped CIDR", request(query(), "[::ffff:192.168.3.1]:5353"), "cidr", "lan"},
		{"client id", &pipeline.Request{Msg: query(), ClientID: "Leo-Phone"}, "client-id", "leo-phone"},
		{"SNI client id", &pipeline.Request{Msg: query(), ServerName: "emma.dns.example.net"}, "client-id", "emma-tablet"},
		{"EDNS MAC", request(query(macOpt(leoMAC)), forwarder), "edns-mac", "leo-phone"},
		{"EDNS text MAC", request(query(macTextOpt(leoMAC)), forwarder), "edns-mac", "leo-phone"},
		{"neighbour MAC", request(query(), "192.168.1.30:5353"), "mac", "leo-phone"},
		{"unknown neighbour MAC", request(query(), "192.168.1.10:5353"), "ip", "emma-tablet"},
		{"default", request(query(), stranger), "default", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got pipeline.Identity
			allocs := testing.AllocsPerRun(100, func() { got = id.Identify(tc.r) })
			if got.Via != tc.wantVia || got.Device != tc.wantName {
				t.Fatalf("Identify = %+v, want %s via %s", got, tc.wantName, tc.wantVia)
			}
			if allocs != 0 {
				t.Errorf("%v allocations per Identify, want 0", allocs)
			}
		})
	}
	t.Run("middleware without private options", func(t *testing.T) {
		h := id.Middleware()(pipeline.HandlerFunc(func(context.Context, pipeline.ResponseWriter, *pipeline.Request) error { return nil }))
		r := request(query(cookie()), "192.168.2.200:5353")
		ctx := context.Background()
		allocs := testing.AllocsPerRun(100, func() { _ = h.ServeDNS(ctx, nil, r) })
		if allocs != 0 {
			t.Errorf("%v allocations per query, want 0", allocs)
		}
	})
}

func BenchmarkIdentify(b *testing.B) {
	id := newTestIdentifier(b, testConfig())
	for _, bc := range []struct {
		name string
		r    *pipeline.Request
	}{
		{"ip", request(query(), "192.168.1.11:5353")},
		{"cidr", request(query(), "192.168.2.200:5353")},
		{"edns-mac", request(query(macOpt(leoMAC)), forwarder)},
		{"default", request(query(), stranger)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				id.Identify(bc.r)
			}
		})
	}
}

func FuzzParseMACOption(f *testing.F) {
	for _, s := range []string{"aa:bb:cc:dd:ee:ff", "AA-BB-CC-DD-EE-FF", "qrvM3e7/", "aa:bb:cc:dd:ee:f", "00:00:00:00:00:00", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := parseMACOption(b)
		if !ok {
			return
		}
		if m == (mac{}) {
			t.Fatalf("%q: zero MAC accepted", b)
		}
		if len(b) == 17 {
			std, err := net.ParseMAC(string(b))
			if err != nil || !strings.EqualFold(std.String(), m.String()) {
				t.Fatalf("%q: parsed %v, net.ParseMAC %v (%v)", b, m, std, err)
			}
		}
	})
}
