package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestPackagingFiles checks what the issue asks of the unit, the package
// recipe and the Dockerfile, on every machine (scripts/test-package,
// which installs the package, needs root).
func TestPackagingFiles(t *testing.T) {
	tests := []struct {
		file string
		want []string // regular expressions, each matching a whole line
	}{
		{"packaging/hearth.service", []string{
			`ExecStart=/usr/bin/hearth serve --config /etc/hearth/hearth.yaml`,
			`ExecReload=/bin/kill -HUP \$MAINPID`,
			`DynamicUser=yes`,
			`StateDirectory=hearth`,
			`AmbientCapabilities=CAP_NET_BIND_SERVICE`,
			`CapabilityBoundingSet=CAP_NET_BIND_SERVICE`,
			`ProtectSystem=strict`,
			`NoNewPrivileges=yes`,
			`RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX`,
			`SystemCallFilter=@system-service`,
			`SystemCallFilter=~@privileged`,
		}},
		{"packaging/nfpm.yaml", []string{
			`    dst: /usr/bin/hearth`,
			`    dst: /etc/hearth/hearth.yaml`,
			`    type: config\|noreplace`,
			`    dst: /usr/lib/systemd/system/hearth.service`,
			`  postinstall: packaging/scripts/postinstall.sh`,
			`  preremove: packaging/scripts/preremove.sh`,
			`  postremove: packaging/scripts/postremove.sh`,
		}},
		{"scripts/package", []string{
			`NFPM_VERSION=v\d+\.\d+\.\d+`,
			`  CGO_ENABLED=0 .*go build .*`,
		}},
		{"Dockerfile", []string{
			`FROM golang:\S+ AS build`,
			`RUN CGO_ENABLED=0 go build .*`,
			` && setcap cap_net_bind_service=\+ep /out/hearth \\`,
			`FROM gcr.io/distroless/static-debian12:nonroot`,
			`USER 65532:65532`,
			`VOLUME \["/data"\]`,
			`HEALTHCHECK .*`,
			`  CMD \["/usr/bin/hearth", "healthcheck", "--config", "/etc/hearth/hearth.yaml"\]`,
		}},
		{"packaging/compose/home/compose.yaml", []string{
			`    network_mode: host`,
			`    cap_add: \[NET_BIND_SERVICE\]`,
			`      - hearth-data:/data`,
		}},
		{"packaging/compose/isp/compose.yaml", []string{
			`  postgres:`,
			`    image: postgres:\d+`,
			`  env_file: store.env`,
			`      condition: service_healthy`,
			`  node1:`,
			`  node2:`,
			`  node3:`,
			`      - node[123]-data:/data`,
			`      - \./hearth\.yaml:/etc/hearth/hearth\.yaml:ro`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(repoRoot, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !regexp.MustCompile(`(?m)^` + w + `$`).Match(b) {
					t.Errorf("no line matching %q", w)
				}
			}
		})
	}
}

// TestISPComposeConfigChecks: the nodes' config of the ISP compose
// example passes `hearth check` with the DSN from the environment (as
// store.env gives it), and names no DSN itself: the password stays out of
// the file.
func TestISPComposeConfigChecks(t *testing.T) {
	path := filepath.Join(repoRoot, "packaging/compose/isp/hearth.yaml")
	t.Setenv("HEARTH_STORE_DSN", "postgres://hearth:secret@postgres:5432/hearth?sslmode=disable")
	var out, errb bytes.Buffer
	if code := run([]string{"check", "--config", path}, &out, &errb); code != 0 {
		t.Fatalf("check: %d %s", code, errb.String())
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Driver != "postgres" || cfg.DataDir != "/data" {
		t.Errorf("store %q, data_dir %q; want postgres and /data", cfg.Store.Driver, cfg.DataDir)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("postgres://")) {
		t.Error("the config file holds a DSN; it belongs in store.env")
	}
}

// TestShippedConfigsCheck: the configs the package and the image install
// pass `hearth check`, listen on port 53, keep the web page on loopback
// (the first-run wizard belongs to whoever reaches it first) and keep the
// data where the unit and the volume put it.
func TestShippedConfigsCheck(t *testing.T) {
	tests := []struct {
		file    string
		dataDir string
	}{
		{"packaging/hearth.yaml", "/var/lib/hearth"},
		{"packaging/container.yaml", "/data"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(repoRoot, tc.file)
			var out, errb bytes.Buffer
			if code := run([]string{"check", "--config", path}, &out, &errb); code != 0 {
				t.Fatalf("check: %d %s", code, errb.String())
			}
			cfg, err := loadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DataDir != tc.dataDir {
				t.Errorf("data_dir %q, want %q", cfg.DataDir, tc.dataDir)
			}
			if cfg.Listen.HTTP != "127.0.0.1:8053" {
				t.Errorf("listen.http %q, want loopback until a password is set", cfg.Listen.HTTP)
			}
			if len(cfg.Listen.DNS) == 0 || cfg.Listen.DNS[0] != "0.0.0.0:53" {
				t.Errorf("listen.dns %v, want port 53", cfg.Listen.DNS)
			}
		})
	}
}
