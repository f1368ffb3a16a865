package dnsmsg

import "github.com/miekg/dns"

// Reject returns the answer to a query Hearth will not process, or nil
// when q may go down the pipeline. It is meant for the listener, which
// calls it once per query, right after unpacking and the access check:
//
//   - an opcode other than QUERY gets NOTIMP in the form Unbound sends and
//     the EDNS compliance tests (RFC 8906 section 8) expect: the query's
//     ID, opcode, RD and CD bits and question echoed, no records, and an
//     OPT record when the query had one;
//   - more than one OPT record gets FORMERR (RFC 6891 section 6.1.1),
//     without an OPT record, since no one of them can be trusted;
//   - a question in a class other than IN and CH gets REFUSED at once, as
//     Unbound answers (HS, NONE and unassigned classes are never
//     forwarded, and the client does not wait for an upstream timeout).
func Reject(q *dns.Msg) *dns.Msg {
	if q.Opcode != dns.OpcodeQuery {
		return NotImplemented(q)
	}
	opts := 0
	for _, rr := range q.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opts++
		}
	}
	if opts > 1 {
		return echo(q, dns.RcodeFormatError)
	}
	if len(q.Question) == 1 {
		switch q.Question[0].Qclass {
		case dns.ClassINET, dns.ClassCHAOS:
		default:
			return Reply(q, dns.RcodeRefused)
		}
	}
	return nil
}

// NotImplemented returns the NOTIMP answer to q, whose opcode Hearth does
// not implement: see Reject.
func NotImplemented(q *dns.Msg) *dns.Msg {
	m := echo(q, dns.RcodeNotImplemented)
	if opt := q.IsEdns0(); opt != nil {
		m.SetEdns0(UDPSize, opt.Do())
	}
	return m
}

// echo returns a reply to q with rcode that keeps q's header (opcode, RD,
// CD) and question and nothing else: no RA, since the query was not
// processed, and no records.
func echo(q *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.Id = q.Id
	m.Response = true
	m.Opcode = q.Opcode
	m.RecursionDesired = q.RecursionDesired
	m.CheckingDisabled = q.CheckingDisabled
	m.Rcode = rcode
	m.Question = q.Question
	return m
}

// WantAD reports whether an answer to q may carry the AD bit: only when q
// set AD or DO (RFC 6840 section 5.7). Other clients never see it, so an
// old stub that does not know the bit is not misled.
func WantAD(q *dns.Msg, do bool) bool {
	return q.AuthenticatedData || do
}

// MaxTTL is the largest TTL RFC 2181 section 8 allows; a TTL with the
// most significant bit set is to be read as 0.
const MaxTTL = 1<<31 - 1

// FixTTLs applies RFC 2181 section 8 to every record of m but OPT: a TTL
// above MaxTTL becomes 0. Upstream answers pass through it once, as they
// arrive.
func FixTTLs(m *dns.Msg) {
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if h := rr.Header(); h.Rrtype != dns.TypeOPT && h.Ttl > MaxTTL {
				h.Ttl = 0
			}
		}
	}
}

// CapTTLs lowers every TTL of m's records but OPT above limit to limit.
func CapTTLs(m *dns.Msg, limit uint32) {
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if h := rr.Header(); h.Rrtype != dns.TypeOPT && h.Ttl > limit {
				h.Ttl = limit
			}
		}
	}
}
