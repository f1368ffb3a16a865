package policy

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hearth-dns/hearth/internal/shardmap"
)

// Profiles are kept in chunks of 1 << chunkBits: changing one copies its
// chunk (2 KB of pointers) and the chunk list (8 bytes per 256 profiles),
// and every other snapshot's profile stays shared.
const (
	chunkBits = 8
	chunkMask = 1<<chunkBits - 1
)

// profileTable holds compiled profiles at stable indexes, so that a
// profile's index in a Decision holds for the snapshot it came from while
// later snapshots add and remove others. Freed indexes are reused.
type profileTable struct {
	chunks [][]*profile
	byName *shardmap.Map[string, int]
	free   []int
	// used is one past the highest index ever given.
	used int
}

// at returns profile i.
func (t *profileTable) at(i int) *profile { return t.chunks[i>>chunkBits][i&chunkMask] }

// lookup returns the index of the named profile.
func (t *profileTable) lookup(name string) (int, bool) {
	if t.byName == nil {
		return 0, false
	}
	return t.byName.Get(name)
}

// len returns the number of profiles.
func (t *profileTable) len() int {
	if t.byName == nil {
		return 0
	}
	return t.byName.Len()
}

// profileEditor makes the next profileTable from one.
type profileEditor struct {
	chunks [][]*profile
	names  *shardmap.Editor[string, int]
	free   []int
	used   int
	// owned marks the chunks copied for this edit.
	owned map[int]bool
}

func (t profileTable) edit() *profileEditor {
	byName := t.byName
	if byName == nil {
		byName = shardmap.New[string, int](0)
	}
	return &profileEditor{chunks: slices.Clone(t.chunks), names: byName.Edit(), free: slices.Clone(t.free), used: t.used, owned: map[int]bool{}}
}

func (e *profileEditor) lookup(name string) (int, bool) { return e.names.Get(name) }

// set stores p at index i, copying its chunk on first write.
func (e *profileEditor) set(i int, p *profile) {
	c := i >> chunkBits
	for c >= len(e.chunks) {
		e.chunks = append(e.chunks, make([]*profile, 1<<chunkBits))
		e.owned[len(e.chunks)-1] = true
	}
	if !e.owned[c] {
		e.chunks[c] = slices.Clone(e.chunks[c])
		e.owned[c] = true
	}
	e.chunks[c][i&chunkMask] = p
}

// put adds p, or replaces the profile of its name in place (same index).
func (e *profileEditor) put(p *profile) int {
	i, ok := e.names.Get(p.Name)
	if !ok {
		if n := len(e.free); n > 0 {
			i, e.free = e.free[n-1], e.free[:n-1]
		} else {
			i, e.used = e.used, e.used+1
		}
		e.names.Put(p.Name, i)
	}
	e.set(i, p)
	return i
}

// remove drops the named profile, freeing its index.
func (e *profileEditor) remove(name string) bool {
	i, ok := e.names.Get(name)
	if !ok {
		return false
	}
	e.names.Delete(name)
	e.set(i, nil)
	e.free = append(e.free, i)
	return true
}

func (e *profileEditor) done() profileTable {
	return profileTable{chunks: e.chunks, byName: e.names.Map(), free: e.free, used: e.used}
}

// compileProfile checks a spec and compiles it for lookups. bypass are
// the tags a profile with bypass protection blocks.
func compileProfile(p ProfileSpec, bypass TagSet) (*profile, error) {
	if p.Name == "" {
		return nil, errors.New("policy: profile without a name")
	}
	cp := &profile{ProfileSpec: p, allow: overrides(p.Allow), deny: overrides(p.Deny)}
	cp.nextChange = new(atomic.Pointer[cachedChange])
	cp.loc = p.Location
	if cp.loc == nil {
		cp.loc = time.UTC
	}
	for i := range p.Grants {
		if err := p.Grants[i].validate(); err != nil {
			return nil, fmt.Errorf("policy: profile %q: %w", p.Name, err)
		}
	}
	if cp.Label == "" {
		cp.Label = p.Name
	}
	if len(p.Budgets) > MaxBudgets {
		return nil, fmt.Errorf("policy: profile %q: %d time budgets, at most %d", p.Name, len(p.Budgets), MaxBudgets)
	}
	seen := map[string]bool{}
	for i := range p.Budgets {
		b := &p.Budgets[i]
		if err := b.validate(); err != nil {
			return nil, fmt.Errorf("policy: profile %q: %w", p.Name, err)
		}
		if seen[b.ID] {
			return nil, fmt.Errorf("policy: profile %q: two time budgets for %q", p.Name, b.ID)
		}
		seen[b.ID] = true
		cp.budgetTags = cp.budgetTags.Or(b.Tags)
	}
	for _, w := range p.Windows {
		if err := w.validate(); err != nil {
			return nil, fmt.Errorf("policy: profile %q: %w", p.Name, err)
		}
		if w.Kind == AllowOnly {
			cp.allowOnly = cp.allowOnly.Or(w.Tags)
		}
	}
	if len(p.SafeSearchEngines) > 0 {
		cp.safeEngines = map[string]bool{}
		for _, e := range p.SafeSearchEngines {
			cp.safeEngines[e] = true
		}
	}
	if p.BypassProtection {
		cp.Block = cp.Block.Or(bypass)
	}
	return cp, nil
}

// WithProfiles returns the snapshot with the profiles of put added or
// replacing those of the same name, and the named profiles of remove
// dropped (before put is added); def, when not "", names the new default
// profile. s is left as it is, and shares with the result every profile
// the change does not touch and everything but the profiles: the cost
// grows with the change, not with the number of profiles. An error (a
// profile that does not compile, the default profile removed) changes
// nothing.
func (s *Snapshot) WithProfiles(put []ProfileSpec, remove []string, def string) (*Snapshot, error) {
	e := s.profiles.edit()
	for _, name := range remove {
		e.remove(name)
	}
	for _, p := range put {
		cp, err := compileProfile(p, s.bypass)
		if err != nil {
			return nil, err
		}
		e.put(cp)
	}
	if def == "" {
		def = s.profiles.at(s.fallback).Name
	}
	next := *s
	next.profiles = e.done()
	i, ok := next.profiles.lookup(def)
	if !ok {
		return nil, fmt.Errorf("policy: default profile %q is not defined", def)
	}
	next.fallback = i
	return &next, nil
}

// WithLists returns a snapshot of c's lists, index and rules with s's
// profiles, which are shared rather than compiled again (c.Profiles is
// not used; c.DefaultProfile, when not "", names the default profile).
// A new list generation costs the same at a million profiles as at ten.
func (s *Snapshot) WithLists(c Config) (*Snapshot, error) {
	c.Profiles = []ProfileSpec{{Name: "\x00placeholder"}}
	c.DefaultProfile = "\x00placeholder"
	next, err := NewSnapshot(c)
	if err != nil {
		return nil, err
	}
	next.profiles, next.fallback, next.bypass = s.profiles, s.fallback, s.bypass
	return next, nil
}

// NumProfiles returns the number of profiles.
func (s *Snapshot) NumProfiles() int { return s.profiles.len() }

// ProfileSpec returns the spec profile i was compiled from (with the
// bypass tags in Block when it protects against bypass).
func (s *Snapshot) ProfileSpec(i int) ProfileSpec { return s.profiles.at(i).ProfileSpec }
