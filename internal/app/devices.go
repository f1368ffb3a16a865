package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/local"
	"github.com/hearth-dns/hearth/internal/store"
)

// deviceRecorder records devices seen for the first time as new devices
// of the home household, for a parent to name and claim. The query path
// only reads an immutable set and, for a source not in it, offers it to a
// small queue without waiting; one goroutine does the rest.
type deviceRecorder struct {
	a *App
	// store is the App's store, held so that Shutdown clearing the App's
	// fields does not race with a recording in progress.
	store  store.Store
	log    *slog.Logger
	max    int
	leases string
	format string
	// names are the local records' addresses and names, for naming.
	names map[netip.Addr]string

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

func newDeviceRecorder(a *App, cfg *config.Config, st store.State) *deviceRecorder {
	r := &deviceRecorder{
		a: a, store: a.store, log: a.log, max: cfg.NewDevices.Max,
		leases: cfg.NewDevices.Leases, format: cfg.NewDevices.LeasesFormat,
		names: localNames(cfg), queue: make(chan unknownSource, 64),
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
func (r *deviceRecorder) Unknown(addr netip.Addr, mac string) {
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

// run records the offered sources until ctx ends.
func (r *deviceRecorder) run(ctx context.Context) {
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
func (r *deviceRecorder) record(ctx context.Context, u unknownSource) error {
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
		Household: HomeHousehold,
		Name:      host,
		Hostname:  host,
		New:       true,
		FirstSeen: r.a.now().UTC(),
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
func (r *deviceRecorder) hostname(addr netip.Addr, hw net.HardwareAddr) string {
	if r.leases != "" {
		f, err := os.Open(r.leases)
		if err == nil {
			leases, perr := identity.ParseLeases(f, r.format)
			f.Close()
			var bad *identity.BadLinesError
			if perr != nil && !errors.As(perr, &bad) {
				r.log.Warn("reading DHCP leases", "file", r.leases, "err", perr)
			}
			if name, ok := identity.NewLeases(leases, r.a.now()).Hostname(addr, hw); ok {
				return name
			}
		} else {
			r.log.Warn("reading DHCP leases", "err", err)
		}
	}
	return r.names[addr]
}

// localNames maps the addresses of the config's local A and AAAA records
// to their names.
func localNames(cfg *config.Config) map[netip.Addr]string {
	names := map[netip.Addr]string{}
	for _, rec := range cfg.Local.Records {
		rr, err := local.ParseRecord(rec)
		if err != nil {
			continue
		}
		name := strings.TrimSuffix(rr.Header().Name, ".")
		switch v := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A); ok {
				names[a.Unmap()] = name
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA); ok {
				names[a] = name
			}
		}
	}
	return names
}

// deviceRecordTimeout bounds one store write of the recorder.
const deviceRecordTimeout = 5 * time.Second
