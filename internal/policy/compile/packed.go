package compile

import (
	"encoding/binary"
	"encoding/json"
	"iter"
	"strings"
	"time"
	"unsafe"

	"github.com/hearth-dns/hearth/internal/shardmap"
	"github.com/hearth-dns/hearth/internal/store"
)

// packed is a table of store items kept encoded, one string per item
// (devices, bindings, households, grants, profiles): a store.Device is some 200 bytes of headers (strings, slices, times)
// before its text, and an ISP node keeps five million of them, while
// Apply reads only the few a change touches. Encoded, a device costs its
// text plus a few bytes (see the At ISP scale section of
// docs/ARCHITECTURE.md for the measured figures).
type packed[V any] struct {
	// m maps each key to the length of its item's encoding, its blob.
	// The key m holds starts one allocation (its own, or an arena's) and
	// the blob follows it there: a slot is a string and a length, 24
	// bytes, where a string key and a string blob took 40.
	m *shardmap.Map[string, uint32]
	// enc appends an item's encoding to a buffer.
	enc func(buf, V) buf
	dec func(key, blob string) V
}

func newPacked[V any](sizeHint int, enc func(buf, V) buf, dec func(string, string) V) packed[V] {
	return packed[V]{m: shardmap.New[string, uint32](sizeHint), enc: enc, dec: dec}
}

// blobAfter returns the n bytes that follow key, as a packed table holds
// it, in its allocation: the item's blob.
func blobAfter(key string, n uint32) string {
	if n == 0 {
		return ""
	}
	return unsafe.String((*byte)(unsafe.Add(unsafe.Pointer(unsafe.StringData(key)), len(key))), n)
}

// Get returns the item of key, decoded.
func (p packed[V]) Get(key string) (V, bool) {
	k, n, ok := p.m.Entry(key)
	if !ok {
		var zero V
		return zero, false
	}
	return p.dec(k, blobAfter(k, n)), true
}

// Len returns the number of items.
func (p packed[V]) Len() int { return p.m.Len() }

// All yields every item, decoded, in no particular order.
func (p packed[V]) All() iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		for k, n := range p.m.All() {
			if !yield(k, p.dec(k, blobAfter(k, n))) {
				return
			}
		}
	}
}

// Blobs yields every item's key and blob, not decoded.
func (p packed[V]) Blobs() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for k, n := range p.m.All() {
			if !yield(k, blobAfter(k, n)) {
				return
			}
		}
	}
}

// Edit returns an editor for the next table.
func (p packed[V]) Edit() *packedEditor[V] { return &packedEditor[V]{e: p.m.Edit(), p: p} }

// packedEditor edits a packed table.
type packedEditor[V any] struct {
	e *shardmap.Editor[string, uint32]
	p packed[V]
	// scratch is the buffer items are encoded in, reused.
	scratch buf
	// arena, when set, holds the keys and blobs Put makes (see arena).
	arena *arena
}

// blob returns the key as the table holds it and the item's blob.
func (e *packedEditor[V]) blob(key string) (string, string, bool) {
	k, n, ok := e.e.Entry(key)
	if !ok {
		return "", "", false
	}
	return k, blobAfter(k, n), true
}

func (e *packedEditor[V]) Get(key string) (V, bool) {
	k, blob, ok := e.blob(key)
	if !ok {
		var zero V
		return zero, false
	}
	return e.p.dec(k, blob), true
}

// Put sets the item of key, and returns the key as the table now holds
// it: a copy of key, followed in its allocation by the item's blob (in
// the arena when the editor has one, as a bulk build's has). What else
// keeps the id (the identity tables, the other indexes) may keep that
// copy, so that the caller's is garbage: after a bulk build, none of the
// loaded state's strings outlives it among its other garbage, keeping
// their spans in use.
func (e *packedEditor[V]) Put(key string, v V) string {
	e.scratch = e.p.enc(append(e.scratch[:0], key...), v)
	var all string
	if e.arena != nil {
		all = e.arena.string(e.scratch)
	} else {
		all = string(e.scratch)
	}
	k := all[:len(key)]
	e.e.Put(k, uint32(len(all)-len(key)))
	return k
}

func (e *packedEditor[V]) Delete(key string) { e.e.Delete(key) }

func (e *packedEditor[V]) Map() packed[V] {
	p := e.p
	p.m = e.e.Map()
	return p
}

// arena hands out strings cut from large byte chunks, for a bulk build
// that packs millions of items at once: one allocation per chunk rather
// than one per item, and chunks the collector need not scan (they hold
// no pointers). A chunk lives as long as any string cut from it, so an
// item a later delta replaces keeps its bytes until the chunk's other
// items go too: at worst a node holds the cold build's blobs twice over.
type arena struct{ chunk []byte }

// arenaChunk is the size of a chunk; a blob of more than an eighth of it
// gets its own allocation, so that little of a chunk is left unused.
const arenaChunk = 64 << 10

// string returns a string holding b's bytes.
func (a *arena) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > cap(a.chunk)-len(a.chunk) {
		if len(b) > arenaChunk/8 {
			return string(b)
		}
		a.chunk = make([]byte, 0, arenaChunk)
	}
	n := len(a.chunk)
	a.chunk = append(a.chunk, b...)
	// The bytes at n and after are never written again: chunk only grows
	// past them.
	return unsafe.String(&a.chunk[n], len(b))
}

// str returns a copy of s cut from the arena.
func (a *arena) str(s string) string { return a.string(unsafe.Slice(unsafe.StringData(s), len(s))) }

// buf encodes fields: strings with their length, numbers as varints.
type buf []byte

func (b buf) str(s string) buf { return append(binary.AppendUvarint(b, uint64(len(s))), s...) }

func (b buf) strs(l []string) buf {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = b.str(s)
	}
	return b
}

func (b buf) num(n int64) buf { return binary.AppendVarint(b, n) }

// when encodes a time as flag, seconds and nanoseconds; the store's
// times are UTC, and come back so.
func (b buf) when(t time.Time) buf {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendUvarint(binary.AppendVarint(append(b, 1), t.Unix()), uint64(t.Nanosecond()))
}

// reader decodes what buf encoded. The blobs are ours: a short one is a
// bug, and reads as empty fields rather than a panic on the query path's
// builder.
type reader struct{ s string }

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint([]byte(r.s[:min(len(r.s), binary.MaxVarintLen64)]))
	if n <= 0 {
		r.s = ""
		return 0
	}
	r.s = r.s[n:]
	return v
}

func (r *reader) num() int64 {
	v, n := binary.Varint([]byte(r.s[:min(len(r.s), binary.MaxVarintLen64)]))
	if n <= 0 {
		r.s = ""
		return 0
	}
	r.s = r.s[n:]
	return v
}

// str returns a string sharing the blob's bytes.
func (r *reader) str() string {
	n := int(min(r.uvarint(), uint64(len(r.s))))
	s := r.s[:n]
	r.s = r.s[n:]
	return s
}

func (r *reader) strs() []string {
	n := int(min(r.uvarint(), uint64(len(r.s))))
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.str()
	}
	return out
}

func (r *reader) when() time.Time {
	if r.s == "" || r.s[0] == 0 {
		r.s = r.s[min(1, len(r.s)):]
		return time.Time{}
	}
	r.s = r.s[1:]
	sec := r.num()
	return time.Unix(sec, int64(r.uvarint())).UTC()
}

func encodeDevice(d store.Device) string { return string(appendDevice(nil, d)) }

func appendDevice(b buf, d store.Device) buf {
	b = b.str(d.Household).str(d.Name).str(d.Profile).strs(d.IPs).strs(d.MACs).strs(d.ClientIDs)
	if d.DNSID != nil {
		b = append(b, 1).str(d.DNSID.Hash).str(d.DNSID.Label).str(d.DNSID.Hint).when(d.DNSID.Created)
	} else {
		b = append(b, 0)
	}
	isNew := byte(0)
	if d.New {
		isNew = 1
	}
	return append(b.str(d.Hostname), isNew).when(d.FirstSeen).num(d.Version)
}

// decodeDevice decodes a device; its ID is the table's key, so that the
// identity tables share those bytes.
func decodeDevice(id, blob string) store.Device {
	r := reader{blob}
	d := store.Device{ID: id, Household: r.str(), Name: r.str(), Profile: r.str(), IPs: r.strs(), MACs: r.strs(), ClientIDs: r.strs()}
	if r.s != "" && r.s[0] == 1 {
		r.s = r.s[1:]
		d.DNSID = &store.DNSID{Hash: r.str(), Label: r.str(), Hint: r.str(), Created: r.when()}
	} else if r.s != "" {
		r.s = r.s[1:]
	}
	d.Hostname = r.str()
	if r.s != "" {
		d.New, r.s = r.s[0] == 1, r.s[1:]
	}
	d.FirstSeen = r.when()
	d.Version = r.num()
	return d
}

// packedDeviceProfile returns the Profile of an encoded device without
// decoding the rest (see encodeDevice's order), sharing the blob's bytes.
func packedDeviceProfile(blob string) string {
	r := reader{blob}
	r.str() // household
	r.str() // name
	return r.str()
}

// A binding's table key is store.BindingID (kind:key); its blob holds the
// rest.
func encodeBinding(b store.Binding) string { return string(appendBinding(nil, b)) }

func appendBinding(to buf, b store.Binding) buf {
	return to.str(b.Household).str(b.Origin).str(b.Session).when(b.Updated)
}

func decodeBinding(id, blob string) store.Binding {
	r := reader{blob}
	kind, key, _ := strings.Cut(id, ":")
	return store.Binding{Kind: kind, Key: key, Household: r.str(), Origin: r.str(), Session: r.str(), Updated: r.when()}
}

// A household's and a grant's table key is its ID: a store.Household is
// 72 bytes of headers before its text, a store.Grant 128, and a delta
// copies the shard of each one it writes.
func encodeHousehold(h store.Household) string { return string(appendHousehold(nil, h)) }

func appendHousehold(b buf, h store.Household) buf {
	return b.str(h.Name).str(h.DefaultProfile).str(h.TimeZone).num(h.Version)
}

func decodeHousehold(id, blob string) store.Household {
	r := reader{blob}
	return store.Household{ID: id, Name: r.str(), DefaultProfile: r.str(), TimeZone: r.str(), Version: r.num()}
}

func encodeGrant(g store.Grant) string { return string(appendGrant(nil, g)) }

func appendGrant(b buf, g store.Grant) buf {
	return b.str(g.Device).str(g.Kind).str(g.Target).when(g.Until).str(g.By).when(g.Created)
}

func decodeGrant(id, blob string) store.Grant {
	r := reader{blob}
	return store.Grant{ID: id, Device: r.str(), Kind: r.str(), Target: r.str(), Until: r.when(), By: r.str(), Created: r.when()}
}

// A profile's table key is its ID. The profiles an ISP's parents make are
// mostly a preset with a few tags and domains: those are encoded field by
// field (form 0). A profile with schedules, budgets or a setting held by
// pointer (safe search, bypass protection, query log) is kept as its JSON
// (form 1), which package profile reads back; those are few, and Apply
// decodes only the ones a change touches.
func appendProfile(b buf, p store.Profile) buf {
	if p.SafeSearch != nil || p.BypassProtection != nil || p.QueryLog != nil || len(p.Schedules) > 0 || len(p.Budgets) > 0 {
		// A Profile always marshals: it holds strings, numbers, slices
		// and pointers to them, and SafeSearch's MarshalJSON cannot fail.
		j, _ := json.Marshal(p)
		return append(append(b, 1), j...)
	}
	b = append(b, 0).str(p.Household).str(p.Name).str(p.Preset).strs(p.Block).strs(p.Unblock).strs(p.Allow).strs(p.Deny)
	return b.str(p.YouTube).str(p.TimeZone).num(p.Version)
}

func decodeProfile(id, blob string) store.Profile {
	if blob != "" && blob[0] == 1 {
		var p store.Profile
		// The blob is ours (appendProfile): it parses.
		_ = json.Unmarshal([]byte(blob[1:]), &p)
		p.ID = id
		return p
	}
	r := reader{blob[min(1, len(blob)):]}
	return store.Profile{ID: id, Household: r.str(), Name: r.str(), Preset: r.str(), Block: r.strs(), Unblock: r.strs(), Allow: r.strs(), Deny: r.strs(),
		YouTube: r.str(), TimeZone: r.str(), Version: r.num()}
}

func encodeProfile(p store.Profile) string { return string(appendProfile(nil, p)) }
