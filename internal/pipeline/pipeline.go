// Package pipeline defines the query path's shared types: the Request a
// listener builds, the ResponseWriter it hands down, the Handler and
// Middleware contracts, and Build, the one function that orders the chain.
package pipeline

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/policy"
)

// Transport is the protocol a query arrived on.
type Transport uint8

// The transports a listener may report. This is the one transport enum:
// the query log stores it and the metrics label by it.
const (
	// NoTransport is the zero value: a request no listener built (an
	// explanation, a test).
	NoTransport Transport = iota
	// UDP is plain DNS over UDP.
	UDP
	// TCP is plain DNS over TCP.
	TCP
	// DoT is DNS over TLS (RFC 7858).
	DoT
	// DoH is DNS over HTTPS (RFC 8484).
	DoH
	// DoQ is DNS over QUIC (RFC 9250).
	DoQ
	// NumTransports is the number of transports, for tables indexed by
	// Transport.
	NumTransports
)

var transportNames = [NumTransports]string{"", "udp", "tcp", "dot", "doh", "doq"}

// String returns the lower-case transport name ("udp", "dot"...), or ""
// for NoTransport and unknown values.
func (t Transport) String() string {
	if t < NumTransports {
		return transportNames[t]
	}
	return ""
}

// Request is one query as a listener received it. Listeners fill every
// field before calling the chain; middlewares may read all of them but only
// change Msg where their doc comment says so. A listener may reuse the
// Request and its Msg once ServeDNS returns: a step that keeps either for
// later (a background exchange, a log) must copy what it keeps.
type Request struct {
	// Msg is the unpacked query. It has exactly one question.
	Msg *dns.Msg
	// Transport is the protocol the query came in on.
	Transport Transport
	// Client is the source address and port of the query.
	Client netip.AddrPort
	// ServerName is the TLS server name (SNI) for DoT and DoH, else "".
	ServerName string
	// ClientID is the client id from the DoH path (/dns-query/{id}) or
	// the first label of the SNI, else "".
	ClientID string
	// EDNS reports whether the query carried an OPT record.
	EDNS bool
	// DO is the query's DNSSEC OK bit.
	DO bool
	// MaxSize is the largest response the client can take on this
	// transport: the EDNS buffer size (at least 512) on UDP, 65535 on
	// stream transports.
	MaxSize int
	// Received is when the listener read the query.
	Received time.Time
	// Identity is who asked, filled by the Identify step.
	Identity Identity
	// Source is the address the Identify step looked the device up by:
	// the client's, or a trusted forwarder's single-host client subnet.
	Source netip.Addr
	// Policy is the policy the query is decided against, set by the
	// Identify step from the same immutable snapshot as Identity: a query
	// never mixes the device tables of one generation with the profiles
	// of another. Nil until Identify ran.
	Policy *policy.Snapshot
	// Outcome is what the Policy step decided and answered, for the
	// Observe step, which reads it once the rest of the chain returned.
	Outcome Outcome
	// NoWait asks the chain to answer only if it can without waiting on
	// I/O (an upstream exchange): a step that would wait returns
	// ErrWouldBlock instead, having written nothing, and the listener runs
	// the request again, with NoWait false, where waiting is fine. This
	// lets a UDP reader answer cache hits in line, with no handoff.
	NoWait bool
	// Retry reports that the listener runs the request a second time,
	// after a run with NoWait was deferred: a step that counts queries
	// (a rate limit) counts it on the first run only.
	Retry bool
}

// ErrWouldBlock is returned by a handler asked not to wait (Request.NoWait)
// when answering would need I/O.
var ErrWouldBlock = errors.New("pipeline: answering needs to wait")

// ErrDropped is returned by a handler that deliberately sends no answer (a
// rate-limited UDP query); the listener then sends nothing either.
var ErrDropped = errors.New("pipeline: query dropped")

// Identity is the household, device and profile a request belongs to.
type Identity struct {
	// Household is the tenant's id ("" at home, where there is one).
	Household string
	// Device is the configured device's name; "" for an unknown device.
	Device string
	// Profile is the name of the profile that applies.
	Profile string
	// ProfileHint is 1 + Profile's index in the policy snapshot the
	// identity tables were compiled with, or 0 when not known: the Policy
	// step passes it to policy.Snapshot.ProfileHinted, which checks it
	// and so saves looking the name up. A stale hint is never wrong.
	ProfileHint int32
	// Via says how the device was recognised: "client-id", "edns-mac",
	// "mac", "ip", "cidr", or "default" for an unknown device.
	Via string
	// MAC is the device's hardware address when one was learned (from the
	// neighbour table or a trusted forwarder's EDNS option), else "".
	MAC string
}

// Outcome is what the Policy step did with a request.
type Outcome struct {
	// Decided is true once the Policy step decided the request.
	Decided bool
	// Written is true once an answer was written; Rcode is its code.
	Written bool
	Rcode   int
	// Decision is what decided the answer: the name's own decision, or
	// the block of a CNAME target or answer address found in the answer.
	Decision policy.Decision
	// Via is "cname" or "answer-ip" when the block was found in the
	// answer, and Target is that CNAME target or address; both "" else.
	Via, Target string
	// Text explains a block found in the answer; "" otherwise, where
	// Policy.Explain(Decision, name) is the explanation.
	Text string
	// Cached is true when the answer came from the cache (fresh or
	// stale) without asking an upstream.
	Cached bool
}

// Name returns the question name as the client sent it.
func (r *Request) Name() string { return r.Msg.Question[0].Name }

// Qtype returns the question type.
func (r *Request) Qtype() uint16 { return r.Msg.Question[0].Qtype }

// ResponseWriter sends the one answer to a Request. Exactly one Write call
// should be made per request; the writer truncates answers larger than
// Request.MaxSize (setting TC) and sets the reply's ID to the query's.
type ResponseWriter interface {
	// WriteMsg packs m and sends it.
	WriteMsg(m *dns.Msg) error
	// WriteWire sends an already packed answer. The writer may modify b
	// in place (to set the ID or truncate) but does not keep it after the
	// call returns.
	WriteWire(b []byte) error
}

// Handler answers DNS requests.
//
// ServeDNS must write at most one answer through w. A returned error means
// the handler failed; if it also wrote nothing, the listener answers
// SERVFAIL. The context carries the query's deadline and is cancelled when
// the listener shuts down.
type Handler interface {
	ServeDNS(ctx context.Context, w ResponseWriter, r *Request) error
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, w ResponseWriter, r *Request) error

// ServeDNS calls f.
func (f HandlerFunc) ServeDNS(ctx context.Context, w ResponseWriter, r *Request) error {
	return f(ctx, w, r)
}

// Middleware wraps a Handler with one step of the query path.
type Middleware func(Handler) Handler
