package config

import (
	"strings"
	"testing"
	"time"
)

// TestLimitsErrors checks that each bad limit is reported with its file,
// line and field, and that a good limits section parses.
func TestLimitsErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"zero per source", "limits:\n  tcp_per_source: 0\n", "x.yaml:2: limits.tcp_per_source: must be positive"},
		{"per source over total", "limits:\n  tcp_connections: 10\n  tcp_per_source: 20\n", "x.yaml:3: limits.tcp_per_source: 20 is more than tcp_connections 10"},
		{"negative qps", "limits:\n  burst: 10\n  qps: -1\n", "x.yaml:3: limits.qps: must not be negative"},
		{"no burst", "limits:\n  qps: 10\n  burst: 0\n", "x.yaml:3: limits.burst: must be at least 1"},
		{"small headers", "limits:\n  http_max_header_bytes: 100\n", "x.yaml:2: limits.http_max_header_bytes: 100 is below 1024"},
		{"zero header timeout", "limits:\n  http_header_timeout: 0s\n", "x.yaml:2: limits.http_header_timeout: must be positive"},
		{"huge table", "limits:\n  table: 100000000\n", "x.yaml:2: limits.table: 100000000 is more than"},
		{"bad duration", "limits:\n  http_idle: forever\n", "x.yaml:2: limits.http_idle: cannot unmarshal"},
		{"unknown key", "limits:\n  qpss: 10\n", "x.yaml:2: limits.qpss: unknown field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
	c, err := Parse("x.yaml", []byte("limits:\n  qps: 50\n  burst: 100\n  slip: 0\n  http_timeout: 5s\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := defaultLimits()
	want.QPS, want.Burst, want.Slip, want.HTTPTimeout = 50, 100, 0, 5*time.Second
	if c.Limits != want {
		t.Errorf("limits = %+v\nwant %+v", c.Limits, want)
	}
}
