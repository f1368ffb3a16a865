package compile

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"unsafe"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/catalog"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/lists"
	"github.com/hearth-dns/hearth/internal/netid"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/store"
)

// configDevicesPlan is testPlan with config file devices that store
// devices fight: d1 (a store device's name too) holds a pool address,
// cfg a pool MAC.
func configDevicesPlan(t testing.TB) (*Plan, *lists.Compiled) {
	t.Helper()
	yaml := "data_dir: " + t.TempDir() + "\ndefault_profile: adult\nlists: {defaults: false}\n" +
		"devices:\n  - {name: d1, ip: 192.168.1.1, profile: kid}\n  - {name: cfg, mac: \"aa:bb:cc:00:00:02\", profile: teen}\n"
	cfg, err := config.Parse("test.yaml", []byte(yaml))
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
	_, c := testPlan(t)
	return p, c
}

// behaviour is what a snapshot does with every device, identifier and
// item of the test pools: outcome, plus each identifier's owner, each
// device as Device returns it with its profile's spec, the build's
// Problems and the state.
func behaviour(s *Snapshot) []string {
	out := outcome(s)
	var ks []netid.Key
	for _, v := range poolIPs {
		ks = append(ks, netid.Key{Kind: netid.KindIP, Value: v})
	}
	for _, v := range poolMACs {
		ks = append(ks, netid.Key{Kind: netid.KindMAC, Value: v})
	}
	for _, v := range []string{"kid-a", "kid-b"} {
		ks = append(ks, netid.Key{Kind: netid.KindClientID, Value: v})
	}
	for _, k := range ks {
		o, ok := s.Identity.Owner(k)
		out = append(out, fmt.Sprintf("%v owned by %q %v", k, o, ok))
	}
	for _, n := range append(slices.Clone(poolDevices), "cfg", "bad") {
		d, ok := s.Device(n)
		i, has := s.Policy.Profile(d.Profile)
		spec := s.Policy.ProfileSpec(i)
		out = append(out, fmt.Sprintf("device %s %v: %+v profile %v block=%v grants=%d", n, ok, d, has, spec.Block, len(spec.Grants)))
	}
	var problems []string
	for _, p := range s.Problems {
		problems = append(problems, p.Error())
	}
	slices.Sort(problems)
	for _, p := range problems {
		out = append(out, "build problem: "+p)
	}
	out = append(out, fmt.Sprintf("state %+v", s.State()))
	return out
}

// TestBulkCompileEqualsApply compiles random states (devices fighting
// over addresses and MACs with each other and with the config file's
// devices, new devices, store copies of config devices, devices set
// aside, own profiles, grants, bindings moving and set aside), given in
// the store's order and shuffled with stale versions of some devices,
// households and bindings before their last, through Compile's bulk path and through Apply of the
// same state as one delta to the empty snapshot, and checks both behave
// alike.
func TestBulkCompileEqualsApply(t *testing.T) {
	for _, plan := range []struct {
		name string
		make func(testing.TB) (*Plan, *lists.Compiled)
	}{{"no config devices", testPlan}, {"config devices", configDevicesPlan}} {
		p, c := plan.make(t)
		for seed := range uint64(30) {
			t.Run(fmt.Sprintf("%s seed %d", plan.name, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 17))
				m := &model{households: map[string]store.Household{}, profiles: map[string]store.Profile{}, devices: map[string]store.Device{}, grants: map[string]store.Grant{}, bindings: map[string]store.Binding{}}
				var stale []store.Device
				for step := range 20 + r.IntN(40) {
					d := m.write(r, int64(step+1))
					stale = append(stale, d.Devices...)
				}
				if r.IntN(2) == 0 {
					m.devices["bad"] = store.Device{ID: "bad", Household: "h1", IPs: []string{"192.168.1.300"}}
				}
				if r.IntN(2) == 0 {
					b := store.Binding{Kind: store.BindIPv4, Key: "198.51.100.9", Household: ""}
					m.bindings[store.BindingID(b.Kind, b.Key)] = b
				}
				st := m.state(99)
				states := []store.State{st}
				shuffled := st
				shuffled.Devices = slices.Clone(st.Devices)
				r.Shuffle(len(shuffled.Devices), func(i, j int) {
					shuffled.Devices[i], shuffled.Devices[j] = shuffled.Devices[j], shuffled.Devices[i]
				})
				// Stale versions of devices still there first: the last
				// version of an id wins.
				stale = slices.DeleteFunc(stale, func(d store.Device) bool { _, ok := m.devices[d.ID]; return !ok })
				shuffled.Devices = append(stale[:min(len(stale), 5)], shuffled.Devices...)
				// Households and bindings out of order, each after a stale
				// version: a household with another default, a binding
				// set aside (no household).
				shuffled.Households = slices.Clone(st.Households)
				slices.Reverse(shuffled.Households)
				for _, h := range st.Households[:min(1, len(st.Households))] {
					h.DefaultProfile = "teen"
					shuffled.Households = append([]store.Household{h}, shuffled.Households...)
				}
				shuffled.Bindings = slices.Clone(st.Bindings)
				slices.Reverse(shuffled.Bindings)
				for _, b := range st.Bindings[:min(1, len(st.Bindings))] {
					b.Household = ""
					shuffled.Bindings = append([]store.Binding{b}, shuffled.Bindings...)
				}
				states = append(states, shuffled)
				for i, st := range states {
					bulk, err := p.Compile(identity.Config{}, c, st, t0)
					if err != nil {
						t.Fatalf("state %d: Compile: %v", i, err)
					}
					empty, err := p.empty(identity.Config{}, c, identity.Expect{})
					if err != nil {
						t.Fatal(err)
					}
					applied, err := empty.Apply(Delta{Seq: st.Seq, Households: st.Households, Profiles: st.Profiles, Devices: st.Devices, Grants: st.Grants, Bindings: st.Bindings}, t0)
					if err != nil {
						t.Fatalf("state %d: Apply: %v", i, err)
					}
					got, want := behaviour(bulk), behaviour(applied)
					if !slices.Equal(got, want) {
						for j := range max(len(got), len(want)) {
							g, w := "", ""
							if j < len(got) {
								g = got[j]
							}
							if j < len(want) {
								w = want[j]
							}
							if g != w {
								t.Errorf("state %d:\n bulk:    %s\n applied: %s", i, g, w)
							}
						}
						t.FailNow()
					}
					if !reflect.DeepEqual(bulk.State(), m.state(99)) {
						t.Fatalf("state %d: State() = %+v, want %+v", i, bulk.State(), m.state(99))
					}
				}
			})
		}
	}
}

// relocate sets every string in v (structs, slices, pointers) to a copy
// cut from *buf, which must have room: the copies share its bytes.
func relocate(v reflect.Value, buf *[]byte) {
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		if len(*buf)+len(s) > cap(*buf) {
			panic("relocate: buffer too small")
		}
		n := len(*buf)
		*buf = append(*buf, s...)
		if len(s) > 0 {
			v.SetString(unsafe.String(&(*buf)[n], len(s)))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				relocate(v.Field(i), buf)
			}
		}
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		v.Set(c)
		for i := range v.Len() {
			relocate(v.Index(i), buf)
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(v.Elem())
		v.Set(c)
		relocate(c.Elem(), buf)
	}
}

// TestBulkKeepsNoStateStrings checks that a snapshot Compile builds
// keeps none of the state's strings (ids, names, identifiers): they are
// garbage once the build is done, rather than small objects that keep
// the state's memory in use. Every string of the state shares one
// buffer, scribbled over after the build; the snapshot must behave as
// one built from the same state with strings of its own.
func TestBulkKeepsNoStateStrings(t *testing.T) {
	for _, plan := range []struct {
		name string
		make func(testing.TB) (*Plan, *lists.Compiled)
	}{{"no config devices", testPlan}, {"config devices", configDevicesPlan}} {
		p, c := plan.make(t)
		for seed := range uint64(20) {
			t.Run(fmt.Sprintf("%s seed %d", plan.name, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 29))
				m := &model{households: map[string]store.Household{}, profiles: map[string]store.Profile{}, devices: map[string]store.Device{}, grants: map[string]store.Grant{}, bindings: map[string]store.Binding{}}
				for step := range 20 + r.IntN(40) {
					m.write(r, int64(step+1))
				}
				for _, kind := range []string{store.BindCPE, store.BindClientID} {
					b := store.Binding{Kind: kind, Key: "line-" + kind, Household: poolHH[r.IntN(len(poolHH))]}
					m.bindings[store.BindingID(b.Kind, b.Key)] = b
				}
				st := m.state(99)
				want, err := p.Compile(identity.Config{}, c, st, t0)
				if err != nil {
					t.Fatal(err)
				}
				shared := st
				buf := make([]byte, 0, 1<<20)
				relocate(reflect.ValueOf(&shared).Elem(), &buf)
				got, err := p.Compile(identity.Config{}, c, shared, t0)
				if err != nil {
					t.Fatal(err)
				}
				for i := range buf {
					buf[i] = '#'
				}
				if g, w := behaviour(got), behaviour(want); !slices.Equal(g, w) {
					for j := range min(len(g), len(w)) {
						if g[j] != w[j] {
							t.Errorf("after the state's strings changed:\n got:  %s\n want: %s", g[j], w[j])
						}
					}
					t.FailNow()
				}
				for _, b := range st.Bindings {
					req := &pipeline.Request{Msg: new(dns.Msg).SetQuestion("example.com.", dns.TypeA), Transport: pipeline.DoH, Client: netip.MustParseAddrPort("203.0.113.1:53")}
					switch b.Kind {
					case store.BindClientID:
						req.ClientID = b.Key
					default:
						continue
					}
					if g, w := got.Identity.Identify(req), want.Identity.Identify(req); g != w {
						t.Errorf("binding %s: Identify = %+v, want %+v", b.Key, g, w)
					}
				}
			})
		}
	}
}
