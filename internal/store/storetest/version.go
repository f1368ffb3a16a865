package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// testVersion checks that Version summarises the state Load reads, after
// each kind of write, and that it changes with every write a node could
// miss: a create, an update (same count, higher version) and a delete.
func testVersion(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	agree := func(what string) store.Version {
		t.Helper()
		v, err := s.Version(ctx)
		must(t, what+": version", err)
		st, err := s.Load(ctx)
		must(t, what+": load", err)
		for _, k := range []string{store.KindHousehold, store.KindProfile, store.KindDevice, store.KindGrant} {
			if _, ok := v.Kinds[k]; !ok {
				t.Errorf("%s: the version lists no %ss: %+v", what, k, v)
			}
		}
		if d := store.Summarize(st).Disagrees(v); d != "" {
			t.Errorf("%s: Version %+v disagrees with Summarize(Load()): %s", what, v, d)
		}
		return v
	}
	prev := agree("empty")
	steps := []struct {
		name  string
		write func()
	}{
		{"create household", func() { putHousehold(t, s, "h1") }},
		{"create profile", func() { putProfile(t, s, "kid", "h1") }},
		{"update profile", func() {
			p, err := s.Profile(ctx, "kid")
			must(t, "get profile", err)
			p.Block = []string{"gambling"}
			_, err = s.PutProfile(ctx, p)
			must(t, "update profile", err)
		}},
		{"create device", func() { putDevice(t, s, "tab", "h1", "kid") }},
		{"add grant", func() { addGrant(t, s, "g1", "tab", t0.Add(time.Hour)) }},
		{"delete grant", func() { must(t, "delete grant", s.DeleteGrant(ctx, "g1")) }},
		{"delete device", func() { must(t, "delete device", s.DeleteDevice(ctx, "tab")) }},
	}
	for _, step := range steps {
		step.write()
		v := agree(step.name)
		if v.Seq <= prev.Seq {
			t.Errorf("%s: Seq %d, not after %d", step.name, v.Seq, prev.Seq)
		}
		if store.Summarize(store.State{Seq: v.Seq}).Disagrees(v) == "" {
			t.Errorf("%s: the version %+v does not tell the state from an empty one", step.name, v)
		}
		prev = v
	}
	// Same seq, same counts, one version more: a missed update.
	st, err := s.Load(ctx)
	must(t, "load", err)
	st.Profiles[0].Version--
	if store.Summarize(st).Disagrees(prev) == "" {
		t.Errorf("a state that missed an update agrees with the store's version %+v", prev)
	}
}

// testGrantByID checks Grant, the getter of one grant.
func testGrantByID(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	putHousehold(t, s, "h1")
	putDevice(t, s, "tab", "h1", "")
	want := addGrant(t, s, "g1", "tab", t0.Add(time.Hour))
	got, err := s.Grant(ctx, "g1")
	must(t, "grant g1", err)
	equal(t, "grant g1", got, want)
	_, err = s.Grant(ctx, "nope")
	wantErr(t, "a missing grant", err, store.ErrNotFound)
}
