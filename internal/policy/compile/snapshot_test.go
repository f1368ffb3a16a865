package compile

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/catalog"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/lists"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/store"
)

// testPlan plans a small config over the embedded catalog and compiles
// its (embedded) lists.
func testPlan(t testing.TB) (*Plan, *lists.Compiled) {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte("data_dir: "+t.TempDir()+"\ndefault_profile: adult\nlists: {defaults: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(cfg, cat, false)
	if err != nil {
		t.Fatal(err)
	}
	m, err := lists.NewManager(lists.ManagerConfig{Entries: p.Entries()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// identify returns the profile the snapshot gives a query from addr.
func identify(s *Snapshot, addr string) string {
	r := &pipeline.Request{Msg: new(dns.Msg).SetQuestion("example.com.", dns.TypeA), Client: netip.AddrPortFrom(netip.MustParseAddr(addr), 53)}
	return s.Identity.Identify(r).Profile
}

// TestApplyEqualsCompile checks that applying a delta to a snapshot gives
// what compiling the resulting state whole gives.
func TestApplyEqualsCompile(t *testing.T) {
	p, c := testPlan(t)
	home := store.Household{ID: store.HomeHousehold, Name: "Home"}
	tab := store.Device{ID: "tab", Household: store.HomeHousehold, Name: "Tab", Profile: "kid", IPs: []string{"192.168.1.10"}}
	phone := store.Device{ID: "phone", Household: store.HomeHousehold, Name: "Phone", Profile: "teen", IPs: []string{"192.168.1.11"}}
	grant := store.Grant{ID: "g1", Device: "tab", Kind: store.GrantPause, Until: t0.Add(time.Hour)}
	base := store.State{Seq: 3, Households: []store.Household{home}, Devices: []store.Device{phone, tab}, Grants: []store.Grant{grant}}
	tests := []struct {
		name  string
		delta Delta
		want  store.State
		// wantProfiles maps source addresses to the profile they get.
		wantProfiles map[string]string
	}{
		{"nothing", Delta{}, base, map[string]string{"192.168.1.10": "kid~tab", "192.168.1.11": "teen"}},
		{"device moved to another profile", Delta{Seq: 4, Devices: []store.Device{{ID: "phone", Household: store.HomeHousehold, Name: "Phone", Profile: "adult", IPs: []string{"192.168.1.11"}}}},
			store.State{Seq: 4, Households: base.Households, Devices: []store.Device{{ID: "phone", Household: store.HomeHousehold, Name: "Phone", Profile: "adult", IPs: []string{"192.168.1.11"}}, tab}, Grants: base.Grants},
			map[string]string{"192.168.1.10": "kid~tab", "192.168.1.11": "adult"}},
		{"grant deleted", Delta{Seq: 4, Deleted: []store.Change{{Kind: store.KindGrant, ID: "g1"}}},
			store.State{Seq: 4, Households: base.Households, Devices: base.Devices},
			map[string]string{"192.168.1.10": "kid", "192.168.1.11": "teen"}},
		{"device deleted with its grants", Delta{Seq: 5, Deleted: []store.Change{{Kind: store.KindDevice, ID: "tab"}}},
			store.State{Seq: 5, Households: base.Households, Devices: []store.Device{phone}},
			map[string]string{"192.168.1.10": "adult", "192.168.1.11": "teen"}},
		{"new device", Delta{Seq: 4, Devices: []store.Device{{ID: "aaa", Household: store.HomeHousehold, Name: "A", Profile: "tween", IPs: []string{"192.168.1.12"}}}},
			store.State{Seq: 4, Households: base.Households, Devices: []store.Device{{ID: "aaa", Household: store.HomeHousehold, Name: "A", Profile: "tween", IPs: []string{"192.168.1.12"}}, phone, tab}, Grants: base.Grants},
			map[string]string{"192.168.1.10": "kid~tab", "192.168.1.11": "teen", "192.168.1.12": "tween"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prev, err := p.Compile(identity.Config{}, c, base, t0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := prev.Apply(tc.delta, t0)
			if err != nil {
				t.Fatal(err)
			}
			whole, err := p.Compile(identity.Config{}, c, tc.want, t0)
			if err != nil {
				t.Fatal(err)
			}
			for addr, want := range tc.wantProfiles {
				if g, w := identify(got, addr), identify(whole, addr); g != want || w != want {
					t.Errorf("%s: applied gives %s, compiled whole gives %s, want %s", addr, g, w, want)
				}
			}
			if got.State().Seq != tc.want.Seq || len(got.State().Devices) != len(tc.want.Devices) || len(got.State().Grants) != len(tc.want.Grants) {
				t.Errorf("state after apply: %+v, want %+v", got.State(), tc.want)
			}
			if identify(prev, "192.168.1.10") != "kid~tab" {
				t.Error("Apply changed the previous snapshot")
			}
		})
	}
}

// TestIdentifySetsPolicyOfSameSnapshot checks the Identify step hands on
// the policy of the snapshot whose tables identified the device.
func TestIdentifySetsPolicyOfSameSnapshot(t *testing.T) {
	p, c := testPlan(t)
	var l Live
	s1, err := p.Compile(identity.Config{}, c, store.State{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	l.Store(s1)
	var s2 *Snapshot
	var got *pipeline.Request
	h := l.Identify()(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
		// A new generation arrives while the query is between steps.
		d := Delta{Seq: 1, Households: []store.Household{{ID: "h1"}}, Profiles: []store.Profile{{ID: "h1-kid", Household: "h1", Preset: "kid"}}}
		if s2, err = s1.Apply(d, t0); err != nil {
			return err
		}
		l.Store(s2)
		got = r
		return nil
	}))
	r := &pipeline.Request{Msg: new(dns.Msg).SetQuestion("example.com.", dns.TypeA), Client: netip.MustParseAddrPort("192.168.1.10:53")}
	if err := h.ServeDNS(context.Background(), nil, r); err != nil {
		t.Fatal(err)
	}
	if got.Policy != s1.Policy || got.Identity.Profile != "adult" {
		t.Errorf("request policy %p (identity %+v), want the first snapshot's %p", got.Policy, got.Identity, s1.Policy)
	}
	if l.Load() != s2 || s2.Policy == s1.Policy {
		t.Error("the second snapshot was not swapped in")
	}
}
