package compile

import (
	"fmt"
	"strings"

	"github.com/hearth-dns/hearth/internal/netid"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/profile"
	"github.com/hearth-dns/hearth/internal/store"
)

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
