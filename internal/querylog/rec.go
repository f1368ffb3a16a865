package querylog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// recFormat is the first byte of every log.rec: the layout below. A
// future layout gets a new number, and decode keeps reading this one.
const recFormat = 1

// rec is the part of a row stored in log.rec: the fields no search
// filters on. Strings are strs ids.
//
// Layout: the format byte; the client address's length (0, 4 or 16) and
// bytes; uvarints profile, reason, tag, transport, qtype, rcode, cached
// (0 or 1), duration and count; the rest is the explanation text. About
// 20 bytes plus the text, where version 1's columns took about 60.
type rec struct {
	device                          int64 // a column of its own, not in the blob
	client                          netip.Addr
	profile, reason, tag, transport int64
	qtype                           uint16
	rcode                           uint8
	cached                          bool
	duration                        uint32
	count                           int64
	text                            []byte
}

// append appends r's encoding to b.
func (r *rec) append(b []byte) []byte {
	b = append(b, recFormat)
	switch {
	case !r.client.IsValid():
		b = append(b, 0)
	case r.client.Is4():
		a := r.client.As4()
		b = append(b, 4)
		b = append(b, a[:]...)
	default:
		a := r.client.As16()
		b = append(b, 16)
		b = append(b, a[:]...)
	}
	for _, v := range [...]uint64{uint64(r.profile), uint64(r.reason), uint64(r.tag), uint64(r.transport),
		uint64(r.qtype), uint64(r.rcode), boolUint(r.cached), uint64(r.duration), uint64(r.count)} {
		b = binary.AppendUvarint(b, v)
	}
	return append(b, r.text...)
}

func boolUint(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

var errShortRec = errors.New("record too short")

// decode sets r's fields (but device) from b, which it does not keep.
func (r *rec) decode(b []byte) error {
	if len(b) < 2 {
		return errShortRec
	}
	if b[0] != recFormat {
		return fmt.Errorf("record format %d unknown", b[0])
	}
	n := int(b[1])
	b = b[2:]
	if len(b) < n {
		return errShortRec
	}
	switch n {
	case 0:
		r.client = netip.Addr{}
	case 4:
		r.client = netip.AddrFrom4([4]byte(b[:4]))
	case 16:
		r.client = netip.AddrFrom16([16]byte(b[:16]))
	default:
		return fmt.Errorf("record address length %d", n)
	}
	b = b[n:]
	var v [9]uint64
	for i := range v {
		x, k := binary.Uvarint(b)
		if k <= 0 {
			return errShortRec
		}
		v[i], b = x, b[k:]
	}
	if v[4] > 0xffff || v[5] > 0xff || v[6] > 1 || v[7] > 0xffffffff || v[8] > 1<<62 ||
		v[0] > 1<<62 || v[1] > 1<<62 || v[2] > 1<<62 || v[3] > 1<<62 {
		return errors.New("record value out of range")
	}
	r.profile, r.reason, r.tag, r.transport = int64(v[0]), int64(v[1]), int64(v[2]), int64(v[3])
	r.qtype, r.rcode, r.cached = uint16(v[4]), uint8(v[5]), v[6] == 1
	r.duration, r.count = uint32(v[7]), int64(v[8])
	r.text = b
	return nil
}

// actionCodes are the stored action codes (log.action) by label; a code
// is its label's index, fixed whatever order policy gives its enum.
var actionCodes = [...]string{"allowed", "blocked", "rewritten", "nxdomain", "nodata"}

// actionCode returns a's code in log.action; an unknown action is stored
// as allowed.
func actionCode(a Action) int64 {
	switch a {
	case ActionBlocked:
		return 1
	case ActionRewritten:
		return 2
	case ActionNXDomain:
		return 3
	case ActionNoData:
		return 4
	}
	return 0
}

// actionLabelCode returns the code of an action label.
func actionLabelCode(label string) (int64, bool) {
	for i, s := range actionCodes {
		if s == label {
			return int64(i), true
		}
	}
	return 0, false
}

// codeLabel returns the label of a stored action code.
func codeLabel(code int64) string {
	if code >= 0 && code < int64(len(actionCodes)) {
		return actionCodes[code]
	}
	return fmt.Sprintf("action%d", code)
}
