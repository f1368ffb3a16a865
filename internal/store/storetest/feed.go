package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// change is a feed entry without its seq.
type change struct {
	kind, id string
	deleted  bool
}

// allChanges reads the whole feed after seq, in pages of page, and checks
// that seq strictly increases.
func allChanges(t *testing.T, s store.Store, after int64, page int) []store.Change {
	t.Helper()
	var out []store.Change
	for {
		got, err := s.Changes(context.Background(), after, page)
		must(t, "changes", err)
		if len(got) > page {
			t.Fatalf("changes after %d, limit %d: got %d", after, page, len(got))
		}
		for _, c := range got {
			if c.Seq <= after {
				t.Fatalf("change %+v is not after %d", c, after)
			}
			after = c.Seq
		}
		out = append(out, got...)
		if len(got) < page {
			return out
		}
	}
}

func withoutSeq(cs []store.Change) []change {
	var out []change
	for _, c := range cs {
		out = append(out, change{c.Kind, c.ID, c.Deleted})
	}
	return out
}

func testChangeFeed(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()

	st, err := s.Load(ctx)
	must(t, "load empty", err)
	start := st.Seq
	if got := allChanges(t, s, start, 10); len(got) != 0 {
		t.Fatalf("a new store has changes: %+v", got)
	}
	_, err = s.Changes(ctx, start, 0)
	wantErr(t, "changes with limit 0", err, store.ErrInvalid)

	var want []change
	step := func(what string, err error, changes ...change) {
		t.Helper()
		must(t, what, err)
		want = append(want, changes...)
	}
	refused := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: succeeded, want an error", what)
		}
	}
	put := func(kind, id string) change { return change{kind, id, false} }
	del := func(kind, id string) change { return change{kind, id, true} }

	h, err := s.PutHousehold(ctx, store.Household{ID: "h"})
	step("put household", err, put(store.KindHousehold, "h"))
	_, err = s.PutProfile(ctx, store.Profile{ID: "p", Household: "h"})
	step("put profile", err, put(store.KindProfile, "p"))
	h.DefaultProfile = "p"
	h, err = s.PutHousehold(ctx, h)
	step("set default profile", err, put(store.KindHousehold, "h"))
	d1, err := s.PutDevice(ctx, store.Device{ID: "d1", Household: "h", Profile: "p"})
	step("put d1", err, put(store.KindDevice, "d1"))
	_, err = s.PutDevice(ctx, store.Device{ID: "d2", Household: "h"})
	step("put d2", err, put(store.KindDevice, "d2"))
	_, err = s.AddGrant(ctx, store.Grant{ID: "g1", Device: "d1", Kind: store.GrantPause, Until: t0.Add(time.Hour)})
	step("add g1", err, put(store.KindGrant, "g1"))
	_, err = s.AddGrant(ctx, store.Grant{ID: "g3", Device: "d1", Kind: store.GrantAllow, Target: "games", Until: t0.Add(time.Hour)})
	step("add g3", err, put(store.KindGrant, "g3"))
	_, err = s.AddGrant(ctx, store.Grant{ID: "g2", Device: "d1", Kind: store.GrantPause, Until: t0.Add(time.Hour)})
	step("add g2", err, put(store.KindGrant, "g2"))
	_, err = s.AddGrant(ctx, store.Grant{ID: "g4", Device: "d2", Kind: store.GrantPause, Until: t0.Add(-time.Minute)})
	step("add g4", err, put(store.KindGrant, "g4"))
	_, err = s.AddGrant(ctx, store.Grant{ID: "g0", Device: "d2", Kind: store.GrantPause, Until: t0})
	step("add g0", err, put(store.KindGrant, "g0"))

	// Accounts and settings are not policy: they stay out of the feed.
	step("put user", s.PutUser(ctx, store.User{Name: "u", PasswordHash: "h"}))
	step("create session", s.CreateSession(ctx, store.Session{Hash: "s", User: "u", Expires: t0}))
	_, err = s.CreateToken(ctx, store.Token{Name: "t", User: "u", Hash: "th"})
	step("create token", err)
	step("put setting", s.PutSetting(ctx, "k", "v"))
	_, err = s.DeleteExpiredSessions(ctx, t0)
	step("delete expired sessions", err)

	// Refused writes leave no trace.
	_, err = s.PutDevice(ctx, store.Device{ID: "d1", Household: "h"})
	refused("create existing d1", err)
	_, err = s.PutProfile(ctx, store.Profile{ID: "q", Household: "nope"})
	refused("profile of a missing household", err)
	refused("delete a used profile", s.DeleteProfile(ctx, "p"))
	refused("delete a missing grant", s.DeleteGrant(ctx, "nope"))
	n, err := s.DeleteExpiredGrants(ctx, t0.Add(-time.Hour))
	step("delete no expired grant", err)
	if n != 0 {
		t.Errorf("deleted %d grants, want 0", n)
	}

	d1.Name = "renamed"
	_, err = s.PutDevice(ctx, d1)
	step("update d1", err, put(store.KindDevice, "d1"))
	step("delete g1", s.DeleteGrant(ctx, "g1"), del(store.KindGrant, "g1"))
	n, err = s.DeleteExpiredGrants(ctx, t0)
	step("delete expired grants", err, del(store.KindGrant, "g0"), del(store.KindGrant, "g4"))
	if n != 2 {
		t.Errorf("deleted %d expired grants, want 2", n)
	}
	step("delete d1", s.DeleteDevice(ctx, "d1"),
		del(store.KindGrant, "g2"), del(store.KindGrant, "g3"), del(store.KindDevice, "d1"))
	step("delete d2", s.DeleteDevice(ctx, "d2"), del(store.KindDevice, "d2"))
	h.DefaultProfile = ""
	_, err = s.PutHousehold(ctx, h)
	step("clear default profile", err, put(store.KindHousehold, "h"))
	step("delete profile", s.DeleteProfile(ctx, "p"), del(store.KindProfile, "p"))
	step("delete household", s.DeleteHousehold(ctx, "h"), del(store.KindHousehold, "h"))

	got := allChanges(t, s, start, 1000)
	equal(t, "feed", withoutSeq(got), want)
	if len(got) == 0 {
		t.FailNow()
	}
	last := got[len(got)-1].Seq
	st, err = s.Load(ctx)
	must(t, "load", err)
	if st.Seq != last {
		t.Errorf("load seq %d, want the last change's %d", st.Seq, last)
	}

	// Paging gives the same feed, from any position.
	equal(t, "feed in pages of 4", allChanges(t, s, start, 4), got)
	equal(t, "feed in pages of 1", allChanges(t, s, start, 1), got)
	mid := got[6].Seq
	equal(t, "feed after the 7th change", allChanges(t, s, mid, 5), got[7:])
	if after, err := s.Changes(ctx, last, 10); err != nil || len(after) != 0 {
		t.Errorf("changes after the last: %+v, %v", after, err)
	}
}

// drain empties a notification channel.
func drain(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

// notified fails unless ch receives within wait.
func notified(t *testing.T, ch <-chan struct{}, after string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wait):
		t.Fatalf("no notification within %v after %s", wait, after)
	}
}

func testNotify(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	ch := s.Notify()
	if ch != s.Notify() {
		t.Error("Notify returns a different channel each time")
	}
	must(t, "put user", s.PutUser(ctx, store.User{Name: "u"}))
	drain(ch)

	writes := []struct {
		name string
		do   func() error
	}{
		{"put household", func() error { _, err := s.PutHousehold(ctx, store.Household{ID: "h"}); return err }},
		{"put profile", func() error { _, err := s.PutProfile(ctx, store.Profile{ID: "p", Household: "h"}); return err }},
		{"put device", func() error { _, err := s.PutDevice(ctx, store.Device{ID: "d", Household: "h"}); return err }},
		{"add grant", func() error {
			_, err := s.AddGrant(ctx, store.Grant{ID: "g", Device: "d", Kind: store.GrantPause, Until: t0})
			return err
		}},
		{"delete expired grants", func() error { _, err := s.DeleteExpiredGrants(ctx, t0); return err }},
		{"delete device", func() error { return s.DeleteDevice(ctx, "d") }},
		{"delete profile", func() error { return s.DeleteProfile(ctx, "p") }},
		{"delete household", func() error { return s.DeleteHousehold(ctx, "h") }},
	}
	for _, w := range writes {
		must(t, w.name, w.do())
		notified(t, ch, w.name)
	}

	// Writes do not wait for a reader: many writes, one pending wake-up.
	for i := range 5 {
		_, err := s.PutHousehold(ctx, store.Household{ID: "h" + strconv.Itoa(i)})
		must(t, "put unread", err)
	}
	notified(t, ch, "unread writes")
}

// testLoadConsistent checks Load against the feed while a writer runs:
// every state Load returns must be what replaying the feed up to its Seq
// gives, so that no Load sees half of a write or misses one it claims.
func testLoadConsistent(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	putHousehold(t, s, "h")
	st, err := s.Load(ctx)
	must(t, "load", err)
	start := st.Seq

	const rounds = 40
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			for i := range rounds {
				id := fmt.Sprintf("d%03d", i)
				if _, err := s.PutDevice(ctx, store.Device{ID: id, Household: "h"}); err != nil {
					return err
				}
				for _, g := range []string{"a", "b"} {
					if _, err := s.AddGrant(ctx, store.Grant{ID: id + g, Device: id, Kind: store.GrantPause, Until: t0}); err != nil {
						return err
					}
				}
				if i%3 == 2 { // one write deleting a device and its two grants
					if err := s.DeleteDevice(ctx, fmt.Sprintf("d%03d", i-1)); err != nil {
						return err
					}
				}
			}
			return nil
		}()
	}()

	var states []store.State
	for running := true; running; {
		select {
		case err := <-done:
			must(t, "writer", err)
			running = false
		default:
		}
		st, err := s.Load(ctx)
		must(t, "load", err)
		states = append(states, st)
	}

	feed := allChanges(t, s, start, 1000)
	for _, st := range states {
		live := map[string]map[string]bool{store.KindDevice: {}, store.KindGrant: {}}
		for _, c := range feed {
			if c.Seq > st.Seq {
				break
			}
			if m, ok := live[c.Kind]; ok {
				m[c.ID] = !c.Deleted
			}
		}
		want := map[string][]string{}
		for kind, m := range live {
			for id, ok := range m {
				if ok {
					want[kind] = append(want[kind], id)
				}
			}
			slices.Sort(want[kind])
		}
		if !slices.Equal(ids(st.Devices, deviceID), want[store.KindDevice]) ||
			!slices.Equal(ids(st.Grants, grantID), want[store.KindGrant]) {
			t.Fatalf("load at seq %d:\n devices %v\n grants %v\nthe feed says\n devices %v\n grants %v",
				st.Seq, ids(st.Devices, deviceID), ids(st.Grants, grantID), want[store.KindDevice], want[store.KindGrant])
		}
	}
	last := states[len(states)-1]
	if last.Seq != feed[len(feed)-1].Seq {
		t.Errorf("load after the writer: seq %d, want %d", last.Seq, feed[len(feed)-1].Seq)
	}
	t.Logf("%d loads checked against %d changes", len(states), len(feed))
}

// updateRetrying increments the counter kept in device id's Hostname,
// reading again after each conflict.
func updateRetrying(ctx context.Context, s store.Store, id string) (conflicts int, err error) {
	for {
		d, err := s.Device(ctx, id)
		if err != nil {
			return conflicts, err
		}
		n, err := strconv.Atoi(d.Hostname)
		if err != nil {
			return conflicts, fmt.Errorf("counter %q: %w", d.Hostname, err)
		}
		d.Hostname = strconv.Itoa(n + 1)
		_, err = s.PutDevice(ctx, d)
		if errors.Is(err, store.ErrConflict) {
			conflicts++
			continue
		}
		return conflicts, err
	}
}

func testConcurrentUpdates(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	putHousehold(t, s, "h")
	_, err := s.PutDevice(ctx, store.Device{ID: "d", Household: "h", Hostname: "0"})
	must(t, "create", err)

	const workers, each = 8, 50
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		conflicts int
	)
	for range workers {
		wg.Go(func() {
			for range each {
				c, err := updateRetrying(ctx, s, "d")
				mu.Lock()
				conflicts += c
				mu.Unlock()
				if err != nil {
					t.Errorf("update: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	d, err := s.Device(ctx, "d")
	must(t, "get", err)
	if d.Hostname != strconv.Itoa(workers*each) || d.Version != workers*each+1 {
		t.Errorf("counter %s at version %d, want %d at version %d", d.Hostname, d.Version, workers*each, workers*each+1)
	}
	t.Logf("%d updates, %d conflicts retried", workers*each, conflicts)
}

func testConcurrentCreates(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx := context.Background()
	putHousehold(t, s, "h")
	putProfile(t, s, "p", "h")

	const workers, each = 8, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%02d", w, i)
				if _, err := s.PutDevice(ctx, store.Device{ID: id, Household: "h", Profile: "p"}); err != nil {
					t.Errorf("create %s: %v", id, err)
					return
				}
				if _, err := s.AddGrant(ctx, store.Grant{Device: id, Kind: store.GrantPause, Until: t0}); err != nil {
					t.Errorf("grant %s: %v", id, err)
					return
				}
			}
		})
	}
	// Readers run beside the writers.
	for range 2 {
		wg.Go(func() {
			for range each {
				if _, err := s.Load(ctx); err != nil {
					t.Errorf("load: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()

	st, err := s.Load(ctx)
	must(t, "load", err)
	if len(st.Devices) != workers*each || len(st.Grants) != workers*each {
		t.Errorf("%d devices and %d grants, want %d of each", len(st.Devices), len(st.Grants), workers*each)
	}
	if !slices.IsSortedFunc(st.Devices, func(a, b store.Device) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("devices not sorted by id")
	}
}

func testReopen(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open()
	putHousehold(t, s, "h")
	putProfile(t, s, "p", "h")
	d, err := s.PutDevice(ctx, store.Device{ID: "d", Household: "h", Profile: "p", IPs: []string{"10.0.0.2"}, FirstSeen: t0})
	must(t, "put device", err)
	_, err = s.AddGrant(ctx, store.Grant{ID: "g", Device: "d", Kind: store.GrantAllow, Target: "games", Until: t0, Created: t0})
	must(t, "add grant", err)
	must(t, "put user", s.PutUser(ctx, store.User{Name: "u", PasswordHash: "ph", Created: t0}))
	must(t, "create session", s.CreateSession(ctx, store.Session{Hash: "sh", User: "u", CSRF: "c", Expires: t0}))
	_, err = s.CreateToken(ctx, store.Token{ID: "t", Name: "n", User: "u", Hash: "th", Created: t0})
	must(t, "create token", err)
	must(t, "put setting", s.PutSetting(ctx, "k", "v"))

	before, err := s.Load(ctx)
	must(t, "load", err)
	feed := allChanges(t, s, 0, 100)
	users, err := s.Users(ctx)
	must(t, "users", err)
	tokens, err := s.Tokens(ctx)
	must(t, "tokens", err)
	sess, err := s.Session(ctx, "sh")
	must(t, "session", err)
	must(t, "close", s.Close())

	s = openStore(t, open)
	after, err := s.Load(ctx)
	must(t, "load after reopening", err)
	equal(t, "state", after, before)
	equal(t, "feed", allChanges(t, s, 0, 100), feed)
	got, err := s.Users(ctx)
	must(t, "users after reopening", err)
	equal(t, "users", got, users)
	gotTokens, err := s.Tokens(ctx)
	must(t, "tokens after reopening", err)
	equal(t, "tokens", gotTokens, tokens)
	gotSess, err := s.Session(ctx, "sh")
	must(t, "session after reopening", err)
	equal(t, "session", gotSess, sess)
	v, ok, err := s.Setting(ctx, "k")
	if v != "v" || !ok || err != nil {
		t.Errorf("setting after reopening: %q, %v, %v", v, ok, err)
	}

	// Versions and the feed go on from where they were.
	d.Name = "again"
	d2, err := s.PutDevice(ctx, d)
	must(t, "update after reopening", err)
	if d2.Version != 2 {
		t.Errorf("version %d, want 2", d2.Version)
	}
	next := allChanges(t, s, before.Seq, 10)
	if len(next) != 1 || next[0].Seq <= before.Seq || next[0].ID != "d" {
		t.Errorf("changes after reopening: %+v", next)
	}
}

func testCanceledContext(t *testing.T, open Opener) {
	s := openStore(t, open)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	if _, err := s.PutHousehold(ctx, store.Household{ID: "h"}); err == nil {
		t.Error("put with a canceled context succeeded")
	}
	if _, err := s.Load(ctx); err == nil {
		t.Error("load with a canceled context succeeded")
	}
	_, err := s.Household(context.Background(), "h")
	wantErr(t, "household put with a canceled context", err, store.ErrNotFound)
	st, err := s.Load(context.Background())
	must(t, "load", err)
	if len(st.Households) != 0 {
		t.Errorf("households after a canceled put: %+v", st.Households)
	}
}
