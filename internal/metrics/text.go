package metrics

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// textWriter renders the Prometheus text exposition format 0.0.4 into a
// buffer.
type textWriter struct {
	b []byte
}

// header writes the # HELP and # TYPE lines of d.
func (w *textWriter) header(d *desc) {
	w.b = append(w.b, "# HELP "...)
	w.b = append(w.b, d.name...)
	w.b = append(w.b, ' ')
	w.b = appendEscaped(w.b, d.help, false)
	w.b = append(w.b, "\n# TYPE "...)
	w.b = append(w.b, d.name...)
	w.b = append(w.b, ' ')
	w.b = append(w.b, d.typ...)
	w.b = append(w.b, '\n')
}

// series writes a sample's name, suffix and labels and the space before
// its value; le, if not empty, is added as the last label. Follow it with
// uint or float.
func (w *textWriter) series(d *desc, suffix string, values []string, le string) {
	w.b = append(w.b, d.name...)
	w.b = append(w.b, suffix...)
	if len(values) > 0 || le != "" {
		w.b = append(w.b, '{')
		for i, v := range values {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = append(w.b, d.labelNames[i]...)
			w.b = append(w.b, `="`...)
			w.b = appendEscaped(w.b, v, true)
			w.b = append(w.b, '"')
		}
		if le != "" {
			if len(values) > 0 {
				w.b = append(w.b, ',')
			}
			w.b = append(w.b, `le="`...)
			w.b = append(w.b, le...)
			w.b = append(w.b, '"')
		}
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, ' ')
}

// uint ends a sample line with an integer value.
func (w *textWriter) uint(v uint64) {
	w.b = strconv.AppendUint(w.b, v, 10)
	w.b = append(w.b, '\n')
}

// float ends a sample line with a float value.
func (w *textWriter) float(v float64) {
	w.b = appendFloat(w.b, v)
	w.b = append(w.b, '\n')
}

// appendFloat formats v as Prometheus parses it: shortest round-trip
// decimal, or +Inf, -Inf, NaN.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendEscaped appends s escaped for a HELP line (backslash and newline)
// or, if quoted, for a label value (also the double quote). Invalid UTF-8
// becomes U+FFFD, since the format is UTF-8 and a scraper would reject
// the whole scrape.
func appendEscaped(b []byte, s string, quoted bool) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\':
				b = append(b, `\\`...)
			case c == '\n':
				b = append(b, `\n`...)
			case c == '"' && quoted:
				b = append(b, `\"`...)
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}
