// Package dnsmsg builds Hearth's answers in one place: replies with the
// right EDNS record, errors with Extended DNS Errors (RFC 8914), negative
// answers, truncation and TTL handling, including the wire-level helpers the
// cache's hit path uses to answer without unpacking.
package dnsmsg

import (
	"errors"
	"fmt"

	"github.com/miekg/dns"
)

// UDPSize is the EDNS buffer size Hearth advertises and uses upstream: the
// DNS Flag Day 2020 value, small enough to avoid IP fragmentation.
const UDPSize = 1232

// MinUDPSize is the size a client without EDNS can take (RFC 1035).
const MinUDPSize = 512

// Extended DNS Error codes used by Hearth (RFC 8914 section 4).
const (
	EDEOther                uint16 = 0
	EDEStaleAnswer          uint16 = 3
	EDECachedError          uint16 = 13
	EDEBlocked              uint16 = 15
	EDEFiltered             uint16 = 17
	EDEProhibited           uint16 = 18
	EDENoReachableAuthority uint16 = 22
	EDENetworkError         uint16 = 23
)

// ExtendedError is an error that carries the Extended DNS Error code and
// text a SERVFAIL caused by it should carry.
type ExtendedError struct {
	Code uint16
	Text string
	Err  error
}

// Error returns the text and the wrapped error.
func (e *ExtendedError) Error() string {
	if e.Err == nil {
		return e.Text
	}
	return fmt.Sprintf("%s: %v", e.Text, e.Err)
}

// Unwrap returns the wrapped error.
func (e *ExtendedError) Unwrap() error { return e.Err }

// EDEOf returns the Extended DNS Error code and text for err: those of the
// first ExtendedError in its chain, else EDE 0 (Other) with err's text.
func EDEOf(err error) (uint16, string) {
	var ee *ExtendedError
	if errors.As(err, &ee) {
		return ee.Code, ee.Text
	}
	return EDEOther, err.Error()
}

// Reply returns an empty reply to q with rcode, RA set and, when q carried
// EDNS, an OPT record with Hearth's buffer size and q's DO bit. It never
// copies q's EDNS options: client cookies, padding and private options stay
// with the client.
func Reply(q *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(q, rcode)
	m.RecursionAvailable = true
	m.Authoritative = false
	if qopt := q.IsEdns0(); qopt != nil {
		m.SetEdns0(UDPSize, qopt.Do())
	}
	return m
}

// SetEDE adds an Extended DNS Error option to m's OPT record. It does
// nothing when m has no OPT record: a client that did not send EDNS would
// not understand it (RFC 8914 section 3).
func SetEDE(m *dns.Msg, code uint16, text string) {
	opt := m.IsEdns0()
	if opt == nil {
		return
	}
	opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: code, ExtraText: text})
}

// Error returns a reply to q with rcode and an Extended DNS Error.
func Error(q *dns.Msg, rcode int, code uint16, text string) *dns.Msg {
	m := Reply(q, rcode)
	SetEDE(m, code, text)
	return m
}

// ServFail returns a SERVFAIL reply to q carrying err's Extended DNS Error.
func ServFail(q *dns.Msg, err error) *dns.Msg {
	code, text := EDEOf(err)
	return Error(q, dns.RcodeServerFailure, code, text)
}

// Refused returns the REFUSED reply for a source outside the allowed
// networks, with EDE 18 (Prohibited).
func Refused(q *dns.Msg) *dns.Msg {
	return Error(q, dns.RcodeRefused, EDEProhibited, "source address not allowed")
}

// FromUpstream turns an upstream answer into the reply to client query q:
// the ID and question are q's, AA is cleared (Hearth is not authoritative
// for forwarded data), and the upstream's OPT record, with its NSID, cookies
// and other options, is replaced by Hearth's own when q carried EDNS. AD
// stays set only if q asked for it (WantAD).
func FromUpstream(q, resp *dns.Msg) *dns.Msg {
	m := resp.Copy()
	m.Id = q.Id
	m.Question = q.Question
	m.Authoritative = false
	m.RecursionAvailable = true
	m.RecursionDesired = q.RecursionDesired
	m.CheckingDisabled = q.CheckingDisabled
	StripOPT(m)
	do := false
	if qopt := q.IsEdns0(); qopt != nil {
		do = qopt.Do()
		m.SetEdns0(UDPSize, do)
	}
	m.AuthenticatedData = resp.AuthenticatedData && WantAD(q, do)
	return m
}

// StripOPT removes every OPT record from m's additional section.
func StripOPT(m *dns.Msg) {
	extra := m.Extra[:0]
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	for i := len(extra); i < len(m.Extra); i++ {
		m.Extra[i] = nil
	}
	m.Extra = extra
}

// MinimalANY returns the RFC 8482 answer to an ANY query: one synthesized
// HINFO record instead of everything Hearth might know about the name,
// which would make it an amplifier.
func MinimalANY(q *dns.Msg) *dns.Msg {
	m := Reply(q, dns.RcodeSuccess)
	m.Answer = []dns.RR{&dns.HINFO{
		Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeHINFO, Class: dns.ClassINET, Ttl: 3600},
		Cpu: "RFC8482",
	}}
	return m
}
