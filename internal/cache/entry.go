package cache

import (
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/pipeline"
)

// maxKeyName is the longest question name, in presentation format, that
// the cache keys: 255 wire octets escaped as \DDD need at most about 1000.
// Longer names are malformed and go to the upstream uncached.
const maxKeyName = 1024

// maxEntryWire is the largest answer the cache keeps, so that with our OPT
// record it fits the hit path's pooled 4 KiB buffer, and so that Size
// entries take at most about Size × 4 KiB however hostile the names asked
// (typical answers are 100 to 500 bytes). Larger answers, rare and only
// possible over TCP, go to the upstream every time.
const maxEntryWire = answerBufSize - dnsmsg.OPTLen

// keyBuf holds a cache key: the lower-cased question name, QTYPE, QCLASS
// and a flags byte. It lives on the caller's stack, so a hit builds its key
// without allocating.
type keyBuf [maxKeyName + 5]byte

// Flag bits of the key's last byte: answers differ with them.
const (
	keyDO = 1 << iota // DNSSEC records wanted (RFC 3225)
	keyCD             // unvalidated data wanted (RFC 4035 3.2.2)
)

// makeKey writes the cache key of r into kb and returns it, or reports
// false if r is not cacheable: not a standard query with exactly one
// question. DNS names compare case-insensitively (RFC 4343), so the name is
// lower-cased in ASCII.
func makeKey(kb *keyBuf, r *pipeline.Request) ([]byte, bool) {
	q := r.Msg
	if q == nil || len(q.Question) != 1 || q.Opcode != dns.OpcodeQuery || q.Response {
		return nil, false
	}
	qq := &q.Question[0]
	name := qq.Name
	if len(name) > maxKeyName {
		return nil, false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		kb[i] = c
	}
	n := len(name)
	var flags byte
	if r.DO {
		flags |= keyDO
	}
	if q.CheckingDisabled {
		flags |= keyCD
	}
	kb[n] = byte(qq.Qtype >> 8)
	kb[n+1] = byte(qq.Qtype)
	kb[n+2] = byte(qq.Qclass >> 8)
	kb[n+3] = byte(qq.Qclass)
	kb[n+4] = flags
	return kb[:n+5], true
}

// entry is one cached answer. All fields but the atomics and slot are set
// before the entry is published and never change, so a hit reads them
// without a lock.
type entry struct {
	// key and wire share one exactly sized allocation (newEntry).
	key string
	// wire is the packed answer with ID 0, AA clear, RA set and no OPT
	// record; ttlOffs are the offsets of its records' TTL fields.
	wire    []byte
	ttlOffs []uint16
	expires time.Time
	ttl     uint32 // seconds, clamped
	// cost is the bytes charged against the shard's MaxBytes share; an
	// entry is at most about 5 KiB (maxEntryWire, maxKeyName).
	cost int32

	// The small fields come last and are 32 bits or less, so the struct
	// fits the 112-byte size class instead of 128 (BenchmarkEntryMemory).
	slot       int32 // index in the shard's ring; guarded by shard.mu
	hits       atomic.Uint32
	ref        atomic.Bool // hit since the clock hand last passed
	prefetched atomic.Bool
}

// touch marks e as recently used for the CLOCK eviction. It writes only if
// the bit is clear, so hot entries do not bounce their cache line.
func (e *entry) touch() {
	if !e.ref.Load() {
		e.ref.Store(true)
	}
}

// remaining returns the TTL to serve at now: the whole seconds left, but at
// least 1 so that a client never caches a still-valid answer for 0 s.
func (e *entry) remaining(now time.Time) uint32 {
	d := e.expires.Sub(now)
	if d < time.Second {
		return 1
	}
	return uint32(d / time.Second)
}

// cacheTTL returns how long resp may be cached in seconds, before
// clamping, or false if it must not be cached.
//
// A positive answer lives as long as its shortest answer or authority
// record. A negative answer (NXDOMAIN, or NOERROR without answer records,
// i.e. NODATA) lives min(SOA TTL, SOA MINIMUM) of the SOA in its authority
// section (RFC 2308 section 5), and is not cached at all without one
// (section 5 says SHOULD NOT). Other rcodes, SERVFAIL included, are not
// cached: a failing upstream is retried on the next query and covered by
// serve-stale instead.
func cacheTTL(resp *dns.Msg) (uint32, bool) {
	if resp.Truncated || (resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError) {
		return 0, false
	}
	ttl := uint32(math.MaxUint32)
	var soa *dns.SOA
	for _, sec := range [][]dns.RR{resp.Answer, resp.Ns} {
		for _, rr := range sec {
			h := rr.Header()
			if h.Rrtype == dns.TypeOPT {
				continue
			}
			t := h.Ttl
			if t > dnsmsg.MaxTTL {
				t = 0 // RFC 2181 section 8
			}
			ttl = min(ttl, t)
			if s, ok := rr.(*dns.SOA); ok && soa == nil {
				soa = s
			}
		}
	}
	negative := resp.Rcode == dns.RcodeNameError || len(resp.Answer) == 0
	if negative {
		if soa == nil {
			return 0, false
		}
		ttl = min(ttl, soa.Minttl)
	}
	if ttl == math.MaxUint32 {
		return 0, false
	}
	return ttl, true
}

// newEntry returns the entry for resp, the upstream's answer to q, or nil
// if it must not be cached.
func (c *Cache) newEntry(key string, q, resp *dns.Msg, now time.Time) *entry {
	ttl, ok := cacheTTL(resp)
	if !ok {
		return nil
	}
	ttl = min(max(ttl, c.minTTL), c.maxTTL)
	if ttl == 0 {
		return nil
	}
	// A shallow copy: Pack reads the records without changing them.
	m := &dns.Msg{
		MsgHdr:   resp.MsgHdr,
		Compress: true,
		Question: q.Question,
		Answer:   resp.Answer,
		Ns:       resp.Ns,
	}
	m.Id = 0
	m.Authoritative = false
	m.RecursionAvailable = true
	for _, rr := range resp.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			m.Extra = append(m.Extra, rr)
		}
	}
	wire, err := m.Pack()
	if err == nil && len(wire) > maxEntryWire {
		return nil
	}
	var offs []uint16
	if err == nil {
		offs, err = dnsmsg.TTLOffsets(wire)
	}
	if err != nil {
		c.log.Debug("not caching unpackable answer", slog.String("qname", q.Question[0].Name), slog.Any("err", err))
		return nil
	}
	// Pack allocates for the uncompressed message, often half again the
	// packed size, and the key was a separate string: keep both in one
	// allocation of the exact size. The bytes are never written again, so
	// the key may alias them.
	buf := make([]byte, len(wire)+len(key))
	n := copy(buf, wire)
	copy(buf[n:], key)
	return &entry{
		key:     unsafe.String(unsafe.SliceData(buf[n:]), len(key)),
		wire:    buf[:n:n],
		ttlOffs: offs,
		ttl:     ttl,
		expires: now.Add(time.Duration(ttl) * time.Second),
		cost:    int32(entryOverhead + len(buf) + 2*cap(offs)),
	}
}

// entryOverhead is what an entry costs besides its key, answer and TTL
// offsets: the entry struct, its map slot and its ring slot, rounded up.
const entryOverhead = 192

// shard is one lock's worth of the cache: entries, the flights in progress
// for its keys, cached failures, and a CLOCK ring that bounds it in
// entries and in bytes.
type shard struct {
	mu      sync.RWMutex
	entries map[string]*entry
	flights map[string]*flight
	// ring holds every entry once, and nil in the slots listed in free;
	// the CLOCK hand evicts the first entry not referenced since the
	// hand last passed it, or past serve-stale.
	ring     []*entry
	free     []int32
	hand     int
	size     int
	bytes    int64 // the cost of every entry held
	maxBytes int64
	fails    map[string]failure
	maxFails int

	hits   atomic.Uint64
	misses atomic.Uint64
	_      [64]byte // keep neighbouring shards' locks off this cache line
}

func (s *shard) init(size int, maxBytes int64, maxFails int) {
	s.entries = make(map[string]*entry)
	s.flights = make(map[string]*flight)
	s.fails = make(map[string]failure)
	s.size = size
	s.maxBytes = maxBytes
	s.maxFails = maxFails
}

// insert adds or replaces e, evicting entries until the shard has room for
// it in entries and in bytes, and returns how many entries it evicted.
// Entries past keep are evicted first. The caller holds s.mu.
func (s *shard) insert(e *entry, keep time.Time) uint64 {
	if old := s.entries[e.key]; old != nil {
		s.remove(old)
	}
	var evicted uint64
	for len(s.entries) > 0 && (len(s.entries) >= s.size || s.bytes+int64(e.cost) > s.maxBytes) {
		s.evict(keep)
		evicted++
	}
	if n := len(s.free); n > 0 {
		e.slot = s.free[n-1]
		s.free = s.free[:n-1]
		s.ring[e.slot] = e
	} else {
		e.slot = int32(len(s.ring))
		s.ring = append(s.ring, e)
	}
	s.entries[e.key] = e
	s.bytes += int64(e.cost)
	return evicted
}

// remove drops v from the shard. The caller holds s.mu.
func (s *shard) remove(v *entry) {
	delete(s.entries, v.key)
	s.ring[v.slot] = nil
	s.free = append(s.free, v.slot)
	s.bytes -= int64(v.cost)
}

// evict removes one entry: the first under the CLOCK hand that was not
// hit since the hand last passed it, or that is past keep. The shard must
// hold an entry. Each pass clears the bits it skips, so the hand stops
// within two turns of the ring. The caller holds s.mu.
func (s *shard) evict(keep time.Time) {
	for {
		v := s.ring[s.hand]
		s.hand = (s.hand + 1) % len(s.ring)
		switch {
		case v == nil:
		case v.ref.Load() && v.expires.After(keep):
			v.ref.Store(false)
		default:
			s.remove(v)
			return
		}
	}
}
