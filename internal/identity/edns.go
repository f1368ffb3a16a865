package identity

import (
	"encoding/base64"
	"net/netip"

	"github.com/miekg/dns"
)

// Private EDNS option codes. They carry who is behind a forwarder and must
// not leave Hearth.
const (
	// optMAC is dnsmasq --add-mac: the client's MAC as 6 raw bytes
	// (a temporary assignment to dyndns.org).
	optMAC = 65001
	// optMACText is dnsmasq --add-mac=text (aa:bb:cc:dd:ee:ff) or
	// --add-mac=base64 (8 characters): Nominum's device id option.
	optMACText = 65073
	// optDeviceID is dnsmasq --add-cpe-id: a text client id (Nominum's
	// CPE id option).
	optDeviceID = 65074
	// optUmbrellaDeviceID is Cisco Umbrella's device id (0x6942). Hearth
	// strips it but does not identify by it.
	optUmbrellaDeviceID = 26946
)

// ednsIdentity is what a trusted forwarder said about its client.
type ednsIdentity struct {
	deviceID []byte     // option 65074, nil if absent
	mac      mac        // option 65001 or 65073
	haveMAC  bool       //
	subnet   netip.Addr // client subnet of a single host, else invalid
}

// readEDNS reads the identity options of m. Of each kind the first
// well-formed option wins; malformed ones are ignored.
func readEDNS(m *dns.Msg) ednsIdentity {
	var e ednsIdentity
	opt := m.IsEdns0()
	if opt == nil {
		return e
	}
	for _, o := range opt.Option {
		switch o := o.(type) {
		case *dns.EDNS0_LOCAL:
			switch o.Code {
			case optMAC:
				if !e.haveMAC {
					e.mac, e.haveMAC = macFrom(o.Data)
				}
			case optMACText:
				if !e.haveMAC {
					e.mac, e.haveMAC = parseMACOption(o.Data)
				}
			case optDeviceID:
				if e.deviceID == nil && len(o.Data) > 0 {
					e.deviceID = o.Data
				}
			}
		case *dns.EDNS0_SUBNET:
			if e.subnet.IsValid() {
				continue
			}
			// Only a full host address names a client; a wider subnet
			// is what a forwarder sends for geolocation.
			if a, ok := netip.AddrFromSlice(o.Address); ok {
				a = a.Unmap()
				if o.Family == 1 && o.SourceNetmask == 32 && a.Is4() ||
					o.Family == 2 && o.SourceNetmask == 128 && a.Is6() {
					e.subnet = a
				}
			}
		}
	}
	return e
}

// parseMACOption parses option 65073: "aa:bb:cc:dd:ee:ff" (colons or
// hyphens, the same throughout, either case) from --add-mac=text, or the
// 8 base64 characters of --add-mac=base64. It does not allocate.
func parseMACOption(b []byte) (mac, bool) {
	var m mac
	switch len(b) {
	case 17:
		sep := b[2]
		if sep != ':' && sep != '-' {
			return mac{}, false
		}
		for i := range m {
			hi, ok1 := unhex(b[3*i])
			lo, ok2 := unhex(b[3*i+1])
			if !ok1 || !ok2 || i < 5 && b[3*i+2] != sep {
				return mac{}, false
			}
			m[i] = hi<<4 | lo
		}
	case 8:
		if n, err := base64.StdEncoding.Decode(m[:], b); err != nil || n != len(m) {
			return mac{}, false
		}
	default:
		return mac{}, false
	}
	return m, m != mac{}
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// isPrivate reports whether an option must be removed before the query
// goes upstream. Client subnet is private only from a trusted forwarder:
// there it describes a LAN host; from anyone else it is the client's own
// choice, left to the upstream layer.
func isPrivate(code uint16, trusted bool) bool {
	switch code {
	case optMAC, optMACText, optDeviceID, optUmbrellaDeviceID:
		return true
	case dns.EDNS0SUBNET:
		return trusted
	}
	return false
}

// stripPrivate returns m without private options. It never modifies m:
// when something must go it returns a shallow copy with a new Extra slice
// and a new OPT record; the options kept are shared. Without private
// options it returns m itself and allocates nothing.
func stripPrivate(m *dns.Msg, trusted bool) *dns.Msg {
	if !hasPrivate(m, trusted) {
		return m
	}
	c := *m
	c.Extra = make([]dns.RR, len(m.Extra))
	for i, rr := range m.Extra {
		opt, ok := rr.(*dns.OPT)
		if !ok {
			c.Extra[i] = rr
			continue
		}
		n := &dns.OPT{Hdr: opt.Hdr}
		for _, o := range opt.Option {
			if !isPrivate(o.Option(), trusted) {
				n.Option = append(n.Option, o)
			}
		}
		c.Extra[i] = n
	}
	return &c
}

func hasPrivate(m *dns.Msg, trusted bool) bool {
	for _, rr := range m.Extra {
		if opt, ok := rr.(*dns.OPT); ok {
			for _, o := range opt.Option {
				if isPrivate(o.Option(), trusted) {
					return true
				}
			}
		}
	}
	return false
}
