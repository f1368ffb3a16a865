// Package config holds Hearth's static YAML settings: the typed structs,
// their defaults, the embedded default config, and validation whose errors
// name the file, line and field (`hearth.yaml:12: upstream.timeout: ...`).
// Unknown keys are errors.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default configuration file.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Config is the whole static configuration.
type Config struct {
	Listen   Listen   `yaml:"listen"`
	TLS      TLS      `yaml:"tls"`
	Upstream Upstream `yaml:"upstream"`
	Cache    Cache    `yaml:"cache"`
	Access   Access   `yaml:"access"`
	Local    Local    `yaml:"local"`
	Limits   Limits   `yaml:"limits"`
	// Profiles are the policies, by id (package profile: the one
	// profile model the store and the API use too).
	Profiles Profiles `yaml:"profiles"`
	// Devices are the known devices.
	Devices []Device `yaml:"devices"`
	// DefaultProfile applies to devices no identifier matches.
	DefaultProfile string `yaml:"default_profile"`
	// Sources are extra lists, on top of the catalog's.
	Sources  []Source `yaml:"sources"`
	Lists    Lists    `yaml:"lists"`
	Blocking Blocking `yaml:"blocking"`
	// DataDir holds the list cache, the store and the query log.
	DataDir string `yaml:"data_dir"`
	// Store is where run-time changes (the web UI's, the API's) live.
	Store Store `yaml:"store"`
	// Radius is the RADIUS accounting listener that binds ISP
	// subscribers' addresses to households (radius.go).
	Radius Radius `yaml:"radius"`
	// NewDevices says how devices seen for the first time are recorded.
	NewDevices NewDevices `yaml:"new_devices"`
	// QueryLog configures the query log.
	QueryLog QueryLog `yaml:"query_log"`
	// Admin secures the admin UI and API (hosts, HTTPS, /metrics access).
	Admin Admin `yaml:"admin"`
	// MemoryLimit is the Go runtime's soft memory limit (GOMEMLIMIT):
	// "auto" (the default) derives it from the budgets (cache.max_bytes,
	// the query log's bound, the compiled lists) so that the garbage collector's headroom does
	// not double the resident memory, and sets GOGC from the live heap
	// (32 MiB and a quarter of what is not the cache, GOGC 10-50); "off" leaves the
	// runtime's defaults; or a size ("512MiB"). GOMEMLIMIT and GOGC in
	// the environment win.
	MemoryLimit string `yaml:"memory_limit"`
	// AskParent and Notify: asking for access, and telling parents.
	AskParent AskParent `yaml:"ask_parent"`
	Notify    Notify    `yaml:"notify"`
	// Mode is "home" (the default) or "isp" (see isp.go).
	Mode string `yaml:"mode"`
	// ISP sizes what ISP mode keeps.
	ISP ISP `yaml:"isp"`
	// Dnstap sends answered queries to a dnstap collector.
	Dnstap Dnstap `yaml:"dnstap"`

	file string     // the file name errors are reported against
	root *yaml.Node // the parsed document, for error positions
}

// Listen says where Hearth accepts queries and serves HTTP.
type Listen struct {
	// DNS addresses serve plain DNS on both UDP and TCP.
	DNS []string `yaml:"dns"`
	// DoT addresses serve DNS over TLS (RFC 7858); they need TLS.
	DoT []string `yaml:"dot"`
	// DoH addresses serve DNS over HTTPS (RFC 8484) at /dns-query; they
	// need TLS.
	DoH []string `yaml:"doh"`
	// HTTP is the address of the API and web UI ("" = off).
	HTTP string `yaml:"http"`
	// BlockPage is where plain-HTTP requests to blocked names arrive
	// when blocking.mode is address ("" = off): the block-page address,
	// port 80, e.g. "192.168.1.2:80". They get a page saying what was
	// blocked and why.
	BlockPage string `yaml:"block_page"`
	// UDPPause is how long a UDP reader waits before reading again while
	// datagrams arrive at least twice that often (about 4 k QPS a socket
	// with the default 500µs), so that one wake-up reads several: less
	// CPU per query, up to UDPPause more latency. 0 turns it off.
	UDPPause time.Duration `yaml:"udp_pause"`
}

// TLS names the certificate and key for DoT and DoH listeners.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Upstream configures the servers Hearth forwards to.
type Upstream struct {
	// Servers are upstream addresses: "9.9.9.9", "tcp://IP", "tls://IP",
	// "tls://IP#name", "tls://name", "https://host/dns-query".
	Servers []string `yaml:"servers"`
	// Strategy is "parallel" (race the two best) or "failover".
	Strategy string `yaml:"strategy"`
	// Bootstrap servers (plain DNS IPs) resolve encrypted upstreams' names.
	Bootstrap []string `yaml:"bootstrap"`
	// Timeout bounds one upstream exchange.
	Timeout time.Duration `yaml:"timeout"`
}

// Cache configures the shared answer cache.
type Cache struct {
	// Size is the most entries the cache holds.
	Size int `yaml:"size"`
	// MinTTL and MaxTTL clamp the TTLs of cached answers.
	MinTTL time.Duration `yaml:"min_ttl"`
	MaxTTL time.Duration `yaml:"max_ttl"`
	// Prefetch refreshes popular entries shortly before they expire.
	Prefetch bool `yaml:"prefetch"`
	// ServeStale is how long past expiry an answer may be served when
	// every upstream fails (RFC 8767); 0 turns it off.
	ServeStale time.Duration `yaml:"serve_stale"`
	// MaxBytes bounds the cache's memory: a size with an optional unit
	// ("64MiB", "512KiB", "1GB", or bytes). See ParseBytes.
	MaxBytes string `yaml:"max_bytes"`
	// ServfailTTL is how long a resolution failure is remembered and
	// answered from the cache (RFC 9520); 0 turns it off, at most 5m.
	ServfailTTL time.Duration `yaml:"servfail_ttl"`
	// MaxInflight bounds the upstream queries in flight at once, and
	// MaxInflightPerClient those of one client address; a miss beyond
	// either gets SERVFAIL at once.
	MaxInflight          int `yaml:"max_inflight"`
	MaxInflightPerClient int `yaml:"max_inflight_per_client"`
}

// Access says who may query Hearth.
type Access struct {
	// Allow lists the networks (CIDR) whose queries are answered; all
	// others get REFUSED. Hearth is never an open resolver.
	Allow []string `yaml:"allow"`
	// TrustedForwarders may tell Hearth a client's MAC or device id in
	// EDNS options (a home router running dnsmasq --add-mac); the same
	// options from anyone else are ignored.
	TrustedForwarders []string `yaml:"trusted_forwarders"`
	// ClientIDDomains are the DoT/DoH service names under which the first
	// label of the TLS server name is a client id
	// ("emma.dns.example.net" under "dns.example.net").
	ClientIDDomains []string `yaml:"client_id_domains"`
}

// Local holds names Hearth answers itself or sends to a local server.
type Local struct {
	// Records are answered directly, in zone-file syntax without a TTL
	// ("router.lan A 192.168.1.1") or with one ("nas.lan 60 A 192.168.1.2").
	Records []string `yaml:"records"`
	// Forward sends a domain and its subdomains to another server, such
	// as the home router for "lan" names: {"lan": "192.168.1.1"}.
	Forward map[string]string `yaml:"forward"`
	// Chaos answers the class CH queries asking who the server is; an
	// empty text (the default) answers REFUSED.
	Chaos Chaos `yaml:"chaos"`
}

// Chaos holds the TXT answers to class CH identity queries.
type Chaos struct {
	// Version answers version.bind and version.server.
	Version string `yaml:"version"`
	// Hostname answers hostname.bind and id.server.
	Hostname string `yaml:"hostname"`
}

// Store configures the store of households, profiles, devices, grants
// and accounts.
type Store struct {
	// Driver is "sqlite" (the default) or "postgres" (see store.go).
	Driver string `yaml:"driver"`
	// Path is the SQLite file; "" means hearth.db in the data directory.
	Path string `yaml:"path"`
	// DSN is the PostgreSQL connection string; "" takes it from the
	// environment (EnvStoreDSN), which keeps the password out of the file.
	DSN string `yaml:"dsn"`
}

// NewDevices configures the recording of devices seen for the first time.
type NewDevices struct {
	// Record adds a device, under the default profile, for each source
	// address (or MAC) no device claims, for a parent to name and claim.
	Record bool `yaml:"record"`
	// Max is the most unclaimed new devices kept: past it, the oldest
	// is evicted to make room, so a flood of sources cannot fill the
	// list for good. 0 means no limit.
	Max int `yaml:"max"`
	// Networks are the LAN networks whose sources may create new
	// devices; empty means the private, link-local and loopback ranges
	// access.allow covers, never a public address.
	Networks []string `yaml:"networks"`
	// PerSource is how many new devices one source (an IPv4 address, an
	// IPv6 /64) may create per Window.
	PerSource int `yaml:"per_source"`
	// Window is the period PerSource counts over.
	Window time.Duration `yaml:"window"`
	// Leases is a DHCP lease file giving new devices their host names.
	Leases string `yaml:"leases"`
	// LeasesFormat is "dnsmasq" or "isc" (dhcpd.leases).
	LeasesFormat string `yaml:"leases_format"`
}

// QueryLog configures the query log and its hourly counters.
type QueryLog struct {
	// Enabled turns the query log on; profiles may still opt out.
	Enabled bool `yaml:"enabled"`
	// Retention is how long raw rows are kept.
	Retention time.Duration `yaml:"retention"`
	// CountersRetention is how long the hourly counters are kept.
	CountersRetention time.Duration `yaml:"counters_retention"`
	// IPv4Prefix and IPv6Prefix are how many leading bits of client
	// addresses are logged: 32 and 128 keep them whole, 24 and 48 hide the
	// host, 0 logs none.
	IPv4Prefix int `yaml:"ipv4_prefix"`
	IPv6Prefix int `yaml:"ipv6_prefix"`
	// Buffer is how many entries wait for the writer; past it, entries
	// are dropped and counted rather than slow down answers.
	Buffer int `yaml:"buffer"`
}

// defaultFile names the embedded default configuration in messages.
const defaultFile = "(default)"

// DefaultProfileAt returns where the config file writes default_profile
// ("hearth.yaml:12"), or "" when it does not. The embedded default config's
// kid is only where a new home starts: the parent's choice in the wizard
// replaces it, so it counts as not written.
func (c *Config) DefaultProfileAt() string {
	line := c.Line("default_profile")
	if line == 0 || c.file == defaultFile {
		return ""
	}
	return fmt.Sprintf("%s:%d", c.file, line)
}

// Default returns the embedded default configuration.
func Default() *Config {
	c, err := Parse(defaultFile, defaultYAML)
	if err != nil {
		panic(fmt.Sprintf("embedded default config is invalid: %v", err))
	}
	return c
}

// Load reads and validates the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// builtin returns the settings every configuration starts from, so that
// a file needs to say only what differs.
func builtin() Config {
	return Config{
		Listen: Listen{DNS: []string{"127.0.0.1:5353"}, UDPPause: 500 * time.Microsecond},
		Upstream: Upstream{
			Servers:   []string{"https://dns.quad9.net/dns-query", "tls://1.1.1.1#cloudflare-dns.com"},
			Strategy:  "parallel",
			Bootstrap: []string{"9.9.9.9", "149.112.112.112"},
			Timeout:   2 * time.Second,
		},
		Cache: Cache{Size: 100000, MaxTTL: 24 * time.Hour, Prefetch: true, ServeStale: time.Hour,
			MaxBytes: "64MiB", ServfailTTL: 5 * time.Second, MaxInflight: 1000, MaxInflightPerClient: 100},
		MemoryLimit: "auto",
		Access: Access{Allow: []string{
			"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12",
			"192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fe80::/10",
		}},
		Limits:         defaultLimits(),
		DefaultProfile: "adult",
		Lists:          Lists{Refresh: 24 * time.Hour},
		Blocking:       Blocking{Mode: "null", TTL: 10 * time.Second},
		DataDir:        "./hearth-data",
		NewDevices:     NewDevices{Record: true, Max: 1000, LeasesFormat: "dnsmasq", PerSource: 2, Window: time.Hour},
		QueryLog: QueryLog{
			Enabled: true, Retention: 7 * 24 * time.Hour, CountersRetention: 90 * 24 * time.Hour,
			IPv4Prefix: 32, IPv6Prefix: 128, Buffer: 16384,
		},
		AskParent: defaultAskParent(),
		Notify:    defaultNotify(),
	}
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)
var unknownRE = regexp.MustCompile(`^field (\S+) not found in type \S+$`)

// Parse decodes and validates a configuration document. file is used only
// in error messages. Every error names the file and line; validation
// errors also name the field.
func Parse(file string, data []byte) (*Config, error) {
	c, err := parse(file, data)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// parse is Parse that also returns the config decoded so far when it
// finds errors (nil only when the YAML does not parse), so that a check
// can go on to look at the values that did decode.
func parse(file string, data []byte) (*Config, error) {
	c := builtin()
	c.file = file
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, c.yamlError(err)
	}
	c.root = &root
	if len(root.Content) == 0 {
		c.applyMode()
		return &c, c.Validate()
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(&c)
	c.nameProfiles()
	if err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, c.yamlError(err)
		}
		// A type error (an unknown key, a bad duration) leaves the other
		// fields decoded and the bad ones at their defaults: validate
		// those too, so that one run reports every mistake.
		c.applyMode()
		return &c, errors.Join(c.yamlError(err), c.Validate())
	}
	c.applyMode()
	return &c, c.Validate()
}

// yamlError rewrites the YAML library's "line N: message" errors into
// "file:N: field: message".
func (c *Config) yamlError(err error) error {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var errs []error
	for _, m := range msgs {
		mm := lineRE.FindStringSubmatch(m)
		if mm == nil {
			errs = append(errs, fmt.Errorf("%s: %s", c.file, m))
			continue
		}
		line, _ := strconv.Atoi(mm[1])
		msg := mm[2]
		field := c.fieldAtLine(line)
		if u := unknownRE.FindStringSubmatch(msg); u != nil {
			msg = "unknown field"
			if field == "" {
				field = u[1]
			}
		}
		if field == "" {
			errs = append(errs, fmt.Errorf("%s:%d: %s", c.file, line, msg))
		} else {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %s", c.file, line, field, msg))
		}
	}
	return errors.Join(errs...)
}

// fieldAtLine returns the dotted path of the key or item that starts on
// line, or "".
func (c *Config) fieldAtLine(line int) string {
	if c.root == nil {
		return ""
	}
	var found string
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if found != "" {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, ch := range n.Content {
				walk(ch, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := join(path, k.Value)
				if k.Line == line && (v.Line != line || v.Kind == yaml.ScalarNode) {
					found = p
					return
				}
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, ch := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if ch.Line == line && ch.Kind == yaml.ScalarNode {
					found = p
					return
				}
				walk(ch, p)
			}
		}
	}
	walk(c.root, "")
	return found
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Line returns the line of the node at a dotted path such as
// "upstream.servers[1]", or of its nearest ancestor that exists in the
// file; 0 when the path is not in the file at all (a built-in default).
func (c *Config) Line(path string) int {
	if c.root == nil || len(c.root.Content) == 0 {
		return 0
	}
	n := c.root.Content[0]
	line := 0
	for _, part := range splitPath(path) {
		var next *yaml.Node
		switch {
		case n.Kind == yaml.MappingNode && part.key != "":
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i].Value; k == part.key || k == oldSpelling(part.key) {
					line = n.Content[i].Line
					next = n.Content[i+1]
					break
				}
			}
		case n.Kind == yaml.SequenceNode && part.key == "" && part.index < len(n.Content):
			next = n.Content[part.index]
			line = next.Line
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

// oldSpelling returns the spelling older versions wrote of key, which a
// file may still use (package profile reads both), or "-".
func oldSpelling(key string) string {
	if key == "time_zone" {
		return "timezone"
	}
	return "-"
}

type pathPart struct {
	key   string
	index int
}

// splitPath splits "a.b[2].c" into a, b, [2], c.
func splitPath(path string) []pathPart {
	var parts []pathPart
	for _, seg := range strings.Split(path, ".") {
		key, rest, _ := strings.Cut(seg, "[")
		if key != "" {
			parts = append(parts, pathPart{key: key})
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			i, _ := strconv.Atoi(num)
			parts = append(parts, pathPart{index: i})
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return parts
}

// Errorf returns an error for the field at path, formatted as
// "file:line: path: message" (the line omitted when the field is a
// built-in default not present in the file).
func (c *Config) Errorf(path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if line := c.Line(path); line > 0 {
		return fmt.Errorf("%s:%d: %s: %s", c.file, line, path, msg)
	}
	return fmt.Errorf("%s: %s: %s", c.file, path, msg)
}

// File returns the name of the file the config was read from.
func (c *Config) File() string { return c.file }

// Validate checks every setting that needs no other component, returning
// all problems found, each naming file, line and field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) { errs = append(errs, c.Errorf(path, format, args...)) }

	if len(c.Listen.DNS)+len(c.Listen.DoT)+len(c.Listen.DoH) == 0 {
		bad("listen", "no DNS, DoT or DoH listener")
	}
	for _, l := range []struct {
		name  string
		addrs []string
	}{{"dns", c.Listen.DNS}, {"dot", c.Listen.DoT}, {"doh", c.Listen.DoH}} {
		for i, a := range l.addrs {
			if err := checkHostPort(a); err != nil {
				bad(fmt.Sprintf("listen.%s[%d]", l.name, i), "%v", err)
			}
		}
	}
	if p := c.Listen.UDPPause; p < 0 || p > 5*time.Millisecond {
		bad("listen.udp_pause", "%v is not between 0 and 5ms", p)
	}
	if c.Listen.HTTP != "" {
		if err := checkHostPort(c.Listen.HTTP); err != nil {
			bad("listen.http", "%v", err)
		}
	}
	if len(c.Listen.DoT)+len(c.Listen.DoH) > 0 {
		if c.TLS.Cert == "" {
			bad("tls.cert", "required by the DoT and DoH listeners")
		}
		if c.TLS.Key == "" {
			bad("tls.key", "required by the DoT and DoH listeners")
		}
	}
	if len(c.Upstream.Servers) == 0 {
		bad("upstream.servers", "at least one upstream server is required")
	}
	for i, s := range c.Upstream.Servers {
		if strings.TrimSpace(s) == "" {
			bad(fmt.Sprintf("upstream.servers[%d]", i), "empty server")
		}
	}
	switch c.Upstream.Strategy {
	case "parallel", "failover":
	default:
		bad("upstream.strategy", "%q is not parallel or failover", c.Upstream.Strategy)
	}
	for i, b := range c.Upstream.Bootstrap {
		if _, err := netip.ParseAddr(b); err != nil {
			if _, err := netip.ParseAddrPort(b); err != nil {
				bad(fmt.Sprintf("upstream.bootstrap[%d]", i), "%q is not an IP address or IP:port", b)
			}
		}
	}
	if c.Upstream.Timeout <= 0 {
		bad("upstream.timeout", "must be positive")
	}
	if c.Cache.Size < 0 {
		bad("cache.size", "must not be negative")
	}
	if c.Cache.MinTTL < 0 {
		bad("cache.min_ttl", "must not be negative")
	}
	if c.Cache.MaxTTL <= 0 {
		bad("cache.max_ttl", "must be positive")
	} else if c.Cache.MinTTL > c.Cache.MaxTTL {
		bad("cache.min_ttl", "%s is more than max_ttl %s", c.Cache.MinTTL, c.Cache.MaxTTL)
	}
	if c.Cache.ServeStale < 0 {
		bad("cache.serve_stale", "must not be negative")
	}
	if n, err := ParseBytes(c.Cache.MaxBytes); err != nil {
		bad("cache.max_bytes", "%v", err)
	} else if n < 1<<20 {
		bad("cache.max_bytes", "%q is less than 1MiB", c.Cache.MaxBytes)
	}
	switch c.MemoryLimit {
	case "auto", "off":
	default:
		if n, err := ParseBytes(c.MemoryLimit); err != nil {
			bad("memory_limit", "%v (or auto, or off)", err)
		} else if n < 32<<20 {
			bad("memory_limit", "%q is less than 32MiB", c.MemoryLimit)
		}
	}
	if c.Cache.ServfailTTL < 0 || c.Cache.ServfailTTL > 5*time.Minute {
		bad("cache.servfail_ttl", "%s: must be between 0s (off) and 5m (RFC 9520)", c.Cache.ServfailTTL)
	}
	if c.Cache.MaxInflight <= 0 {
		bad("cache.max_inflight", "must be positive")
	}
	if c.Cache.MaxInflightPerClient <= 0 {
		bad("cache.max_inflight_per_client", "must be positive")
	} else if c.Cache.MaxInflight > 0 && c.Cache.MaxInflightPerClient > c.Cache.MaxInflight {
		bad("cache.max_inflight_per_client", "%d is more than max_inflight %d", c.Cache.MaxInflightPerClient, c.Cache.MaxInflight)
	}
	if len(c.Access.Allow) == 0 {
		bad("access.allow", "empty: no client could query; list the networks to answer")
	}
	for i, a := range c.Access.Allow {
		if _, err := ParsePrefix(a); err != nil {
			bad(fmt.Sprintf("access.allow[%d]", i), "%v", err)
		}
	}
	for zone, addr := range c.Local.Forward {
		if strings.Trim(zone, ".") == "" {
			bad("local.forward", "empty domain")
		}
		if strings.TrimSpace(addr) == "" {
			bad("local.forward."+zone, "empty server")
		}
	}
	c.validateLimits(bad)
	if c.DataDir == "" {
		bad("data_dir", "required")
	}
	c.validatePolicy(bad)
	c.validateAdmin(bad)
	c.validateStore(bad)
	c.validateNotify(bad)
	c.validateRadius(bad)
	c.validateISP(bad)
	return errors.Join(errs...)
}

// ParseBytes parses a size in bytes: a number with an optional unit, B,
// KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024): "64MiB",
// "500 KB", "1048576".
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && '0' <= t[i] && t[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size like 64MiB", s)
	}
	units := map[string]int64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
	mult, ok := units[strings.TrimSpace(t[i:])]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q (B, KB, MB, GB, KiB, MiB, GiB)", s, strings.TrimSpace(t[i:]))
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// ParsePrefix parses a CIDR ("10.0.0.0/8") or a single address, which
// stands for itself alone.
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a network (CIDR) or address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %v", s, err)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && host != "localhost" {
			return fmt.Errorf("%q: host must be an IP address", s)
		}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: bad port", s)
	}
	return nil
}
