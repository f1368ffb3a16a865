package domainindex

import "math/bits"

// The name hash is fixed (not seeded) because the flat-file form must be
// reproducible: an index written by one node is read by another. Changing
// anything in this file changes every fingerprint and needs a new
// formatVersion.
//
// It runs right to left, one byte at a time, over two independent 64-bit
// lanes. Running right to left makes the state after "example.com" a prefix
// of the state for "www.example.com", so a lookup hashes every suffix of a
// name in one pass over its bytes. Lane A (FNV-1a 64) gives the 48-bit
// fingerprint, lane B (multiply, rotate) gives the home slot; the rotation
// makes lane B's low bits depend on its high bits, so the two lanes do not
// share FNV's low-bit structure, and a fingerprint tells nothing about where
// its name lives in the table (see the false-match note in index.go).
const (
	laneASeed  = 0xcbf29ce484222325 // FNV-1a 64 offset basis
	laneAPrime = 0x100000001b3      // FNV-1a 64 prime
	laneBSeed  = 0x9e3779b97f4a7c15 // 2^64 / golden ratio
	laneBMul   = 0xff51afd7ed558ccd // murmur3 fmix64 constant
	laneBRot   = 29
)

// maxNameLen is the longest name, without the trailing dot, that fits in a
// DNS message (RFC 1035: 255 octets on the wire). No listed name is longer,
// so a lookup never needs to hash more than the last maxNameLen+1 bytes.
const maxNameLen = 253

// maxSuffixes bounds how many suffixes of one name can be in the index: each
// starts a label and is at least two bytes longer than the previous one, so
// at most (maxNameLen+1)/2 of them fit in maxNameLen bytes.
const maxSuffixes = (maxNameLen + 1) / 2

// fold lower-cases an ASCII letter and leaves every other byte alone, so
// non-ASCII bytes (which punycode never produces) still hash consistently.
// It has no branch: uint16(c-'A')-26 wraps to a value with bit 15 set
// exactly when c is in 'A'..'Z', and that bit, moved to bit 5, adds
// 'a'-'A'. A branch here mispredicts on names in mixed case, which DNS
// 0x20 randomisation (draft-vixie-dnsext-dns0x20) gives every letter at
// random.
func fold(c byte) byte {
	return c + byte((uint16(c-'A')-26)>>15<<5)
}

// fmix64 is murmur3's 64-bit finaliser: every input bit affects every output
// bit, which the byte-wise lanes alone do not guarantee.
func fmix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// key turns the two lane states into the 48-bit fingerprint (never 0, which
// marks an empty slot) and the 32-bit position key that picks the home slot.
func key(a, b uint64) (fp uint64, pos uint32) {
	fp = fmix64(a) >> 16
	if fp == 0 {
		fp = 1
	}
	return fp, uint32(fmix64(b) >> 32)
}

// home maps a position key onto a table of size slots (Lemire's fast range
// reduction), so the table need not be a power of two: that is what keeps
// the load near 0.7 for every name count instead of between 0.35 and 0.7.
// It is monotone in pos, which the builder relies on.
func home(pos uint32, size uint64) uint64 {
	return (uint64(pos) * size) >> 32
}

// hashName validates and hashes a whole name as Builder.Add receives it:
// ASCII case is folded, one trailing dot is dropped, and names that are
// empty, longer than maxNameLen or have an empty label are refused.
func hashName[T string | []byte](name T) (fp uint64, pos uint32, ok bool) {
	n := len(name)
	if n > 0 && name[n-1] == '.' {
		n--
	}
	if n == 0 || n > maxNameLen || name[0] == '.' {
		return 0, 0, false
	}
	a, b := uint64(laneASeed), uint64(laneBSeed)
	prevDot := true // the byte after name[n-1] ends the name like a dot
	for i := n - 1; i >= 0; i-- {
		c := fold(name[i])
		if c == '.' {
			if prevDot {
				return 0, 0, false
			}
			prevDot = true
		} else {
			prevDot = false
		}
		a = (a ^ uint64(c)) * laneAPrime
		b = bits.RotateLeft64((b^uint64(c))*laneBMul, laneBRot)
	}
	fp, pos = key(a, b)
	return fp, pos, true
}
