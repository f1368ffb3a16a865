package app

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"time"

	"github.com/hearth-dns/hearth/blocklists"
	"github.com/hearth-dns/hearth/internal/catalog"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/dnsmsg"
	"github.com/hearth-dns/hearth/internal/filter"
	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/lists"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/store"
)

// protectedTags are blocked even for allow-listed names unless the allow
// entry starts with "!" (DESIGN.md, Profile). They come first in the tag
// table so that a name listed as malware is explained as malware.
var protectedTags = []string{"malware", "phishing"}

// policyPlan is what a config and the catalog say about policy, checked
// once per config: the tag table, the lists to compile and the profiles.
// snapshot turns it and a compiled index into a policy snapshot.
type policyPlan struct {
	cat    *catalog.Catalog
	tags   []policy.TagInfo
	tagIdx map[string]policy.Tag
	// services are each category's services: blocking a category blocks
	// them too.
	services map[string][]policy.Tag
	entries  []lists.Entry
	profiles []policy.ProfileSpec
	def      string
	blocking dnsmsg.Blocking
	// devices are the config file's devices.
	devices []identity.Device
	// needNeighbors: some config device is known by MAC.
	needNeighbors bool
}

// planPolicy checks the policy parts of cfg against the catalog.
// With allCategories, the catalog's default sources of every category are
// planned, not only those of the categories the config's profiles block.
func planPolicy(cfg *config.Config, cat *catalog.Catalog, allCategories bool) (*policyPlan, error) {
	p := &policyPlan{cat: cat, tagIdx: map[string]policy.Tag{}, services: map[string][]policy.Tag{}, def: cfg.DefaultProfile}
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
			for _, s := range c.Sources {
				src := s.List()
				src.Refresh = cfg.Lists.Refresh
				p.entries = append(p.entries, lists.Entry{Source: src, Tag: c.ID})
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
		subtree := f != lists.FormatHosts
		if s.Subtree != nil {
			subtree = *s.Subtree
		}
		file := s.File
		if file != "" && !filepath.IsAbs(file) && cfg.File() != "" {
			file = filepath.Join(filepath.Dir(cfg.File()), file)
		}
		p.entries = append(p.entries, lists.Entry{
			Source: lists.Source{ID: id, URL: s.URL, File: file, Format: f, PlainSubtree: subtree, Refresh: cfg.Lists.Refresh},
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
	return p, nil
}

// planProfiles turns the config's profiles, and the presets named by
// devices or the default profile without a profile entry, into specs.
func (p *policyPlan) planProfiles(cfg *config.Config) error {
	profiles := map[string]config.Profile{}
	for name, prof := range cfg.Profiles {
		profiles[name] = prof
	}
	// Every preset is a profile too, so that a device can be given one
	// from the web UI without writing a profile first.
	for _, pre := range p.cat.Presets {
		if _, ok := profiles[pre.ID]; !ok {
			profiles[pre.ID] = config.Profile{Preset: pre.ID}
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
		profiles[u.name] = config.Profile{Preset: u.name}
	}
	names := make([]string, 0, len(profiles))
	for name := range profiles {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		spec, err := p.profileSpec(cfg.Errorf, "profiles."+name, name, profiles[name])
		if err != nil {
			return err
		}
		p.profiles = append(p.profiles, spec)
	}
	for _, d := range cfg.Devices {
		dev := identity.Device{Name: d.Name, Profile: d.Profile}
		if d.IP != "" {
			dev.IPs = append(dev.IPs, netip.MustParseAddr(d.IP).Unmap()) // checked by config.Validate
		}
		if d.CIDR != "" {
			dev.CIDRs = append(dev.CIDRs, netip.MustParsePrefix(d.CIDR))
		}
		if d.MAC != "" {
			hw, _ := net.ParseMAC(d.MAC)
			dev.MACs = append(dev.MACs, hw)
			p.needNeighbors = true
		}
		if d.ClientID != "" {
			dev.ClientIDs = append(dev.ClientIDs, d.ClientID)
		}
		p.devices = append(p.devices, dev)
	}
	return nil
}

// errorf makes an error about the field at path: config.Config.Errorf for
// a config file, a plain "path: message" for the store.
type errorf func(path, format string, args ...any) error

// profileSpec turns a profile, config-file or store, into a policy spec.
// Fields needing no catalog were checked by config.ValidateProfile.
func (p *policyPlan) profileSpec(errf errorf, path, name string, prof config.Profile) (policy.ProfileSpec, error) {
	spec := policy.ProfileSpec{Name: name, NoQueryLog: prof.QueryLog != nil && !*prof.QueryLog}
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
		w.Days, _ = config.ParseDays(sc.Days) // checked by config.Validate
		w.Start, _ = config.ParseClock(sc.From)
		w.End, _ = config.ParseClock(sc.To)
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
	for _, o := range []struct {
		field string
		in    []string
		out   *[]policy.Override
	}{{"allow", prof.Allow, &spec.Allow}, {"deny", prof.Deny, &spec.Deny}} {
		for i, s := range o.in {
			n, subtree, err := config.ParseOverride(s)
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
func (p *policyPlan) hasEngine(engine string) bool {
	for _, r := range p.cat.SafeSearch {
		if r.Engine == engine && engine != "youtube" {
			return true
		}
	}
	return false
}

// tagWithServices returns the tag id and, for a category, its services.
func (p *policyPlan) tagWithServices(id string) policy.TagSet {
	set := policy.TagSet{}.With(p.tagIdx[id])
	for _, s := range p.services[id] {
		set = set.With(s)
	}
	return set
}

// snapshot builds the policy snapshot of profiles over a compiled index.
func (p *policyPlan) snapshot(c *lists.Compiled, profiles []policy.ProfileSpec, def string) (*policy.Snapshot, error) {
	infos := make([]policy.ListInfo, len(c.Lists))
	for i, l := range c.Lists {
		infos[i] = policy.ListInfo{ID: l.ID, Tag: p.tagIdx[l.Tag]}
	}
	var protected, bypass policy.TagSet
	for _, t := range protectedTags {
		protected = protected.With(p.tagIdx[t])
	}
	bypass = bypass.With(p.tagIdx["bypass"])
	ips := make([]policy.IPRule, len(c.IPs))
	for i, r := range c.IPs {
		ips[i] = policy.IPRule{Addr: r.Addr, List: r.List}
	}
	var safe []policy.SafeSearchRule
	for _, r := range p.cat.SafeSearch {
		rule := policy.SafeSearchRule{Engine: r.Engine, Names: r.Names, Target: r.CNAME, Addrs: slices.Concat(r.A, r.AAAA)}
		if r.Engine == "youtube" {
			mode, err := policy.ParseYouTubeMode(r.Level)
			if err != nil {
				return nil, fmt.Errorf("catalog: safe search: %w", err)
			}
			rule.YouTube = mode
		}
		safe = append(safe, rule)
	}
	return policy.NewSnapshot(policy.Config{
		Tags:           p.tags,
		Lists:          infos,
		Index:          c.Index,
		Profiles:       profiles,
		DefaultProfile: def,
		SafeSearch:     safe,
		Canary:         p.cat.Bypass.Canary,
		PrivateRelay:   p.cat.Bypass.PrivateRelay,
		DDR:            p.cat.Bypass.DDR,
		Protected:      protected,
		Bypass:         bypass,
		IPs:            ips,
	})
}

// buildPolicy plans the policy of cfg, compiles the lists from what is on
// disk (never the network: start must work offline and fast), and makes
// the filter and the identifier of the config's and st's policy.
// Downloads run in the background once b starts.
func (a *App) buildPolicy(cfg *config.Config, b *built, st store.State) error {
	plan, err := planPolicy(cfg, a.cat, a.store != nil)
	if err != nil {
		return err
	}
	var fetcher *lists.Fetcher
	for _, e := range plan.entries {
		if e.Source.URL != "" {
			if fetcher, err = lists.New(filepath.Join(cfg.DataDir, "lists"), nil, a.log); err != nil {
				return cfg.Errorf("data_dir", "%v", err)
			}
			break
		}
	}
	mgr, err := lists.NewManager(lists.ManagerConfig{Entries: plan.entries, Fetcher: fetcher, Logger: a.log})
	if err != nil {
		return cfg.Errorf("sources", "%v", err)
	}
	compiled, err := mgr.CompileCached(filepath.Join(cfg.DataDir, "index"), !a.readOnly)
	if err != nil {
		return err
	}
	a.logCompiled(compiled)
	// Parsing left the builder's garbage behind (about 40 bytes a name):
	// give it back to the system now rather than keep it as RSS.
	debug.FreeOSMemory()
	b.plan, b.lists, b.dataDir = plan, mgr, cfg.DataDir

	var trusted []netip.Prefix
	for _, s := range cfg.Access.TrustedForwarders {
		p, _ := config.ParsePrefix(s) // checked by config.Validate
		trusted = append(trusted, p)
	}
	b.identBase = identity.Config{
		TrustedForwarders: trusted,
		ClientIDDomains:   cfg.Access.ClientIDDomains,
		Logger:            a.log,
	}
	if b.recorder != nil {
		b.identBase.Unknown = b.recorder
	}
	if plan.needNeighbors || hasMACs(st) || (b.recorder != nil && !a.readOnly) {
		n := identity.NewNeighbors(identity.NeighborsConfig{Logger: a.log})
		if err := n.Refresh(); err != nil {
			a.log.Warn("neighbour table", "err", err)
		}
		b.identBase.Neighbors = n
		b.background = append(b.background, func(ctx context.Context) { n.Run(ctx, 30*time.Second) })
	}
	v, err := a.policyOf(b, compiled, st)
	if err != nil {
		return err
	}
	b.view.Store(v)
	fc := filter.Config{Blocking: plan.blocking, Now: a.now, Logger: a.log}
	if a.obs != nil {
		fc.Observer = a.obs
	}
	b.filter = filter.New(fc)
	if mgr.HasDownloads() {
		b.background = append(b.background, func(ctx context.Context) { a.refreshLists(ctx, b, cfg.Lists.Refresh) })
	}
	return nil
}

// hasMACs reports whether some store device is known by MAC, so that the
// neighbour table is needed.
func hasMACs(st store.State) bool {
	for _, d := range st.Devices {
		if len(d.MACs) > 0 {
			return true
		}
	}
	return false
}

// view is one immutable generation of everything a query is decided
// against: the device tables, the policy over the compiled lists, and the
// store state both came from. It is built whole off the query path and
// swapped in with one pointer store (built.view), so a query identified
// with one generation is always decided with the same one.
type view struct {
	ident    *identity.Identifier
	policy   *policy.Snapshot
	compiled *lists.Compiled
	state    store.State
	merged   *merged
}

// policyOf builds the view of b's plan and st over compiled. Store items
// that are wrong are logged and left out.
func (a *App) policyOf(b *built, compiled *lists.Compiled, st store.State) (*view, error) {
	m := b.plan.merge(st, a.now())
	for _, p := range m.problems {
		a.log.Warn("store item left out", "err", p)
	}
	snap, err := b.plan.snapshot(compiled, m.profiles, m.def)
	if err != nil {
		return nil, err
	}
	c := b.identBase
	c.Devices, c.DefaultProfile = m.devices, m.def
	ident, err := identity.New(c)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	return &view{ident: ident, policy: snap, compiled: compiled, state: st, merged: &m}, nil
}

// identify is the Identify step: it loads the view once for the query,
// identifies the device with its tables and hands its policy on in
// r.Policy, so the Policy step decides with the same generation.
func (b *built) identify() pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
			v := b.view.Load()
			v.ident.Apply(r)
			r.Policy = v.policy
			return next.ServeDNS(ctx, w, r)
		})
	}
}

// applyState swaps in the policy of st, keeping b's lists: the store
// changed. Queries never wait: they see the old policy or the new one.
func (a *App) applyState(b *built, st store.State) error {
	b.policyMu.Lock()
	defer b.policyMu.Unlock()
	return a.swapPolicy(b, b.view.Load().compiled, st)
}

// swapPolicy builds the policy of compiled and st and swaps it in; the
// caller holds b.policyMu.
func (a *App) swapPolicy(b *built, compiled *lists.Compiled, st store.State) error {
	v, err := a.policyOf(b, compiled, st)
	if err != nil {
		return err
	}
	b.view.Store(v)
	return nil
}

// applyLists swaps in the policy over a newly compiled index.
func (a *App) applyLists(b *built, c *lists.Compiled) error {
	b.policyMu.Lock()
	defer b.policyMu.Unlock()
	if err := a.swapPolicy(b, c, b.view.Load().state); err != nil {
		return err
	}
	a.logCompiled(c)
	debug.FreeOSMemory()
	return nil
}

func (a *App) logCompiled(c *lists.Compiled) {
	loaded := 0
	for _, l := range c.Lists {
		if l.Loaded {
			loaded++
		} else {
			a.log.Debug("list not loaded", "list", l.ID, "err", l.Err)
		}
	}
	a.log.Info("lists compiled", "lists", loaded, "of", len(c.Lists), "names", c.Index.Len(), "index_bytes", c.Index.Bytes(), "took", c.Took.Round(time.Millisecond), "from_snapshot", c.FromSnapshot)
}

// refreshLists downloads the lists now and then every period, and swaps
// in a new snapshot whenever one changed.
func (a *App) refreshLists(ctx context.Context, b *built, every time.Duration) {
	for {
		if b.lists.Refresh(ctx) && ctx.Err() == nil {
			c, err := b.lists.CompileCached(filepath.Join(b.dataDir, "index"), true)
			if err == nil {
				err = a.applyLists(b, c)
			}
			if err != nil {
				a.log.Error("list rebuild failed; the running lists keep serving", "err", err)
			}
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
