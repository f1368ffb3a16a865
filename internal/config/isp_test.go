package config

import (
	"strings"
	"testing"
)

// TestModeDefaults: ISP mode turns the raw query log off unless the file
// turns it on, and sizes the counter table for a million households.
func TestModeDefaults(t *testing.T) {
	tests := []struct {
		name         string
		doc          string
		wantMode     string
		wantLog      bool
		wantCounters int
	}{
		{"home by default", "", ModeHome, true, defaultHomeCounterHouseholds},
		{"isp: raw log off", "mode: isp\n", ModeISP, false, defaultCounterHouseholds},
		{"isp: raw log explicitly on", "mode: isp\nquery_log: {enabled: true}\n", ModeISP, true, defaultCounterHouseholds},
		{"isp: table sized", "mode: isp\nisp: {counter_households: 5000}\n", ModeISP, false, 5000},
		{"home: log off", "query_log: {enabled: false}\n", ModeHome, false, defaultHomeCounterHouseholds},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if c.Mode != tc.wantMode || c.QueryLog.Enabled != tc.wantLog || c.ISP.CounterHouseholds != tc.wantCounters {
				t.Errorf("mode %q, query log %v, counters %d; want %q, %v, %d",
					c.Mode, c.QueryLog.Enabled, c.ISP.CounterHouseholds, tc.wantMode, tc.wantLog, tc.wantCounters)
			}
		})
	}
}

// TestISPAndDnstapErrors: bad values are refused with file:line: field.
func TestISPAndDnstapErrors(t *testing.T) {
	tests := []struct {
		doc  string
		want string
	}{
		{"mode: office\n", `t.yaml:1: mode: "office" is not home or isp`},
		{"isp:\n  counter_households: -1\n", "t.yaml:2: isp.counter_households: -1: want 1 to"},
		{"isp:\n  counter_households: 0\n", "t.yaml:2: isp.counter_households: 0: want 1 to"},
		{"dnstap:\n  socket: relative.sock\n", `t.yaml:2: dnstap.socket: "relative.sock": want an absolute path`},
		{"dnstap:\n  tcp: nowhere\n", "t.yaml:2: dnstap.tcp:"},
		{"dnstap:\n  socket: /run/x.sock\n  tcp: 127.0.0.1:6000\n", "t.yaml:1: dnstap: socket and tcp: give one"},
		{"dnstap:\n  tcp: 127.0.0.1:6000\n  queue: 0\n", "t.yaml:3: dnstap.queue: 0: want 1 to"},
		{"dnstap:\n  tcp: 127.0.0.1:6000\n  log_queries: false\n  log_responses: false\n", "t.yaml:1: dnstap: log_queries and log_responses are both false"},
	}
	for _, tc := range tests {
		_, err := Parse("t.yaml", []byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.doc, err, tc.want)
		}
	}
	c, err := Parse("t.yaml", []byte("dnstap: {tcp: \"127.0.0.1:6000\", identity: node1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	q, r := c.Dnstap.DnstapLogs()
	if !c.Dnstap.Enabled() || !q || !r || c.Dnstap.Version != "hearth" || c.Dnstap.Queue != defaultDnstapQueue {
		t.Errorf("dnstap defaults: %+v", c.Dnstap)
	}
}
