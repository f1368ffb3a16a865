package compile

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/netid"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/profile"
	"github.com/hearth-dns/hearth/internal/shardmap"
	"github.com/hearth-dns/hearth/internal/store"
)

// items are the store items a snapshot was built from, and the indexes
// Apply needs to find what a change touches. Every table is a
// shardmap.Map: a delta copies only the shards it touches.
type items struct {
	households packed[store.Household]
	profiles   packed[store.Profile]
	devices    packed[store.Device]
	grants     packed[store.Grant]
	// bindings are keyed by store.BindingID.
	bindings packed[store.Binding]
	// grantsOf are each device's grant ids.
	grantsOf *shardmap.Map[string, []string]
	// hhProfiles are each household's store profile ids: a household's
	// time zone is theirs unless they set one.
	hhProfiles *shardmap.Map[string, []string]
	// grantDevs are each household's devices with a grant profile (""
	// for the config file's devices): their base is the household's
	// default or one of its profiles.
	grantDevs *shardmap.Map[string, []string]
	// grantProf is the name of each device's grant profile.
	grantProf *shardmap.Map[string, string]
	// users are, for each profile name the config file does not define,
	// the store devices ("d id") and households ("h id") that name it:
	// they change when it comes, goes or becomes valid.
	users *shardmap.Map[string, []string]
	// contested are the identifiers more than one device claims: the
	// claimants that do not own them. The owner is the one the identity
	// tables name.
	contested *shardmap.Map[netid.Key, []string]
	// problems are each item's problems, by "kind id".
	problems *shardmap.Map[string, []error]
}

// newItems returns empty items, for a snapshot with no store state.
func newItems() items { return sized(Delta{}) }

// sized returns empty items sized for d, for a cold build.
func sized(d Delta) items {
	return items{
		households: newPacked(len(d.Households), appendHousehold, decodeHousehold),
		profiles:   newPacked(len(d.Profiles), appendProfile, decodeProfile),
		devices:    newPacked(len(d.Devices), appendDevice, decodeDevice),
		grants:     newPacked(len(d.Grants), appendGrant, decodeGrant),
		bindings:   newPacked(len(d.Bindings), appendBinding, decodeBinding),
		grantsOf:   shardmap.New[string, []string](len(d.Grants)),
		hhProfiles: shardmap.New[string, []string](len(d.Profiles)),
		grantDevs:  shardmap.New[string, []string](len(d.Grants)),
		grantProf:  shardmap.New[string, string](len(d.Grants)),
		users:      shardmap.New[string, []string](len(d.Profiles)),
		contested:  shardmap.New[netid.Key, []string](0),
		problems:   shardmap.New[string, []error](0),
	}
}

// itemEditor edits every table of items.
type itemEditor struct {
	households *packedEditor[store.Household]
	profiles   *packedEditor[store.Profile]
	devices    *packedEditor[store.Device]
	grants     *packedEditor[store.Grant]
	bindings   *packedEditor[store.Binding]
	grantsOf   *shardmap.Editor[string, []string]
	hhProfiles *shardmap.Editor[string, []string]
	grantDevs  *shardmap.Editor[string, []string]
	grantProf  *shardmap.Editor[string, string]
	users      *shardmap.Editor[string, []string]
	contested  *shardmap.Editor[netid.Key, []string]
	problems   *shardmap.Editor[string, []error]
}

func (it items) edit() *itemEditor {
	return &itemEditor{
		households: it.households.Edit(), profiles: it.profiles.Edit(), devices: it.devices.Edit(),
		grants: it.grants.Edit(), bindings: it.bindings.Edit(), grantsOf: it.grantsOf.Edit(),
		hhProfiles: it.hhProfiles.Edit(), grantDevs: it.grantDevs.Edit(), grantProf: it.grantProf.Edit(),
		users: it.users.Edit(), contested: it.contested.Edit(), problems: it.problems.Edit(),
	}
}

func (e *itemEditor) done() items {
	return items{
		households: e.households.Map(), profiles: e.profiles.Map(), devices: e.devices.Map(),
		grants: e.grants.Map(), bindings: e.bindings.Map(), grantsOf: e.grantsOf.Map(),
		hhProfiles: e.hhProfiles.Map(), grantDevs: e.grantDevs.Map(), grantProf: e.grantProf.Map(),
		users: e.users.Map(), contested: e.contested.Map(), problems: e.problems.Map(),
	}
}

// addTo and removeFrom keep a list-valued index; lists are copied, never
// changed in place, since older snapshots share them.
func addTo[K comparable](e *shardmap.Editor[K, []string], k K, v string) {
	l, _ := e.Get(k)
	if !slices.Contains(l, v) {
		e.Put(k, append(slices.Clip(l), v))
	}
}

func removeFrom[K comparable](e *shardmap.Editor[K, []string], k K, v string) {
	l, _ := e.Get(k)
	i := slices.Index(l, v)
	switch {
	case i < 0:
	case len(l) == 1:
		e.Delete(k)
	default:
		e.Put(k, slices.Delete(slices.Clone(l), i, i+1))
	}
}

// setProblems records the problems of one item, for this build's
// Problems too.
func (a *applying) setProblems(key string, errs []error) {
	if len(errs) == 0 {
		a.e.problems.Delete(key)
		return
	}
	a.e.problems.Put(key, errs)
	a.problemKeys = append(a.problemKeys, key)
}

// applying is one Apply in progress.
type applying struct {
	s   *Snapshot
	now time.Time
	e   *itemEditor
	pol *policy.Snapshot
	def string
	// owner overlays the identity tables with the identifiers this
	// apply gave to a device ("" for none).
	owner map[netid.Key]string
	// touched: households whose item changed; households whose identity
	// entry may change; profiles and devices to compile again.
	hhItem, hhEntry map[string]bool
	profs, devs     map[string]bool
	// lost are devices whose identifiers another device took or gave up.
	lost map[string]bool
	iu   identity.Update
	// problemKeys are the items this apply found problems with.
	problemKeys []string
	// bulk: Compile's apply of a whole state to a snapshot without store
	// items (see compileDevicesBulk).
	bulk bool
	// arena, in a bulk build, holds the packed tables' blobs and keys.
	arena *arena
	// devKeys, in a bulk build, are the device table's keys (arena
	// copies of the ids) by position in the delta's devices; names are
	// the other names the snapshot keeps (profiles', households' the
	// state does not hold), interned (see own and intern).
	devKeys []string
	names   map[string]string
	// scratch is a reused buffer.
	scratch []byte
}

// bindingID is store.BindingID. In a bulk build it is made in a.scratch,
// valid until the next call: the table copies it into the arena.
func (a *applying) bindingID(b store.Binding) string {
	if a.arena == nil {
		return store.BindingID(b.Kind, b.Key)
	}
	a.scratch = append(append(append(a.scratch[:0], b.Kind...), ':'), b.Key...)
	return unsafe.String(unsafe.SliceData(a.scratch), len(a.scratch))
}

// Apply returns the snapshot after d, leaving s as it is. Only what d
// touches is compiled again: the households, profiles and devices it
// names, and what depends on them (a household's profiles without a time
// zone of their own, the devices with grants whose base profile changed,
// the devices that gain or lose an identifier another device gave up or
// claimed). Everything else is shared with s. An error leaves s serving.
func (s *Snapshot) Apply(d Delta, now time.Time) (*Snapshot, error) {
	return s.apply(d, now, false)
}

// apply is Apply; bulk is for Compile: s holds no store items and d
// deletes nothing, so every table is sized once from d's counts and the
// devices are compiled in one pass (compileDevicesBulk). The snapshot is
// the same either way (TestBulkCompileEqualsApply).
func (s *Snapshot) apply(d Delta, now time.Time, bulk bool) (*Snapshot, error) {
	it := s.items
	if bulk || it.devices.Len() == 0 && it.households.Len() == 0 && len(d.Devices)+len(d.Households) > 1000 {
		it = sized(d)
	}
	a := &applying{
		s: s, now: now, e: it.edit(), pol: s.Policy, def: s.def, owner: map[netid.Key]string{},
		hhItem: map[string]bool{}, hhEntry: map[string]bool{}, profs: map[string]bool{}, devs: map[string]bool{}, lost: map[string]bool{},
		bulk: bulk,
	}
	if bulk {
		// Sized once: a map or slice grown one insert at a time copies
		// itself over and over, and leaves the copies to the collector.
		a.owner = make(map[netid.Key]string, len(d.Devices))
		a.hhItem = make(map[string]bool, len(d.Households))
		a.hhEntry = make(map[string]bool, len(d.Households))
		a.profs = make(map[string]bool, len(d.Profiles))
		a.iu.Put = make([]identity.Device, 0, len(d.Devices)+len(s.plan.devices))
		a.iu.Households = make([]identity.Household, 0, len(d.Households)+1)
		a.iu.Bindings = make([]identity.Binding, 0, len(d.Bindings))
		// The items' blobs, and the bindings' ids, are cut from chunks.
		a.arena = new(arena)
		a.names = map[string]string{}
		a.e.households.arena, a.e.devices.arena, a.e.grants.arena, a.e.bindings.arena = a.arena, a.arena, a.arena, a.arena
		a.e.profiles.arena = a.arena
	}
	c := s.Lists
	if d.Lists != nil {
		pc, err := s.plan.policyConfig(d.Lists)
		if err != nil {
			return nil, err
		}
		if a.pol, err = a.pol.WithLists(pc); err != nil {
			return nil, err
		}
		c = d.Lists
	}
	a.record(d)
	if err := a.compileProfiles(); err != nil {
		return nil, err
	}
	if err := a.compileHouseholds(); err != nil {
		return nil, err
	}
	compileDevices := a.compileDevices
	if bulk {
		compileDevices = func() error { return a.compileDevicesBulk(d.Devices) }
	}
	if err := compileDevices(); err != nil {
		return nil, err
	}
	ident, err := s.Identity.Update(a.iu)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	next := &Snapshot{Identity: ident, Policy: a.pol, Lists: c, plan: s.plan, base: s.base, seq: s.seq, def: a.def, items: a.e.done()}
	if d.Seq != 0 {
		next.seq = d.Seq
	}
	slices.Sort(a.problemKeys)
	for _, k := range slices.Compact(a.problemKeys) {
		errs, _ := next.items.problems.Get(k)
		next.Problems = append(next.Problems, errs...)
	}
	return next, nil
}

// record writes d's items into the tables and notes what they touch.
func (a *applying) record(d Delta) {
	e := a.e
	// A bulk build's tables start empty: an item can only replace one of
	// the same id earlier in d, and there is none when d lists each id
	// once, in order, as the store does. Then no earlier version is
	// looked up.
	again := func(n int, cmp func(i, j int) int) bool {
		if !a.bulk {
			return true
		}
		for i := 1; i < n; i++ {
			if cmp(i-1, i) >= 0 {
				return true
			}
		}
		return false
	}
	hhAgain := again(len(d.Households), func(i, j int) int { return strings.Compare(d.Households[i].ID, d.Households[j].ID) })
	devAgain := again(len(d.Devices), func(i, j int) int { return strings.Compare(d.Devices[i].ID, d.Devices[j].ID) })
	bindAgain := again(len(d.Bindings), func(i, j int) int {
		x, y := d.Bindings[i], d.Bindings[j]
		return cmp.Or(strings.Compare(x.Kind, y.Kind), strings.Compare(x.Key, y.Key))
	})
	for _, c := range d.Deleted {
		switch c.Kind {
		case store.KindHousehold:
			if h, ok := e.households.Get(c.ID); ok {
				a.unuse(h.DefaultProfile, "h ", c.ID)
			}
			e.households.Delete(c.ID)
			a.hhItem[c.ID] = true
			a.iu.RemoveHouseholds = append(a.iu.RemoveHouseholds, c.ID)
		case store.KindProfile:
			if p, ok := e.profiles.Get(c.ID); ok {
				removeFrom(e.hhProfiles, p.Household, p.ID)
				a.hhEntry[p.Household] = true
				e.profiles.Delete(c.ID)
			}
			a.profs[c.ID] = true
		case store.KindDevice:
			gs, _ := e.grantsOf.Get(c.ID)
			for _, g := range gs {
				e.grants.Delete(g)
			}
			e.grantsOf.Delete(c.ID)
			if dev, ok := e.devices.Get(c.ID); ok {
				a.unuse(dev.Profile, "d ", c.ID)
			}
			e.devices.Delete(c.ID)
			a.devs[c.ID] = true
		case store.KindGrant:
			if g, ok := e.grants.Get(c.ID); ok {
				e.grants.Delete(c.ID)
				removeFrom(e.grantsOf, g.Device, g.ID)
				a.devs[g.Device] = true
			}
		case store.KindBinding:
			if b, ok := e.bindings.Get(c.ID); ok {
				e.bindings.Delete(c.ID)
				if ib, err := identityBinding(b); err == nil {
					a.iu.RemoveBindings = append(a.iu.RemoveBindings, ib)
				}
			}
			e.problems.Delete("binding " + c.ID)
		}
	}
	for _, h := range d.Households {
		if hhAgain {
			if old, ok := e.households.Get(h.ID); ok {
				a.unuse(old.DefaultProfile, "h ", h.ID)
			}
		}
		a.use(h.DefaultProfile, "h ", h.ID)
		id := h.ID
		if a.bulk {
			id = e.households.Put(h.ID, h)
		} else {
			e.households.Put(h.ID, h)
		}
		a.hhItem[id] = true
	}
	for _, p := range d.Profiles {
		if old, ok := e.profiles.Get(p.ID); ok && old.Household != p.Household {
			removeFrom(e.hhProfiles, old.Household, p.ID)
			a.hhEntry[old.Household] = true
		}
		id, hh := p.ID, p.Household
		if a.bulk {
			id = e.profiles.Put(p.ID, p)
			hh = a.household(hh)
		} else {
			e.profiles.Put(p.ID, p)
		}
		addTo(e.hhProfiles, hh, id)
		a.profs[id] = true
	}
	if a.bulk {
		a.devKeys = make([]string, len(d.Devices))
	}
	for i, dev := range d.Devices {
		if devAgain {
			if _, old, ok := e.devices.blob(dev.ID); ok {
				a.unuse(packedDeviceProfile(old), "d ", dev.ID)
			}
		}
		a.use(dev.Profile, "d ", dev.ID)
		if a.bulk { // compileDevicesBulk takes them from d.Devices
			a.devKeys[i] = e.devices.Put(dev.ID, dev)
		} else {
			e.devices.Put(dev.ID, dev)
			a.devs[dev.ID] = true
		}
	}
	for _, g := range d.Grants {
		if old, ok := e.grants.Get(g.ID); ok && old.Device != g.Device {
			removeFrom(e.grantsOf, old.Device, g.ID)
			a.devs[old.Device] = true
		}
		id, dev := g.ID, g.Device
		if a.bulk {
			id = e.grants.Put(g.ID, g)
			if k, _, ok := e.devices.e.Entry(dev); ok {
				dev = k
			} else {
				dev = a.intern(dev) // the config file's, or missing
			}
		} else {
			e.grants.Put(g.ID, g)
		}
		addTo(e.grantsOf, dev, id)
		a.devs[dev] = true
	}
	for _, b := range d.Bindings {
		id := a.bindingID(b)
		if bindAgain {
			if old, ok := e.bindings.Get(id); ok {
				if ib, err := identityBinding(old); err == nil {
					a.iu.RemoveBindings = append(a.iu.RemoveBindings, ib)
				}
			}
		}
		id = e.bindings.Put(id, b)
		if a.bulk {
			// What the identity tables keep of it (a CPE or client id,
			// the household's id), from the tables' copies.
			b.Key = id[len(b.Kind)+1:]
			b.Household = a.household(b.Household)
		}
		ib, err := identityBinding(b)
		if err != nil {
			// Kept, so that the state saved and compared is the store's,
			// but it binds nothing.
			a.setProblems("binding "+id, []error{fmt.Errorf("binding %s set aside: %w", id, err)})
			continue
		}
		if !a.bulk || len(a.problemKeys) > 0 { // else none to delete, and the key costs an allocation
			e.problems.Delete("binding " + id)
		}
		a.iu.Bindings = append(a.iu.Bindings, ib)
	}
}

// use and unuse keep the users index of profile names: the user is kind
// ("d " or "h ") and id. Most profiles are the config file's, which the
// index leaves out, so the user's name is made only when needed.
func (a *applying) use(profile, kind, id string) {
	if profile == "" || a.s.plan.hasProfile(profile) {
		return
	}
	if a.arena != nil { // a bulk build keeps its copies in the arena
		a.scratch = append(append(a.scratch[:0], kind...), id...)
		addTo(a.e.users, a.intern(profile), a.arena.string(a.scratch))
		return
	}
	addTo(a.e.users, profile, kind+id)
}

// household returns the bulk build's one copy of a household id: the
// household table's key, or for a household the state does not hold,
// an interned copy.
func (a *applying) household(id string) string {
	if k, _, ok := a.e.households.e.Entry(id); ok {
		return k
	}
	if id == "" {
		return ""
	}
	return a.intern(id)
}

// intern returns the bulk build's one copy of a name: a profile's, or
// the id of a household the state does not hold.
func (a *applying) intern(name string) string {
	p, ok := a.names[name]
	if !ok {
		p = a.arena.str(name)
		a.names[p] = p
	}
	return p
}

func (a *applying) unuse(profile, kind, id string) {
	if profile != "" && !a.s.plan.hasProfile(profile) {
		removeFrom(a.e.users, profile, kind+id)
	}
}

// identityBinding checks a store binding (package netid's canonical
// forms) and converts it.
func identityBinding(b store.Binding) (identity.Binding, error) {
	if err := store.ValidateID("household", b.Household); err != nil {
		return identity.Binding{}, err
	}
	ib := identity.Binding{Household: b.Household}
	switch b.Kind {
	case store.BindIPv4:
		a, err := netip.ParseAddr(b.Key)
		if err != nil || !a.Is4() {
			return ib, fmt.Errorf("key %q: not an IPv4 address", b.Key)
		}
		ib.Addr = a
	case store.BindIPv6:
		p, err := netip.ParsePrefix(b.Key)
		if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() || p.Bits() < 48 || p.Bits() > 64 {
			return ib, fmt.Errorf("key %q: not an IPv6 prefix of /48 to /64", b.Key)
		}
		ib.Prefix = p.Masked()
	case store.BindCPE:
		if b.Key == "" || len(b.Key) > 63 {
			return ib, fmt.Errorf("key %q: want a CPE id of 1 to 63 bytes", b.Key)
		}
		ib.CPE = b.Key
	case store.BindClientID:
		c, err := netid.ParseClientID(b.Key)
		if err != nil {
			return ib, err
		}
		ib.ClientID = c
	default:
		return ib, fmt.Errorf("kind %q: want ipv4, ipv6, cpe or client_id", b.Kind)
	}
	return ib, nil
}

// compileProfiles compiles the touched store profiles, and those of the
// households whose item changed (their time zone), into the policy.
func (a *applying) compileProfiles() error {
	e := a.e
	for h := range a.hhItem {
		ps, _ := e.hhProfiles.Get(h)
		for _, p := range ps {
			a.profs[p] = true
		}
		a.hhEntry[h] = true
	}
	var put []policy.ProfileSpec
	var remove []string
	for _, id := range sortedKeys(a.profs) {
		key := "profile " + id
		us, _ := e.users.Get(id)
		for _, u := range us {
			if u[0] == 'd' {
				a.devs[u[2:]] = true
			} else {
				a.hhEntry[u[2:]] = true
			}
		}
		sp, ok := e.profiles.Get(id)
		if !ok {
			e.problems.Delete(key)
			if !a.s.plan.hasProfile(id) {
				remove = append(remove, id)
			}
			continue
		}
		a.hhEntry[sp.Household] = true
		a.touchGrantDevs(sp.Household)
		if a.s.plan.hasProfile(sp.ID) {
			a.setProblems(key, []error{fmt.Errorf("profile %s: the config file defines it; the store's copy is ignored", sp.ID)})
			continue
		}
		spec, errs := a.profileSpec(sp)
		a.setProblems(key, errs)
		if errs != nil {
			remove = append(remove, id)
			continue
		}
		put = append(put, spec)
	}
	if len(put)+len(remove) == 0 {
		return nil
	}
	pol, err := a.pol.WithProfiles(put, remove, "")
	if err != nil {
		return err
	}
	a.pol = pol
	return nil
}

// profileSpec checks and compiles one store profile, in its household's
// time zone unless it has its own.
func (a *applying) profileSpec(sp store.Profile) (policy.ProfileSpec, []error) {
	if sp.TimeZone == "" {
		if h, ok := a.e.households.Get(sp.Household); ok {
			sp.TimeZone = h.TimeZone
		}
	}
	var errs []error
	profile.Validate("profile", sp, func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("profile %s: %s: %s", sp.ID, path, fmt.Sprintf(format, args...)))
	})
	if len(errs) > 0 {
		return policy.ProfileSpec{}, errs
	}
	spec, err := a.s.plan.profileSpec(plainErrorf("profile "+sp.ID), "profile", sp)
	if err != nil {
		return spec, []error{err}
	}
	return spec, nil
}

// touchGrantDevs marks the devices with grants of household h for
// compiling again: their base profile may have changed.
func (a *applying) touchGrantDevs(h string) {
	ds, _ := a.e.grantDevs.Get(h)
	for _, d := range ds {
		a.devs[d] = true
	}
}

// compileHouseholds sets the identity tables' entry of each touched
// household: the default profile its devices without one of their own,
// and its bindings, get. The home household's may become the default.
func (a *applying) compileHouseholds() error {
	e := a.e
	for _, id := range sortedKeys(a.hhEntry) {
		a.touchGrantDevs(id)
		if !a.bulk { // a bulk build's problem table holds none yet
			e.problems.Delete("household " + id)
		}
		h, ok := e.households.Get(id)
		if !ok {
			continue
		}
		def := h.DefaultProfile
		if id == store.HomeHousehold && def != "" && def != a.s.plan.def {
			// The config file's default_profile, when written, wins over
			// the one set in the UI: the parent is told, not overridden
			// silently.
			if a.s.plan.defAt != "" {
				a.setProblems("household "+id, []error{fmt.Errorf("household %s: default_profile %q is not used: the config file's default_profile %q (%s) wins", store.HomeHousehold, def, a.s.plan.def, a.s.plan.defAt)})
				def = ""
			}
		}
		if _, valid := a.pol.Profile(def); !valid {
			def = ""
		}
		a.iu.Households = append(a.iu.Households, identity.Household{ID: id, DefaultProfile: def})
	}
	if a.hhEntry[store.HomeHousehold] || a.hhItem[store.HomeHousehold] {
		def := a.s.plan.def
		if h, ok := e.households.Get(store.HomeHousehold); ok && a.s.plan.defAt == "" && h.DefaultProfile != "" {
			if _, valid := a.pol.Profile(h.DefaultProfile); valid {
				def = h.DefaultProfile
			}
		}
		if def != a.def {
			pol, err := a.pol.WithProfiles(nil, nil, def)
			if err != nil {
				return err
			}
			a.pol, a.def, a.iu.DefaultProfile = pol, def, def
			// Grant profiles made from the default change with it.
			for _, ds := range a.s.items.grantDevs.All() { // devices not compiled yet: unchanged
				for _, d := range ds {
					a.devs[d] = true
				}
			}
		}
	}
	return nil
}

// rank orders the claimants of one identifier: the config file's devices,
// then the devices a parent named, then new ones, each by id. The first
// keeps it, whatever order the changes came in.
func (a *applying) rank(name string) (int, string) {
	if a.s.plan.device(name) != nil {
		return 0, name
	}
	if d, ok := a.e.devices.Get(name); ok && d.New {
		return 2, name
	}
	return 1, name
}

func (a *applying) before(x, y string) bool {
	rx, nx := a.rank(x)
	ry, ny := a.rank(y)
	return rx < ry || rx == ry && nx < ny
}

// ownerOf returns the device owning k.
func (a *applying) ownerOf(k netid.Key) string {
	if o, ok := a.owner[k]; ok {
		return o
	}
	o, _ := a.s.Identity.Owner(k)
	return o
}

// release gives up dev's claim on k; the best other claimant gets it.
func (a *applying) release(k netid.Key, dev string) {
	if a.ownerOf(k) != dev {
		removeFrom(a.e.contested, k, dev)
		return
	}
	others, _ := a.e.contested.Get(k)
	if len(others) == 0 {
		a.owner[k] = ""
		return
	}
	best := others[0]
	for _, o := range others[1:] {
		if a.before(o, best) {
			best = o
		}
	}
	removeFrom(a.e.contested, k, best)
	a.owner[k] = best
	a.lost[best] = true
	a.touchContenders(k)
}

// touchContenders marks the claimants of k that do not own it for
// compiling again: their problems name the owner, which changed.
func (a *applying) touchContenders(k netid.Key) {
	others, _ := a.e.contested.Get(k)
	for _, o := range others {
		a.lost[o] = true
	}
}

// claim records dev's claim on k: it owns k unless a better claimant
// does (see rank).
func (a *applying) claim(k netid.Key, dev string) {
	switch o := a.ownerOf(k); {
	case o == "" || o == dev:
		a.owner[k] = dev
	case a.before(dev, o):
		a.owner[k] = dev
		addTo(a.e.contested, k, o)
		a.touchContenders(k)
	default:
		addTo(a.e.contested, k, dev)
	}
}

// storeDevice returns a store device as the tables take it: false when it
// is missing, or shadowed by a config file device, or set aside.
func storeDevice(m interface {
	Get(string) (store.Device, bool)
}, p *Plan, name string) (store.Device, bool) {
	d, ok := m.Get(name)
	if !ok || p.device(name) != nil || checkStoreDevice(d) != nil {
		return store.Device{}, false
	}
	return d, true
}

// keys returns the identifiers a store device claims, in canonical form:
// its addresses and MACs, and its DNS id or else its chosen client ids.
// checkStoreDevice has checked them.
func keys(d store.Device) []netid.Key {
	var out []netid.Key
	add := func(kind netid.Kind, s string) {
		if k, err := netid.KeyOf(kind, s); err == nil {
			out = append(out, k)
		}
	}
	for _, s := range d.IPs {
		add(netid.KindIP, s)
	}
	for _, s := range d.MACs {
		add(netid.KindMAC, s)
	}
	if d.DNSID != nil {
		if _, err := identity.ParseDNSIDHash(d.DNSID.Hash); err == nil {
			add(netid.KindDNSID, d.DNSID.Hash)
		}
	} else {
		for _, s := range d.ClientIDs {
			add(netid.KindClientID, s)
		}
	}
	return out
}

// compileDevices compiles the touched devices: their identifiers (ranked
// claims), profile and grant profile, into the identity update and the
// policy.
func (a *applying) compileDevices() error {
	e, p := a.e, a.s.plan
	old := a.s.items.devices
	names := sortedKeys(a.devs)
	// Every touched device gives up what it held, then claims what it
	// holds now, best first, so the outcome does not depend on the order
	// of the changes.
	for _, n := range names {
		if d, ok := storeDevice(old, p, n); ok {
			for _, k := range keys(d) {
				a.release(k, n)
			}
		}
	}
	// Ranked once each: a rank reads the device.
	type ranked struct {
		rank int
		name string
	}
	order := make([]ranked, len(names))
	for i, n := range names {
		order[i].rank, order[i].name = a.rank(n)
	}
	slices.SortFunc(order, func(x, y ranked) int { return cmp.Or(cmp.Compare(x.rank, y.rank), cmp.Compare(x.name, y.name)) })
	for i := range order {
		names[i] = order[i].name
	}
	order = nil
	for _, n := range names {
		if d, ok := storeDevice(e.devices, p, n); ok {
			for _, k := range keys(d) {
				a.claim(k, n)
			}
		}
	}
	for n := range a.lost {
		if !a.devs[n] {
			names = append(names, n)
		}
	}
	var put []policy.ProfileSpec
	var remove []string
	for _, n := range names {
		spec, drop := a.compileDevice(n, a.current(n))
		if spec != nil {
			put = append(put, *spec)
		}
		if drop != "" {
			remove = append(remove, drop)
		}
	}
	return a.putDeviceProfiles(put, remove)
}

// putDeviceProfiles adds the devices' new grant profiles to the policy
// and drops those no device has any more.
func (a *applying) putDeviceProfiles(put []policy.ProfileSpec, remove []string) error {
	if len(put)+len(remove) == 0 {
		return nil
	}
	pol, err := a.pol.WithProfiles(put, remove, "")
	if err != nil {
		return err
	}
	a.pol = pol
	return nil
}

// compileDevicesBulk is compileDevices for Compile, over devs, the whole
// state's devices (a later one of the same id replacing an earlier one),
// and the other devices record touched (grants' devices). The snapshot
// holds no store device, so none gives anything up, and the devices claim
// best first (see rank): a claimant never takes an identifier from an
// earlier one, so each identifier's owner is its first claimant (or the
// config file's device holding it) and a device's identifiers are settled
// as soon as it has claimed them. Each device is then compiled at once,
// from devs, in the order compileDevices compiles it: no device is
// decoded from its packed form, nor its identifiers parsed twice, and no
// set or sorted list of the devices' names is made.
func (a *applying) compileDevicesBulk(devs []store.Device) error {
	p := a.s.plan
	byID := func(x, y store.Device) int { return strings.Compare(x.ID, y.ID) }
	// latest are the positions in devs of each id's last version, by id.
	// The store lists devices sorted by id; any other order is sorted
	// here (stable: the last version of an id stays last).
	var latest []int32
	if slices.IsSortedFunc(devs, byID) {
		latest = make([]int32, 0, len(devs))
		for i := range devs {
			if i+1 < len(devs) && devs[i+1].ID == devs[i].ID {
				continue
			}
			latest = append(latest, int32(i))
		}
	} else {
		pos := make([]int32, len(devs))
		for i := range pos {
			pos[i] = int32(i)
		}
		slices.SortStableFunc(pos, func(x, y int32) int { return byID(devs[x], devs[y]) })
		latest = pos[:0]
		for i, j := range pos {
			if i+1 < len(pos) && devs[pos[i+1]].ID == devs[j].ID {
				continue
			}
			latest = append(latest, j)
		}
	}
	// extra are the other touched names, not store devices: a grant's
	// device that is the config file's, or missing.
	var extra []string
	for _, n := range sortedKeys(a.devs) {
		if _, found := slices.BinarySearchFunc(latest, n, func(j int32, n string) int { return strings.Compare(devs[j].ID, n) }); !found {
			extra = append(extra, n)
		}
	}
	// The names by rank, then name (compileDevices' order); an entry j
	// is devs[j], or extra[-j-1] when negative.
	var ranks [3][]int32
	ranks[1] = make([]int32, 0, len(latest))
	name := func(j int32) string {
		if j < 0 {
			return extra[-j-1]
		}
		return a.devKeys[j]
	}
	add := func(j int32) {
		switch n := name(j); {
		case p.device(n) != nil:
			ranks[0] = append(ranks[0], j)
		case j >= 0 && devs[j].New:
			ranks[2] = append(ranks[2], j)
		default:
			ranks[1] = append(ranks[1], j)
		}
	}
	for i, x := 0, 0; i < len(latest) || x < len(extra); {
		if x == len(extra) || i < len(latest) && devs[latest[i]].ID < extra[x] {
			add(latest[i])
			i++
		} else {
			add(int32(-x - 1))
			x++
		}
	}
	latest = nil
	var put []policy.ProfileSpec
	var remove []string
	// sd is the device being compiled, its strings the ones the snapshot
	// keeps (see own); compileDevice keeps nothing of sd itself.
	var sd store.Device
	for _, rank := range ranks {
		for _, j := range rank {
			n := name(j)
			var cur current
			if j >= 0 {
				sd = a.own(devs[j], n)
				cur = checked(&sd)
				for i, k := range cur.keys {
					if k.Kind == netid.KindClientID {
						cur.keys[i].Value = a.arena.str(k.Value)
					}
				}
			}
			if cur.serves() && p.device(n) == nil {
				for _, k := range cur.keys {
					// claim, knowing no earlier claimant ranks after n;
					// the identity tables hold only the config file's
					// devices.
					o, ok := a.owner[k]
					if !ok && len(p.devices) > 0 {
						o, _ = a.s.Identity.Owner(k)
					}
					if o == "" || o == n {
						a.owner[k] = n
					} else {
						k.Value = a.arena.str(k.Value) // the table keeps it
						addTo(a.e.contested, k, n)
					}
				}
			}
			spec, drop := a.compileDevice(n, cur)
			if spec != nil {
				put = append(put, *spec)
			}
			if drop != "" {
				remove = append(remove, drop)
			}
		}
	}
	return a.putDeviceProfiles(put, remove)
}

// own returns d, of a bulk build, with the strings the identity tables
// keep from it replaced by the snapshot's copies: its id by key (the
// device table's), its household's id by the household table's, its
// profile's name by one interned copy. The state's strings are then all
// garbage once the build is done, rather than millions of small objects
// kept alive among them (the client ids, which the identity tables keep
// too, compileDevicesBulk copies from the device's keys).
func (a *applying) own(d store.Device, key string) store.Device {
	d.ID = key
	d.Household = a.household(d.Household)
	if d.Profile != "" {
		d.Profile = a.intern(d.Profile)
	}
	return d
}

// current is a device's store item as compileDevice takes it: d is nil
// when the store has none; bad is what checkStoreDevice says of it; keys
// are its identifiers (package netid's canonical forms) when it is not
// bad.
type current struct {
	d    *store.Device
	bad  error
	keys []netid.Key
}

// checked checks d and finds its identifiers.
func checked(d *store.Device) current {
	c := current{d: d, bad: checkStoreDevice(*d)}
	if c.bad == nil {
		c.keys = keys(*d)
	}
	return c
}

// serves reports whether the item is in the store and not set aside.
func (c current) serves() bool { return c.d != nil && c.bad == nil }

// current returns device n's store item as the edits so far leave it.
func (a *applying) current(n string) current {
	d, ok := a.e.devices.Get(n)
	if !ok {
		return current{}
	}
	return checked(&d)
}

// compileDevice compiles one device, whose store item is cur, into the
// identity update, and returns its new grant profile, if any, and the
// name of the one it no longer has.
func (a *applying) compileDevice(n string, cur current) (put *policy.ProfileSpec, remove string) {
	e, p := a.e, a.s.plan
	var problems []error
	var oldGrant, oldHH string
	var hadGrant bool
	if a.s.items.devices.Len() > 0 { // else there is nothing to give up
		oldGrant, hadGrant = a.s.items.grantProf.Get(n)
		if d, ok := storeDevice(a.s.items.devices, p, n); ok {
			a.iu.Remove = append(a.iu.Remove, a.s.identityDevice(d, nil))
			oldHH = d.Household
		}
	}
	var (
		dev     identity.Device
		hh      string
		exist   bool
		isStore bool
	)
	if cd := p.device(n); cd != nil {
		if cur.d != nil {
			problems = append(problems, fmt.Errorf("device %s: the config file defines it; the store's copy is ignored", n))
		}
		dev, exist = *cd, true
		a.iu.Remove = append(a.iu.Remove, dev)
	} else if cur.d != nil {
		sd := *cur.d
		if cur.bad != nil {
			problems = append(problems, fmt.Errorf("device %s set aside: %w", n, cur.bad))
		} else {
			exist, isStore, hh = true, true, sd.Household
			dev = a.s.identityDeviceKeys(sd, cur.keys, func(k netid.Key) bool { return a.ownerOf(k) == n })
			problems = append(problems, a.deviceProblems(sd, cur.keys)...)
			if sd.Profile != "" {
				if _, ok := a.pol.Profile(sd.Profile); !ok {
					// The policy gives an unknown profile's devices the
					// default profile, whichever it is when they query.
					problems = append(problems, fmt.Errorf("device %s: no profile %q; it gets the default profile", n, sd.Profile))
				}
			}
		}
	}
	var grants []store.Grant
	if exist {
		ids, _ := e.grantsOf.Get(n)
		for _, id := range ids {
			if g, ok := e.grants.Get(id); ok && g.Until.After(a.now) {
				grants = append(grants, g)
			}
		}
		slices.SortFunc(grants, func(x, y store.Grant) int { return cmp.Compare(x.ID, y.ID) })
	}
	if len(grants) > 0 {
		base := dev.Profile
		if isStore {
			base = a.s.baseProfileIn(a.pol, e.households, a.def, *cur.d)
		}
		i, _ := a.pol.Profile(base)
		own, err := p.grantProfile(a.pol.ProfileSpec(i), n, grants)
		if err != nil {
			problems = append(problems, err)
		} else {
			put, dev.Profile = &own, own.Name
		}
	}
	switch {
	case put != nil:
		e.grantProf.Put(n, put.Name)
		if hadGrant && oldGrant != put.Name {
			remove = oldGrant
		}
		if hadGrant && oldHH != hh {
			removeFrom(e.grantDevs, oldHH, n)
		}
		addTo(e.grantDevs, hh, n)
	case hadGrant:
		e.grantProf.Delete(n)
		remove = oldGrant
		removeFrom(e.grantDevs, oldHH, n)
	}
	if exist {
		a.iu.Put = append(a.iu.Put, dev)
	}
	// In a bulk build each device is compiled once, into an empty
	// problem table: without problems there is nothing to delete, and
	// the key would cost an allocation per device.
	if len(problems) > 0 || !a.bulk {
		a.setProblems("device "+n, problems)
	}
	return put, remove
}

// deviceProblems are a store device's identifiers that it does not get:
// a DNS id whose hash is wrong, identifiers a better claimant holds. A
// new (unclaimed) device losing an address to a named one is how a
// parent claims it, not a problem.
func (a *applying) deviceProblems(d store.Device, ks []netid.Key) []error {
	var out []error
	if d.DNSID != nil {
		if _, err := identity.ParseDNSIDHash(d.DNSID.Hash); err != nil {
			out = append(out, fmt.Errorf("device %s: %v; make it a new DNS id", d.ID, err))
		}
	}
	if d.New {
		return out
	}
	for _, k := range ks {
		if o := a.ownerOf(k); o != d.ID {
			out = append(out, fmt.Errorf("device %s: %w", d.ID, &netid.DuplicateError{Key: k, Device: d.ID, Other: o}))
		}
	}
	return out
}

// identityDevice converts a checked store device with the identifiers
// owns says it holds (all when owns is nil). Its profile is its own, or
// "" for its household's default, looked up per query.
func (s *Snapshot) identityDevice(d store.Device, owns func(netid.Key) bool) identity.Device {
	return s.identityDeviceKeys(d, keys(d), owns)
}

// identityDeviceKeys is identityDevice with d's identifiers, ks, found.
func (s *Snapshot) identityDeviceKeys(d store.Device, ks []netid.Key, owns func(netid.Key) bool) identity.Device {
	dev := identity.Device{Name: d.ID, Household: d.Household, Profile: d.Profile}
	for _, k := range ks {
		if owns != nil && !owns(k) {
			continue
		}
		switch k.Kind {
		case netid.KindIP:
			ip, _ := netid.ParseIP(k.Value)
			dev.IPs = append(dev.IPs, ip)
		case netid.KindMAC:
			hw, _ := netid.ParseMAC(k.Value)
			dev.MACs = append(dev.MACs, hw)
		case netid.KindDNSID:
			dev.DNSIDHash = k.Value
		case netid.KindClientID:
			dev.ClientIDs = append(dev.ClientIDs, k.Value)
		}
	}
	if dev.Household == "" && dev.Profile == "" {
		dev.Profile = s.def
	}
	return dev
}

// baseProfile is the profile a store device gets before grants: its own,
// else its household's default, else the default; each only if pol has
// it.
func (s *Snapshot) baseProfile(pol *policy.Snapshot, d store.Device) string {
	return s.baseProfileIn(pol, s.items.households, s.def, d)
}

func (s *Snapshot) baseProfileIn(pol *policy.Snapshot, hh interface {
	Get(string) (store.Household, bool)
}, def string, d store.Device) string {
	p := d.Profile
	if p == "" {
		if h, ok := hh.Get(d.Household); ok && (d.Household != store.HomeHousehold || s.plan.defAt == "") {
			p = h.DefaultProfile
		}
	}
	if _, ok := pol.Profile(p); ok && p != "" {
		return p
	}
	return def
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
