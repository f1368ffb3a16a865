package postgres

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/store/sqlstore"
)

// Load's row decoders read pgx's raw column values (RawValues), valid
// until the next row, without Scan's per-column conversions. A row's
// strings are copied into one allocation (rowStrings), and the few values
// that repeat across rows (profile names, time zones, binding kinds and
// origins) are interned. The data column of households and devices is
// read by a cursor that accepts the forms the store's own writes leave
// there (encoding/json's output as jsonb prints it: keys the struct
// names, strings without escapes); a row with anything else (a key in
// another case, an escape, an unexpected type) is decoded again by
// encoding/json, whole, so that every row comes out as json.Unmarshal
// makes it.

// rowStrings gathers the strings of one row and makes them in one
// allocation: add records where each goes, done makes them.
type rowStrings struct {
	buf  []byte
	dst  []*string
	ends []int
}

// add copies b, to be stored in *dst by done. An empty b stores nothing.
func (r *rowStrings) add(dst *string, b []byte) {
	if len(b) == 0 {
		return
	}
	r.buf = append(r.buf, b...)
	r.dst = append(r.dst, dst)
	r.ends = append(r.ends, len(r.buf))
}

// done makes the strings added since the last done and stores them.
func (r *rowStrings) done() {
	if len(r.dst) > 0 {
		all, start := string(r.buf), 0
		for i, dst := range r.dst {
			*dst = all[start:r.ends[i]]
			start = r.ends[i]
		}
	}
	r.buf, r.dst, r.ends = r.buf[:0], r.dst[:0], r.ends[:0]
}

// reset forgets what was added since the last done.
func (r *rowStrings) reset() { r.buf, r.dst, r.ends = r.buf[:0], r.dst[:0], r.ends[:0] }

// maxInterned bounds an interner: past it, new values are copied each
// time (a column that does not repeat costs no more than before).
const maxInterned = 4096

// interner returns one string per distinct value of a column whose
// values repeat (a few presets, time zones, binding kinds).
type interner map[string]string

func (in interner) get(b []byte) string {
	if s, ok := in[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	if len(in) < maxInterned {
		in[s] = s
	}
	return s
}

// jsonCursor reads the JSON text of a data column for the fast path;
// each method reports false on anything the fast path does not take.
type jsonCursor struct {
	b []byte
	i int
}

func (c *jsonCursor) space() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

// next skips white space and reports whether the next byte is x, which
// it then consumes.
func (c *jsonCursor) next(x byte) bool {
	c.space()
	if c.i < len(c.b) && c.b[c.i] == x {
		c.i++
		return true
	}
	return false
}

// literal consumes word (null, true, false) if it comes next.
func (c *jsonCursor) literal(word string) bool {
	c.space()
	if bytes.HasPrefix(c.b[c.i:], []byte(word)) {
		c.i += len(word)
		return true
	}
	return false
}

// str reads a string without escapes, control bytes or invalid UTF-8
// (what encoding/json would rewrite) and returns its bytes, quotes
// included in quoted.
func (c *jsonCursor) str() (s, quoted []byte, ok bool) {
	c.space()
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		return nil, nil, false
	}
	start, ascii := c.i, true
	for j := start + 1; j < len(c.b); j++ {
		switch x := c.b[j]; {
		case x == '"':
			s = c.b[start+1 : j]
			if !ascii && !utf8.Valid(s) {
				return nil, nil, false
			}
			c.i = j + 1
			return s, c.b[start:c.i], true
		case x == '\\' || x < 0x20:
			return nil, nil, false
		case x >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, nil, false
}

// object calls field for each key of an object, which must read the
// value; null reads as no field at all.
func (c *jsonCursor) object(field func(key []byte) bool) bool {
	if c.literal("null") {
		return true
	}
	if !c.next('{') {
		return false
	}
	if c.next('}') {
		return true
	}
	for {
		key, _, ok := c.str()
		if !ok || !c.next(':') || !field(key) {
			return false
		}
		if c.next('}') {
			return true
		}
		if !c.next(',') {
			return false
		}
	}
}

// end reports whether nothing but white space is left.
func (c *jsonCursor) end() bool {
	c.space()
	return c.i == len(c.b)
}

// stringField reads a string or null (which leaves *dst as it is, as
// encoding/json does) into *dst through r.
func (c *jsonCursor) stringField(r *rowStrings, dst *string) bool {
	if c.literal("null") {
		return true
	}
	s, _, ok := c.str()
	if ok {
		r.add(dst, s)
	}
	return ok
}

// internField reads a string or null into *dst through in.
func (c *jsonCursor) internField(in interner, dst *string) bool {
	if c.literal("null") {
		return true
	}
	s, _, ok := c.str()
	if ok {
		*dst = in.get(s)
	}
	return ok
}

// skipString reads a string or null and keeps nothing.
func (c *jsonCursor) skipString() bool {
	if c.literal("null") {
		return true
	}
	_, _, ok := c.str()
	return ok
}

// slabSize is how many list elements of devices one allocation holds.
const slabSize = 1024

// listField reads an array of strings or null into *dst: null keeps
// *dst, [] makes it empty and not nil, as encoding/json does. Lists are
// cut from *slab, refilled when it runs out, so that most lists cost no
// allocation of their own; each is cut to its length and capacity (an
// append to one copies it rather than writing over the next).
func (c *jsonCursor) listField(r *rowStrings, slab *[]string, dst *[]string) bool {
	if c.literal("null") {
		return true
	}
	if !c.next('[') {
		return false
	}
	if c.next(']') {
		*dst = []string{}
		return true
	}
	start := c.i
	n := 1
	for {
		if _, _, ok := c.str(); !ok {
			return false
		}
		if c.next(']') {
			break
		}
		if !c.next(',') {
			return false
		}
		n++
	}
	// Second pass, now that the length is known.
	if len(*slab) < n {
		*slab = make([]string, max(n, slabSize))
	}
	list := (*slab)[:n:n]
	*slab = (*slab)[n:]
	c.i = start
	for k := range list {
		s, _, _ := c.str()
		r.add(&list[k], s)
		c.next(',')
	}
	c.next(']')
	*dst = list
	return true
}

// boolField reads true, false or null (which keeps *dst).
func (c *jsonCursor) boolField(dst *bool) bool {
	switch {
	case c.literal("true"):
		*dst = true
	case c.literal("false"):
		*dst = false
	case c.literal("null"):
	default:
		return false
	}
	return true
}

// intField reads an integer that fits int64, or null, and keeps nothing
// (the column holds the value that counts). Anything encoding/json could
// refuse (a fraction, an exponent) is not taken.
func (c *jsonCursor) intField() bool {
	if c.literal("null") {
		return true
	}
	c.space()
	start := c.i
	if c.i < len(c.b) && c.b[c.i] == '-' {
		c.i++
	}
	digits := c.i
	for c.i < len(c.b) && c.b[c.i] >= '0' && c.b[c.i] <= '9' {
		c.i++
	}
	n := c.i - digits
	// 18 digits always fit; a leading zero only as "0".
	return n > 0 && n <= 18 && (c.b[digits] != '0' || n == 1) && c.i-start <= 19
}

// timeField reads a time as encoding/json does (time.Time's
// UnmarshalJSON), or null.
func (c *jsonCursor) timeField(dst *time.Time) bool {
	if c.literal("null") {
		return true
	}
	_, quoted, ok := c.str()
	return ok && dst.UnmarshalJSON(quoted) == nil
}

// deviceDecoder decodes rows of Load's devices query.
type deviceDecoder struct {
	strs     rowStrings
	profiles interner
	lists    []string // the slab of listField
	// slow counts the rows encoding/json decoded (tests).
	slow int
}

// decode reads a row of (id, household, version, data, dns_id_hash) into
// *d, as sqlstore.ScanDevice would.
func (dd *deviceDecoder) decode(row [][]byte, formats []int16, d *store.Device) error {
	if len(row) != 5 || row[0] == nil || row[1] == nil || row[3] == nil {
		return fmt.Errorf("device row: %d columns, want 5, 4 not null", len(row))
	}
	version, data, err := versionedJSON("device", row, formats, 2, 3)
	if err != nil {
		return err
	}
	if !dd.fast(data, d) {
		dd.strs.reset()
		dd.slow++
		*d = store.Device{}
		if err := json.Unmarshal(data, d); err != nil {
			return fmt.Errorf("decode device %q: %w", row[0], err)
		}
	}
	var hash *string
	if row[4] != nil {
		h := string(row[4])
		hash = &h
	}
	dd.strs.add(&d.ID, row[0])
	dd.strs.add(&d.Household, row[1])
	dd.strs.done()
	sqlstore.DeviceRow(d, d.ID, d.Household, version, hash)
	return nil
}

// fast decodes data into *d, which is zero, and reports whether it
// could; false leaves *d to be decoded again.
func (dd *deviceDecoder) fast(data []byte, d *store.Device) bool {
	c := jsonCursor{b: data}
	r := &dd.strs
	ok := c.object(func(key []byte) bool {
		switch string(key) {
		case "id", "household": // the columns' values count
			return c.skipString()
		case "name":
			return c.stringField(r, &d.Name)
		case "profile":
			return c.internField(dd.profiles, &d.Profile)
		case "ips":
			return c.listField(r, &dd.lists, &d.IPs)
		case "macs":
			return c.listField(r, &dd.lists, &d.MACs)
		case "client_ids":
			return c.listField(r, &dd.lists, &d.ClientIDs)
		case "hostname":
			return c.stringField(r, &d.Hostname)
		case "new":
			return c.boolField(&d.New)
		case "first_seen":
			return c.timeField(&d.FirstSeen)
		case "version":
			return c.intField()
		case "dns_id":
			if c.literal("null") {
				return true
			}
			if d.DNSID == nil {
				d.DNSID = &store.DNSID{}
			}
			id := d.DNSID
			return c.object(func(key []byte) bool {
				switch string(key) {
				case "hash":
					return c.stringField(r, &id.Hash)
				case "label":
					return c.stringField(r, &id.Label)
				case "hint":
					return c.stringField(r, &id.Hint)
				case "created":
					return c.timeField(&id.Created)
				}
				return false
			})
		}
		return false
	})
	return ok && c.end()
}

// householdDecoder decodes rows of Load's households query.
type householdDecoder struct {
	strs  rowStrings
	names interner // default profiles and time zones
	slow  int
}

// decode reads a row of (id, version, data) into *h, as
// store.ScanHousehold would.
func (hd *householdDecoder) decode(row [][]byte, formats []int16, h *store.Household) error {
	if len(row) != 3 || row[0] == nil || row[2] == nil {
		return fmt.Errorf("household row: %d columns, want 3 not null", len(row))
	}
	version, data, err := versionedJSON("household", row, formats, 1, 2)
	if err != nil {
		return err
	}
	if !hd.fast(data, h) {
		hd.strs.reset()
		hd.slow++
		*h = store.Household{}
		if err := json.Unmarshal(data, h); err != nil {
			return fmt.Errorf("decode household %q: %w", row[0], err)
		}
	}
	hd.strs.add(&h.ID, row[0])
	hd.strs.done()
	h.Version = version
	return nil
}

func (hd *householdDecoder) fast(data []byte, h *store.Household) bool {
	c := jsonCursor{b: data}
	ok := c.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return c.skipString()
		case "name":
			return c.stringField(&hd.strs, &h.Name)
		case "default_profile":
			return c.internField(hd.names, &h.DefaultProfile)
		case "time_zone":
			return c.internField(hd.names, &h.TimeZone)
		case "version":
			return c.intField()
		}
		return false
	})
	return ok && c.end()
}

// bindingDecoder decodes rows of Load's bindings query.
type bindingDecoder struct {
	strs  rowStrings
	names interner // kinds and origins
}

// decode reads a row of sqlstore.BindingColumns into *b, as
// sqlstore.ScanBinding would.
func (bd *bindingDecoder) decode(row [][]byte, formats []int16, b *store.Binding) error {
	if len(row) != 6 || row[0] == nil || row[1] == nil || row[2] == nil || row[3] == nil || row[4] == nil {
		return fmt.Errorf("binding row: %d columns, want 6", len(row))
	}
	b.Kind, b.Origin = bd.names.get(row[0]), bd.names.get(row[3])
	bd.strs.add(&b.Key, row[1])
	bd.strs.add(&b.Household, row[2])
	bd.strs.add(&b.Session, row[4])
	bd.strs.done()
	updated, ok, err := intValue(row[5], formats[5])
	if err != nil {
		return fmt.Errorf("binding %s: updated: %w", store.BindingID(b.Kind, b.Key), err)
	}
	if ok {
		b.Updated = time.Unix(0, updated).UTC()
	}
	return nil
}

// versionedJSON reads the version (column ver, not null) and the JSON
// document (column data) of an item's row whose id is column 0; kind
// names the item in errors.
func versionedJSON(kind string, row [][]byte, formats []int16, ver, data int) (int64, []byte, error) {
	version, ok, err := intValue(row[ver], formats[ver])
	if err != nil || !ok {
		return 0, nil, fmt.Errorf("%s %q: version: %v", kind, row[0], err)
	}
	js, err := jsonValue(row[data], formats[data])
	if err != nil {
		return 0, nil, fmt.Errorf("%s %q: %w", kind, row[0], err)
	}
	return version, js, nil
}
