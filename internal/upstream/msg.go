package upstream

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/miekg/dns"
)

// maxMsgSize is the largest DNS message: the 16-bit length of RFC 1035
// section 4.2.2. It bounds every read buffer.
const maxMsgSize = dns.MaxMsgSize

// errMismatch marks an answer whose ID or question is not the query's. On
// UDP such answers are dropped and reading goes on: they are either late
// answers to an earlier query or spoofing attempts.
var errMismatch = errors.New("answer does not match the query")

// query is one client query made ready for the upstreams. It is built once
// per Exchange and only read afterwards, so attempts running in parallel
// can share it; each attempt copies wire and writes its own ID into it.
type query struct {
	// q is the single question, compared with every answer.
	q dns.Question
	// wire is the packed upstream query with ID 0.
	wire []byte
}

// newQuery builds the message sent upstream for client query cq without
// modifying cq: the header flags (with AD always set) and question of cq,
// and only Hearth's own OPT record (buffer size dnsmsg.UDPSize, cq's DO
// bit, no options). Client EDNS options (cookies, ECS, MAC and device ids)
// never leave Hearth; the answer, authority and other additional records
// of a query are dropped too, since a TSIG or SIG(0) signature could not
// be valid upstream.
func newQuery(cq *dns.Msg, buf []byte) (*query, error) {
	if len(cq.Question) != 1 {
		return nil, fmt.Errorf("query has %d questions, want 1", len(cq.Question))
	}
	do := false
	if opt := cq.IsEdns0(); opt != nil {
		do = opt.Do()
	}
	m := dns.Msg{
		MsgHdr: dns.MsgHdr{
			Opcode:           cq.Opcode,
			RecursionDesired: cq.RecursionDesired,
			// AD is always asked for: the answer is cached and shared,
			// so the upstream must tell us whether it validated the data
			// whatever the first client asked; each client then sees AD
			// only if it asked for it (dnsmsg.WantAD, RFC 6840 5.7).
			AuthenticatedData: true,
			CheckingDisabled:  cq.CheckingDisabled,
		},
		Compress: true,
		Question: []dns.Question{cq.Question[0]},
	}
	m.SetEdns0(dnsmsg.UDPSize, do)
	wire, err := m.PackBuffer(buf)
	if err != nil {
		return nil, fmt.Errorf("packing query: %w", err)
	}
	return &query{q: cq.Question[0], wire: wire}, nil
}

// newID returns a query ID from crypto/rand, so that an off-path attacker
// cannot predict it (RFC 5452 section 9.2).
func newID() uint16 {
	var b [2]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return binary.BigEndian.Uint16(b[:])
}

// setID writes id into the header of packed message wire.
func setID(wire []byte, id uint16) { binary.BigEndian.PutUint16(wire, id) }

// parseAnswer unpacks b and checks that it answers query q sent with id:
// the QR bit, the ID, and the question name (case-insensitively, since a
// server may use 0x20 case or normalise it), type and class.
func parseAnswer(b []byte, id uint16, q *query) (*dns.Msg, error) {
	if len(b) < 12 {
		return nil, fmt.Errorf("short answer of %d bytes", len(b))
	}
	// Cheap check before unpacking: spoofed answers usually miss the ID.
	if binary.BigEndian.Uint16(b) != id {
		return nil, errMismatch
	}
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return nil, fmt.Errorf("unpacking answer: %w", err)
	}
	if !m.Response || len(m.Question) != 1 {
		return nil, errMismatch
	}
	aq := m.Question[0]
	if aq.Qtype != q.q.Qtype || aq.Qclass != q.q.Qclass || !equalFoldASCII(aq.Name, q.q.Name) {
		return nil, errMismatch
	}
	return m, nil
}

// equalFoldASCII reports whether DNS names a and b are equal ignoring ASCII
// case, the only case folding DNS knows (RFC 4343).
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}
