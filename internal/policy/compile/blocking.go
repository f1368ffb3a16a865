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
	inUse := map[string]bool{s.merged.def: true}
	for _, p := range s.merged.profileOf {
		inUse[p] = true
	}
	var out []string
	for _, spec := range s.merged.profiles {
		if !inUse[spec.Name] {
			continue
		}
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
