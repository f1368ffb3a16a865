package lists

import (
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// idnaProfile converts internationalised names as resolvers look them up
// (UTS #46 mapping, NFC, non-transitional, as browsers do), but allows
// the underscores that real list entries carry.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.StrictDomainName(false),
	idna.BidiRule(),
)

// toASCII appends the A-label form of the UTF-8 name to dst. It reports
// false for invalid UTF-8 and for names IDNA rejects; the caller checks
// lengths and characters of the result.
func toASCII(name []byte, dst []byte) ([]byte, bool) {
	if !utf8.Valid(name) {
		return dst, false
	}
	a, err := idnaProfile.ToASCII(string(name))
	if err != nil || a == "" {
		return dst, false
	}
	return append(dst, a...), true
}
