package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hearth-dns/hearth/internal/netid"
	"github.com/hearth-dns/hearth/internal/profile"
)

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

// Profiles are the config file's profiles by id (package profile).
type Profiles map[string]profile.Profile

// UnmarshalYAML reads the profiles, keeping each one even when some of
// its fields are wrong, so that one run reports every mistake (yaml.v3
// drops a map value whose decoding failed).
func (ps *Profiles) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		var m map[string]profile.Profile
		if err := n.Decode(&m); err != nil {
			return err
		}
		*ps = m
		return nil
	}
	out := make(Profiles, len(n.Content)/2)
	var errs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		var key string
		if err := n.Content[i].Decode(&key); err != nil {
			return err
		}
		p, err := profile.DecodeYAML(n.Content[i+1])
		if te, ok := err.(*yaml.TypeError); ok {
			errs = append(errs, te.Errors...)
		} else if err != nil {
			return err
		}
		out[key] = p
	}
	*ps = out
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// nameProfiles gives each profile its key as id, and as name when it
// has none: the config file writes neither.
func (c *Config) nameProfiles() {
	for key, p := range c.Profiles {
		p.ID = key
		if p.Name == "" {
			p.Name = key
		}
		c.Profiles[key] = p
	}
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
		profile.Validate("profiles."+name, c.Profiles[name], bad)
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
