package compile

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/netid"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/profile"
	"github.com/hearth-dns/hearth/internal/store"
)

// merged is the policy of the config file and the store together: what a
// snapshot and an identifier are built from.
type merged struct {
	profiles []policy.ProfileSpec
	devices  []identity.Device
	def      string
	// profileOf is each device's profile label.
	profileOf map[string]string
	// problems are store items left out because they are wrong; the rest
	// serves.
	problems []error
}

// plainErrorf reports a field of a store item: "profile kid2: block[1]: ...".
func plainErrorf(prefix string) errorf {
	return func(path, format string, args ...any) error {
		return fmt.Errorf("%s: %s: %s", prefix, path, fmt.Sprintf(format, args...))
	}
}

// CheckProfile checks a profile as the API receives it: every problem
// names its field from the profile's top ("block[0]").
func (p *Plan) CheckProfile(sp profile.Profile) error {
	errf := func(path, format string, args ...any) error {
		return fmt.Errorf("%s: %s", strings.TrimPrefix(path, "profile."), fmt.Sprintf(format, args...))
	}
	var errs []error
	profile.Validate("profile", sp, func(path, format string, args ...any) { errs = append(errs, errf(path, format, args...)) })
	if len(errs) > 0 {
		return errs[0]
	}
	_, err := p.profileSpec(errf, "profile", sp)
	return err
}

// merge combines the config's profiles and devices (provisioned: the
// store cannot change them) with the store's at now. A store item that
// is wrong is left out and reported; the rest serves.
func (p *Plan) merge(st store.State, now time.Time) merged {
	m := merged{def: p.def, profileOf: map[string]string{}}
	specs := map[string]int{}
	for _, spec := range p.profiles {
		specs[spec.Name] = len(m.profiles)
		m.profiles = append(m.profiles, spec)
	}
	zones := map[string]string{}
	defaults := map[string]string{}
	for _, h := range st.Households {
		zones[h.ID], defaults[h.ID] = h.TimeZone, h.DefaultProfile
	}
	for _, sp := range st.Profiles {
		if _, ok := specs[sp.ID]; ok {
			m.problems = append(m.problems, fmt.Errorf("profile %s: the config file defines it; the store's copy is ignored", sp.ID))
			continue
		}
		if sp.TimeZone == "" {
			sp.TimeZone = zones[sp.Household]
		}
		var errs []error
		profile.Validate("profile", sp, func(path, format string, args ...any) {
			errs = append(errs, fmt.Errorf("profile %s: %s: %s", sp.ID, path, fmt.Sprintf(format, args...)))
		})
		if len(errs) > 0 {
			m.problems = append(m.problems, errs...)
			continue
		}
		spec, err := p.profileSpec(plainErrorf("profile "+sp.ID), "profile", sp)
		if err != nil {
			m.problems = append(m.problems, err)
			continue
		}
		specs[sp.ID] = len(m.profiles)
		m.profiles = append(m.profiles, spec)
	}
	// The config file's default_profile, when written, wins over the
	// one set in the UI: the parent is told, not overridden silently.
	if d := defaults[store.HomeHousehold]; d != "" && d != m.def {
		if p.defAt != "" {
			m.problems = append(m.problems, fmt.Errorf("household %s: default_profile %q is not used: the config file's default_profile %q (%s) wins", store.HomeHousehold, d, m.def, p.defAt))
			defaults[store.HomeHousehold] = m.def
		} else if _, ok := specs[d]; ok {
			m.def = d
		}
	}

	// Identifiers: the first device to claim one keeps it (the config's
	// devices, then the claimed ones, then new ones), so a recorded
	// device cannot take an address from a named one. Keys are netid's
	// canonical forms, so two spellings of one identifier collide here
	// rather than in identity.New.
	owners := netid.NewOwners()
	// isNew are the unclaimed new devices: a named device taking one's
	// address is the usual way to claim it, not a problem to report.
	isNew := map[string]bool{}
	for _, d := range st.Devices {
		isNew[d.ID] = d.New
	}
	claim := func(dev string, kind netid.Kind, id string) bool {
		k, err := netid.KeyOf(kind, id)
		if err == nil {
			err = owners.Claim(dev, k)
		}
		if err != nil {
			if _, dup := netid.IsDuplicate(err); !dup || !isNew[dev] {
				m.problems = append(m.problems, fmt.Errorf("device %s: %w", dev, err))
			}
			return false
		}
		return true
	}
	// Grants are state, not config: the config file's devices take them
	// as the store's do.
	grants := map[string][]store.Grant{}
	for _, g := range st.Grants {
		if g.Until.After(now) {
			grants[g.Device] = append(grants[g.Device], g)
		}
	}
	for _, d := range p.devices {
		for _, ip := range d.IPs {
			claim(d.Name, netid.KindIP, ip.String())
		}
		for _, c := range d.CIDRs {
			claim(d.Name, netid.KindCIDR, c.String())
		}
		for _, hw := range d.MACs {
			claim(d.Name, netid.KindMAC, hw.String())
		}
		for _, c := range d.ClientIDs {
			claim(d.Name, netid.KindClientID, c)
		}
		m.profileOf[d.Name] = d.Profile
		if i, ok := specs[d.Profile]; ok && len(grants[d.Name]) > 0 {
			if own, err := p.grantProfile(m.profiles[i], d.Name, grants[d.Name]); err != nil {
				m.problems = append(m.problems, err)
			} else {
				m.profiles = append(m.profiles, own)
				d.Profile = own.Name
			}
		}
		m.devices = append(m.devices, d)
	}
	devices := append([]store.Device(nil), st.Devices...)
	sort.SliceStable(devices, func(i, j int) bool { return !devices[i].New && devices[j].New })
	names := map[string]bool{}
	for _, d := range p.devices {
		names[d.Name] = true
	}
	for _, sd := range devices {
		if names[sd.ID] {
			m.problems = append(m.problems, fmt.Errorf("device %s: the config file defines it; the store's copy is ignored", sd.ID))
			continue
		}
		// A row that fails validation (an older version wrote it, or
		// someone edited the database) is set aside whole: its device
		// gets the default profile, like any unknown device.
		if err := checkStoreDevice(sd); err != nil {
			m.problems = append(m.problems, fmt.Errorf("device %s set aside: %w", sd.ID, err))
			continue
		}
		names[sd.ID] = true
		prof := sd.Profile
		if prof == "" {
			prof = defaults[sd.Household]
		}
		if _, ok := specs[prof]; !ok {
			if prof != "" {
				m.problems = append(m.problems, fmt.Errorf("device %s: no profile %q; it gets %s", sd.ID, prof, m.def))
			}
			prof = m.def
		}
		dev := identity.Device{Name: sd.ID, Household: sd.Household, Profile: prof}
		for _, s := range sd.IPs {
			ip, _ := netid.ParseIP(s) // checked by checkStoreDevice
			if claim(sd.ID, netid.KindIP, s) {
				dev.IPs = append(dev.IPs, ip)
			}
		}
		for _, s := range sd.MACs {
			hw, _ := netid.ParseMAC(s)
			if claim(sd.ID, netid.KindMAC, s) {
				dev.MACs = append(dev.MACs, hw)
			}
		}
		if sd.DNSID != nil {
			// Chosen ids end when Hearth makes one: a child may know them.
			if _, err := identity.ParseDNSIDHash(sd.DNSID.Hash); err != nil {
				m.problems = append(m.problems, fmt.Errorf("device %s: %v; make it a new DNS id", sd.ID, err))
			} else if claim(sd.ID, netid.KindDNSID, sd.DNSID.Hash) {
				dev.DNSIDHash = sd.DNSID.Hash
			}
		} else {
			for _, s := range sd.ClientIDs {
				c, _ := netid.ParseClientID(s)
				if claim(sd.ID, netid.KindClientID, c) {
					dev.ClientIDs = append(dev.ClientIDs, c)
				}
			}
		}
		if gs := grants[sd.ID]; len(gs) > 0 {
			if own, err := p.grantProfile(m.profiles[specs[prof]], sd.ID, gs); err != nil {
				m.problems = append(m.problems, err)
			} else {
				m.profiles = append(m.profiles, own)
				dev.Profile = own.Name
			}
		}
		m.devices = append(m.devices, dev)
		m.profileOf[sd.ID] = prof
	}
	return m
}

// checkStoreDevice checks a store device's id and identifiers as the API
// does (package netid).
func checkStoreDevice(d store.Device) error {
	if err := store.ValidateID("device", d.ID); err != nil {
		return err
	}
	for _, l := range []struct {
		field string
		kind  netid.Kind
		vals  []string
	}{{"ips", netid.KindIP, d.IPs}, {"macs", netid.KindMAC, d.MACs}, {"client_ids", netid.KindClientID, d.ClientIDs}} {
		for i, s := range l.vals {
			if _, err := netid.KeyOf(l.kind, s); err != nil {
				return fmt.Errorf("%s[%d]: %w", l.field, i, err)
			}
		}
	}
	return nil
}

// grantProfile is a device's own profile: base plus the device's grants.
func (p *Plan) grantProfile(base policy.ProfileSpec, device string, grants []store.Grant) (policy.ProfileSpec, error) {
	own := base
	own.Name = base.Name + "~" + device
	own.Label = base.Name
	own.Grants = nil
	for _, g := range grants {
		pg := policy.Grant{Until: g.Until}
		switch g.Kind {
		case store.GrantPause:
			pg.Kind, pg.Label = policy.GrantPause, "pause"
		case store.GrantAllow:
			pg.Label = "allow:" + g.Target
			if _, ok := p.tagIdx[g.Target]; ok {
				pg.Kind, pg.Tags = policy.GrantAllowTags, p.tagWithServices(g.Target)
			} else {
				name, _, err := profile.ParseOverride(g.Target)
				if err != nil {
					return own, fmt.Errorf("grant %s of device %s: target: %v", g.ID, device, err)
				}
				pg.Kind, pg.Name = policy.GrantAllowName, name
			}
		case store.GrantExtraTime:
			tag, minutes, err := store.ParseExtraTimeTarget(g.Target)
			if err != nil {
				return own, fmt.Errorf("grant %s of device %s: %v", g.ID, device, err)
			}
			pg.Kind, pg.Budget, pg.Minutes, pg.Label = policy.GrantExtraTime, tag, minutes, "extra-time:"+g.Target
		default:
			return own, fmt.Errorf("grant %s of device %s: kind %q is not pause, allow or extra-time", g.ID, device, g.Kind)
		}
		own.Grants = append(own.Grants, pg)
	}
	return own, nil
}
