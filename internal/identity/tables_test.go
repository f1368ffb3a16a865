package identity

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/hearth-dns/hearth/internal/pipeline"
)

// ispConfig is an ISP's subscribers: two households with bindings, one
// device of h1 known by address (behind h1's own line).
func ispConfig() Config {
	return Config{
		DefaultProfile:    "new-device",
		TrustedForwarders: prefixes("127.0.0.2/32"),
		Households:        []Household{{ID: "h1", DefaultProfile: "kid"}, {ID: "h2", DefaultProfile: "teen"}, {ID: "h3"}},
		Devices: []Device{
			{Name: "h1-console", Household: "h1", Profile: "tween", IPs: addrs("198.51.100.7")},
			{Name: "h2-laptop", Household: "h2", IPs: addrs("198.51.100.8")},
			{Name: "h2-squatter", Household: "h2", IPs: addrs("198.51.100.11"), ClientIDs: []string{"squatter"}},
		},
		Bindings: []Binding{
			{Household: "h1", Addr: netip.MustParseAddr("198.51.100.7")},
			{Household: "h2", Addr: netip.MustParseAddr("198.51.100.9")},
			// h3's line, where h2 claims a device: h2 cannot take h3's
			// queries.
			{Household: "h3", Addr: netip.MustParseAddr("198.51.100.11")},
			{Household: "h1", Prefix: netip.MustParsePrefix("2001:db8:1::/48")},
			{Household: "h2", Prefix: netip.MustParsePrefix("2001:db8:1:200::/56")},
			{Household: "h3", Prefix: netip.MustParsePrefix("2001:db8:3:4::/64")},
			{Household: "h2", CPE: "cpe-00042"},
			{Household: "h1", ClientID: "Line-0001"},
		},
	}
}

func bound(h, profile string) pipeline.Identity {
	return pipeline.Identity{Household: h, Profile: profile, Via: viaBindIP}
}

func boundVia(h, profile, via string) pipeline.Identity {
	return pipeline.Identity{Household: h, Profile: profile, Via: via}
}

// TestBindings checks that a subscriber's queries get their household's
// default profile by line, and that a device the household named wins.
func TestBindings(t *testing.T) {
	id := newTestIdentifier(t, ispConfig())
	tests := []struct {
		name     string
		client   string
		clientID string
		opts     []string // CPE ids in option 65074
		want     pipeline.Identity
	}{
		{name: "IPv4 line", client: "198.51.100.9:5353", want: bound("h2", "teen")},
		{name: "device beats its line", client: "198.51.100.7:5353", want: pipeline.Identity{Household: "h1", Device: "h1-console", Profile: "tween", Via: "ip"}},
		{name: "device without profile gets its household's", client: "198.51.100.8:5353", want: pipeline.Identity{Household: "h2", Device: "h2-laptop", Profile: "teen", Via: "ip"}},
		{name: "IPv4-mapped source", client: "[::ffff:198.51.100.9]:5353", want: bound("h2", "teen")},
		{name: "unbound IPv4", client: "198.51.100.10:5353", want: want("", "", "")},
		{name: "IPv6 /48", client: "[2001:db8:1:1::1]:5353", want: bound("h1", "kid")},
		{name: "longest IPv6 prefix wins", client: "[2001:db8:1:2ff::1]:5353", want: bound("h2", "teen")},
		{name: "IPv6 /64", client: "[2001:db8:3:4::99]:5353", want: bound("h3", "new-device")},
		{name: "outside the /64", client: "[2001:db8:3:5::99]:5353", want: want("", "", "")},
		{name: "another household's device cannot take a line", client: "198.51.100.11:5353", want: bound("h3", "new-device")},
		{name: "a device's own client id wins on any line", client: "198.51.100.11:5353", clientID: "squatter", want: pipeline.Identity{Household: "h2", Device: "h2-squatter", Profile: "teen", Via: "client-id"}},
		{name: "CPE id from a trusted forwarder", client: forwarder, opts: []string{"cpe-00042"}, want: boundVia("h2", "teen", viaBindCPE)},
		{name: "CPE id from anyone else is ignored", client: "198.51.100.10:5353", opts: []string{"cpe-00042"}, want: want("", "", "")},
		{name: "client id binding, any case", client: stranger, clientID: "line-0001", want: boundVia("h1", "kid", viaBindClientID)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := query()
			for _, o := range tc.opts {
				q = query(deviceIDOpt(o))
			}
			r := request(q, tc.client)
			r.ClientID = tc.clientID
			if !id.Apply(r) {
				t.Fatal("refused")
			}
			if r.Identity != tc.want {
				t.Errorf("identity = %+v, want %+v", r.Identity, tc.want)
			}
		})
	}
}

// TestBindingsAllocs guards the lookups an ISP's every query makes.
func TestBindingsAllocs(t *testing.T) {
	id := newTestIdentifier(t, ispConfig())
	for _, client := range []string{"198.51.100.9:5353", "[2001:db8:1:2ff::1]:5353", "198.51.100.10:5353"} {
		r := request(query(), client)
		if n := testing.AllocsPerRun(100, func() { id.Identify(r) }); n != 0 {
			t.Errorf("%s: %v allocations", client, n)
		}
	}
	r := request(query(deviceIDOpt("cpe-00042")), forwarder)
	if n := testing.AllocsPerRun(100, func() { id.Identify(r) }); n != 0 {
		t.Errorf("CPE id: %v allocations", n)
	}
}

// TestBindingErrors checks that a binding that cannot match is refused
// with a message naming it.
func TestBindingErrors(t *testing.T) {
	tests := []struct {
		name    string
		b       Binding
		wantErr string
	}{
		{"no household", Binding{Addr: netip.MustParseAddr("192.0.2.1")}, "without a household"},
		{"nothing", Binding{Household: "h1"}, "want exactly one"},
		{"two", Binding{Household: "h1", Addr: netip.MustParseAddr("192.0.2.1"), CPE: "x"}, "have 2"},
		{"IPv6 address as IPv4", Binding{Household: "h1", Addr: netip.MustParseAddr("2001:db8::1")}, "not an IPv4 address"},
		{"/40", Binding{Household: "h1", Prefix: netip.MustParsePrefix("2001:db8::/40")}, "/48 to /64"},
		{"/96", Binding{Household: "h1", Prefix: netip.MustParsePrefix("2001:db8::/96")}, "/48 to /64"},
		{"IPv4 prefix", Binding{Household: "h1", Prefix: netip.MustParsePrefix("192.0.2.0/24")}, "/48 to /64"},
		{"client id with a dot", Binding{Household: "h1", ClientID: "a.b"}, `client id "a.b"`},
		{"long CPE id", Binding{Household: "h1", CPE: strings.Repeat("x", 64)}, "at most 63"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ispConfig()
			c.Bindings = []Binding{tc.b}
			if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New: %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

// TestUpdate checks that an update shows in the new Identifier only.
func TestUpdate(t *testing.T) {
	console := ispConfig().Devices[0]
	moved := console
	moved.IPs = addrs("198.51.100.70")
	tests := []struct {
		name   string
		u      Update
		client string
		want   pipeline.Identity
	}{
		{"device moves to another address: the old one is its line's again", Update{Remove: []Device{console}, Put: []Device{moved}},
			"198.51.100.7:5353", bound("h1", "kid")},
		{"device moves to another address: the new one is the device's", Update{Remove: []Device{console}, Put: []Device{moved}},
			"198.51.100.70:5353", pipeline.Identity{Household: "h1", Device: "h1-console", Profile: "tween", Via: "ip"}},
		{"household default changes", Update{Households: []Household{{ID: "h2", DefaultProfile: "adult"}}},
			"198.51.100.8:5353", pipeline.Identity{Household: "h2", Device: "h2-laptop", Profile: "adult", Via: "ip"}},
		{"household deleted", Update{RemoveHouseholds: []string{"h2"}}, "198.51.100.9:5353", bound("h2", "new-device")},
		{"binding moves to another household", Update{Bindings: []Binding{{Household: "h1", Addr: netip.MustParseAddr("198.51.100.9")}}},
			"198.51.100.9:5353", bound("h1", "kid")},
		{"binding removed", Update{RemoveBindings: []Binding{{Household: "h2", Addr: netip.MustParseAddr("198.51.100.9")}}},
			"198.51.100.9:5353", want("", "", "")},
		{"binding removed under its household's device: the device stays", Update{RemoveBindings: []Binding{{Addr: netip.MustParseAddr("198.51.100.7")}}},
			"198.51.100.7:5353", pipeline.Identity{Household: "h1", Device: "h1-console", Profile: "tween", Via: "ip"}},
		{"binding removed under another household's device: the device is recognised", Update{RemoveBindings: []Binding{{Addr: netip.MustParseAddr("198.51.100.11")}}},
			"198.51.100.11:5353", pipeline.Identity{Household: "h2", Device: "h2-squatter", Profile: "teen", Via: "ip"}},
		{"device removed from its line, then the line: nothing", Update{Remove: []Device{console}, RemoveBindings: []Binding{{Addr: netip.MustParseAddr("198.51.100.7")}}},
			"198.51.100.7:5353", want("", "", "")},
		{"a line bound where a device is: the device of that household stays", Update{Bindings: []Binding{{Household: "h2", Addr: netip.MustParseAddr("198.51.100.8")}}},
			"198.51.100.8:5353", pipeline.Identity{Household: "h2", Device: "h2-laptop", Profile: "teen", Via: "ip"}},
		{"prefix removed: the shorter one holds", Update{RemoveBindings: []Binding{{Prefix: netip.MustParsePrefix("2001:db8:1:200::/56")}}},
			"[2001:db8:1:2ff::1]:5353", bound("h1", "kid")},
		{"default profile changes", Update{DefaultProfile: "guest"}, "198.51.100.10:5353", pipeline.Identity{Profile: "guest", Via: "default"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := newTestIdentifier(t, ispConfig())
			before := old.Identify(request(query(), tc.client))
			next, err := old.Update(tc.u)
			if err != nil {
				t.Fatal(err)
			}
			if got := next.Identify(request(query(), tc.client)); got != tc.want {
				t.Errorf("after: %+v, want %+v", got, tc.want)
			}
			if got := old.Identify(request(query(), tc.client)); got != before {
				t.Errorf("the old Identifier changed: %+v, was %+v", got, before)
			}
		})
	}
}

// TestUpdateConflict checks that an update giving one device another's
// identifier fails and changes nothing.
func TestUpdateConflict(t *testing.T) {
	old := newTestIdentifier(t, ispConfig())
	thief := Device{Name: "thief", Household: "h2", IPs: addrs("198.51.100.7")}
	if _, err := old.Update(Update{Put: []Device{thief}}); err == nil || !strings.Contains(err.Error(), `already claimed by device "h1-console"`) {
		t.Fatalf("Update: %v, want a conflict", err)
	}
	if got := old.Identify(request(query(), "198.51.100.7:5353")); got.Device != "h1-console" {
		t.Errorf("after the failed update: %+v", got)
	}
}
