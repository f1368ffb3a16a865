package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-dns/hearth/internal/app"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/store"
)

// TestAdminAddUser: `hearth admin add-user --household` makes a user who
// manages only that household; the household must exist, the name must
// be new, and a token made for it with `hearth admin token` is bound to
// it.
func TestAdminAddUser(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hearth.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("data_dir: %q\n", filepath.Join(dir, "data"))), 0o644)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := app.OpenStore(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutHousehold(ctx, store.Household{ID: "smith", Name: "Smith"}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		want     string
	}{
		{"household user", []string{"add-user", "--config", cfgPath, "--user", "anna", "--household", "smith"}, "correct horse battery\n", 0, "anna added to"},
		{"operator", []string{"add-user", "--config", cfgPath, "--user", "ops"}, "correct horse battery\n", 0, "as operator"},
		{"taken name", []string{"add-user", "--config", cfgPath, "--user", "anna"}, "correct horse battery\n", 1, "user exists"},
		{"missing household", []string{"add-user", "--config", cfgPath, "--user", "eve", "--household", "jones"}, "correct horse battery\n", 1, `household "jones": no such household`},
		{"bad household id", []string{"add-user", "--config", cfgPath, "--user", "eve", "--household", "Jones!"}, "correct horse battery\n", 1, "household"},
		{"weak password", []string{"add-user", "--config", cfgPath, "--user", "eve"}, "short\n", 1, "at least 10"},
		{"token of the household user", []string{"token", "--config", cfgPath, "--user", "anna", "--name", "phone", "--scope", "admin"}, "", 0, "hth_"},
		{"metrics token of a household", []string{"token", "--config", cfgPath, "--user", "anna", "--name", "scrape", "--scope", "metrics"}, "", 1, "household token cannot read /metrics"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := admin(tc.args, strings.NewReader(tc.stdin), &out, &errb)
		if code != tc.wantCode || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("%s: admin %v: code %d, output %q%q; want %d with %q", tc.name, tc.args, code, out.String(), errb.String(), tc.wantCode, tc.want)
		}
	}

	st, err = app.OpenStore(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.User(ctx, "anna")
	if err != nil || u.Household != "smith" {
		t.Errorf("anna = %+v, %v; want a user of household smith", u, err)
	}
	toks, err := st.Tokens(ctx)
	if err != nil || len(toks) != 1 || toks[0].Household != "smith" {
		t.Errorf("tokens = %+v, %v; want anna's one token, bound to smith", toks, err)
	}
	if _, err := st.User(ctx, "eve"); err == nil {
		t.Error("a refused add-user stored eve")
	}
}
