package compile

import (
	"fmt"
	"io/fs"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/hearth-dns/hearth/blocklists"
	"github.com/hearth-dns/hearth/internal/catalog"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/lists"
	"github.com/hearth-dns/hearth/internal/netid"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/profile"
)

// protectedTags are blocked even for allow-listed names unless the allow
// entry starts with "!" (see profile.Profile). They come first in the tag
// table so that a name listed as malware is explained as malware.
var protectedTags = []string{"malware", "phishing"}

// Plan is what a config and the catalog say about policy, checked once
// per config: the tag table, the lists to compile, the config file's
// profiles and devices. Compile turns it, a compiled index and the store's
// state into a Snapshot. A Plan is immutable and safe for concurrent use.
type Plan struct {
	cat    *catalog.Catalog
	tags   []policy.TagInfo
	tagIdx map[string]policy.Tag
	// services are each category's services: blocking a category blocks
	// them too.
	services map[string][]policy.Tag
	entries  []lists.Entry
	profiles []policy.ProfileSpec
	def      string
	// defAt is where the config file writes default_profile
	// ("hearth.yaml:12"), "" when it does not: then the household's
	// default, set in the UI, wins over the built-in one.
	defAt    string
	blocking dnsmsg.Blocking
	// devices are the config file's devices.
	devices []identity.Device
	// needNeighbors: some config device is known by MAC.
	needNeighbors bool
	// nat64 are the configured DNS64 prefixes.
	nat64 []netip.Prefix
	// profileNames and deviceIdx index profiles and devices by name.
	profileNames map[string]bool
	deviceIdx    map[string]int
}

// hasProfile reports whether the config file (or the catalog's presets)
// defines the named profile.
func (p *Plan) hasProfile(name string) bool { return p.profileNames[name] }

// device returns the config file's device of that name, or nil.
func (p *Plan) device(name string) *identity.Device {
	if i, ok := p.deviceIdx[name]; ok {
		return &p.devices[i]
	}
	return nil
}

// NewPlan checks the policy parts of cfg against the catalog. Errors name
// the config file, line and field. With allCategories, the catalog's
// default sources of every category are planned, not only those of the
// categories the config's profiles block.
func NewPlan(cfg *config.Config, cat *catalog.Catalog, allCategories bool) (*Plan, error) {
	p := &Plan{cat: cat, tagIdx: map[string]policy.Tag{}, services: map[string][]policy.Tag{}, def: cfg.DefaultProfile}
	p.defAt = cfg.DefaultProfileAt()
	addTag := func(id string, service bool) {
		if _, ok := p.tagIdx[id]; !ok {
			p.tagIdx[id] = policy.Tag(len(p.tags))
			p.tags = append(p.tags, policy.TagInfo{ID: id, Service: service})
		}
	}
	for _, id := range protectedTags {
		addTag(id, false)
	}
	for _, c := range cat.Categories {
		addTag(c.ID, false)
	}
	for _, s := range cat.Services {
		addTag(s.ID, true)
		p.services[s.Category] = append(p.services[s.Category], p.tagIdx[s.ID])
	}
	if len(p.tags) > policy.MaxTags {
		return nil, fmt.Errorf("catalog: %d tags, at most %d", len(p.tags), policy.MaxTags)
	}

	if err := p.planProfiles(cfg); err != nil {
		return nil, err
	}
	p.profileNames, p.deviceIdx = map[string]bool{}, map[string]int{}
	for _, prof := range p.profiles {
		p.profileNames[prof.Name] = true
	}
	for i, d := range p.devices {
		p.deviceIdx[d.Name] = i
	}
	blocked := policy.TagSet{}
	for _, prof := range p.profiles {
		blocked = blocked.Or(prof.Block)
		if prof.BypassProtection {
			blocked = blocked.With(p.tagIdx["bypass"])
		}
	}

	// Lists: our embedded service lists and bypass basics, the catalog's
	// public sources of the categories some profile blocks, and the
	// config's own sources.
	for _, s := range cat.Services {
		p.entries = append(p.entries, lists.Entry{
			Source: lists.Source{ID: "service-" + s.ID, File: "services/" + s.ID + ".txt", Format: lists.FormatDomains, PlainSubtree: true},
			Tag:    s.ID, FS: blocklists.FS,
		})
	}
	p.entries = append(p.entries, lists.Entry{
		Source: lists.Source{ID: "hearth-bypass", File: "bypass.txt", Format: lists.FormatDomains, PlainSubtree: true},
		Tag:    "bypass", FS: blocklists.FS,
	})
	if cfg.Lists.Defaults {
		for _, c := range cat.Categories {
			// With a store, parents turn categories on at run time and
			// expect it to work at once: every category's lists load.
			if !allCategories && !blocked.Has(p.tagIdx[c.ID]) {
				continue
			}
			if c.CuratedFile != "" {
				// Our own curated names of the category
				// (blocklists/curated), embedded: like the seed, part
				// of the category's defaults, there before the first
				// download.
				p.entries = append(p.entries, lists.Entry{
					Source: lists.Source{ID: "curated-" + c.ID, File: c.CuratedFile, Format: lists.FormatDomains, PlainSubtree: true},
					Tag:    c.ID, FS: blocklists.FS, Exclude: c.Exclude,
				})
			}
			if seed := "seed/" + c.ID + ".txt.gz"; hasFile(blocklists.FS, seed) {
				// The offline seed: what a fresh install blocks before
				// its first download (scripts/build-seed).
				p.entries = append(p.entries, lists.Entry{
					Source: lists.Source{ID: "seed-" + c.ID, File: seed, Format: lists.FormatDomains, PlainWWW: true},
					Tag:    c.ID, FS: blocklists.FS, Exclude: c.Exclude,
				})
			}
			for _, s := range c.Sources {
				src := s.List()
				src.Refresh = cfg.Lists.Refresh
				p.entries = append(p.entries, lists.Entry{Source: src, Tag: c.ID, Exclude: c.Exclude})
			}
		}
	}
	for i, s := range cfg.Sources {
		path := fmt.Sprintf("sources[%d]", i)
		if _, ok := p.tagIdx[s.Tag]; !ok {
			return nil, cfg.Errorf(path+".tag", "%q is not a category or service of the catalog", s.Tag)
		}
		f, err := lists.ParseFormat(s.Format)
		if err != nil {
			return nil, cfg.Errorf(path+".format", "%v", err)
		}
		id := s.ID
		if id == "" {
			id = fmt.Sprintf("config-%s-%d", s.Tag, i)
		}
		// Hosts files list a site's bare name: www. is matched too unless
		// the config says otherwise.
		subtree, www := f != lists.FormatHosts, f == lists.FormatHosts
		if s.Subtree != nil {
			subtree, www = *s.Subtree, false
		}
		switch s.Match {
		case catalog.MatchExact:
			subtree, www = false, false
		case catalog.MatchWWW:
			subtree, www = false, true
		case catalog.MatchSubtree:
			subtree, www = true, false
		}
		file := s.File
		if file != "" && !filepath.IsAbs(file) && cfg.File() != "" {
			file = filepath.Join(filepath.Dir(cfg.File()), file)
		}
		p.entries = append(p.entries, lists.Entry{
			Source: lists.Source{ID: id, URL: s.URL, File: file, Format: f, PlainSubtree: subtree, PlainWWW: www, Refresh: cfg.Lists.Refresh},
			Tag:    s.Tag,
		})
	}

	switch cfg.Blocking.Mode {
	case "nxdomain":
		p.blocking.Mode = dnsmsg.BlockNXDomain
	case "address":
		p.blocking.Mode = dnsmsg.BlockAddress
		for _, a := range cfg.Blocking.Address {
			ip := netip.MustParseAddr(a) // checked by config.Validate
			if ip.Is4() {
				p.blocking.IPv4 = ip
			} else {
				p.blocking.IPv6 = ip
			}
		}
	}
	p.blocking.TTL = uint32(cfg.Blocking.TTL / time.Second)
	for _, s := range cfg.Lists.DNS64Prefixes {
		pfx, _ := config.ParseDNS64Prefix(s) // checked by config.Validate
		p.nat64 = append(p.nat64, pfx)
	}
	return p, nil
}

// planProfiles turns the config's profiles, and the presets named by
// devices or the default profile without a profile entry, into specs.
func (p *Plan) planProfiles(cfg *config.Config) error {
	profiles := map[string]profile.Profile{}
	for name, prof := range cfg.Profiles {
		profiles[name] = prof
	}
	// Every preset is a profile too, so that a device can be given one
	// from the web UI without writing a profile first.
	for _, pre := range p.cat.Presets {
		if _, ok := profiles[pre.ID]; !ok {
			profiles[pre.ID] = profile.Profile{ID: pre.ID, Name: pre.ID, Preset: pre.ID}
		}
	}
	used := []struct{ path, name string }{{"default_profile", cfg.DefaultProfile}}
	for i, d := range cfg.Devices {
		used = append(used, struct{ path, name string }{fmt.Sprintf("devices[%d].profile", i), d.Profile})
	}
	for _, u := range used {
		if _, ok := profiles[u.name]; ok {
			continue
		}
		if _, ok := p.cat.Preset(u.name); !ok {
			return cfg.Errorf(u.path, "no profile or preset named %q", u.name)
		}
		profiles[u.name] = profile.Profile{ID: u.name, Name: u.name, Preset: u.name}
	}
	names := make([]string, 0, len(profiles))
	for name := range profiles {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		prof := profiles[name]
		prof.ID = name // the key is the id, however the config was made
		spec, err := p.profileSpec(cfg.Errorf, "profiles."+name, prof)
		if err != nil {
			return err
		}
		p.profiles = append(p.profiles, spec)
	}
	for _, d := range cfg.Devices {
		dev := identity.Device{Name: d.Name, Profile: d.Profile}
		// Every identifier was checked by config.Validate (package netid).
		if d.IP != "" {
			ip, _ := netid.ParseIP(d.IP)
			dev.IPs = append(dev.IPs, ip)
		}
		if d.CIDR != "" {
			c, _ := netid.ParsePrefix(d.CIDR)
			dev.CIDRs = append(dev.CIDRs, c)
		}
		if d.MAC != "" {
			hw, _ := netid.ParseMAC(d.MAC)
			dev.MACs = append(dev.MACs, hw)
			p.needNeighbors = true
		}
		if d.ClientID != "" {
			c, _ := netid.ParseClientID(d.ClientID)
			dev.ClientIDs = append(dev.ClientIDs, c)
		}
		p.devices = append(p.devices, dev)
	}
	return nil
}

// errorf makes an error about the field at path: config.Config.Errorf for
// a config file, a plain "path: message" for the store.
type errorf func(path, format string, args ...any) error

// profileSpec turns a profile, config-file or store, into a policy spec
// named by its id. Fields needing no catalog were checked by
// profile.Validate.
func (p *Plan) profileSpec(errf errorf, path string, prof profile.Profile) (policy.ProfileSpec, error) {
	spec := policy.ProfileSpec{Name: prof.ID, NoQueryLog: prof.QueryLog != nil && !*prof.QueryLog}
	if prof.Preset != "" {
		pre, ok := p.cat.Preset(prof.Preset)
		if !ok {
			return spec, errf(path+".preset", "no preset %q (kid, tween, teen or adult)", prof.Preset)
		}
		for _, t := range pre.Block {
			spec.Block = spec.Block.Or(p.tagWithServices(t))
		}
		spec.SafeSearch = pre.SafeSearch
		spec.BypassProtection = pre.BypassProtection
		spec.YouTube, _ = policy.ParseYouTubeMode(pre.YouTube)
	}
	for _, l := range []struct {
		field string
		tags  []string
	}{{"block", prof.Block}, {"unblock", prof.Unblock}} {
		field := l.field
		for i, t := range l.tags {
			if _, ok := p.tagIdx[t]; !ok {
				return spec, errf(fmt.Sprintf("%s.%s[%d]", path, field, i), "%q is not a category or service", t)
			}
			if field == "block" {
				spec.Block = spec.Block.Or(p.tagWithServices(t))
			} else {
				spec.Block = spec.Block.AndNot(p.tagWithServices(t))
			}
		}
	}
	if prof.SafeSearch != nil {
		spec.SafeSearch = prof.SafeSearch.On
		for i, e := range prof.SafeSearch.Engines {
			if !p.hasEngine(e) {
				return spec, errf(fmt.Sprintf("%s.safe_search[%d]", path, i), "%q is not a search engine of the safe-search table", e)
			}
		}
		spec.SafeSearchEngines = prof.SafeSearch.Engines
	}
	if prof.BypassProtection != nil {
		spec.BypassProtection = *prof.BypassProtection
	}
	if prof.YouTube != "" {
		spec.YouTube, _ = policy.ParseYouTubeMode(prof.YouTube) // checked by config.Validate
	}
	if prof.TimeZone != "" {
		loc, err := time.LoadLocation(prof.TimeZone)
		if err != nil {
			return spec, errf(path+".timezone", "%v", err)
		}
		spec.Location = loc
	}
	for i, sc := range prof.Schedules {
		sp := fmt.Sprintf("%s.schedules[%d]", path, i)
		w := policy.Window{Name: sc.Name, Kind: policy.BlockExtra}
		if w.Name == "" {
			w.Name = fmt.Sprintf("schedule-%d", i+1)
		}
		w.Days, _ = profile.ParseDays(sc.Days) // checked by profile.Validate
		w.Start, _ = profile.ParseClock(sc.From)
		w.End, _ = profile.ParseClock(sc.To)
		tags := sc.Block
		switch {
		case sc.Pause:
			w.Kind = policy.Pause
		case len(sc.AllowOnly) > 0:
			w.Kind, tags = policy.AllowOnly, sc.AllowOnly
		}
		for j, t := range tags {
			if _, ok := p.tagIdx[t]; !ok {
				return spec, errf(fmt.Sprintf("%s.%s[%d]", sp, map[bool]string{true: "allow_only", false: "block"}[w.Kind == policy.AllowOnly], j), "%q is not a category or service", t)
			}
			w.Tags = w.Tags.Or(p.tagWithServices(t))
		}
		spec.Windows = append(spec.Windows, w)
	}
	for i, b := range prof.Budgets {
		if _, ok := p.tagIdx[b.Tag]; !ok {
			return spec, errf(fmt.Sprintf("%s.budgets[%d].tag", path, i), "%q is not a category or service", b.Tag)
		}
		if slices.ContainsFunc(spec.Budgets, func(pb policy.Budget) bool { return pb.ID == b.Tag }) {
			continue // the same tag on other days: BudgetMinutes merges them
		}
		if len(spec.Budgets) == policy.MaxBudgets {
			return spec, errf(fmt.Sprintf("%s.budgets[%d]", path, i), "at most %d tags have budgets", policy.MaxBudgets)
		}
		spec.Budgets = append(spec.Budgets, policy.Budget{ID: b.Tag, Tags: p.tagWithServices(b.Tag), Minutes: profile.BudgetMinutes(prof.Budgets, b.Tag)})
	}
	for _, o := range []struct {
		field string
		in    []string
		out   *[]policy.Override
	}{{"allow", prof.Allow, &spec.Allow}, {"deny", prof.Deny, &spec.Deny}} {
		for i, s := range o.in {
			n, subtree, err := profile.ParseOverride(s)
			if err != nil {
				return spec, errf(fmt.Sprintf("%s.%s[%d]", path, o.field, i), "%v", err)
			}
			*o.out = append(*o.out, policy.Override{Name: n, Subtree: subtree, Strong: len(s) > 0 && s[0] == '!'})
		}
	}
	return spec, nil
}

// hasEngine reports whether the safe-search table knows engine (YouTube
// is set with the youtube field instead).
func (p *Plan) hasEngine(engine string) bool {
	for _, r := range p.cat.SafeSearch {
		if r.Engine == engine && engine != "youtube" {
			return true
		}
	}
	// An engine without a DNS safe mode: safe search blocks it.
	for _, u := range p.cat.NoSafeSearch {
		if u.Engine == engine {
			return true
		}
	}
	return false
}

// hasFile reports whether fsys holds name.
func hasFile(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, name)
	return err == nil
}

// tagWithServices returns the tag id and, for a category, its services.
func (p *Plan) tagWithServices(id string) policy.TagSet {
	set := policy.TagSet{}.With(p.tagIdx[id])
	for _, s := range p.services[id] {
		set = set.With(s)
	}
	return set
}

// policyConfig is the policy configuration over a compiled index, without
// profiles.
func (p *Plan) policyConfig(c *lists.Compiled) (policy.Config, error) {
	infos := make([]policy.ListInfo, len(c.Lists))
	for i, l := range c.Lists {
		infos[i] = policy.ListInfo{ID: l.ID, Tag: p.tagIdx[l.Tag]}
	}
	var protected, bypass policy.TagSet
	for _, t := range protectedTags {
		protected = protected.With(p.tagIdx[t])
	}
	bypass = bypass.With(p.tagIdx["bypass"])
	// The reason shown: a service, then narrow categories, then broad
	// ones, then security ones (catalog.Precedence*).
	precedence := make([]policy.TagSet, 4)
	for _, s := range p.cat.Services {
		precedence[0] = precedence[0].With(p.tagIdx[s.ID])
	}
	for _, c := range p.cat.Categories {
		class := map[string]int{catalog.PrecedenceNarrow: 1, catalog.PrecedenceBroad: 2, catalog.PrecedenceSecurity: 3}[c.Precedence]
		precedence[class] = precedence[class].With(p.tagIdx[c.ID])
	}
	ips := make([]policy.IPRule, len(c.IPs))
	for i, r := range c.IPs {
		ips[i] = policy.IPRule{Addr: r.Addr, Prefix: r.Prefix, List: r.List}
	}
	var safe []policy.SafeSearchRule
	for _, r := range p.cat.SafeSearch {
		rule := policy.SafeSearchRule{Engine: r.Engine, Names: r.Names, Target: r.CNAME, Addrs: slices.Concat(r.A, r.AAAA)}
		if r.Engine == "youtube" {
			mode, err := policy.ParseYouTubeMode(r.Level)
			if err != nil {
				return policy.Config{}, fmt.Errorf("catalog: safe search: %w", err)
			}
			rule.YouTube = mode
		}
		safe = append(safe, rule)
	}
	var background []policy.BackgroundRule
	for _, sv := range p.cat.Services {
		// A service's background names count towards neither its own
		// budget nor its category's.
		tags := policy.TagSet{}.With(p.tagIdx[sv.ID]).With(p.tagIdx[sv.Category])
		for _, n := range sv.Background {
			background = append(background, policy.BackgroundRule{Name: n, Tags: tags})
		}
	}
	var unsupported []policy.UnsupportedEngine
	for _, u := range p.cat.NoSafeSearch {
		unsupported = append(unsupported, policy.UnsupportedEngine{Engine: u.Engine, Names: u.Names})
	}
	return policy.Config{
		NoSafeSearch: unsupported,
		Background:   background,
		NAT64:        p.nat64,
		Tags:         p.tags,
		Lists:        infos,
		Index:        c.Index,
		SafeSearch:   safe,
		Canary:       p.cat.Bypass.Canary,
		PrivateRelay: p.cat.Bypass.PrivateRelay,
		DDR:          p.cat.Bypass.DDR,
		Protected:    protected,
		Bypass:       bypass,
		IPs:          ips,
		Precedence:   precedence,
	}, nil
}

// Entries are the lists to compile, in the order of the tag table.
func (p *Plan) Entries() []lists.Entry { return p.entries }

// Blocking says how blocked answers look.
func (p *Plan) Blocking() dnsmsg.Blocking { return p.blocking }

// NeedNeighbors reports whether a config file device is known by MAC, so
// that the neighbour table is needed.
func (p *Plan) NeedNeighbors() bool { return p.needNeighbors }
