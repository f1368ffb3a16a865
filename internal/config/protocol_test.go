package config

import (
	"strings"
	"testing"
	"time"
)

// TestResolverBoundsKeys checks the cache bounds and CH keys: accepted
// forms, and errors that name file, line and field.
func TestResolverBoundsKeys(t *testing.T) {
	good := []struct {
		doc  string
		want func(c *Config) bool
	}{
		{"cache: {max_bytes: 64MiB}\n", func(c *Config) bool { n, _ := ParseBytes(c.Cache.MaxBytes); return n == 64<<20 }},
		{"cache: {max_bytes: 2097152}\n", func(c *Config) bool { n, _ := ParseBytes(c.Cache.MaxBytes); return n == 2<<20 }},
		{"cache: {max_bytes: 5 MB}\n", func(c *Config) bool { n, _ := ParseBytes(c.Cache.MaxBytes); return n == 5e6 }},
		{"cache: {servfail_ttl: 0s}\n", func(c *Config) bool { return c.Cache.ServfailTTL == 0 }},
		{"cache: {max_inflight: 50, max_inflight_per_client: 5}\n", func(c *Config) bool {
			return c.Cache.MaxInflight == 50 && c.Cache.MaxInflightPerClient == 5
		}},
		{"memory_limit: 512MiB\n", func(c *Config) bool { return c.MemoryLimit == "512MiB" }},
		{"memory_limit: off\n", func(c *Config) bool { return c.MemoryLimit == "off" }},
		{"local: {chaos: {version: hearth, hostname: den}}\n", func(c *Config) bool {
			return c.Local.Chaos == Chaos{Version: "hearth", Hostname: "den"}
		}},
		{"", func(c *Config) bool {
			n, _ := ParseBytes(c.Cache.MaxBytes)
			return n == 64<<20 && c.Cache.ServfailTTL == 5*time.Second && c.Cache.MaxInflight == 1000 &&
				c.Cache.MaxInflightPerClient == 100 && c.Local.Chaos == Chaos{} && c.MemoryLimit == "auto"
		}},
	}
	for _, tc := range good {
		c, err := Parse("x.yaml", []byte("upstream: {servers: [9.9.9.9]}\n"+tc.doc))
		if err != nil {
			t.Errorf("%q: %v", tc.doc, err)
			continue
		}
		if !tc.want(c) {
			t.Errorf("%q: parsed %+v %+v", tc.doc, c.Cache, c.Local.Chaos)
		}
	}
	bad := []struct {
		name, doc, want string
	}{
		{"unit", "cache:\n  max_bytes: 64 parsecs\n", `x.yaml:3: cache.max_bytes: "64 parsecs": unknown unit`},
		{"not a size", "cache:\n  max_bytes: lots\n", `x.yaml:3: cache.max_bytes: "lots" is not a size`},
		{"too small", "cache:\n  max_bytes: 1KiB\n", `x.yaml:3: cache.max_bytes: "1KiB" is less than 1MiB`},
		{"servfail_ttl", "cache:\n  servfail_ttl: 1h\n", "x.yaml:3: cache.servfail_ttl: 1h0m0s: must be between"},
		{"inflight", "cache:\n  max_inflight: 0\n", "x.yaml:3: cache.max_inflight: must be positive"},
		{"per client over total", "cache:\n  max_inflight: 10\n  max_inflight_per_client: 20\n", "x.yaml:4: cache.max_inflight_per_client: 20 is more than max_inflight 10"},
		{"chaos key", "local:\n  chaos: {versoin: x}\n", "x.yaml:3: local.chaos.versoin: unknown field"},
		{"memory_limit word", "memory_limit: plenty\n", `x.yaml:2: memory_limit: "plenty" is not a size like 64MiB (or auto, or off)`},
		{"memory_limit small", "memory_limit: 1MiB\n", `x.yaml:2: memory_limit: "1MiB" is less than 32MiB`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte("upstream: {servers: [9.9.9.9]}\n"+tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// FuzzParseBytes checks that ParseBytes never panics and that what it
// accepts is a non-negative size.
func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"64MiB", "1", "5 MB", "", "9223372036854775807GiB", "-1", "1.5GB", "MiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := ParseBytes(s); err == nil && n < 0 {
			t.Errorf("ParseBytes(%q) = %d", s, n)
		}
	})
}
