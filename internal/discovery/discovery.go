// Package discovery records the devices Hearth sees for the first time as
// new devices of the home household, for a parent to name and claim. The
// query path only offers an unknown source (Recorder.Unknown), without
// waiting; one goroutine (Recorder.Run) names the device from the DHCP
// leases or the local records and writes it to the store.
//
// A Limiter (package devicelimit) keeps a flood of sources from filling
// the list: only LAN sources are offered, each source has an allowance,
// and when the list is full its oldest unclaimed device is evicted.
package discovery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hearth-dns/hearth/internal/devicelimit"
	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/netid"
	"github.com/hearth-dns/hearth/internal/store"
)

// Config configures a Recorder.
type Config struct {
	// Store receives the new devices.
	Store store.Store
	// Limit says which sources may create devices, and how often;
	// required.
	Limit *devicelimit.Limiter
	// Max is the most unclaimed new devices kept: past it, the oldest is
	// evicted to make room. 0 means no limit.
	Max int
	// Leases and LeasesFormat name the DHCP leases file devices are
	// named from ("" for none); see identity.ParseLeases.
	Leases, LeasesFormat string
	// Names are the local records' addresses and names, for naming a
	// device the leases do not know.
	Names map[netip.Addr]string
	// Observe, when set, hears the outcome of each offered source:
	// "recorded", "known" (a stored device has it: the policy had not
	// caught up), "limited" (its allowance is used up) or "failed".
	Observe func(addr netip.Addr, outcome string)
	// Now is the clock of FirstSeen; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Recorder records devices seen for the first time. The query path only
// checks the source against the LAN networks and reads an immutable set,
// and for a source not in it offers it to a small queue without waiting;
// Run does the rest.
type Recorder struct {
	store   store.Store
	limit   *devicelimit.Limiter
	now     func() time.Time
	log     *slog.Logger
	observe func(netip.Addr, string)
	max     int
	leases  string
	format  string
	names   map[netip.Addr]string

	// seen are the sources recorded and not evicted since: an immutable
	// map, replaced whole by Run (copy on write), reset past seenCap.
	seen  atomic.Pointer[map[netip.Addr]struct{}]
	queue chan unknownSource
}

// seenCap bounds the seen set. Forgetting costs little: a source
// already recorded is identified by the policy and no longer offered.
const seenCap = 4096

type unknownSource struct {
	addr netip.Addr
	mac  string
	// done, when set, marks a Flush: Run closes it when it gets there.
	done chan struct{}
}

// New returns a Recorder.
func New(c Config) (*Recorder, error) {
	if c.Store == nil || c.Limit == nil {
		return nil, errors.New("discovery: store and limit are required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{
		store: c.Store, limit: c.Limit, now: c.Now, log: c.Logger, observe: c.Observe, max: c.Max,
		leases: c.Leases, format: c.LeasesFormat,
		names: c.Names, queue: make(chan unknownSource, 64),
	}
	empty := map[netip.Addr]struct{}{}
	r.seen.Store(&empty)
	return r, nil
}

// Unknown offers a source no device claims (observe.Discoverer). It runs
// on the query path: it never waits, and drops the offer when the queue is
// full (the source's next query offers it again).
func (r *Recorder) Unknown(addr netip.Addr, mac string) {
	if !r.limit.InLAN(addr) {
		return
	}
	if _, ok := (*r.seen.Load())[addr]; ok {
		return
	}
	select {
	case r.queue <- unknownSource{addr: addr, mac: mac}:
	default: // busy: the next query from that source offers it again
	}
}

// Flush returns once Run has handled every source offered before the
// call (recorded it, or logged why not), or when ctx ends.
func (r *Recorder) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case r.queue <- unknownSource{done: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run records the offered sources until ctx ends.
func (r *Recorder) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-r.queue:
			if u.done != nil {
				close(u.done)
				continue
			}
			if _, ok := (*r.seen.Load())[u.addr]; ok {
				continue
			}
			// Refused sources stay out of seen: their next query offers
			// them again, and the allowance decides again.
			if !r.limit.Admit(u.addr) {
				r.log.Debug("new device not recorded: the source's allowance is used up", "addr", u.addr)
				r.outcome(u.addr, "limited")
				continue
			}
			evicted, known, err := r.record(ctx, u)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				r.log.Warn("recording a new device", "addr", u.addr, "err", err)
				r.outcome(u.addr, "failed")
				continue
			}
			if known {
				// A device of the store has it already: the policy in
				// effect did not know it yet (a reload or a sync under
				// way). Seen, so that it is not looked up again.
				r.log.Debug("new device not recorded: a stored device has its address", "addr", u.addr)
			}
			old := *r.seen.Load()
			next := make(map[netip.Addr]struct{}, len(old)+1)
			if len(old) < seenCap {
				for k := range old {
					next[k] = struct{}{}
				}
			}
			for _, a := range evicted {
				delete(next, a)
			}
			next[u.addr] = struct{}{}
			r.seen.Store(&next)
			if known {
				r.outcome(u.addr, "known")
			} else {
				r.outcome(u.addr, "recorded")
			}
		}
	}
}

func (r *Recorder) outcome(addr netip.Addr, what string) {
	if r.observe != nil {
		r.observe(addr, what)
	}
}

// record adds one new device to the store, first evicting the oldest
// unclaimed ones if the list is full, and returns the evicted devices'
// addresses; the store's change feed then brings it into the policy.
func (r *Recorder) record(ctx context.Context, u unknownSource) (evicted []netip.Addr, known bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, deviceRecordTimeout)
	defer cancel()
	var hw net.HardwareAddr
	if u.mac != "" {
		hw, _ = netid.ParseMAC(u.mac)
	}
	// The policy in effect may lag the store (a reload builds it from a
	// state read a moment ago): a stored device may hold the source
	// already, and a second device for it would take its address away.
	if known, err := r.stored(ctx, u.addr, hw); err != nil || known {
		return nil, known, err
	}
	evicted, err = r.evict(ctx)
	if err != nil {
		return nil, false, err
	}
	// The name a DHCP client sent is the network's to choose: keep it
	// only in the form the API accepts, so that a parent can claim the
	// device without first correcting it.
	host, err := netid.ParseHostname(r.hostname(u.addr, hw))
	if err != nil {
		host = ""
	}
	id := make([]byte, 4)
	rand.Read(id)
	d := store.Device{
		ID:        "dev-" + hex.EncodeToString(id),
		Household: store.HomeHousehold,
		Name:      host,
		Hostname:  host,
		New:       true,
		FirstSeen: r.now().UTC(),
	}
	if d.Name == "" {
		d.Name = u.addr.String()
	}
	if len(d.Name) > maxName {
		d.Name = d.Name[:maxName] // ASCII: a checked host name
	}
	// A MAC outlives DHCP address changes: when there is one, it alone
	// identifies the device.
	if hw != nil {
		d.MACs = []string{hw.String()}
	} else {
		d.IPs = []string{u.addr.String()}
	}
	if _, err := r.store.PutDevice(ctx, d); err != nil {
		return evicted, false, err
	}
	r.log.Info("new device", "device", d.ID, "name", d.Name, "addr", u.addr, "mac", u.mac)
	return evicted, false, nil
}

// stored reports whether a device of the home household already has the
// address addr or the hardware address hw.
func (r *Recorder) stored(ctx context.Context, addr netip.Addr, hw net.HardwareAddr) (bool, error) {
	ds, err := r.store.Devices(ctx, store.HomeHousehold)
	if err != nil {
		return false, err
	}
	ip := addr.String()
	for _, d := range ds {
		if hw == nil && slices.Contains(d.IPs, ip) || hw != nil && slices.Contains(d.MACs, hw.String()) {
			return true, nil
		}
	}
	return false, nil
}

// evict deletes the oldest unclaimed new devices so that one more fits
// under max, and returns their addresses.
func (r *Recorder) evict(ctx context.Context) ([]netip.Addr, error) {
	if r.max <= 0 {
		return nil, nil
	}
	devices, err := r.store.Devices(ctx, store.HomeHousehold)
	if err != nil {
		return nil, fmt.Errorf("listing new devices: %w", err)
	}
	var unclaimed []devicelimit.Unclaimed
	byID := map[string]store.Device{}
	for _, d := range devices {
		if d.New {
			unclaimed = append(unclaimed, devicelimit.Unclaimed{ID: d.ID, FirstSeen: d.FirstSeen})
			byID[d.ID] = d
		}
	}
	var addrs []netip.Addr
	for _, id := range devicelimit.Evict(unclaimed, r.max) {
		if err := r.store.DeleteDevice(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return addrs, fmt.Errorf("evicting new device %s: %w", id, err)
		}
		for _, s := range byID[id].IPs {
			if a, err := netid.ParseIP(s); err == nil {
				addrs = append(addrs, a)
			}
		}
		r.log.Info("new device evicted: the list of unclaimed devices is full", "device", id, "max", r.max)
	}
	return addrs, nil
}

// hostname names a device from the DHCP leases or the local records.
func (r *Recorder) hostname(addr netip.Addr, hw net.HardwareAddr) string {
	if r.leases != "" {
		f, err := os.Open(r.leases)
		if err == nil {
			leases, perr := identity.ParseLeases(f, r.format)
			f.Close()
			var bad *identity.BadLinesError
			if perr != nil && !errors.As(perr, &bad) {
				r.log.Warn("reading DHCP leases", "file", r.leases, "err", perr)
			}
			if name, ok := identity.NewLeases(leases, r.now()).Hostname(addr, hw); ok {
				return name
			}
		} else {
			r.log.Warn("reading DHCP leases", "err", err)
		}
	}
	return r.names[addr]
}

// maxName is the API's limit on a device's display name.
const maxName = 64

// deviceRecordTimeout bounds one store write of the recorder.
const deviceRecordTimeout = 5 * time.Second
