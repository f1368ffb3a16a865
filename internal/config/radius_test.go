package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRadiusConfig(t *testing.T) {
	const up = "upstream: {servers: [9.9.9.9]}\n"
	secretFile := filepath.Join(t.TempDir(), "nas.secret")
	if err := os.WriteFile(secretFile, []byte("  from-the-file-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		doc        string
		wantErr    string // "" for none
		wantSecret string // of client 0
	}{
		{name: "off", doc: up},
		{name: "inline secret", doc: up + "radius:\n  listen: 127.0.0.1:1813\n  clients: [{network: 192.0.2.0/24, secret: a-long-shared-secret}]\n",
			wantSecret: "a-long-shared-secret"},
		{name: "secret file", doc: up + "radius:\n  listen: 127.0.0.1:1813\n  clients: [{network: 192.0.2.1, secret_file: " + secretFile + "}]\n",
			wantSecret: "from-the-file-0123456789"},
		{name: "clients without listen", doc: up + "radius:\n  clients: [{network: 192.0.2.0/24, secret: a-long-shared-secret}]\n",
			wantErr: "x.yaml:2: radius.listen: required when radius.clients are set"},
		{name: "no clients", doc: up + "radius:\n  listen: 127.0.0.1:1813\n", wantErr: "radius.clients: at least one"},
		{name: "bad listen", doc: up + "radius:\n  listen: 1813\n  clients: [{network: 192.0.2.0/24, secret: a-long-shared-secret}]\n",
			wantErr: "x.yaml:3: radius.listen:"},
		{name: "bad network", doc: up + "radius:\n  listen: 127.0.0.1:1813\n  clients:\n    - {network: 192.0.2.0/33, secret: a-long-shared-secret}\n",
			wantErr: "x.yaml:5: radius.clients[0].network:"},
		{name: "both secrets", doc: up + "radius:\n  listen: 127.0.0.1:1813\n  clients:\n    - {network: 192.0.2.0/24, secret: a-long-shared-secret, secret_file: /x}\n",
			wantErr: "x.yaml:5: radius.clients[0]: set secret or secret_file, not both"},
		{name: "no secret", doc: up + "radius:\n  listen: 127.0.0.1:1813\n  clients:\n    - {network: 192.0.2.0/24}\n",
			wantErr: "radius.clients[0]: secret or secret_file is required"},
		{name: "short secret", doc: up + "radius:\n  listen: 127.0.0.1:1813\n  clients:\n    - {network: 192.0.2.0/24, secret: hunter2}\n",
			wantErr: "radius.clients[0].secret: shorter than 16"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("x.yaml", []byte(tc.doc))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error quotes the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantSecret != "" {
				got, err := c.RadiusSecret(0)
				if err != nil || string(got) != tc.wantSecret {
					t.Errorf("secret %q, %v; want %q", got, err, tc.wantSecret)
				}
			}
		})
	}
}
