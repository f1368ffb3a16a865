package app

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// TestNoAnswerMixesGenerations races DNS queries against store changes
// that move a device between two policy generations: a grant of its own
// is added and removed again and again. The device's own profile (kid
// plus the grant) exists only in the generation that has the grant, so a
// query identified with one generation and decided with the other falls
// back to the default profile, "strict", and says so in its EDE text.
// Every answer must come from one generation: profile=kid, never strict.
func TestNoAnswerMixesGenerations(t *testing.T) {
	cfg := apiConfig(t) + `profiles:
  kid: {block: [gambling]}
  strict: {block: [gambling, social, games]}
`
	cfg += "default_profile: strict\n"
	e := startHTTP(t, cfg, dnstest.Zone(t, policyRecords...))
	ctx := context.Background()
	st := e.app.store
	if _, err := st.PutDevice(ctx, store.Device{ID: "tab", Household: HomeHousehold, Name: "Tablet", Profile: "kid", IPs: []string{"127.0.0.5"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.app.sync.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	var stop atomic.Bool
	var changes int
	var changer sync.WaitGroup
	changer.Go(func() {
		for i := 0; !stop.Load() || i < 20; i++ {
			g, err := st.AddGrant(ctx, store.Grant{Device: "tab", Kind: store.GrantAllow, Target: "social", Until: e.clock.Now().Add(time.Hour)})
			if err != nil {
				t.Error(err)
				return
			}
			if err := e.app.sync.Sync(ctx); err != nil {
				t.Error(err)
				return
			}
			if err := st.DeleteGrant(ctx, g.ID); err != nil {
				t.Error(err)
				return
			}
			if err := e.app.sync.Sync(ctx); err != nil {
				t.Error(err)
				return
			}
			changes += 2
		}
	})

	tests := []struct {
		from, name   string
		wantAddr     string
		wantInText   string
		notInText    string
		wantTextOnce bool
	}{
		// The device: gambling is blocked by kid in both generations.
		{from: "127.0.0.5", name: "bet365.com", wantAddr: "0.0.0.0", wantInText: "profile=kid", notInText: "profile=strict"},
		// An unknown source always gets the default profile.
		{from: "127.0.0.6", name: "bet365.com", wantAddr: "0.0.0.0", wantInText: "profile=strict", notInText: "profile=kid"},
	}
	var askers sync.WaitGroup
	var answered atomic.Int64
	for _, tc := range tests {
		for range 2 {
			askers.Go(func() {
				for i := 0; i < 150; i++ {
					addr, text := ask(t, e, tc.from, tc.name)
					answered.Add(1)
					if addr != tc.wantAddr || !strings.Contains(text, tc.wantInText) || strings.Contains(text, tc.notInText) {
						t.Errorf("%s from %s: %q %q, want %s with %s (one generation)", tc.name, tc.from, addr, text, tc.wantAddr, tc.wantInText)
						return
					}
				}
			})
		}
	}
	askers.Wait()
	stop.Store(true)
	changer.Wait()
	if changes < 40 || answered.Load() != 600 {
		t.Fatalf("%d changes and %d answers: the race did not run", changes, answered.Load())
	}
	t.Log(fmt.Sprintf("%d answers raced %d policy changes", answered.Load(), changes))
}

// TestChangeBetweenIdentifyAndPolicy makes the race above happen every
// time: a hook between the Identify and Policy steps removes the device's
// grant and waits until the next generation serves. The query in flight
// was identified with the old generation, so it must be decided with the
// old one too (profile=kid), not with the new policy tables, which no
// longer know the device's own profile (profile=strict).
func TestChangeBetweenIdentifyAndPolicy(t *testing.T) {
	cfg := apiConfig(t) + `profiles:
  kid: {block: [gambling]}
  strict: {block: [gambling, social, games]}
`
	cfg += "default_profile: strict\n"
	var hook atomic.Pointer[func()]
	e := startListening(t, `http: "127.0.0.1:0"`, cfg, dnstest.Zone(t, policyRecords...), withAfterIdentify(func() {
		if f := hook.Swap(nil); f != nil {
			(*f)()
		}
	}))
	ctx := context.Background()
	st := e.app.store
	if _, err := st.PutDevice(ctx, store.Device{ID: "tab", Household: HomeHousehold, Name: "Tablet", Profile: "kid", IPs: []string{"127.0.0.5"}}); err != nil {
		t.Fatal(err)
	}
	g, err := st.AddGrant(ctx, store.Grant{Device: "tab", Kind: store.GrantAllow, Target: "social", Until: e.clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.app.sync.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	swap := func() {
		if err := st.DeleteGrant(ctx, g.ID); err != nil {
			t.Error(err)
		}
		if err := e.app.sync.Sync(ctx); err != nil {
			t.Error(err)
		}
	}
	hook.Store(&swap)
	if addr, text := ask(t, e, "127.0.0.5", "bet365.com"); addr != "0.0.0.0" || !strings.Contains(text, "profile=kid") {
		t.Fatalf("query in flight across a change: %q %q, want the old generation's block (profile=kid)", addr, text)
	}
	if hook.Load() != nil {
		t.Fatal("the hook never ran")
	}
	// The next query is decided by the new generation, still as kid.
	if addr, text := ask(t, e, "127.0.0.5", "bet365.com"); addr != "0.0.0.0" || !strings.Contains(text, "profile=kid") {
		t.Fatalf("after the change: %q %q, want the kid block", addr, text)
	}
}
