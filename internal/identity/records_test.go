package identity

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"unsafe"

	"github.com/hearth-dns/hearth/internal/pipeline"
)

var presets = []string{"kid", "tween", "teen", "adult"}

// TestRecordsEdit checks that records round-trip across chunk and leaf
// boundaries and that an edit leaves the records it came from as they
// were.
func TestRecordsEdit(t *testing.T) {
	const n = 2*chunkLen*chunkLen + 3 // three leaves
	e := records[uint32]{}.edit()
	for i := range uint32(n) {
		e.set(i, i*7+1)
	}
	r := e.done()
	if r.n != n {
		t.Fatalf("n = %d, want %d", r.n, n)
	}
	for i := range uint32(n) {
		if got := *r.at(i); got != i*7+1 {
			t.Fatalf("record %d = %d, want %d", i, got, i*7+1)
		}
	}
	e = r.edit()
	changed := []uint32{0, chunkLen - 1, chunkLen, chunkLen * chunkLen, n - 1}
	for _, i := range changed {
		e.set(i, 0)
	}
	e.set(n, 42)
	next := e.done()
	if next.n != n+1 || *next.at(n) != 42 {
		t.Errorf("grown: n = %d, record %d = %d", next.n, n, *next.at(n))
	}
	for _, i := range changed {
		if *next.at(i) != 0 {
			t.Errorf("record %d not changed in the edit", i)
		}
		if got := *r.at(i); got != i*7+1 {
			t.Errorf("record %d changed in the old records: %d", i, got)
		}
	}
	if got := *next.at(1); got != 8 {
		t.Errorf("untouched record 1 = %d in the edit, want 8", got)
	}
}

// TestUpdateReusesIndexes checks the device and household indexes the
// tables map identifiers to: a removed device's index goes to the next
// device without its identifiers finding the new one, a device put again
// without being removed keeps what still names it, and devices and lines
// that move to another household show it.
func TestUpdateReusesIndexes(t *testing.T) {
	ip := func(s string) string { return s + ":5353" }
	dev := func(name, h, profile string) pipeline.Identity {
		return pipeline.Identity{Household: h, Device: name, Profile: profile, Via: "ip"}
	}
	steps := []struct {
		name  string
		u     Update
		check map[string]pipeline.Identity // client address: identity
	}{
		{"console removed, tv takes its index", Update{
			Remove: []Device{{Name: "h1-console", Household: "h1", Profile: "tween", IPs: addrs("198.51.100.7")}},
			Put:    []Device{{Name: "h3-tv", Household: "h3", Profile: "adult", IPs: addrs("198.51.100.30")}},
		}, map[string]pipeline.Identity{
			ip("198.51.100.7"):  bound("h1", "kid"),
			ip("198.51.100.30"): dev("h3-tv", "h3", "adult"),
			ip("198.51.100.8"):  dev("h2-laptop", "h2", "teen"),
		}},
		{"laptop and tv put again, not removed", Update{
			Put: []Device{
				{Name: "h2-laptop", Household: "h2", Profile: "kid", IPs: addrs("198.51.100.8", "198.51.100.31")},
				{Name: "h3-tv", Household: "h3", Profile: "teen", IPs: addrs("198.51.100.33")},
			},
		}, map[string]pipeline.Identity{
			ip("198.51.100.8"):  dev("h2-laptop", "h2", "kid"),
			ip("198.51.100.31"): dev("h2-laptop", "h2", "kid"),
			// What the tv's new entry does not name keeps the old.
			ip("198.51.100.30"): dev("h3-tv", "h3", "adult"),
			ip("198.51.100.33"): dev("h3-tv", "h3", "teen"),
		}},
		{"one of the laptop's two addresses removed, a new device added", Update{
			Remove: []Device{{Name: "h2-laptop", IPs: addrs("198.51.100.8")}},
			Put:    []Device{{Name: "h1-phone", Household: "h1", IPs: addrs("198.51.100.32")}},
		}, map[string]pipeline.Identity{
			ip("198.51.100.8"):  want("", "", ""),
			ip("198.51.100.31"): dev("h2-laptop", "h2", "kid"),
			ip("198.51.100.32"): dev("h1-phone", "h1", "kid"),
			ip("198.51.100.30"): dev("h3-tv", "h3", "adult"),
			ip("198.51.100.33"): dev("h3-tv", "h3", "teen"),
		}},
		{"phone moves to household h2", Update{
			Remove: []Device{{Name: "h1-phone", Household: "h1", IPs: addrs("198.51.100.32")}},
			Put:    []Device{{Name: "h1-phone", Household: "h2", IPs: addrs("198.51.100.32")}},
		}, map[string]pipeline.Identity{
			ip("198.51.100.32"): dev("h1-phone", "h2", "teen"),
		}},
		{"a line moves to a household the tables did not know", Update{
			Bindings: []Binding{{Household: "h9", Addr: netip.MustParseAddr("198.51.100.9")}},
		}, map[string]pipeline.Identity{
			ip("198.51.100.9"): bound("h9", "new-device"),
		}},
		{"h9 gets a default profile, h2 is removed", Update{
			Households:       []Household{{ID: "h9", DefaultProfile: "teen"}},
			RemoveHouseholds: []string{"h2"},
		}, map[string]pipeline.Identity{
			ip("198.51.100.9"):  bound("h9", "teen"),
			ip("198.51.100.32"): dev("h1-phone", "h2", "new-device"),
			ip("198.51.100.31"): dev("h2-laptop", "h2", "kid"),
		}},
		{"h2 comes back", Update{
			Households: []Household{{ID: "h2", DefaultProfile: "adult"}},
		}, map[string]pipeline.Identity{
			ip("198.51.100.32"): dev("h1-phone", "h2", "adult"),
		}},
	}
	id := newTestIdentifier(t, ispConfig())
	var past []*Identifier
	var pastWant []map[string]pipeline.Identity
	for _, s := range steps {
		next, err := id.Update(s.u)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		for client, w := range s.check {
			if got := next.Identify(request(query(), client)); got != w {
				t.Errorf("%s: %s is %+v, want %+v", s.name, client, got, w)
			}
		}
		past, pastWant = append(past, next), append(pastWant, s.check)
		id = next
	}
	// Every earlier Identifier still answers as it did.
	for i, p := range past {
		for client, w := range pastWant[i] {
			if got := p.Identify(request(query(), client)); got != w {
				t.Errorf("after every step, %s: %s is %+v, want %+v", steps[i].name, client, got, w)
			}
		}
	}
}

// TestUpdateFreesIndexes checks that removing devices, or putting them
// again, frees their records for the next ones, so that a node applying
// changes for months does not grow its device records.
func TestUpdateFreesIndexes(t *testing.T) {
	id := newTestIdentifier(t, ispConfig())
	start := id.devices.n
	for i := range 1000 {
		d := Device{Name: "h2-laptop", Household: "h2", Profile: presets[i%len(presets)], IPs: addrs("198.51.100.8")}
		next, err := id.Update(Update{Put: []Device{d}})
		if err != nil {
			t.Fatal(err)
		}
		id = next
	}
	if id.devices.n > start+1 {
		t.Errorf("device records grew from %d to %d over 1000 puts of one device", start, id.devices.n)
	}
	if got := id.Identify(request(query(), "198.51.100.8:5353")); got.Profile != presets[999%len(presets)] {
		t.Errorf("198.51.100.8 is %+v after the puts", got)
	}
	for i := range 1000 {
		d := Device{Name: fmt.Sprintf("d%d", i), Household: "h1", ClientIDs: []string{fmt.Sprintf("c%d", i)}, IPs: addrs("203.0.113.1")}
		u := Update{Put: []Device{d}}
		if i > 0 {
			prev := Device{Name: fmt.Sprintf("d%d", i-1), ClientIDs: []string{fmt.Sprintf("c%d", i-1)}, IPs: addrs("203.0.113.1")}
			u.Remove = []Device{prev}
		}
		next, err := id.Update(u)
		if err != nil {
			t.Fatal(err)
		}
		id = next
	}
	if id.devices.n > start+2 {
		t.Errorf("device records grew from %d to %d over 1000 replacements", start, id.devices.n)
	}
	r := request(query(), "203.0.113.1:5353")
	if got := id.Identify(r); got.Device != "d999" {
		t.Errorf("203.0.113.1 is %+v, want d999", got)
	}
	r.ClientID = "c998"
	if got := id.Identify(r); got.Device != "d999" || got.Via != "ip" {
		t.Errorf("removed client id c998 still finds %+v", got)
	}
}

// TestUpdateMACTexts checks the MAC texts kept for Identity.MAC: a
// removed MAC's text goes to the next MAC, and the Identifier from before
// still shows the old one.
func TestUpdateMACTexts(t *testing.T) {
	const a, b, c = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"
	cfg := ispConfig()
	cfg.Devices = append(cfg.Devices, Device{Name: "h1-phone", Household: "h1", MACs: []net.HardwareAddr{hw(a)}})
	old := newTestIdentifier(t, cfg)
	next, err := old.Update(Update{
		Remove: []Device{{Name: "h1-phone", MACs: []net.HardwareAddr{hw(a)}}},
		Put:    []Device{{Name: "h2-phone", Household: "h2", MACs: []net.HardwareAddr{hw(b)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	again, err := next.Update(Update{Put: []Device{{Name: "h2-phone", Household: "h2", Profile: "adult", MACs: []net.HardwareAddr{hw(b), hw(c)}}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id   *Identifier
		mac  string
		want pipeline.Identity
	}{
		{old, a, pipeline.Identity{Household: "h1", Device: "h1-phone", Profile: "kid", Via: viaEDNSMAC, MAC: a}},
		{next, a, pipeline.Identity{Profile: "new-device", Via: viaDefault, MAC: a}},
		{next, b, pipeline.Identity{Household: "h2", Device: "h2-phone", Profile: "teen", Via: viaEDNSMAC, MAC: b}},
		{again, b, pipeline.Identity{Household: "h2", Device: "h2-phone", Profile: "adult", Via: viaEDNSMAC, MAC: b}},
		{again, c, pipeline.Identity{Household: "h2", Device: "h2-phone", Profile: "adult", Via: viaEDNSMAC, MAC: c}},
	}
	for _, tc := range tests {
		if got := tc.id.Identify(request(query(macOpt(tc.mac)), forwarder)); got != tc.want {
			t.Errorf("MAC %s: %+v, want %+v", tc.mac, got, tc.want)
		}
	}
}

// TestUpdateIPv6Devices checks that IPv6 device addresses are found
// whether the tables started with none or lose their last one: a query
// over IPv6 skips the address table only while it holds none.
func TestUpdateIPv6Devices(t *testing.T) {
	id := newTestIdentifier(t, ispConfig())
	steps := []struct {
		u      Update
		client string
		want   pipeline.Identity
	}{
		{Update{Put: []Device{{Name: "tv6", Household: "h1", IPs: addrs("2001:db8:9::1")}}},
			"[2001:db8:9::1]:5353", pipeline.Identity{Household: "h1", Device: "tv6", Profile: "kid", Via: "ip"}},
		{Update{Put: []Device{{Name: "tv6", Household: "h1", Profile: "adult", IPs: addrs("2001:db8:9::1")}}},
			"[2001:db8:9::1]:5353", pipeline.Identity{Household: "h1", Device: "tv6", Profile: "adult", Via: "ip"}},
		{Update{Remove: []Device{{Name: "tv6", IPs: addrs("2001:db8:9::1")}}},
			"[2001:db8:9::1]:5353", want("", "", "")},
		{Update{Put: []Device{{Name: "pc6", Household: "h2", IPs: addrs("2001:db8:9::2")}}},
			"[2001:db8:9::2]:5353", pipeline.Identity{Household: "h2", Device: "pc6", Profile: "teen", Via: "ip"}},
	}
	for i, s := range steps {
		next, err := id.Update(s.u)
		if err != nil {
			t.Fatal(err)
		}
		if got := next.Identify(request(query(), s.client)); got != s.want {
			t.Errorf("step %d: %s is %+v, want %+v", i, s.client, got, s.want)
		}
		id = next
	}
	if id.devices6 != 1 {
		t.Errorf("devices6 = %d, want 1", id.devices6)
	}
}

// indexer is a ProfileIndexer: a policy's profile indexes by name.
type indexer map[string]int

func (x indexer) Profile(name string) (int, bool) { i, ok := x[name]; return i, ok }

func (x indexer) ProfileName(i int) string {
	for n, j := range x {
		if j == i {
			return n
		}
	}
	return ""
}

// TestProfileHints checks the index each identity carries for its
// profile (Identity.ProfileHint, 1 + the policy's index, 0 for none) as
// the tables and the policy change: a device's own profile, its
// household's default, a binding's, the default profile, a profile the
// policy does not have, then profiles renamed away and added at a reused
// index, a household's default changed and the default profile changed.
// Profile names no record uses any more are freed.
func TestProfileHints(t *testing.T) {
	policy := indexer{"adult": 0, "kid": 1, "family": 2}
	id, err := New(Config{
		Devices: []Device{
			{Name: "tablet", Household: "smiths", Profile: "kid", ClientIDs: []string{"tablet"}},
			{Name: "laptop", Household: "smiths", IPs: addrs("198.51.100.10")},
			{Name: "tv", Household: "smiths", Profile: "nobody", IPs: addrs("198.51.100.11")},
		},
		DefaultProfile: "adult",
		Households:     []Household{{ID: "smiths", DefaultProfile: "family"}},
		Bindings:       []Binding{{Household: "smiths", Addr: netip.MustParseAddr("198.51.100.7")}},
		ProfileIndex:   policy,
	})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		client, clientID, profile string
		hint                      int32
	}
	check := func(step string, id *Identifier, wants []want) {
		t.Helper()
		for _, w := range wants {
			r := request(query(), w.client)
			r.ClientID = w.clientID
			if got := id.Identify(r); got.Profile != w.profile || got.ProfileHint != w.hint {
				t.Errorf("%s: %s %s is %q hint %d, want %q hint %d", step, w.client, w.clientID, got.Profile, got.ProfileHint, w.profile, w.hint)
			}
		}
	}
	check("New", id, []want{
		{client: "192.0.2.1:5353", clientID: "tablet", profile: "kid", hint: 2},
		{client: "198.51.100.10:5353", profile: "family", hint: 3},
		{client: "198.51.100.7:5353", profile: "family", hint: 3},
		{client: "198.51.100.11:5353", profile: "nobody", hint: 0},
		{client: "192.0.2.9:5353", profile: "adult", hint: 1},
	})

	// family removed; nobody added at its index.
	policy = indexer{"adult": 0, "kid": 1, "nobody": 2}
	next, err := id.Update(Update{ProfileIndex: policy, Profiles: []string{"family", "nobody"}})
	if err != nil {
		t.Fatal(err)
	}
	check("family removed, nobody added", next, []want{
		{client: "192.0.2.1:5353", clientID: "tablet", profile: "kid", hint: 2},
		{client: "198.51.100.10:5353", profile: "family", hint: 0},
		{client: "198.51.100.7:5353", profile: "family", hint: 0},
		{client: "198.51.100.11:5353", profile: "nobody", hint: 3},
	})
	// The Identifier before the update keeps its hints.
	check("before the update", id, []want{{client: "198.51.100.11:5353", profile: "nobody", hint: 0}})

	next, err = next.Update(Update{ProfileIndex: policy, Households: []Household{{ID: "smiths", DefaultProfile: "kid"}}, DefaultProfile: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	check("household default and default profile changed", next, []want{
		{client: "198.51.100.10:5353", profile: "kid", hint: 2},
		{client: "198.51.100.7:5353", profile: "kid", hint: 2},
		{client: "192.0.2.9:5353", profile: "nobody", hint: 3},
	})

	// A device moving through a thousand profiles of its own leaves one
	// profile record behind, not a thousand.
	start := next.profiles.n
	for i := range 1000 {
		d := Device{Name: "tv", Household: "smiths", Profile: fmt.Sprint("tv~", i), IPs: addrs("198.51.100.11")}
		if next, err = next.Update(Update{ProfileIndex: policy, Put: []Device{d}}); err != nil {
			t.Fatal(err)
		}
	}
	if next.profiles.n > start+1 || next.profilesByName.Len() > 4 {
		t.Errorf("profile records grew from %d to %d (%d names) over 1000 profiles of one device", start, next.profiles.n, next.profilesByName.Len())
	}
	check("after the churn", next, []want{{client: "198.51.100.11:5353", profile: "tv~999", hint: 0}})
}

// TestProfileRecordsPinned checks that a profile record with pinAt users
// stops counting them (an edit of a preset's device copies no profile
// record) and stays, hint and all, when its users go.
func TestProfileRecordsPinned(t *testing.T) {
	policy := indexer{"adult": 0, "kid": 1}
	var devs []Device
	for i := range pinAt {
		devs = append(devs, Device{Name: fmt.Sprint("d", i), Profile: "kid", Household: "h1", ClientIDs: []string{fmt.Sprint("c", i)}})
	}
	id, err := New(Config{DefaultProfile: "adult", Devices: devs, ProfileIndex: policy})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := id.profilesByName.Get("kid")
	if r := id.profiles.at(uint32(p)); r.refs != pinnedUsers {
		t.Fatalf("kid has %d users counted, want it pinned", r.refs)
	}
	next, err := id.Update(Update{ProfileIndex: policy, Remove: devs[1:], Put: []Device{{Name: "d0", Profile: "kid", Household: "h1", ClientIDs: []string{"c0", "c-new"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if next.profiles.top[0][0] != id.profiles.top[0][0] {
		t.Error("an edit of a pinned profile's devices copied its chunk of records")
	}
	r := request(query(), "192.0.2.1:5353")
	r.ClientID = "c-new"
	if got := next.Identify(r); got.Device != "d0" || got.Profile != "kid" || got.ProfileHint != 2 {
		t.Errorf("c-new is %+v, want d0 with kid, hint 2", got)
	}
}

// namedIndexer is a policy whose names are strings of its own, as a
// compiled policy's are: a profile put again at its index comes with a
// new copy of its name.
type namedIndexer []string

func (x namedIndexer) Profile(name string) (int, bool) {
	i := slices.Index(x, name)
	return i, i >= 0
}

func (x namedIndexer) ProfileName(i int) string { return x[i] }

// TestProfileNameShared checks that an identity's profile name is the
// policy's own string (the Policy step's name check then compares
// pointers, not bytes), also after the policy replaced the profile at
// the same index with a new copy of its name.
func TestProfileNameShared(t *testing.T) {
	clone := func(s string) string { return string([]byte(s)) }
	policy := namedIndexer{clone("adult"), clone("kid")}
	id, err := New(Config{
		Devices:        []Device{{Name: "tablet", Profile: "kid", ClientIDs: []string{"tablet"}}},
		DefaultProfile: "adult",
		ProfileIndex:   policy,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := request(query(), stranger)
	r.ClientID = "tablet"
	check := func(step string, id *Identifier, policy namedIndexer) {
		t.Helper()
		got := id.Identify(r)
		if got.Profile != "kid" || got.ProfileHint != 2 {
			t.Fatalf("%s: %q hint %d, want kid hint 2", step, got.Profile, got.ProfileHint)
		}
		if unsafe.StringData(got.Profile) != unsafe.StringData(policy[1]) {
			t.Errorf("%s: the profile name is a copy of the policy's", step)
		}
	}
	check("New", id, policy)
	next := namedIndexer{policy[0], clone("kid")}
	id2, err := id.Update(Update{ProfileIndex: next, Profiles: []string{"kid"}})
	if err != nil {
		t.Fatal(err)
	}
	check("kid replaced at its index", id2, next)
	check("before the update", id, policy)
}

// checkHouseholdHints fails unless every table entry naming a device
// carries the household of that device's record (see devEntry).
func checkHouseholdHints(t *testing.T, step string, id *Identifier) {
	t.Helper()
	n := 0
	check := func(what string, d devRef, hh hhRef) {
		t.Helper()
		if d == 0 {
			return
		}
		n++
		if r := id.devices.at(uint32(d)); r.household != hh {
			t.Errorf("%s: %s entry of device %q hints household %d, the record says %d", step, what, r.name, hh, r.household)
		}
	}
	for _, e := range id.byAddr.All() {
		check("address", e.dev, e.devHH)
	}
	for _, e := range id.byMAC.All() {
		check("MAC", e.dev, e.hh)
	}
	for _, e := range id.byClientID.All() {
		check("client id", e.dev, e.hh)
	}
	if n == 0 {
		t.Errorf("%s: no entries", step)
	}
}

// TestHouseholdHints checks that the household each entry carries for
// its device stays the device record's as devices move between
// households and indexes are reused, and that the identity is right.
func TestHouseholdHints(t *testing.T) {
	phone := func(h string, ip string) Device {
		return Device{Name: "phone", Household: h, IPs: addrs(ip), MACs: []net.HardwareAddr{hw(emmaMAC)}, ClientIDs: []string{"phone"}}
	}
	steps := []struct {
		name string
		u    Update
		want string // the phone's household
	}{
		{"phone moves to h2", Update{Remove: []Device{phone("h1", "198.51.100.40")}, Put: []Device{phone("h2", "198.51.100.40")}}, "h2"},
		{"phone removed, a device of h3 takes its index", Update{
			Remove: []Device{phone("h2", "198.51.100.40")},
			Put:    []Device{{Name: "tv", Household: "h3", IPs: addrs("198.51.100.41")}, phone("h1", "198.51.100.42")},
		}, "h1"},
		{"phone put again in h3, not removed", Update{Put: []Device{phone("h3", "198.51.100.42")}}, "h3"},
	}
	c := ispConfig()
	c.Devices = append(c.Devices, phone("h1", "198.51.100.40"))
	id := newTestIdentifier(t, c)
	checkHouseholdHints(t, "New", id)
	for _, s := range steps {
		next, err := id.Update(s.u)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		checkHouseholdHints(t, s.name, next)
		r := request(query(), stranger)
		r.ClientID = "phone"
		if got := next.Identify(r); got.Device != "phone" || got.Household != s.want {
			t.Errorf("%s: %+v, want the phone of %s", s.name, got, s.want)
		}
		id = next
	}
}
