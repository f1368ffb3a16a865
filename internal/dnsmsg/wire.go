package dnsmsg

import (
	"encoding/binary"
	"fmt"
)

// Wire-level helpers. The cache keeps answers packed and serves hits by
// patching a copy of the bytes (ID, flags, TTLs, question case, OPT) instead
// of unpacking and packing a dns.Msg: none of these helpers allocate, except
// TTLOffsets, which runs once per cache insert.

// HeaderLen is the length of the fixed DNS message header (RFC 1035 4.1.1).
const HeaderLen = 12

// OPTLen is the length of the OPT record AppendOPT adds: root name (1),
// type (2), class (2), TTL (4) and an empty RDLENGTH (2).
const OPTLen = 11

const (
	typeOPT = 41

	flagRD = 0x01 // third header byte
	flagCD = 0x10 // fourth header byte
	flagAD = 0x20 // fourth header byte
	flagDO = 0x80 // high byte of the OPT flags, in the TTL field (RFC 6891 6.1.3)
)

// TTLOffsets returns the offset of the TTL field of every resource record
// in the packed message wire, in message order, skipping OPT records (whose
// TTL field holds the extended RCODE and flags, RFC 6891 6.1.3). It checks
// that every section count is backed by data, so a message that passes can be
// patched at the returned offsets; it never follows compression pointers and
// never panics, whatever the input.
func TTLOffsets(wire []byte) ([]uint16, error) {
	if len(wire) < HeaderLen {
		return nil, fmt.Errorf("dns message: %d bytes, shorter than a header", len(wire))
	}
	if len(wire) > 0xFFFF {
		return nil, fmt.Errorf("dns message: %d bytes, longer than 65535", len(wire))
	}
	qd := int(binary.BigEndian.Uint16(wire[4:]))
	rrs := int(binary.BigEndian.Uint16(wire[6:])) +
		int(binary.BigEndian.Uint16(wire[8:])) +
		int(binary.BigEndian.Uint16(wire[10:]))
	off := HeaderLen
	var err error
	for i := range qd {
		if off, err = skipName(wire, off); err != nil {
			return nil, fmt.Errorf("dns message: question %d: %w", i, err)
		}
		if off += 4; off > len(wire) { // QTYPE, QCLASS
			return nil, fmt.Errorf("dns message: question %d: truncated", i)
		}
	}
	var offs []uint16
	if rrs > 0 {
		// Every record takes at least 11 bytes: do not let a lying count
		// size the allocation.
		offs = make([]uint16, 0, min(rrs, (len(wire)-off)/11))
	}
	for i := range rrs {
		if off, err = skipName(wire, off); err != nil {
			return nil, fmt.Errorf("dns message: record %d: %w", i, err)
		}
		if off+10 > len(wire) { // TYPE, CLASS, TTL, RDLENGTH
			return nil, fmt.Errorf("dns message: record %d: truncated header", i)
		}
		rrtype := binary.BigEndian.Uint16(wire[off:])
		ttl := off + 4
		rdlen := int(binary.BigEndian.Uint16(wire[off+8:]))
		off += 10 + rdlen
		if off > len(wire) {
			return nil, fmt.Errorf("dns message: record %d: rdata runs past the end", i)
		}
		if rrtype != typeOPT {
			offs = append(offs, uint16(ttl))
		}
	}
	return offs, nil
}

// skipName returns the offset just past the domain name at off, without
// following compression pointers.
func skipName(wire []byte, off int) (int, error) {
	for {
		if off >= len(wire) {
			return 0, fmt.Errorf("name at offset %d: truncated", off)
		}
		l := int(wire[off])
		switch l & 0xC0 {
		case 0x00:
			off++
			if l == 0 {
				return off, nil
			}
			off += l
		case 0xC0:
			if off+2 > len(wire) {
				return 0, fmt.Errorf("name at offset %d: truncated pointer", off)
			}
			return off + 2, nil
		default:
			return 0, fmt.Errorf("name at offset %d: label type %#x not supported", off, l&0xC0)
		}
	}
}

// SetTTLs writes ttl into the TTL field at every offset, as returned by
// TTLOffsets for the same message.
func SetTTLs(wire []byte, offsets []uint16, ttl uint32) {
	for _, o := range offsets {
		binary.BigEndian.PutUint32(wire[o:], ttl)
	}
}

// SetID sets the message ID of the packed message wire.
func SetID(wire []byte, id uint16) {
	binary.BigEndian.PutUint16(wire, id)
}

// SetRDCD sets the RD (recursion desired) and CD (checking disabled) header
// bits of the packed message wire, the two bits a reply copies from its
// query.
func SetRDCD(wire []byte, rd, cd bool) {
	wire[2] &^= flagRD
	if rd {
		wire[2] |= flagRD
	}
	wire[3] &^= flagCD
	if cd {
		wire[3] |= flagCD
	}
}

// ClearAD clears the AD (authentic data) header bit of the packed message
// wire, for a client that did not ask for it (RFC 6840 section 5.7).
func ClearAD(wire []byte) {
	wire[3] &^= flagAD
}

// AppendOPT appends an OPT record (RFC 6891) advertising buffer size size,
// with the DO bit set to do and no options, to the packed message wire,
// which must not have one, and increments ARCOUNT. It allocates only when
// wire lacks the capacity for OPTLen more bytes.
func AppendOPT(wire []byte, size uint16, do bool) []byte {
	var flags byte
	if do {
		flags = flagDO
	}
	wire = append(wire,
		0,          // root name
		0, typeOPT, // TYPE
		byte(size>>8), byte(size), // CLASS: requestor's UDP payload size
		0, 0, flags, 0, // TTL: extended RCODE, version, flags
		0, 0, // RDLENGTH
	)
	binary.BigEndian.PutUint16(wire[10:], binary.BigEndian.Uint16(wire[10:])+1)
	return wire
}

// SetQuestionCase rewrites the first question name of the packed message
// wire, which must start right after the header without compression (as
// every packer writes it), to the letter case of name, a fully qualified
// name in presentation format. A cached answer so echoes each client's own
// spelling, which DNS 0x20 randomisation by a forwarder in front of Hearth
// checks. It reports false, having changed at most the case of letters, when
// the names differ other than in case or name contains escapes.
func SetQuestionCase(wire []byte, name string) bool {
	off, i := HeaderLen, 0
	if name == "." {
		return off < len(wire) && wire[off] == 0
	}
	for {
		if off >= len(wire) {
			return false
		}
		l := int(wire[off])
		off++
		if l == 0 {
			return i == len(name)
		}
		if l&0xC0 != 0 || off+l > len(wire) || i+l >= len(name) {
			return false
		}
		for j := range l {
			c := name[i+j]
			if c == '\\' || lower(c) != lower(wire[off+j]) {
				return false
			}
			wire[off+j] = c
		}
		i += l
		if name[i] != '.' {
			return false
		}
		i++
		off += l
	}
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}
