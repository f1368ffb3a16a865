package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hearth-dns/hearth/internal/netid"
)

// Profile is a policy in the config file. Any field left out comes from
// the preset, and a profile named after a preset needs no entry at all.
type Profile struct {
	// Preset is the catalog preset to start from: kid, tween, teen, adult.
	Preset string `yaml:"preset"`
	// Block adds categories or services (tags) to block.
	Block []string `yaml:"block"`
	// Unblock removes tags the preset blocks.
	Unblock []string `yaml:"unblock"`
	// Allow lists domains always answered ("x.com" is the name and its
	// subdomains, "=x.com" the name alone); it beats every block except
	// malware and phishing, unless listed with a leading "!".
	Allow []string `yaml:"allow"`
	// Deny lists domains always blocked, same syntax as Allow.
	Deny []string `yaml:"deny"`
	// SafeSearch forces safe search: true or false for every engine, or
	// a list of engines (google, bing, duckduckgo, ecosia, yandex,
	// pixabay); nil keeps the preset's choice. YouTube has its own field.
	SafeSearch *SafeSearch `yaml:"safe_search"`
	// YouTube is the YouTube restriction: strict, moderate or off.
	YouTube string `yaml:"youtube"`
	// BypassProtection blocks encrypted-DNS, VPN and proxy services, the
	// Firefox canary and iCloud Private Relay; nil keeps the preset's.
	BypassProtection *bool `yaml:"bypass_protection"`
	// TimeZone is the IANA zone of the schedules (default UTC).
	TimeZone string `yaml:"timezone"`
	// Schedules are weekly windows: bedtime, homework, recreation time.
	Schedules []Schedule `yaml:"schedules"`
	// QueryLog false keeps the profile's queries out of the query log and
	// its counters; nil means true.
	QueryLog *bool `yaml:"query_log"`
}

// Schedule is one weekly window of a profile. Exactly one of Pause,
// Block and AllowOnly says what it does.
type Schedule struct {
	Name string `yaml:"name"`
	// Days are mon, tue, wed, thu, fri, sat, sun, or daily, weekdays,
	// weekends: the days the window starts on.
	Days []string `yaml:"days"`
	// From and To are local times, "HH:MM"; a To at or before From ends
	// the next day.
	From string `yaml:"from"`
	To   string `yaml:"to"`
	// Pause blocks everything but the allow list (bedtime).
	Pause bool `yaml:"pause"`
	// Block blocks these tags too while the window lasts (homework).
	Block []string `yaml:"block"`
	// AllowOnly allows these tags only inside the window (recreation).
	AllowOnly []string `yaml:"allow_only"`
}

// ParseDays returns the weekdays (index time.Weekday) a schedule names.
func ParseDays(days []string) ([7]bool, error) {
	var set [7]bool
	names := map[string][]time.Weekday{
		"sun": {time.Sunday}, "mon": {time.Monday}, "tue": {time.Tuesday}, "wed": {time.Wednesday},
		"thu": {time.Thursday}, "fri": {time.Friday}, "sat": {time.Saturday},
		"daily":    {0, 1, 2, 3, 4, 5, 6},
		"weekdays": {1, 2, 3, 4, 5},
		"weekends": {0, 6},
	}
	if len(days) == 0 {
		return set, fmt.Errorf("no days (mon..sun, daily, weekdays or weekends)")
	}
	for _, d := range days {
		wds, ok := names[strings.ToLower(d)]
		if !ok {
			return set, fmt.Errorf("%q is not a day (mon..sun, daily, weekdays or weekends)", d)
		}
		for _, wd := range wds {
			set[wd] = true
		}
	}
	return set, nil
}

// ParseClock returns the minutes after midnight of "HH:MM" (24:00 allowed).
func ParseClock(s string) (int, error) {
	var h, m int
	if n, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil || n != 2 || len(s) != 5 || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", s)
	}
	return h*60 + m, nil
}

// SafeSearch is a profile's safe_search: a bool, or a list of engines.
type SafeSearch struct {
	// On is true when safe search is forced on some engine.
	On bool
	// Engines, when not empty, are the only engines it is forced on.
	Engines []string
}

// UnmarshalYAML accepts true, false or a list of engine names.
func (s *SafeSearch) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.SequenceNode {
		s.On = true
		return n.Decode(&s.Engines)
	}
	return n.Decode(&s.On)
}

// Device is a named device and how to recognise it. At least one
// identifier is required.
type Device struct {
	Name    string `yaml:"name"`
	Profile string `yaml:"profile"`
	// IP, CIDR, MAC and ClientID identify the device; they are tried in
	// the order client id, MAC, IP, then CIDR (README, "Categories,
	// devices and profiles").
	IP       string `yaml:"ip"`
	CIDR     string `yaml:"cidr"`
	MAC      string `yaml:"mac"`
	ClientID string `yaml:"client_id"`
}

// Source is an extra list for a tag, from a file or a URL.
type Source struct {
	// ID names the source in decisions and the UI; default: derived from
	// the tag and position.
	ID string `yaml:"id"`
	// Tag is the category or service the list's names belong to.
	Tag  string `yaml:"tag"`
	URL  string `yaml:"url"`
	File string `yaml:"file"`
	// Format is hosts, domains, wildcard, adblock, rpz or ip-list.
	Format string `yaml:"format"`
	// Subtree says whether plain entries also cover subdomains (default:
	// true for domains lists, false for hosts lists).
	Subtree *bool `yaml:"subtree"`
	// Match is what a plain entry matches: exact (the name), www (the name
	// and www.name; the default for hosts lists) or subtree (the name and
	// its subdomains; the default for domains lists). It replaces Subtree.
	Match string `yaml:"match"`
}

// Lists configures where the category lists come from.
type Lists struct {
	// Defaults fetches the catalog's public sources for every category
	// that some profile blocks.
	Defaults bool `yaml:"defaults"`
	// Refresh is how often downloaded lists are checked for changes.
	Refresh time.Duration `yaml:"refresh"`
	// Parallel bounds the downloads that run at once; 0 means 4.
	Parallel int `yaml:"parallel"`
	// DNS64Prefixes are NAT64 prefixes (RFC 6052) besides 64:ff9b::/96:
	// an AAAA answer inside one is also checked against the IPv4 address
	// it embeds.
	DNS64Prefixes []string `yaml:"dns64_prefixes"`
}

// Blocking configures blocked answers.
type Blocking struct {
	// Mode is null (0.0.0.0 and ::), nxdomain, or address (the Address
	// list, e.g. the block page).
	Mode string `yaml:"mode"`
	// Address holds the IPv4 and/or IPv6 address for mode address.
	Address []string `yaml:"address"`
	// TTL of blocked answers.
	TTL time.Duration `yaml:"ttl"`
}

// validatePolicy checks the policy settings that need no catalog; the
// app checks tags and presets against the catalog.
func (c *Config) validatePolicy(bad func(path, format string, args ...any)) {
	names := make([]string, 0, len(c.Profiles))
	for name := range c.Profiles {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if strings.TrimSpace(name) == "" {
			bad("profiles", "empty profile name")
		}
		ValidateProfile("profiles."+name, c.Profiles[name], bad)
	}
	seen := map[string]int{}
	owners := netid.NewOwners()
	for i, d := range c.Devices {
		path := fmt.Sprintf("devices[%d]", i)
		if d.Name == "" {
			bad(path+".name", "required")
		} else if j, dup := seen[d.Name]; dup {
			bad(path+".name", "%q is also devices[%d]", d.Name, j)
		} else {
			seen[d.Name] = i
		}
		if d.Profile == "" {
			bad(path+".profile", "required")
		}
		if d.IP == "" && d.CIDR == "" && d.MAC == "" && d.ClientID == "" {
			bad(path, "needs an ip, cidr, mac or client_id to be recognised")
		}
		for _, id := range []struct {
			field string
			kind  netid.Kind
			val   string
		}{{"ip", netid.KindIP, d.IP}, {"cidr", netid.KindCIDR, d.CIDR}, {"mac", netid.KindMAC, d.MAC}, {"client_id", netid.KindClientID, d.ClientID}} {
			if id.val == "" {
				continue
			}
			k, err := netid.KeyOf(id.kind, id.val)
			if err != nil {
				bad(path+"."+id.field, "%v", err)
				continue
			}
			if err := owners.Claim(path, k); err != nil {
				dup, _ := netid.IsDuplicate(err)
				bad(path+"."+id.field, "%s is also %s's", k.Redacted(), dup.Other)
			}
		}
	}
	for i, s := range c.Sources {
		path := fmt.Sprintf("sources[%d]", i)
		if s.Tag == "" {
			bad(path+".tag", "required")
		}
		if (s.URL == "") == (s.File == "") {
			bad(path, "needs exactly one of url and file")
		}
		if s.URL != "" && !strings.HasPrefix(s.URL, "https://") && !strings.HasPrefix(s.URL, "http://") {
			bad(path+".url", "%q is not an http(s) URL", s.URL)
		}
		switch s.Format {
		case "hosts", "domains", "domains-trimmed", "domains-onlydomains", "wildcard", "adblock", "rpz", "ip-list":
		default:
			bad(path+".format", "%q is not hosts, domains, wildcard, adblock, rpz or ip-list", s.Format)
		}
		switch {
		case s.Match != "" && s.Match != "exact" && s.Match != "www" && s.Match != "subtree":
			bad(path+".match", "%q is not exact, www or subtree", s.Match)
		case s.Match != "" && s.Subtree != nil:
			bad(path+".subtree", "set match or subtree, not both")
		}
	}
	for i, d := range c.Access.ClientIDDomains {
		if _, err := netid.ParseHostname(d); err != nil {
			bad(fmt.Sprintf("access.client_id_domains[%d]", i), "%v", err)
		}
	}
	for i, f := range c.Access.TrustedForwarders {
		if _, err := ParsePrefix(f); err != nil {
			bad(fmt.Sprintf("access.trusted_forwarders[%d]", i), "%v", err)
		}
	}
	switch c.Blocking.Mode {
	case "null", "nxdomain":
	case "address":
		if len(c.Blocking.Address) == 0 {
			bad("blocking.address", "required by mode address")
		}
	default:
		bad("blocking.mode", "%q is not null, nxdomain or address", c.Blocking.Mode)
	}
	for i, a := range c.Blocking.Address {
		if _, err := netip.ParseAddr(a); err != nil {
			bad(fmt.Sprintf("blocking.address[%d]", i), "%q is not an IP address", a)
		}
	}
	if c.Blocking.TTL < 0 {
		bad("blocking.ttl", "must not be negative")
	}
	if c.Lists.Parallel < 0 || c.Lists.Parallel > 64 {
		bad("lists.parallel", "%d is not between 0 (the default, 4) and 64", c.Lists.Parallel)
	}
	if c.Lists.Refresh < time.Minute {
		bad("lists.refresh", "%s is less than a minute", c.Lists.Refresh)
	}
	for i, s := range c.Lists.DNS64Prefixes {
		if _, err := ParseDNS64Prefix(s); err != nil {
			bad(fmt.Sprintf("lists.dns64_prefixes[%d]", i), "%v", err)
		}
	}
	if c.DefaultProfile == "" {
		bad("default_profile", "required")
	}
	switch c.NewDevices.LeasesFormat {
	case "dnsmasq", "isc":
	default:
		bad("new_devices.leases_format", "%q is not dnsmasq or isc", c.NewDevices.LeasesFormat)
	}
	if c.NewDevices.Max < 0 {
		bad("new_devices.max", "must not be negative")
	}
	for i, n := range c.NewDevices.Networks {
		if _, err := ParsePrefix(n); err != nil {
			bad(fmt.Sprintf("new_devices.networks[%d]", i), "%v", err)
		}
	}
	if c.NewDevices.PerSource < 1 {
		bad("new_devices.per_source", "must be at least 1")
	}
	if c.NewDevices.Window <= 0 {
		bad("new_devices.window", "must be positive")
	}
	q := c.QueryLog
	if q.Retention < time.Hour {
		bad("query_log.retention", "%s is less than an hour", q.Retention)
	}
	if q.CountersRetention < 24*time.Hour {
		bad("query_log.counters_retention", "%s is less than a day", q.CountersRetention)
	}
	if q.IPv4Prefix < 0 || q.IPv4Prefix > 32 {
		bad("query_log.ipv4_prefix", "%d is not 0 to 32", q.IPv4Prefix)
	}
	if q.IPv6Prefix < 0 || q.IPv6Prefix > 128 {
		bad("query_log.ipv6_prefix", "%d is not 0 to 128", q.IPv6Prefix)
	}
	if q.Buffer < 1 {
		bad("query_log.buffer", "must be at least 1")
	}
}

// ValidateProfile checks the fields of profile p that need no catalog,
// calling bad with the path of each wrong field under path ("profiles.kid"
// in a config file; the API passes its own).
func ValidateProfile(path string, p Profile, bad func(path, format string, args ...any)) {
	switch p.YouTube {
	case "", "strict", "moderate", "off":
	default:
		bad(path+".youtube", "%q is not strict, moderate or off", p.YouTube)
	}
	if p.TimeZone != "" {
		if _, err := time.LoadLocation(p.TimeZone); err != nil {
			bad(path+".timezone", "%q is not an IANA time zone", p.TimeZone)
		}
	}
	for i, sc := range p.Schedules {
		sp := fmt.Sprintf("%s.schedules[%d]", path, i)
		if _, err := ParseDays(sc.Days); err != nil {
			bad(sp+".days", "%v", err)
		}
		if _, err := ParseClock(sc.From); err != nil {
			bad(sp+".from", "%v", err)
		}
		if _, err := ParseClock(sc.To); err != nil {
			bad(sp+".to", "%v", err)
		}
		kinds := 0
		for _, set := range []bool{sc.Pause, len(sc.Block) > 0, len(sc.AllowOnly) > 0} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			bad(sp, "needs exactly one of pause, block and allow_only")
		}
	}
	for _, list := range []struct {
		field string
		items []string
	}{{"allow", p.Allow}, {"deny", p.Deny}} {
		for i, d := range list.items {
			if _, _, err := ParseOverride(d); err != nil {
				bad(fmt.Sprintf("%s.%s[%d]", path, list.field, i), "%v", err)
			}
		}
	}
}

// ParseOverride parses an allow or deny entry: "example.com" (the name
// and its subdomains), "*.example.com" (the same), "=example.com" (the
// name alone), with an optional leading "!" that lets an allow entry
// beat even malware and phishing blocks. It returns the lower-case name
// without trailing dot, and whether it covers subdomains.
func ParseOverride(s string) (name string, subtree bool, err error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "!")
	subtree = true
	switch {
	case strings.HasPrefix(s, "="):
		s, subtree = s[1:], false
	case strings.HasPrefix(s, "*."):
		s = s[2:]
	}
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	if s == "" || len(s) > 253 || strings.ContainsAny(s, " \t/:*=!") {
		return "", false, fmt.Errorf("%q is not a domain name", s)
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return "", false, fmt.Errorf("%q is not a domain name", s)
		}
	}
	return s, subtree, nil
}

// ParseDNS64Prefix parses a NAT64 prefix: IPv6, and 32, 40, 48, 56, 64 or
// 96 bits long (RFC 6052 section 2.2).
func ParseDNS64Prefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("%q is not a prefix: %v", s, err)
	}
	if !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return p, fmt.Errorf("%q is not an IPv6 prefix", s)
	}
	switch p.Bits() {
	case 32, 40, 48, 56, 64, 96:
		return p.Masked(), nil
	}
	return p, fmt.Errorf("%q: a DNS64 prefix is /32, /40, /48, /56, /64 or /96", s)
}
