// Package profile owns the one profile model: the policy a device is
// given. The config file (package config), the store and its change feed
// (package store), the REST API (package api) and the policy compiler
// (package policy/compile) all read and write this one type; YAML and
// JSON spell it the same way.
//
// Older versions spelled a few fields differently; they are still read
// on input and never written:
//
//   - time_zone was "timezone" in the config file;
//   - safe_search was a bool with a separate "safe_search_engines" list
//     in the API and the store (now: true, false, or the list itself);
//   - a schedule's days were one string in the API and the store
//     ("mon,wed" or "weekdays"; now a list, ["mon", "wed"]).
package profile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Profile is a policy that devices are given. Any field left out comes
// from the preset. In the config file, a profile's id is its key under
// profiles: and id, household and version are not written.
type Profile struct {
	// ID is a short slug, unique across households; it is the name the
	// policy snapshot and explanations use.
	ID string `json:"id" yaml:"-"`
	// Household owns the profile; "" for the config file's profiles.
	Household string `json:"household" yaml:"-"`
	// Name is what parents see ("Emma (8)"); the config file's default
	// is the id.
	Name string `json:"name" yaml:"name"`
	// Preset is the catalog preset to start from: kid, tween, teen, adult.
	Preset string `json:"preset,omitempty" yaml:"preset,omitempty"`
	// Block adds categories or services (tags) to block.
	Block []string `json:"block,omitempty" yaml:"block,omitempty"`
	// Unblock removes tags the preset blocks.
	Unblock []string `json:"unblock,omitempty" yaml:"unblock,omitempty"`
	// Allow lists domains always answered ("x.com" is the name and its
	// subdomains, "=x.com" the name alone); it beats every block except
	// malware and phishing, unless listed with a leading "!".
	Allow []string `json:"allow,omitempty" yaml:"allow,omitempty"`
	// Deny lists domains always blocked, same syntax as Allow.
	Deny []string `json:"deny,omitempty" yaml:"deny,omitempty"`
	// SafeSearch forces safe search on or off, on every engine or on a
	// list of them; nil keeps the preset's choice. YouTube has its own
	// field.
	SafeSearch *SafeSearch `json:"safe_search,omitempty" yaml:"safe_search,omitempty"`
	// YouTube is the YouTube restriction: strict, moderate or off; ""
	// keeps the preset's.
	YouTube string `json:"youtube,omitempty" yaml:"youtube,omitempty"`
	// BypassProtection blocks encrypted-DNS, VPN and proxy services, the
	// Firefox canary and iCloud Private Relay; nil keeps the preset's.
	BypassProtection *bool `json:"bypass_protection,omitempty" yaml:"bypass_protection,omitempty"`
	// TimeZone is the IANA zone of the schedules; "" means the
	// household's (UTC for the config file's profiles).
	TimeZone string `json:"time_zone,omitempty" yaml:"time_zone,omitempty"`
	// Schedules are weekly windows: bedtime, homework, recreation time.
	Schedules []Schedule `json:"schedules,omitempty" yaml:"schedules,omitempty"`
	// QueryLog false keeps the profile's queries out of the query log and
	// its counters; nil means true.
	QueryLog *bool `json:"query_log,omitempty" yaml:"query_log,omitempty"`
	// Budgets are daily time budgets per category or service, counted in
	// active minutes from DNS (docs/budgets.md).
	Budgets []Budget `json:"budgets,omitempty" yaml:"budgets,omitempty"`
	// Version is the store's optimistic-concurrency version.
	Version int64 `json:"version" yaml:"-"`
}

// Schedule is one weekly window of a profile. Exactly one of Pause,
// Block and AllowOnly says what it does.
type Schedule struct {
	Name string `json:"name" yaml:"name"`
	// Days are the days the window starts on (see ParseDays).
	Days Days `json:"days" yaml:"days"`
	// From and To are local times, "HH:MM"; a To at or before From ends
	// the next day.
	From string `json:"from" yaml:"from"`
	To   string `json:"to" yaml:"to"`
	// Pause blocks everything but the allow list (bedtime).
	Pause bool `json:"pause,omitempty" yaml:"pause,omitempty"`
	// Block blocks these tags too while the window lasts (homework).
	Block []string `json:"block,omitempty" yaml:"block,omitempty"`
	// AllowOnly allows these tags only inside the window (recreation).
	AllowOnly []string `json:"allow_only,omitempty" yaml:"allow_only,omitempty"`
}

// Budget is a daily time allowance for a category or a service: the
// minutes of a day in which a device may use it. Several budgets for one
// tag give it different allowances on different days (games 60 minutes
// on weekdays, 120 at weekends), never two on one day.
type Budget struct {
	// Tag is the category or service ("games", "tiktok").
	Tag string `json:"tag" yaml:"tag"`
	// Minutes is the allowance per day, 0 to 1440; required.
	Minutes *int `json:"minutes" yaml:"minutes"`
	// Days are the days it applies, as a schedule's; none means every
	// day.
	Days Days `json:"days,omitempty" yaml:"days,omitempty"`
}

// SafeSearch is a profile's safe_search: true or false, or the list of
// engines it is forced on.
type SafeSearch struct {
	// On is true when safe search is forced on some engine, false when
	// it is off on all.
	On bool
	// Engines, when not empty, are the only engines it is forced on.
	Engines []string
}

// Days are a schedule's days: each a day (mon..sun), a range of days
// ("mon-fri", "fri-sun"), or daily, weekdays, weekends. On input a
// single string is read too, split at commas and spaces ("mon,wed").
type Days []string

// splitDays splits the old one-string form of a schedule's days.
func splitDays(s string) Days {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// UnmarshalJSON reads a list of days, or one string ("mon,wed").
func (d *Days) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*d = splitDays(s)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("days: want a list of days or a string: %w", err)
	}
	*d = list
	return nil
}

// UnmarshalYAML reads a list of days, or one string ("mon,wed").
func (d *Days) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*d = splitDays(s)
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*d = list
	return nil
}

// MarshalJSON writes true, false, or the list of engines.
func (s SafeSearch) MarshalJSON() ([]byte, error) {
	if len(s.Engines) > 0 {
		return json.Marshal(s.Engines)
	}
	return json.Marshal(s.On)
}

// UnmarshalJSON reads true, false, or a list of engine names.
func (s *SafeSearch) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		*s = SafeSearch{On: true}
		return json.Unmarshal(b, &s.Engines)
	}
	*s = SafeSearch{}
	return json.Unmarshal(b, &s.On)
}

// MarshalYAML writes true, false, or the list of engines.
func (s SafeSearch) MarshalYAML() (any, error) {
	if len(s.Engines) > 0 {
		return s.Engines, nil
	}
	return s.On, nil
}

// UnmarshalYAML reads true, false, or a list of engine names.
func (s *SafeSearch) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.SequenceNode {
		*s = SafeSearch{On: true}
		return n.Decode(&s.Engines)
	}
	*s = SafeSearch{}
	return n.Decode(&s.On)
}

// plain is Profile without its methods, for the decoders below.
type plain Profile

// wire is what a profile is read from: the fields of today, and the
// spellings older versions wrote, which fold into them.
type wire struct {
	plain `yaml:",inline"`
	// OldTimeZone is the config file's old spelling of time_zone.
	OldTimeZone string `json:"timezone" yaml:"timezone"`
	// OldEngines is the API's and the store's old safe_search_engines:
	// with safe_search true, the engines it was forced on.
	OldEngines []string `json:"safe_search_engines" yaml:"safe_search_engines"`
}

// fold returns the profile w spells, old spellings read as they were
// meant. When an old spelling contradicts today's, strict (the config
// file, the API) refuses it; otherwise (a stored row, which must not
// stop a start) today's spelling wins.
func (w *wire) fold(strict bool) (Profile, error) {
	p := Profile(w.plain)
	if w.OldTimeZone != "" {
		switch {
		case p.TimeZone == "":
			p.TimeZone = w.OldTimeZone
		case p.TimeZone != w.OldTimeZone && strict:
			return p, fmt.Errorf("time_zone %q and timezone %q differ: write time_zone only", p.TimeZone, w.OldTimeZone)
		}
	}
	if len(w.OldEngines) > 0 && p.SafeSearch != nil {
		// Before, engines limited safe search only when it was on; off
		// was off everywhere, and with no safe_search the preset chose.
		switch {
		case len(p.SafeSearch.Engines) > 0:
			if strict {
				return p, fmt.Errorf("safe_search lists engines and safe_search_engines too: write the list in safe_search only")
			}
		case p.SafeSearch.On:
			p.SafeSearch = &SafeSearch{On: true, Engines: w.OldEngines}
		}
	}
	return p, nil
}

// UnmarshalJSON reads a profile, in today's form or an older one (see
// the package comment). It is lenient, for what was stored: unknown
// fields are ignored, as encoding/json does, so that a row a newer
// version wrote still loads, and where an old spelling contradicts
// today's, today's wins. The API reads requests with ParseJSON, which
// refuses both.
func (p *Profile) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	q, err := w.fold(false)
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// ParseJSON reads one profile as the API receives it: like UnmarshalJSON,
// but a field it does not know is an error, so that a typo is not
// silently dropped.
func ParseJSON(b []byte) (Profile, error) {
	var w wire
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Profile{}, err
	}
	if dec.More() {
		return Profile{}, fmt.Errorf("more than one JSON value")
	}
	return w.fold(true)
}

// UnmarshalYAML reads a profile in the config file, in today's form or
// an older one (see DecodeYAML).
func (p *Profile) UnmarshalYAML(n *yaml.Node) error {
	q, err := DecodeYAML(n)
	*p = q
	return err
}

// DecodeYAML reads profile node n, in today's form or an older one. It
// returns the profile with every field that decoded and, as one
// *yaml.TypeError in the library's words ("line N: ..."), every problem:
// a key it does not know, a value of the wrong type, old and new
// spellings that disagree. A caller that keeps the profile despite the
// error (package config) can go on to report its other fields' problems
// too; yaml.v3 itself drops a map value whose UnmarshalYAML failed.
func DecodeYAML(n *yaml.Node) (Profile, error) {
	var w wire
	err := decodeYAMLStrict(n, &w, "profile.Profile")
	p, ferr := w.fold(true)
	if ferr == nil {
		return p, err
	}
	te, ok := err.(*yaml.TypeError)
	switch {
	case err != nil && !ok:
		return p, err
	case te == nil:
		te = &yaml.TypeError{}
	}
	te.Errors = append(te.Errors, fmt.Sprintf("line %d: %v", n.Line, ferr))
	return p, te
}

// plainSchedule is Schedule without its methods.
type plainSchedule Schedule

// UnmarshalYAML reads a schedule; a key it does not know is an error
// naming its line.
func (s *Schedule) UnmarshalYAML(n *yaml.Node) error {
	return decodeYAMLStrict(n, (*plainSchedule)(s), "profile.Schedule")
}

// plainBudget is Budget without its methods.
type plainBudget Budget

// UnmarshalYAML reads a budget; a key it does not know ("day" for
// "days") is an error naming its line, not a budget for every day.
func (b *Budget) UnmarshalYAML(n *yaml.Node) error {
	return decodeYAMLStrict(n, (*plainBudget)(b), "profile.Budget")
}

// decodeYAMLStrict decodes mapping n into the struct v points to,
// refusing keys v has no field for. yaml.v3 does not pass a Decoder's
// KnownFields to a type's own UnmarshalYAML, so the check is made here,
// in the library's words ("line N: field x not found in type T"), which
// package config turns into "file:N: path: unknown field".
func decodeYAMLStrict(n *yaml.Node, v any, typeName string) error {
	var errs []string
	if n.Kind == yaml.MappingNode {
		known := yamlKeys(v)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if !known[k.Value] {
				errs = append(errs, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, typeName))
			}
		}
	}
	if err := n.Decode(v); err != nil {
		te, ok := err.(*yaml.TypeError)
		if !ok {
			return err
		}
		errs = append(errs, te.Errors...)
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// yamlKeys returns the YAML keys of the struct v points to, the fields of
// inline structs included.
func yamlKeys(v any) map[string]bool {
	keys := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			switch {
			case name == "-":
			case opts == "inline" && f.Type.Kind() == reflect.Struct:
				walk(f.Type)
			case name != "":
				keys[name] = true
			case f.IsExported():
				keys[strings.ToLower(f.Name)] = true
			}
		}
	}
	walk(reflect.TypeOf(v).Elem())
	return keys
}

// Upgrade returns the JSON of a stored profile in today's form: older
// spellings are rewritten to what they meant, and the rest is kept. The
// stores' schema migrations run it over every profile row.
func Upgrade(data []byte) ([]byte, error) {
	var p Profile
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("reading profile: %w", err)
	}
	return json.Marshal(p)
}
