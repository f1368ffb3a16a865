package cache

import (
	"log/slog"
	"math"
	"slices"
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

// entry is one cached answer, packed with its data into one allocation
// that holds no pointers: this header, then the offsets of the records'
// TTL fields, the wire answer and the key. The garbage collector marks
// such an allocation without scanning it, and a full cache of a million
// answers is then cheap to mark: with an entry struct pointing at its key,
// answer and offsets, each collection walked four objects per answer, and
// near the memory limit the misses waited in mark assists (issue #14).
//
// All fields but the atomics and slot are set before the entry is
// published and never change, so a hit reads them without a lock.
type entry struct {
	hash    uint64 // of the key; the shard's map is keyed by it
	expires int64  // nanoseconds since the cache's epoch (Cache.clock)
	ttl     uint32 // seconds, clamped
	slot    int32  // index in the shard's ring; guarded by shard.mu
	hits    atomic.Uint32
	size    uint16 // bytes allocated, this header included
	nOffs   uint16 // TTL offsets
	wireLen uint16
	keyLen  uint16
	flags   atomic.Uint32 // flagRef, flagPrefetched
}

// Bits of entry.flags.
const (
	flagRef        = 1 << iota // hit since the clock hand last passed
	flagPrefetched             // a prefetch of the entry started
)

// entryHeader is the size of the header before an entry's data; a
// multiple of 8, so the data and the next allocation stay aligned.
const entryHeader = unsafe.Sizeof(entry{})

// packEntry allocates an entry holding offs, wire and key, with the
// header fields set but expires, ttl and slot. The allocation is a
// []uint64, pointer-free and 8-byte aligned for the header's fields,
// rounded up to its size class so that size is what the heap holds.
func packEntry(hash uint64, offs []uint16, wire []byte, key string) *entry {
	n := int(entryHeader) + 2*len(offs) + len(wire) + len(key)
	words := (n + 7) / 8
	// Grow rounds the capacity up to the allocator's size class.
	buf := slices.Grow([]uint64(nil), words)[:words]
	e := (*entry)(unsafe.Pointer(&buf[0]))
	e.hash = hash
	e.size = uint16(8 * cap(buf))
	e.nOffs = uint16(len(offs))
	e.wireLen = uint16(len(wire))
	e.keyLen = uint16(len(key))
	copy(e.ttlOffs(), offs)
	copy(e.wire(), wire)
	copy(unsafe.Slice(e.keyData(), e.keyLen), key)
	return e
}

func (e *entry) data() unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(e), entryHeader)
}

// ttlOffs returns the offsets of the wire answer's TTL fields.
func (e *entry) ttlOffs() []uint16 {
	return unsafe.Slice((*uint16)(e.data()), e.nOffs)
}

// wire returns the packed answer: ID 0, AA clear, RA set and no OPT
// record. It must not be modified.
func (e *entry) wire() []byte {
	return unsafe.Slice((*byte)(unsafe.Add(e.data(), 2*int(e.nOffs))), e.wireLen)
}

func (e *entry) keyData() *byte {
	return (*byte)(unsafe.Add(e.data(), 2*int(e.nOffs)+int(e.wireLen)))
}

// key returns the entry's cache key (makeKey).
func (e *entry) key() string {
	return unsafe.String(e.keyData(), e.keyLen)
}

// cost returns the bytes charged against the shard's MaxBytes share: the
// allocation and the entry's map and ring slots.
func (e *entry) cost() int64 {
	return entryOverhead + int64(e.size)
}

// startPrefetch reports whether no prefetch of e started yet, and marks
// one started.
func (e *entry) startPrefetch() bool {
	return e.flags.Or(flagPrefetched)&flagPrefetched == 0
}

// touch marks e as recently used for the CLOCK eviction. It writes only if
// the bit is clear, so hot entries do not bounce their cache line.
func (e *entry) touch() {
	if e.flags.Load()&flagRef == 0 {
		e.flags.Or(flagRef)
	}
}

// fresh reports whether e has not expired at now (Cache.clock).
func (e *entry) fresh(now int64) bool {
	return now < e.expires
}

// remaining returns the TTL to serve at now (Cache.clock): the whole
// seconds left, but at least 1 so that a client never caches a
// still-valid answer for 0 s.
func (e *entry) remaining(now int64) uint32 {
	d := time.Duration(e.expires - now)
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
func (c *Cache) newEntry(hash uint64, key string, q, resp *dns.Msg, now time.Time) *entry {
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
	// Packed into a pooled buffer (Pack would allocate one for the
	// uncompressed message, garbage at every miss); packEntry copies it.
	bp := c.getBuf()
	defer c.putBuf(bp)
	wire, err := m.PackBuffer((*bp)[:cap(*bp)])
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
	e := packEntry(hash, offs, wire, key)
	e.ttl = ttl
	e.expires = c.clock(now) + int64(ttl)*int64(time.Second)
	return e
}

// entryOverhead is what an entry costs besides its allocation: its slot
// in the shard's map (a 16-byte key and value and a control byte, at a
// load of 7/8 down to half after the map grows) and in the ring, the free
// list and the growth of both, rounded up (BenchmarkEntryMemory checks it).
const entryOverhead = 48

// shard is one lock's worth of the cache: entries, the flights in progress
// for its keys, cached failures, and a CLOCK ring that bounds it in
// entries and in bytes.
type shard struct {
	mu sync.RWMutex
	// entries maps the hash of each entry's key to its slot in ring.
	// Neither holds a pointer to a key, so the collector scans only the
	// ring, one pointer per entry. Two keys with one hash cannot both be
	// held: the later replaces the earlier (lookup compares the key).
	entries map[uint64]int32
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
	s.entries = make(map[uint64]int32)
	s.flights = make(map[string]*flight)
	s.fails = make(map[string]failure)
	s.size = size
	s.maxBytes = maxBytes
	s.maxFails = maxFails
}

// lookup returns the entry for key, whose hash is h, or nil. The caller
// holds s.mu.
func (s *shard) lookup(h uint64, key []byte) *entry {
	if i, ok := s.entries[h]; ok {
		if e := s.ring[i]; e.key() == string(key) {
			return e
		}
	}
	return nil
}

// lookupString is lookup for a key held as a string.
func (s *shard) lookupString(h uint64, key string) *entry {
	if i, ok := s.entries[h]; ok {
		if e := s.ring[i]; e.key() == key {
			return e
		}
	}
	return nil
}

// insert adds or replaces e, evicting entries until the shard has room for
// it in entries and in bytes, and returns how many entries it evicted.
// Entries that expired before keep (Cache.clock) are evicted first. The
// caller holds s.mu.
func (s *shard) insert(e *entry, keep int64) uint64 {
	if i, ok := s.entries[e.hash]; ok {
		s.remove(s.ring[i])
	}
	var evicted uint64
	for len(s.entries) > 0 && (len(s.entries) >= s.size || s.bytes+e.cost() > s.maxBytes) {
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
	s.entries[e.hash] = e.slot
	s.bytes += e.cost()
	return evicted
}

// remove drops v from the shard. The caller holds s.mu.
func (s *shard) remove(v *entry) {
	delete(s.entries, v.hash)
	s.ring[v.slot] = nil
	s.free = append(s.free, v.slot)
	s.bytes -= v.cost()
}

// evict removes one entry: the first under the CLOCK hand that was not
// hit since the hand last passed it, or that expired before keep. The
// shard must hold an entry. Each pass clears the bits it skips, so the
// hand stops within two turns of the ring. The caller holds s.mu.
func (s *shard) evict(keep int64) {
	for {
		v := s.ring[s.hand]
		s.hand = (s.hand + 1) % len(s.ring)
		switch {
		case v == nil:
		case v.flags.Load()&flagRef != 0 && v.expires > keep:
			v.flags.And(^uint32(flagRef))
		default:
			s.remove(v)
			return
		}
	}
}
