package app

import (
	"net/netip"

	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/devicelimit"
	"github.com/hearth-dns/hearth/internal/discovery"
)

// newRecorder returns the new-device recorder of cfg, limited to the LAN
// networks (new_devices.networks, or the private ranges access.allow
// covers); nil when no LAN network may create devices.
func (a *App) newRecorder(cfg *config.Config) (*discovery.Recorder, error) {
	lan, path := cfg.NewDevices.Networks, "new_devices.networks"
	if len(lan) == 0 {
		lan, path = cfg.Access.Allow, "access.allow"
	}
	var nets []netip.Prefix
	for _, s := range lan {
		p, _ := config.ParsePrefix(s) // checked by config.Validate
		nets = append(nets, p)
	}
	if len(cfg.NewDevices.Networks) == 0 {
		nets = devicelimit.DefaultNetworks(nets)
	}
	if len(nets) == 0 {
		// Public sources never create devices: with no LAN network
		// there is nothing to record.
		a.log.Warn("new devices are not recorded: no private network to record them from", "field", path)
		return nil, nil
	}
	limit, err := devicelimit.New(devicelimit.Config{
		Networks: nets, PerSource: cfg.NewDevices.PerSource, Window: cfg.NewDevices.Window, Now: a.now,
	})
	if err != nil {
		return nil, cfg.Errorf("new_devices", "%v", err)
	}
	return discovery.New(discovery.Config{
		Store: a.store, Limit: limit, Max: cfg.NewDevices.Max,
		Leases: cfg.NewDevices.Leases, LeasesFormat: cfg.NewDevices.LeasesFormat,
		Names: localNames(cfg), Observe: a.observeDiscovery, Now: a.now, Logger: a.log,
	})
}

// observeDiscovery hears each new-device outcome: the parents are told of
// a device recorded, and the test hook hears everything.
func (a *App) observeDiscovery(addr netip.Addr, outcome string) {
	a.notifyNewDevice(addr, outcome)
	if a.discoveryObserver != nil {
		a.discoveryObserver(addr, outcome)
	}
}
