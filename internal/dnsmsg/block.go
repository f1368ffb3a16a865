package dnsmsg

import (
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// BlockMode is how blocked names are answered.
type BlockMode uint8

// The block modes.
const (
	// BlockNull answers A with 0.0.0.0 and AAAA with ::.
	BlockNull BlockMode = iota
	// BlockNXDomain answers NXDOMAIN.
	BlockNXDomain
	// BlockAddress answers with configured addresses (the block page).
	BlockAddress
)

// Blocking says how to build blocked answers.
type Blocking struct {
	Mode BlockMode
	// IPv4 and IPv6 are the block-page addresses for BlockAddress; a
	// family without an address gets NODATA.
	IPv4, IPv6 netip.Addr
	// TTL of blocked answers, in seconds, and of their negative SOA.
	TTL uint32
}

// Blocked returns the answer to q for a blocked name, carrying EDE 15
// (Blocked) with text, which says why. A and AAAA get the mode's answer;
// other types get NODATA; mode NXDOMAIN answers NXDOMAIN for every type.
func (b Blocking) Blocked(q *dns.Msg, text string) *dns.Msg {
	qq := q.Question[0]
	if b.Mode == BlockNXDomain {
		return b.Negative(q, dns.RcodeNameError, text)
	}
	m := Reply(q, dns.RcodeSuccess)
	hdr := dns.RR_Header{Name: qq.Name, Class: dns.ClassINET, Ttl: b.TTL}
	switch qq.Qtype {
	case dns.TypeA:
		ip := netip.IPv4Unspecified()
		if b.Mode == BlockAddress {
			ip = b.IPv4
		}
		if ip.IsValid() {
			hdr.Rrtype = dns.TypeA
			m.Answer = []dns.RR{&dns.A{Hdr: hdr, A: net.IP(ip.AsSlice())}}
		}
	case dns.TypeAAAA:
		ip := netip.IPv6Unspecified()
		if b.Mode == BlockAddress {
			ip = b.IPv6
		}
		if ip.IsValid() {
			hdr.Rrtype = dns.TypeAAAA
			m.Answer = []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: net.IP(ip.AsSlice())}}
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{b.soa(qq.Name)}
	}
	SetEDE(m, EDEBlocked, text)
	return m
}

// Negative returns a NXDOMAIN or NODATA answer (rcode NOERROR) to q with a
// synthesized SOA whose minimum is the block TTL, so resolvers behind
// Hearth cache it no longer (RFC 2308), and EDE 15 with text.
func (b Blocking) Negative(q *dns.Msg, rcode int, text string) *dns.Msg {
	m := Reply(q, rcode)
	m.Ns = []dns.RR{b.soa(q.Question[0].Name)}
	SetEDE(m, EDEBlocked, text)
	return m
}

// soa is the SOA of Hearth's synthesized negative answers, owned by the
// query name itself (there is no real zone above a blocked name).
func (b Blocking) soa(name string) dns.RR {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: b.TTL},
		Ns:      "hearth.invalid.",
		Mbox:    "blocked.hearth.invalid.",
		Serial:  1,
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  b.TTL,
	}
}

// soaRData is the RDATA of the synthesized SOA, but for its MINIMUM field:
// MNAME hearth.invalid., RNAME blocked.hearth.invalid., serial 1, refresh
// 3600, retry 600, expire 86400.
var soaRData = []byte{
	6, 'h', 'e', 'a', 'r', 't', 'h', 7, 'i', 'n', 'v', 'a', 'l', 'i', 'd', 0,
	7, 'b', 'l', 'o', 'c', 'k', 'e', 'd', 0xC0, 0, // pointer patched at use
	0, 0, 0, 1, 0, 0, 0x0E, 0x10, 0, 0, 0x02, 0x58, 0, 0x01, 0x51, 0x80,
}

// AppendBlocked appends to dst the packed answer Blocked would build for
// q, for a client that did (edns) or did not send EDNS, with its DO bit,
// carrying EDE 15 with text. It builds the bytes directly, without a
// dns.Msg, so the blocked path costs about what a cache hit does. It
// returns dst unchanged and false when q's name cannot be packed.
func (b Blocking) AppendBlocked(dst []byte, q *dns.Msg, edns, do bool, text []byte) ([]byte, bool) {
	qq := q.Question[0]
	rcode := dns.RcodeSuccess
	var ip []byte
	if b.Mode == BlockNXDomain {
		rcode = dns.RcodeNameError
	} else {
		switch qq.Qtype {
		case dns.TypeA:
			switch {
			case b.Mode == BlockNull:
				ip = []byte{0, 0, 0, 0}
			case b.IPv4.IsValid():
				a := b.IPv4.As4()
				ip = a[:]
			}
		case dns.TypeAAAA:
			switch {
			case b.Mode == BlockNull:
				ip = make([]byte, 16)
			case b.IPv6.IsValid():
				a := b.IPv6.As16()
				ip = a[:]
			}
		}
	}
	start := len(dst)
	var flags1 byte = 0x80 | byte(q.Opcode&0xF)<<3
	if q.RecursionDesired {
		flags1 |= 0x01
	}
	var flags2 byte = 0x80 | byte(rcode&0xF) // RA
	if q.CheckingDisabled {
		flags2 |= 0x10
	}
	an, ns, ar := 0, 0, 0
	if ip != nil {
		an = 1
	} else {
		ns = 1
	}
	if edns {
		ar = 1
	}
	dst = append(dst, byte(q.Id>>8), byte(q.Id), flags1, flags2, 0, 1, 0, byte(an), 0, byte(ns), 0, byte(ar))
	// The question name, packed without compression.
	var nb [256]byte
	n, err := dns.PackDomainName(qq.Name, nb[:], 0, nil, false)
	if err != nil {
		return dst[:start], false
	}
	dst = append(dst, nb[:n]...)
	dst = append(dst, byte(qq.Qtype>>8), byte(qq.Qtype), byte(qq.Qclass>>8), byte(qq.Qclass))
	rr := func(rrtype uint16, rdlen int) {
		// Owner: a pointer to the question name at offset 12.
		dst = append(dst, 0xC0, 12, byte(rrtype>>8), byte(rrtype), 0, 1,
			byte(b.TTL>>24), byte(b.TTL>>16), byte(b.TTL>>8), byte(b.TTL), byte(rdlen>>8), byte(rdlen))
	}
	if ip != nil {
		rr(qq.Qtype, len(ip))
		dst = append(dst, ip...)
	} else {
		rr(dns.TypeSOA, len(soaRData)+4)
		mname := len(dst) - start // offset of "hearth.invalid." in this message
		dst = append(dst, soaRData...)
		// RNAME is "blocked" and a pointer to MNAME's "hearth.invalid.".
		dst[len(dst)-len(soaRData)+25] = byte(mname)
		dst[len(dst)-len(soaRData)+24] |= byte(mname >> 8)
		dst = append(dst, byte(b.TTL>>24), byte(b.TTL>>16), byte(b.TTL>>8), byte(b.TTL))
	}
	if edns {
		var ttlFlags byte
		if do {
			ttlFlags = 0x80
		}
		optLen := 6 + len(text)
		dst = append(dst, 0, 0, 41, byte(UDPSize>>8), byte(UDPSize&0xFF), 0, 0, ttlFlags, 0,
			byte(optLen>>8), byte(optLen),
			0, 15, byte((2+len(text))>>8), byte(2+len(text)), // option EDE, its length
			0, byte(EDEBlocked))
		dst = append(dst, text...)
	}
	return dst, true
}
