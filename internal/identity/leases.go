package identity

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Lease is one DHCP lease: the address a device holds, its hardware
// address and the host name it sent, which is how Hearth names a device
// it sees for the first time ("emmas-ipad").
type Lease struct {
	// Addr is the leased address; IPv4-mapped IPv6 addresses are unmapped.
	Addr netip.Addr
	// MAC is the client's EUI-48 address; nil for DHCPv6 leases (keyed by
	// a DUID and IAID, not a MAC) and for non-Ethernet hardware.
	MAC net.HardwareAddr
	// Hostname is the host name the client sent, cleaned as NewLeases
	// says; "" when it sent none.
	Hostname string
	// Expires is when the lease ends, in UTC; the zero time for never.
	Expires time.Time
}

// Lease file formats accepted by ParseLeases.
const (
	LeasesDnsmasq = "dnsmasq"
	LeasesISC     = "isc"
)

// ParseLeases parses a lease file in format LeasesDnsmasq or LeasesISC.
// Its results are those of ParseDnsmasqLeases or ParseISCLeases.
func ParseLeases(r io.Reader, format string) ([]Lease, error) {
	switch format {
	case LeasesDnsmasq:
		return ParseDnsmasqLeases(r)
	case LeasesISC:
		return ParseISCLeases(r)
	}
	return nil, fmt.Errorf("lease file format %q: want %q or %q", format, LeasesDnsmasq, LeasesISC)
}

// BadLine is one line of a lease file that was skipped.
type BadLine struct {
	// Line is the line number, from 1.
	Line int
	// Text is the line, cut to 100 bytes.
	Text string
	// Reason says what is wrong with it.
	Reason string
}

// maxBadLines is how many bad lines a BadLinesError quotes; maxBadText is
// how much of each, so that a corrupt file cannot flood a log.
const (
	maxBadLines = 3
	maxBadText  = 100
)

// BadLinesError reports the lines of a lease file that were skipped. It
// is not fatal: the leases returned beside it were all read from good
// lines, so a caller logs it and uses them.
type BadLinesError struct {
	// Format is LeasesDnsmasq or LeasesISC.
	Format string
	// Count is how many lines (for ISC: lease blocks or statements) were
	// skipped.
	Count int
	// First are the first few of them, at most three.
	First []BadLine
}

// Error names the count and quotes the first bad lines.
func (e *BadLinesError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s leases: %d bad lines", e.Format, e.Count)
	for i, l := range e.First {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%sline %d %q: %s", sep, l.Line, l.Text, l.Reason)
	}
	if e.Count > len(e.First) {
		b.WriteString("; ...")
	}
	return b.String()
}

// badLines collects the bad lines of one parse.
type badLines struct {
	err BadLinesError
}

func (b *badLines) add(line int, text, reason string) {
	b.err.Count++
	if len(b.err.First) < maxBadLines {
		if len(text) > maxBadText {
			text = text[:maxBadText]
		}
		b.err.First = append(b.err.First, BadLine{Line: line, Text: text, Reason: reason})
	}
}

// result returns the error to report, nil when there were no bad lines
// (an untyped nil, so that err == nil holds).
func (b *badLines) result() error {
	if b.err.Count == 0 {
		return nil
	}
	e := b.err
	return &e
}

// maxDnsmasqLine bounds a line of a dnsmasq lease file. The longest real
// line (a 20-byte hardware address, an IPv6 address, a 255-byte name and
// client id) is well under it; longer lines are counted bad and skipped
// rather than failing the whole file.
const maxDnsmasqLine = 4096

// ParseDnsmasqLeases reads a dnsmasq lease file (dhcp-leasefile). Each
// DHCPv4 lease is a line
//
//	<expiry> <MAC> <IPv4 address> <host name or *> <client id or *>
//
// where expiry is in Unix seconds, 0 for an infinite lease. A non-Ethernet
// hardware address is written with its type first ("20-80:00:...") and
// gives a nil MAC. DHCPv6 leases follow a line "duid <server DUID>":
//
//	<expiry> <IAID, T-prefixed for a temporary address> <IPv6 address> <host name or *> <client DUID>
//
// and have a nil MAC. The address family of the third field decides which
// form a line must have.
//
// Lines that do not parse are skipped and reported by a *BadLinesError
// returned with the good leases. Any other error is a read failure, and
// no leases are returned.
func ParseDnsmasqLeases(r io.Reader) ([]Lease, error) {
	br := bufio.NewReaderSize(r, maxDnsmasqLine)
	bad := badLines{err: BadLinesError{Format: LeasesDnsmasq}}
	var leases []Lease
	for line := 1; ; line++ {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			text := string(b)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("reading dnsmasq leases: %w", err)
			}
			bad.add(line, text, fmt.Sprintf("line longer than %d bytes", maxDnsmasqLine))
			if err == io.EOF {
				break
			}
			continue
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("reading dnsmasq leases: %w", err)
		}
		text := strings.TrimRight(string(b), "\r\n")
		if l, ok, reason := parseDnsmasqLine(text); reason != "" {
			bad.add(line, text, reason)
		} else if ok {
			leases = append(leases, l)
		}
		if err == io.EOF {
			break
		}
	}
	return leases, bad.result()
}

// parseDnsmasqLine parses one line. It returns ok for a lease, a reason
// for a bad line, and neither for a line without a lease (blank, duid).
func parseDnsmasqLine(text string) (Lease, bool, string) {
	f := strings.Fields(text)
	if len(f) == 0 {
		return Lease{}, false, ""
	}
	if f[0] == "duid" {
		if len(f) != 2 {
			return Lease{}, false, fmt.Sprintf("want duid and one value, have %d fields", len(f))
		}
		return Lease{}, false, ""
	}
	// dnsmasq writes 5 fields; an old or hand-made file may omit the
	// client id, which Hearth does not use.
	if len(f) != 4 && len(f) != 5 {
		return Lease{}, false, fmt.Sprintf("want 5 fields, have %d", len(f))
	}
	exp, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || exp < 0 {
		return Lease{}, false, fmt.Sprintf("bad expiry time %q", f[0])
	}
	a, err := netip.ParseAddr(f[2])
	if err != nil {
		return Lease{}, false, fmt.Sprintf("bad address %q", f[2])
	}
	l := Lease{Addr: a.Unmap().WithZone("")}
	if l.Addr.Is4() {
		hw, ok := parseDnsmasqHW(f[1])
		if !ok {
			return Lease{}, false, fmt.Sprintf("bad hardware address %q", f[1])
		}
		l.MAC = hw
	} else if _, err := strconv.ParseUint(strings.TrimPrefix(f[1], "T"), 10, 32); err != nil {
		return Lease{}, false, fmt.Sprintf("bad IAID %q", f[1])
	}
	if exp != 0 {
		l.Expires = time.Unix(exp, 0).UTC()
	}
	if f[3] != "*" {
		l.Hostname = cleanHostname(f[3])
	}
	return l, true, ""
}

// arphrdEther is ARPHRD_ETHER of linux/if_arp.h, the hardware type that
// dnsmasq writes without a prefix.
const arphrdEther = 1

// parseDnsmasqHW parses dnsmasq's hardware address field: colon-separated
// hex bytes, preceded by "<type>-" when the type is not Ethernet or the
// address is empty. Only a 6-byte Ethernet address gives a MAC.
func parseDnsmasqHW(s string) (net.HardwareAddr, bool) {
	typ := uint64(arphrdEther)
	if len(s) >= 3 && s[2] == '-' && !strings.Contains(s[3:], "-") {
		t, err := strconv.ParseUint(s[:2], 16, 8)
		if err != nil {
			return nil, false
		}
		typ, s = t, s[3:]
	}
	b, ok := parseHexColon(s)
	if !ok {
		return nil, false
	}
	if typ != arphrdEther || len(b) != 6 {
		return nil, true
	}
	return b, true
}

// parseHexColon parses bytes written as hex pairs separated by colons,
// each of one or two digits (old ISC servers drop the leading zero). The
// empty string is no bytes.
func parseHexColon(s string) ([]byte, bool) {
	if s == "" {
		return nil, true
	}
	b := make([]byte, 0, (len(s)+1)/3)
	for p := range strings.SplitSeq(s, ":") {
		if len(p) == 0 || len(p) > 2 {
			return nil, false
		}
		v, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return nil, false
		}
		b = append(b, byte(v))
	}
	return b, true
}

// ParseISCLeases reads an ISC dhcpd lease file (dhcpd.leases):
//
//	lease 192.168.1.23 {
//	  starts 4 2026/11/26 10:00:00;
//	  ends 4 2026/11/26 22:00:00;
//	  binding state active;
//	  hardware ethernet 3c:22:fb:8e:41:d7;
//	  client-hostname "emmas-ipad";
//	}
//
// The file is a journal: a later block for an address supersedes earlier
// ones, so the result holds the last state of each address, in the order
// of those last blocks. Only a lease whose binding state is active (or
// not given) is returned: a later free, expired, released, abandoned or
// backup block removes the address. "ends" is a UTC date after a weekday
// number, "epoch <Unix seconds>" (db-time-format local), or "never" (the
// zero Expires, as is a lease without "ends"). Other statements (starts,
// uid, set, option, on ... { }) and other top-level blocks (failover
// peer, DHCPv6 ia-na...) are skipped; # starts a comment; quoted strings
// may hold escapes (\" \\ \t \ooo \xhh).
//
// A lease block that does not parse is skipped and reported by a
// *BadLinesError returned with the good leases; as it still supersedes
// what came before for its address, that address is dropped rather than
// named from stale data. An unterminated string ends the parse. Any
// other error is a read failure, and no leases are returned.
func ParseISCLeases(r io.Reader) ([]Lease, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading ISC leases: %w", err)
	}
	p := iscParser{
		lx:     iscLexer{src: src, line: 1},
		bad:    badLines{err: BadLinesError{Format: LeasesISC}},
		leases: map[netip.Addr]iscLease{},
	}
	p.parse()
	out := make([]iscLease, 0, len(p.leases))
	for _, l := range p.leases {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b iscLease) int { return a.seq - b.seq })
	leases := make([]Lease, len(out))
	for i, l := range out {
		leases[i] = l.Lease
	}
	return leases, p.bad.result()
}

// iscLease is the last state of an address and the block that gave it.
type iscLease struct {
	Lease
	seq int
}

// Token kinds of dhcpd.leases.
const (
	tokEOF = iota
	tokWord
	tokString // Text unquoted and unescaped
	tokOpen   // {
	tokClose  // }
	tokSemi   // ;
	tokBad    // an unterminated string; Text is the reason
)

type iscToken struct {
	kind int
	text string
	line int
	off  int // of the first byte, to quote its line
}

// iscLexer splits dhcpd.leases into tokens, as ISC's conflex.c does for
// the parts a lease file uses.
type iscLexer struct {
	src  []byte
	pos  int
	line int
}

func (lx *iscLexer) next() iscToken {
	lx.skipSpace()
	t := iscToken{line: lx.line, off: lx.pos}
	if lx.pos >= len(lx.src) {
		return t
	}
	switch lx.src[lx.pos] {
	case '{':
		t.kind = tokOpen
	case '}':
		t.kind = tokClose
	case ';':
		t.kind = tokSemi
	case '"':
		return lx.str(t)
	}
	if t.kind != tokEOF {
		lx.pos++
		return t
	}
	start := lx.pos
	for lx.pos < len(lx.src) && !isISCDelim(lx.src[lx.pos]) {
		lx.pos++
	}
	t.kind, t.text = tokWord, string(lx.src[start:lx.pos])
	return t
}

// isISCDelim reports whether c ends a word.
func isISCDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '\f', '\v', '{', '}', ';', '"', '#':
		return true
	}
	return false
}

// skipSpace skips white space and # comments.
func (lx *iscLexer) skipSpace() {
	for lx.pos < len(lx.src) {
		switch lx.src[lx.pos] {
		case '\n':
			lx.line++
		case ' ', '\t', '\r', '\f', '\v':
		case '#':
			for lx.pos < len(lx.src) && lx.src[lx.pos] != '\n' {
				lx.pos++
			}
			continue
		default:
			return
		}
		lx.pos++
	}
}

// str reads a quoted string starting at lx.pos.
func (lx *iscLexer) str(t iscToken) iscToken {
	src := lx.src
	lx.pos++
	var b []byte
	for lx.pos < len(src) {
		c := src[lx.pos]
		lx.pos++
		switch c {
		case '"':
			t.kind, t.text = tokString, string(b)
			return t
		case '\n':
			lx.line++
		case '\\':
			if lx.pos >= len(src) {
				continue
			}
			c = src[lx.pos]
			lx.pos++
			switch c {
			case 't':
				c = '\t'
			case 'r':
				c = '\r'
			case 'n':
				c = '\n'
			case 'b':
				c = '\b'
			case 'x':
				if v, n := lx.digits(16, 2); n > 0 {
					c = byte(v)
				}
			case '0', '1', '2', '3', '4', '5', '6', '7':
				lx.pos--
				v, _ := lx.digits(8, 3)
				c = byte(v)
			case '\n':
				lx.line++
			}
		}
		b = append(b, c)
	}
	t.kind, t.text = tokBad, "unterminated string"
	return t
}

// digits reads up to max digits in base and returns their value and count.
func (lx *iscLexer) digits(base, max int) (int, int) {
	v, n := 0, 0
	for n < max && lx.pos < len(lx.src) {
		d := digitValue(lx.src[lx.pos])
		if d >= base {
			break
		}
		v = v*base + d
		lx.pos++
		n++
	}
	return v, n
}

// digitValue is the value of a hex digit, or 99.
func digitValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return 99
}

// lineText returns the line holding offset off, or the part of it around
// off if it is long. It looks no further than it quotes, so that many bad
// tokens on one huge line cost linear time.
func (lx *iscLexer) lineText(off int) string {
	off = min(off, len(lx.src))
	start := max(0, off-maxBadText/2)
	if i := bytes.LastIndexByte(lx.src[start:off], '\n'); i >= 0 {
		start += i + 1
	}
	end := min(len(lx.src), start+maxBadText)
	if i := bytes.IndexByte(lx.src[off:end], '\n'); i >= 0 {
		end = off + i
	}
	return strings.TrimRight(string(lx.src[start:end]), "\r")
}

// iscParser reads the top level and the lease blocks of dhcpd.leases.
type iscParser struct {
	lx        iscLexer
	peeked    *iscToken
	lexFailed bool
	bad       badLines
	leases    map[netip.Addr]iscLease
	seq       int
}

// next returns the next token. An unterminated string is reported once
// and ends the input: nothing after it can be read reliably.
func (p *iscParser) next() iscToken {
	if t := p.peeked; t != nil {
		p.peeked = nil
		return *t
	}
	t := p.lx.next()
	if t.kind == tokBad {
		p.badAt(t, t.text)
		p.lexFailed = true
		p.lx.pos = len(p.lx.src)
		t.kind, t.text = tokEOF, ""
	}
	return t
}

func (p *iscParser) unread(t iscToken) { p.peeked = &t }

func (p *iscParser) badAt(t iscToken, reason string) {
	text := ""
	if len(p.bad.err.First) < maxBadLines {
		text = p.lx.lineText(t.off)
	}
	p.bad.add(t.line, text, reason)
}

func (p *iscParser) parse() {
	for {
		t := p.next()
		switch t.kind {
		case tokEOF:
			return
		case tokSemi:
		case tokClose:
			p.badAt(t, "unbalanced }")
		case tokOpen:
			if !p.skipBlock() && !p.lexFailed {
				p.badAt(t, "unterminated block")
			}
		default:
			if t.kind == tokWord && t.text == "lease" {
				p.lease(t)
				continue
			}
			// server-duid, authoring-byte-order, failover peer, ia-na...
			if _, end := p.statement(t); end == tokEOF && !p.lexFailed {
				p.badAt(t, "unterminated statement")
			}
		}
	}
}

// statement reads the rest of a statement that begins with first: up to
// its ';', or over its block. It returns the words and strings read and
// what ended it: tokSemi, tokOpen (the block was skipped), tokClose (left
// unread: a missing ';') or tokEOF.
func (p *iscParser) statement(first iscToken) ([]iscToken, int) {
	toks := []iscToken{first}
	for {
		t := p.next()
		switch t.kind {
		case tokSemi:
			return toks, tokSemi
		case tokOpen:
			if !p.skipBlock() {
				return toks, tokEOF
			}
			return toks, tokOpen
		case tokClose:
			p.unread(t)
			return toks, tokClose
		case tokEOF:
			return toks, tokEOF
		}
		toks = append(toks, t)
	}
}

// skipBlock skips to the '}' closing a '{' just read, reporting false at
// the end of the input.
func (p *iscParser) skipBlock() bool {
	for depth := 1; ; {
		switch p.next().kind {
		case tokOpen:
			depth++
		case tokClose:
			if depth--; depth == 0 {
				return true
			}
		case tokEOF:
			return false
		}
	}
}

// lease reads a lease block after its keyword and records its outcome.
func (p *iscParser) lease(kw iscToken) {
	at := p.next()
	addr, err := netip.ParseAddr(at.text)
	if at.kind != tokWord || err != nil {
		p.badAt(at, fmt.Sprintf("bad lease address %q", at.text))
		p.skipRest(at)
		return
	}
	addr = addr.Unmap().WithZone("")
	if open := p.next(); open.kind != tokOpen {
		p.badAt(open, "want { after the lease address")
		p.skipRest(open)
		return
	}
	l, state, failed := p.leaseBody(kw)
	p.seq++
	switch {
	case failed:
		delete(p.leases, addr)
	case state == "" || state == "active":
		l.Addr = addr
		p.leases[addr] = iscLease{Lease: l, seq: p.seq}
	default:
		delete(p.leases, addr)
	}
}

// leaseBody reads the statements of a lease block up to its '}'. It
// reports the first problem of a bad block at once, so that bad lines are
// reported in order, and returns failed.
func (p *iscParser) leaseBody(kw iscToken) (l Lease, state string, failed bool) {
	fail := func(t iscToken, r string) {
		if !failed {
			failed = true
			p.badAt(t, r)
		}
	}
	for {
		t := p.next()
		switch t.kind {
		case tokClose:
			return l, state, failed
		case tokSemi:
			continue
		case tokEOF:
			if p.lexFailed {
				// Reported by next.
				return l, state, true
			}
			fail(kw, "unterminated lease block")
			return l, state, failed
		case tokOpen:
			// A block without a keyword; dhcpd writes none, but it must
			// not end the lease early.
			if !p.skipBlock() {
				p.unread(iscToken{kind: tokEOF, line: t.line, off: t.off})
			}
			continue
		}
		toks, end := p.statement(t)
		switch end {
		case tokClose:
			fail(t, "missing ; before }")
			continue
		case tokEOF:
			continue // reported as an unterminated block on the next turn
		}
		if t.kind != tokWord {
			continue
		}
		args := toks[1:]
		switch t.text {
		case "binding":
			if len(args) != 2 || args[0].text != "state" || args[1].kind != tokWord {
				fail(t, "bad binding state")
				continue
			}
			state = args[1].text
		case "ends":
			exp, ok := parseISCTime(args)
			if !ok {
				fail(t, "bad ends time")
				continue
			}
			l.Expires = exp
		case "hardware":
			if len(args) != 2 {
				fail(t, "bad hardware statement")
				continue
			}
			if args[0].text != "ethernet" {
				l.MAC = nil // token-ring, fddi, infiniband: not a MAC
				continue
			}
			b, ok := parseHexColon(args[1].text)
			if !ok || len(b) != 6 {
				fail(t, fmt.Sprintf("bad hardware address %q", args[1].text))
				continue
			}
			l.MAC = b
		case "client-hostname":
			if len(args) != 1 {
				fail(t, "bad client-hostname")
				continue
			}
			l.Hostname = cleanHostname(args[0].text)
		}
	}
}

// skipRest skips the rest of a statement of which t was just read.
func (p *iscParser) skipRest(t iscToken) {
	switch t.kind {
	case tokSemi, tokEOF:
	case tokOpen:
		p.skipBlock()
	case tokClose:
		p.unread(t)
	default:
		p.statement(t)
	}
}

// parseISCTime parses the arguments of ends: "never", "epoch <seconds>"
// or "<weekday 0-6> <yyyy/mm/dd> <hh:mm:ss>" in UTC.
func parseISCTime(args []iscToken) (time.Time, bool) {
	for _, a := range args {
		if a.kind != tokWord {
			return time.Time{}, false
		}
	}
	switch {
	case len(args) == 1 && args[0].text == "never":
		return time.Time{}, true
	case len(args) == 2 && args[0].text == "epoch":
		n, err := strconv.ParseInt(args[1].text, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, false
		}
		return time.Unix(n, 0).UTC(), true
	case len(args) == 3:
		if wd := args[0].text; len(wd) != 1 || wd[0] < '0' || wd[0] > '6' {
			return time.Time{}, false
		}
		t, err := time.Parse("2006/01/02 15:04:05", args[1].text+" "+args[2].text)
		return t, err == nil
	}
	return time.Time{}, false
}

// maxLabel and maxName are the DNS limits on a label and a name.
const (
	maxLabel = 63
	maxName  = 253
)

// cleanHostname turns what a DHCP client sent into a name fit for a device
// and for DNS: lower case; spaces and underscores become hyphens ("Emma's
// iPad" gives "emmas-ipad"); anything else but letters, digits, hyphens
// and dots is dropped; each label loses its leading and trailing hyphens
// and is cut to 63 bytes; empty labels are dropped, and labels past 253
// bytes in all. It returns "" when nothing is left.
func cleanHostname(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		case c == ' ' || c == '_':
			b = append(b, '-')
		}
	}
	out := make([]byte, 0, len(b))
	for label := range strings.SplitSeq(string(b), ".") {
		label = strings.Trim(label, "-")
		if len(label) > maxLabel {
			label = strings.TrimRight(label[:maxLabel], "-")
		}
		if label == "" {
			continue
		}
		n := len(out) + len(label)
		if len(out) > 0 {
			n++
		}
		if n > maxName {
			break
		}
		if len(out) > 0 {
			out = append(out, '.')
		}
		out = append(out, label...)
	}
	return string(out)
}

// Leases finds the host name of a device from its DHCP leases. It is
// immutable after NewLeases and safe for concurrent use; a new lease file
// means a new Leases.
type Leases struct {
	byMAC  map[mac]leaseName
	byAddr map[netip.Addr]leaseName
	n      int
}

// leaseName is a named lease as Leases keeps it.
type leaseName struct {
	name    string
	mac     mac
	hasMAC  bool
	expires time.Time
}

// outlasts reports whether a lease ending at a lasts at least as long as
// one ending at b, the zero time being never.
func outlasts(a, b time.Time) bool {
	return a.IsZero() || !b.IsZero() && !a.Before(b)
}

// NewLeases indexes the leases that are still valid at now (Expires zero
// or after now) and have a host name once cleaned: lower case, spaces and
// underscores made hyphens, other bytes than [a-z0-9-.] dropped, labels
// trimmed of hyphens and cut to 63 bytes, the name to 253. When two
// leases share a MAC or an address, the one that lasts longer wins, then
// the later one.
func NewLeases(leases []Lease, now time.Time) *Leases {
	l := &Leases{byMAC: map[mac]leaseName{}, byAddr: map[netip.Addr]leaseName{}}
	for _, le := range leases {
		if !le.Expires.IsZero() && !le.Expires.After(now) {
			continue
		}
		e := leaseName{name: cleanHostname(le.Hostname), expires: le.Expires}
		if e.name == "" {
			continue
		}
		l.n++
		e.mac, e.hasMAC = macFrom(le.MAC)
		if e.hasMAC {
			if prev, ok := l.byMAC[e.mac]; !ok || outlasts(e.expires, prev.expires) {
				l.byMAC[e.mac] = e
			}
		}
		if a := le.Addr.Unmap().WithZone(""); a.IsValid() {
			if prev, ok := l.byAddr[a]; !ok || outlasts(e.expires, prev.expires) {
				l.byAddr[a] = e
			}
		}
	}
	return l
}

// Len returns the number of leases indexed.
func (l *Leases) Len() int {
	if l == nil {
		return 0
	}
	return l.n
}

// Hostname returns the host name of the device with hardware address hw
// (nil if unknown) or, failing that, address addr (IPv4-mapped IPv6 is
// taken as IPv4). The MAC is tried first: it follows a device across
// addresses. An address lease of another MAC than a known hw is not the
// same device, and is not matched. A nil *Leases finds nothing.
func (l *Leases) Hostname(addr netip.Addr, hw net.HardwareAddr) (string, bool) {
	if l == nil {
		return "", false
	}
	m, haveMAC := macFrom(hw)
	if haveMAC {
		if e, ok := l.byMAC[m]; ok {
			return e.name, true
		}
	}
	e, ok := l.byAddr[addr.Unmap().WithZone("")]
	if !ok || haveMAC && e.hasMAC && e.mac != m {
		return "", false
	}
	return e.name, true
}
