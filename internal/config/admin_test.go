package config

import (
	"strings"
	"testing"
)

func TestAdminSection(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{"none", "", ""},
		{"hosts and networks", "admin:\n  hosts: [hearth.lan, 192.168.1.2, \"::1\"]\n  metrics_networks: [192.168.1.10, 10.0.0.0/8]\n  tls: self-signed\n", ""},
		{"cert with files", "tls: {cert: c.pem, key: k.pem}\nadmin:\n  tls: cert\n", ""},
		{"host with scheme", "admin:\n  hosts:\n    - hearth.lan\n    - http://hearth.lan\n", `x.yaml:4: admin.hosts[1]: "http://hearth.lan": want a host name or IP address, without scheme, port or path`},
		{"host with port", "admin:\n  hosts: [\"hearth.lan:8053\"]\n", `x.yaml:2: admin.hosts[0]: "hearth.lan:8053"`},
		{"empty host", "admin:\n  hosts: [\"\"]\n", `x.yaml:2: admin.hosts[0]: "": want a host name or IP address`},
		{"unknown tls", "admin:\n  tls: yes-please\n", `x.yaml:2: admin.tls: "yes-please" is not off, cert or self-signed`},
		{"cert without files", "admin:\n  tls: cert\n", "x.yaml:2: admin.tls: cert needs tls.cert and tls.key"},
		{"bad network", "admin:\n  metrics_networks: [lan]\n", `x.yaml:2: admin.metrics_networks[0]: "lan" is not a network`},
		{"unknown key", "admin:\n  host: a\n", "x.yaml:2: admin.host: unknown field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.doc))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Parse: %v, want %q", err, tc.wantErr)
			}
		})
	}
}
