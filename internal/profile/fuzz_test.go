package profile

import (
	"encoding/json"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzProfile reads arbitrary bytes as a profile in JSON and in YAML: no
// input panics, and a profile that reads writes back in today's form and
// reads again the same.
func FuzzProfile(f *testing.F) {
	for _, s := range []string{
		`{"id": "kid", "safe_search": ["google"], "schedules": [{"days": "mon-fri", "from": "21:00", "to": "07:00", "pause": true}]}`,
		`{"safe_search": true, "safe_search_engines": ["bing"], "timezone": "UTC"}`,
		"safe_search: [google]\ntimezone: Europe/Paris\nschedules: [{days: [daily], from: '08:00', to: '09:00', block: [games]}]\n",
		`{"schedules": [{"days": 5}]}`,
		"preset: kid\ncolour: blue\n",
		"budgets: [{tag: games, minutes: 60, days: [weekends]}]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if p, err := ParseJSON(data); err == nil {
			out, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("marshal %+v: %v", p, err)
			}
			back, err := ParseJSON(out)
			if err != nil || !reflect.DeepEqual(normal(back), normal(p)) {
				t.Fatalf("%s reads back as %+v, %v; want %+v", out, back, err, p)
			}
		}
		var lenient Profile
		_ = json.Unmarshal(data, &lenient)
		var y Profile
		if err := yaml.Unmarshal(data, &y); err == nil {
			out, err := yaml.Marshal(y)
			if err != nil {
				t.Fatalf("marshal %+v: %v", y, err)
			}
			var back Profile
			if err := yaml.Unmarshal(out, &back); err != nil || !reflect.DeepEqual(normal(back), normal(y)) {
				t.Fatalf("%s reads back as %+v, %v; want %+v", out, back, err, y)
			}
		}
	})
}

// normal makes empty lists nil: omitempty writes neither.
func normal(p Profile) Profile {
	for _, l := range []*[]string{&p.Block, &p.Unblock, &p.Allow, &p.Deny} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	if p.SafeSearch != nil && len(p.SafeSearch.Engines) == 0 {
		p.SafeSearch = &SafeSearch{On: p.SafeSearch.On}
	}
	if len(p.Schedules) == 0 {
		p.Schedules = nil
	}
	if len(p.Budgets) == 0 {
		p.Budgets = nil
	}
	for i := range p.Budgets {
		if len(p.Budgets[i].Days) == 0 {
			p.Budgets[i].Days = nil
		}
	}
	for i := range p.Schedules {
		s := &p.Schedules[i]
		for _, l := range []*[]string{&s.Block, &s.AllowOnly} {
			if len(*l) == 0 {
				*l = nil
			}
		}
		if len(s.Days) == 0 {
			s.Days = nil
		}
	}
	return p
}
