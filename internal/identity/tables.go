package identity

import (
	"errors"
	"fmt"
	"net/netip"
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
}

// Update returns the Identifier after u, leaving id as it is: tables u
// does not touch, and the shards of the tables it touches that it does
// not, are shared between the two. Its cost grows with the size of u,
// not of the tables. An error leaves nothing changed.
func (id *Identifier) Update(u Update) (*Identifier, error) {
	e := id.tables.edit()
	for _, d := range u.Remove {
		e.remove(d)
	}
	for _, d := range u.Put {
		if err := e.add(d); err != nil {
			return nil, err
		}
	}
	for _, h := range u.RemoveHouseholds {
		e.households.Delete(h)
	}
	for _, h := range u.Households {
		e.households.Put(h.ID, h.DefaultProfile)
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
	return &next, nil
}

// tables are an Identifier's lookup tables. Values are pointers to
// devices shared by every table, or household ids (strings sharing their
// bytes with the household table's keys).
type tables struct {
	byClientID *shardmap.Map[string, *device]
	bySecret   secretTable
	byMAC      *shardmap.Map[mac, macEntry]
	byIP       *shardmap.Map[netip.Addr, *device]
	cidr4      prefixTable[*device]
	cidr6      prefixTable[*device]
	// households maps a household id to its default profile.
	households *shardmap.Map[string, string]
	// bind4, bind6, bindCPE and bindClientID map a subscriber identifier
	// to its household's id.
	bind4        *shardmap.Map[netip.Addr, string]
	bind6        prefixTable[string]
	bindCPE      *shardmap.Map[string, string]
	bindClientID *shardmap.Map[string, string]
}

// newTables returns empty tables sized for devices and bindings, and x
// more.
func newTables(devices, bindings int, x Expect) tables {
	return tables{
		byClientID:   shardmap.New[string, *device](devices/8 + x.ClientIDs),
		bySecret:     secretTable{m: shardmap.New[uint64, secretEntry](devices/8 + x.DNSIDs)},
		byMAC:        shardmap.New[mac, macEntry](devices/2 + x.MACs),
		byIP:         shardmap.New[netip.Addr, *device](devices/2 + x.IPs),
		cidr4:        newPrefixTable[*device](0),
		cidr6:        newPrefixTable[*device](0),
		households:   shardmap.New[string, string](devices/4 + x.Households),
		bind4:        shardmap.New[netip.Addr, string](bindings/2 + x.IPv4Bindings),
		bind6:        newPrefixTable[string](bindings/2 + x.IPv6Bindings),
		bindCPE:      shardmap.New[string, string](0),
		bindClientID: shardmap.New[string, string](0),
	}
}

// tableEditor edits every table of one Identifier.
type tableEditor struct {
	clientID     *shardmap.Editor[string, *device]
	secret       *shardmap.Editor[uint64, secretEntry]
	mac          *shardmap.Editor[mac, macEntry]
	ip           *shardmap.Editor[netip.Addr, *device]
	cidr4, cidr6 prefixEditor[*device]
	households   *shardmap.Editor[string, string]
	bind4        *shardmap.Editor[netip.Addr, string]
	bind6        prefixEditor[string]
	bindCPE      *shardmap.Editor[string, string]
	bindClientID *shardmap.Editor[string, string]
}

func (t *tables) edit() *tableEditor {
	return &tableEditor{
		clientID: t.byClientID.Edit(), secret: t.bySecret.m.Edit(), mac: t.byMAC.Edit(), ip: t.byIP.Edit(),
		cidr4: t.cidr4.edit(), cidr6: t.cidr6.edit(), households: t.households.Edit(),
		bind4: t.bind4.Edit(), bind6: t.bind6.edit(), bindCPE: t.bindCPE.Edit(), bindClientID: t.bindClientID.Edit(),
	}
}

func (e *tableEditor) done() tables {
	return tables{
		byClientID: e.clientID.Map(), bySecret: secretTable{m: e.secret.Map()}, byMAC: e.mac.Map(), byIP: e.ip.Map(),
		cidr4: e.cidr4.done(), cidr6: e.cidr6.done(), households: e.households.Map(),
		bind4: e.bind4.Map(), bind6: e.bind6.done(), bindCPE: e.bindCPE.Map(), bindClientID: e.bindClientID.Map(),
	}
}

// add indexes the identifiers of one device. Repeating an identifier
// within a device is harmless; sharing it with another device is an
// error, as the match would depend on configuration order.
func (e *tableEditor) add(cd Device) error {
	if cd.Profile == "" && cd.Household == "" {
		return fmt.Errorf("identity: device %q: empty profile", cd.Name)
	}
	d := &device{name: cd.Name, profile: cd.Profile, household: cd.Household}
	if err := e.addKeys(d, cd); err != nil {
		return fmt.Errorf("identity: device %q: %w", cd.Name, err)
	}
	return nil
}

func (e *tableEditor) addKeys(d *device, cd Device) error {
	for _, s := range cd.ClientIDs {
		k, ok := validClientID(s)
		if !ok {
			return fmt.Errorf("client id %q: want 1 to %d letters, digits or hyphens", s, maxClientID)
		}
		if err := claim(e.clientID, k, d, "client id", s); err != nil {
			return err
		}
	}
	if cd.DNSIDHash != "" {
		h, err := ParseDNSIDHash(cd.DNSIDHash)
		if err != nil {
			return err
		}
		if err := add(e.secret, h, d); err != nil {
			return err
		}
	}
	for _, hw := range cd.MACs {
		m, ok := macFrom(hw)
		if !ok {
			return fmt.Errorf("MAC %q: want a non-zero 6-byte address", hw)
		}
		if prev, dup := e.mac.Get(m); dup && prev.dev.name != d.name {
			return fmt.Errorf("MAC %q: already claimed by device %q", m, prev.dev.name)
		}
		e.mac.Put(m, macEntry{dev: d, text: m.String()})
	}
	for _, a := range cd.IPs {
		if !a.IsValid() {
			return errors.New("IP: invalid (zero) address")
		}
		if err := claim(e.ip, a.Unmap().WithZone(""), d, "IP", a.String()); err != nil {
			return err
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
		if prev, dup := t.m.Get(p); dup && prev.name != d.name {
			return fmt.Errorf("CIDR %q: already claimed by device %q", p, prev.name)
		}
		t.put(p, d)
	}
	return nil
}

// remove drops the identifiers of cd that still name it. Identifiers that
// do not parse were never added.
func (e *tableEditor) remove(cd Device) {
	for _, s := range cd.ClientIDs {
		if k, ok := validClientID(s); ok {
			unclaim(e.clientID, k, cd.Name)
		}
	}
	if h, err := ParseDNSIDHash(cd.DNSIDHash); cd.DNSIDHash != "" && err == nil {
		if prev, ok := e.secret.Get(secretKey(h)); ok && prev.dev.name == cd.Name {
			e.secret.Delete(secretKey(h))
		}
	}
	for _, hw := range cd.MACs {
		if m, ok := macFrom(hw); ok {
			if prev, ok := e.mac.Get(m); ok && prev.dev.name == cd.Name {
				e.mac.Delete(m)
			}
		}
	}
	for _, a := range cd.IPs {
		if a.IsValid() {
			unclaim(e.ip, a.Unmap().WithZone(""), cd.Name)
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
		if prev, ok := t.m.Get(p); ok && prev.name == cd.Name {
			t.delete(p)
		}
	}
}

// claim records that key belongs to d, or says which device has it.
func claim[K comparable](e *shardmap.Editor[K, *device], key K, d *device, what, text string) error {
	if prev, dup := e.Get(key); dup && prev.name != d.name {
		return fmt.Errorf("%s %q: already claimed by device %q", what, text, prev.name)
	}
	e.Put(key, d)
	return nil
}

// unclaim removes key if it belongs to the device of that name.
func unclaim[K comparable](e *shardmap.Editor[K, *device], key K, name string) {
	if prev, ok := e.Get(key); ok && prev.name == name {
		e.Delete(key)
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
	switch {
	case err != nil:
		return err
	case kind == 1:
		e.bind4.Put(a, b.Household)
	case kind == 2:
		e.bind6.put(p, b.Household)
	case kind == 3:
		e.bindCPE.Put(s, b.Household)
	default:
		e.bindClientID.Put(s, b.Household)
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
		e.bind4.Delete(a)
	case kind == 2:
		e.bind6.delete(p)
	case kind == 3:
		e.bindCPE.Delete(s)
	default:
		e.bindClientID.Delete(s)
	}
	return nil
}

// householdProfile returns the default profile of household h: its own,
// else the Identifier's.
func (id *Identifier) householdProfile(h string) string {
	if p, _ := id.households.Get(h); p != "" {
		return p
	}
	return id.unknown.Profile
}

// householdIdentity is the identity of a query bound to household h.
func (id *Identifier) householdIdentity(h, via string) pipeline.Identity {
	return pipeline.Identity{Household: h, Profile: id.householdProfile(h), Via: via}
}

// boundClientID finds the household bound to client id s, ignoring case,
// without allocating.
func (id *Identifier) boundClientID(s string) (string, bool) {
	if id.bindClientID.Len() == 0 || len(s) == 0 || len(s) > maxClientID {
		return "", false
	}
	var buf [maxClientID]byte
	for i := 0; i < len(s); i++ {
		buf[i] = lower(s[i])
	}
	return id.bindClientID.Get(view(buf[:len(s)]))
}

// bindSource finds the household bound to a trusted forwarder's CPE id
// (any case),
// else to the source address: its IPv4 address, or the longest delegated
// IPv6 prefix holding it.
func (id *Identifier) bindSource(cpe []byte, src netip.Addr) (h string, ok bool, via string) {
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
		h, ok = id.bind4.Get(src)
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
	m     *shardmap.Map[netip.Prefix, V]
	count *[129]int32 // prefixes per length; shared until an edit changes it
	bits  []int       // lengths in use, longest first
}

func newPrefixTable[V any](sizeHint int) prefixTable[V] {
	return prefixTable[V]{m: shardmap.New[netip.Prefix, V](sizeHint), count: new([129]int32)}
}

func (t *prefixTable[V]) lookup(a netip.Addr) (V, bool) {
	for _, b := range t.bits {
		p, err := a.Prefix(b)
		if err != nil {
			break
		}
		if v, ok := t.m.Get(p); ok {
			return v, true
		}
	}
	var zero V
	return zero, false
}

// prefixEditor edits a prefixTable.
type prefixEditor[V any] struct {
	m     *shardmap.Editor[netip.Prefix, V]
	count [129]int32
	old   prefixTable[V]
}

func (t *prefixTable[V]) edit() prefixEditor[V] {
	return prefixEditor[V]{m: t.m.Edit(), count: *t.count, old: *t}
}

func (e *prefixEditor[V]) put(p netip.Prefix, v V) {
	if _, ok := e.m.Get(p); !ok {
		e.count[p.Bits()]++
	}
	e.m.Put(p, v)
}

func (e *prefixEditor[V]) delete(p netip.Prefix) {
	if _, ok := e.m.Get(p); ok {
		e.count[p.Bits()]--
		e.m.Delete(p)
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
	var d *device
	switch k.Kind {
	case netid.KindIP:
		if a, err := netip.ParseAddr(k.Value); err == nil {
			d, _ = id.byIP.Get(a.Unmap().WithZone(""))
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
			d, _ = id.byClientID.Get(c)
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
			d, _ = t.m.Get(p)
		}
	}
	if d == nil {
		return "", false
	}
	return d.name, true
}
