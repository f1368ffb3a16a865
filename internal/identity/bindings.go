package identity

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/hearth-dns/hearth/internal/netid"
)

// Values of pipeline.Identity.Via for a query recognised by an ISP
// subscriber binding rather than by a device.
const (
	viaBindClientID = "binding-client-id"
	viaBindCPE      = "binding-cpe"
	viaBindIP       = "binding-ip"
)

// Binding kinds, as package store names them.
const (
	BindIPv4     = "ipv4"
	BindIPv6     = "ipv6"
	BindCPE      = "cpe"
	BindClientID = "client_id"
)

// Binding ties one ISP subscriber identifier to a household: a query that
// carries it, and that no device of that household claims more precisely,
// gets Profile.
type Binding struct {
	// Kind is BindIPv4, BindIPv6 (a /48 to /64 prefix), BindCPE (EDNS
	// option 65074 from a trusted forwarder) or BindClientID (DoH path or
	// TLS server name).
	Kind, Key string
	Household string
	// Profile is the profile the household's unrecognised devices get.
	Profile string
}

// Subscriber is what a binding recognises: the household and the profile
// its unrecognised devices get.
type Subscriber struct {
	Household, Profile string
}

// BindingTable finds the subscriber of a query's identifiers. An
// implementation is immutable and safe for concurrent use, and its
// lookups allocate nothing: they are on every query's path.
// NewBindingIndex returns the simple one; a table built for millions of
// bindings can take its place in Config.Bindings.
type BindingTable interface {
	// ClientID looks up a client id (any case).
	ClientID(id string) (Subscriber, bool)
	// CPE looks up the bytes of EDNS option 65074 (any case).
	CPE(id []byte) (Subscriber, bool)
	// Addr looks up a source address: an IPv4 binding equal to it, or
	// the longest IPv6 binding that contains it.
	Addr(a netip.Addr) (Subscriber, bool)
}

// BindingIndex is the BindingTable of maps: exact keys for client ids,
// CPE ids and IPv4 addresses, and one map per IPv6 prefix length in use,
// probed longest first (at most 17).
type BindingIndex struct {
	clientIDs map[string]*Subscriber
	cpes      map[string]*Subscriber
	v4        map[netip.Addr]*Subscriber
	v6        map[netip.Prefix]*Subscriber
	v6bits    []int // distinct lengths in v6, longest first
}

var _ BindingTable = (*BindingIndex)(nil)

// NewBindingIndex indexes bs. A binding whose key does not parse (package
// netid, as the store checks them) is left out and reported in problems,
// naming it; the rest are indexed. Subscribers of one household and
// profile share one value.
func NewBindingIndex(bs []Binding) (*BindingIndex, []error) {
	x := &BindingIndex{
		clientIDs: map[string]*Subscriber{},
		cpes:      map[string]*Subscriber{},
		v4:        map[netip.Addr]*Subscriber{},
		v6:        map[netip.Prefix]*Subscriber{},
	}
	subs := map[Subscriber]*Subscriber{}
	var problems []error
	for _, b := range bs {
		s := Subscriber{Household: b.Household, Profile: b.Profile}
		sp := subs[s]
		if sp == nil {
			sp = &s
			subs[s] = sp
		}
		if err := x.add(b, sp); err != nil {
			problems = append(problems, fmt.Errorf("binding %s:%s set aside: %w", b.Kind, b.Key, err))
		}
	}
	seen := map[int]bool{}
	for p := range x.v6 {
		if !seen[p.Bits()] {
			seen[p.Bits()] = true
			x.v6bits = append(x.v6bits, p.Bits())
		}
	}
	slices.Sort(x.v6bits)
	slices.Reverse(x.v6bits)
	return x, problems
}

func (x *BindingIndex) add(b Binding, s *Subscriber) error {
	if b.Household == "" || b.Profile == "" {
		return fmt.Errorf("no household or profile")
	}
	switch b.Kind {
	case BindIPv4:
		a, err := netid.ParseIP(b.Key)
		if err != nil {
			return err
		}
		if !a.Is4() {
			return fmt.Errorf("%q is not an IPv4 address", b.Key)
		}
		x.v4[a] = s
	case BindIPv6:
		p, err := netid.ParsePrefix(b.Key)
		if err != nil {
			return err
		}
		if !p.Addr().Is6() || p.Bits() < 48 || p.Bits() > 64 {
			return fmt.Errorf("%q is not an IPv6 prefix of 48 to 64 bits", b.Key)
		}
		x.v6[p] = s
	case BindCPE, BindClientID:
		id, err := netid.ParseClientID(b.Key)
		if err != nil {
			return err
		}
		if b.Kind == BindCPE {
			x.cpes[id] = s
		} else {
			x.clientIDs[id] = s
		}
	default:
		return fmt.Errorf("unknown kind %q", b.Kind)
	}
	return nil
}

// Len returns how many bindings x holds.
func (x *BindingIndex) Len() int {
	return len(x.clientIDs) + len(x.cpes) + len(x.v4) + len(x.v6)
}

// ClientID implements BindingTable.
func (x *BindingIndex) ClientID(id string) (Subscriber, bool) {
	if len(id) == 0 || len(id) > maxClientID {
		return Subscriber{}, false
	}
	var buf [maxClientID]byte
	for i := 0; i < len(id); i++ {
		buf[i] = lower(id[i])
	}
	return found(x.clientIDs[string(buf[:len(id)])])
}

// CPE implements BindingTable.
func (x *BindingIndex) CPE(id []byte) (Subscriber, bool) {
	if len(id) == 0 || len(id) > maxClientID {
		return Subscriber{}, false
	}
	var buf [maxClientID]byte
	for i, c := range id {
		buf[i] = lower(c)
	}
	return found(x.cpes[string(buf[:len(id)])])
}

// Addr implements BindingTable.
func (x *BindingIndex) Addr(a netip.Addr) (Subscriber, bool) {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return found(x.v4[a])
	}
	for _, b := range x.v6bits {
		p, err := a.Prefix(b)
		if err != nil {
			return Subscriber{}, false
		}
		if s := x.v6[p]; s != nil {
			return *s, true
		}
	}
	return Subscriber{}, false
}

func found(s *Subscriber) (Subscriber, bool) {
	if s == nil {
		return Subscriber{}, false
	}
	return *s, true
}
