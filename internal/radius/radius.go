// Package radius is Hearth's RADIUS accounting listener (RFC 2866): an
// ISP's NAS (BNG, BRAS) tells it when a subscriber's session starts, goes
// on and stops, and it keeps the subscriber's bindings (package store)
// in step: Start and Interim-Update bind the session's Framed-IP-Address,
// Framed-IPv6-Prefix and Delegated-IPv6-Prefix to the household the
// subscriber attribute names; Stop removes every binding that session
// made, and no other.
//
// Every packet is distrusted until proven: its source must be in a
// configured NAS network, its Request Authenticator must be the MD5 of
// the packet and that NAS's shared secret, and its attributes must parse.
// Packets that fail are dropped without an answer and counted. A fixed
// pool of workers takes packets from a bounded queue, so a flood costs
// bounded memory and drops (counted) what the store cannot take.
//
// Packets are parsed with layeh.com/radius; the listener, the checks and
// the worker pool are this package's.
package radius

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc3162"
	"layeh.com/radius/rfc4818"

	"github.com/hearth-dns/hearth/internal/metrics"
	"github.com/hearth-dns/hearth/internal/netlimit"
	"github.com/hearth-dns/hearth/internal/store"
)

// Binder is the part of store.Store the listener writes to.
type Binder interface {
	PutBindings(ctx context.Context, bs []store.Binding) (int, error)
	DeleteBindings(ctx context.Context, keys []store.BindingKey) (int, error)
}

// Client is a NAS, or a network of them, that shares one secret.
type Client struct {
	Network netip.Prefix
	Secret  []byte
}

// Config configures a Server.
type Config struct {
	// Listen is the UDP address to listen on ("127.0.0.1:1813").
	Listen string
	// Clients are the NAS networks and their secrets; a source in none
	// of them is dropped. The longest network containing a source wins.
	Clients []Client
	// SubscriberAttribute names the attribute whose value is the
	// household id (see ParseAttribute); "" is User-Name.
	SubscriberAttribute string
	// Store receives the bindings.
	Store Binder
	// Metrics, when set, gets hearth_radius_packets_total{result}.
	Metrics *metrics.Registry
	// Logger receives problems, at most a few lines a minute; nil
	// discards.
	Logger *slog.Logger
	// Workers is how many packets are handled at once (0: 4); Queue how
	// many may wait (0: 1024). Beyond that, packets are dropped.
	Workers, Queue int
	// StoreTimeout bounds one packet's store write (0: 5 s).
	StoreTimeout time.Duration
}

// Results of a packet, the label of hearth_radius_packets_total.
const (
	// ResultOK: answered, the bindings are as the packet says.
	ResultOK = "ok"
	// ResultIgnored: answered, nothing to do (Accounting-On/Off, no
	// address in the packet).
	ResultIgnored = "ignored"
	// ResultUnknownHousehold: answered (the NAS would resend it for
	// nothing), but the subscriber attribute names no household.
	ResultUnknownHousehold = "unknown_household"
	// ResultUnknownNAS: dropped, the source is in no client network.
	ResultUnknownNAS = "unknown_nas"
	// ResultBadAuthenticator: dropped, the Request Authenticator does
	// not match the NAS's secret.
	ResultBadAuthenticator = "bad_authenticator"
	// ResultMalformed: dropped, not a well-formed Accounting-Request.
	ResultMalformed = "malformed"
	// ResultStoreError: dropped unanswered, so that the NAS resends it.
	ResultStoreError = "store_error"
	// ResultQueueFull: dropped before any check, the workers are busy.
	ResultQueueFull = "queue_full"
)

var results = []string{ResultOK, ResultIgnored, ResultUnknownHousehold, ResultUnknownNAS,
	ResultBadAuthenticator, ResultMalformed, ResultStoreError, ResultQueueFull}

// maxAddresses bounds the bindings one packet makes.
const maxAddresses = 8

// Server is the accounting listener.
type Server struct {
	c       Config
	attr    Attribute
	log     *slog.Logger
	counts  map[string]*metrics.Counter
	conn    net.PacketConn
	jobs    chan job
	wg      sync.WaitGroup
	bufs    sync.Pool
	stopped chan struct{}
}

type job struct {
	buf  *[radius.MaxPacketLength]byte
	n    int
	from netip.AddrPort
}

// New checks c.
func New(c Config) (*Server, error) {
	if c.Store == nil {
		return nil, errors.New("radius: no store")
	}
	if len(c.Clients) == 0 {
		return nil, errors.New("radius: no clients: every packet would be dropped")
	}
	for i, cl := range c.Clients {
		if !cl.Network.IsValid() {
			return nil, fmt.Errorf("radius: clients[%d]: invalid network", i)
		}
		if len(cl.Secret) == 0 {
			return nil, fmt.Errorf("radius: clients[%d] (%s): empty secret", i, cl.Network)
		}
		c.Clients[i].Network = cl.Network.Masked()
	}
	if c.SubscriberAttribute == "" {
		c.SubscriberAttribute = "User-Name"
	}
	attr, err := ParseAttribute(c.SubscriberAttribute)
	if err != nil {
		return nil, fmt.Errorf("radius: subscriber attribute: %w", err)
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Queue <= 0 {
		c.Queue = 1024
	}
	if c.StoreTimeout <= 0 {
		c.StoreTimeout = 5 * time.Second
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		c: c, attr: attr,
		log:    slog.New(netlimit.NewRateLimitedHandler(log.Handler(), 20, time.Minute, nil)),
		counts: map[string]*metrics.Counter{},
	}
	s.bufs.New = func() any { return new([radius.MaxPacketLength]byte) }
	var vec *metrics.CounterVec
	if c.Metrics != nil {
		vec = c.Metrics.CounterVec("hearth_radius_packets_total", "RADIUS accounting packets by what became of them.", "result")
	}
	for _, r := range results {
		var c *metrics.Counter // nil without metrics: a no-op
		if vec != nil {
			c = vec.With(r)
		}
		s.counts[r] = c
	}
	return s, nil
}

// Start binds the listener and starts the reader and the workers.
func (s *Server) Start() error {
	conn, err := net.ListenPacket("udp", s.c.Listen)
	if err != nil {
		return fmt.Errorf("radius: listen %s: %w", s.c.Listen, err)
	}
	s.conn = conn
	s.jobs = make(chan job, s.c.Queue)
	s.stopped = make(chan struct{})
	for range s.c.Workers {
		s.wg.Go(s.work)
	}
	go s.read()
	return nil
}

// Addr returns the bound address, or "" before Start.
func (s *Server) Addr() string {
	if s.conn == nil {
		return ""
	}
	return s.conn.LocalAddr().String()
}

// Shutdown closes the listener and waits for the packets being handled,
// or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.conn == nil {
		return nil
	}
	s.conn.Close()
	select {
	case <-s.stopped:
	case <-ctx.Done():
		return ctx.Err()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) read() {
	defer close(s.stopped)
	defer close(s.jobs)
	for {
		buf := s.bufs.Get().(*[radius.MaxPacketLength]byte)
		n, addr, err := s.conn.ReadFrom(buf[:])
		if err != nil {
			s.bufs.Put(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("radius: read", "err", err)
			continue
		}
		ua, _ := addr.(*net.UDPAddr)
		if ua == nil {
			s.bufs.Put(buf)
			continue
		}
		select {
		case s.jobs <- job{buf: buf, n: n, from: ua.AddrPort()}:
		default:
			s.bufs.Put(buf)
			s.counts[ResultQueueFull].Inc()
		}
	}
}

func (s *Server) work() {
	for j := range s.jobs {
		resp, result := s.Handle(context.Background(), j.buf[:j.n], j.from)
		s.bufs.Put(j.buf)
		s.counts[result].Inc()
		if resp != nil {
			if _, err := s.conn.WriteTo(resp, net.UDPAddrFromAddrPort(j.from)); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Warn("radius: answer", "nas", j.from.Addr(), "err", err)
			}
		}
	}
}

// secret returns the secret of the longest client network holding a.
func (s *Server) secret(a netip.Addr) []byte {
	a = a.Unmap()
	var (
		best []byte
		bits = -1
	)
	for _, c := range s.c.Clients {
		if c.Network.Bits() > bits && c.Network.Contains(a) {
			best, bits = c.Secret, c.Network.Bits()
		}
	}
	return best
}

// authentic reports whether the Request Authenticator of an
// Accounting-Request b (cut to its Length) is MD5(Code, Identifier,
// Length, 16 zero octets, attributes, secret) (RFC 2866 section 3),
// comparing in constant time.
func authentic(b, secret []byte) bool {
	h := md5.New()
	h.Write(b[:4])
	var zero [16]byte
	h.Write(zero[:])
	h.Write(b[20:])
	h.Write(secret)
	var sum [md5.Size]byte
	return subtle.ConstantTimeCompare(h.Sum(sum[:0]), b[4:20]) == 1
}

// Handle is the work of one packet b from a NAS at from: the checks, the
// store write, and the Accounting-Response to send (nil for none). It
// returns the result for the metrics. It never keeps b.
func (s *Server) Handle(ctx context.Context, b []byte, from netip.AddrPort) ([]byte, string) {
	secret := s.secret(from.Addr())
	if secret == nil {
		s.log.Warn("radius: packet from an unknown NAS dropped", "source", from.Addr())
		return nil, ResultUnknownNAS
	}
	if len(b) < 20 {
		return nil, ResultMalformed
	}
	// Octets past Length are padding (RFC 2865 section 3).
	length := int(binary.BigEndian.Uint16(b[2:4]))
	if length < 20 || length > len(b) || length > radius.MaxPacketLength {
		return nil, ResultMalformed
	}
	b = b[:length]
	if radius.Code(b[0]) != radius.CodeAccountingRequest {
		return nil, ResultMalformed
	}
	if !authentic(b, secret) {
		s.log.Warn("radius: packet with a bad authenticator dropped (wrong secret?)", "nas", from.Addr())
		return nil, ResultBadAuthenticator
	}
	p, err := radius.Parse(b, secret)
	if err != nil {
		return nil, ResultMalformed
	}
	status := rfc2866.AcctStatusType_Get(p)
	result := ResultIgnored
	switch status {
	case rfc2866.AcctStatusType_Value_Start, rfc2866.AcctStatusType_Value_InterimUpdate, rfc2866.AcctStatusType_Value_Stop:
		var ok bool
		if result, ok = s.apply(ctx, p, status, from.Addr()); !ok {
			return nil, result
		}
	case rfc2866.AcctStatusType_Value_AccountingOn, rfc2866.AcctStatusType_Value_AccountingOff:
		// A NAS restarting: its sessions' Stops are lost. The bindings
		// stay until the addresses are bound again or removed.
	default:
		return nil, ResultMalformed
	}
	resp, err := p.Response(radius.CodeAccountingResponse).Encode()
	if err != nil {
		return nil, ResultMalformed
	}
	return resp, result
}

// apply does what a Start, Interim-Update or Stop asks. ok false means
// drop the packet unanswered.
func (s *Server) apply(ctx context.Context, p *radius.Packet, status rfc2866.AcctStatusType, nas netip.Addr) (result string, ok bool) {
	session := rfc2866.AcctSessionID_GetString(p)
	if session == "" || len(session) > store.MaxBindSession || strings.IndexFunc(session, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
		return ResultMalformed, false
	}
	keys, ok := addresses(p)
	if !ok {
		return ResultMalformed, false
	}
	ctx, cancel := context.WithTimeout(ctx, s.c.StoreTimeout)
	defer cancel()
	if status == rfc2866.AcctStatusType_Value_Stop {
		// Every address the session bound, whether or not the Stop
		// names it (an Interim-Update may have brought new ones).
		if _, err := s.c.Store.DeleteBindings(ctx, []store.BindingKey{{Session: session}}); err != nil {
			s.log.Warn("radius: store refused a Stop; the NAS will resend it", "nas", nas, "err", err)
			return ResultStoreError, false
		}
		return ResultOK, true
	}
	if len(keys) == 0 {
		return ResultIgnored, true
	}
	household, found := s.attr.value(p)
	if !found || store.ValidateID("household", household) != nil {
		s.log.Warn("radius: the subscriber attribute names no household", "nas", nas, "attribute", s.c.SubscriberAttribute)
		return ResultUnknownHousehold, true
	}
	bs := make([]store.Binding, len(keys))
	for i, k := range keys {
		bs[i] = store.Binding{Kind: k.Kind, Key: k.Key, Household: household, Origin: store.OriginRADIUS, Session: session}
	}
	if _, err := s.c.Store.PutBindings(ctx, bs); err != nil {
		if errors.Is(err, store.ErrInvalid) {
			s.log.Warn("radius: binding refused", "nas", nas, "household", household, "err", err)
			return ResultUnknownHousehold, true
		}
		s.log.Warn("radius: store refused a binding; the NAS will resend it", "nas", nas, "err", err)
		return ResultStoreError, false
	}
	return ResultOK, true
}

// addresses returns the binding keys of p's Framed-IP-Address,
// Framed-IPv6-Prefix and Delegated-IPv6-Prefix attributes, at most
// maxAddresses. Addresses a session cannot bind (the NAS-assigns values
// 255.255.255.254 and .255, prefixes outside /48 to /64) are skipped; an
// attribute that does not parse makes the packet malformed.
func addresses(p *radius.Packet) ([]store.BindingKey, bool) {
	var keys []store.BindingKey
	add := func(kind, key string) {
		if len(keys) == maxAddresses {
			return
		}
		if k, err := store.CanonicalBindingKey(kind, key); err == nil {
			keys = append(keys, store.BindingKey{Kind: kind, Key: k})
		}
	}
	for _, avp := range p.Attributes {
		switch avp.Type {
		case rfc2865.FramedIPAddress_Type:
			ip, err := radius.IPAddr(avp.Attribute)
			if err != nil || ip.To4() == nil {
				return nil, false
			}
			if a, _ := netip.AddrFromSlice(ip.To4()); a != netip.AddrFrom4([4]byte{255, 255, 255, 254}) && a != netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
				add(store.BindIPv4, a.String())
			}
		case rfc3162.FramedIPv6Prefix_Type, rfc4818.DelegatedIPv6Prefix_Type:
			n, err := radius.IPv6Prefix(avp.Attribute)
			if err != nil {
				return nil, false
			}
			bits, _ := n.Mask.Size()
			add(store.BindIPv6, n.IP.String()+"/"+strconv.Itoa(bits))
		}
	}
	return keys, true
}
