package local

import (
	"net"
	"strings"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
)

// Locally served zones: names that must never leave the home (RFC 6761,
// RFC 6303, RFC 7686, RFC 8375), answered as Unbound's default
// local-zones answer them. Forwarding them would leak the home's private
// reverse lookups and onion names to the upstreams, and make the client
// wait on answers the root can only deny.
var specialZoneNames = []string{
	// RFC 6761 section 6: special-use domains. Not "test.", which
	// Unbound serves too: RFC 6761 says only SHOULD, and developers and
	// test setups use .test names with servers of their own behind the
	// upstreams (a local.forward would be needed for each otherwise).
	"localhost.", "invalid.",
	// RFC 7686: .onion names resolve only inside Tor.
	"onion.",
	// RFC 8375: the home network's own names.
	"home.arpa.",
	// RFC 6303 section 4: reverse zones of loopback, "this network",
	// broadcast, RFC 1918, link-local and the test networks.
	"127.in-addr.arpa.", "0.in-addr.arpa.", "255.255.255.255.in-addr.arpa.",
	"10.in-addr.arpa.",
	"16.172.in-addr.arpa.", "17.172.in-addr.arpa.", "18.172.in-addr.arpa.", "19.172.in-addr.arpa.",
	"20.172.in-addr.arpa.", "21.172.in-addr.arpa.", "22.172.in-addr.arpa.", "23.172.in-addr.arpa.",
	"24.172.in-addr.arpa.", "25.172.in-addr.arpa.", "26.172.in-addr.arpa.", "27.172.in-addr.arpa.",
	"28.172.in-addr.arpa.", "29.172.in-addr.arpa.", "30.172.in-addr.arpa.", "31.172.in-addr.arpa.",
	"168.192.in-addr.arpa.", "254.169.in-addr.arpa.",
	"2.0.192.in-addr.arpa.", "100.51.198.in-addr.arpa.", "113.0.203.in-addr.arpa.",
	// RFC 7793: the shared address space 100.64.0.0/10 (CGN).
	"64.100.in-addr.arpa.", "65.100.in-addr.arpa.", "66.100.in-addr.arpa.", "67.100.in-addr.arpa.",
	"68.100.in-addr.arpa.", "69.100.in-addr.arpa.", "70.100.in-addr.arpa.", "71.100.in-addr.arpa.",
	"72.100.in-addr.arpa.", "73.100.in-addr.arpa.", "74.100.in-addr.arpa.", "75.100.in-addr.arpa.",
	"76.100.in-addr.arpa.", "77.100.in-addr.arpa.", "78.100.in-addr.arpa.", "79.100.in-addr.arpa.",
	"80.100.in-addr.arpa.", "81.100.in-addr.arpa.", "82.100.in-addr.arpa.", "83.100.in-addr.arpa.",
	"84.100.in-addr.arpa.", "85.100.in-addr.arpa.", "86.100.in-addr.arpa.", "87.100.in-addr.arpa.",
	"88.100.in-addr.arpa.", "89.100.in-addr.arpa.", "90.100.in-addr.arpa.", "91.100.in-addr.arpa.",
	"92.100.in-addr.arpa.", "93.100.in-addr.arpa.", "94.100.in-addr.arpa.", "95.100.in-addr.arpa.",
	"96.100.in-addr.arpa.", "97.100.in-addr.arpa.", "98.100.in-addr.arpa.", "99.100.in-addr.arpa.",
	"100.100.in-addr.arpa.", "101.100.in-addr.arpa.", "102.100.in-addr.arpa.", "103.100.in-addr.arpa.",
	"104.100.in-addr.arpa.", "105.100.in-addr.arpa.", "106.100.in-addr.arpa.", "107.100.in-addr.arpa.",
	"108.100.in-addr.arpa.", "109.100.in-addr.arpa.", "110.100.in-addr.arpa.", "111.100.in-addr.arpa.",
	"112.100.in-addr.arpa.", "113.100.in-addr.arpa.", "114.100.in-addr.arpa.", "115.100.in-addr.arpa.",
	"116.100.in-addr.arpa.", "117.100.in-addr.arpa.", "118.100.in-addr.arpa.", "119.100.in-addr.arpa.",
	"120.100.in-addr.arpa.", "121.100.in-addr.arpa.", "122.100.in-addr.arpa.", "123.100.in-addr.arpa.",
	"124.100.in-addr.arpa.", "125.100.in-addr.arpa.", "126.100.in-addr.arpa.", "127.100.in-addr.arpa.",
	// RFC 6303 section 4.2-4.5: IPv6 unspecified and loopback, ULA
	// (fd00::/8), link-local (fe80::/10) and documentation space.
	"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
	"d.f.ip6.arpa.",
	"8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.", "b.e.f.ip6.arpa.",
	"8.b.d.0.1.0.0.2.ip6.arpa.",
}

// specialTTL is the TTL of locally served answers, and the SOA minimum
// that bounds how long clients cache their denials: Unbound's 3 hours.
const specialTTL = 10800

// specialZone is one locally served zone and the few records it holds.
type specialZone struct {
	name string
	soa  *dns.SOA
	ns   *dns.NS
	// records by lower-case owner name, for the names that exist below
	// the apex (1.0.0.127.in-addr.arpa PTR localhost).
	records map[string][]dns.RR
	// redirect answers every name under the zone with the apex's
	// records, as RFC 6761 6.3 asks for localhost: foo.localhost is a
	// loopback name too.
	redirect bool
	apex     []dns.RR // A and AAAA at a redirect zone's apex
}

// specialZones returns the locally served zones by name.
func specialZones() map[string]*specialZone {
	zones := make(map[string]*specialZone, len(specialZoneNames))
	for _, name := range specialZoneNames {
		hdr := func(t uint16) dns.RR_Header {
			return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: specialTTL}
		}
		z := &specialZone{
			name: name,
			soa: &dns.SOA{Hdr: hdr(dns.TypeSOA), Ns: "localhost.", Mbox: "nobody.invalid.",
				Serial: 1, Refresh: 3600, Retry: 1200, Expire: 604800, Minttl: specialTTL},
			ns: &dns.NS{Hdr: hdr(dns.TypeNS), Ns: "localhost."},
		}
		switch name {
		case "localhost.":
			z.redirect = true
			z.apex = []dns.RR{
				&dns.A{Hdr: hdr(dns.TypeA), A: net.IPv4(127, 0, 0, 1).To4()},
				&dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.IPv6loopback},
			}
		case "127.in-addr.arpa.":
			owner := "1.0.0.127.in-addr.arpa."
			z.records = map[string][]dns.RR{owner: {&dns.PTR{
				Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: specialTTL}, Ptr: "localhost."}}}
		}
		if strings.HasPrefix(name, "1.0.0.0.") && strings.HasSuffix(name, "ip6.arpa.") {
			// ::1 is the whole zone's only name.
			z.records = map[string][]dns.RR{name: {&dns.PTR{Hdr: hdr(dns.TypePTR), Ptr: "localhost."}}}
		}
		zones[name] = z
	}
	return zones
}

// specialTLD reports whether name, a fully qualified name in any case,
// ends in a top-level label under which a locally served zone lies. It
// lets every other query skip the zone lookup without allocating.
func specialTLD(name string) bool {
	end := len(name) - 1 // the root's dot
	if end <= 0 {
		return false
	}
	start := strings.LastIndexByte(name[:end], '.') + 1
	tld := name[start:end]
	for _, s := range [...]string{"arpa", "localhost", "invalid", "onion"} {
		if strings.EqualFold(tld, s) {
			return true
		}
	}
	return false
}

// special returns the locally served zone that lower-case name equals or
// lies under, or nil.
func (z *Zones) special(name string) *specialZone {
	off := 0
	for {
		if sz, ok := z.specials[name[off:]]; ok {
			return sz
		}
		next, end := dns.NextLabel(name, off)
		if end {
			return nil
		}
		off = next
	}
}

// answer returns the authoritative answer to q, whose lower-case name lies
// in sz: the apex's SOA and NS records, the zone's few records, and
// NXDOMAIN with the SOA for every other name (NODATA where the name
// exists without the type asked).
func (sz *specialZone) answer(q *dns.Msg, name string) *dns.Msg {
	qq := q.Question[0]
	m := dnsmsg.Reply(q, dns.RcodeSuccess)
	m.Authoritative = true
	var rrs []dns.RR
	exists := true
	switch {
	case name == sz.name || sz.redirect:
		rrs = append([]dns.RR{sz.soa, sz.ns}, sz.apex...)
		rrs = append(rrs, sz.records[sz.name]...)
	case sz.records[name] != nil:
		rrs = sz.records[name]
	default:
		exists = false
		for owner := range sz.records {
			if dns.IsSubDomain(name, owner) {
				exists = true // an empty non-terminal
			}
		}
	}
	for _, rr := range rrs {
		if t := rr.Header().Rrtype; t == qq.Qtype || qq.Qtype == dns.TypeANY {
			c := dns.Copy(rr)
			c.Header().Name = qq.Name
			m.Answer = append(m.Answer, c)
		}
	}
	if !exists {
		m.Rcode = dns.RcodeNameError
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{dns.Copy(sz.soa)} // a copy: the writer may cap its TTL
	}
	return m
}

// Chaos says how Hearth answers the CH-class queries that ask a server
// who it is (version.bind, id.server, hostname.bind). An empty field
// means REFUSED, the default: a home's resolver tells strangers nothing.
type Chaos struct {
	// Version is the TXT answer to version.bind and version.server.
	Version string
	// Hostname is the TXT answer to hostname.bind and id.server.
	Hostname string
}

// chaos answers q, a query of class CH. Such queries are about this
// server, never about the DNS, so they are never forwarded.
func (c Chaos) answer(q *dns.Msg) *dns.Msg {
	qq := q.Question[0]
	var text string
	switch strings.ToLower(qq.Name) {
	case "version.bind.", "version.server.":
		text = c.Version
	case "hostname.bind.", "id.server.":
		text = c.Hostname
	}
	if text == "" {
		return dnsmsg.Reply(q, dns.RcodeRefused)
	}
	m := dnsmsg.Reply(q, dns.RcodeSuccess)
	m.Authoritative = true
	if qq.Qtype == dns.TypeTXT || qq.Qtype == dns.TypeANY {
		m.Answer = []dns.RR{&dns.TXT{
			Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS},
			Txt: []string{text},
		}}
	}
	return m
}
