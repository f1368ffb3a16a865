// Package netid parses and canonicalises the identifiers of devices on
// the home network: MAC addresses, IP addresses, networks (CIDR), client
// ids and host names. Every edge that accepts one (the API, the config
// loader, the policy compiler reading the store) calls this package, so a
// value accepted in one place is accepted, and spelled the same, in all
// the others: two spellings of one identifier are one identifier.
//
// Each Parse function returns the canonical form or an error that quotes
// the bad input and says what is wrong with it.
package netid

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// MaxClientID is the longest client id: one DNS label, so that every id
// can also be sent as the first label of a TLS server name.
const MaxClientID = 63

// MaxHostname is the longest host name, as in a DNS name (RFC 1035 2.3.4).
const MaxHostname = 253

// ParseMAC parses a 6-byte (EUI-48) hardware address in any form
// net.ParseMAC accepts ("aa:bb:cc:dd:ee:ff", "AA-BB-CC-DD-EE-FF",
// "aabb.ccdd.eeff") and returns it. It refuses the all-zero address, the
// broadcast address and multicast (group) addresses: no single device
// sends from them, and the neighbour table never reports them.
func ParseMAC(s string) (net.HardwareAddr, error) {
	hw, err := net.ParseMAC(strings.TrimSpace(s))
	if err != nil || len(hw) != 6 {
		return nil, fmt.Errorf("%q is not a MAC address (aa:bb:cc:dd:ee:ff)", s)
	}
	switch {
	case string(hw) == "\x00\x00\x00\x00\x00\x00":
		return nil, fmt.Errorf("%q is the all-zero MAC address, which no device has", s)
	case string(hw) == "\xff\xff\xff\xff\xff\xff":
		return nil, fmt.Errorf("%q is the broadcast MAC address, which no device has", s)
	case hw[0]&1 != 0:
		return nil, fmt.Errorf("%q is a multicast MAC address, which no device sends from", s)
	}
	return hw, nil
}

// CanonicalMAC is ParseMAC returning the canonical text form: lower case
// with colons.
func CanonicalMAC(s string) (string, error) {
	hw, err := ParseMAC(s)
	if err != nil {
		return "", err
	}
	return hw.String(), nil
}

// ParseIP parses a device's IP address. An IPv4-mapped IPv6 address is
// returned as the IPv4 address it carries, since sources are matched
// unmapped. Zoned addresses ("fe80::1%eth0") are refused: the zone is a
// local interface name, not part of a client's address, and a query's
// source never carries it.
func ParseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q has a zone (%%%s): give the address without it", s, a.Zone())
	}
	if a.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("%q is the unspecified address, which no device has", s)
	}
	if a.IsMulticast() {
		return netip.Addr{}, fmt.Errorf("%q is a multicast address, which no device sends from", s)
	}
	return a.Unmap(), nil
}

// CanonicalIP is ParseIP returning the canonical text form.
func CanonicalIP(s string) (string, error) {
	a, err := ParseIP(s)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

// ParsePrefix parses a network in CIDR form ("192.168.1.0/24"). The
// result is masked ("192.168.1.7/24" is 192.168.1.0/24), and an
// IPv4-mapped IPv6 network is returned as the IPv4 network it covers.
// Zoned addresses are refused, as in ParseIP.
func ParsePrefix(s string) (netip.Prefix, error) {
	addr, _, ok := strings.Cut(s, "/")
	if !ok {
		return netip.Prefix{}, fmt.Errorf("%q is not a network (CIDR, such as 192.168.1.0/24)", s)
	}
	if strings.Contains(addr, "%") {
		return netip.Prefix{}, fmt.Errorf("%q has a zone: give the network without it", s)
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a network (CIDR, such as 192.168.1.0/24)", s)
	}
	a := p.Addr()
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked(), nil
	}
	return p.Masked(), nil
}

// ParseClientID checks a client id (the DoH path /dns-query/{id}, the
// first label of a DoT/DoH server name, a forwarder's EDNS device id)
// and returns it in lower case: ids are matched without regard to case,
// so "Kid1" and "kid1" are one id. An id is 1 to 63 letters, digits and
// hyphens, neither starting nor ending with a hyphen, so that it is a
// valid DNS label.
func ParseClientID(s string) (string, error) {
	if len(s) == 0 || len(s) > MaxClientID {
		return "", fmt.Errorf("%q: a client id is 1 to %d letters, digits or hyphens", clip(s), MaxClientID)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "", fmt.Errorf("%q: a client id is 1 to %d letters, digits or hyphens", s, MaxClientID)
		}
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return "", fmt.Errorf("%q: a client id must not start or end with a hyphen", s)
	}
	return strings.ToLower(s), nil
}

// ParseHostname checks a device's host name (from DHCP or a parent) and
// returns it in lower case without a trailing dot. Labels are 1 to 63
// letters, digits, hyphens or underscores (DHCP clients send names with
// underscores); the whole name is at most 253 bytes.
func ParseHostname(s string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(s, "."))
	if n == "" || len(n) > MaxHostname {
		return "", fmt.Errorf("%q: a host name is 1 to %d bytes", clip(s), MaxHostname)
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("%q is not a host name: labels are 1 to 63 bytes", s)
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("%q is not a host name: %q is not a letter, digit, hyphen or underscore", s, c)
			}
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("%q is not a host name: a label starts or ends with a hyphen", s)
		}
	}
	return n, nil
}

// clip shortens a long input for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// Kind is the kind of a device identifier.
type Kind string

// Identifier kinds.
const (
	KindMAC      Kind = "mac"
	KindIP       Kind = "ip"
	KindCIDR     Kind = "cidr"
	KindClientID Kind = "client id"
	// KindDNSID is the hash of a Hearth-made DNS id (identity checks its
	// form); two devices must never share one.
	KindDNSID Kind = "dns id"
)

// Key is one identifier in canonical form: two devices with an equal Key
// would be recognised by the same query.
type Key struct {
	Kind  Kind
	Value string
}

// String formats k as "mac aa:bb:cc:dd:ee:ff".
func (k Key) String() string { return string(k.Kind) + " " + k.Value }

// Redacted formats k for logs and other people's eyes: a client id is a
// device's secret (the encrypted-DNS credential), so only its kind is
// shown; other identifiers are shown whole.
func (k Key) Redacted() string {
	switch k.Kind {
	case KindClientID:
		return "a client id"
	case KindDNSID:
		return "a DNS id"
	}
	return k.String()
}

// KeyOf parses one identifier of kind and returns its Key.
func KeyOf(kind Kind, s string) (Key, error) {
	var (
		v   string
		err error
	)
	switch kind {
	case KindMAC:
		v, err = CanonicalMAC(s)
	case KindIP:
		v, err = CanonicalIP(s)
	case KindCIDR:
		var p netip.Prefix
		if p, err = ParsePrefix(s); err == nil {
			v = p.String()
		}
	case KindClientID:
		v, err = ParseClientID(s)
	case KindDNSID:
		v = s
		if v == "" {
			err = errors.New("dns id: empty hash")
		}
	default:
		err = fmt.Errorf("unknown identifier kind %q", kind)
	}
	if err != nil {
		return Key{}, err
	}
	return Key{kind, v}, nil
}

// Owners records which device owns each identifier, so that no two
// devices claim the same one. The zero value is not usable; make one with
// NewOwners.
type Owners struct {
	m map[Key]string
}

// NewOwners returns an empty Owners.
func NewOwners() *Owners { return &Owners{m: map[Key]string{}} }

// Claim records that device owns k. If another device already owns it,
// Claim returns a *DuplicateError naming that device and records nothing.
// A device claiming its own identifier again is no error.
func (o *Owners) Claim(device string, k Key) error {
	if other, ok := o.m[k]; ok && other != device {
		return &DuplicateError{Key: k, Device: device, Other: other}
	}
	o.m[k] = device
	return nil
}

// Owner returns the device owning k, if any.
func (o *Owners) Owner(k Key) (string, bool) {
	d, ok := o.m[k]
	return d, ok
}

// DuplicateError says that an identifier belongs to another device.
type DuplicateError struct {
	Key Key
	// Device is the device that tried to claim Key; Other owns it.
	Device, Other string
}

// Error names the other device, and the identifier unless it is a
// client id (see Key.Redacted).
func (e *DuplicateError) Error() string {
	return fmt.Sprintf("%s belongs to device %s", e.Key.Redacted(), e.Other)
}

// IsDuplicate reports whether err is or wraps a *DuplicateError, and
// returns it.
func IsDuplicate(err error) (*DuplicateError, bool) {
	var d *DuplicateError
	ok := errors.As(err, &d)
	return d, ok
}
