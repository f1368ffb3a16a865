// Package access is the pipeline's Access step: a query rate limit per
// client, and response rate limiting (RRL) with slip for REFUSED answers
// and for repeated identical answers, per /24 (IPv4) and /56 (IPv6)
// network. Every table is fixed in size when the Limiter is made, so no
// client can grow Hearth's memory, and the allowed path allocates nothing.
//
// Allowed networks are checked by the listeners (package server), which
// close refused stream connections at accept and ask Refused before
// answering a stranger over UDP.
package access

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/pipeline"
)

// Config sets the limits. A zero rate turns its limit off.
type Config struct {
	// QPS is the queries a second one client (source address) may send
	// on average, on any transport; Burst is how many it may send at
	// once. A web page costs a device a few dozen queries in a burst.
	QPS   int
	Burst int
	// RefusedQPS bounds the REFUSED answers sent over UDP to one /24 or
	// /56 network a second (strangers outside the allowed networks):
	// Hearth must not amplify a flood spoofed as its victim.
	RefusedQPS int
	// RepeatQPS bounds identical UDP answers (same question name and
	// type) sent to one /24 or /56 network a second.
	RepeatQPS int
	// Slip: of the UDP answers over an RRL limit (RefusedQPS, RepeatQPS),
	// every Slip-th goes out empty and truncated (TC=1), so a real client
	// whose address is being spoofed retries over TCP, where RRL does not
	// apply; the rest are dropped. 0 drops them all; 1 answers every one
	// truncated. Queries over a client's own rate (QPS) are always
	// dropped over UDP: answering half a flood would double its cost.
	Slip int
	// Exempt lists sources whose queries are not rate limited per
	// client: trusted forwarders (a home router relaying every device's
	// queries) speak for many clients.
	Exempt []netip.Prefix
	// TableSize is the number of buckets in each table (default 65536;
	// 16 bytes each).
	TableSize int
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Logger gets a warning when a client is rate limited; pass it
	// through a rate-limited handler.
	Logger *slog.Logger
}

// DefaultConfig returns limits sized for a home: far above what a family's
// devices send, far below a flood.
func DefaultConfig() Config {
	return Config{QPS: 1000, Burst: 2000, RefusedQPS: 5, RepeatQPS: 1000, Slip: 2, TableSize: 1 << 16}
}

// Validate names the first setting out of range.
func (c Config) Validate() error {
	switch {
	case c.QPS < 0:
		return errors.New("qps must not be negative")
	case c.QPS > 0 && c.Burst < 1:
		return errors.New("burst must be at least 1 when qps is set")
	case c.RefusedQPS < 0:
		return errors.New("refused_qps must not be negative")
	case c.RepeatQPS < 0:
		return errors.New("repeat_qps must not be negative")
	case c.Slip < 0:
		return errors.New("slip must not be negative")
	case c.TableSize < 0 || c.TableSize > 1<<24:
		return fmt.Errorf("table size %d is not between 0 and %d", c.TableSize, 1<<24)
	}
	return nil
}

// Verdict is what to do with a query.
type Verdict uint8

const (
	// Pass: answer as usual.
	Pass Verdict = iota
	// Slip: over a limit; over UDP answer empty and truncated (TC=1).
	Slip
	// Drop: over a limit; answer nothing over UDP.
	Drop
)

// Limiter holds the tables. It is safe for concurrent use and lives as
// long as the listeners: a config reload does not reset it.
type Limiter struct {
	cfg                       Config
	now                       func() time.Time
	log                       *slog.Logger
	seed                      maphash.Seed
	clients, refused, repeats *table
	// The buckets' intervals and bursts in nanoseconds (see table.allow).
	clientIvl, clientBurst   int64
	refusedIvl, refusedBurst int64
	repeatIvl, repeatBurst   int64
	overLimit                atomic.Uint64

	// Limited counts queries over a limit, dropped or slipped.
	Limited atomic.Uint64
	// Slipped counts truncated answers sent in place of dropped ones.
	Slipped atomic.Uint64
}

// New validates c and makes the tables.
func New(c Config) (*Limiter, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.TableSize == 0 {
		c.TableSize = 1 << 16
	}
	l := &Limiter{cfg: c, now: c.Now, log: c.Logger, seed: maphash.MakeSeed()}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if c.QPS > 0 {
		l.clients = newTable(c.TableSize)
		l.clientIvl = int64(time.Second) / int64(c.QPS)
		l.clientBurst = l.clientIvl * int64(c.Burst)
	}
	if c.RefusedQPS > 0 {
		l.refused = newTable(c.TableSize)
		l.refusedIvl = int64(time.Second) / int64(c.RefusedQPS)
		l.refusedBurst = l.refusedIvl * int64(c.RefusedQPS)
	}
	if c.RepeatQPS > 0 {
		l.repeats = newTable(c.TableSize)
		l.repeatIvl = int64(time.Second) / int64(c.RepeatQPS)
		l.repeatBurst = l.repeatIvl * int64(c.RepeatQPS)
	}
	return l, nil
}

// Query spends a token of src's query bucket: Pass, or Drop when it is
// empty.
func (l *Limiter) Query(src netip.Addr) Verdict {
	if l.clients == nil {
		return Pass
	}
	for _, p := range l.cfg.Exempt {
		if p.Contains(src.Unmap()) {
			return Pass
		}
	}
	if l.clients.allow(l.addrKey(src, 128), l.now().UnixNano(), l.clientIvl, l.clientBurst) {
		return Pass
	}
	l.Limited.Add(1)
	return Drop
}

// Refused spends a token of the REFUSED bucket of src's network; the
// listener asks before sending REFUSED to a stranger over UDP.
func (l *Limiter) Refused(src netip.Addr) Verdict {
	if l.refused == nil {
		return Pass
	}
	if l.refused.allow(l.addrKey(src, 56), l.now().UnixNano(), l.refusedIvl, l.refusedBurst) {
		return Pass
	}
	return l.over()
}

// Repeat spends a token of the bucket of the answer to (name, qtype) for
// src's network. Case does not matter in name.
func (l *Limiter) Repeat(src netip.Addr, name string, qtype uint16) Verdict {
	if l.repeats == nil {
		return Pass
	}
	var b [16 + 2 + 255]byte
	a := netipPrefix(src, 56).As16()
	n := copy(b[:], a[:])
	b[n], b[n+1] = byte(qtype>>8), byte(qtype)
	n += 2
	for i := 0; i < len(name) && n < len(b); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[n] = c
		n++
	}
	if l.repeats.allow(maphash.Bytes(l.seed, b[:n]), l.now().UnixNano(), l.repeatIvl, l.repeatBurst) {
		return Pass
	}
	return l.over()
}

// over decides between slip and drop for a query over a limit.
func (l *Limiter) over() Verdict {
	l.Limited.Add(1)
	if l.cfg.Slip > 0 && l.overLimit.Add(1)%uint64(l.cfg.Slip) == 0 {
		l.Slipped.Add(1)
		return Slip
	}
	return Drop
}

// addrKey hashes src's network: bits is the IPv6 prefix length; IPv4
// addresses are kept whole for 128 and cut to /24 otherwise.
func (l *Limiter) addrKey(src netip.Addr, bits int) uint64 {
	a := netipPrefix(src, bits).As16()
	return maphash.Bytes(l.seed, a[:])
}

// netipPrefix masks src to its network: IPv4 to /24 and IPv6 to bits, or
// not at all when bits is 128.
func netipPrefix(src netip.Addr, bits int) netip.Addr {
	src = src.Unmap()
	if bits >= 128 {
		return src
	}
	if src.Is4() {
		bits = 24
	}
	p, err := src.Prefix(bits)
	if err != nil {
		return src
	}
	return p.Addr()
}

// Middleware returns the Access step: the client's query rate limit on
// every transport, then, over UDP, the limit on repeated identical
// answers. Over UDP a query over a limit is dropped (or slipped, for
// RRL); over TCP,
// DoT and DoH (where the source cannot be spoofed and nothing is
// amplified) it gets REFUSED with an Extended DNS Error at once, so the
// device's owner sees why.
func (l *Limiter) Middleware() pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
			if r.Retry {
				return next.ServeDNS(ctx, w, r) // counted on its first run
			}
			src := r.Client.Addr()
			v := l.Query(src)
			udp := r.Transport == pipeline.UDP
			if v == Pass && udp {
				v = l.Repeat(src, r.Name(), r.Qtype())
			}
			if v == Pass {
				return next.ServeDNS(ctx, w, r)
			}
			l.log.Warn("client rate limited", "client", src, "transport", r.Transport.String(), "name", r.Name())
			if !udp {
				return w.WriteMsg(dnsmsg.Error(r.Msg, dns.RcodeRefused, dnsmsg.EDEOther, "rate limited"))
			}
			if v == Slip {
				return w.WriteMsg(Truncated(r.Msg))
			}
			return pipeline.ErrDropped
		})
	}
}

// Truncated returns the empty truncated answer (TC=1) a slipped query
// gets: the client retries over TCP.
func Truncated(q *dns.Msg) *dns.Msg {
	m := dnsmsg.Reply(q, dns.RcodeSuccess)
	m.Truncated = true
	return m
}
