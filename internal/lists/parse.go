package lists

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// readBufferBytes is the size of the parser's read buffer, and of Open's
// for the compressed stream; at least 2*MaxLineBytes.
const readBufferBytes = 64 << 10

// maxNameBytes is the longest name in presentation form without the
// trailing dot (RFC 1035 2.3.4: 255 octets on the wire).
const maxNameBytes = 253

// Reasons for bad lines. Constants, so counting a bad line never allocates.
const (
	reasonTooLong    = "line too long"
	reasonNoDot      = "name without a dot"
	reasonBadName    = "invalid name"
	reasonNameLen    = "name too long"
	reasonLabelLen   = "empty or over-long label"
	reasonBadIDN     = "invalid internationalised name"
	reasonNumeric    = "numeric name that is not an IP address"
	reasonBadAddr    = "invalid address"
	reasonNoName     = "address without a name"
	reasonExtra      = "unexpected text after the entry"
	reasonOutOfZone  = "name outside the zone origin"
	reasonBadRecord  = "malformed record"
	reasonBadOrigin  = "invalid $ORIGIN"
	reasonBadAdblock = "malformed adblock rule"
	reasonWidePrefix = "address range too wide (at most /8 for IPv4, /16 for IPv6)"
)

// Narrowest prefix lengths a list may name: a wider range would block a
// large part of the internet, which is a broken or hostile list, not a
// blocklist.
const (
	minPrefix4 = 8
	minPrefix6 = 16
)

// Parse reads a list in format f from r, line by line, and calls emit for
// every rule in file order. It never holds more than one line in memory
// (at most MaxLineBytes of it), so the input may be as large as the caller
// lets it be. Malformed and unsupported lines are counted in the returned
// Stats and skipped; the error is non-nil only for an unknown format or a
// failure to read r, and Stats then covers the lines read so far.
//
// emit may be nil (to count only). It is called synchronously; the Rule it
// gets may be kept (Name is a fresh string, the only allocation per rule).
func Parse(r io.Reader, f Format, opt ParseOptions, emit func(Rule)) (Stats, error) {
	if emit == nil {
		return ParseNames(r, f, opt, nil, nil)
	}
	return ParseNames(r, f, opt, func(name []byte, k Kind, exception bool) {
		emit(Rule{Name: string(name), Kind: k, Exception: exception})
	}, emit)
}

// ParseNames is Parse without an allocation per name, for a caller that
// only hashes or copies each name (the index builder): names gets every
// name rule, with the name in the parser's own buffer, valid only during
// the call; ips gets every address rule. Either may be nil. The rules, the
// order and the Stats are those of Parse.
func ParseNames(r io.Reader, f Format, opt ParseOptions, names func(name []byte, k Kind, exception bool), ips func(Rule)) (Stats, error) {
	return parseNames(r, f, opt, names, ips, false)
}

// parseNames is ParseNames; midFile says that r starts at a line of a
// file other than its first (a piece of a list parsed on several
// goroutines), where a byte-order mark is not trimmed.
func parseNames(r io.Reader, f Format, opt ParseOptions, names func(name []byte, k Kind, exception bool), ips func(Rule), midFile bool) (Stats, error) {
	p := parser{format: f, names: names, emit: ips, midFile: midFile}
	if opt.PlainSubtree || f.DefaultPlainSubtree() {
		p.plainKind = Subtree
	}
	p.www = opt.PlainWWW && p.plainKind == Exact
	switch f {
	case FormatHosts:
		p.line = p.hostsLine
	case FormatDomains, FormatDomainsTrimmed, FormatDomainsOnly, FormatWildcard:
		p.line = p.domainsLine
	case FormatAdblock:
		p.line = p.adblockLine
	case FormatRPZ:
		p.line = p.rpzLine
	case FormatIPList:
		p.line = p.ipLine
	default:
		return Stats{}, fmt.Errorf("parse list: unknown format %q", string(f))
	}
	err := p.run(r)
	return p.stats, err
}

// parser is the state of one Parse call.
type parser struct {
	format    Format
	plainKind Kind
	// www: a plain exact entry also emits "www." + name (ParseOptions.PlainWWW);
	// plain marks the entry being emitted as plain.
	www, plain bool
	names      func(name []byte, k Kind, exception bool)
	emit       func(Rule) // address rules
	line       func(s []byte)
	stats      Stats
	lineNo     int
	lineBad    bool // the current line was already counted as bad
	midFile    bool // the input starts after the file's first line

	name   [maxNameBytes + 1]byte // the lower-cased name being checked
	wwwBuf [maxNameBytes + 1]byte // "www." + name, for PlainWWW
	idnBuf []byte                 // scratch space for punycode conversion

	// RPZ zone-file state.
	origin  []byte // lower-case, without the trailing dot; nil if unknown
	owner   []byte // the last owner name, for records with a blank owner
	inParen bool   // inside a parenthesised (multi-line) record
}

func (p *parser) run(r io.Reader) error {
	// The buffer is larger than MaxLineBytes so that normal lines are read
	// in one ReadSlice; a line that fills it is drained, not accumulated.
	// At 64 KiB a plain list of 100 MB is read in 1,600 system calls
	// instead of 12,800 with 8 KiB.
	br := bufio.NewReaderSize(r, readBufferBytes)
	for {
		raw, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			p.lineNo++
			p.stats.Lines++
			p.lineBad = false
			p.bad(raw, reasonTooLong)
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read line %d: %w", p.lineNo, err)
			}
			continue
		}
		if len(raw) > 0 {
			p.lineNo++
			p.stats.Lines++
			p.lineBad = false
			if len(raw) > MaxLineBytes+1 || (len(raw) == MaxLineBytes+1 && raw[len(raw)-1] != '\n') {
				p.bad(raw, reasonTooLong)
			} else {
				if p.lineNo == 1 && !p.midFile {
					raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")) // UTF-8 BOM
				}
				// Handlers trim the front themselves: in zone files a
				// leading blank means "same owner as before".
				p.line(trimRight(raw))
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read line %d: %w", p.lineNo+1, err)
		}
	}
}

// bad counts the current line as malformed (once) and keeps an example.
func (p *parser) bad(line []byte, reason string) {
	if p.lineBad {
		return
	}
	p.lineBad = true
	p.stats.Bad++
	if len(p.stats.BadExamples) < MaxBadExamples {
		line = trimSpace(line)
		if len(line) > maxExampleBytes {
			line = line[:maxExampleBytes]
		}
		text := strings.ToValidUTF8(string(line), "\uFFFD")
		for len(text) > maxExampleBytes { // U+FFFD is 3 bytes: cut back on a rune boundary
			_, size := utf8.DecodeLastRuneInString(text)
			text = text[:len(text)-size]
		}
		p.stats.BadExamples = append(p.stats.BadExamples, BadLine{Line: p.lineNo, Text: text, Reason: reason})
	}
}

func (p *parser) comment()     { p.stats.Comments++ }
func (p *parser) unsupported() { p.stats.Unsupported++ }

// emitName emits the normalised name held in p.name[:n].
func (p *parser) emitName(n int, k Kind, exception bool) {
	p.stats.Rules++
	if exception {
		p.stats.Exceptions++
	}
	if p.names == nil {
		return
	}
	name := p.name[:n]
	p.names(name, k, exception)
	if p.plain && p.www && k == Exact && !exception && n+4 <= maxNameBytes && !bytes.HasPrefix(name, []byte("www.")) {
		copy(p.wwwBuf[:], "www.")
		copy(p.wwwBuf[4:], name)
		p.names(p.wwwBuf[:n+4], Exact, false)
	}
}

func (p *parser) emitIP(a netip.Addr) {
	p.stats.IPs++
	if p.emit != nil {
		p.emit(Rule{IP: a.WithZone("")})
	}
}

// cidr emits the address range tok ("192.0.2.0/24", "2001:db8::/32") as
// an IP rule, or counts the line bad; it reports whether tok was a range.
func (p *parser) cidr(line, tok []byte) bool {
	if bytes.IndexByte(tok, '/') < 0 {
		return false
	}
	pfx, err := netip.ParsePrefix(string(tok))
	if err != nil {
		return false
	}
	a := pfx.Addr()
	bits := pfx.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	if (a.Is4() && bits < minPrefix4) || (a.Is6() && bits < minPrefix6) {
		p.bad(line, reasonWidePrefix)
		return true
	}
	pfx = netip.PrefixFrom(a, bits).Masked()
	if bits == a.BitLen() {
		p.emitIP(a)
		return true
	}
	p.stats.IPs++
	if p.emit != nil {
		p.emit(Rule{IP: pfx.Addr(), Prefix: pfx})
	}
	return true
}

// hostsLine: "address name [name...] [# comment]".
func (p *parser) hostsLine(s []byte) {
	s = trimSpace(s)
	if len(s) == 0 || s[0] == '#' {
		p.comment()
		return
	}
	line := s
	s = cutComment(s, '#')
	addr, rest := nextField(s)
	if !isSinkAddr(addr) {
		if _, ok, _ := parseIPToken(addr); !ok {
			p.bad(line, reasonBadAddr)
			return
		}
	}
	emitted, ignored := 0, 0
	for len(rest) > 0 {
		var tok []byte
		tok, rest = nextField(rest)
		if isLocalName(tok) {
			ignored++
			continue
		}
		if a, ok, isAddr := parseIPToken(tok); isAddr {
			switch {
			case !ok:
				p.bad(line, reasonNumeric)
			case a.IsUnspecified() || a.IsLoopback():
				ignored++ // "0.0.0.0 0.0.0.0" and the like
			default:
				p.emitIP(a)
				emitted++
			}
			continue
		}
		n, reason := p.normName(tok)
		if reason != "" {
			p.bad(line, reason)
			continue
		}
		p.plain = true
		p.emitName(n, p.plainKind, false)
		p.plain = false
		emitted++
	}
	switch {
	case p.lineBad:
	case emitted == 0 && ignored > 0:
		p.comment()
	case emitted == 0:
		p.bad(line, reasonNoName)
	}
}

// domainsLine handles the domains variants and wildcard files: one entry
// per line, "*.x" or ".x" for a subtree, bare IPs as IP rules.
func (p *parser) domainsLine(s []byte) {
	s = trimSpace(s)
	if len(s) == 0 || s[0] == '#' {
		p.comment()
		return
	}
	line := s
	s = trimSpace(cutComment(s, '#'))
	if _, rest := nextField(s); len(rest) > 0 {
		p.bad(line, reasonExtra)
		return
	}
	kind := p.plainKind
	if p.format == FormatWildcard {
		kind = Exact
	}
	switch {
	case len(s) > 2 && s[0] == '*' && s[1] == '.':
		s, kind = s[2:], Subtree
	case len(s) > 1 && s[0] == '.':
		s, kind = s[1:], Subtree
	}
	if p.cidr(line, s) {
		return
	}
	p.plain = kind == p.plainKind && p.format != FormatWildcard
	p.emitEntry(line, s, kind, false)
	p.plain = false
}

// adblockLine handles the DNS subset of adblock syntax.
func (p *parser) adblockLine(s []byte) {
	s = trimSpace(s)
	if len(s) == 0 || s[0] == '!' || (s[0] == '[' && s[len(s)-1] == ']') {
		p.comment()
		return
	}
	if s[0] == '#' {
		// "# text" is a comment in DNS filter lists; "##", "#@#", "#?#",
		// "#$#" and the like start cosmetic rules.
		if len(s) == 1 || s[1] == ' ' || s[1] == '\t' || s[1] == '#' && len(s) > 2 && s[2] == ' ' {
			p.comment()
			return
		}
		if s[1] == '#' || s[1] == '@' || s[1] == '?' || s[1] == '$' || s[1] == '%' {
			p.unsupported()
			return
		}
		p.comment()
		return
	}
	line := s
	exception := false
	if bytes.HasPrefix(s, []byte("@@")) {
		exception, s = true, s[2:]
	}
	kind := Subtree
	switch {
	case bytes.HasPrefix(s, []byte("||")):
		s = s[2:]
	case len(s) > 1 && s[0] == '|' && s[1] != '|':
		s, kind = s[1:], Exact
	default:
		// Plain patterns, regexes, hosts syntax, cosmetic rules: adblock
		// matches them as substrings of URLs, which a resolver cannot.
		p.unsupported()
		return
	}
	if bytes.IndexByte(s, '$') >= 0 || bytes.Contains(s, []byte("##")) || bytes.Contains(s, []byte("#@#")) {
		p.unsupported()
		return
	}
	end := bytes.IndexByte(s, '^')
	if end < 0 {
		if bytes.ContainsAny(s, "/*:?=&") {
			p.unsupported() // a URL or path pattern
		} else {
			p.bad(line, reasonBadAdblock)
		}
		return
	}
	name, tail := s[:end], s[end+1:]
	if len(tail) > 0 && !(len(tail) == 1 && tail[0] == '|') {
		p.unsupported() // "||x^foo": more than a host name
		return
	}
	if len(name) == 0 {
		p.bad(line, reasonBadAdblock)
		return
	}
	if bytes.ContainsAny(name, "/*:?=&") {
		p.unsupported() // a path, port or wildcard pattern
		return
	}
	p.emitEntry(line, name, kind, exception)
}

// emitEntry emits the entry s of line: an IP rule when s is an address,
// else a name rule, counting what is malformed or has no meaning (an
// address exception) instead.
func (p *parser) emitEntry(line, s []byte, kind Kind, exception bool) {
	if a, ok, isAddr := parseIPToken(s); isAddr {
		switch {
		case !ok:
			p.bad(line, reasonNumeric)
		case exception:
			p.unsupported() // IP exceptions have no meaning here
		default:
			p.emitIP(a)
		}
		return
	}
	n, reason := p.normName(s)
	if reason != "" {
		p.bad(line, reason)
		return
	}
	p.emitName(n, kind, exception)
}

// ipLine: "address [# comment]".
func (p *parser) ipLine(s []byte) {
	s = trimSpace(s)
	if len(s) == 0 || s[0] == '#' {
		p.comment()
		return
	}
	line := s
	s = trimSpace(cutComment(s, '#'))
	if _, rest := nextField(s); len(rest) > 0 {
		p.bad(line, reasonExtra)
		return
	}
	if a, ok, isAddr := parseIPToken(s); isAddr && ok {
		p.emitIP(a)
		return
	}
	if p.cidr(line, s) {
		return
	}
	p.bad(line, reasonBadAddr)
}

// rpzLine handles one zone-file line of a response policy zone.
func (p *parser) rpzLine(s []byte) {
	line := s
	blankOwner := len(s) > 0 && (s[0] == ' ' || s[0] == '\t')
	s = trimSpace(cutComment(s, ';'))
	if p.inParen {
		if bytes.IndexByte(s, ')') >= 0 {
			p.inParen = false
		}
		p.comment()
		return
	}
	if len(s) == 0 {
		p.comment()
		return
	}
	if s[0] == '$' {
		dir, rest := nextField(s)
		switch {
		case asciiEqualFold(dir, "$ORIGIN"):
			// A one-label origin such as "rpz." is common, so this is
			// not normName; a relative origin is taken as absolute.
			o, _ := nextField(rest)
			o = bytes.TrimSuffix(o, []byte("."))
			p.origin = p.origin[:0]
			for _, c := range o {
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
					p.origin = p.origin[:0]
					p.bad(line, reasonBadOrigin)
					return
				}
				p.origin = append(p.origin, c)
			}
			p.comment()
		case asciiEqualFold(dir, "$TTL"):
			p.comment()
		default: // $INCLUDE and $GENERATE are not followed
			p.unsupported()
		}
		return
	}
	if bytes.IndexByte(s, '(') >= 0 && bytes.IndexByte(s, ')') < 0 {
		p.inParen = true
	}
	// The trimmed line has the owner in front unless the raw line started
	// with a blank, in which case the previous owner applies.
	owner := p.owner
	rest := s
	if !blankOwner {
		owner, rest = nextField(s)
		p.owner = append(p.owner[:0], owner...)
		owner = p.owner
	}
	// Skip the optional TTL and class, in either order.
	var typ []byte
	for {
		var tok []byte
		tok, rest = nextField(rest)
		if len(tok) == 0 {
			p.bad(line, reasonBadRecord)
			return
		}
		if isTTL(tok) || isClass(tok) {
			continue
		}
		typ = tok
		break
	}
	switch {
	case asciiEqualFold(typ, "SOA"), asciiEqualFold(typ, "NS"):
		p.comment()
		return
	case !asciiEqualFold(typ, "CNAME"):
		p.unsupported() // local data (A, AAAA, TXT...): not a block action here
		return
	}
	target, extra := nextField(rest)
	if len(target) == 0 || len(extra) > 0 {
		p.bad(line, reasonBadRecord)
		return
	}
	exception := false
	switch {
	case string(target) == "." || string(target) == "*." || asciiEqualFold(target, "rpz-drop."):
	case asciiEqualFold(target, "rpz-passthru."):
		exception = true
	default:
		p.unsupported() // rpz-tcp-only., walled-garden redirects
		return
	}
	if len(owner) == 0 || (len(owner) == 1 && owner[0] == '@') {
		p.unsupported() // a policy for the zone apex itself
		return
	}
	name, ok := p.rpzRelative(owner)
	if !ok {
		p.bad(line, reasonOutOfZone)
		return
	}
	kind := Exact
	if len(name) > 2 && name[0] == '*' && name[1] == '.' {
		name, kind = name[2:], Subtree
	}
	if isRPZTrigger(name) {
		p.unsupported() // rpz-ip, rpz-nsdname... triggers
		return
	}
	if _, ok, isAddr := parseIPToken(name); isAddr {
		if ok {
			p.unsupported() // an IP owner outside an rpz-ip trigger
		} else {
			p.bad(line, reasonNumeric)
		}
		return
	}
	n, reason := p.normName(name)
	if reason != "" {
		p.bad(line, reason)
		return
	}
	p.emitName(n, kind, exception)
}

// rpzRelative strips the zone origin from an owner name. Relative names are
// already relative to the origin; absolute names must lie below it when the
// origin is known.
func (p *parser) rpzRelative(owner []byte) ([]byte, bool) {
	if owner[len(owner)-1] != '.' {
		return owner, true
	}
	abs := owner[:len(owner)-1]
	if len(p.origin) == 0 {
		return abs, true
	}
	if len(abs) > len(p.origin)+1 && abs[len(abs)-len(p.origin)-1] == '.' &&
		asciiEqualFold(abs[len(abs)-len(p.origin):], string(p.origin)) {
		return abs[:len(abs)-len(p.origin)-1], true
	}
	return nil, false
}

// rpzTriggers are the label suffixes that make an RPZ owner name something
// other than a query-name trigger.
var rpzTriggers = [...]string{"rpz-ip", "rpz-nsip", "rpz-nsdname", "rpz-client-ip"}

func isRPZTrigger(name []byte) bool {
	for _, t := range rpzTriggers {
		if len(name) >= len(t) && asciiEqualFold(name[len(name)-len(t):], t) &&
			(len(name) == len(t) || name[len(name)-len(t)-1] == '.') {
			return true
		}
	}
	return false
}

// normName checks a host name and writes its canonical form (lower case,
// punycode, no trailing dot) to p.name, returning its length, or a reason
// why the name is not acceptable.
func (p *parser) normName(tok []byte) (int, string) {
	if len(tok) > 0 && tok[len(tok)-1] == '.' {
		tok = tok[:len(tok)-1]
	}
	if len(tok) == 0 {
		return 0, reasonBadName
	}
	// checkASCII refuses every non-ASCII byte, so a name it accepts is
	// ASCII; only a refused one is looked at again for an IDN. One pass
	// over the common name instead of two.
	if len(tok) <= maxNameBytes {
		if n, reason := p.checkASCII(tok); reason == "" || !hasNonASCII(tok) {
			return n, reason
		}
	} else if !hasNonASCII(tok) {
		return 0, reasonNameLen
	}
	return p.normIDN(tok)
}

// hasNonASCII reports whether tok has a byte outside ASCII.
func hasNonASCII(tok []byte) bool {
	for _, c := range tok {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// checkASCII lower-cases an ASCII name into p.name and validates it.
func (p *parser) checkASCII(tok []byte) (int, string) {
	if len(tok) > maxNameBytes {
		return 0, reasonNameLen
	}
	label, dots := 0, 0
	allDigits := true // the last label, so far
	for i, c := range tok {
		switch {
		case c >= 'a' && c <= 'z', c == '-', c == '_':
			allDigits = false
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
			allDigits = false
		case c >= '0' && c <= '9':
		case c == '.':
			if label == 0 || label > 63 {
				return 0, reasonLabelLen
			}
			label, allDigits = 0, true
			dots++
			p.name[i] = c
			continue
		default:
			return 0, reasonBadName
		}
		p.name[i] = c
		label++
	}
	if label == 0 || label > 63 {
		return 0, reasonLabelLen
	}
	if dots == 0 {
		return 0, reasonNoDot
	}
	if allDigits {
		// No top-level domain is numeric; "1.2.3" or "10.0.0.256" is a
		// mangled address, not a name.
		return 0, reasonNumeric
	}
	return len(tok), ""
}

// normIDN converts an internationalised name to punycode (RFC 3492) and
// validates it. See idn.go for what it does and does not map.
func (p *parser) normIDN(tok []byte) (int, string) {
	a, ok := toASCII(tok, p.idnBuf[:0])
	p.idnBuf = a[:0]
	if !ok {
		return 0, reasonBadIDN
	}
	return p.checkASCII(a)
}

// isLocalName reports names that hosts files map for the machine itself.
func isLocalName(tok []byte) bool {
	if len(tok) == 0 || len(tok) > len("localhost.localdomain.") {
		return false
	}
	var buf [32]byte
	n := copy(buf[:], tok)
	for i := range n {
		if c := buf[i]; c >= 'A' && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	switch string(buf[:n]) {
	case "localhost", "localhost.", "localhost.localdomain", "localhost.localdomain.",
		"local", "broadcasthost", "ip6-localhost", "ip6-loopback", "ip6-localnet",
		"ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters", "ip6-allhosts":
		return true
	}
	return false
}

// isSinkAddr is a fast path for the addresses nearly every hosts line uses.
func isSinkAddr(b []byte) bool {
	return string(b) == "0.0.0.0" || string(b) == "127.0.0.1" || string(b) == "::" || string(b) == "::1"
}

// parseIPToken reports whether tok looks like an IP literal (digits and dots
// only, or containing a colon) and, if so, whether it parses. Only tokens
// that look like addresses are handed to netip, which keeps the common
// name path free of allocations.
func parseIPToken(tok []byte) (a netip.Addr, ok, isAddr bool) {
	if len(tok) == 0 {
		return a, false, false
	}
	if bytes.IndexByte(tok, ':') < 0 {
		for _, c := range tok {
			if (c < '0' || c > '9') && c != '.' {
				return a, false, false
			}
		}
	} else if len(tok) > 2 && tok[0] == '[' && tok[len(tok)-1] == ']' {
		tok = tok[1 : len(tok)-1]
	}
	a, err := netip.ParseAddr(string(tok))
	if err != nil {
		return a, false, true
	}
	return a.Unmap(), true, true
}

func isTTL(tok []byte) bool {
	if len(tok) == 0 || tok[0] < '0' || tok[0] > '9' {
		return false
	}
	for _, c := range tok {
		switch {
		case c >= '0' && c <= '9':
		case strings.IndexByte("smhdwSMHDW", c) >= 0: // BIND units: 1h30m
		default:
			return false
		}
	}
	return true
}

func isClass(tok []byte) bool {
	return asciiEqualFold(tok, "IN") || asciiEqualFold(tok, "CH") ||
		asciiEqualFold(tok, "HS") || asciiEqualFold(tok, "CS")
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func isSpace(c byte) bool {
	// Most bytes are above ' ': one comparison settles them.
	return c <= ' ' && (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f')
}

func trimRight(s []byte) []byte {
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func trimSpace(s []byte) []byte {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// cutComment returns s up to the first c.
func cutComment(s []byte, c byte) []byte {
	if i := bytes.IndexByte(s, c); i >= 0 {
		return s[:i]
	}
	return s
}

// nextField splits off the first blank-separated field of s.
func nextField(s []byte) (field, rest []byte) {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	i := 0
	for i < len(s) && !isSpace(s[i]) {
		i++
	}
	field, rest = s[:i], s[i:]
	for len(rest) > 0 && isSpace(rest[0]) {
		rest = rest[1:]
	}
	return field, rest
}
