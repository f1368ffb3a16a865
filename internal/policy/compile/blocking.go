package compile

import (
	"sort"

	"github.com/hearth-dns/hearth/internal/policy"
)

// BlockingProfiles returns the profiles in use (the default profile and
// the devices') that block tag, always or in a schedule window, sorted:
// who loses protection when the tag's lists have no data.
func (s *Snapshot) BlockingProfiles(tag string) []string {
	t, ok := s.plan.tagIdx[tag]
	if !ok {
		return nil
	}
	// Profiles in use: the default, the config file's devices', the
	// households' defaults and the store devices'. One pass over the
	// devices: this serves the list health page, not queries. A device
	// is read in its packed form, its profile alone: at five million
	// devices, decoding each whole took seconds per tag.
	inUse := map[string]bool{s.def: true}
	for _, d := range s.plan.devices {
		inUse[d.Profile] = true
	}
	for _, h := range s.items.households.All() {
		inUse[h.DefaultProfile] = true
	}
	for _, blob := range s.items.devices.Blobs() {
		inUse[packedDeviceProfile(blob)] = true
	}
	var out []string
	for name := range inUse {
		i, ok := s.Policy.Profile(name)
		if !ok || name == "" {
			continue
		}
		spec := s.Policy.ProfileSpec(i)
		blocks := spec.Block.Has(t) || (tag == "bypass" && spec.BypassProtection)
		for _, w := range spec.Windows {
			blocks = blocks || (w.Kind != policy.Pause && w.Tags.Has(t))
		}
		if blocks {
			out = append(out, spec.Name)
		}
	}
	sort.Strings(out)
	return out
}
