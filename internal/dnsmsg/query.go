package dnsmsg

import (
	"encoding/binary"

	"github.com/miekg/dns"
)

// QueryScratch holds the parts of a query that UnpackQuery fills in place
// of allocating them. A listener keeps one per reused query buffer; what
// UnpackQuery leaves in a dns.Msg points into it, so the scratch must not
// be reused while that Msg is in use (the pipeline's contract: until
// ServeDNS returns).
type QueryScratch struct {
	question [1]dns.Question
	extra    [1]dns.RR
	opt      dns.OPT
}

// UnpackQuery is m.Unpack(raw) for the listeners' hot path. The shape
// nearly every query has (one question, no answer or authority records,
// at most an OPT record without options, nothing after it) is unpacked
// with one allocation, the name; miekg/dns allocates five times (the
// question slice, the name, the record slice, the OPT record). Any other
// message goes through m.Unpack. Either way m ends up as m.Unpack would
// leave a zero Msg (FuzzUnpackQuery checks it).
func UnpackQuery(m *dns.Msg, raw []byte, s *QueryScratch) error {
	if len(raw) < HeaderLen {
		return m.Unpack(raw)
	}
	qd := binary.BigEndian.Uint16(raw[4:])
	an := binary.BigEndian.Uint16(raw[6:])
	ns := binary.BigEndian.Uint16(raw[8:])
	ar := binary.BigEndian.Uint16(raw[10:])
	if qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return m.Unpack(raw)
	}
	name, off, err := dns.UnpackDomainName(raw, HeaderLen)
	if err != nil || off+4 > len(raw) {
		return m.Unpack(raw)
	}
	q := dns.Question{Name: name, Qtype: binary.BigEndian.Uint16(raw[off:]), Qclass: binary.BigEndian.Uint16(raw[off+2:])}
	off += 4
	var opt *dns.OPT
	if ar == 1 {
		// Root owner name (one zero byte), type, class, TTL, RDLENGTH 0.
		if off+OPTLen != len(raw) || raw[off] != 0 || binary.BigEndian.Uint16(raw[off+1:]) != typeOPT || binary.BigEndian.Uint16(raw[off+9:]) != 0 {
			return m.Unpack(raw)
		}
		s.opt = dns.OPT{Hdr: dns.RR_Header{
			Name:   ".",
			Rrtype: typeOPT,
			Class:  binary.BigEndian.Uint16(raw[off+3:]),
			Ttl:    binary.BigEndian.Uint32(raw[off+5:]),
		}}
		opt = &s.opt
	} else if off != len(raw) {
		return m.Unpack(raw)
	}
	bits := binary.BigEndian.Uint16(raw[2:])
	m.MsgHdr = dns.MsgHdr{
		Id:                 binary.BigEndian.Uint16(raw),
		Response:           bits&(1<<15) != 0,
		Opcode:             int(bits>>11) & 0xF,
		Authoritative:      bits&(1<<10) != 0,
		Truncated:          bits&(1<<9) != 0,
		RecursionDesired:   bits&(1<<8) != 0,
		RecursionAvailable: bits&(1<<7) != 0,
		Zero:               bits&(1<<6) != 0,
		AuthenticatedData:  bits&(1<<5) != 0,
		CheckingDisabled:   bits&(1<<4) != 0,
		Rcode:              int(bits & 0xF),
	}
	s.question[0] = q
	m.Question = s.question[:1:1]
	m.Answer, m.Ns, m.Extra = nil, nil, nil
	if opt != nil {
		s.extra[0] = opt
		m.Extra = s.extra[:1:1]
		m.Rcode |= opt.ExtendedRcode()
	}
	return nil
}
