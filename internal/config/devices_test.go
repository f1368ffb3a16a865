package config

import (
	"strings"
	"testing"
)

// TestDeviceIdentifierErrors: every device identifier in the config file
// is checked by the one validator the API and the policy compiler use
// (package netid), and an error names file, line and field.
func TestDeviceIdentifierErrors(t *testing.T) {
	const head = "upstream: {servers: [9.9.9.9]}\ndevices:\n"
	tests := []struct {
		name    string
		devices string
		want    string
	}{
		{"zero MAC", "  - {name: tv, profile: kid, mac: \"00:00:00:00:00:00\"}\n", `x.yaml:3: devices[0].mac: "00:00:00:00:00:00" is the all-zero MAC`},
		{"broadcast MAC", "  - {name: tv, profile: kid, mac: \"ff:ff:ff:ff:ff:ff\"}\n", "x.yaml:3: devices[0].mac: \"ff:ff:ff:ff:ff:ff\" is the broadcast"},
		{"multicast MAC", "  - {name: tv, profile: kid, mac: \"01:00:5e:00:00:fb\"}\n", "x.yaml:3: devices[0].mac: \"01:00:5e:00:00:fb\" is a multicast"},
		{"zoned IP", "  - {name: tv, profile: kid, ip: \"fe80::1%eth0\"}\n", "x.yaml:3: devices[0].ip: \"fe80::1%eth0\" has a zone"},
		{"zoned CIDR", "  - {name: tv, profile: kid, cidr: \"fe80::%eth0/64\"}\n", "x.yaml:3: devices[0].cidr: \"fe80::%eth0/64\" has a zone"},
		{"bad client id", "  - {name: tv, profile: kid, client_id: \"kid_1\"}\n", "x.yaml:3: devices[0].client_id: \"kid_1\""},
		{
			"client id differing in case",
			"  - {name: kid, profile: kid, client_id: kid1}\n  - name: parent\n    profile: adult\n    client_id: Kid1\n",
			"x.yaml:6: devices[1].client_id: a client id is also devices[0]'s",
		},
		{
			"same MAC spelt twice",
			"  - {name: kid, profile: kid, mac: \"a8:bb:cc:dd:ee:01\"}\n  - {name: parent, profile: adult, mac: \"A8-BB-CC-DD-EE-01\"}\n",
			"x.yaml:4: devices[1].mac: mac a8:bb:cc:dd:ee:01 is also devices[0]'s",
		},
		{
			"same network unmasked",
			"  - {name: kid, profile: kid, cidr: \"192.168.1.0/24\"}\n  - {name: parent, profile: adult, cidr: \"192.168.1.9/24\"}\n",
			"x.yaml:4: devices[1].cidr: cidr 192.168.1.0/24 is also devices[0]'s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(head+tt.devices))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v\nwant an error containing %q", err, tt.want)
			}
		})
	}
	ok := head + "  - {name: kid, profile: kid, mac: \"A8-BB-CC-DD-EE-01\", ip: \"::ffff:192.168.1.5\", client_id: Kid1}\n"
	if _, err := Parse("x.yaml", []byte(ok)); err != nil {
		t.Fatalf("valid devices refused: %v", err)
	}
}

func TestClientIDDomainErrors(t *testing.T) {
	_, err := Parse("x.yaml", []byte("upstream: {servers: [9.9.9.9]}\naccess:\n  client_id_domains: [\"dns example.net\"]\n"))
	if want := `x.yaml:3: access.client_id_domains[0]: "dns example.net" is not a host name`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Parse = %v, want %q", err, want)
	}
}
