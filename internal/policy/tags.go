package policy

import "math/bits"

// MaxTags is how many distinct tags (categories and services) a snapshot
// can hold.
const MaxTags = 128

// Tag is the position of a category or service in a snapshot's tag table.
type Tag uint8

// TagSet is a set of tags: one bit per tag, so a profile's blocked tags and
// a name's tags meet in one AND.
type TagSet [MaxTags / 64]uint64

// With returns s with t added.
func (s TagSet) With(t Tag) TagSet {
	s[t/64] |= 1 << (t % 64)
	return s
}

// Without returns s with t removed.
func (s TagSet) Without(t Tag) TagSet {
	s[t/64] &^= 1 << (t % 64)
	return s
}

// Has reports whether t is in s.
func (s TagSet) Has(t Tag) bool { return s[t/64]&(1<<(t%64)) != 0 }

// And returns the tags in both s and o.
func (s TagSet) And(o TagSet) TagSet { return TagSet{s[0] & o[0], s[1] & o[1]} }

// Or returns the tags in s or o.
func (s TagSet) Or(o TagSet) TagSet { return TagSet{s[0] | o[0], s[1] | o[1]} }

// AndNot returns the tags in s but not in o.
func (s TagSet) AndNot(o TagSet) TagSet { return TagSet{s[0] &^ o[0], s[1] &^ o[1]} }

// Empty reports whether s has no tag.
func (s TagSet) Empty() bool { return s[0]|s[1] == 0 }

// First returns the lowest tag in s; s must not be empty.
func (s TagSet) First() Tag {
	if s[0] != 0 {
		return Tag(bits.TrailingZeros64(s[0]))
	}
	return Tag(64 + bits.TrailingZeros64(s[1]))
}
