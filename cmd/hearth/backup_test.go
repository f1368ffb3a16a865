package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-dns/hearth/internal/app"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/testutil/pgtest"
)

// backupConfig writes a config whose store is SQLite in dir/data, or the
// PostgreSQL schema dsn when set, and returns its path.
func backupConfig(t *testing.T, dir, list, dsn string) string {
	t.Helper()
	doc := fmt.Sprintf("sources:\n  - {tag: gambling, file: %q, format: domains}\ndata_dir: %q\n", list, filepath.Join(dir, "data"))
	if dsn != "" {
		doc += fmt.Sprintf("store: {driver: postgres, dsn: %q}\n", dsn)
	}
	path := filepath.Join(dir, "hearth.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// hearth runs the command line and returns its exit code and output.
func hearth(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// withoutTime drops an export's "exported" time, the one field two exports
// of the same store may differ in.
func withoutTime(t *testing.T, b []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, b)
	}
	delete(m, "exported")
	out, _ := json.MarshalIndent(m, "", "  ")
	return string(out)
}

// TestAdminExportImport is a move to a new machine with the command line:
// `hearth admin export` on the old install (SQLite), `hearth admin import`
// on a fresh one (SQLite, and PostgreSQL), whose export is then the same
// and whose policy blocks what the old one blocked for the same device.
// A second import is refused without --replace; a document from a newer
// Hearth, or with a bad item, is refused naming why, and changes nothing.
func TestAdminExportImport(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "gambling.txt")
	os.WriteFile(list, []byte("bet365.com\n"), 0o644)
	oldDir := filepath.Join(dir, "old")
	os.Mkdir(oldDir, 0o755)
	oldCfg := backupConfig(t, oldDir, list, "")
	cfg, err := config.Load(oldCfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := app.OpenStore(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Emma's profile allows nothing of gambling; the home's default
	// profile (adult) would.
	if _, err := st.PutProfile(ctx, store.Profile{ID: "emma", Household: app.HomeHousehold, Name: "Emma", Preset: "kid", Block: []string{"gambling"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutDevice(ctx, store.Device{ID: "emmas-tablet", Household: app.HomeHousehold, Name: "Emma's tablet", Profile: "emma", IPs: []string{"192.168.1.30"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutUser(ctx, store.User{Name: "admin", PasswordHash: "$argon2id$v=19$secret-hash"}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	exported := filepath.Join(dir, "export.json")
	if code, _, errs := hearth(t, "admin", "export", "--config", oldCfg, "--out", exported); code != 0 || !strings.Contains(errs, "exported 1 households, 1 profiles, 1 devices") {
		t.Fatalf("export: %d %s", code, errs)
	}
	data, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(exported); fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("export file mode %v, want readable by its owner alone", fi.Mode())
	}
	if bytes.Contains(data, []byte("argon2id")) || !bytes.Contains(data, []byte(`"format": "hearth-export"`)) || !bytes.Contains(data, []byte(`"version": 1`)) {
		t.Fatalf("export:\n%s", data)
	}

	future := filepath.Join(dir, "future.json")
	os.WriteFile(future, bytes.Replace(data, []byte(`"version": 1`), []byte(`"version": 7`), 1), 0o600)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, bytes.Replace(data, []byte(`"192.168.1.30"`), []byte(`"192.168.1.300"`), 1), 0o600)

	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			newDir := t.TempDir()
			dsn := ""
			if backend == "postgres" {
				dsn = pgtest.DSN(t)
			}
			newCfg := backupConfig(t, newDir, list, dsn)
			steps := []struct {
				name     string
				args     []string
				wantCode int
				want     string
			}{
				{"future version", []string{"admin", "import", "--config", newCfg, future}, 1, "version 7: made by a newer Hearth; this Hearth reads exports up to version 1: upgrade Hearth to import it"},
				{"bad item", []string{"admin", "import", "--config", newCfg, bad}, 1, `devices[0] "emmas-tablet": ips[0]:`},
				{"no file", []string{"admin", "import", "--config", newCfg}, 2, "want one FILE"},
				{"import", []string{"admin", "import", "--config", newCfg, exported}, 0, "imported 1 households, 1 profiles, 1 devices"},
				{"again", []string{"admin", "import", "--config", newCfg, exported}, 3, "the store is not empty (1 households, 1 profiles, 1 devices): import into a fresh install, or replace its content (--replace"},
				{"replace", []string{"admin", "import", "--config", newCfg, "--replace", exported}, 0, "replaced the content with 1 households, 1 profiles, 1 devices"},
			}
			for _, s := range steps {
				code, out, errs := hearth(t, s.args...)
				if code != s.wantCode || !strings.Contains(out+errs, s.want) {
					t.Fatalf("%s: code %d, output %q %q; want %d with %q", s.name, code, out, errs, s.wantCode, s.want)
				}
				if s.name == "bad item" {
					// The refused imports left the fresh install empty.
					_, out, _ := hearth(t, "admin", "export", "--config", newCfg)
					if strings.Contains(out, "emma") {
						t.Fatalf("a refused import wrote:\n%s", out)
					}
				}
			}
			code, again, errs := hearth(t, "admin", "export", "--config", newCfg)
			if code != 0 {
				t.Fatalf("export again: %d %s", code, errs)
			}
			if got, want := withoutTime(t, []byte(again)), withoutTime(t, data); got != want {
				t.Errorf("export → import → export differs:\n%s\nwant\n%s", got, want)
			}
			code, out, errs := hearth(t, "explain", "--config", newCfg, "--client", "192.168.1.30", "www.bet365.com")
			if code != 0 || !strings.Contains(out, "profile:  emma") || !strings.Contains(out, "action:   block") {
				t.Errorf("explain on the new install: %d\n%s%s", code, out, errs)
			}
		})
	}
}
