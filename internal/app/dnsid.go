package app

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"

	"github.com/hearth-dns/hearth/internal/api"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/metrics"
)

// registerGuardMetrics exposes the counts of unknown encrypted-DNS client
// ids: in all, refused, and per source (the guard's table is bounded, so
// the series are too).
func (a *App) registerGuardMetrics() {
	r := a.metrics
	r.CounterFunc("hearth_client_id_unknown_total", "Queries whose DoH path or TLS server name carried a client id no device holds.",
		func() float64 { return float64(a.idGuard.Stats().Unknown) })
	r.CounterFunc("hearth_client_id_refused_total", "Queries refused because their source tried too many unknown client ids.",
		func() float64 { return float64(a.idGuard.Stats().Refused) })
	r.Collect("hearth_client_id_unknown_by_source_total", "Unknown client ids per source (IPv6 by /64) that tried some recently.",
		metrics.TypeCounter, []string{"source"}, func(emit metrics.EmitFunc) {
			for _, s := range a.idGuard.Stats().Sources {
				emit(float64(s.Tries), s.Source.String())
			}
		})
}

// EncryptedDNS implements api.Backend: the first client id domain and the
// ports the DoT and DoH listeners bound.
func (k backend) EncryptedDNS() api.EncryptedDNS {
	var e api.EncryptedDNS
	if b := k.a.cur.Load(); b != nil && len(b.cfg.Access.ClientIDDomains) > 0 {
		e.Domain = b.cfg.Access.ClientIDDomains[0]
	}
	if k.a.srv == nil {
		return e
	}
	addrs := k.a.srv.Addrs()
	e.DoTPort = firstPort(addrs.DoT)
	e.DoHPort = firstPort(addrs.DoH)
	return e
}

// firstPort is the port of the first address, or 0.
func firstPort(addrs []string) int {
	if len(addrs) == 0 {
		return 0
	}
	if ap, err := netip.ParseAddrPort(addrs[0]); err == nil {
		return int(ap.Port())
	}
	_, port, err := net.SplitHostPort(addrs[0])
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(port)
	return p
}

// UnknownClientIDs implements api.Backend from the guard's table.
func (k backend) UnknownClientIDs() []api.UnknownClientIDSource {
	var out []api.UnknownClientIDSource
	for _, s := range k.a.idGuard.Stats().Sources {
		out = append(out, api.UnknownClientIDSource{Source: s.Source.String(), Tries: s.Tries, Refused: s.Refused, Last: s.Last.UTC()})
	}
	return out
}

// warnWeakClientIDs tells the parent, at each start and reload, about the
// config file's chosen client ids: anyone who types one gets that
// device's profile. They keep working; a device added in the UI gets a
// secret DNS id instead.
func warnWeakClientIDs(log *slog.Logger, cfg *config.Config) {
	for i, d := range cfg.Devices {
		if d.ClientID != "" {
			log.Warn("weak client id: anyone who types it gets this device's profile; remove client_id and add the device in the web page for a secret DNS id",
				"field", fmt.Sprintf("devices[%d].client_id", i), "device", d.Name)
		}
	}
}
