package lists

import (
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// render writes a rule compactly: "name" exact, "*.name" subtree, "@@"
// for exceptions, "ip:addr" for IP rules.
func render(r Rule) string {
	if r.Prefix.IsValid() {
		return "ip:" + r.Prefix.String()
	}
	if r.IsIP() {
		return "ip:" + r.IP.String()
	}
	s := r.Name
	if r.Kind == Subtree {
		s = "*." + s
	}
	if r.Exception {
		s = "@@" + s
	}
	return s
}

func parseAll(t testing.TB, in string, f Format, opt ParseOptions) ([]string, Stats) {
	t.Helper()
	var got []string
	st, err := Parse(strings.NewReader(in), f, opt, func(r Rule) { got = append(got, render(r)) })
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return got, st
}

type parseCase struct {
	name   string
	format Format
	opt    ParseOptions
	in     string
	want   []string
	// Expected counters; Lines is checked against the input's line count.
	comments, bad, unsupported int
}

var parseCases = []parseCase{
	// hosts
	{name: "hosts basic", format: FormatHosts,
		in:   "# header\n0.0.0.0 example.com\n127.0.0.1 b.example.com\n:: v6.example.com\n",
		want: []string{"example.com", "b.example.com", "v6.example.com"}, comments: 1},
	{name: "hosts several names and inline comment", format: FormatHosts,
		in:   "0.0.0.0 a.example.com b.example.com # two names\n0.0.0.0\tc.example.com#tight\n",
		want: []string{"a.example.com", "b.example.com", "c.example.com"}},
	{name: "hosts upper case folded", format: FormatHosts,
		in: "0.0.0.0 Ehentai.to\n", want: []string{"ehentai.to"}},
	{name: "hosts IP literal as name is an IP rule", format: FormatHosts,
		in: "0.0.0.0 85.17.187.83\n", want: []string{"ip:85.17.187.83"}},
	{name: "hosts name without a dot is bad", format: FormatHosts,
		in: "127.0.0.1 snapchat-com\n", bad: 1},
	{name: "hosts odd sink address 127.0.0.7", format: FormatHosts,
		in: "127.0.0.7 p19-sign.tiktokcdn-us.com\n", want: []string{"p19-sign.tiktokcdn-us.com"}},
	{name: "hosts localhost entries ignored", format: FormatHosts,
		in: "127.0.0.1 localhost\n127.0.0.1 localhost.localdomain\n255.255.255.255 broadcasthost\n" +
			"::1 localhost ip6-localhost ip6-loopback\nfe80::1%lo0 localhost\n0.0.0.0 0.0.0.0\n127.0.0.1 local\n",
		comments: 7},
	{name: "hosts trailing spaces and CRLF", format: FormatHosts,
		in: "0.0.0.0 example.com   \r\n0.0.0.0 example.org\t\r\n", want: []string{"example.com", "example.org"}},
	{name: "hosts bad address and missing name", format: FormatHosts,
		in: "example.com\n0.0.0.0\n999.1.1.1 example.com\n", bad: 3},
	{name: "hosts mixed good and bad names", format: FormatHosts,
		in: "0.0.0.0 good.example.com en\n", want: []string{"good.example.com"}, bad: 1},
	{name: "hosts plain subtree option", format: FormatHosts, opt: ParseOptions{PlainSubtree: true},
		in: "0.0.0.0 example.com\n", want: []string{"*.example.com"}},
	{name: "hosts IDN to punycode", format: FormatHosts,
		in: "0.0.0.0 bücher.de\n0.0.0.0 BÜCHER.de\n", want: []string{"xn--bcher-kva.de", "xn--bcher-kva.de"}},

	// domains and variants
	{name: "domains plain exact by default", format: FormatDomains,
		in: "# c\n\nexample.com\nExample.ORG.\n", want: []string{"example.com", "example.org"}, comments: 2},
	{name: "domains plain subtree option (UT1)", format: FormatDomains, opt: ParseOptions{PlainSubtree: true},
		in: "example.com\n", want: []string{"*.example.com"}},
	{name: "domains leading dot is subtree", format: FormatDomains,
		in: ".afshin.ir\n", want: []string{"*.afshin.ir"}},
	{name: "domains bare IPs are IP rules", format: FormatDomains,
		in:   "1.2.3.4\n2001:db8::1\n::ffff:10.0.0.1\n",
		want: []string{"ip:1.2.3.4", "ip:2001:db8::1", "ip:10.0.0.1"}},
	{name: "domains CIDR ranges are IP rules, mangled address bad", format: FormatDomains,
		in: "10.0.0.0/8\n1.2.3\n10.0.0.256\n", want: []string{"ip:10.0.0.0/8"}, bad: 2},
	{name: "domains bad names", format: FormatDomains,
		in: "snapchat-com\nexa mple.com\nex%ample.com\na..b.com\n" + strings.Repeat("a", 64) + ".com\n" +
			strings.Repeat("abcdefghi.", 26) + "com\n-\n.\n",
		bad: 8},
	{name: "domains underscores and hyphens allowed", format: FormatDomains,
		in:   "_dmarc.example.com\nw-w-i-s-.com\nadministrator.-container.supertms.com\n",
		want: []string{"_dmarc.example.com", "w-w-i-s-.com", "administrator.-container.supertms.com"}},
	{name: "domains 63-byte label and 253-byte name accepted", format: FormatDomains,
		in: strings.Repeat("a", 63) + ".com\n" + strings.Repeat("abcdefgh.", 27) + "example.co\n" +
			strings.Repeat("abcdefgh.", 27) + "example.com\n",
		want: []string{strings.Repeat("a", 63) + ".com", strings.Repeat("abcdefgh.", 27) + "example.co"}, bad: 1},
	{name: "domains inline comment", format: FormatDomains,
		in: "example.com # why\n", want: []string{"example.com"}},
	{name: "domains-trimmed tabs and trailing spaces", format: FormatDomainsTrimmed,
		in:   "# Title: StevenBlack/hosts\n#fe80::1%lo0\tlocalhost\ndocs.pipenv.org \n\ttrack.venatusmedia.com\t\n",
		want: []string{"docs.pipenv.org", "track.venatusmedia.com"}, comments: 2},
	{name: "domains-onlydomains plain is subtree", format: FormatDomainsOnly,
		in: "example.com\n", want: []string{"*.example.com"}},
	{name: "domains IDN", format: FormatDomains,
		in:   "bücher.de\nМОСКВА.рф\nexample。com\n",
		want: []string{"xn--bcher-kva.de", "xn--80adxhks.xn--p1ai", "example.com"}},
	{name: "domains bad IDN", format: FormatDomains,
		in: "b\xffcher.de\n☃☃.com.\u00a0x\n", bad: 2},

	// wildcard
	{name: "wildcard", format: FormatWildcard,
		in:   "# comment\n*.example.com\nexact.example.org\n*.Foo.Bar\n",
		want: []string{"*.example.com", "exact.example.org", "*.foo.bar"}, comments: 1},
	{name: "wildcard plain stays exact with PlainSubtree", format: FormatWildcard, opt: ParseOptions{PlainSubtree: true},
		in: "exact.example.org\n", want: []string{"exact.example.org"}},
	{name: "wildcard bad", format: FormatWildcard,
		in: "*.\n*.com\nfoo.*.example.com\n", bad: 3},

	// adblock
	{name: "adblock basics", format: FormatAdblock,
		in:   "[Adblock Plus]\n! Title: x\n||example.com^\n@@||good.example.com^\n|exact.example.com^\n||Upper.Example.NET^|\n",
		want: []string{"*.example.com", "@@*.good.example.com", "exact.example.com", "*.upper.example.net"}, comments: 2},
	{name: "adblock name without a dot is bad", format: FormatAdblock,
		in: "||60com^\n||^\n||exa%mple.com^\n||example.com\n", bad: 4},
	{name: "adblock unsupported", format: FormatAdblock,
		in: "||example.com^$important\n@@||example.com^$dnstype=AAAA\n||example.com/ads^\n" +
			"example.com##.banner\n##.ad\n/ads[0-9]+/\nexample.com\n0.0.0.0 example.com\n||*.example.com^\n" +
			"||example.com^foo\n||example.com:8080^\n#@#.ad\n",
		unsupported: 12},
	{name: "adblock hash comments", format: FormatAdblock,
		in: "# comment\n#\n#comment\n", comments: 3},
	{name: "adblock IP rule", format: FormatAdblock,
		in: "||180.215.200.9^\n", want: []string{"ip:180.215.200.9"}},
	{name: "adblock IDN", format: FormatAdblock,
		in: "||bücher.de^\n", want: []string{"*.xn--bcher-kva.de"}},

	// rpz
	{name: "rpz zone", format: FormatRPZ,
		in: "$TTL 300\n$ORIGIN rpz.example.\n@ IN SOA localhost. root.localhost. (\n  1 ; serial\n  3600 )\n" +
			"  IN NS localhost.\n" +
			"bad.example.com CNAME .\n" +
			"*.bad.example.com 300 IN CNAME .\n" +
			"good.example.com IN CNAME rpz-passthru.\n" +
			"drop.example.com CNAME rpz-drop.\n" +
			"abs.example.net.rpz.example. CNAME . ; absolute, under the origin\n" +
			"nodata.example.org CNAME *.\n" +
			"Upper.Example.COM. CNAME .\n",
		want: []string{"bad.example.com", "*.bad.example.com", "@@good.example.com", "drop.example.com",
			"abs.example.net", "nodata.example.org"},
		comments: 6, bad: 1},
	{name: "rpz one-label origin", format: FormatRPZ,
		in:   "$ORIGIN RPZ.\nbad.example.com.rpz. CNAME .\n*.x.example.com.rpz. CNAME .\nrel.example.com CNAME .\n$ORIGIN b%d.\n",
		want: []string{"bad.example.com", "*.x.example.com", "rel.example.com"}, comments: 1, bad: 1},
	{name: "rpz without origin keeps absolute names", format: FormatRPZ,
		in: "example.com. CNAME .\n", want: []string{"example.com"}},
	{name: "rpz unsupported", format: FormatRPZ,
		in: "walled.example.com A 10.0.0.1\n32.1.2.0.192.rpz-ip CNAME .\nns.rpz-nsdname CNAME .\n" +
			"x.example.com CNAME rpz-tcp-only.\nx.example.com CNAME walled.garden.example.\n$INCLUDE other.zone\n",
		unsupported: 6},
	{name: "rpz bad", format: FormatRPZ,
		in: "lonely.example.com\nnodot CNAME .\nx.example.com CNAME . extra\n", bad: 3},

	// ip-list
	{name: "ip-list", format: FormatIPList,
		in:   "# header\n1.1.1.1   # one.one.one.one\n2001:148f:fffe::1                       # odvr.nic.cz\n",
		want: []string{"ip:1.1.1.1", "ip:2001:148f:fffe::1"}, comments: 1},
	{name: "ip-list bad", format: FormatIPList,
		in: "example.com\n1.2.3.4 5.6.7.8\n", bad: 2},
	{name: "ip-list CIDR ranges", format: FormatIPList,
		in:   "192.0.2.0/24 # doh\n198.51.100.77/24\n2001:db8:53::/48\n::ffff:203.0.113.0/120\n203.0.113.9/32\n2001:db8::1/128\n",
		want: []string{"ip:192.0.2.0/24", "ip:198.51.100.0/24", "ip:2001:db8:53::/48", "ip:203.0.113.0/24", "ip:203.0.113.9", "ip:2001:db8::1"}},
	{name: "ip-list ranges too wide are bad", format: FormatIPList,
		in:   "0.0.0.0/0\n10.0.0.0/7\n::/0\n2000::/3\n10.0.0.0/8\n2001::/16\n1.2.3.0/33\n",
		want: []string{"ip:10.0.0.0/8", "ip:2001::/16"}, bad: 5},

	// line limits
	{name: "overlong line is bad, next line still read", format: FormatDomains,
		in: strings.Repeat("a", MaxLineBytes+1) + "\nexample.com\n", want: []string{"example.com"}, bad: 1},
	{name: "line of exactly MaxLineBytes is read", format: FormatDomains,
		in: strings.Repeat(" ", MaxLineBytes-len("example.com")) + "example.com\n", want: []string{"example.com"}},
	{name: "huge line drained", format: FormatHosts,
		in: "0.0.0.0 " + strings.Repeat("x", 1<<20) + "\n0.0.0.0 example.com", want: []string{"example.com"}, bad: 1},
	{name: "no final newline and BOM", format: FormatDomains,
		in: "\xef\xbb\xbfexample.com\nexample.org", want: []string{"example.com", "example.org"}},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			got, st := parseAll(t, tc.in, tc.format, tc.opt)
			if !slices.Equal(got, tc.want) {
				t.Errorf("rules:\n got %q\nwant %q", got, tc.want)
			}
			lines := strings.Count(tc.in, "\n")
			if !strings.HasSuffix(tc.in, "\n") {
				lines++
			}
			if st.Lines != lines {
				t.Errorf("Lines = %d, want %d", st.Lines, lines)
			}
			if st.Comments != tc.comments || st.Bad != tc.bad || st.Unsupported != tc.unsupported {
				t.Errorf("comments/bad/unsupported = %d/%d/%d, want %d/%d/%d (examples %+v)",
					st.Comments, st.Bad, st.Unsupported, tc.comments, tc.bad, tc.unsupported, st.BadExamples)
			}
			checkStats(t, st, got)
		})
	}
}

// checkStats checks the invariants every parse must keep, given the
// rendered rules it emitted.
func checkStats(t testing.TB, st Stats, got []string) {
	t.Helper()
	var names, exc, ips int
	for _, g := range got {
		switch {
		case strings.HasPrefix(g, "ip:"):
			ips++
		case strings.HasPrefix(g, "@@"):
			exc++
			names++
		default:
			names++
		}
	}
	if st.Rules != names || st.Exceptions != exc || st.IPs != ips {
		t.Errorf("stats rules/exceptions/ips = %d/%d/%d, emitted %d/%d/%d", st.Rules, st.Exceptions, st.IPs, names, exc, ips)
	}
	if st.Comments < 0 || st.Bad < 0 || st.Unsupported < 0 || st.Comments+st.Bad+st.Unsupported > st.Lines {
		t.Errorf("inconsistent line counters: %+v", st)
	}
	// Every line that is not a comment, bad or unsupported produced a rule.
	if produced := st.Lines - st.Comments - st.Bad - st.Unsupported; produced > st.Rules+st.IPs {
		t.Errorf("%d lines produced rules but only %d rules emitted: %+v", produced, st.Rules+st.IPs, st)
	}
	if len(st.BadExamples) > MaxBadExamples || len(st.BadExamples) > st.Bad ||
		(st.Bad > 0 && len(st.BadExamples) != min(st.Bad, MaxBadExamples)) {
		t.Errorf("%d bad examples for %d bad lines", len(st.BadExamples), st.Bad)
	}
	prev := 0
	for _, b := range st.BadExamples {
		if b.Line <= prev || b.Line > st.Lines || len(b.Text) > maxExampleBytes || !utf8.ValidString(b.Text) || b.Reason == "" {
			t.Errorf("bad example %+v out of order or malformed", b)
		}
		prev = b.Line
	}
}

func TestParseBadExamples(t *testing.T) {
	in := "ok.example.com\nbad1\nbad2\nbad3\nbad4\nbad5\nbad6\n" + strings.Repeat("y", 5000) + "\n"
	_, st := parseAll(t, in, FormatDomains, ParseOptions{})
	if st.Bad != 7 {
		t.Fatalf("Bad = %d, want 7", st.Bad)
	}
	want := []BadLine{{2, "bad1", reasonNoDot}, {3, "bad2", reasonNoDot}, {4, "bad3", reasonNoDot},
		{5, "bad4", reasonNoDot}, {6, "bad5", reasonNoDot}}
	if !slices.Equal(st.BadExamples, want) {
		t.Errorf("BadExamples = %+v, want %+v", st.BadExamples, want)
	}
	// The overlong line's example is cut, not kept whole.
	_, st = parseAll(t, strings.Repeat("z", 1<<17)+"\n", FormatDomains, ParseOptions{})
	if len(st.BadExamples) != 1 || len(st.BadExamples[0].Text) != maxExampleBytes || st.BadExamples[0].Reason != reasonTooLong {
		t.Errorf("overlong example = %d bytes, %+v", len(st.BadExamples[0].Text), st.BadExamples[0].Reason)
	}
}

// TestParseReadError checks that a failing reader ends the parse with the
// error and the counts so far.
func TestParseReadError(t *testing.T) {
	r := io.MultiReader(strings.NewReader("a.example.com\nb.example.com\n"), iotest.ErrReader(errors.New("disk on fire")))
	var n int
	st, err := Parse(r, FormatDomains, ParseOptions{}, func(Rule) { n++ })
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("error = %v", err)
	}
	if st.Rules != 2 || n != 2 {
		t.Errorf("stats %+v, %d rules emitted; want 2", st, n)
	}
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{"hosts", FormatHosts, false},
		{" Domains ", FormatDomains, false},
		{"domains-trimmed", FormatDomainsTrimmed, false},
		{"domains-onlydomains", FormatDomainsOnly, false},
		{"wildcard", FormatWildcard, false},
		{"ADBLOCK", FormatAdblock, false},
		{"rpz", FormatRPZ, false},
		{"ip-list", FormatIPList, false},
		{"csv", "", true},
		{"", "", true},
	} {
		got, err := ParseFormat(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	if _, err := Parse(strings.NewReader("x"), "nope", ParseOptions{}, nil); err == nil {
		t.Error("Parse with an unknown format: no error")
	}
}

// TestPunycode checks the encoder against RFC 3492 section 7.1 samples and
// well-known A-labels.
func TestPunycode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"bücher.de", "xn--bcher-kva.de"},
		{"münchen.de", "xn--mnchen-3ya.de"},
		{"例え.テスト", "xn--r8jz45g.xn--zckzah"},
		{"他们为什么不说中文.example", "xn--ihqwcrb4cv8a8dqg056pqjye.example"},
		{"почемужеонинеговорятпорусски.example", "xn--b1abfaaepdrnnbgefbadotcwatmq2g4l.example"},
		{"ｅｘａｍｐｌｅ．ｃｏｍ", "example.com"},
	} {
		got, ok := toASCII([]byte(tc.in), nil)
		if !ok || string(got) != tc.want {
			t.Errorf("toASCII(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

// TestParseAllocs guards the per-line cost: comment and bad lines allocate
// nothing, and a name line only its Name string.
func TestParseAllocs(t *testing.T) {
	var sb strings.Builder
	for range 1000 {
		sb.WriteString("# comment\n0.0.0.0 ads.example.com\nnodot\n")
	}
	in := sb.String()
	allocs := testing.AllocsPerRun(5, func() {
		if _, err := Parse(strings.NewReader(in), FormatHosts, ParseOptions{}, func(Rule) {}); err != nil {
			t.Fatal(err)
		}
	})
	// 1000 names, plus the reader buffer, the parser and 5 examples.
	if allocs > 1000+20 {
		t.Errorf("%.0f allocations for 1000 names, want about 1000", allocs)
	}
}

// TestParseNamesAllocs guards the builder's path: ParseNames allocates
// nothing per name, only per call.
func TestParseNamesAllocs(t *testing.T) {
	var sb strings.Builder
	for range 1000 {
		sb.WriteString("# comment\n0.0.0.0 ads.example.com\nnodot\n")
	}
	in := sb.String()
	names := 0
	allocs := testing.AllocsPerRun(5, func() {
		names = 0
		if _, err := ParseNames(strings.NewReader(in), FormatHosts, ParseOptions{}, func([]byte, Kind, bool) { names++ }, nil); err != nil {
			t.Fatal(err)
		}
	})
	if names != 1000 {
		t.Fatalf("%d names, want 1000", names)
	}
	// The reader buffer, the parser and 5 examples.
	if allocs > 20 {
		t.Errorf("%.0f allocations for 1000 names, want a few per call", allocs)
	}
}

// TestParseNamesAgreesWithParse checks that both entry points report the
// same rules in the same order, for every format, including the "www."
// names PlainWWW adds.
func TestParseNamesAgreesWithParse(t *testing.T) {
	for _, tc := range []struct {
		format Format
		opt    ParseOptions
		in     string
	}{
		{FormatHosts, ParseOptions{PlainWWW: true}, "0.0.0.0 Ads.Example.com www.x.org 192.0.2.1\n127.0.0.1 a.b c.d # x\n"},
		{FormatDomains, ParseOptions{PlainSubtree: true}, "a.example\n*.b.example\n.c.example\n192.0.2.0/24\nbad..name\n"},
		{FormatWildcard, ParseOptions{}, "*.w.example\nx.example\n"},
		{FormatAdblock, ParseOptions{}, "[Adblock Plus]\n||ads.example^\n@@||good.ads.example^\n|exact.example^\n"},
		{FormatRPZ, ParseOptions{}, "$ORIGIN rpz.\nbad.example CNAME .\n*.bad2.example CNAME .\nok.example CNAME rpz-passthru.\n"},
		{FormatIPList, ParseOptions{}, "192.0.2.7 # x\n2001:db8::1\n"},
	} {
		var want, got []Rule
		wst, err := Parse(strings.NewReader(tc.in), tc.format, tc.opt, func(r Rule) { want = append(want, r) })
		if err != nil {
			t.Fatal(err)
		}
		gst, err := ParseNames(strings.NewReader(tc.in), tc.format, tc.opt,
			func(name []byte, k Kind, exception bool) {
				got = append(got, Rule{Name: string(name), Kind: k, Exception: exception})
			},
			func(r Rule) { got = append(got, r) })
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gst, wst) {
			t.Errorf("%s: ParseNames gave %+v (%+v), Parse %+v (%+v)", tc.format, got, gst, want, wst)
		}
		if len(want) == 0 {
			t.Errorf("%s: no rules: the case tests nothing", tc.format)
		}
	}
}
