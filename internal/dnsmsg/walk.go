package dnsmsg

import (
	"encoding/binary"
	"errors"
)

var errBadName = errors.New("dns message: bad name")

// ReadName decodes the possibly compressed name at off in msg into buf,
// lower-cased, in presentation form without the trailing dot and without
// escapes (a label holding a dot or a byte outside printable ASCII makes
// the name unusable for matching, and an error is returned). It returns
// the decoded name and the offset just past the name's wire form. It does
// not allocate when buf has room for 255 bytes.
func ReadName(msg []byte, off int, buf []byte) (name []byte, next int, err error) {
	name = buf[:0]
	next = -1
	jumps := 0
	for {
		if off >= len(msg) {
			return nil, 0, errBadName
		}
		c := int(msg[off])
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				if next < 0 {
					next = off + 1
				}
				return name, next, nil
			}
			if off+1+c > len(msg) || len(name)+c+1 > 255 {
				return nil, 0, errBadName
			}
			if len(name) > 0 {
				name = append(name, '.')
			}
			for _, b := range msg[off+1 : off+1+c] {
				if b == '.' || b <= ' ' || b > '~' {
					return nil, 0, errBadName
				}
				name = append(name, lower(b))
			}
			off += 1 + c
		case 0xC0:
			if off+1 >= len(msg) {
				return nil, 0, errBadName
			}
			if next < 0 {
				next = off + 2
			}
			if jumps++; jumps > 64 {
				return nil, 0, errBadName
			}
			off = int(binary.BigEndian.Uint16(msg[off:]) & 0x3FFF)
		default:
			return nil, 0, errBadName
		}
	}
}

// WalkAnswers calls fn for each record of the answer section of the packed
// message msg, with its type and the offset and length of its RDATA, until
// fn returns false. It reports whether the message could be walked.
func WalkAnswers(msg []byte, fn func(rrtype uint16, rdata, rdlen int) bool) bool {
	off, ok := skipQuestions(msg)
	if !ok {
		return false
	}
	an := int(binary.BigEndian.Uint16(msg[6:]))
	var err error
	for range an {
		if off, err = skipName(msg, off); err != nil {
			return false
		}
		if off+10 > len(msg) {
			return false
		}
		rrtype := binary.BigEndian.Uint16(msg[off:])
		rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
		off += 10
		if off+rdlen > len(msg) {
			return false
		}
		if !fn(rrtype, off, rdlen) {
			return true
		}
		off += rdlen
	}
	return true
}

// ClampTTLs lowers every TTL in the packed message msg above limit to
// limit, in place (OPT records excepted), and reports whether the message
// could be walked. It does not allocate on well-formed messages.
func ClampTTLs(msg []byte, limit uint32) bool {
	off, ok := skipQuestions(msg)
	if !ok {
		return false
	}
	rrs := int(binary.BigEndian.Uint16(msg[6:])) + int(binary.BigEndian.Uint16(msg[8:])) + int(binary.BigEndian.Uint16(msg[10:]))
	var err error
	for range rrs {
		if off, err = skipName(msg, off); err != nil {
			return false
		}
		if off+10 > len(msg) {
			return false
		}
		if binary.BigEndian.Uint16(msg[off:]) != typeOPT && binary.BigEndian.Uint32(msg[off+4:]) > limit {
			binary.BigEndian.PutUint32(msg[off+4:], limit)
		}
		off += 10 + int(binary.BigEndian.Uint16(msg[off+8:]))
		if off > len(msg) {
			return false
		}
	}
	return true
}

// skipQuestions returns the offset of the first record after the header
// and question section of msg, or false when they run past its end.
func skipQuestions(msg []byte) (int, bool) {
	if len(msg) < HeaderLen {
		return 0, false
	}
	off := HeaderLen
	var err error
	for range int(binary.BigEndian.Uint16(msg[4:])) {
		if off, err = skipName(msg, off); err != nil {
			return 0, false
		}
		if off += 4; off > len(msg) {
			return 0, false
		}
	}
	return off, true
}
