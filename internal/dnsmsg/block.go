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
