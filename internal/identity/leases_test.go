package identity

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// wantLease is a Lease in a form a table can spell: Expires in Unix
// seconds or never; MAC "" for nil.
type wantLease struct {
	Addr, MAC, Host string
	Expires         int64
}

// never is wantLease.Expires for the zero time, unlike the Unix epoch.
const never int64 = -1 << 62

func leaseForms(ls []Lease) []wantLease {
	out := []wantLease{}
	for _, l := range ls {
		w := wantLease{Addr: l.Addr.String(), Host: l.Hostname}
		if l.MAC != nil {
			w.MAC = l.MAC.String()
		}
		w.Expires = never
		if !l.Expires.IsZero() {
			w.Expires = l.Expires.Unix()
		}
		out = append(out, w)
	}
	return out
}

// leaseParseCase is a lease file and what a parser must make of it.
type leaseParseCase struct {
	name     string
	in       string
	want     []wantLease
	badLines []int // line numbers of the first bad lines
	badCount int
}

// checkParse compares the outcome of a parser with a case.
func checkParse(t *testing.T, tc leaseParseCase, got []Lease, err error) {
	t.Helper()
	want := tc.want
	if want == nil {
		want = []wantLease{}
	}
	if g := leaseForms(got); !slices.Equal(g, want) {
		t.Errorf("leases:\n got %+v\nwant %+v", g, want)
	}
	if tc.badCount == 0 {
		if err != nil {
			t.Errorf("err = %v, want nil", err)
		}
		return
	}
	var be *BadLinesError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want *BadLinesError", err)
	}
	if be.Count != tc.badCount {
		t.Errorf("Count = %d, want %d (%v)", be.Count, tc.badCount, be)
	}
	var lines []int
	for _, b := range be.First {
		lines = append(lines, b.Line)
		if b.Reason == "" {
			t.Errorf("line %d %q: empty reason", b.Line, b.Text)
		}
	}
	if !slices.Equal(lines, tc.badLines) {
		t.Errorf("bad lines = %v, want %v (%v)", lines, tc.badLines, be)
	}
}

// unixAt is the Unix time of an RFC 3339 time.
func unixAt(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.Unix()
}

// homeDnsmasq is a dnsmasq lease file of a dual-stack home network.
const homeDnsmasq = `1764200000 3c:22:fb:8e:41:d7 192.168.1.23 emmas-ipad 01:3c:22:fb:8e:41:d7
0 a0:63:91:2f:7c:10 192.168.1.50 * *
1764203600 52:54:00:12:34:56 192.168.1.60 Living-Room_TV ff:00:12:34:56:00:01:00:01:2c:5f:1a:2b:52:54:00:12:34:56
duid 00:01:00:01:2c:5f:1a:2b:52:54:00:aa:bb:cc
1764200000 305419896 2001:db8::23 emmas-ipad 00:01:00:01:2c:5f:1a:2b:3c:22:fb:8e:41:d7
1764207200 T12 2001:db8::99 * 00:03:00:01:52:54:00:12:34:56
`

func dnsmasqCases() []leaseParseCase {
	return []leaseParseCase{
		{name: "home network", in: homeDnsmasq, want: []wantLease{
			{"192.168.1.23", "3c:22:fb:8e:41:d7", "emmas-ipad", 1764200000},
			{"192.168.1.50", "a0:63:91:2f:7c:10", "", never},
			{"192.168.1.60", "52:54:00:12:34:56", "living-room-tv", 1764203600},
			{"2001:db8::23", "", "emmas-ipad", 1764200000},
			{"2001:db8::99", "", "", 1764207200},
		}},
		{name: "empty", in: ""},
		{name: "duid only", in: "duid 00:01:00:01:2c:5f:1a:2b:52:54:00:aa:bb:cc\n"},
		{name: "no final newline, CRLF, blank lines",
			in: "\r\n1764200000 3c:22:fb:8e:41:d7 192.168.1.23 emmas-ipad *\r\n\n0 a0:63:91:2f:7c:10 192.168.1.50 tv *",
			want: []wantLease{
				{"192.168.1.23", "3c:22:fb:8e:41:d7", "emmas-ipad", 1764200000},
				{"192.168.1.50", "a0:63:91:2f:7c:10", "tv", never},
			}},
		{name: "client id omitted", in: "1764200000 3c:22:fb:8e:41:d7 192.168.1.23 emmas-ipad\n",
			want: []wantLease{{"192.168.1.23", "3c:22:fb:8e:41:d7", "emmas-ipad", 1764200000}}},
		{name: "upper-case MAC and name", in: "1764200000 3C:22:FB:8E:41:D7 192.168.1.23 Emmas-iPad *\n",
			want: []wantLease{{"192.168.1.23", "3c:22:fb:8e:41:d7", "emmas-ipad", 1764200000}}},
		{name: "mapped address", in: "1764200000 3c:22:fb:8e:41:d7 ::ffff:192.168.1.23 emmas-ipad *\n",
			want: []wantLease{{"192.168.1.23", "3c:22:fb:8e:41:d7", "emmas-ipad", 1764200000}}},
		{name: "name that cleans to nothing", in: "1764200000 3c:22:fb:8e:41:d7 192.168.1.23 ___ *\n",
			want: []wantLease{{"192.168.1.23", "3c:22:fb:8e:41:d7", "", 1764200000}}},
		{name: "non-Ethernet and empty hardware addresses",
			in: "1764200000 20-80:00:00:48:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0f:6b:41 10.8.0.2 node1 *\n" +
				"1764200000 00- 10.8.0.3 node2 *\n" +
				"1764200000 01-52:54:00:12:34:56 10.8.0.4 node3 *\n",
			want: []wantLease{
				{"10.8.0.2", "", "node1", 1764200000},
				{"10.8.0.3", "", "node2", 1764200000},
				{"10.8.0.4", "52:54:00:12:34:56", "node3", 1764200000},
			}},
		{name: "bad lines skipped", in: "garbage\n" + // 1
			"1764200000 3c:22:fb:8e:41:d7 192.168.1.23 emmas-ipad *\n" + // 2
			"soon 3c:22:fb:8e:41:d7 192.168.1.24 a *\n" + // 3
			"-5 3c:22:fb:8e:41:d7 192.168.1.25 b *\n" + // 4
			"1764200000 zz:22:fb:8e:41:d7 192.168.1.26 c *\n" + // 5
			"1764200000 3c:22:fb:8e:41:d7 192.168.1.300 d *\n" + // 6
			"1764200000 3c:22:fb:8e:41:d7 2001:db8::1 e *\n" + // 7: MAC where the IAID goes
			"1764200000 1 2 3 4 5\n" + // 8
			"duid\n" + // 9
			"1764200000 3c:22:fb:8e:41:d7 192.168.1.27 " + strings.Repeat("x", 5000) + " *\n" + // 10
			"0 52:54:00:12:34:56 192.168.1.60 tv *\n", // 11
			want: []wantLease{
				{"192.168.1.23", "3c:22:fb:8e:41:d7", "emmas-ipad", 1764200000},
				{"192.168.1.60", "52:54:00:12:34:56", "tv", never},
			},
			badLines: []int{1, 3, 4}, badCount: 9},
		{name: "long last line without newline",
			in:   "0 52:54:00:12:34:56 192.168.1.60 tv *\n0 52:54:00:12:34:57 192.168.1.61 " + strings.Repeat("y", 5000),
			want: []wantLease{{"192.168.1.60", "52:54:00:12:34:56", "tv", never}}, badLines: []int{2}, badCount: 1},
	}
}

func TestParseDnsmasqLeases(t *testing.T) {
	for _, tc := range dnsmasqCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDnsmasqLeases(strings.NewReader(tc.in))
			checkParse(t, tc, got, err)
		})
	}
}

// homeISC is a dhcpd.leases as ISC dhcpd 4.4 writes it.
const homeISC = `# The format of this file is documented in the dhcpd.leases(5) manual page.
# This lease file was written by isc-dhcp-4.4.3

# authoring-byte-order entry is generated, DO NOT DELETE
authoring-byte-order little-endian;

server-duid "\000\001\000\001,_\032+RT\000\0224V";

failover peer "dhcp-failover" state {
  my state normal at 4 2026/11/26 09:00:00;
  partner state normal at 4 2026/11/26 09:00:00;
}

lease 192.168.1.23 {
  starts 4 2026/11/26 10:00:00;
  ends 4 2026/11/26 22:00:00;
  cltt 4 2026/11/26 10:00:00;
  binding state active;
  next binding state free;
  rewind binding state free;
  hardware ethernet 3c:22:fb:8e:41:d7;
  uid "\001<\"\373\216A\327";
  set vendor-class-identifier = "android-dhcp-14";
  client-hostname "emmas-ipad";
}
lease 192.168.1.50 {
  starts 4 2026/11/26 10:05:00;
  ends never;
  binding state active;
  hardware ethernet a0:63:91:2f:7c:10;
  on expiry { set gone = "yes; }"; }
}
lease 192.168.1.60 {
  starts 4 2026/11/26 10:06:00;
  ends 4 2026/11/26 10:30:00;
  tstp 4 2026/11/26 10:30:00;
  binding state free;
  hardware ethernet 52:54:00:12:34:56;
  client-hostname "old-tv";
}
`

func iscCases() []leaseParseCase {
	ends := unixAt("2026-11-26T22:00:00Z")
	return []leaseParseCase{
		{name: "home network", in: homeISC, want: []wantLease{
			{"192.168.1.23", "3c:22:fb:8e:41:d7", "emmas-ipad", ends},
			{"192.168.1.50", "a0:63:91:2f:7c:10", "", never},
		}},
		{name: "empty", in: ""},
		{name: "comments only", in: "# nothing\n   # here\n"},
		{name: "later block supersedes", in: `
lease 192.168.1.23 { ends 4 2026/11/26 12:00:00; binding state active; client-hostname "ipad"; }
lease 192.168.1.24 { binding state active; client-hostname "laptop"; }
lease 192.168.1.23 { ends 4 2026/11/26 22:00:00; binding state active; client-hostname "emmas-ipad"; }
`, want: []wantLease{
			{"192.168.1.24", "", "laptop", never},
			{"192.168.1.23", "", "emmas-ipad", ends},
		}},
		{name: "inactive bindings ignored and remove earlier", in: `
lease 192.168.1.23 { binding state active; client-hostname "gone"; }
lease 192.168.1.23 { binding state free; client-hostname "gone"; }
lease 192.168.1.24 { binding state expired; client-hostname "a"; }
lease 192.168.1.25 { binding state released; client-hostname "b"; }
lease 192.168.1.26 { binding state abandoned; client-hostname "c"; }
lease 192.168.1.27 { binding state backup; client-hostname "d"; }
lease 192.168.1.28 { binding state free; client-hostname "e"; }
lease 192.168.1.28 { binding state active; client-hostname "back"; }
lease 192.168.1.29 { next binding state active; binding state free; }
`, want: []wantLease{{"192.168.1.28", "", "back", never}}},
		{name: "no binding state counts as active", in: `lease 10.0.0.9 { hardware ethernet 3c:22:fb:8e:41:d7; client-hostname "x"; }`,
			want: []wantLease{{"10.0.0.9", "3c:22:fb:8e:41:d7", "x", never}}},
		{name: "escaped strings", in: `
lease 10.0.0.1 { client-hostname "Emma\'s \"iPad\""; }
lease 10.0.0.2 { client-hostname "Emma\047s\040iPad"; }
lease 10.0.0.3 { client-hostname "a;b}c{d#e"; }
lease 10.0.0.4 { client-hostname "\x41\x6c\x65\x78\\"; uid "\377\000\""; }
lease 10.0.0.5 { client-hostname "caf\303\251-tv"; }
`, want: []wantLease{
			{"10.0.0.1", "", "emmas-ipad", never},
			{"10.0.0.2", "", "emmas-ipad", never},
			{"10.0.0.3", "", "abcde", never},
			{"10.0.0.4", "", "alex", never},
			{"10.0.0.5", "", "caf-tv", never},
		}},
		{name: "epoch form", in: `
lease 192.168.1.23 {
  starts epoch 1764196400; # Wed Nov 26 22:33:20 2025
  ends epoch 1764200000; # Wed Nov 26 23:33:20 2025
  binding state active;
  hardware ethernet 3c:22:fb:8e:41:d7;
  client-hostname "emmas-ipad";
}`, want: []wantLease{{"192.168.1.23", "3c:22:fb:8e:41:d7", "emmas-ipad", 1764200000}}},
		{name: "hardware forms", in: `
lease 10.0.0.1 { hardware ethernet 0:1a:2b:3c:4d:5e; client-hostname "old-isc"; }
lease 10.0.0.2 { hardware token-ring 00:1a:2b:3c:4d:5e; client-hostname "ring"; }
`, want: []wantLease{
			{"10.0.0.1", "00:1a:2b:3c:4d:5e", "old-isc", never},
			{"10.0.0.2", "", "ring", never},
		}},
		{name: "DHCPv6 and host blocks skipped", in: `
ia-na "\001\000\000\000\000\001\000\001" {
  cltt 4 2026/11/26 10:00:00;
  iaaddr 2001:db8::23 {
    binding state active;
    ends 4 2026/11/26 22:00:00;
  }
}
host tv { dynamic; hardware ethernet 52:54:00:12:34:56; fixed-address 192.168.1.60; }
lease 192.168.1.23 { binding state active; client-hostname "emmas-ipad"; }
`, want: []wantLease{{"192.168.1.23", "", "emmas-ipad", never}}},
		{name: "bad blocks skipped", in: `lease 192.168.1.300 { binding state active; client-hostname "a"; }
lease 192.168.1.23 { binding state active; client-hostname "emmas-ipad"; }
lease 192.168.1.24 {
  ends 4 2026/13/40 99:00:00;
  client-hostname "b";
}
lease 192.168.1.25 { hardware ethernet zz:1a:2b:3c:4d:5e; }
lease 192.168.1.26 { binding state; }
lease 192.168.1.27 { client-hostname "c" }
lease 192.168.1.28 { ends 9 2026/11/26 22:00:00; }
lease 192.168.1.29 { ends epoch soon; }
lease 192.168.1.30 client-hostname "d";
}
lease 192.168.1.31 { binding state active; client-hostname "tv"; }
`, want: []wantLease{
			{"192.168.1.23", "", "emmas-ipad", never},
			{"192.168.1.31", "", "tv", never},
		}, badLines: []int{1, 4, 7}, badCount: 9},
		{name: "bad block drops the address", in: `
lease 192.168.1.23 { binding state active; client-hostname "emmas-ipad"; }
lease 192.168.1.23 { binding state active; ends someday; client-hostname "emmas-ipad"; }
`, badLines: []int{3}, badCount: 1},
		{name: "unterminated block", in: `lease 192.168.1.23 { binding state active; client-hostname "emmas-ipad"; }
lease 192.168.1.24 {
  binding state active;
`, want: []wantLease{{"192.168.1.23", "", "emmas-ipad", never}}, badLines: []int{2}, badCount: 1},
		{name: "unterminated string ends the parse", in: `lease 192.168.1.23 { binding state active; client-hostname "emmas-ipad"; }
lease 192.168.1.24 { client-hostname "oops; }
lease 192.168.1.25 { binding state active; }
`, want: []wantLease{{"192.168.1.23", "", "emmas-ipad", never}}, badLines: []int{2}, badCount: 1},
		{name: "unterminated top-level statement", in: `lease 192.168.1.23 { client-hostname "emmas-ipad"; }
authoring-byte-order little-endian`,
			want: []wantLease{{"192.168.1.23", "", "emmas-ipad", never}}, badLines: []int{2}, badCount: 1},
	}
}

func TestParseISCLeases(t *testing.T) {
	for _, tc := range iscCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseISCLeases(strings.NewReader(tc.in))
			checkParse(t, tc, got, err)
		})
	}
}

func TestBadLinesError(t *testing.T) {
	in := "one\n0 52:54:00:12:34:56 192.168.1.60 tv *\ntwo\nthree\nfour\n" + strings.Repeat("z", 300) + "\n"
	leases, err := ParseLeases(strings.NewReader(in), "dnsmasq")
	if len(leases) != 1 || leases[0].Hostname != "tv" {
		t.Errorf("leases = %+v, want the one good lease", leases)
	}
	var be *BadLinesError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want *BadLinesError", err)
	}
	want := &BadLinesError{Format: "dnsmasq", Count: 5, First: []BadLine{
		{Line: 1, Text: "one", Reason: "want 5 fields, have 1"},
		{Line: 3, Text: "two", Reason: "want 5 fields, have 1"},
		{Line: 4, Text: "three", Reason: "want 5 fields, have 1"},
	}}
	if be.Format != want.Format || be.Count != want.Count || !slices.Equal(be.First, want.First) {
		t.Errorf("err = %+v\nwant %+v", be, want)
	}
	msg := err.Error()
	for _, s := range []string{"dnsmasq leases", "5 bad lines", `line 1 "one"`, `line 4 "three"`, "..."} {
		if !strings.Contains(msg, s) {
			t.Errorf("message %q lacks %q", msg, s)
		}
	}

	// Quoted text is bounded, however long the line.
	_, err = ParseISCLeases(strings.NewReader(strings.Repeat("x ", 1000) + ";} " + strings.Repeat("y ", 1000) + ";"))
	if !errors.As(err, &be) || len(be.First) != 1 {
		t.Fatalf("err = %v, want one bad line", err)
	}
	if got := be.First[0].Text; len(got) > maxBadText || !strings.Contains(got, "}") {
		t.Errorf("quoted text %q (%d bytes): want at most %d bytes around the }", got, len(got), maxBadText)
	}
}

func TestParseLeases(t *testing.T) {
	tests := []struct {
		format  string
		in      string
		want    string // host name of the only lease
		wantErr string
	}{
		{format: "dnsmasq", in: "0 52:54:00:12:34:56 192.168.1.60 tv *\n", want: "tv"},
		{format: "isc", in: `lease 192.168.1.60 { client-hostname "tv"; }`, want: "tv"},
		{format: "ISC", wantErr: `lease file format "ISC"`},
		{format: "", wantErr: `lease file format ""`},
		{format: "dhcpd", wantErr: `lease file format "dhcpd"`},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			got, err := ParseLeases(strings.NewReader(tc.in), tc.format)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != 1 || got[0].Hostname != tc.want {
				t.Fatalf("got %+v, %v; want one lease named %q", got, err, tc.want)
			}
		})
	}
}

func TestParseLeasesReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	for _, format := range []string{"dnsmasq", "isc"} {
		t.Run(format, func(t *testing.T) {
			r := io.MultiReader(strings.NewReader("0 52:54:00:12:34:56 192.168.1.60 tv *\n"), iotest.ErrReader(boom))
			got, err := ParseLeases(r, format)
			var be *BadLinesError
			if !errors.Is(err, boom) || errors.As(err, &be) || got != nil {
				t.Fatalf("got %v, %v; want no leases and the read error", got, err)
			}
		})
	}
}

func TestCleanHostname(t *testing.T) {
	tests := []struct{ in, want string }{
		{"emmas-ipad", "emmas-ipad"},
		{"Emma's iPad", "emmas-ipad"},
		{"Living_Room TV", "living-room-tv"},
		{"laptop.lan", "laptop.lan"},
		{"laptop.lan.", "laptop.lan"},
		{"..a..b..", "a.b"},
		{"-edge-.-x-", "edge.x"},
		{"café", "caf"},
		{"", ""},
		{"***", ""},
		{"-", ""},
		{strings.Repeat("a", 70), strings.Repeat("a", 63)},
		{strings.Repeat("a", 62) + "-b", strings.Repeat("a", 62)},
		{strings.Repeat(strings.Repeat("a", 63)+".", 5), strings.Repeat(strings.Repeat("a", 63)+".", 2) + strings.Repeat("a", 63)}, // 4 labels would be 255 bytes
	}
	for _, tc := range tests {
		if got := cleanHostname(tc.in); got != tc.want {
			t.Errorf("cleanHostname(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func leaseMAC(s string) net.HardwareAddr {
	if s == "" {
		return nil
	}
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func TestLeasesHostname(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return now.Add(d) }
	lease := func(addr, hw, name string, exp time.Time) Lease {
		return Lease{Addr: netip.MustParseAddr(addr), MAC: leaseMAC(hw), Hostname: name, Expires: exp}
	}
	l := NewLeases([]Lease{
		lease("192.168.1.23", "3c:22:fb:8e:41:d7", "emmas-ipad", at(time.Hour)),
		lease("192.168.1.24", "3c:22:fb:8e:41:d8", "old-phone", at(-time.Hour)), // expired
		lease("192.168.1.25", "3c:22:fb:8e:41:d9", "just-gone", now),            // expires now
		lease("192.168.1.26", "52:54:00:12:34:56", "Living Room TV", time.Time{}),
		lease("192.168.1.27", "52:54:00:12:34:57", "", at(time.Hour)),   // no name
		lease("192.168.1.28", "52:54:00:12:34:58", "!!", at(time.Hour)), // cleans to nothing
		lease("192.168.1.40", "", "printer", at(time.Hour)),
		lease("2001:db8::23", "", "emmas-ipad-v6", at(time.Hour)),
		// The same MAC twice: the lease that lasts longer wins.
		lease("192.168.1.30", "aa:bb:cc:00:00:01", "short", at(time.Hour)),
		lease("192.168.1.31", "aa:bb:cc:00:00:01", "long", at(2*time.Hour)),
		lease("192.168.1.32", "aa:bb:cc:00:00:01", "shorter", at(time.Minute)),
	}, now)
	if got := l.Len(); got != 7 {
		t.Errorf("Len = %d, want 7", got)
	}

	tests := []struct {
		name     string
		addr, hw string
		want     string // "" for not found
	}{
		{name: "by MAC", addr: "10.9.9.9", hw: "3c:22:fb:8e:41:d7", want: "emmas-ipad"},
		{name: "by address", addr: "192.168.1.23", want: "emmas-ipad"},
		{name: "MAC preferred over address", addr: "192.168.1.26", hw: "3c:22:fb:8e:41:d7", want: "emmas-ipad"},
		{name: "unknown MAC falls back to address", addr: "192.168.1.40", hw: "de:ad:be:ef:00:01", want: "printer"},
		{name: "address held by another MAC", addr: "192.168.1.23", hw: "de:ad:be:ef:00:01"},
		{name: "mapped address", addr: "::ffff:192.168.1.23", want: "emmas-ipad"},
		{name: "zoned address", addr: "2001:db8::23%eth0", want: "emmas-ipad-v6"},
		{name: "IPv6", addr: "2001:db8::23", want: "emmas-ipad-v6"},
		{name: "infinite lease, name cleaned", addr: "192.168.1.26", want: "living-room-tv"},
		{name: "expired by address", addr: "192.168.1.24"},
		{name: "expired by MAC", hw: "3c:22:fb:8e:41:d8"},
		{name: "expiring now", addr: "192.168.1.25", hw: "3c:22:fb:8e:41:d9"},
		{name: "no name", addr: "192.168.1.27", hw: "52:54:00:12:34:57"},
		{name: "name cleaned to nothing", addr: "192.168.1.28"},
		{name: "longest lease of a MAC", hw: "aa:bb:cc:00:00:01", want: "long"},
		{name: "unknown", addr: "192.168.1.99"},
		{name: "zero MAC ignored", addr: "192.168.1.23", hw: "00:00:00:00:00:00", want: "emmas-ipad"},
		{name: "nothing", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a netip.Addr
			if tc.addr != "" {
				a = netip.MustParseAddr(tc.addr)
			}
			got, ok := l.Hostname(a, leaseMAC(tc.hw))
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("Hostname(%s, %s) = %q, %v; want %q", tc.addr, tc.hw, got, ok, tc.want)
			}
		})
	}

	var none *Leases
	if got, ok := none.Hostname(netip.MustParseAddr("192.168.1.23"), nil); ok || none.Len() != 0 {
		t.Errorf("nil Leases found %q", got)
	}
}

// TestLeasesFromFile runs a parsed file through NewLeases, as the caller
// does.
func TestLeasesFromFile(t *testing.T) {
	leases, err := ParseISCLeases(strings.NewReader(homeISC))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		now  string
		want string
	}{
		{now: "2026-11-26T21:59:59Z", want: "emmas-ipad"},
		{now: "2026-11-26T22:00:00Z", want: ""},
	}
	for _, tc := range tests {
		now, _ := time.Parse(time.RFC3339, tc.now)
		got, _ := NewLeases(leases, now).Hostname(netip.Addr{}, leaseMAC("3c:22:fb:8e:41:d7"))
		if got != tc.want {
			t.Errorf("at %s: Hostname = %q, want %q", tc.now, got, tc.want)
		}
	}
}

func TestLeasesHostnameAllocs(t *testing.T) {
	l := NewLeases([]Lease{{Addr: netip.MustParseAddr("192.168.1.23"), MAC: leaseMAC("3c:22:fb:8e:41:d7"), Hostname: "emmas-ipad"}}, time.Now())
	a, hw := netip.MustParseAddr("::ffff:192.168.1.23"), leaseMAC("3c:22:fb:8e:41:d8")
	if n := testing.AllocsPerRun(100, func() { l.Hostname(a, hw) }); n != 0 {
		t.Errorf("Hostname allocates %v times, want 0", n)
	}
}

// checkLeaseInvariants checks what any parse must give, whatever the input.
func checkLeaseInvariants(t *testing.T, leases []Lease, err error) {
	t.Helper()
	if err != nil {
		var be *BadLinesError
		if !errors.As(err, &be) {
			t.Fatalf("err = %v, want only *BadLinesError from a strings.Reader", err)
		}
		if be.Count < 1 || len(be.First) != min(be.Count, maxBadLines) {
			t.Fatalf("Count %d with %d examples", be.Count, len(be.First))
		}
		for i, b := range be.First {
			if b.Line < 1 || i > 0 && b.Line < be.First[i-1].Line || len(b.Text) > maxBadText || b.Reason == "" {
				t.Fatalf("bad example %d: %+v", i, b)
			}
		}
		_ = be.Error()
	}
	for _, l := range leases {
		if !l.Addr.IsValid() || l.Addr.Is4In6() || l.Addr.Zone() != "" {
			t.Fatalf("lease address %v not normalised", l.Addr)
		}
		if l.MAC != nil && len(l.MAC) != 6 {
			t.Fatalf("lease MAC %v: want nil or 6 bytes", l.MAC)
		}
		if c := cleanHostname(l.Hostname); c != l.Hostname {
			t.Fatalf("host name %q not clean (%q)", l.Hostname, c)
		}
	}
	// Every named, unexpired lease is found by its address and MAC.
	now := time.Unix(0, 0)
	idx := NewLeases(leases, now)
	for _, l := range leases {
		if l.Hostname == "" || !l.Expires.IsZero() && !l.Expires.After(now) {
			continue
		}
		if _, ok := idx.Hostname(l.Addr, nil); !ok {
			t.Fatalf("lease %+v not found by address", l)
		}
		if _, ok := macFrom(l.MAC); ok {
			if _, ok := idx.Hostname(netip.Addr{}, l.MAC); !ok {
				t.Fatalf("lease %+v not found by MAC", l)
			}
		}
	}
}

func FuzzParseDnsmasqLeases(f *testing.F) {
	for _, tc := range dnsmasqCases() {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		leases, err := ParseDnsmasqLeases(strings.NewReader(in))
		checkLeaseInvariants(t, leases, err)
	})
}

func FuzzParseISCLeases(f *testing.F) {
	for _, tc := range iscCases() {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		leases, err := ParseISCLeases(strings.NewReader(in))
		checkLeaseInvariants(t, leases, err)
		seen := map[netip.Addr]bool{}
		for _, l := range leases {
			if seen[l.Addr] {
				t.Fatalf("address %v twice: later blocks must supersede", l.Addr)
			}
			seen[l.Addr] = true
		}
	})
}
