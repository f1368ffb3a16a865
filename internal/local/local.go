// Package local answers names that belong to the home network: records
// given in the config ("router.lan A 192.168.1.1", with their reverse PTR
// records made automatically), domains forwarded to a local server (the
// home router for "lan" names), the locally served zones that must never
// go upstream (localhost, home.arpa, onion, private reverse zones: RFC
// 6761, RFC 6303), and class CH queries about the server itself.
package local

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/pipeline"
)

// DefaultTTL is the TTL of a local record written without one.
const DefaultTTL = 300

// Exchanger sends a query to a server and returns its answer.
type Exchanger interface {
	Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error)
}

// Zones is an immutable set of local records, forwarded domains and the
// locally served zones, with the answers to class CH identity queries.
type Zones struct {
	records map[string][]dns.RR // lower-case FQDN to its records
	forward map[string]Exchanger
	// maxForwardLabels bounds the suffix walk for forwarded domains.
	maxForwardLabels int
	specials         map[string]*specialZone
	chaos            Chaos
	limit            Limiter
	maxTTL           uint32 // 0: no cap
}

// Option changes how New builds Zones.
type Option func(*Zones)

// WithChaos sets the answers to CH-class identity queries; without it,
// they get REFUSED.
func WithChaos(c Chaos) Option {
	return func(z *Zones) { z.chaos = c }
}

// Limiter caps the upstream queries in flight per client and in total;
// cache.Cache implements it, so that forwards and cache misses share the
// caps.
type Limiter interface {
	// AcquireUpstream takes a slot for one exchange for client, or
	// reports false when a cap is reached.
	AcquireUpstream(client netip.Addr) bool
	// ReleaseUpstream gives the slot back.
	ReleaseUpstream(client netip.Addr)
}

// WithLimiter makes forwards take an upstream slot from l; a client over
// its cap gets SERVFAIL at once, so a device flooding random names under a
// forwarded domain cannot exhaust the home router for the others.
func WithLimiter(l Limiter) Option {
	return func(z *Zones) { z.limit = l }
}

// WithMaxTTL caps every TTL Hearth answers from here (records, locally
// served zones, forwarded answers) at d, like the cache's max_ttl.
func WithMaxTTL(d time.Duration) Option {
	return func(z *Zones) { z.maxTTL = uint32(min(d/time.Second, dnsmsg.MaxTTL)) }
}

// ParseRecord parses one local record in zone-file syntax; a record
// without a TTL gets DefaultTTL.
func ParseRecord(s string) (dns.RR, error) {
	zp := dns.NewZoneParser(strings.NewReader(s), ".", "")
	zp.SetDefaultTTL(DefaultTTL)
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("record %q: %w", s, err)
	}
	if !ok {
		return nil, fmt.Errorf("record %q: empty", s)
	}
	if _, more := zp.Next(); more {
		return nil, fmt.Errorf("record %q: more than one record", s)
	}
	return rr, nil
}

// New builds the zones from parsed records and forwarded domains (domain
// to exchanger). A and AAAA records also answer the PTR query for their
// address, unless a PTR record for it is given. The locally served zones
// are always present; a record or a forwarded domain takes precedence over
// them, so that the LAN's own reverse zone can still go to the home router.
func New(records []dns.RR, forward map[string]Exchanger, opts ...Option) *Zones {
	z := &Zones{records: map[string][]dns.RR{}, forward: map[string]Exchanger{}, specials: specialZones()}
	for _, o := range opts {
		o(z)
	}
	explicitPTR := map[string]bool{}
	for _, rr := range records {
		name := strings.ToLower(dns.Fqdn(rr.Header().Name))
		rr.Header().Name = name
		z.records[name] = append(z.records[name], rr)
		if rr.Header().Rrtype == dns.TypePTR {
			explicitPTR[name] = true
		}
	}
	for _, rr := range records {
		var ip string
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A.String()
		case *dns.AAAA:
			ip = rr.AAAA.String()
		default:
			continue
		}
		arpa, err := dns.ReverseAddr(ip)
		if err != nil || explicitPTR[arpa] {
			continue
		}
		ptr := &dns.PTR{Hdr: dns.RR_Header{Name: arpa, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: rr.Header().Ttl}, Ptr: rr.Header().Name}
		z.records[arpa] = append(z.records[arpa], ptr)
	}
	for domain, ex := range forward {
		d := strings.ToLower(dns.Fqdn(domain))
		z.forward[d] = ex
		z.maxForwardLabels = max(z.maxForwardLabels, dns.CountLabel(d))
	}
	return z
}

// Middleware answers class CH queries, local records, forwarded domains
// and the locally served zones, in that order, passing every other query
// to next.
func (z *Zones) Middleware() pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
			return z.serve(ctx, w, r, next)
		})
	}
}

func (z *Zones) serve(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request, next pipeline.Handler) error {
	q := r.Msg.Question[0]
	if q.Qclass == dns.ClassCHAOS {
		return w.WriteMsg(z.chaos.answer(r.Msg))
	}
	if len(z.records) == 0 && len(z.forward) == 0 && !specialTLD(q.Name) {
		return next.ServeDNS(ctx, w, r) // most queries: no allocation
	}
	name := strings.ToLower(q.Name)
	if rrs, ok := z.records[name]; ok {
		m := dnsmsg.Reply(r.Msg, dns.RcodeSuccess)
		m.Authoritative = true // Hearth is the source of these names
		for _, rr := range rrs {
			t := rr.Header().Rrtype
			if t == q.Qtype || (t == dns.TypeCNAME && q.Qtype != dns.TypeCNAME) {
				c := dns.Copy(rr)
				c.Header().Name = q.Name
				m.Answer = append(m.Answer, c)
			}
		}
		return z.write(w, m)
	}
	if ex := z.forwarder(name); ex != nil {
		if r.NoWait {
			return pipeline.ErrWouldBlock
		}
		if z.limit != nil {
			client := r.Client.Addr()
			if !z.limit.AcquireUpstream(client) {
				return w.WriteMsg(dnsmsg.Error(r.Msg, dns.RcodeServerFailure, dnsmsg.EDEOther, "too many upstream queries in flight"))
			}
			defer z.limit.ReleaseUpstream(client)
		}
		resp, err := ex.Exchange(ctx, r.Msg)
		if err != nil {
			return w.WriteMsg(dnsmsg.ServFail(r.Msg, err))
		}
		return z.write(w, dnsmsg.FromUpstream(r.Msg, resp))
	}
	if specialTLD(name) {
		if sz := z.special(name); sz != nil {
			return z.write(w, sz.answer(r.Msg, name))
		}
	}
	return next.ServeDNS(ctx, w, r)
}

// write sends m, its TTLs capped. m must be the caller's own: its records
// copies, not shared ones.
func (z *Zones) write(w pipeline.ResponseWriter, m *dns.Msg) error {
	if z.maxTTL > 0 {
		dnsmsg.CapTTLs(m, z.maxTTL)
	}
	return w.WriteMsg(m)
}

// forwarder returns the exchanger of the longest forwarded domain that
// name equals or is under, or nil.
func (z *Zones) forwarder(name string) Exchanger {
	if len(z.forward) == 0 {
		return nil
	}
	labels := dns.CountLabel(name)
	off := 0
	for i := labels; i > 0; i-- {
		if i <= z.maxForwardLabels {
			if ex, ok := z.forward[name[off:]]; ok {
				return ex
			}
		}
		next, end := dns.NextLabel(name, off)
		if end {
			break
		}
		off = next
	}
	return nil
}
