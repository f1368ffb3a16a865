// Package filter is the Policy step of the pipeline: it asks the current
// policy snapshot what to do with each query for the device that sent it,
// answers blocks, bypass rules and safe-search rewrites itself, and checks
// the CNAME targets of allowed answers so a listed name cannot hide behind
// an unlisted alias (CNAME cloaking).
//
// Decide lives in package policy, which stays free of DNS; this package
// is the thin DNS side of it.
package filter

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/policy"
)

// Config configures a Filter.
type Config struct {
	// Blocking says how blocked answers look.
	Blocking dnsmsg.Blocking
	// Now is the clock schedules are evaluated against; nil means the
	// instant the listener read the query (Request.Received), or
	// time.Now for a request without one.
	Now func() time.Time
	// Logger receives decisions at debug level.
	Logger *slog.Logger
	// Budgets counts active minutes of time budgets and says which are
	// used up (package budget); nil turns budgets off.
	Budgets Budgets
}

// Budgets is the time budget tracker as the filter uses it: on the query
// path, so both methods must be cheap and must not block.
type Budgets interface {
	// Spent returns the tags of the device's used-up budgets.
	Spent(device string, s *policy.Snapshot, profile int, now time.Time) policy.TagSet
	// Count records an active minute of the budgets in mask.
	Count(device string, s *policy.Snapshot, profile int, mask uint32, now time.Time)
	// Held records that budget i blocked a query of the device.
	Held(device string, s *policy.Snapshot, profile, i int, now time.Time)
}

// Filter applies the policy snapshot of each request (Request.Policy, set
// by the Identify step) to it. It holds no snapshot of its own, so a query
// is decided against the generation it was identified with.
type Filter struct {
	cfg Config
	// received says that Config.Now was nil: a request's own Received
	// time is then its now, so that a query costs no second clock read
	// (a system call where the VM's clock has no vDSO).
	received bool
	log      *slog.Logger
	checkers sync.Pool
}

// ErrNoPolicy is returned for a request that reached the Policy step
// without a policy snapshot: the chain is miswired. The listener answers
// SERVFAIL, so nothing is resolved unfiltered.
var ErrNoPolicy = errors.New("filter: request has no policy snapshot")

// New returns a filter.
func New(c Config) *Filter {
	received := c.Now == nil
	if received {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Filter{cfg: c, log: c.Logger, received: received}
	f.checkers.New = func() any { return new(checker) }
	return f
}

// Middleware returns the Policy step.
func (f *Filter) Middleware() pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
			return f.serve(ctx, w, r, next)
		})
	}
}

// unsafeString views b as a string without copying; b must not change
// while the string is used (here: within one call).
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// lowerName copies a presentation-form name into buf, lower-cased.
func lowerName(buf []byte, name string) []byte {
	buf = buf[:0]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

func (f *Filter) serve(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request, next pipeline.Handler) error {
	s := r.Policy
	if s == nil {
		return ErrNoPolicy
	}
	q := r.Msg.Question[0]
	prof := s.ProfileHinted(r.Identity.Profile, r.Identity.ProfileHint)
	var buf [256]byte
	now := r.Received
	if !f.received || now.IsZero() {
		now = f.cfg.Now()
	}
	name := lowerName(buf[:0], q.Name)
	var spent policy.TagSet
	budgets := f.cfg.Budgets != nil && s.HasBudgets(prof)
	if budgets {
		spent = f.cfg.Budgets.Spent(r.Identity.Device, s, prof, now)
	}
	d := s.DecideSpent(prof, now, name, q.Qtype, spent)
	switch d.Action {
	case policy.Allow:
		if budgets && d.Count != 0 {
			// An active minute: the device asked for a foreground name
			// of a budgeted service.
			f.cfg.Budgets.Count(r.Identity.Device, s, prof, d.Count, now)
		}
		// checkers are pooled: one escapes to the heap per allowed query.
		c := f.checkers.Get().(*checker)
		*c = checker{f: f, s: s, prof: prof, now: now, w: w, r: r, d: d, spent: spent}
		err := next.ServeDNS(ctx, c, r)
		r.Outcome = pipeline.Outcome{Decided: true, Written: c.written, Rcode: c.rcode, Decision: c.d, Via: c.via, Target: c.target, Text: c.text, Cached: r.Outcome.Cached}
		*c = checker{}
		f.checkers.Put(c)
		return err
	case policy.Block:
		if budgets && d.Reason == policy.ReasonBudget && d.Budget > 0 {
			f.cfg.Budgets.Held(r.Identity.Device, s, prof, d.Budget-1, now)
		}
		// Built as bytes on the stack: a blocked answer should cost no
		// more than a cache hit.
		var text [256]byte
		var out [768]byte
		explained := s.AppendExplain(text[:0], d, unsafeString(name))
		if len(explained) > 200 {
			explained = explained[:200] // keep the answer small
		}
		var err error
		rcode := dns.RcodeSuccess
		if f.cfg.Blocking.Mode == dnsmsg.BlockNXDomain {
			rcode = dns.RcodeNameError
		}
		if wire, ok := f.cfg.Blocking.AppendBlocked(out[:0], r.Msg, r.EDNS, r.DO, explained); ok {
			err = w.WriteWire(wire)
		} else {
			err = w.WriteMsg(f.cfg.Blocking.Blocked(r.Msg, string(explained)))
		}
		r.Outcome = pipeline.Outcome{Decided: true, Written: true, Rcode: rcode, Decision: d}
		return err
	case policy.NXDomain, policy.NoData:
		rcode := dns.RcodeSuccess
		if d.Action == policy.NXDomain {
			rcode = dns.RcodeNameError
		}
		text := s.Explain(d, string(name))
		err := w.WriteMsg(f.cfg.Blocking.Negative(r.Msg, rcode, text))
		r.Outcome = pipeline.Outcome{Decided: true, Written: true, Rcode: rcode, Decision: d}
		return err
	case policy.Rewrite:
		err := f.rewrite(ctx, w, r, next, s, d, string(name))
		r.Outcome = pipeline.Outcome{Decided: true, Written: err == nil, Rcode: dns.RcodeSuccess, Decision: d}
		return err
	}
	return fmt.Errorf("filter: unknown action %d", d.Action)
}

// rewrite answers a safe-search name with a CNAME to the engine's safe
// host, followed by the safe host's own records of the query type.
func (f *Filter) rewrite(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request, next pipeline.Handler, s *policy.Snapshot, d policy.Decision, name string) error {
	q := r.Msg.Question[0]
	rule := s.RewriteTarget(d)
	if rule.Target == "" {
		// No safe host name: answer the engine's safe addresses directly.
		m := dnsmsg.Reply(r.Msg, dns.RcodeSuccess)
		for _, a := range rule.Addrs {
			hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 300}
			switch {
			case a.Is4() && q.Qtype == dns.TypeA:
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
			case a.Is6() && q.Qtype == dns.TypeAAAA:
				hdr.Rrtype = dns.TypeAAAA
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
		dnsmsg.SetEDE(m, dnsmsg.EDEFiltered, s.Explain(d, name))
		return w.WriteMsg(m)
	}
	target := dns.Fqdn(rule.Target)
	sub := r.Msg.Copy()
	sub.Question[0].Name = target
	subReq := *r
	subReq.Msg = sub
	subReq.MaxSize = dns.MaxMsgSize
	var got capture
	if err := next.ServeDNS(ctx, &got, &subReq); err != nil && got.msg == nil {
		return err
	}
	if got.msg == nil {
		return fmt.Errorf("filter: safe-search target %s: no answer", target)
	}
	m := dnsmsg.Reply(r.Msg, got.msg.Rcode)
	ttl := uint32(300)
	for _, rr := range got.msg.Answer {
		ttl = min(ttl, rr.Header().Ttl)
	}
	m.Answer = append([]dns.RR{&dns.CNAME{
		Hdr:    dns.RR_Header{Name: q.Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: ttl},
		Target: target,
	}}, got.msg.Answer...)
	m.Ns = got.msg.Ns
	dnsmsg.SetEDE(m, dnsmsg.EDEFiltered, s.Explain(d, name))
	return w.WriteMsg(m)
}

// capture is a ResponseWriter that keeps the answer for the caller.
type capture struct{ msg *dns.Msg }

func (c *capture) WriteMsg(m *dns.Msg) error {
	c.msg = m
	return nil
}

func (c *capture) WriteWire(b []byte) error {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return fmt.Errorf("filter: unpack captured answer: %w", err)
	}
	c.msg = m
	return nil
}

// checker passes an allowed answer on after checking the names its CNAME
// records point to and, when lists name addresses, its A and AAAA
// addresses: an answer that leads to a blocked name or address is blocked.
type checker struct {
	f    *Filter
	s    *policy.Snapshot
	prof int
	now  time.Time
	w    pipeline.ResponseWriter
	r    *pipeline.Request
	// spent are the tags of the device's used-up time budgets.
	spent policy.TagSet
	// d is the decision of the answer written; written and rcode say
	// whether one was and with which code, for the observer.
	d       policy.Decision
	written bool
	rcode   int
	// text explains a block found in the answer, via says how it was
	// found ("cname" or "answer-ip") and target names what blocked.
	text, via, target string
}

func (c *checker) WriteMsg(m *dns.Msg) error {
	if m.Rcode == dns.RcodeSuccess {
		var buf [256]byte
		ips := c.s.HasIPRules()
		for _, rr := range m.Answer {
			var ip netip.Addr
			switch rr := rr.(type) {
			case *dns.CNAME:
				target := lowerName(buf[:0], rr.Target)
				if d, blocked := c.blockedTarget(target); blocked {
					return c.block(d, string(target), "cname")
				}
				continue
			case *dns.DNAME:
				// Every name under the owner is redirected under the
				// target (RFC 6672): a listed target is a listed answer,
				// whether or not the synthesised CNAME came along.
				target := lowerName(buf[:0], rr.Target)
				if d, blocked := c.blockedTarget(target); blocked {
					return c.block(d, string(target), "dname")
				}
				continue
			case *dns.A:
				ip, _ = netip.AddrFromSlice(rr.A)
			case *dns.AAAA:
				ip, _ = netip.AddrFromSlice(rr.AAAA)
			case *dns.HTTPS:
				if !ips {
					continue
				}
				if d, hint, blocked := c.blockedHints(rr.Value); blocked {
					return c.block(d, hint.String(), "svcb-hint")
				}
				continue
			case *dns.SVCB:
				if !ips {
					continue
				}
				if d, hint, blocked := c.blockedHints(rr.Value); blocked {
					return c.block(d, hint.String(), "svcb-hint")
				}
				continue
			}
			if ips && ip.IsValid() {
				if d := c.s.DecideIP(c.prof, c.now, ip); d.Action == policy.Block {
					return c.block(d, ip.Unmap().String(), "answer-ip")
				}
			}
		}
	}
	if limit, ok := c.ttlLimit(); ok {
		// No cached answer may outlive the profile's next schedule change.
		for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
			for _, rr := range sec {
				if h := rr.Header(); h.Rrtype != dns.TypeOPT && h.Ttl > limit {
					h.Ttl = limit
				}
			}
		}
	}
	c.written, c.rcode = true, m.Rcode
	return c.w.WriteMsg(m)
}

func (c *checker) WriteWire(b []byte) error {
	ips := c.s.HasIPRules()
	// A single record can only be the answer itself: its name was
	// decided already, so only addresses need a look.
	if len(b) >= dnsmsg.HeaderLen && b[3]&0xF == dns.RcodeSuccess && (binary.BigEndian.Uint16(b[6:]) > 1 || ips) {
		var (
			buf     [256]byte
			d       policy.Decision
			target  string
			via     = "cname"
			blocked bool
		)
		dnsmsg.WalkAnswers(b, func(rrtype uint16, rdata, rdlen int) bool {
			var ip netip.Addr
			switch {
			case rrtype == dns.TypeCNAME || rrtype == dns.TypeDNAME:
				name, _, err := dnsmsg.ReadName(b, rdata, buf[:0])
				if err != nil {
					return true
				}
				if d, blocked = c.blockedTarget(name); blocked {
					target = string(name)
					if rrtype == dns.TypeDNAME {
						via = "dname"
					}
				}
				return !blocked
			case rrtype == dns.TypeA && rdlen == 4 && ips:
				ip = netip.AddrFrom4([4]byte(b[rdata : rdata+4]))
			case rrtype == dns.TypeAAAA && rdlen == 16 && ips:
				ip = netip.AddrFrom16([16]byte(b[rdata : rdata+16]))
			case (rrtype == dns.TypeHTTPS || rrtype == dns.TypeSVCB) && ips:
				var hint netip.Addr
				if d, hint, blocked = c.blockedWireHints(b, rdata, rdlen); blocked {
					target, via = hint.String(), "svcb-hint"
				}
				return !blocked
			default:
				return true
			}
			if d = c.s.DecideIP(c.prof, c.now, ip); d.Action == policy.Block {
				blocked, target, via = true, ip.Unmap().String(), "answer-ip"
			}
			return !blocked
		})
		if blocked {
			return c.block(d, target, via)
		}
	}
	if limit, ok := c.ttlLimit(); ok {
		// No cached answer may outlive the profile's next schedule change.
		dnsmsg.ClampTTLs(b, limit)
	}
	if len(b) >= dnsmsg.HeaderLen {
		c.written, c.rcode = true, int(b[3]&0xF)
	}
	return c.w.WriteWire(b)
}

// blockedHints decides the ipv4hint and ipv6hint addresses of an HTTPS
// or SVCB record (RFC 9460 section 7.3): a client may connect to them
// without asking for A or AAAA at all.
func (c *checker) blockedHints(params []dns.SVCBKeyValue) (policy.Decision, netip.Addr, bool) {
	for _, kv := range params {
		var hints []net.IP
		switch kv := kv.(type) {
		case *dns.SVCBIPv4Hint:
			hints = kv.Hint
		case *dns.SVCBIPv6Hint:
			hints = kv.Hint
		default:
			continue
		}
		for _, h := range hints {
			ip, ok := netip.AddrFromSlice(h)
			if !ok {
				continue
			}
			if d := c.s.DecideIP(c.prof, c.now, ip); d.Action == policy.Block {
				return d, ip.Unmap(), true
			}
		}
	}
	return policy.Decision{}, netip.Addr{}, false
}

// blockedWireHints is blockedHints on the packed RDATA of an HTTPS or
// SVCB record at b[rdata:rdata+rdlen]: priority, target name, then
// key-length-value parameters. Malformed RDATA is left to the client.
func (c *checker) blockedWireHints(b []byte, rdata, rdlen int) (policy.Decision, netip.Addr, bool) {
	end := rdata + rdlen
	if rdlen < 3 || end > len(b) {
		return policy.Decision{}, netip.Addr{}, false
	}
	var buf [256]byte
	// The target is never compressed (RFC 9460 section 2.2), so the name
	// ends inside the RDATA.
	_, off, err := dnsmsg.ReadName(b[:end], rdata+2, buf[:0])
	if err != nil {
		return policy.Decision{}, netip.Addr{}, false
	}
	for off+4 <= end {
		key := binary.BigEndian.Uint16(b[off:])
		n := int(binary.BigEndian.Uint16(b[off+2:]))
		off += 4
		if off+n > end {
			break
		}
		size := 0
		switch key {
		case 4: // ipv4hint
			size = 4
		case 6: // ipv6hint
			size = 16
		}
		for i := 0; size > 0 && i+size <= n; i += size {
			ip, _ := netip.AddrFromSlice(b[off+i : off+i+size])
			if d := c.s.DecideIP(c.prof, c.now, ip); d.Action == policy.Block {
				return d, ip.Unmap(), true
			}
		}
		off += n
	}
	return policy.Decision{}, netip.Addr{}, false
}

// blockedTarget decides a CNAME target for the same device and type.
func (c *checker) blockedTarget(name []byte) (policy.Decision, bool) {
	d := c.s.DecideSpent(c.prof, c.now, name, c.r.Msg.Question[0].Qtype, c.spent)
	return d, d.Action == policy.Block
}

// block answers the query blocked because of something in its answer:
// a CNAME target or an address (via says which), named by rule.
func (c *checker) block(d policy.Decision, rule, via string) error {
	text := c.s.Explain(d, rule) + " via=" + via + ":" + c.r.Msg.Question[0].Name
	m := c.f.cfg.Blocking.Blocked(c.r.Msg, text)
	c.d, c.written, c.rcode, c.text, c.via, c.target = d, true, m.Rcode, text, via, rule
	return c.w.WriteMsg(m)
}

// ttlLimit returns the longest TTL the answer may carry: until the
// profile's next schedule change, and at most policy.BudgetTTL for a name
// that counts towards a time budget, so that the device asks again each
// minute it uses the service and a used-up budget blocks within a minute.
func (c *checker) ttlLimit() (uint32, bool) {
	limit, ok := c.s.TTLLimit(c.prof, c.now)
	if c.d.Count != 0 && (!ok || limit > policy.BudgetTTL) {
		return policy.BudgetTTL, true
	}
	return limit, ok
}
