package config

import (
	"strings"
	"testing"
)

func TestStoreConfig(t *testing.T) {
	const up = "upstream: {servers: [9.9.9.9]}\n"
	tests := []struct {
		name       string
		doc, env   string
		wantErr    string // "" for none
		wantDriver string
		wantDSN    string
	}{
		{name: "default", doc: up, wantDriver: "sqlite"},
		{name: "sqlite path", doc: up + "store: {path: /var/lib/hearth/h.db}\n", wantDriver: "sqlite"},
		{name: "postgres in the file", doc: up + "store: {driver: postgres, dsn: \"postgres://db/hearth\"}\n",
			wantDriver: "postgres", wantDSN: "postgres://db/hearth"},
		{name: "postgres from the environment", doc: up + "store: {driver: postgres}\n", env: "postgres://u:pw@db/hearth",
			wantDriver: "postgres", wantDSN: "postgres://u:pw@db/hearth"},
		{name: "postgres without dsn", doc: up + "store:\n  driver: postgres\n",
			wantErr: "x.yaml:2: store.dsn: required by driver postgres: set it here or in the environment as HEARTH_STORE_DSN"},
		{name: "dsn in both places", doc: up + "store:\n  driver: postgres\n  dsn: postgres://db/x\n", env: "postgres://db/y",
			wantErr: "x.yaml:4: store.dsn: set both here and in the environment"},
		{name: "unknown driver", doc: up + "store:\n  driver: mysql\n", wantErr: `x.yaml:3: store.driver: "mysql" is not sqlite or postgres`},
		{name: "dsn for sqlite", doc: up + "store:\n  dsn: postgres://u:secret@db/x\n", wantErr: "x.yaml:3: store.dsn: only for driver postgres"},
		{name: "path for postgres", doc: up + "store:\n  driver: postgres\n  path: h.db\n  dsn: postgres://db/x\n",
			wantErr: "x.yaml:4: store.path: only for driver sqlite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvStoreDSN, tc.env)
			c, err := Parse("x.yaml", []byte(tc.doc))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q quotes the DSN's password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.StoreDriver() != tc.wantDriver || c.StoreDSN() != tc.wantDSN {
				t.Errorf("driver %q, dsn %q; want %q, %q", c.StoreDriver(), c.StoreDSN(), tc.wantDriver, tc.wantDSN)
			}
		})
	}
}
