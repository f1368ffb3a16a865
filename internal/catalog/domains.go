package catalog

import (
	"bytes"
	"fmt"
)

// maxDomainLine bounds one line of a domain file; our files never come close.
const maxDomainLine = 1024

// lineError is a problem on one line of a domain file.
type lineError struct {
	Line int
	Err  error
}

// parseDomains reads one of our domain files: one name per line, blank lines
// and lines starting with '#' ignored, surrounding spaces trimmed. Every
// other line must be a valid name (see checkDomain) not seen before in the
// file. It returns the names in file order and one error per bad line.
func parseDomains(data []byte) ([]string, []lineError) {
	var (
		names []string
		errs  []lineError
		first = map[string]int{}
	)
	for n := 1; len(data) > 0; n++ {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		if len(line) > maxDomainLine {
			errs = append(errs, lineError{n, fmt.Errorf("line longer than %d bytes", maxDomainLine)})
			continue
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		name := string(line)
		if err := checkDomain(name); err != nil {
			errs = append(errs, lineError{n, err})
			continue
		}
		if prev, dup := first[name]; dup {
			errs = append(errs, lineError{n, fmt.Errorf("duplicate domain %q (first on line %d)", name, prev)})
			continue
		}
		first[name] = n
		names = append(names, name)
	}
	return names, errs
}

// checkDomain accepts a host name as our files must write it: lower-case
// ASCII (IDNs in punycode), no trailing dot, at most 253 bytes, at least two
// labels of 1 to 63 letters, digits, '-' or '_' (for names such as
// _dns.resolver.arpa), no label starting or ending with '-', and a last label
// that is not all digits (so an IPv4 address is not mistaken for a name).
func checkDomain(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty domain")
	case len(s) > 253:
		return fmt.Errorf("domain %q: longer than 253 bytes", s)
	case s[len(s)-1] == '.':
		return fmt.Errorf("domain %q: trailing dot", s)
	}
	labels, start, digits := 0, 0, true
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			c := s[i]
			switch {
			case c >= 'a' && c <= 'z', c == '-', c == '_':
				digits = false
			case c >= '0' && c <= '9':
			case c >= 'A' && c <= 'Z':
				return fmt.Errorf("domain %q: upper-case letter %q (write names in lower case)", s, c)
			default:
				return fmt.Errorf("domain %q: character %q not allowed", s, c)
			}
			continue
		}
		label := s[start:i]
		switch {
		case len(label) == 0:
			return fmt.Errorf("domain %q: empty label", s)
		case len(label) > 63:
			return fmt.Errorf("domain %q: label longer than 63 bytes", s)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Errorf("domain %q: label %q starts or ends with '-'", s, label)
		}
		labels++
		if i < len(s) {
			start, digits = i+1, true
		}
	}
	if labels < 2 {
		return fmt.Errorf("domain %q: single label (want a name with a dot)", s)
	}
	if digits {
		return fmt.Errorf("domain %q: last label is all digits (an IP address is not a domain)", s)
	}
	return nil
}
