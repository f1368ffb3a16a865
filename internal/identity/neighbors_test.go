package identity

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// arpReader returns a ReadARP that serves content.
func arpReader(content string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(content)), nil }
}

// homeARP is /proc/net/arp of a home router, spaced as the kernel does.
const homeARP = `IP address       HW type     Flags       HW address            Mask     Device
192.168.1.1      0x1         0x2         a0:63:91:2f:7c:10     *        eth0
192.168.1.23     0x1         0x2         3C:22:FB:8E:41:D7     *        wlan0
192.168.1.57     0x1         0x0         00:00:00:00:00:00     *        eth0
192.168.1.58     0x1         0x0         3c:22:fb:8e:41:d8     *        eth0
192.168.1.60     0x1         0x6         52:54:00:12:34:56     *        br0
192.168.1.61     0x1         0x2         00:00:00:00:00:00     *        br0
10.8.0.2         0x20        0x2         80:00:00:48:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0f:6b:41     *        ib0
`

func TestParseARP(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      map[string]string // address to MAC
		wantLine  int               // first bad line, 0 for no error
		wantCount int
	}{
		{name: "home router", in: homeARP, want: map[string]string{
			"192.168.1.1":  "a0:63:91:2f:7c:10",
			"192.168.1.23": "3c:22:fb:8e:41:d7",
			"192.168.1.60": "52:54:00:12:34:56",
		}},
		{name: "empty", in: "", want: map[string]string{}},
		{name: "header only", in: "IP address       HW type     Flags       HW address            Mask     Device\n", want: map[string]string{}},
		{name: "no header", in: "192.168.1.1 0x1 0x2 a0:63:91:2f:7c:10 * eth0", want: map[string]string{"192.168.1.1": "a0:63:91:2f:7c:10"}},
		{name: "blank lines", in: "\n\n192.168.1.1 0x1 0x2 a0:63:91:2f:7c:10 * eth0\n\n", want: map[string]string{"192.168.1.1": "a0:63:91:2f:7c:10"}},
		{name: "bad lines skipped", in: "IP address       HW type     Flags       HW address            Mask     Device\n" +
			"192.168.1.1      0x1         0x2         a0:63:91:2f:7c:10     *        eth0\n" +
			"garbage\n" +
			"192.168.1.300    0x1         0x2         a0:63:91:2f:7c:11     *        eth0\n" +
			"fe80::1          0x1         0x2         a0:63:91:2f:7c:12     *        eth0\n" +
			"192.168.1.5      0x1         2           a0:63:91:2f:7c:13     *        eth0\n" +
			"192.168.1.6      0x1         0xzz        a0:63:91:2f:7c:14     *        eth0\n" +
			"192.168.1.7      0x1         0x2         not-a-mac             *        eth0\n" +
			"192.168.1.8      0x1         0x2         a0:63:91:2f:7c:15     *        eth0\n",
			want:     map[string]string{"192.168.1.1": "a0:63:91:2f:7c:10", "192.168.1.8": "a0:63:91:2f:7c:15"},
			wantLine: 3, wantCount: 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseARP(strings.NewReader(tc.in))
			got := map[string]string{}
			for a, e := range m {
				got[a.String()] = e.text
				if e.hw.String() != e.text || e.mac.String() != e.text {
					t.Errorf("%v: forms disagree: %v %v %q", a, e.hw, e.mac, e.text)
				}
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("entries = %v, want %v", got, tc.want)
			}
			var se *arpSyntaxError
			switch {
			case tc.wantLine == 0 && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.wantLine != 0 && !errors.As(err, &se):
				t.Errorf("error %v, want a syntax error", err)
			case tc.wantLine != 0 && (se.Line != tc.wantLine || se.Count != tc.wantCount):
				t.Errorf("error at line %d with %d bad lines, want line %d and %d: %v", se.Line, se.Count, tc.wantLine, tc.wantCount, err)
			}
		})
	}
}

// TestParseARPReadError checks that a failing reader is a read failure,
// not a table with bad lines.
func TestParseARPReadError(t *testing.T) {
	r := io.MultiReader(strings.NewReader("192.168.1.1 0x1 0x2 a0:63:91:2f:7c:10 * eth0\n"), errReader{})
	m, err := parseARP(r)
	var se *arpSyntaxError
	if err == nil || errors.As(err, &se) || m != nil {
		t.Fatalf("parseARP = %v, %v; want nil and a read error", m, err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func FuzzParseARP(f *testing.F) {
	f.Add(homeARP)
	f.Add("192.168.1.1 0x1 0x2 a0:63:91:2f:7c:10 * eth0")
	f.Add("IP\n1.2.3.4 0x1 0xffffffff 01:02:03:04:05:06\n::ffff:1.2.3.4 0x1 0x2 01:02:03:04:05:06")
	f.Add("1.2.3.4 0x1 0x2 0102.0304.0506 * eth0\n1.2.3.4 0x1 0x 01-02-03-04-05-06")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := parseARP(strings.NewReader(in))
		var se *arpSyntaxError
		if err != nil && !errors.As(err, &se) {
			// Only a line longer than the scanner's buffer fails to read.
			return
		}
		if err != nil && (se.Line < 1 || se.Count < 1 || !strings.Contains(in, se.Text)) {
			t.Fatalf("bad syntax error %+v", se)
		}
		for a, e := range m {
			if !a.Is4() || a.Zone() != "" {
				t.Fatalf("address %v is not plain IPv4", a)
			}
			if len(e.hw) != 6 || e.mac == (mac{}) || e.hw.String() != e.text || e.mac.String() != e.text {
				t.Fatalf("%v: bad entry %+v", a, e)
			}
		}
	})
}

func lookup(t *testing.T, n *Neighbors, addr string) string {
	t.Helper()
	m, ok := n.Lookup(netip.MustParseAddr(addr))
	if !ok {
		return ""
	}
	text := m.String()
	_, s, ok2 := n.lookupMAC(netip.MustParseAddr(addr))
	if !ok2 || s != text {
		t.Errorf("%s: lookupMAC %q, Lookup %q", addr, s, text)
	}
	return text
}

func TestNeighborsRefresh(t *testing.T) {
	var (
		arp     = homeARP
		arpErr  error
		v6      []Neighbor
		v6Err   error
		reads   int
		listing int
	)
	n := NewNeighbors(NeighborsConfig{
		ReadARP: func() (io.ReadCloser, error) {
			reads++
			if arpErr != nil {
				return nil, arpErr
			}
			return io.NopCloser(strings.NewReader(arp)), nil
		},
		ListIPv6: func() ([]Neighbor, error) { listing++; return v6, v6Err },
	})
	if _, ok := n.Lookup(netip.MustParseAddr("192.168.1.1")); ok {
		t.Fatal("lookup before the first refresh found an entry")
	}
	var nilTable *Neighbors
	if _, ok := nilTable.Lookup(netip.MustParseAddr("192.168.1.1")); ok {
		t.Fatal("nil table found an entry")
	}

	v6 = []Neighbor{
		{Addr: netip.MustParseAddr("fe80::1%eth0"), MAC: hw("a0:63:91:2f:7c:10")},
		{Addr: netip.MustParseAddr("2001:db8::23"), MAC: hw("3c:22:fb:8e:41:d7")},
		{Addr: netip.MustParseAddr("2001:db8::24"), MAC: hw("02:00:5e:10:00:00:00:01")}, // EUI-64: skipped
		{Addr: netip.MustParseAddr("192.168.1.99"), MAC: hw("3c:22:fb:8e:41:d9")},       // not IPv6: skipped
	}
	if err := n.Refresh(); err != nil {
		t.Fatal(err)
	}
	checks := func(step string, want map[string]string) {
		t.Helper()
		for addr, w := range want {
			if got := lookup(t, n, addr); got != w {
				t.Errorf("%s: Lookup(%s) = %q, want %q", step, addr, got, w)
			}
		}
	}
	checks("first", map[string]string{
		"192.168.1.1":         "a0:63:91:2f:7c:10",
		"::ffff:192.168.1.23": "3c:22:fb:8e:41:d7",
		"192.168.1.57":        "",
		"fe80::1":             "a0:63:91:2f:7c:10",
		"fe80::1%wlan0":       "a0:63:91:2f:7c:10",
		"2001:db8::23":        "3c:22:fb:8e:41:d7",
		"2001:db8::24":        "",
		"192.168.1.99":        "",
	})

	// The ARP table cannot be read: IPv4 keeps its entries, IPv6 moves on.
	arpErr = errors.New("permission denied")
	v6 = v6[1:2]
	if err := n.Refresh(); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Refresh = %v, want the ARP error", err)
	}
	checks("ARP failed", map[string]string{"192.168.1.1": "a0:63:91:2f:7c:10", "fe80::1": "", "2001:db8::23": "3c:22:fb:8e:41:d7"})

	// Netlink fails: IPv6 keeps its entries, IPv4 moves on.
	arpErr, v6Err = nil, errors.New("netlink closed")
	arp = "192.168.1.2 0x1 0x2 a0:63:91:2f:7c:11 * eth0\n"
	if err := n.Refresh(); err == nil || !strings.Contains(err.Error(), "netlink closed") {
		t.Errorf("Refresh = %v, want the netlink error", err)
	}
	checks("netlink failed", map[string]string{"192.168.1.1": "", "192.168.1.2": "a0:63:91:2f:7c:11", "2001:db8::23": "3c:22:fb:8e:41:d7"})

	// Bad lines are reported but the good ones are used.
	v6Err = nil
	arp = "192.168.1.3 0x1 0x2 a0:63:91:2f:7c:12 * eth0\nnonsense\n"
	if err := n.Refresh(); err == nil || !strings.Contains(err.Error(), `"nonsense"`) {
		t.Errorf("Refresh = %v, want the bad line quoted", err)
	}
	checks("bad line", map[string]string{"192.168.1.2": "", "192.168.1.3": "a0:63:91:2f:7c:12"})
	if reads != 4 || listing != 4 {
		t.Errorf("read ARP %d and IPv6 %d times, want 4 each", reads, listing)
	}
}

// TestNeighborsRun drives Run with a fake ticker: it refreshes at once,
// then on every tick, and returns when the context ends.
func TestNeighborsRun(t *testing.T) {
	reads := make(chan int, 10)
	count := 0
	n := NewNeighbors(NeighborsConfig{
		ReadARP: func() (io.ReadCloser, error) {
			count++
			reads <- count
			// Each read sees one more host: 192.168.1.1 .. 192.168.1.count.
			var b strings.Builder
			for i := 1; i <= count; i++ {
				b.WriteString(netip.AddrFrom4([4]byte{192, 168, 1, byte(i)}).String() + " 0x1 0x2 a0:63:91:2f:7c:10 * eth0\n")
			}
			return io.NopCloser(strings.NewReader(b.String())), nil
		},
		ListIPv6: func() ([]Neighbor, error) { return nil, nil },
	})
	ticks := make(chan time.Time)
	stopped := make(chan struct{})
	var period time.Duration
	n.ticker = func(d time.Duration) (<-chan time.Time, func()) {
		period = d
		return ticks, func() { close(stopped) }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		n.Run(ctx, time.Minute)
		close(done)
	}()
	if got := <-reads; got != 1 {
		t.Fatalf("first read %d", got)
	}
	ticks <- time.Time{}
	if got := <-reads; got != 2 {
		t.Fatalf("read after tick %d, want 2", got)
	}
	ticks <- time.Time{} // received only once the second refresh is done
	cancel()
	<-done
	<-stopped
	if period != time.Minute {
		t.Errorf("ticker period %v, want 1m", period)
	}
	if c := len(reads); c != 1 {
		t.Errorf("%d reads after the second tick, want 1", c)
	}
	for i, want := range map[int]bool{1: true, 2: true, 3: true, 4: false} {
		a := netip.AddrFrom4([4]byte{192, 168, 1, byte(i)})
		if _, ok := n.Lookup(a); ok != want {
			t.Errorf("Lookup(%v) = %v, want %v", a, ok, want)
		}
	}
}

// TestNeighborsAsTable checks that Identify takes the MAC text from
// *Neighbors and that a generic table gives the same result.
func TestNeighborsAsTable(t *testing.T) {
	n := NewNeighbors(NeighborsConfig{ReadARP: arpReader(homeARP), ListIPv6: func() ([]Neighbor, error) { return nil, nil }})
	if err := n.Refresh(); err != nil {
		t.Fatal(err)
	}
	for _, table := range []NeighborTable{n, fakeNeighbors{netip.MustParseAddr("192.168.1.23"): hw("3c:22:fb:8e:41:d7")}} {
		c := testConfig()
		c.Neighbors = table
		id := newTestIdentifier(t, c)
		got := id.Identify(request(query(), "192.168.1.23:5353"))
		if w := want("lan", "cidr", "3c:22:fb:8e:41:d7"); got != w {
			t.Errorf("%T: Identify = %+v, want %+v", table, got, w)
		}
	}
}

// TestNeighborsConcurrent lets the race detector watch queries read the
// table while refreshes replace it.
func TestNeighborsConcurrent(t *testing.T) {
	n := NewNeighbors(NeighborsConfig{ReadARP: arpReader(homeARP), ListIPv6: func() ([]Neighbor, error) { return nil, nil }})
	c := testConfig()
	c.Neighbors = n
	id := newTestIdentifier(t, c)
	r := request(query(), "192.168.1.23:5353")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			if err := n.Refresh(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 200 {
		if got := id.Identify(r); got.Device != "lan" {
			t.Fatalf("Identify = %+v", got)
		}
	}
	<-done
	if got := id.Identify(r); got.MAC != "3c:22:fb:8e:41:d7" {
		t.Errorf("MAC after refreshes = %q", got.MAC)
	}
}
