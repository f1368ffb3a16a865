package cache

import (
	"log/slog"
	"math"
	"slices"
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

// entry is the header of one cached answer, followed by the offsets of
// the records' TTL fields, the wire answer and the key. The shard keeps
// its entries back to back in a few large pointer-free segments (see
// arena.go), so the garbage collector has no object per cached answer to
// mark; a flight builds its entry in a heap buffer of its own (packEntry),
// which the shard copies in and the flight's waiters answer from.
//
// All fields but the atomics are set before the entry is stored and do
// not change while it stays where it is, so a reader holding the shard's
// read lock reads them without another.
type entry struct {
	record
	hash    uint64 // of the key; the shard's map is keyed by it
	expires int64  // nanoseconds since the cache's epoch (Cache.clock)
	ttl     uint32 // seconds, clamped
	hits    atomic.Uint32
	nOffs   uint16 // TTL offsets
	wireLen uint16
	keyLen  uint16
	_       uint16
}

// record is what every record in a shard's ring starts with, an entry or
// padding (which may be just that long).
type record struct {
	size  uint32        // bytes the record takes, this header included; a multiple of 8
	flags atomic.Uint32 // flagRef, flagPrefetched, flagPad
}

// Bits of record.flags.
const (
	flagRef        = 1 << iota // hit since it was stored or last kept by the eviction
	flagPrefetched             // a prefetch of the entry started
	flagPad                    // not an entry: size bytes of padding at a segment's end
)

// entryHeader is the size of the header before an entry's data; a
// multiple of 8, so the data and the next entry stay aligned.
const entryHeader = unsafe.Sizeof(entry{})

// entrySize returns the bytes an entry of nOffs TTL offsets, wireLen bytes
// of answer and keyLen bytes of key takes, rounded up to 8.
func entrySize(nOffs, wireLen, keyLen int) int {
	return (int(entryHeader) + 2*nOffs + wireLen + keyLen + 7) &^ 7
}

// packEntry returns a heap entry holding offs, wire and key, with the
// header fields set but expires and ttl. The buffer is a []uint64,
// pointer-free and 8-byte aligned for the header's fields.
func packEntry(hash uint64, offs []uint16, wire []byte, key string) *entry {
	n := entrySize(len(offs), len(wire), len(key))
	buf := make([]uint64, n/8)
	e := (*entry)(unsafe.Pointer(&buf[0]))
	e.hash = hash
	e.size = uint32(n)
	e.nOffs = uint16(len(offs))
	e.wireLen = uint16(len(wire))
	e.keyLen = uint16(len(key))
	copy(e.ttlOffs(), offs)
	copy(e.wire(), wire)
	copy(unsafe.Slice(e.keyData(), e.keyLen), key)
	return e
}

// words returns e's memory, header included.
func (e *entry) words() []uint64 {
	return unsafe.Slice((*uint64)(unsafe.Pointer(e)), e.size/8)
}

// clone returns a heap copy of e, for a reader that must use it after
// releasing the shard's lock (the rare stale and late-flight paths).
func (e *entry) clone() *entry {
	buf := slices.Clone(e.words())
	return (*entry)(unsafe.Pointer(&buf[0]))
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

// key returns the entry's cache key (makeKey). It points into the entry.
func (e *entry) key() string {
	return unsafe.String(e.keyData(), e.keyLen)
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
