package app

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/hearth-dns/hearth/internal/api"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/store"
)

// backend is what the API asks of the running app.
type backend struct{ a *App }

var _ api.Backend = backend{}

func (k backend) Catalog() api.Catalog {
	cat := k.a.cat
	var out api.Catalog
	for _, c := range cat.Categories {
		ac := api.Category{ID: c.ID, Name: c.Name, Description: c.Description, Services: []api.Service{}}
		for _, s := range cat.Services {
			if s.Category == c.ID {
				ac.Services = append(ac.Services, api.Service{ID: s.ID, Name: s.Name})
			}
		}
		out.Categories = append(out.Categories, ac)
	}
	for _, p := range cat.Presets {
		out.Presets = append(out.Presets, api.Preset{ID: p.ID, Description: p.Description, Block: p.Block, SafeSearch: p.SafeSearch, YouTube: p.YouTube})
	}
	seen := map[string]bool{}
	for _, r := range cat.SafeSearch {
		if r.Engine != "youtube" && !seen[r.Engine] {
			seen[r.Engine] = true
			out.SearchEngines = append(out.SearchEngines, r.Engine)
		}
	}
	for _, u := range cat.NoSafeSearch {
		out.SearchEngines = append(out.SearchEngines, u.Engine) // blocked by safe search
	}
	return out
}

func (k backend) CheckProfile(p store.Profile) error {
	return k.a.cur.Load().plan.CheckProfile(p)
}

func (k backend) Provisioned() ([]store.Profile, []store.Device) {
	b := k.a.cur.Load()
	var profiles []store.Profile
	names := make([]string, 0, len(b.cfg.Profiles))
	for name := range b.cfg.Profiles {
		names = append(names, name)
	}
	sort.Strings(names)
	defined := map[string]bool{}
	for _, name := range names {
		p := b.cfg.Profiles[name]
		p.ID = name
		if p.Name == "" {
			p.Name = name
		}
		profiles = append(profiles, p)
		defined[name] = true
	}
	for _, pre := range k.a.cat.Presets {
		if !defined[pre.ID] {
			profiles = append(profiles, store.Profile{ID: pre.ID, Name: strings.ToUpper(pre.ID[:1]) + pre.ID[1:], Preset: pre.ID})
		}
	}
	var devices []store.Device
	for _, d := range b.cfg.Devices {
		sd := store.Device{ID: d.Name, Name: d.Name, Profile: d.Profile}
		if d.IP != "" {
			sd.IPs = []string{d.IP}
		}
		if d.CIDR != "" {
			sd.IPs = append(sd.IPs, d.CIDR)
		}
		if d.MAC != "" {
			sd.MACs = []string{d.MAC}
		}
		if d.ClientID != "" {
			sd.ClientIDs = []string{d.ClientID}
		}
		devices = append(devices, sd)
	}
	return profiles, devices
}

func (k backend) EffectiveProfile(device string) string {
	b := k.a.cur.Load()
	return b.live.Load().ProfileOf(device)
}

func (k backend) Sync(ctx context.Context) error {
	if k.a.sync == nil {
		return errors.New("no store")
	}
	return k.a.sync.Sync(ctx)
}

func (k backend) Explain(ctx context.Context, q api.ExplainRequest) (api.Explanation, error) {
	e, err := k.a.Explain(ctx, q)
	if err != nil {
		return api.Explanation{}, err
	}
	return *e, nil
}

func (k backend) Sources() api.SourcesReport { return k.a.sourcesReport(k.a.cur.Load()) }

func (k backend) LogDropped() uint64 {
	if k.a.qlog == nil {
		return 0
	}
	return k.a.qlog.Stats().Dropped
}

func (k backend) SetAside() []string {
	out := []string{}
	if s := k.a.cur.Load().live.Load(); s != nil {
		for _, p := range s.AllProblems() {
			out = append(out, p.Error())
		}
	}
	return out
}

func (k backend) DeviceStates(device string, now time.Time) []api.DeviceState {
	v := k.a.cur.Load().live.Load()
	d, ok := v.Device(device)
	if !ok {
		return nil
	}
	s := v.Policy
	kinds := [...]string{
		policy.StatusPaused: api.StatePaused, policy.StatusAllowed: api.StateAllowed,
		policy.StatusPauseWindow: api.StatePauseWindow, policy.StatusAllowWindow: api.StateAllowWindow,
		policy.StatusBlockWindow: api.StateBlockWindow,
	}
	var out []api.DeviceState
	for _, st := range s.Status(s.ProfileOrDefault(d.Profile), now) {
		out = append(out, api.DeviceState{Kind: kinds[st.Kind], Name: st.Name, Tags: st.Tags, Until: st.Until.UTC()})
	}
	return out
}

func (k backend) ConfigDefaultProfile() (profile, at string) {
	cfg := k.a.cur.Load().cfg
	if at := cfg.DefaultProfileAt(); at != "" {
		return cfg.DefaultProfile, at
	}
	return "", ""
}

func (k backend) DeviceBudgets(device string, now time.Time) []api.DeviceBudget {
	v := k.a.cur.Load().live.Load()
	d, ok := v.Device(device)
	if !ok {
		return nil
	}
	s := v.Policy
	var out []api.DeviceBudget
	for _, u := range k.a.budgets.Usage(device, s, s.ProfileOrDefault(d.Profile), now) {
		out = append(out, api.DeviceBudget{Budget: u.ID, Limit: u.Limit, Extra: u.Extra, Used: u.Used, Left: u.Left, Spent: u.Spent, ResetsAt: u.DayEnd.UTC()})
	}
	return out
}
