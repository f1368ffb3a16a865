package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

func bindingID(b store.Binding) string { return store.BindingID(b.Kind, b.Key) }

// testBindings: bindings are stored in canonical form, listed by kind and
// key, moved with one change, left alone when equal, and refused whole
// when one is wrong.
func testBindings(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	putHousehold(t, s, "h1")
	putHousehold(t, s, "h2")
	st, err := s.Load(ctx)
	must(t, "load", err)
	start := st.Seq

	at := t0.Add(time.Minute)
	n, err := s.PutBindings(ctx, []store.Binding{
		{Kind: store.BindIPv6, Key: "2001:DB8:7:0:1::/56", Household: "h1", Updated: at},
		{Kind: store.BindIPv4, Key: "192.0.2.7", Household: "h1", Origin: store.OriginRADIUS, Session: "s-1", Updated: at},
		{Kind: store.BindCPE, Key: "CPE-0042", Household: "h2", Origin: store.OriginImport, Updated: at},
		{Kind: store.BindClientID, Key: "Smith-Family", Household: "h2", Updated: at},
		// The last of one kind and key wins.
		{Kind: store.BindIPv4, Key: "198.51.100.1", Household: "h1", Updated: at},
		{Kind: store.BindIPv4, Key: "::ffff:198.51.100.1", Household: "h2", Updated: at},
	})
	must(t, "put bindings", err)
	if n != 5 {
		t.Errorf("put bindings changed %d, want 5", n)
	}
	utcAt := at.UTC()
	want := []store.Binding{
		{Kind: store.BindClientID, Key: "smith-family", Household: "h2", Origin: store.OriginAPI, Updated: utcAt},
		{Kind: store.BindCPE, Key: "cpe-0042", Household: "h2", Origin: store.OriginImport, Updated: utcAt},
		{Kind: store.BindIPv4, Key: "192.0.2.7", Household: "h1", Origin: store.OriginRADIUS, Session: "s-1", Updated: utcAt},
		{Kind: store.BindIPv4, Key: "198.51.100.1", Household: "h2", Origin: store.OriginAPI, Updated: utcAt},
		{Kind: store.BindIPv6, Key: "2001:db8:7::/56", Household: "h1", Origin: store.OriginAPI, Updated: utcAt},
	}
	all, err := s.Bindings(ctx, "")
	must(t, "list all bindings", err)
	equal(t, "all bindings", all, want)
	h1, err := s.Bindings(ctx, "h1")
	must(t, "list h1's bindings", err)
	equal(t, "h1's bindings", ids(h1, bindingID), []string{"ipv4:192.0.2.7", "ipv6:2001:db8:7::/56"})
	none, err := s.Bindings(ctx, "nope")
	must(t, "list a missing household's bindings", err)
	equal(t, "a missing household's bindings", none, []store.Binding(nil))

	got, err := s.Binding(ctx, store.BindIPv6, "2001:db8:7:0:ff::/56")
	must(t, "get by another spelling", err)
	equal(t, "binding by another spelling", got, want[4])
	_, err = s.Binding(ctx, store.BindIPv4, "192.0.2.8")
	wantErr(t, "get a missing binding", err, store.ErrNotFound)
	_, err = s.Binding(ctx, "mac", "aa:bb:cc:dd:ee:ff")
	wantErr(t, "get a binding of an unknown kind", err, store.ErrInvalid)

	// Equal again: nothing written. Moved: one change.
	n, err = s.PutBindings(ctx, []store.Binding{want[0], want[1]})
	must(t, "put equal bindings", err)
	if n != 0 {
		t.Errorf("putting equal bindings changed %d, want 0", n)
	}
	moved := want[2]
	moved.Household, moved.Session, moved.Updated = "h2", "s-2", time.Time{}
	before := time.Now()
	n, err = s.PutBindings(ctx, []store.Binding{moved})
	must(t, "move a binding", err)
	if n != 1 {
		t.Errorf("moving a binding changed %d, want 1", n)
	}
	got, err = s.Binding(ctx, store.BindIPv4, "192.0.2.7")
	must(t, "get the moved binding", err)
	if got.Household != "h2" || got.Session != "s-2" || got.Updated.Before(before.Add(-time.Second)) || got.Updated.Location() != time.UTC {
		t.Errorf("moved binding %+v: want household h2, session s-2, updated now in UTC", got)
	}

	// One wrong binding refuses the whole batch.
	_, err = s.PutBindings(ctx, []store.Binding{
		{Kind: store.BindIPv4, Key: "203.0.113.1", Household: "h1"},
		{Kind: store.BindIPv4, Key: "203.0.113.2", Household: "gone"},
	})
	wantErr(t, "a binding to a missing household", err, store.ErrInvalid)
	if err != nil && !strings.Contains(err.Error(), `"gone"`) {
		t.Errorf("error %q does not name the missing household", err)
	}
	_, err = s.Binding(ctx, store.BindIPv4, "203.0.113.1")
	wantErr(t, "the good binding of a refused batch", err, store.ErrNotFound)

	// A Stop of another session leaves the binding; its own removes it.
	n, err = s.DeleteBindings(ctx, []store.BindingKey{{Kind: store.BindIPv4, Key: "192.0.2.7", Session: "s-1"}})
	must(t, "delete with another session", err)
	if n != 0 {
		t.Errorf("deleting with another session deleted %d, want 0", n)
	}
	n, err = s.DeleteBindings(ctx, []store.BindingKey{
		{Kind: store.BindIPv4, Key: "192.0.2.7", Session: "s-2"},
		{Kind: store.BindCPE, Key: "CPE-0042"},
		{Kind: store.BindCPE, Key: "cpe-missing"},
	})
	must(t, "delete bindings", err)
	if n != 2 {
		t.Errorf("deleted %d bindings, want 2", n)
	}
	_, err = s.DeleteBindings(ctx, []store.BindingKey{{Kind: store.BindIPv6, Key: "2001:db8::/32"}})
	wantErr(t, "delete a /32", err, store.ErrInvalid)
	_, err = s.DeleteBindings(ctx, []store.BindingKey{{}})
	wantErr(t, "delete without kind, key or session", err, store.ErrInvalid)

	// A session's Stop without addresses removes all it made, and only
	// that: with a key of the same batch, each once in the feed.
	n, err = s.PutBindings(ctx, []store.Binding{
		{Kind: store.BindIPv4, Key: "203.0.113.9", Household: "h2", Origin: store.OriginRADIUS, Session: "s-3"},
		{Kind: store.BindIPv6, Key: "2001:db8:9::/48", Household: "h2", Origin: store.OriginRADIUS, Session: "s-3"},
		{Kind: store.BindIPv4, Key: "203.0.113.10", Household: "h2", Origin: store.OriginRADIUS, Session: "s-4"},
	})
	must(t, "put session bindings", err)
	if n != 3 {
		t.Errorf("put session bindings changed %d, want 3", n)
	}
	n, err = s.DeleteBindings(ctx, []store.BindingKey{{Session: "s-3"}, {Kind: store.BindIPv4, Key: "203.0.113.9"}})
	must(t, "delete a session's bindings", err)
	if n != 2 {
		t.Errorf("deleting session s-3 deleted %d, want 2", n)
	}
	_, err = s.Binding(ctx, store.BindIPv4, "203.0.113.10")
	must(t, "another session's binding stays", err)
	n, err = s.DeleteBindings(ctx, []store.BindingKey{{Session: "s-4"}})
	must(t, "delete session s-4", err)
	if n != 1 {
		t.Errorf("deleting session s-4 deleted %d, want 1", n)
	}

	// Deleting a household takes its bindings with it.
	must(t, "delete h1", s.DeleteHousehold(ctx, "h1"))
	all, err = s.Bindings(ctx, "")
	must(t, "list after deleting h1", err)
	equal(t, "bindings after deleting h1", ids(all, bindingID), []string{"client_id:smith-family", "ipv4:198.51.100.1"})

	put := func(id string) change { return change{store.KindBinding, id, false} }
	del := func(id string) change { return change{store.KindBinding, id, true} }
	equal(t, "feed", withoutSeq(allChanges(t, s, start, 100)), []change{
		put("client_id:smith-family"), put("cpe:cpe-0042"), put("ipv4:192.0.2.7"), put("ipv4:198.51.100.1"), put("ipv6:2001:db8:7::/56"),
		put("ipv4:192.0.2.7"),
		del("cpe:cpe-0042"), del("ipv4:192.0.2.7"),
		put("ipv4:203.0.113.10"), put("ipv4:203.0.113.9"), put("ipv6:2001:db8:9::/48"),
		del("ipv4:203.0.113.9"), del("ipv6:2001:db8:9::/48"),
		del("ipv4:203.0.113.10"),
		del("ipv6:2001:db8:7::/56"), {store.KindHousehold, "h1", true},
	})
	st, err = s.Load(ctx)
	must(t, "load", err)
	equal(t, "loaded bindings", st.Bindings, all)
}

// testInvalidBindings: every kind's key is checked, and nothing of a
// refused write is stored.
func testInvalidBindings(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	putHousehold(t, s, "h")
	tests := []struct {
		name string
		b    store.Binding
	}{
		{"unknown kind", store.Binding{Kind: "mac", Key: "aa:bb:cc:dd:ee:ff", Household: "h"}},
		{"ipv4 given an IPv6 address", store.Binding{Kind: store.BindIPv4, Key: "2001:db8::1", Household: "h"}},
		{"ipv4 out of range", store.Binding{Kind: store.BindIPv4, Key: "192.0.2.300", Household: "h"}},
		{"ipv4 network", store.Binding{Kind: store.BindIPv4, Key: "192.0.2.0/24", Household: "h"}},
		{"ipv4 multicast", store.Binding{Kind: store.BindIPv4, Key: "224.0.0.1", Household: "h"}},
		{"ipv6 address without length", store.Binding{Kind: store.BindIPv6, Key: "2001:db8::1", Household: "h"}},
		{"ipv6 /47", store.Binding{Kind: store.BindIPv6, Key: "2001:db8::/47", Household: "h"}},
		{"ipv6 /65", store.Binding{Kind: store.BindIPv6, Key: "2001:db8::/65", Household: "h"}},
		{"ipv6 given an IPv4 network", store.Binding{Kind: store.BindIPv6, Key: "192.0.2.0/24", Household: "h"}},
		{"ipv6 zoned", store.Binding{Kind: store.BindIPv6, Key: "fe80::%eth0/64", Household: "h"}},
		{"cpe empty", store.Binding{Kind: store.BindCPE, Key: "", Household: "h"}},
		{"cpe too long", store.Binding{Kind: store.BindCPE, Key: strings.Repeat("a", 64), Household: "h"}},
		{"cpe with a dot", store.Binding{Kind: store.BindCPE, Key: "cpe.1", Household: "h"}},
		{"client id starting with a hyphen", store.Binding{Kind: store.BindClientID, Key: "-kid", Household: "h"}},
		{"no household", store.Binding{Kind: store.BindIPv4, Key: "192.0.2.1"}},
		{"household id with capitals", store.Binding{Kind: store.BindIPv4, Key: "192.0.2.1", Household: "H"}},
		{"unknown origin", store.Binding{Kind: store.BindIPv4, Key: "192.0.2.1", Household: "h", Origin: "dhcp"}},
		{"session with a newline", store.Binding{Kind: store.BindIPv4, Key: "192.0.2.1", Household: "h", Session: "a\nb"}},
		{"session too long", store.Binding{Kind: store.BindIPv4, Key: "192.0.2.1", Household: "h", Session: strings.Repeat("s", 254)}},
	}
	for _, tc := range tests {
		_, err := s.PutBindings(ctx, []store.Binding{tc.b})
		wantErr(t, tc.name, err, store.ErrInvalid)
	}
	all, err := s.Bindings(ctx, "")
	must(t, "list", err)
	equal(t, "bindings after refused writes", all, []store.Binding(nil))
}
