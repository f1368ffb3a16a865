package identity

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unsafe"

	"github.com/hearth-dns/hearth/internal/netid"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/shardmap"
)

// Values of pipeline.Identity.Via for a query recognised by an ISP
// subscriber binding rather than by a device.
const (
	viaBindClientID = "binding-client-id"
	viaBindCPE      = "binding-cpe"
	viaBindIP       = "binding-ip"
)

// Household is what the identity tables keep of a household: the profile
// of its devices without one of their own and of its bindings.
type Household struct {
	ID string
	// DefaultProfile is "" for the Identifier's default profile.
	DefaultProfile string
}

// Binding ties one subscriber identifier to a household (an ISP's
// customer line): queries that carry it, and that no device of any
// household claims, get the household's default profile. Exactly one of
// Addr, Prefix, CPE and ClientID is set.
type Binding struct {
	Household string
	// Addr is an assigned IPv4 address, matched against the source.
	Addr netip.Addr
	// Prefix is a delegated IPv6 prefix, /48 to /64; the longest one
	// containing the source wins.
	Prefix netip.Prefix
	// CPE is a CPE id, sent by a trusted forwarder in EDNS option 65074
	// (the option that also carries device ids).
	CPE string
	// ClientID is a DoH or DoT client id (path or server name), matched
	// like a device's, case-insensitively.
	ClientID string
}

// Update is a change to an Identifier's tables: see Identifier.Update.
type Update struct {
	// Remove are devices as they were: each of their identifiers that
	// still names the device stops recognising it.
	Remove []Device
	// Put are devices as they are now, added after Remove. An identifier
	// another device holds is an error.
	Put []Device
	// Households are set; RemoveHouseholds are dropped (their devices and
	// bindings then get the default profile).
	Households       []Household
	RemoveHouseholds []string
	// RemoveBindings are dropped (matched by identifier, whatever their
	// household), then Bindings are set, replacing any binding of the
	// same identifier.
	RemoveBindings []Binding
	Bindings       []Binding
	// DefaultProfile, when not "", replaces Config.DefaultProfile.
	DefaultProfile string
	// ProfileIndex is the policy compiled with the Identifier after u
	// (see Config.ProfileIndex); nil keeps no index for the profile names
	// u adds. Profiles are the names whose index it may have changed
	// (profiles added or removed): their kept index is looked up again.
	ProfileIndex ProfileIndexer
	Profiles     []string
}

// Update returns the Identifier after u, leaving id as it is: tables u
// does not touch, and the shards of the tables it touches that it does
// not, are shared between the two. Its cost grows with the size of u,
// not of the tables. An error leaves nothing changed.
func (id *Identifier) Update(u Update) (*Identifier, error) {
	e := id.tables.edit()
	e.index = u.ProfileIndex
	for _, name := range u.Profiles {
		e.reindexProfile(name)
	}
	for _, d := range u.Remove {
		e.remove(d)
	}
	for _, d := range u.Put {
		if err := e.add(d); err != nil {
			return nil, err
		}
	}
	for _, h := range u.RemoveHouseholds {
		e.setHousehold(h, "")
	}
	for _, h := range u.Households {
		e.setHousehold(h.ID, h.DefaultProfile)
	}
	for _, b := range u.RemoveBindings {
		if err := e.unbind(b); err != nil {
			return nil, err
		}
	}
	for _, b := range u.Bindings {
		if err := e.bind(b); err != nil {
			return nil, err
		}
	}
	next := *id
	next.tables = e.done()
	if u.DefaultProfile != "" {
		next.unknown.Profile = u.DefaultProfile
	}
	next.unknown.ProfileHint = hintOf(u.ProfileIndex, next.unknown.Profile)
	return &next, nil
}

// tables are an Identifier's lookup tables (see records.go): devices
// and households are records found by index, and every identifier maps
// to one.
type tables struct {
	devices records[deviceRecord]
	// freeDevices are the indexes of device records no entry names.
	freeDevices []devRef
	households  records[householdRecord]
	// householdsByID interns household ids; only edits read it.
	householdsByID *shardmap.Map[string, hhRef]
	// profiles are the profile names records name, each once;
	// profilesByName interns them (only edits read it), and freeProfiles
	// are the indexes no record names.
	profiles       records[profileRecord]
	profilesByName *shardmap.Map[string, profRef]
	freeProfiles   []profRef
	// macTexts are the texts of the MACs in byMAC, one each; freeMACTexts
	// are the indexes no entry names.
	macTexts     records[[macTextLen]byte]
	freeMACTexts []uint32

	byClientID *shardmap.Map[string, devEntry]
	bySecret   secretTable
	byMAC      *shardmap.Map[mac, macEntry]
	// byAddr holds the device of an exact address and the household of
	// an IPv4 binding: a query from a subscriber's line finds both in one
	// probe.
	byAddr *shardmap.Map[addrKey, addrEntry]
	// devices6 counts the IPv6 addresses in byAddr: at none (an ISP
	// whose subscribers are known by line, MAC or client id), a query
	// over IPv6 skips the probe.
	devices6 int
	cidr4    prefixTable[devRef]
	cidr6    prefixTable[devRef]
	// bind6, bindCPE and bindClientID map a subscriber identifier to its
	// household (bindings of an IPv4 address are in byAddr).
	bind6        prefixTable[hhRef]
	bindCPE      *shardmap.Map[string, hhRef]
	bindClientID *shardmap.Map[string, hhRef]
}

// addrKey is an exact address as a table key: its 16-byte form, IPv4
// as IPv4-mapped IPv6 (the address unmapped first, and without a zone).
// Unlike netip.Addr it holds no pointer.
type addrKey [16]byte

func keyOf(a netip.Addr) addrKey { return a.As16() }

// addrEntry is what an address names: a device (0 for none) and, for an
// IPv4 binding, a household (0 for none: a binding names one). devHH is
// the device's household, a hint (see devEntry).
type addrEntry struct {
	dev   devRef
	hh    hhRef
	devHH hhRef
}

// devEntry is a device as a table entry names it: its record and its
// household's, a hint that Identify checks against the device record.
// Both records are then read at once, not the household's after the
// device's: at a million households each is a cache miss of some 300
// ns. A hint gone stale (it should not) costs that wait, never a wrong
// household.
type devEntry struct {
	dev devRef
	hh  hhRef
}

// newTables returns empty tables sized for devices and bindings, and x
// more.
func newTables(devices, bindings int, x Expect) tables {
	t := tables{
		householdsByID: shardmap.New[string, hhRef](devices/4 + x.Households),
		profilesByName: shardmap.New[string, profRef](0),
		byClientID:     shardmap.New[string, devEntry](devices/8 + x.ClientIDs),
		bySecret:       secretTable{m: shardmap.New[uint64, secretEntry](devices/8 + x.DNSIDs)},
		byMAC:          shardmap.New[mac, macEntry](devices/2 + x.MACs),
		byAddr:         shardmap.New[addrKey, addrEntry](devices/2 + bindings/2 + x.IPs + x.IPv4Bindings),
		cidr4:          newPrefixTable[devRef](0),
		cidr6:          newPrefixTable[devRef](0),
		bind6:          newPrefixTable[hhRef](bindings/2 + x.IPv6Bindings),
		bindCPE:        shardmap.New[string, hhRef](0),
		bindClientID:   shardmap.New[string, hhRef](0),
	}
	// Index 0 is no device, and the household "".
	d := t.devices.edit()
	d.set(0, deviceRecord{})
	t.devices = d.done()
	h := t.households.edit()
	h.set(0, householdRecord{})
	t.households = h.done()
	// Index 0 is no profile.
	p := t.profiles.edit()
	p.set(0, profileRecord{})
	t.profiles = p.done()
	return t
}

// tableEditor edits every table of one Identifier.
type tableEditor struct {
	devices      *recordEditor[deviceRecord]
	freeDevices  []devRef
	households   *recordEditor[householdRecord]
	householdIDs *shardmap.Editor[string, hhRef]
	profiles     *recordEditor[profileRecord]
	profileNames *shardmap.Editor[string, profRef]
	freeProfiles []profRef
	// profileUsers counts the users each profile record gains (or, below
	// 0, loses) in the edit, written to the records by done: a device put
	// again with the profile it had, or moved from one preset to another,
	// copies no chunk of profile records. Nil until the first.
	profileUsers map[profRef]int32
	// index gives the profile names' indexes; nil for none.
	index        ProfileIndexer
	macTexts     *recordEditor[[macTextLen]byte]
	freeMACTexts []uint32
	clientID     *shardmap.Editor[string, devEntry]
	secret       *shardmap.Editor[uint64, secretEntry]
	mac          *shardmap.Editor[mac, macEntry]
	addr         *shardmap.Editor[addrKey, addrEntry]
	devices6     int
	cidr4, cidr6 prefixEditor[devRef]
	bind6        prefixEditor[hhRef]
	bindCPE      *shardmap.Editor[string, hhRef]
	bindClientID *shardmap.Editor[string, hhRef]
}

func (t *tables) edit() *tableEditor {
	return &tableEditor{
		devices: t.devices.edit(), freeDevices: slices.Clone(t.freeDevices),
		households: t.households.edit(), householdIDs: t.householdsByID.Edit(),
		profiles: t.profiles.edit(), profileNames: t.profilesByName.Edit(), freeProfiles: slices.Clone(t.freeProfiles),
		macTexts: t.macTexts.edit(), freeMACTexts: slices.Clone(t.freeMACTexts),
		clientID: t.byClientID.Edit(), secret: t.bySecret.m.Edit(), mac: t.byMAC.Edit(), addr: t.byAddr.Edit(), devices6: t.devices6,
		cidr4: t.cidr4.edit(), cidr6: t.cidr6.edit(),
		bind6: t.bind6.edit(), bindCPE: t.bindCPE.Edit(), bindClientID: t.bindClientID.Edit(),
	}
}

func (e *tableEditor) done() tables {
	e.countProfileUsers()
	return tables{
		devices: e.devices.done(), freeDevices: e.freeDevices,
		households: e.households.done(), householdsByID: e.householdIDs.Map(),
		profiles: e.profiles.done(), profilesByName: e.profileNames.Map(), freeProfiles: e.freeProfiles,
		macTexts: e.macTexts.done(), freeMACTexts: e.freeMACTexts,
		byClientID: e.clientID.Map(), bySecret: secretTable{m: e.secret.Map()}, byMAC: e.mac.Map(), byAddr: e.addr.Map(), devices6: e.devices6,
		cidr4: e.cidr4.done(), cidr6: e.cidr6.done(),
		bind6: e.bind6.done(), bindCPE: e.bindCPE.Map(), bindClientID: e.bindClientID.Map(),
	}
}

// household returns the index of household id, giving it one if it has
// none yet.
func (e *tableEditor) household(id string) hhRef {
	if id == "" {
		return 0
	}
	if h, ok := e.householdIDs.Get(id); ok {
		return h
	}
	h := hhRef(e.households.r.n)
	e.households.set(uint32(h), householdRecord{id: id})
	e.householdIDs.Put(id, h)
	return h
}

// setHousehold sets the default profile of household id ("" for the
// Identifier's).
func (e *tableEditor) setHousehold(id, profile string) {
	h := e.household(id)
	if r := e.households.get(uint32(h)); e.profiles.get(uint32(r.profile)).name != profile {
		old := r.profile
		r.profile = e.useProfile(profile)
		e.dropProfile(old)
		e.households.set(uint32(h), r)
	}
}

// useProfile returns the record of profile name, making it if no record
// names it yet, and counts one more user; "" is 0.
func (e *tableEditor) useProfile(name string) profRef {
	if name == "" {
		return 0
	}
	p, ok := e.profileNames.Get(name)
	if !ok {
		// Made with no users: done frees it unless the edit counts one.
		if n := len(e.freeProfiles); n > 0 {
			p, e.freeProfiles = e.freeProfiles[n-1], e.freeProfiles[:n-1]
		} else {
			p = profRef(e.profiles.r.n)
		}
		r := profileRecord{name: name}
		if e.index != nil {
			if i, ok := e.index.Profile(name); ok {
				// The policy's own string: the Policy step compares
				// the name without reading its bytes.
				r.name, r.hint = e.index.ProfileName(i), int32(i+1)
			}
		}
		e.profiles.set(uint32(p), r)
		e.profileNames.Put(r.name, p)
	}
	e.countProfileUser(p, 1)
	return p
}

// dropProfile counts one user of profile record p fewer.
func (e *tableEditor) dropProfile(p profRef) {
	if p != 0 {
		e.countProfileUser(p, -1)
	}
}

func (e *tableEditor) countProfileUser(p profRef, n int32) {
	if e.profiles.get(uint32(p)).refs == pinnedUsers {
		return
	}
	if e.profileUsers == nil {
		e.profileUsers = map[profRef]int32{}
	}
	e.profileUsers[p] += n
}

// A profile record with pinAt users or more (a preset most devices use)
// is pinned: its users are no longer counted, and it is never freed. An
// edit that moves devices between presets then copies no chunk of
// profile records, and the records left behind are at most one per
// pinAt users the tables ever held at once.
const (
	pinAt       = 256
	pinnedUsers = ^uint32(0)
)

// countProfileUsers writes the users the edit counted to the profile
// records, freeing those left with none. Records made in the edit start
// at none.
func (e *tableEditor) countProfileUsers() {
	ps := make([]profRef, 0, len(e.profileUsers))
	for p, n := range e.profileUsers {
		if r := e.profiles.get(uint32(p)); r.refs != pinnedUsers && (n != 0 || r.refs == 0) {
			ps = append(ps, p)
		}
	}
	// In order, so that the free list, and the indexes the next edits
	// give, do not depend on the map's.
	slices.Sort(ps)
	for _, p := range ps {
		r := e.profiles.get(uint32(p))
		switch n := int64(r.refs) + int64(e.profileUsers[p]); {
		case n <= 0:
			e.profileNames.Delete(r.name)
			r = profileRecord{}
			e.freeProfiles = append(e.freeProfiles, p)
		case n >= pinAt:
			r.refs = pinnedUsers
		default:
			r.refs = uint32(n)
		}
		e.profiles.set(uint32(p), r)
	}
	e.profileUsers = nil
}

// reindexProfile looks the index of profile name up again, if a record
// names it.
func (e *tableEditor) reindexProfile(name string) {
	p, ok := e.profileNames.Get(name)
	if !ok {
		return
	}
	r := e.profiles.get(uint32(p))
	next := r
	next.hint = 0
	if e.index != nil {
		if i, ok := e.index.Profile(name); ok {
			next.name, next.hint = e.index.ProfileName(i), int32(i+1)
		}
	}
	// A profile replaced at its index keeps its hint but comes with a
	// new string of the same name: the record takes it, or the Policy
	// step would compare two copies of the name byte by byte (two more
	// cache misses a query for a household's own profile).
	if next.hint != r.hint || unsafe.StringData(next.name) != unsafe.StringData(r.name) {
		e.profiles.set(uint32(p), next)
	}
}

// claiming is a device being added: its record is written once its
// identifiers are counted.
type claiming struct {
	ref  devRef
	name string
	refs uint32
	// hh is the device's household, for the entries' hint.
	hh hhRef
}

// take checks that an identifier, held by prev when had, may go to the
// device c, and moves its reference. It reports whether the entry must be
// written: not when c holds it already.
func (e *tableEditor) take(c *claiming, prev devRef, had bool, what, text string) (bool, error) {
	if had {
		if prev == c.ref {
			return false, nil
		}
		if n := e.devices.get(uint32(prev)).name; n != c.name {
			if text == "" {
				return false, fmt.Errorf("%s: already claimed by device %q", what, n)
			}
			return false, fmt.Errorf("%s %q: already claimed by device %q", what, text, n)
		}
		e.unref(prev)
	}
	c.refs++
	return true, nil
}

// unref drops one reference to device record d, freeing it at none.
func (e *tableEditor) unref(d devRef) {
	r := e.devices.get(uint32(d))
	if r.refs--; r.refs == 0 {
		e.dropProfile(r.profile)
		r = deviceRecord{}
		e.freeDevices = append(e.freeDevices, d)
	}
	e.devices.set(uint32(d), r)
}

// add indexes the identifiers of one device. Repeating an identifier
// within a device is harmless; sharing it with another device is an
// error, as the match would depend on configuration order.
func (e *tableEditor) add(cd Device) error {
	if cd.Profile == "" && cd.Household == "" {
		return fmt.Errorf("identity: device %q: empty profile", cd.Name)
	}
	c := claiming{name: cd.Name, hh: e.household(cd.Household)}
	if n := len(e.freeDevices); n > 0 {
		c.ref, e.freeDevices = e.freeDevices[n-1], e.freeDevices[:n-1]
	} else {
		c.ref = devRef(e.devices.r.n)
	}
	if err := e.addKeys(&c, cd); err != nil {
		return fmt.Errorf("identity: device %q: %w", cd.Name, err)
	}
	if c.refs == 0 {
		// Nothing names the device: its index stays free.
		if c.ref < devRef(e.devices.r.n) {
			e.freeDevices = append(e.freeDevices, c.ref)
		}
		return nil
	}
	e.devices.set(uint32(c.ref), deviceRecord{name: cd.Name, profile: e.useProfile(cd.Profile), household: c.hh, refs: c.refs})
	return nil
}

func (e *tableEditor) addKeys(c *claiming, cd Device) error {
	for _, s := range cd.ClientIDs {
		k, ok := validClientID(s)
		if !ok {
			return fmt.Errorf("client id %q: want 1 to %d letters, digits or hyphens", s, maxClientID)
		}
		if err := claim(e, e.clientID, k, c, "client id", s); err != nil {
			return err
		}
	}
	if cd.DNSIDHash != "" {
		h, err := ParseDNSIDHash(cd.DNSIDHash)
		if err != nil {
			return err
		}
		k := secretKey(h)
		prev, had := e.secret.Get(k)
		if put, err := e.take(c, prev.dev, had, "DNS id", ""); err != nil {
			return err
		} else if put {
			e.secret.Put(k, secretEntry{hash: h, dev: c.ref})
		}
	}
	for _, hw := range cd.MACs {
		m, ok := macFrom(hw)
		if !ok {
			return fmt.Errorf("MAC %q: want a non-zero 6-byte address", hw)
		}
		prev, had := e.mac.Get(m)
		if put, err := e.take(c, prev.dev, had, "MAC", m.String()); err != nil {
			return err
		} else if put {
			text := prev.text
			if !had {
				text = e.newMACText(m)
			}
			e.mac.Put(m, macEntry{dev: c.ref, text: text, hh: c.hh})
		}
	}
	for _, a := range cd.IPs {
		if !a.IsValid() {
			return errors.New("IP: invalid (zero) address")
		}
		u := a.Unmap().WithZone("")
		k := keyOf(u)
		prev, _ := e.addr.Get(k)
		if put, err := e.take(c, prev.dev, prev.dev != 0, "IP", a.String()); err != nil {
			return err
		} else if put {
			if prev.dev == 0 && u.Is6() {
				e.devices6++
			}
			prev.dev, prev.devHH = c.ref, c.hh
			e.addr.Put(k, prev)
		}
	}
	for _, p := range cd.CIDRs {
		if !p.IsValid() {
			return fmt.Errorf("CIDR %q: invalid prefix", p)
		}
		p = canonicalPrefix(p)
		t := &e.cidr6
		if p.Addr().Is4() {
			t = &e.cidr4
		}
		prev, had := t.get(p)
		if put, err := e.take(c, prev, had, "CIDR", p.String()); err != nil {
			return err
		} else if put {
			t.put(p, c.ref)
		}
	}
	return nil
}

// remove drops the identifiers of cd that still name it. Identifiers that
// do not parse were never added.
func (e *tableEditor) remove(cd Device) {
	for _, s := range cd.ClientIDs {
		if k, ok := validClientID(s); ok {
			unclaim(e, e.clientID, k, cd.Name)
		}
	}
	if h, err := ParseDNSIDHash(cd.DNSIDHash); cd.DNSIDHash != "" && err == nil {
		if prev, ok := e.secret.Get(secretKey(h)); ok && e.named(prev.dev, cd.Name) {
			e.secret.Delete(secretKey(h))
			e.unref(prev.dev)
		}
	}
	for _, hw := range cd.MACs {
		if m, ok := macFrom(hw); ok {
			if prev, ok := e.mac.Get(m); ok && e.named(prev.dev, cd.Name) {
				e.mac.Delete(m)
				e.freeMACTexts = append(e.freeMACTexts, prev.text)
				e.unref(prev.dev)
			}
		}
	}
	for _, a := range cd.IPs {
		if a.IsValid() {
			a = a.Unmap().WithZone("")
			k := keyOf(a)
			if prev, ok := e.addr.Get(k); ok && prev.dev != 0 && e.named(prev.dev, cd.Name) {
				if a.Is6() {
					e.devices6--
				}
				e.unref(prev.dev)
				e.setAddr(k, addrEntry{hh: prev.hh})
			}
		}
	}
	for _, p := range cd.CIDRs {
		if !p.IsValid() {
			continue
		}
		p = canonicalPrefix(p)
		t := &e.cidr6
		if p.Addr().Is4() {
			t = &e.cidr4
		}
		if prev, ok := t.get(p); ok && e.named(prev, cd.Name) {
			t.delete(p)
			e.unref(prev)
		}
	}
}

// newMACText stores the text of m and returns its index.
func (e *tableEditor) newMACText(m mac) uint32 {
	var i uint32
	if n := len(e.freeMACTexts); n > 0 {
		i, e.freeMACTexts = e.freeMACTexts[n-1], e.freeMACTexts[:n-1]
	} else {
		i = e.macTexts.r.n
	}
	e.macTexts.set(i, m.text())
	return i
}

// named reports whether device record d is the device of that name.
func (e *tableEditor) named(d devRef, name string) bool {
	return e.devices.get(uint32(d)).name == name
}

// claim records that key belongs to the device c, or says which device
// has it.
func claim[K comparable](e *tableEditor, m *shardmap.Editor[K, devEntry], key K, c *claiming, what, text string) error {
	prev, had := m.Get(key)
	put, err := e.take(c, prev.dev, had, what, text)
	if put {
		m.Put(key, devEntry{dev: c.ref, hh: c.hh})
	}
	return err
}

// unclaim removes key if it belongs to the device of that name.
func unclaim[K comparable](e *tableEditor, m *shardmap.Editor[K, devEntry], key K, name string) {
	if prev, ok := m.Get(key); ok && e.named(prev.dev, name) {
		m.Delete(key)
		e.unref(prev.dev)
	}
}

// bindingKey checks b and returns which table it belongs in and its key
// there, in canonical form.
func bindingKey(b Binding) (kind int, a netip.Addr, p netip.Prefix, s string, err error) {
	n := 0
	if b.Addr.IsValid() {
		n++
		a = b.Addr.Unmap().WithZone("")
		if !a.Is4() {
			return 0, a, p, s, fmt.Errorf("identity: binding %s: not an IPv4 address", b.Addr)
		}
		kind = 1
	}
	if b.Prefix.IsValid() {
		n++
		p = b.Prefix.Masked()
		if !p.Addr().Is6() || p.Addr().Is4In6() || p.Bits() < 48 || p.Bits() > 64 {
			return 0, a, p, s, fmt.Errorf("identity: binding %s: want an IPv6 prefix of /48 to /64", b.Prefix)
		}
		kind = 2
	}
	if b.CPE != "" {
		n++
		if len(b.CPE) > maxClientID {
			return 0, a, p, s, fmt.Errorf("identity: binding CPE id of %d bytes: at most %d", len(b.CPE), maxClientID)
		}
		// CPE ids match in any case, as device ids in option 65074 do.
		kind, s = 3, strings.ToLower(b.CPE)
	}
	if b.ClientID != "" {
		n++
		k, ok := validClientID(b.ClientID)
		if !ok {
			return 0, a, p, s, fmt.Errorf("identity: binding client id %q: want 1 to %d letters, digits or hyphens", b.ClientID, maxClientID)
		}
		kind, s = 4, k
	}
	if n != 1 {
		return 0, a, p, s, fmt.Errorf("identity: binding of household %q: want exactly one of address, prefix, CPE id and client id, have %d", b.Household, n)
	}
	return kind, a, p, s, nil
}

// bind sets the household of b's identifier.
func (e *tableEditor) bind(b Binding) error {
	if b.Household == "" {
		return errors.New("identity: binding without a household")
	}
	kind, a, p, s, err := bindingKey(b)
	if err != nil {
		return err
	}
	h := e.household(b.Household)
	switch kind {
	case 1:
		prev, _ := e.addr.Get(keyOf(a))
		prev.hh = h
		e.addr.Put(keyOf(a), prev)
	case 2:
		e.bind6.put(p, h)
	case 3:
		e.bindCPE.Put(s, h)
	default:
		e.bindClientID.Put(s, h)
	}
	return nil
}

// unbind drops the binding of b's identifier.
func (e *tableEditor) unbind(b Binding) error {
	kind, a, p, s, err := bindingKey(b)
	switch {
	case err != nil:
		return err
	case kind == 1:
		if prev, ok := e.addr.Get(keyOf(a)); ok {
			e.setAddr(keyOf(a), addrEntry{dev: prev.dev, devHH: prev.devHH})
		}
	case kind == 2:
		e.bind6.delete(p)
	case kind == 3:
		e.bindCPE.Delete(s)
	default:
		e.bindClientID.Delete(s)
	}
	return nil
}

// setAddr sets the entry of address k, dropping it when it names
// nothing.
func (e *tableEditor) setAddr(k addrKey, a addrEntry) {
	if a == (addrEntry{}) {
		e.addr.Delete(k)
		return
	}
	e.addr.Put(k, a)
}

// householdIdentity is the identity of a query bound to household h.
func (id *Identifier) householdIdentity(h hhRef, via string) pipeline.Identity {
	r := id.households.at(uint32(h))
	ident := pipeline.Identity{Household: r.id, Profile: id.unknown.Profile, ProfileHint: id.unknown.ProfileHint, Via: via}
	if r.profile != 0 {
		p := id.profiles.at(uint32(r.profile))
		ident.Profile, ident.ProfileHint = p.name, p.hint
	}
	return ident
}

// boundClientID finds the household bound to client id s, ignoring case,
// without allocating.
func (id *Identifier) boundClientID(s string) (hhRef, bool) {
	if id.bindClientID.Len() == 0 || len(s) == 0 || len(s) > maxClientID {
		return 0, false
	}
	var buf [maxClientID]byte
	for i := 0; i < len(s); i++ {
		buf[i] = lower(s[i])
	}
	return id.bindClientID.Get(view(buf[:len(s)]))
}

// bindSource finds the household bound to a trusted forwarder's CPE id
// (any case), else to the source address: its IPv4 address (addr is
// src's entry in byAddr), or the longest delegated IPv6 prefix holding
// it.
func (id *Identifier) bindSource(cpe []byte, src netip.Addr, addr addrEntry) (h hhRef, ok bool, via string) {
	if len(cpe) > 0 && len(cpe) <= maxClientID && id.bindCPE.Len() > 0 {
		var buf [maxClientID]byte
		for i, c := range cpe {
			buf[i] = lower(c)
		}
		if h, ok := id.bindCPE.Get(view(buf[:len(cpe)])); ok {
			return h, true, viaBindCPE
		}
	}
	if src.Is4() {
		h, ok = addr.hh, addr.hh != 0
	} else {
		h, ok = id.bind6.lookup(src)
	}
	return h, ok, viaBindIP
}

// view returns b as a string without copying, for a lookup key that lives
// no longer than the lookup: the generic shardmap.Map.Get would otherwise
// allocate a copy per query. The caller must not change b meanwhile.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// prefixTable finds the longest prefix containing an address: one map
// probe per distinct prefix length in use, longest first, so its cost
// grows with the number of lengths (at most 17 for delegated IPv6
// prefixes), not of prefixes.
type prefixTable[V any] struct {
	m     *shardmap.Map[prefixKey, V]
	count *[129]int32 // prefixes per length; shared until an edit changes it
	bits  []int       // lengths in use, longest first
}

// prefixKey is a masked prefix as a table key, without netip.Addr's
// pointer.
type prefixKey struct {
	a    [16]byte
	bits uint8
}

func keyOfPrefix(p netip.Prefix) prefixKey {
	return prefixKey{a: p.Addr().As16(), bits: uint8(p.Bits())}
}

func newPrefixTable[V any](sizeHint int) prefixTable[V] {
	return prefixTable[V]{m: shardmap.New[prefixKey, V](sizeHint), count: new([129]int32)}
}

func (t *prefixTable[V]) lookup(a netip.Addr) (V, bool) {
	for _, b := range t.bits {
		p, err := a.Prefix(b)
		if err != nil {
			break
		}
		if v, ok := t.m.Get(keyOfPrefix(p)); ok {
			return v, true
		}
	}
	var zero V
	return zero, false
}

// get returns the value of exactly p (masked).
func (t *prefixTable[V]) get(p netip.Prefix) (V, bool) { return t.m.Get(keyOfPrefix(p)) }

// prefixEditor edits a prefixTable.
type prefixEditor[V any] struct {
	m     *shardmap.Editor[prefixKey, V]
	count [129]int32
	old   prefixTable[V]
}

func (t *prefixTable[V]) edit() prefixEditor[V] {
	return prefixEditor[V]{m: t.m.Edit(), count: *t.count, old: *t}
}

func (e *prefixEditor[V]) get(p netip.Prefix) (V, bool) { return e.m.Get(keyOfPrefix(p)) }

func (e *prefixEditor[V]) put(p netip.Prefix, v V) {
	k := keyOfPrefix(p)
	if _, ok := e.m.Get(k); !ok {
		e.count[p.Bits()]++
	}
	e.m.Put(k, v)
}

func (e *prefixEditor[V]) delete(p netip.Prefix) {
	k := keyOfPrefix(p)
	if _, ok := e.m.Get(k); ok {
		e.count[p.Bits()]--
		e.m.Delete(k)
	}
}

func (e *prefixEditor[V]) done() prefixTable[V] {
	m := e.m.Map()
	if m == e.old.m && e.count == *e.old.count {
		return e.old
	}
	t := prefixTable[V]{m: m, count: new([129]int32)}
	*t.count = e.count
	for b := 128; b >= 0; b-- {
		if t.count[b] > 0 {
			t.bits = append(t.bits, b)
		}
	}
	return t
}

// Owner returns the name of the device k recognises, if any.
func (id *Identifier) Owner(k netid.Key) (string, bool) {
	var d devRef
	switch k.Kind {
	case netid.KindIP:
		if a, err := netip.ParseAddr(k.Value); err == nil {
			e, _ := id.byAddr.Get(keyOf(a.Unmap().WithZone("")))
			d = e.dev
		}
	case netid.KindMAC:
		if hw, err := netid.ParseMAC(k.Value); err == nil {
			if m, ok := macFrom(hw); ok {
				me, _ := id.byMAC.Get(m)
				d = me.dev
			}
		}
	case netid.KindClientID:
		if c, ok := validClientID(k.Value); ok {
			de, _ := id.byClientID.Get(c)
			d = de.dev
		}
	case netid.KindDNSID:
		if h, err := ParseDNSIDHash(k.Value); err == nil {
			if e, ok := id.bySecret.m.Get(secretKey(h)); ok && e.hash == h {
				d = e.dev
			}
		}
	case netid.KindCIDR:
		if p, err := netip.ParsePrefix(k.Value); err == nil {
			p = canonicalPrefix(p)
			t := &id.cidr6
			if p.Addr().Is4() {
				t = &id.cidr4
			}
			d, _ = t.get(p)
		}
	}
	if d == 0 {
		return "", false
	}
	return id.devices.at(uint32(d)).name, true
}
