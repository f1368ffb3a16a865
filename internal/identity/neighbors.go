package identity

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// NeighborTable maps a LAN address to the hardware address of the host
// that has it. Lookup is called on the query path: it must not do I/O or
// wait for a lock, and must be safe for concurrent use.
type NeighborTable interface {
	Lookup(netip.Addr) (net.HardwareAddr, bool)
}

var _ NeighborTable = (*Neighbors)(nil)

// Neighbor is one entry of a neighbour table.
type Neighbor struct {
	Addr netip.Addr
	MAC  net.HardwareAddr
}

// NeighborsConfig says where Neighbors reads the kernel's tables. The
// zero value reads the running Linux kernel's.
type NeighborsConfig struct {
	// ReadARP opens the IPv4 table in the format of /proc/net/arp;
	// nil opens /proc/net/arp.
	ReadARP func() (io.ReadCloser, error)
	// ListIPv6 returns the IPv6 neighbours; nil asks the kernel with a
	// netlink RTM_GETNEIGH dump on Linux and finds none elsewhere.
	// Netlink rather than parsing `ip -6 neigh`: no dependency on a
	// binary, no process per refresh, and the same data.
	ListIPv6 func() ([]Neighbor, error)
	// Logger receives refresh failures; nil discards them.
	Logger *slog.Logger
}

// Neighbors is the local neighbour table (ARP for IPv4, NDP for IPv6): an
// immutable snapshot read by Lookup, rebuilt by Refresh. Only EUI-48
// entries that are complete (reachable, stale, permanent...) are kept.
type Neighbors struct {
	readARP  func() (io.ReadCloser, error)
	listIPv6 func() ([]Neighbor, error)
	log      *slog.Logger
	snap     atomic.Pointer[neighborSnapshot]
	// ticker makes Run's clock replaceable in tests.
	ticker func(time.Duration) (<-chan time.Time, func())
}

type neighborSnapshot struct {
	v4, v6 map[netip.Addr]neighborEntry
}

// neighborEntry keeps a MAC in the forms Lookup and Identify return, made
// once per refresh rather than once per query.
type neighborEntry struct {
	hw   net.HardwareAddr
	mac  mac
	text string
}

func newEntry(m mac) neighborEntry {
	return neighborEntry{hw: m.hardwareAddr(), mac: m, text: m.String()}
}

// NewNeighbors returns an empty table; call Refresh or Run to fill it.
func NewNeighbors(c NeighborsConfig) *Neighbors {
	n := &Neighbors{readARP: c.ReadARP, listIPv6: c.ListIPv6, log: c.Logger}
	if n.readARP == nil {
		n.readARP = func() (io.ReadCloser, error) { return os.Open("/proc/net/arp") }
	}
	if n.listIPv6 == nil {
		n.listIPv6 = listIPv6Neighbors
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.ticker = func(d time.Duration) (<-chan time.Time, func()) {
		t := time.NewTicker(d)
		return t.C, t.Stop
	}
	return n
}

// Lookup returns the MAC of a neighbour. It reads the current snapshot
// only. The returned slice is shared and must not be modified.
func (n *Neighbors) Lookup(a netip.Addr) (net.HardwareAddr, bool) {
	e, ok := n.lookup(a)
	return e.hw, ok
}

// lookupMAC is Lookup in Identify's terms, with the text made in advance.
func (n *Neighbors) lookupMAC(a netip.Addr) (mac, string, bool) {
	e, ok := n.lookup(a)
	return e.mac, e.text, ok
}

func (n *Neighbors) lookup(a netip.Addr) (neighborEntry, bool) {
	if n == nil {
		return neighborEntry{}, false
	}
	s := n.snap.Load()
	if s == nil {
		return neighborEntry{}, false
	}
	a = a.Unmap().WithZone("")
	m := s.v6
	if a.Is4() {
		m = s.v4
	}
	e, ok := m[a]
	return e, ok
}

// Refresh reads both tables and swaps in a new snapshot. A family that
// fails to read keeps its previous entries, and the error is returned;
// lines of the ARP table that do not parse are skipped and reported.
func (n *Neighbors) Refresh() error {
	old := n.snap.Load()
	if old == nil {
		old = &neighborSnapshot{}
	}
	next := &neighborSnapshot{v4: old.v4, v6: old.v6}
	var errs []error
	if v4, err := n.readV4(); v4 != nil {
		next.v4 = v4
		if err != nil {
			errs = append(errs, err)
		}
	} else {
		errs = append(errs, err)
	}
	if list, err := n.listIPv6(); err != nil {
		errs = append(errs, fmt.Errorf("listing IPv6 neighbours: %w", err))
	} else {
		v6 := make(map[netip.Addr]neighborEntry, len(list))
		for _, nb := range list {
			a := nb.Addr.WithZone("")
			m, ok := macFrom(nb.MAC)
			if a.Is6() && !a.Is4In6() && ok {
				v6[a] = newEntry(m)
			}
		}
		next.v6 = v6
	}
	n.snap.Store(next)
	return errors.Join(errs...)
}

// readV4 returns nil and an error when the table cannot be read; entries
// and an error when some lines were skipped.
func (n *Neighbors) readV4() (map[netip.Addr]neighborEntry, error) {
	rc, err := n.readARP()
	if err != nil {
		return nil, fmt.Errorf("reading ARP table: %w", err)
	}
	defer rc.Close()
	m, err := parseARP(rc)
	var se *arpSyntaxError
	if err != nil && !errors.As(err, &se) {
		return nil, fmt.Errorf("reading ARP table: %w", err)
	}
	return m, err
}

// Run refreshes the table now and then every period until ctx is done,
// logging failures; the last good entries keep serving meanwhile. every
// must be positive.
func (n *Neighbors) Run(ctx context.Context, every time.Duration) {
	if err := n.Refresh(); err != nil {
		n.log.Warn("neighbour table refresh", "err", err)
	}
	tick, stop := n.ticker(every)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if err := n.Refresh(); err != nil {
				n.log.Warn("neighbour table refresh", "err", err)
			}
		}
	}
}

// ARP entry flags from linux/if_arp.h.
const atfComplete = 0x02

// arpSyntaxError reports the lines of an ARP table that were skipped.
type arpSyntaxError struct {
	Line   int    // first bad line, from 1
	Text   string // its text
	Reason string
	Count  int // bad lines in all
}

func (e *arpSyntaxError) Error() string {
	return fmt.Sprintf("ARP table line %d %q: %s (%d bad lines)", e.Line, e.Text, e.Reason, e.Count)
}

// parseARP reads a table in the format of /proc/net/arp:
//
//	IP address       HW type     Flags       HW address            Mask     Device
//	192.168.1.1      0x1         0x2         a0:b1:c2:d3:e4:f5     *        eth0
//
// It keeps complete entries with a non-zero EUI-48 address and skips the
// rest: incomplete ones (flags 0x0, address 00:00:00:00:00:00) silently,
// unparsable lines with an *arpSyntaxError returned beside the entries.
// Any other error is a read failure.
func parseARP(r io.Reader) (map[netip.Addr]neighborEntry, error) {
	m := map[netip.Addr]neighborEntry{}
	var bad *arpSyntaxError
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		f := strings.Fields(text)
		if len(f) == 0 || line == 1 && f[0] == "IP" {
			continue
		}
		a, e, reason := parseARPLine(f)
		if reason != "" {
			if bad == nil {
				bad = &arpSyntaxError{Line: line, Text: text, Reason: reason}
			}
			bad.Count++
			continue
		}
		if a.IsValid() {
			m[a] = e
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if bad != nil {
		return m, bad
	}
	return m, nil
}

// parseARPLine parses the fields of one line. It returns an invalid
// address for an entry to skip and a reason for a line that is wrong.
func parseARPLine(f []string) (netip.Addr, neighborEntry, string) {
	if len(f) < 4 {
		return netip.Addr{}, neighborEntry{}, fmt.Sprintf("want at least 4 fields, have %d", len(f))
	}
	a, err := netip.ParseAddr(f[0])
	if err != nil || !a.Is4() {
		return netip.Addr{}, neighborEntry{}, fmt.Sprintf("bad IPv4 address %q", f[0])
	}
	flags, err := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 32)
	if err != nil || !strings.HasPrefix(f[2], "0x") {
		return netip.Addr{}, neighborEntry{}, fmt.Sprintf("bad flags %q", f[2])
	}
	hw, err := net.ParseMAC(f[3])
	if err != nil {
		return netip.Addr{}, neighborEntry{}, fmt.Sprintf("bad hardware address %q", f[3])
	}
	mc, ok := macFrom(hw)
	if flags&atfComplete == 0 || !ok {
		return netip.Addr{}, neighborEntry{}, ""
	}
	return a, newEntry(mc), ""
}
