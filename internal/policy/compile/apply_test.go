package compile

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/store"
)

// model is a store state kept as maps, changed by random writes.
type model struct {
	households map[string]store.Household
	profiles   map[string]store.Profile
	devices    map[string]store.Device
	grants     map[string]store.Grant
	bindings   map[string]store.Binding
}

func (m *model) state(seq int64) store.State {
	st := store.State{Seq: seq}
	st.Households = values(m.households)
	st.Profiles = values(m.profiles)
	st.Devices = values(m.devices)
	st.Grants = values(m.grants)
	st.Bindings = values(m.bindings)
	return st
}

func values[V any](m map[string]V) []V {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []V
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

// Pools the random writes draw from: few enough that devices fight over
// addresses and MACs, and bindings over lines.
var (
	poolIPs      = []string{"192.168.1.1", "192.168.1.2", "192.168.1.3", "192.168.1.4", "2001:db8::5"}
	poolMACs     = []string{"aa:bb:cc:00:00:01", "aa:bb:cc:00:00:02", "aa:bb:cc:00:00:03"}
	poolLines    = []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"}
	poolPrefixes = []string{"2001:db8:1::/48", "2001:db8:1:100::/56", "2001:db8:1:180::/64"}
	poolHH       = []string{store.HomeHousehold, "h1", "h2"}
	poolProfiles = []string{"", "kid", "teen", "sp1", "sp2", "sp3", "missing"}
	poolDevices  = []string{"d1", "d2", "d3", "d4", "d5", "d6"}
)

// write makes one random write to m and returns it as a Delta.
func (m *model) write(r *rand.Rand, seq int64) Delta {
	d := Delta{Seq: seq}
	pick := func(l []string) string { return l[r.IntN(len(l))] }
	switch r.IntN(10) {
	case 0:
		h := store.Household{ID: pick(poolHH), DefaultProfile: pick(poolProfiles), TimeZone: pick([]string{"", "Europe/Paris", "America/New_York"})}
		m.households[h.ID] = h
		d.Households = append(d.Households, h)
	case 1:
		p := store.Profile{ID: pick([]string{"sp1", "sp2", "sp3"}), Household: pick(poolHH), Preset: pick([]string{"kid", "teen", "adult"})}
		if r.IntN(4) == 0 {
			p.Block = []string{"gambling"}
		}
		if r.IntN(8) == 0 {
			p.Block = []string{"no-such-category"}
		}
		m.profiles[p.ID] = p
		d.Profiles = append(d.Profiles, p)
	case 2, 3, 4:
		dev := store.Device{ID: pick(poolDevices), Household: pick(poolHH), Profile: pick(poolProfiles), New: r.IntN(3) == 0}
		for range r.IntN(3) {
			dev.IPs = append(dev.IPs, pick(poolIPs))
		}
		if r.IntN(2) == 0 {
			dev.MACs = append(dev.MACs, pick(poolMACs))
		}
		if r.IntN(4) == 0 {
			dev.ClientIDs = []string{"kid-" + pick([]string{"a", "b"})}
		}
		m.devices[dev.ID] = dev
		d.Devices = append(d.Devices, dev)
	case 5:
		g := store.Grant{ID: fmt.Sprint("g", r.IntN(4)), Device: pick(poolDevices), Kind: pick([]string{store.GrantPause, store.GrantAllow}), Target: "gambling", Until: t0.Add(time.Duration(r.IntN(3)-1) * time.Hour)}
		if _, ok := m.devices[g.Device]; !ok {
			return d
		}
		m.grants[g.ID] = g
		d.Grants = append(d.Grants, g)
	case 6:
		b := store.Binding{Kind: store.BindIPv4, Key: pick(poolLines), Household: pick(poolHH)}
		if r.IntN(2) == 0 {
			b.Kind, b.Key = store.BindIPv6, pick(poolPrefixes)
		}
		m.bindings[store.BindingID(b.Kind, b.Key)] = b
		d.Bindings = append(d.Bindings, b)
	default:
		// A delete of something that exists, by kind.
		kinds := []struct {
			kind string
			ids  []string
		}{
			{store.KindDevice, keysOf(m.devices)}, {store.KindGrant, keysOf(m.grants)},
			{store.KindProfile, keysOf(m.profiles)}, {store.KindBinding, keysOf(m.bindings)}, {store.KindHousehold, keysOf(m.households)},
		}
		k := kinds[r.IntN(len(kinds))]
		if len(k.ids) == 0 {
			return d
		}
		id := pick(k.ids)
		d.Deleted = append(d.Deleted, store.Change{Kind: k.kind, ID: id, Deleted: true})
		switch k.kind {
		case store.KindDevice:
			delete(m.devices, id)
			for gid, g := range m.grants {
				if g.Device == id {
					delete(m.grants, gid)
				}
			}
		case store.KindGrant:
			delete(m.grants, id)
		case store.KindProfile:
			delete(m.profiles, id)
		case store.KindBinding:
			delete(m.bindings, id)
		case store.KindHousehold:
			delete(m.households, id)
		}
	}
	return d
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// outcome is what a snapshot does with a query from each pool address and
// client id: the identity and the profile the policy then applies. The
// identity's ProfileHint must be the profile's index in the snapshot's
// policy (0 for a profile it does not have), however the snapshot was
// made; the index itself is left out, as two ways to the same state may
// number the profiles differently.
func outcome(s *Snapshot) []string {
	var out []string
	try := func(r *pipeline.Request) {
		id := s.Identity.Identify(r)
		i := s.Policy.ProfileOrDefault(id.Profile)
		var want int32
		if j, ok := s.Policy.Profile(id.Profile); ok {
			want = int32(j + 1)
		}
		if id.ProfileHint != want || s.Policy.ProfileHinted(id.Profile, id.ProfileHint) != i {
			out = append(out, fmt.Sprintf("%s: profile %q: hint %d, want %d", r.Client.Addr(), id.Profile, id.ProfileHint, want))
		}
		id.ProfileHint = 0
		spec := s.Policy.ProfileSpec(i)
		out = append(out, fmt.Sprintf("%s -> %+v -> %s block=%v grants=%d", r.Client.Addr(), id, spec.Name, spec.Block, len(spec.Grants)))
	}
	for _, a := range slices.Concat(poolIPs, poolLines, []string{"2001:db8:1:1::1", "2001:db8:1:1ff::1", "2001:db8:1:180::1"}) {
		try(&pipeline.Request{Msg: new(dns.Msg).SetQuestion("example.com.", dns.TypeA), Client: netip.AddrPortFrom(netip.MustParseAddr(a), 53)})
	}
	for _, c := range []string{"kid-a", "kid-b"} {
		try(&pipeline.Request{Msg: new(dns.Msg).SetQuestion("example.com.", dns.TypeA), Client: netip.MustParseAddrPort("203.0.113.1:53"), ClientID: c})
	}
	for _, n := range poolDevices {
		out = append(out, fmt.Sprintf("%s profile of %s", s.ProfileOf(n), n))
	}
	for _, p := range s.AllProblems() {
		out = append(out, "problem: "+p.Error())
	}
	return out
}

// TestApplyAgreesWithCompile applies random writes one delta at a time
// (devices fighting over addresses, profiles coming and going, grants,
// bindings moving) and checks after each that the snapshot answers as the
// state compiled whole does: incremental Apply must not depend on the
// order of the changes.
func TestApplyAgreesWithCompile(t *testing.T) {
	p, c := testPlan(t)
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 13))
			m := &model{households: map[string]store.Household{}, profiles: map[string]store.Profile{}, devices: map[string]store.Device{}, grants: map[string]store.Grant{}, bindings: map[string]store.Binding{}}
			s, err := p.Compile(identity.Config{}, c, store.State{}, t0)
			if err != nil {
				t.Fatal(err)
			}
			for step := range 60 {
				seq := int64(step + 1)
				d := m.write(r, seq)
				if s, err = s.Apply(d, t0); err != nil {
					t.Fatalf("step %d: Apply %+v: %v", step, d, err)
				}
				whole, err := p.Compile(identity.Config{}, c, m.state(seq), t0)
				if err != nil {
					t.Fatalf("step %d: Compile: %v", step, err)
				}
				got, want := outcome(s), outcome(whole)
				if !slices.Equal(got, want) {
					for i := range max(len(got), len(want)) {
						g, w := "", ""
						if i < len(got) {
							g = got[i]
						}
						if i < len(want) {
							w = want[i]
						}
						if g != w {
							t.Errorf("step %d after %+v:\n applied: %s\n whole:   %s", step, d, g, w)
						}
					}
					t.FailNow()
				}
				if st := s.State(); !reflect.DeepEqual(st, m.state(seq)) {
					t.Fatalf("step %d: State() = %+v, want %+v", step, st, m.state(seq))
				}
			}
		})
	}
}

// TestDeltasNeverMixGenerations races queries through Live's Identify
// step against deltas that give a device a grant profile and take it away
// again: "kid~tab" exists only in the generations with the grant, so a
// query identified with one generation and decided with the next would
// fall back to the default profile. Every decision must name kid or
// kid~tab, never the default.
func TestDeltasNeverMixGenerations(t *testing.T) {
	p, c := testPlan(t)
	home := store.Household{ID: store.HomeHousehold}
	tab := store.Device{ID: "tab", Household: store.HomeHousehold, Profile: "kid", IPs: []string{"192.168.1.10"}}
	s, err := p.Compile(identity.Config{}, c, store.State{Households: []store.Household{home}, Devices: []store.Device{tab}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	var l Live
	l.Store(s)
	var decided []string
	var mu sync.Mutex
	h := l.Identify()(pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
		i := r.Policy.ProfileOrDefault(r.Identity.Profile)
		name := r.Policy.ProfileName(r.Policy.Decide(i, t0, []byte("example.com"), dns.TypeA).Profile)
		if name != "kid" && name != "kid~tab" {
			mu.Lock()
			decided = append(decided, name)
			mu.Unlock()
		}
		return nil
	}))
	var stop atomic.Bool
	var changes atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		grant := store.Grant{ID: "g1", Device: "tab", Kind: store.GrantAllow, Target: "social", Until: t0.Add(time.Hour)}
		for i := 0; !stop.Load() || i < 50; i++ {
			d := Delta{Seq: int64(i + 1), Grants: []store.Grant{grant}}
			if i%2 == 1 {
				d = Delta{Seq: int64(i + 1), Deleted: []store.Change{{Kind: store.KindGrant, ID: "g1", Deleted: true}}}
			}
			next, err := l.Load().Apply(d, t0)
			if err != nil {
				t.Error(err)
				return
			}
			l.Store(next)
			changes.Add(1)
		}
	})
	var asked atomic.Int64
	for range 2 {
		wg.Go(func() {
			for range 2000 {
				r := &pipeline.Request{Msg: new(dns.Msg).SetQuestion("example.com.", dns.TypeA), Client: netip.MustParseAddrPort("192.168.1.10:53")}
				if err := h.ServeDNS(context.Background(), nil, r); err != nil {
					t.Error(err)
					return
				}
				asked.Add(1)
			}
			stop.Store(true)
		})
	}
	wg.Wait()
	if len(decided) > 0 {
		t.Errorf("%d queries decided with another generation's profiles: %v", len(decided), decided[:min(5, len(decided))])
	}
	if changes.Load() < 50 || asked.Load() != 4000 {
		t.Fatalf("%d changes, %d queries: the race did not run", changes.Load(), asked.Load())
	}
}
