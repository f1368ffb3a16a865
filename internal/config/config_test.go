package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if got, want := c.Listen.DNS, []string{"127.0.0.1:5353"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("listen.dns = %v, want %v", got, want)
	}
	if c.Listen.HTTP != "127.0.0.1:8053" {
		t.Errorf("listen.http = %q", c.Listen.HTTP)
	}
	for _, s := range c.Upstream.Servers {
		if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "tls://") {
			t.Errorf("default upstream %q is not encrypted", s)
		}
	}
	if c.Cache.ServeStale != time.Hour || !c.Cache.Prefetch {
		t.Errorf("cache = %+v", c.Cache)
	}
}

// TestUDPPause checks listen.udp_pause: the default survives a listen
// section that does not name it, and 0s turns the pause off.
func TestUDPPause(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want time.Duration
	}{
		{"listen: {dns: [\"127.0.0.1:53\"]}\n", 500 * time.Microsecond},
		{"listen: {dns: [\"127.0.0.1:53\"], udp_pause: 0s}\n", 0},
		{"listen: {dns: [\"127.0.0.1:53\"], udp_pause: 200us}\n", 200 * time.Microsecond},
	} {
		c, err := Parse("x.yaml", []byte(tc.doc))
		if err != nil {
			t.Fatalf("%q: %v", tc.doc, err)
		}
		if c.Listen.UDPPause != tc.want {
			t.Errorf("%q: udp_pause = %v, want %v", tc.doc, c.Listen.UDPPause, tc.want)
		}
	}
}

func TestParseIssueExample(t *testing.T) {
	const doc = `listen: {dns: ["127.0.0.1:5353"], dot: [], doh: [], http: "127.0.0.1:8053"}
tls: {cert: /etc/hearth/cert.pem, key: /etc/hearth/key.pem}
upstream:
  servers: ["https://dns.quad9.net/dns-query", "tls://1.1.1.1", "9.9.9.9"]
  strategy: parallel        # or failover
  bootstrap: ["9.9.9.9"]
  timeout: 2s
cache: {size: 100000, min_ttl: 0s, max_ttl: 24h, prefetch: true, serve_stale: 1h}
access: {allow: ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10"]}
local: {records: ["router.lan A 192.168.1.1"], forward: {"lan": "192.168.1.1"}}
data_dir: ./hearth-data
`
	c, err := Parse("hearth.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if c.Upstream.Timeout != 2*time.Second || len(c.Upstream.Servers) != 3 || c.Local.Forward["lan"] != "192.168.1.1" {
		t.Errorf("parsed %+v", c)
	}
	if c.Limits.TCPIdle != 10*time.Second {
		t.Errorf("built-in limit default lost: %+v", c.Limits)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"unknown top key", "listen: {dns: [\"127.0.0.1:53\"]}\nbogus: 1\n", "x.yaml:2: bogus: unknown field"},
		{"unknown nested key", "upstream:\n  servers: [9.9.9.9]\n  strategi: failover\n", "x.yaml:3: upstream.strategi: unknown field"},
		{"bad strategy", "upstream:\n  servers: [9.9.9.9]\n  strategy: random\n", `x.yaml:3: upstream.strategy: "random" is not parallel or failover`},
		{"bad duration", "upstream:\n  servers: [9.9.9.9]\n  timeout: soon\n", "x.yaml:3: upstream.timeout: cannot unmarshal"},
		{"bad cidr", "upstream: {servers: [9.9.9.9]}\naccess:\n  allow:\n    - 10.0.0.0/8\n    - 10.0.0/33\n", "x.yaml:5: access.allow[1]: \"10.0.0/33\" is not a network"},
		{"no upstream", "upstream: {servers: []}\n", "x.yaml:1: upstream.servers: at least one"},
		{"dot without tls", "upstream: {servers: [9.9.9.9]}\nlisten: {dot: [\"127.0.0.1:853\"]}\n", "x.yaml: tls.cert: required"},
		{"bad listen", "upstream: {servers: [9.9.9.9]}\nlisten:\n  dns: [\"localhost\"]\n", "x.yaml:3: listen.dns[0]:"},
		{"udp pause too long", "upstream: {servers: [9.9.9.9]}\nlisten:\n  udp_pause: 20ms\n", "x.yaml:3: listen.udp_pause: 20ms is not between 0 and 5ms"},
		{"udp pause negative", "upstream: {servers: [9.9.9.9]}\nlisten:\n  udp_pause: -1ms\n", "x.yaml:3: listen.udp_pause: -1ms is not between 0 and 5ms"},
		{"min over max", "upstream: {servers: [9.9.9.9]}\ncache: {min_ttl: 2h, max_ttl: 1h}\n", "x.yaml:2: cache.min_ttl: 2h0m0s is more than max_ttl"},
		{"syntax", "upstream: [\n", "x.yaml:"},
		{"bad bootstrap", "upstream: {servers: [9.9.9.9], bootstrap: [dns.google]}\n", "x.yaml:1: upstream.bootstrap[0]:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestErrorfLine(t *testing.T) {
	c, err := Parse("x.yaml", []byte("upstream:\n  servers:\n    - 9.9.9.9\n    - tls://bad\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Errorf("upstream.servers[1]", "no such host").Error()
	if want := "x.yaml:4: upstream.servers[1]: no such host"; got != want {
		t.Errorf("Errorf = %q, want %q", got, want)
	}
	got = c.Errorf("cache.size", "too big").Error()
	if want := "x.yaml: cache.size: too big"; got != want {
		t.Errorf("Errorf for a default = %q, want %q", got, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add([]byte("upstream: {servers: [9.9.9.9]}\naccess: {allow: [10.0.0.0/8]}\n"))
	f.Add([]byte("listen: {dns: [\":53\"]}\nbogus: [1, {a: b}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err == nil && c.Validate() != nil {
			t.Fatalf("Parse accepted a config Validate rejects")
		}
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz.yaml") {
			t.Fatalf("error does not name the file: %q", err)
		}
	})
}

// The embedded default config's kid is where a new home starts, not a
// choice the parent wrote: the wizard may replace it. A file that writes
// default_profile wins, and says where.
func TestDefaultProfileAt(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(t *testing.T) *Config
		want string
	}{
		{"embedded default", func(t *testing.T) *Config { return Default() }, ""},
		{"file writes it", func(t *testing.T) *Config {
			c, err := Parse("home.yaml", []byte("upstream: {servers: [\"127.0.0.1:53\"]}\ndefault_profile: teen\n"))
			if err != nil {
				t.Fatal(err)
			}
			return c
		}, "home.yaml:2"},
		{"file leaves it out", func(t *testing.T) *Config {
			c, err := Parse("home.yaml", []byte("upstream: {servers: [\"127.0.0.1:53\"]}\n"))
			if err != nil {
				t.Fatal(err)
			}
			return c
		}, ""},
	}
	for _, tt := range tests {
		if got := tt.cfg(t).DefaultProfileAt(); got != tt.want {
			t.Errorf("%s: DefaultProfileAt() = %q, want %q", tt.name, got, tt.want)
		}
	}
}
