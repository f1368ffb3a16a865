// Package discovery records the devices Hearth sees for the first time as
// new devices of the home household, for a parent to name and claim. The
// query path only offers an unknown source (Recorder.Unknown), without
// waiting; one goroutine (Recorder.Run) names the device from the DHCP
// leases or the local records and writes it to the store.
package discovery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/store"
)

// Config configures a Recorder.
type Config struct {
	// Store receives the new devices.
	Store store.Store
	// Max is the most unclaimed new devices kept; 0 means no limit.
	Max int
	// Leases and LeasesFormat name the DHCP leases file devices are
	// named from ("" for none); see identity.ParseLeases.
	Leases, LeasesFormat string
	// Names are the local records' addresses and names, for naming a
	// device the leases do not know.
	Names map[netip.Addr]string
	// Now is the clock of FirstSeen; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Recorder records devices seen for the first time. The query path only
// reads an immutable set and, for a source not in it, offers it to a
// small queue without waiting; Run does the rest.
type Recorder struct {
	store  store.Store
	now    func() time.Time
	log    *slog.Logger
	max    int
	leases string
	format string
	names  map[netip.Addr]string

	// seen are the sources already offered: an immutable map, replaced
	// whole by run (copy on write; the set stays small, bounded by max).
	seen  atomic.Pointer[map[netip.Addr]struct{}]
	full  atomic.Bool
	queue chan unknownSource
	// recorded counts new devices in the store, for max.
	recorded int
}

type unknownSource struct {
	addr netip.Addr
	mac  string
}

// New returns a Recorder; st is the store's state, for counting the
// unclaimed devices already recorded.
func New(c Config, st store.State) *Recorder {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{
		store: c.Store, now: c.Now, log: c.Logger, max: c.Max,
		leases: c.Leases, format: c.LeasesFormat,
		names: c.Names, queue: make(chan unknownSource, 64),
	}
	empty := map[netip.Addr]struct{}{}
	r.seen.Store(&empty)
	for _, d := range st.Devices {
		if d.New {
			r.recorded++
		}
	}
	r.full.Store(r.max > 0 && r.recorded >= r.max)
	return r
}

// Unknown implements identity.UnknownRecorder.
func (r *Recorder) Unknown(addr netip.Addr, mac string) {
	if r.full.Load() {
		return
	}
	if _, ok := (*r.seen.Load())[addr]; ok {
		return
	}
	select {
	case r.queue <- unknownSource{addr, mac}:
	default: // busy: the next query from that source offers it again
	}
}

// Run records the offered sources until ctx ends.
func (r *Recorder) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-r.queue:
			if _, ok := (*r.seen.Load())[u.addr]; ok {
				continue
			}
			if err := r.record(ctx, u); err != nil {
				if ctx.Err() != nil {
					return
				}
				r.log.Warn("recording a new device", "addr", u.addr, "err", err)
				continue
			}
			next := make(map[netip.Addr]struct{}, len(*r.seen.Load())+1)
			for k := range *r.seen.Load() {
				next[k] = struct{}{}
			}
			next[u.addr] = struct{}{}
			r.seen.Store(&next)
		}
	}
}

// record adds one new device to the store; the store's change feed then
// brings it into the policy.
func (r *Recorder) record(ctx context.Context, u unknownSource) error {
	if r.max > 0 && r.recorded >= r.max {
		r.full.Store(true)
		r.log.Warn("new devices not recorded: the limit of unclaimed devices is reached", "max", r.max)
		return nil
	}
	var hw net.HardwareAddr
	if u.mac != "" {
		hw, _ = net.ParseMAC(u.mac)
	}
	host := r.hostname(u.addr, hw)
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
	// A MAC outlives DHCP address changes: when there is one, it alone
	// identifies the device.
	if hw != nil {
		d.MACs = []string{hw.String()}
	} else {
		d.IPs = []string{u.addr.String()}
	}
	ctx, cancel := context.WithTimeout(ctx, deviceRecordTimeout)
	defer cancel()
	if _, err := r.store.PutDevice(ctx, d); err != nil {
		return err
	}
	r.recorded++
	r.log.Info("new device", "device", d.ID, "name", d.Name, "addr", u.addr, "mac", u.mac)
	return nil
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

// deviceRecordTimeout bounds one store write of the recorder.
const deviceRecordTimeout = 5 * time.Second
