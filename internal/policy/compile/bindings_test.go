package compile

import (
	"testing"

	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/store"
)

// TestBindings: a bound address gets its household's default profile
// (the snapshot's default when that is unknown), deltas add, move and
// remove bindings, and a binding of a missing household (which the store
// never keeps: deleting a household deletes its bindings) gives the
// snapshot's default profile.
func TestBindings(t *testing.T) {
	p, c := testPlan(t)
	st := store.State{
		Seq: 1,
		Households: []store.Household{
			{ID: "smiths", DefaultProfile: "kid"},
			{ID: "joneses", DefaultProfile: "no-such-profile"},
		},
		Bindings: []store.Binding{
			{Kind: store.BindIPv4, Key: "198.51.100.7", Household: "smiths"},
			{Kind: store.BindIPv6, Key: "2001:db8:9::/48", Household: "joneses"},
			{Kind: store.BindIPv4, Key: "198.51.100.9", Household: "gone"},
		},
	}
	s, err := p.Compile(identity.Config{}, c, st, t0)
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{"198.51.100.7": "kid", "2001:db8:9::1": "adult", "198.51.100.9": "adult", "198.51.100.8": "adult"} {
		if got := identify(s, addr); got != want {
			t.Errorf("compiled: %s gets %q, want %q", addr, got, want)
		}
	}

	s2, err := s.Apply(Delta{Seq: 2,
		Bindings: []store.Binding{
			{Kind: store.BindIPv4, Key: "198.51.100.7", Household: "joneses"},
			{Kind: store.BindIPv4, Key: "198.51.100.8", Household: "smiths"},
		},
		Deleted: []store.Change{{Kind: store.KindBinding, ID: store.BindingID(store.BindIPv6, "2001:db8:9::/48")}},
	}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{"198.51.100.7": "adult", "198.51.100.8": "kid", "2001:db8:9::1": "adult"} {
		if got := identify(s2, addr); got != want {
			t.Errorf("after the delta: %s gets %q, want %q", addr, got, want)
		}
	}
	if got := identify(s, "198.51.100.7"); got != "kid" {
		t.Errorf("the old snapshot changed: %q", got)
	}
	if bs := s2.State().Bindings; len(bs) != 3 || bs[0].Key != "198.51.100.7" || bs[0].Household != "joneses" {
		t.Errorf("state after the delta: %+v", bs)
	}
}
