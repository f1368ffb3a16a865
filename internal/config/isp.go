package config

import (
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Modes: what kind of installation Hearth serves.
const (
	// ModeHome is one home: the raw query log is on by default.
	ModeHome = "home"
	// ModeISP is an ISP's resolver for many households: the raw query
	// log is off unless query_log.enabled says true, and per-household
	// counters are kept instead.
	ModeISP = "isp"
)

// ISP configures what ISP mode keeps.
type ISP struct {
	// CounterHouseholds is how many households the per-household
	// counter table is sized for (about 240 bytes each, allocated at
	// start); past it, queries of new households are not counted (and
	// the hearth_household_counters_overflow_total metric says so).
	CounterHouseholds int `yaml:"counter_households"`
}

// Dnstap sends every answered query to a dnstap collector (frame streams
// over a unix or TCP socket).
type Dnstap struct {
	// Socket is a unix socket path; TCP a host:port. One of them turns
	// dnstap on.
	Socket string `yaml:"socket"`
	TCP    string `yaml:"tcp"`
	// Identity and Version are sent in every message ("" sends none for
	// identity, "hearth" for version).
	Identity string `yaml:"identity"`
	Version  string `yaml:"version"`
	// LogQueries and LogResponses choose the CLIENT_QUERY and
	// CLIENT_RESPONSE messages; both default to true.
	LogQueries   *bool `yaml:"log_queries"`
	LogResponses *bool `yaml:"log_responses"`
	// Queue is how many messages wait for the socket; past it, messages
	// are dropped and counted rather than slow down answers.
	Queue int `yaml:"queue"`
	// Timeout bounds each connection attempt and write.
	Timeout time.Duration `yaml:"timeout"`
}

// Enabled reports whether dnstap output is configured.
func (d Dnstap) Enabled() bool { return d.Socket != "" || d.TCP != "" }

// Defaults for the ISP and dnstap settings.
const (
	defaultCounterHouseholds     = 1_000_000
	defaultHomeCounterHouseholds = 1024
	defaultDnstapQueue           = 10_000
	defaultDnstapTimeout         = 5 * time.Second
)

// applyMode sets what the mode changes by default: in ISP mode the raw
// query log is off unless the file turns it on, and the counter table is
// sized for a million households. It runs after decoding, before
// validation.
func (c *Config) applyMode() {
	if c.Mode == "" {
		c.Mode = ModeHome
	}
	if c.Mode == ModeISP && !c.written("query_log.enabled") {
		c.QueryLog.Enabled = false
	}
	if c.ISP.CounterHouseholds == 0 && !c.written("isp.counter_households") {
		c.ISP.CounterHouseholds = defaultHomeCounterHouseholds
		if c.Mode == ModeISP {
			c.ISP.CounterHouseholds = defaultCounterHouseholds
		}
	}
	if c.Dnstap.Queue == 0 && !c.written("dnstap.queue") {
		c.Dnstap.Queue = defaultDnstapQueue
	}
	if c.Dnstap.Timeout == 0 && !c.written("dnstap.timeout") {
		c.Dnstap.Timeout = defaultDnstapTimeout
	}
	if c.Dnstap.Version == "" {
		c.Dnstap.Version = "hearth"
	}
}

// validateISP checks mode, isp and dnstap.
func (c *Config) validateISP(bad func(path, format string, args ...any)) {
	switch c.Mode {
	case "", ModeHome, ModeISP:
	default:
		bad("mode", "%q is not home or isp", c.Mode)
	}
	if n := c.ISP.CounterHouseholds; n < 0 || n > 1<<28 || n == 0 && c.written("isp.counter_households") {
		bad("isp.counter_households", "%d: want 1 to %d", n, 1<<28)
	}
	d := c.Dnstap
	switch {
	case d.Socket != "" && d.TCP != "":
		bad("dnstap", "socket and tcp: give one")
	case d.Socket != "" && !filepath.IsAbs(d.Socket):
		bad("dnstap.socket", "%q: want an absolute path", d.Socket)
	case d.TCP != "":
		if err := checkHostPort(d.TCP); err != nil {
			bad("dnstap.tcp", "%v", err)
		}
	}
	if d.Queue < 0 || d.Queue > 1<<20 || d.Queue == 0 && c.written("dnstap.queue") {
		bad("dnstap.queue", "%d: want 1 to %d", d.Queue, 1<<20)
	}
	if d.Timeout < 0 || d.Timeout == 0 && c.written("dnstap.timeout") {
		bad("dnstap.timeout", "must be positive")
	}
	if len(d.Identity) > 255 || len(d.Version) > 255 {
		bad("dnstap", "identity and version: at most 255 bytes each")
	}
	if d.Enabled() && d.LogQueries != nil && !*d.LogQueries && d.LogResponses != nil && !*d.LogResponses {
		bad("dnstap", "log_queries and log_responses are both false: nothing would be sent")
	}
}

// DnstapLogs returns whether dnstap sends queries and responses.
func (d Dnstap) DnstapLogs() (queries, responses bool) {
	return d.LogQueries == nil || *d.LogQueries, d.LogResponses == nil || *d.LogResponses
}

// written reports whether the file writes the key at a dotted path of
// mapping keys ("query_log.enabled"), whatever its value.
func (c *Config) written(path string) bool {
	if c.root == nil || len(c.root.Content) == 0 {
		return false
	}
	n := c.root.Content[0]
	for _, key := range strings.Split(path, ".") {
		if n.Kind != yaml.MappingNode {
			return false
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			return false
		}
		n = next
	}
	return true
}
