// Package lists owns list sources: it fetches them (conditional GET, size and
// time limits, the last good copy kept on disk so a restart without internet
// still blocks) and parses every supported format in a single streaming pass
// (hosts, plain domains, wildcard, adblock, RPZ, IP lists), turning each line
// into name rules and IP rules. Bad lines are counted, a few are kept as
// examples for the UI, and none of them is ever fatal.
//
// The package does not build the domain index: it hands rules to a callback,
// and the caller (internal/domainindex) decides what to keep.
package lists

import (
	"fmt"
	"net/netip"
	"strings"
)

// Format is the syntax of a list source.
type Format string

// The supported formats. The domains variants share one syntax and differ
// only in what a plain entry means by default; see [Format.DefaultPlainSubtree].
const (
	// FormatHosts is hosts-file syntax: "0.0.0.0 name [name...]" (any
	// address, v4 or v6), "#" comments, inline comments.
	FormatHosts Format = "hosts"
	// FormatDomains is one name per line; a leading "." or "*." marks the
	// name and its subdomains, bare IP literals are IP rules.
	FormatDomains Format = "domains"
	// FormatDomainsTrimmed is StevenBlack hosts reformatted without the
	// leading address (tabs and trailing spaces kept): domains syntax, exact names.
	FormatDomainsTrimmed Format = "domains-trimmed"
	// FormatDomainsOnly is hagezi's "onlydomains": domains syntax where every
	// plain entry covers the name and all its subdomains.
	FormatDomainsOnly Format = "domains-onlydomains"
	// FormatWildcard is "*.name" for a name and its subdomains; a plain name
	// in a wildcard file is an exact name.
	FormatWildcard Format = "wildcard"
	// FormatAdblock is the DNS subset of adblock syntax: "||name^" blocks a
	// name and its subdomains, "|name^" the exact name, "@@" makes either an
	// exception. Modifiers ("$"), paths, cosmetic rules and regexes are
	// counted as unsupported and skipped.
	FormatAdblock Format = "adblock"
	// FormatRPZ is a response policy zone in zone-file syntax: "name CNAME ."
	// (or rpz-drop.) blocks, "*.name CNAME ." blocks the subdomains, and
	// "name CNAME rpz-passthru." is an exception.
	FormatRPZ Format = "rpz"
	// FormatIPList is one IPv4 or IPv6 address per line with optional "#"
	// comments.
	FormatIPList Format = "ip-list"
)

// ParseFormat returns the Format named by s (case-insensitive, surrounding
// spaces ignored), or an error naming s if it is not a known format.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case FormatHosts, FormatDomains, FormatDomainsTrimmed, FormatDomainsOnly,
		FormatWildcard, FormatAdblock, FormatRPZ, FormatIPList:
		return f, nil
	}
	return "", fmt.Errorf("unknown list format %q (want hosts, domains, domains-trimmed, domains-onlydomains, wildcard, adblock, rpz or ip-list)", s)
}

// DefaultPlainSubtree reports whether a plain entry (a name with no "*." or
// leading "." and no adblock anchor) covers its subdomains even when
// [ParseOptions.PlainSubtree] is false. Only [FormatDomainsOnly] says so.
func (f Format) DefaultPlainSubtree() bool { return f == FormatDomainsOnly }

// Kind is the reach of a name rule.
type Kind uint8

const (
	// Exact matches the name itself only.
	Exact Kind = iota
	// Subtree matches the name and every name below it.
	Subtree
)

// String returns "exact" or "subtree".
func (k Kind) String() string {
	if k == Subtree {
		return "subtree"
	}
	return "exact"
}

// Rule is one entry of a list: either a host name (Name set, IP invalid) or
// an IP address (IP valid, Name empty).
type Rule struct {
	// Name is lower-case ASCII (IDNs in punycode) without a trailing dot,
	// at most 253 bytes, labels of 1 to 63 letters, digits, '-' or '_',
	// and at least two labels.
	Name string
	// IP is set for address rules (ip-list entries, bare IPs and ranges
	// in domains lists, IP literals used as hosts-file names). Its zone is
	// dropped; IPv4-mapped addresses are unmapped.
	IP netip.Addr
	// Prefix is set, masked, for an address range ("192.0.2.0/24"); IP is
	// then its first address. Ranges wider than /8 (IPv4) or /16 (IPv6)
	// are bad lines.
	Prefix netip.Prefix
	// Kind says whether Name covers its subdomains. Unused for IP rules.
	Kind Kind
	// Exception marks an allow rule (adblock "@@", RPZ rpz-passthru.).
	Exception bool
}

// IsIP reports whether r is an address rule rather than a name rule.
func (r Rule) IsIP() bool { return r.IP.IsValid() }

// ParseOptions are the per-source settings that change what a line means.
type ParseOptions struct {
	// PlainSubtree makes plain hosts and domains entries cover their
	// subdomains (UT1 and squidGuard lists, hagezi "light"); when false they
	// are exact names (hosts files, blocklistproject -nl, StevenBlack).
	// Entries with an explicit scope ("*.x", ".x", "||x^", "|x^") and plain
	// names in wildcard files are not affected.
	PlainSubtree bool
	// PlainWWW makes each plain exact entry (hosts files, plain domains
	// when PlainSubtree is false) also match "www." + name, which parents
	// expect blocked when the name is listed. The extra rules are not
	// counted in Stats.Rules.
	PlainWWW bool
}

// MaxLineBytes bounds one line; longer lines are counted as bad and skipped
// without being held in memory.
const MaxLineBytes = 4096

// MaxBadExamples is the number of bad lines [Stats] keeps as examples.
const MaxBadExamples = 5

// maxExampleBytes bounds the text kept for a bad-line example.
const maxExampleBytes = 200

// BadLine is an example of a rejected line, for the UI.
type BadLine struct {
	// Line is the 1-based line number.
	Line int
	// Text is the line as read (trimmed, cut to at most 200 bytes, invalid UTF-8 replaced).
	Text string
	// Reason says what is wrong, in a few words.
	Reason string
}

// Stats counts what a parse saw. Every line is counted in Lines; a line
// that produced no rule is counted in exactly one of Comments, Bad or
// Unsupported; a line that produced rules is counted in none of them, except
// a hosts line with some invalid names, which is also Bad.
type Stats struct {
	// Lines is the number of physical lines read.
	Lines int
	// Rules is the number of name rules emitted, exceptions included.
	Rules int
	// Exceptions is the number of emitted name rules that are exceptions.
	Exceptions int
	// IPs is the number of IP rules emitted.
	IPs int
	// Comments counts lines that carry nothing by design: blank lines,
	// comments, headers, zone directives and SOA/NS records, hosts entries
	// for localhost and friends.
	Comments int
	// Bad counts malformed lines: invalid names, names without a dot,
	// garbage, lines over MaxLineBytes. A hosts line with several names is
	// bad if any of its names is; its valid names are still emitted.
	Bad int
	// Unsupported counts well-formed lines this package does not apply:
	// adblock modifiers, paths, cosmetic rules and regexes, other RPZ
	// actions and triggers.
	Unsupported int
	// BadExamples holds the first MaxBadExamples bad lines.
	BadExamples []BadLine
}
