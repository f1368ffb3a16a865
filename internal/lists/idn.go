package lists

import (
	"unicode"
	"unicode/utf8"
)

// Internationalised names are converted here with the standard library
// only: golang.org/x/net/idna needs golang.org/x/text, which this module
// does not require. The conversion covers what list files contain in
// practice: Unicode lower-casing, full-width ASCII and ideographic full
// stops mapped to ASCII (as UTS #46 does), letters, marks and digits
// allowed, every non-ASCII label encoded with Punycode and prefixed with
// "xn--". It does not apply NFC normalisation or the rest of the UTS #46
// mapping table, so a name written in decomposed form yields a different
// (never matching) A-label; such an entry blocks nothing rather than the
// wrong name.

// Punycode parameters, RFC 3492 section 5.
const (
	pcBase        = 36
	pcTMin        = 1
	pcTMax        = 26
	pcSkew        = 38
	pcDamp        = 700
	pcInitialBias = 72
	pcInitialN    = 128
)

// toASCII appends the A-label form of the UTF-8 name to dst. It reports
// false for invalid UTF-8, disallowed runes and empty labels; the caller
// checks lengths and characters of the result.
func toASCII(name []byte, dst []byte) ([]byte, bool) {
	if !utf8.Valid(name) {
		return dst, false
	}
	var label [64]rune // a label longer than 63 runes is too long anyway
	for len(name) > 0 {
		n, ascii := 0, true
		for len(name) > 0 {
			r, size := utf8.DecodeRune(name)
			name = name[size:]
			r = mapRune(r)
			if r == '.' {
				break
			}
			if r < 0 {
				return dst, false
			}
			if n == len(label) {
				return dst, false
			}
			if r >= utf8.RuneSelf {
				ascii = false
			}
			label[n] = r
			n++
		}
		if n == 0 {
			return dst, false
		}
		if ascii {
			for _, r := range label[:n] {
				dst = append(dst, byte(r))
			}
		} else {
			dst = append(dst, "xn--"...)
			var ok bool
			if dst, ok = punyEncode(dst, label[:n]); !ok {
				return dst, false
			}
		}
		if len(name) > 0 {
			dst = append(dst, '.')
		}
	}
	return dst, true
}

// mapRune lower-cases r and maps the UTS #46 dot and width variants; it
// returns -1 for runes that cannot appear in a host name.
func mapRune(r rune) rune {
	switch {
	case r == '.', r == '\u3002', r == '\uff0e', r == '\uff61':
		return '.'
	case r >= '\uff01' && r <= '\uff5e': // full-width ASCII
		r -= 0xff01 - 0x21
	}
	if r < utf8.RuneSelf {
		// ASCII is checked (with '_' allowed) by checkASCII afterwards.
		return unicode.ToLower(r)
	}
	if !unicode.In(r, unicode.L, unicode.M, unicode.Nd) {
		return -1
	}
	return unicode.ToLower(r)
}

// punyEncode appends the Punycode encoding of label to dst (RFC 3492
// section 6.3).
func punyEncode(dst []byte, label []rune) ([]byte, bool) {
	b := 0
	for _, r := range label {
		if r < utf8.RuneSelf {
			dst = append(dst, byte(r))
			b++
		}
	}
	if b > 0 {
		dst = append(dst, '-')
	}
	n, delta, bias := rune(pcInitialN), 0, pcInitialBias
	for h := b; h < len(label); {
		m := rune(utf8.MaxRune + 1)
		for _, r := range label {
			if r >= n && r < m {
				m = r
			}
		}
		delta += int(m-n) * (h + 1)
		if delta < 0 {
			return dst, false // overflow; impossible for 63 runes
		}
		n = m
		for _, r := range label {
			if r < n {
				delta++
			}
			if r != n {
				continue
			}
			q := delta
			for k := pcBase; ; k += pcBase {
				t := k - bias
				if t < pcTMin {
					t = pcTMin
				} else if t > pcTMax {
					t = pcTMax
				}
				if q < t {
					break
				}
				dst = append(dst, punyDigit(t+(q-t)%(pcBase-t)))
				q = (q - t) / (pcBase - t)
			}
			dst = append(dst, punyDigit(q))
			bias = punyAdapt(delta, h+1, h == b)
			delta = 0
			h++
		}
		delta++
		n++
	}
	return dst, true
}

func punyAdapt(delta, numPoints int, first bool) int {
	if first {
		delta /= pcDamp
	} else {
		delta /= 2
	}
	delta += delta / numPoints
	k := 0
	for delta > ((pcBase-pcTMin)*pcTMax)/2 {
		delta /= pcBase - pcTMin
		k += pcBase
	}
	return k + (pcBase-pcTMin+1)*delta/(delta+pcSkew)
}

func punyDigit(d int) byte {
	if d < 26 {
		return byte('a' + d)
	}
	return byte('0' + d - 26)
}
