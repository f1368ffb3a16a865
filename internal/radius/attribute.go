package radius

import (
	"fmt"
	"strconv"
	"strings"

	"layeh.com/radius"
)

// Attribute is where the subscriber id is read from: a standard attribute
// or a vendor-specific one (type 26).
type Attribute struct {
	Type   radius.Type
	Vendor uint32 // 0 for a standard attribute
	// VendorType is the vendor's own attribute number.
	VendorType byte
}

// names are the standard attributes an ISP keys subscribers on.
var names = map[string]radius.Type{
	"user-name":                1,
	"class":                    25,
	"called-station-id":        30,
	"calling-station-id":       31,
	"nas-identifier":           32,
	"acct-multi-session-id":    50,
	"nas-port-id":              87,
	"chargeable-user-identity": 89,
}

// ParseAttribute parses the subscriber attribute setting: a standard
// attribute's name ("User-Name", "Calling-Station-Id", "Class",
// "NAS-Port-Id", ...), its number ("31"), or a vendor-specific attribute
// as "vendor:VENDOR-ID:TYPE" ("vendor:4874:1" for a Juniper attribute).
func ParseAttribute(s string) (Attribute, error) {
	if t, ok := names[strings.ToLower(s)]; ok {
		return Attribute{Type: t}, nil
	}
	if rest, ok := strings.CutPrefix(s, "vendor:"); ok {
		v, t, ok := strings.Cut(rest, ":")
		vendor, err1 := strconv.ParseUint(v, 10, 32)
		typ, err2 := strconv.ParseUint(t, 10, 8)
		if !ok || err1 != nil || err2 != nil || vendor == 0 || typ == 0 {
			return Attribute{}, fmt.Errorf("%q: want vendor:VENDOR-ID:TYPE, such as vendor:4874:1", s)
		}
		return Attribute{Type: 26, Vendor: uint32(vendor), VendorType: byte(typ)}, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || n == 0 || n == 26 {
		return Attribute{}, fmt.Errorf("%q: want an attribute name (User-Name, Calling-Station-Id, Class, NAS-Port-Id...), a number from 1 to 255 but 26, or vendor:VENDOR-ID:TYPE", s)
	}
	return Attribute{Type: radius.Type(n)}, nil
}

// value returns the first value of a in p, as text.
func (a Attribute) value(p *radius.Packet) (string, bool) {
	for _, avp := range p.Attributes {
		if avp.Type != a.Type {
			continue
		}
		if a.Vendor == 0 {
			return string(avp.Attribute), true
		}
		if v, ok := a.vendorValue(avp.Attribute); ok {
			return v, true
		}
	}
	return "", false
}

// vendorValue finds a's sub-attribute in the value of a Vendor-Specific
// attribute: a 4-octet vendor id, then sub-attributes of type, length
// (counting both) and value (RFC 2865 section 5.26).
func (a Attribute) vendorValue(b []byte) (string, bool) {
	if len(b) < 4 || uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]) != a.Vendor {
		return "", false
	}
	b = b[4:]
	for len(b) >= 2 {
		l := int(b[1])
		if l < 2 || l > len(b) {
			return "", false
		}
		if b[0] == a.VendorType {
			return string(b[2:l]), true
		}
		b = b[l:]
	}
	return "", false
}
