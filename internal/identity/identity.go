// Package identity owns the Identify step of the query path: which
// household, device and profile a request belongs to. It recognises a
// device by its client id (DoH path or TLS server name: a DNS id whose
// secret Hearth made, or an older chosen id), by the EDNS
// options a trusted forwarder adds (device id, MAC, a host-sized client
// subnet), by the MAC the local neighbour table holds for the source, and
// finally by source IP and CIDR. It also strips the private EDNS options
// that carry those identities, so that they never travel upstream. A
// Guard slows down sources that present client ids no device holds.
//
// The lookup tables are built once by New and never change: a new
// configuration means a new Identifier, swapped in by the caller.
package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"unsafe"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/pipeline"
)

// Values of pipeline.Identity.Via.
const (
	viaClientID = "client-id"
	viaDNSID    = "dns-id"
	viaEDNSMAC  = "edns-mac"
	viaMAC      = "mac"
	viaIP       = "ip"
	viaCIDR     = "cidr"
	viaDefault  = "default"
)

// maxClientID is the longest client id: one DNS label, so that every id
// can also be sent as the first label of a TLS server name.
const maxClientID = 63

// Device is a configured device and the identifiers that recognise it.
type Device struct {
	// Name identifies the device in decisions and logs; unique.
	Name string
	// Profile is the name of the profile that applies to the device; ""
	// for a device of a household means the household's default profile
	// (see Config.Households), resolved per query.
	Profile string
	// Household is the tenant the device belongs to ("" at home).
	Household string
	// IPs are the device's exact source addresses. IPv4-mapped IPv6
	// addresses are taken as IPv4.
	IPs []netip.Addr
	// CIDRs are networks the device's queries come from; the longest
	// prefix containing the source wins.
	CIDRs []netip.Prefix
	// MACs are the device's 6-byte hardware addresses, learned from the
	// neighbour table or from a trusted forwarder.
	MACs []net.HardwareAddr
	// ClientIDs are matched, case-insensitively, against the DoH path
	// (/dns-query/{id}), the first label of the TLS server name under a
	// ClientIDDomain, and a trusted forwarder's EDNS device id (option
	// 65074). Each is 1 to 63 letters, digits or hyphens.
	ClientIDs []string
	// DNSIDHash is the hex SHA-256 of the secret of the device's DNS id
	// (see NewDNSID), matched like ClientIDs but by secret alone; "" for
	// none.
	DNSIDHash string
}

// Config configures an Identifier.
type Config struct {
	// Devices are the known devices. A device without identifiers is
	// allowed (it is never matched), so that one unfinished device in a
	// store does not stop a reload.
	Devices []Device
	// DefaultProfile is the profile of unknown devices; required.
	DefaultProfile string
	// TrustedForwarders are the only sources whose EDNS device id, MAC
	// and client subnet options are believed. From anyone else those
	// options are ignored (and still stripped).
	TrustedForwarders []netip.Prefix
	// ClientIDDomains are the DoT/DoH service names under which the first
	// label of the TLS server name is a client id: "emma.dns.example.net"
	// under "dns.example.net" gives "emma". Exactly one label is taken;
	// deeper names give no client id.
	ClientIDDomains []string
	// Neighbors maps LAN source addresses to MACs; nil for none.
	Neighbors NeighborTable
	// Guard, when set, counts client ids that match no device and
	// refuses the queries of a source that tries too many. It outlives
	// Identifiers: pass the same one to each.
	Guard *Guard
	// Households are the households' default profiles, for the devices
	// without a profile of their own and for the subscriber bindings.
	Households []Household
	// Bindings recognise an ISP subscriber's household by the line its
	// queries arrive on, after every device identifier.
	Bindings []Binding
	// Logger receives configuration warnings (a device that can never
	// match); nil discards them.
	Logger *slog.Logger
	// Expect sizes the tables for what an Update will add, on top of
	// Devices, Households and Bindings (a cold build): tables made at
	// their final size are neither grown nor split.
	Expect Expect
	// ProfileIndex, when set, is the policy the tables are compiled
	// with: each profile name the tables keep carries its index there
	// (pipeline.Identity.ProfileHint), so that the Policy step finds the
	// profile without looking the name up. Nil keeps no index.
	ProfileIndex ProfileIndexer
}

// ProfileIndexer gives the index of a profile name in a policy;
// *policy.Snapshot is one.
type ProfileIndexer interface {
	// Profile returns the index of the named profile.
	Profile(name string) (int, bool)
	// ProfileName returns the name of profile i.
	ProfileName(i int) string
}

// hintOf is the ProfileHint of name in x: 1 + its index, 0 for none.
func hintOf(x ProfileIndexer, name string) int32 {
	if x == nil {
		return 0
	}
	if i, ok := x.Profile(name); ok {
		return int32(i + 1)
	}
	return 0
}

// Expect counts the identifiers, households and bindings an Identifier's
// tables are sized for (see Config.Expect).
type Expect struct {
	ClientIDs, DNSIDs, MACs, IPs, Households, IPv4Bindings, IPv6Bindings int
}

// Identifier maps requests to identities. It is immutable after New and
// safe for concurrent use.
type Identifier struct {
	tables
	guard     *Guard
	trusted   []netip.Prefix
	domains   []string // lower case, no trailing dot
	neighbors NeighborTable
	// fastNeighbors is neighbors when it can return a preformatted MAC,
	// so that an unknown device's MAC costs no allocation.
	fastNeighbors macTable
	unknown       pipeline.Identity
}

// macTable is implemented by *Neighbors.
type macTable interface {
	lookupMAC(netip.Addr) (mac, string, bool)
}

// identity is the identity of device d, of household hh as the table
// entry that named d says (0 for no hint). A device without a profile of
// its own gets its household's default profile, read now so that
// changing that default changes no device entry.
func (id *Identifier) identity(d devRef, hh hhRef, via, mac string) pipeline.Identity {
	r := id.devices.at(uint32(d))
	// The hint's record is read beside the device's, not after it: the
	// check below depends on both, but the CPU goes on past it as it
	// predicts, so that neither waits for the other.
	h := id.households.at(uint32(hh))
	if r.household != hh {
		h = id.households.at(uint32(r.household))
	}
	ident := pipeline.Identity{Household: h.id, Device: r.name, Profile: id.unknown.Profile, ProfileHint: id.unknown.ProfileHint, Via: via, MAC: mac}
	p := r.profile
	if p == 0 {
		p = h.profile
	}
	if p != 0 {
		pr := id.profiles.at(uint32(p))
		ident.Profile, ident.ProfileHint = pr.name, pr.hint
	}
	return ident
}

// macEntry is a configured MAC's device, the index of its text, made
// once, in the MAC text records, and the device's household (a hint, see
// devEntry).
type macEntry struct {
	dev  devRef
	text uint32
	hh   hhRef
}

// macTextLen is the length of a MAC's text, "02:00:5e:10:00:01".
const macTextLen = 17

// macText returns the text of me's MAC without allocating: it points
// into the records, which no edit changes once published.
func (id *Identifier) macText(me macEntry) string {
	return unsafe.String(&id.macTexts.at(me.text)[0], macTextLen)
}

// Middleware is the Identify step of pipeline.Steps.
var _ func(*Identifier) pipeline.Middleware = (*Identifier).Middleware

// New validates c and builds the lookup tables. Errors name the device
// and the bad value.
func New(c Config) (*Identifier, error) {
	if c.DefaultProfile == "" {
		return nil, errors.New("identity: default profile is empty")
	}
	id := &Identifier{
		tables:    newTables(len(c.Devices), len(c.Bindings), c.Expect),
		guard:     c.Guard,
		neighbors: c.Neighbors,
		unknown:   pipeline.Identity{Profile: c.DefaultProfile, ProfileHint: hintOf(c.ProfileIndex, c.DefaultProfile), Via: viaDefault},
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if f, ok := c.Neighbors.(macTable); ok {
		id.fastNeighbors = f
	}
	for _, p := range c.TrustedForwarders {
		if !p.IsValid() {
			return nil, fmt.Errorf("identity: trusted forwarder %q: invalid prefix", p)
		}
		id.trusted = append(id.trusted, canonicalPrefix(p))
	}
	for _, d := range c.ClientIDDomains {
		n := strings.TrimSuffix(strings.ToLower(d), ".")
		if n == "" {
			return nil, errors.New("identity: client id domain is empty")
		}
		if _, ok := dns.IsDomainName(n); !ok {
			return nil, fmt.Errorf("identity: client id domain %q: not a domain name", d)
		}
		id.domains = append(id.domains, n)
	}
	e := id.tables.edit()
	e.index = c.ProfileIndex
	for _, h := range c.Households {
		e.setHousehold(h.ID, h.DefaultProfile)
	}
	names := map[string]bool{}
	for i, cd := range c.Devices {
		if cd.Name == "" {
			return nil, fmt.Errorf("identity: device %d: empty name", i)
		}
		if names[cd.Name] {
			return nil, fmt.Errorf("identity: device %q: duplicate name", cd.Name)
		}
		names[cd.Name] = true
		if len(cd.IPs)+len(cd.CIDRs)+len(cd.MACs)+len(cd.ClientIDs) == 0 && cd.DNSIDHash == "" {
			log.Warn("device has no identifiers and will never be recognised", "device", cd.Name)
		}
		if err := e.add(cd); err != nil {
			return nil, err
		}
	}
	for _, b := range c.Bindings {
		if err := e.bind(b); err != nil {
			return nil, err
		}
	}
	id.tables = e.done()
	return id, nil
}

// canonicalPrefix masks p and turns an IPv4-mapped IPv6 prefix into the
// IPv4 prefix it covers, since sources are matched unmapped.
func canonicalPrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr().WithZone("")
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return netip.PrefixFrom(a, p.Bits()).Masked()
}

// validClientID reports whether s is a well-formed client id and returns
// it in lower case.
func validClientID(s string) (string, bool) {
	if len(s) == 0 || len(s) > maxClientID {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "", false
		}
	}
	return strings.ToLower(s), true
}

// Identify returns the identity of r, trying in order: client id (DoH
// path, then TLS server name), the EDNS device id and MAC of a trusted
// forwarder, the neighbour table's MAC for the source, the exact source
// IP, the longest CIDR containing it; else the default profile. A trusted
// forwarder's client subnet option of a single host (/32 or /128) stands
// in for the source address in the last three steps.
//
// Identify only reads r and the Identifier's immutable tables. It
// allocates nothing, except to format a MAC that no device claims when it
// came from EDNS or from a NeighborTable other than *Neighbors (which
// keeps its MACs formatted).
func (id *Identifier) Identify(r *pipeline.Request) pipeline.Identity {
	ident, _, _ := id.identify(r)
	return ident
}

// identify is Identify that also reports whether the source was a trusted
// forwarder, and whether the request carried a client id (DoH path or
// TLS server name) that no device holds.
func (id *Identifier) identify(r *pipeline.Request) (ident pipeline.Identity, trusted, unknownID bool) {
	src := r.Client.Addr().Unmap().WithZone("")
	trusted = id.isTrusted(src)

	if r.ClientID != "" {
		if d, via := id.lookupID(r.ClientID); d.dev != 0 {
			return id.identity(d.dev, d.hh, via, ""), trusted, false
		}
		if h, ok := id.boundClientID(r.ClientID); ok {
			return id.householdIdentity(h, viaBindClientID), trusted, false
		}
		unknownID = true
	}
	if r.ServerName != "" {
		if cid, ok := id.sniClientID(r.ServerName); ok {
			if d, via := id.lookupID(cid); d.dev != 0 {
				return id.identity(d.dev, d.hh, via, ""), trusted, false
			}
			if h, ok := id.boundClientID(cid); ok {
				return id.householdIdentity(h, viaBindClientID), trusted, false
			}
			unknownID = true
		}
	}
	ident = id.identifyRest(r, src, trusted)
	return ident, trusted, unknownID
}

// lookupID finds the device of a presented client id: a DNS id's secret
// first, then a chosen client id.
func (id *Identifier) lookupID(s string) (devEntry, string) {
	if d := id.bySecret.lookup(s); d != 0 {
		return devEntry{dev: d}, viaDNSID
	}
	if d := id.lookupClientID(s); d.dev != 0 {
		return d, viaClientID
	}
	return devEntry{}, ""
}

// identifyRest is identify after the client ids: EDNS, MAC, IP, CIDR,
// then the subscriber bindings (CPE id, IPv4 address, IPv6 prefix): a
// device the household named is recognised more precisely than the line
// its queries arrive on.
func (id *Identifier) identifyRest(r *pipeline.Request, src netip.Addr, trusted bool) pipeline.Identity {
	// learned is a MAC known for the request, kept for Identity.MAC even
	// when no device claims it; learnedText is its text when already made.
	var (
		learned     mac
		haveMAC     bool
		learnedText string
		e           ednsIdentity
	)
	if trusted && r.Msg != nil {
		e = readEDNS(r.Msg)
		if e.deviceID != nil {
			if d := id.bySecret.lookupBytes(e.deviceID); d != 0 {
				return id.identity(d, 0, viaDNSID, "")
			}
			if d := id.lookupClientIDBytes(e.deviceID); d.dev != 0 {
				return id.identity(d.dev, d.hh, viaClientID, "")
			}
		}
		if e.subnet.IsValid() {
			src = e.subnet
		}
	}
	// A subscriber's line (CPE id, then address) makes the query its
	// household's: a device recognised by MAC, IP or CIDR still wins,
	// but only a device of that household, so that another household
	// cannot take over the subscriber's queries by claiming an address.
	var addr addrEntry
	if src.Is4() || id.devices6 > 0 {
		addr, _ = id.byAddr.Get(keyOf(src))
	}
	h, bound, via := id.bindSource(e.deviceID, src, addr)
	owns := func(d devRef) bool { return !bound || id.devices.at(uint32(d)).household == h }

	if e.haveMAC {
		if me, ok := id.byMAC.Get(e.mac); ok && owns(me.dev) {
			return id.identity(me.dev, me.hh, viaEDNSMAC, id.macText(me))
		}
		learned, haveMAC = e.mac, true
	}
	if !haveMAC && id.neighbors != nil {
		if id.fastNeighbors != nil {
			learned, learnedText, haveMAC = id.fastNeighbors.lookupMAC(src)
		} else if hw, ok := id.neighbors.Lookup(src); ok {
			learned, haveMAC = macFrom(hw)
		}
		if haveMAC {
			if me, ok := id.byMAC.Get(learned); ok && owns(me.dev) {
				return id.identity(me.dev, me.hh, viaMAC, id.macText(me))
			}
		}
	}

	macText := ""
	if haveMAC {
		if learnedText == "" {
			learnedText = learned.String()
		}
		macText = learnedText
	}
	if d := addr.dev; d != 0 && owns(d) {
		return id.identity(d, addr.devHH, viaIP, macText)
	}
	t := &id.cidr6
	if src.Is4() {
		t = &id.cidr4
	}
	if d, _ := t.lookup(src); d != 0 && owns(d) {
		return id.identity(d, 0, viaCIDR, macText)
	}
	if bound {
		ident := id.householdIdentity(h, via)
		ident.MAC = macText
		return ident
	}
	u := id.unknown
	u.MAC = macText
	return u
}

func (id *Identifier) isTrusted(a netip.Addr) bool {
	for _, p := range id.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// lookupClientID finds the device of a client id, ignoring case, without
// allocating.
func (id *Identifier) lookupClientID(s string) devEntry {
	if len(s) == 0 || len(s) > maxClientID {
		return devEntry{}
	}
	var buf [maxClientID]byte
	for i := 0; i < len(s); i++ {
		buf[i] = lower(s[i])
	}
	d, _ := id.byClientID.Get(view(buf[:len(s)]))
	return d
}

// lookupClientIDBytes is lookupClientID for an EDNS option's bytes.
func (id *Identifier) lookupClientIDBytes(b []byte) devEntry {
	if len(b) == 0 || len(b) > maxClientID {
		return devEntry{}
	}
	var buf [maxClientID]byte
	for i, c := range b {
		buf[i] = lower(c)
	}
	d, _ := id.byClientID.Get(view(buf[:len(b)]))
	return d
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// sniClientID returns the first label of a TLS server name that is
// exactly one label below a configured client id domain.
func (id *Identifier) sniClientID(sni string) (string, bool) {
	sni = strings.TrimSuffix(sni, ".")
	for _, d := range id.domains {
		n := len(sni) - len(d) - 1
		if n < 1 || sni[n] != '.' || !strings.EqualFold(sni[n+1:], d) {
			continue
		}
		// Deeper names may still sit one label below a longer domain.
		if label := sni[:n]; strings.IndexByte(label, '.') < 0 {
			return label, true
		}
	}
	return "", false
}

// Middleware returns the Identify step: it sets r.Identity and replaces
// r.Msg by a copy without the private EDNS options (see stripPrivate) when
// it carries any. The message the listener built is never modified, so
// whoever else holds it still sees the original.
func (id *Identifier) Middleware() pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
			if !id.Apply(r) {
				return Refuse(w, r)
			}
			return next.ServeDNS(ctx, w, r)
		})
	}
}

// Apply is the work of the Identify step, for a step that loads the
// Identifier from a larger snapshot: it sets r.Identity and strips the
// private EDNS options as Middleware says. It returns false when r
// carries a client id no device holds and its source has tried too many
// (see Guard): the step then answers with Refuse and goes no further.
func (id *Identifier) Apply(r *pipeline.Request) bool {
	ident, trusted, unknownID := id.identify(r)
	if unknownID && id.guard != nil && !id.guard.Unknown(r.Client.Addr()) {
		return false
	}
	r.Identity = ident
	r.Source = id.source(r, trusted)
	if r.Msg != nil {
		r.Msg = stripPrivate(r.Msg, trusted)
	}
	return true
}

// Refuse answers a request that Apply turned down: REFUSED with an
// extended error (Prohibited) saying why. A source guessing ids learns
// nothing more until the Guard lets it try again.
func Refuse(w pipeline.ResponseWriter, r *pipeline.Request) error {
	if r.Msg == nil {
		return errors.New("identify: too many unknown client ids from this source")
	}
	return w.WriteMsg(dnsmsg.Error(r.Msg, dns.RcodeRefused, dnsmsg.EDEProhibited, "too many unknown client ids from this source"))
}

// source returns the address identify looked r's device up by: a trusted
// forwarder's single-host client subnet, else the client's address.
func (id *Identifier) source(r *pipeline.Request, trusted bool) netip.Addr {
	src := r.Client.Addr().Unmap().WithZone("")
	if trusted && r.Msg != nil {
		if e := readEDNS(r.Msg); e.subnet.IsValid() {
			return e.subnet
		}
	}
	return src
}
