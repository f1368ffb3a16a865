package config

import (
	"strings"
	"testing"
)

// issue3Example is the configuration example of the categories-per-device
// issue; the README carries the same text (TestREADMEExamples parses it).
const issue3Example = `profiles:
  kid:   {preset: kid, allow: [khanacademy.org], deny: [example-game.com], youtube: strict}
  adult: {block: [malware, phishing]}
devices:
  - {name: emma-tablet, mac: "aa:bb:cc:dd:ee:ff", profile: kid}
  - {name: living-room-tv, ip: 192.168.1.40, profile: kid}
  - {name: parents, cidr: 192.168.1.128/25, profile: adult}
default_profile: adult
sources:
  - {tag: gambling, file: /var/lib/hearth/extra-gambling.txt, format: domains}
access: {trusted_forwarders: ["192.168.1.1"]}
`

func TestPolicyExample(t *testing.T) {
	c, err := Parse("hearth.yaml", []byte(issue3Example))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Profiles["kid"]; got.Preset != "kid" || got.YouTube != "strict" || got.Allow[0] != "khanacademy.org" {
		t.Errorf("kid = %+v", got)
	}
	if len(c.Devices) != 3 || c.Devices[0].MAC != "aa:bb:cc:dd:ee:ff" || c.Devices[2].CIDR != "192.168.1.128/25" {
		t.Errorf("devices = %+v", c.Devices)
	}
	if c.DefaultProfile != "adult" || c.Sources[0].Tag != "gambling" || c.Access.TrustedForwarders[0] != "192.168.1.1" {
		t.Errorf("config = %+v", c)
	}
	if c.Blocking.Mode != "null" || c.Blocking.TTL.Seconds() != 10 {
		t.Errorf("blocking defaults = %+v", c.Blocking)
	}
}

func TestSafeSearchForms(t *testing.T) {
	c, err := Parse("x.yaml", []byte("profiles:\n  a: {safe_search: true}\n  b: {safe_search: [google, bing]}\n  c: {safe_search: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Profiles["a"].SafeSearch; p == nil || !p.On || len(p.Engines) != 0 {
		t.Errorf("a = %+v", p)
	}
	if p := c.Profiles["b"].SafeSearch; p == nil || !p.On || len(p.Engines) != 2 || p.Engines[1] != "bing" {
		t.Errorf("b = %+v", p)
	}
	if p := c.Profiles["c"].SafeSearch; p == nil || p.On {
		t.Errorf("c = %+v", p)
	}
	if _, err := Parse("x.yaml", []byte("profiles:\n  a: {safe_search: maybe}\n")); err == nil || !strings.Contains(err.Error(), "x.yaml:2") {
		t.Errorf("bad safe_search: %v", err)
	}
}

func TestPolicyErrors(t *testing.T) {
	tests := []struct {
		doc  string
		want string
	}{
		{"profiles:\n  kid: {youtube: loud}\n", "x.yaml:2: profiles.kid.youtube: \"loud\" is not strict, moderate or off"},
		{"profiles:\n  kid:\n    allow: [\"bad domain\"]\n", "x.yaml:3: profiles.kid.allow[0]:"},
		{"devices:\n  - {name: a, profile: kid}\n", "x.yaml:2: devices[0]: needs an ip, cidr, mac or client_id"},
		{"devices:\n  - {name: a, profile: kid, ip: 1.2.3.4}\n  - {name: a, profile: kid, ip: 1.2.3.5}\n", "x.yaml:3: devices[1].name: \"a\" is also devices[0]"},
		{"devices:\n  - {name: a, profile: kid, mac: \"zz\"}\n", "x.yaml:2: devices[0].mac:"},
		{"devices:\n  - name: a\n    profile: kid\n    cidr: 10.0.0.0/99\n", "x.yaml:4: devices[0].cidr:"},
		{"sources:\n  - {tag: gambling, format: domains}\n", "x.yaml:2: sources[0]: needs exactly one of url and file"},
		{"sources:\n  - {tag: gambling, file: /x, format: csv}\n", "x.yaml:2: sources[0].format:"},
		{"blocking: {mode: address}\n", "x.yaml:1: blocking.address: required by mode address"},
		{"blocking: {mode: sinkhole}\n", "x.yaml:1: blocking.mode:"},
		{"access: {trusted_forwarders: [router]}\n", "x.yaml:1: access.trusted_forwarders[0]:"},
		{"profiles:\n  kid:\n    schedules:\n      - {days: [funday], from: \"21:00\", to: \"07:00\", pause: true}\n", "x.yaml:4: profiles.kid.schedules[0].days: \"funday\" is not a day"},
		{"profiles:\n  kid:\n    schedules:\n      - {days: [daily], from: \"9pm\", to: \"07:00\", pause: true}\n", "x.yaml:4: profiles.kid.schedules[0].from: \"9pm\" is not a time of day"},
		{"profiles:\n  kid:\n    schedules:\n      - {days: [weekdays], from: \"16:00\", to: \"18:00\", pause: true, block: [games]}\n", "x.yaml:4: profiles.kid.schedules[0]: needs exactly one of pause, block and allow_only"},
		{"profiles:\n  kid: {timezone: Mars/Olympus}\n", "x.yaml:2: profiles.kid.time_zone: \"Mars/Olympus\" is not an IANA time zone"},
		{"profiles:\n  kid:\n    preset: kid\n    time_zone: Mars/Olympus\n", "x.yaml:4: profiles.kid.time_zone: \"Mars/Olympus\" is not an IANA time zone"},
		{"profiles:\n  kid:\n    preset: kid\n    timezone: Mars/Olympus\n", "x.yaml:4: profiles.kid.time_zone: \"Mars/Olympus\" is not an IANA time zone"},
		{"profiles:\n  kid:\n    budgets:\n      - {tag: games}\n", "x.yaml:4: profiles.kid.budgets[0].minutes: required"},
		{"profiles:\n  kid:\n    budgets:\n      - {tag: games, minutes: 1500}\n", "x.yaml:4: profiles.kid.budgets[0].minutes: 1500 is not 0 to 1440"},
		{"profiles:\n  kid:\n    budgets:\n      - {minutes: 30}\n", "x.yaml:4: profiles.kid.budgets[0].tag: required"},
		{"profiles:\n  kid:\n    budgets:\n      - {tag: games, minutes: 30, days: [someday]}\n", "x.yaml:4: profiles.kid.budgets[0].days: \"someday\" is not a day"},
		{"profiles:\n  kid:\n    budgets:\n      - {tag: games, minutes: 60, days: [weekdays]}\n      - {tag: games, minutes: 90, days: [fri, sat]}\n", "x.yaml:5: profiles.kid.budgets[1].days: Friday has two budgets for \"games\""},
		{"profiles:\n  kid:\n    preset: kid\n    colour: blue\n", "x.yaml:4: profiles.kid.colour: unknown field"},
		{"profiles:\n  kid:\n    schedules:\n      - days: [daily]\n        from: \"21:00\"\n        to: \"07:00\"\n        paws: true\n", "x.yaml:7: profiles.kid.schedules[0].paws: unknown field"},
		{"profiles:\n  kid: {id: other}\n", "x.yaml:2: profiles.kid.id: unknown field"},
		{"profiles:\n  kid:\n    timezone: UTC\n    time_zone: Europe/Paris\n", "x.yaml:3: profiles.kid.timezone: time_zone \"Europe/Paris\" and timezone \"UTC\" differ"},
	}
	for _, tc := range tests {
		_, err := Parse("x.yaml", []byte(tc.doc))
		want := tc.want
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("doc %q: error %v, want %q", tc.doc, err, want)
		}
	}
}
