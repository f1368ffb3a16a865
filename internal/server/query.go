package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/access"
	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/pipeline"
)

// sender delivers one packed answer on a transport.
type sender interface {
	send(b []byte) error
}

// meta is what a listener knows about a query besides its bytes.
type meta struct {
	transport  pipeline.Transport
	client     netip.AddrPort
	serverName string
	clientID   string
	// retry: the query runs again after a NoWait run was deferred.
	retry bool
	// received is when the listener read the query; zero for now. The
	// UDP reader passes the time its read returned, one clock reading
	// for a batch of queries rather than one each.
	received time.Time
}

// responder is the pipeline.ResponseWriter for one query: it sets the
// query's ID, truncates to the client's size and packs into buf.
type responder struct {
	snd     sender
	id      uint16
	maxSize int
	buf     []byte
	written bool
	// pad: the query was padded on an encrypted transport, so the answer
	// is padded too (RFC 7830, RFC 8467).
	pad bool
}

// WriteMsg packs m, truncating it to the client's size, and sends it.
func (r *responder) WriteMsg(m *dns.Msg) error {
	r.written = true
	m.Id = r.id
	b, err := m.PackBuffer(r.buf)
	if err != nil {
		return fmt.Errorf("pack answer: %w", err)
	}
	if len(b) > r.maxSize {
		// RFC 1035 4.2.1 and RFC 6891 7: drop records until the answer
		// fits and set TC, so the client retries over TCP.
		m.Truncate(r.maxSize)
		if b, err = m.PackBuffer(r.buf); err != nil {
			return fmt.Errorf("pack truncated answer: %w", err)
		}
	}
	if r.pad {
		if b, err = padded(m, len(b), r.buf); err != nil {
			return fmt.Errorf("pack padded answer: %w", err)
		}
	}
	return r.snd.send(b)
}

// padBlock is the block size padded answers are padded to (RFC 8467 4.1:
// the recommended Block-Length Padding for responses).
const padBlock = 468

// padded packs m with an EDNS padding option that brings it to a multiple
// of padBlock bytes, replacing any padding it had; size is m's packed
// size without it. An answer without an OPT record, or one that padding
// would push past the largest message, is packed as it is.
func padded(m *dns.Msg, size int, buf []byte) ([]byte, error) {
	opt := m.IsEdns0()
	if opt == nil {
		return m.PackBuffer(buf)
	}
	opts := make([]dns.EDNS0, 0, len(opt.Option)+1)
	for _, o := range opt.Option {
		if o.Option() == dns.EDNS0PADDING {
			size -= 4 + len(o.(*dns.EDNS0_PADDING).Padding)
			continue
		}
		opts = append(opts, o)
	}
	n := (padBlock - (size+4)%padBlock) % padBlock
	if size+4+n <= dns.MaxMsgSize {
		opts = append(opts, &dns.EDNS0_PADDING{Padding: make([]byte, n)})
	}
	opt.Option = opts
	return m.PackBuffer(buf)
}

// WriteWire sends a packed answer, setting its ID; an answer too large for
// the client is unpacked and truncated.
func (r *responder) WriteWire(b []byte) error {
	if len(b) < 12 {
		return fmt.Errorf("write answer: %d bytes is shorter than a header", len(b))
	}
	if len(b) > r.maxSize || r.pad {
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			return fmt.Errorf("unpack answer to truncate: %w", err)
		}
		return r.WriteMsg(m)
	}
	r.written = true
	binary.BigEndian.PutUint16(b, r.id)
	return r.snd.send(b)
}

// hasPadding reports whether opt carries an EDNS padding option.
func hasPadding(opt *dns.OPT) bool {
	for _, o := range opt.Option {
		if o.Option() == dns.EDNS0PADDING {
			return true
		}
	}
	return false
}

// headerOnly builds a reply carrying only a header, for queries that
// could not be unpacked (RFC 1035 4.1.1: FORMERR).
func headerOnly(raw []byte, rcode int) []byte {
	b := make([]byte, 12)
	copy(b, raw[:4])
	b[2] = 0x80 | raw[2]&0x79 // QR, keep opcode and RD
	b[3] = byte(rcode & 0xF)
	return b
}

// outcome is what handle did with a query.
type outcome uint8

const (
	// dropped: nothing was sent (not a query, or not worth an answer).
	dropped outcome = iota
	// answered: one answer went to the sender.
	answered
	// deferred: asked not to wait, the chain needs I/O; handle the query
	// again with noWait false.
	deferred
	// malformed: not a DNS query (a response, or a message that does not
	// unpack); a FORMERR may have been sent. A stream listener closes the
	// connection.
	malformed
)

// queryState is what handle needs per query, kept by a listener that
// reuses it (the UDP packets are pooled) so a query allocates less. The
// pipeline contract says the Request and its Msg are the chain's only
// until ServeDNS returns.
type queryState struct {
	req  pipeline.Request
	resp responder
	msg  dns.Msg
	// scratch holds the question and OPT record of msg (UnpackQuery).
	scratch dnsmsg.QueryScratch
}

// handle answers one query read from a listener. raw is not kept after it
// returns; buf is scratch space for packing the answer. With noWait, the
// chain answers only what it can without I/O and handle reports deferred
// for the rest. The caller has counted the query in s.wg and marks it done
// after handle returns.
func (s *Server) handle(raw []byte, m meta, snd sender, buf []byte, noWait bool) outcome {
	return s.handleWith(new(queryState), raw, m, snd, buf, noWait)
}

// handleWith is handle with the caller's query state, which it resets.
func (s *Server) handleWith(qs *queryState, raw []byte, m meta, snd sender, buf []byte, noWait bool) (result outcome) {
	// The header is checked before unpacking: a response (QR set) is
	// never answered, so Hearth cannot be made to loop with another
	// server, and runts are dropped silently.
	if len(raw) < 12 || raw[2]&0x80 != 0 {
		return malformed
	}
	st := s.state.Load()
	*qs = queryState{}
	resp := &qs.resp
	*resp = responder{snd: snd, id: binary.BigEndian.Uint16(raw), maxSize: dns.MaxMsgSize, buf: buf}
	defer func() {
		if result != deferred && result != malformed && resp.written {
			result = answered
		}
	}()
	if m.transport == pipeline.UDP {
		resp.maxSize = dnsmsg.MinUDPSize
	}
	q := &qs.msg
	if err := dnsmsg.UnpackQuery(q, raw, &qs.scratch); err != nil {
		if allowed(st.allow, m.client.Addr()) {
			resp.written = true
			snd.send(headerOnly(raw, dns.RcodeFormatError))
		}
		return malformed
	}
	if !allowed(st.allow, m.client.Addr()) {
		// Never an open resolver: strangers learn nothing but REFUSED,
		// and over UDP, where their address may be a spoofed victim's,
		// only at a limited rate per network (RRL), the rest slipped or
		// dropped.
		if len(q.Question) != 1 {
			return
		}
		v := access.Pass
		if m.transport == pipeline.UDP && s.cfg.Limiter != nil {
			v = s.cfg.Limiter.Refused(m.client.Addr())
		}
		switch v {
		case access.Pass:
			resp.WriteMsg(dnsmsg.Refused(q))
		case access.Slip:
			resp.WriteMsg(access.Truncated(q))
		}
		return
	}
	if m := dnsmsg.Reject(q); m != nil {
		// Unknown opcodes, duplicate OPT records, classes other than
		// IN and CH: answered here, once, at the edge.
		resp.WriteMsg(m)
		return
	}
	if len(q.Question) != 1 || len(q.Answer) > 0 || len(q.Ns) > 0 {
		resp.WriteMsg(dnsmsg.Reply(q, dns.RcodeFormatError))
		return
	}
	received := m.received
	if received.IsZero() {
		received = time.Now()
	}
	req := &qs.req
	*req = pipeline.Request{
		Msg:        q,
		Transport:  m.transport,
		Client:     m.client,
		ServerName: m.serverName,
		ClientID:   m.clientID,
		MaxSize:    dns.MaxMsgSize,
		Received:   received,
		NoWait:     noWait,
		Retry:      m.retry,
	}
	if opt := q.IsEdns0(); opt != nil {
		if opt.Version() != 0 {
			// RFC 6891 6.1.3: answer BADVERS for EDNS versions we don't speak.
			resp.WriteMsg(dnsmsg.Reply(q, dns.RcodeBadVers))
			return
		}
		req.EDNS = true
		req.DO = opt.Do()
		if m.transport == pipeline.DoT || m.transport == pipeline.DoH {
			resp.pad = hasPadding(opt)
		}
		if m.transport == pipeline.UDP {
			// The smaller of the client's buffer and ours: larger UDP
			// answers risk fragmentation (DNS Flag Day 2020).
			resp.maxSize = min(max(int(opt.UDPSize()), dnsmsg.MinUDPSize), dnsmsg.UDPSize)
		}
	}
	if m.transport == pipeline.UDP {
		req.MaxSize = resp.maxSize
	}
	switch q.Question[0].Qtype {
	case dns.TypeANY:
		resp.WriteMsg(dnsmsg.MinimalANY(q))
		return
	case dns.TypeAXFR, dns.TypeIXFR:
		resp.WriteMsg(dnsmsg.Reply(q, dns.RcodeRefused))
		return
	}
	if s.serveChain(st.handler, resp, req) {
		return deferred
	}
	return dropped // the deferred function reports answered
}

// serveChain runs the handler, answering SERVFAIL when it fails without
// answering and recovering from a panic in it, so one bad query never
// takes the server down. It reports whether the chain deferred the query
// (pipeline.ErrWouldBlock without an answer).
func (s *Server) serveChain(h pipeline.Handler, resp *responder, req *pipeline.Request) (wouldBlock bool) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic answering query", "name", req.Name(), "client", req.Client, "panic", p)
			if !resp.written {
				resp.WriteMsg(dnsmsg.Reply(req.Msg, dns.RcodeServerFailure))
			}
		}
	}()
	err := h.ServeDNS(s.ctx, resp, req)
	if errors.Is(err, pipeline.ErrDropped) && !resp.written {
		return false
	}
	if err != nil && req.NoWait && !resp.written && errors.Is(err, pipeline.ErrWouldBlock) {
		return true
	}
	if err != nil {
		s.log.Debug("query failed", "name", req.Name(), "client", req.Client, "err", err)
		if !resp.written {
			resp.WriteMsg(dnsmsg.ServFail(req.Msg, err))
		}
		return false
	}
	if !resp.written {
		resp.WriteMsg(dnsmsg.Reply(req.Msg, dns.RcodeServerFailure))
	}
	return false
}

var _ pipeline.ResponseWriter = (*responder)(nil)
