package app

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
	"github.com/hearth-dns/hearth/internal/testutil/pgtest"
)

// pgStoreConfig returns the store section for an empty schema of the
// throwaway cluster scripts/postgres starts; the schema is dropped when
// the test ends. Without the cluster the test skips, and fails in CI.
func pgStoreConfig(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("store: {driver: postgres, dsn: %q}\n", pgtest.DSN(t))
}

// TestPostgresStoreServesPolicy runs Hearth on the PostgreSQL store: a
// parent's changes through the API take effect in DNS, and a node started
// afterwards with an empty data directory (no snapshot, no SQLite file)
// serves them from the database.
func TestPostgresStoreServesPolicy(t *testing.T) {
	store := pgStoreConfig(t)
	zone := dnstest.Zone(t, policyRecords...)
	e := startHTTP(t, apiConfig(t)+store, zone)
	c := newAPIClient(t, e)
	const tablet = "127.0.0.4"

	var prof struct{ ID string }
	if code := c.do("POST", "/api/v1/profiles", map[string]any{"name": "Emma", "preset": "kid", "block": []string{"gambling"}}, &prof); code != 201 {
		t.Fatalf("create profile: %d", code)
	}
	if code := c.do("POST", "/api/v1/devices", map[string]any{"name": "Emma's tablet", "profile": prof.ID, "ips": []string{tablet}}, nil); code != 201 {
		t.Fatalf("create device: %d", code)
	}
	// The address check asks the store's identifier index
	// (store.DeviceIdentifiers), not a read of every device.
	if code := c.do("POST", "/api/v1/devices", map[string]any{"name": "Other tablet", "ips": []string{tablet}}, nil); code != 409 {
		t.Errorf("a second device with the tablet's address: %d, want 409", code)
	}
	if addr, text := ask(t, e, tablet, "bet365.com"); addr != "0.0.0.0" || !strings.Contains(text, "profile=emma") {
		t.Fatalf("after the API write: %q %q, want emma's gambling block", addr, text)
	}
	var st Status
	if code := getJSON(t, e, "GET", "/api/v1/status", &st); code != 200 || !st.StoreOK || st.Degraded || st.PolicyFrom != "store" {
		t.Errorf("status %d %+v, want the store in use", code, st)
	}
	if err := e.app.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	other := startHTTP(t, apiConfig(t)+store, zone) // a new data_dir
	if addr, text := ask(t, other, tablet, "bet365.com"); addr != "0.0.0.0" || !strings.Contains(text, "profile=emma") {
		t.Errorf("a node started later: %q %q, want emma's gambling block from the database", addr, text)
	}
	if code := getJSON(t, other, "GET", "/api/v1/status", &st); code != 200 || !st.StoreOK || st.PolicyFrom != "store" {
		t.Errorf("status of the node started later %d %+v", code, st)
	}
	// `hearth explain` reads the PostgreSQL store too (it has no file to
	// look for): the device added through the API is known by its name.
	ex, err := Explain(other.app.cfg, ExplainQuery{Device: "Emma's tablet", At: other.clock.Now(), Name: "bet365.com", Type: dns.TypeA}, nil)
	if err != nil {
		t.Fatalf("explain with the PostgreSQL store: %v", err)
	}
	if ex.Action != "block" || ex.Profile != "emma" {
		t.Errorf("explain: action %q profile %q, want the block of profile emma", ex.Action, ex.Profile)
	}
}

// TestPostgresStoreUnreachable: a database that cannot be reached keeps
// nothing from answering DNS; the status says the store is missing, and
// no message shows the DSN's password.
func TestPostgresStoreUnreachable(t *testing.T) {
	// Nothing listens on port 1.
	const dsn = "postgres://hearth:hunter2secret@127.0.0.1:1/hearth?connect_timeout=5"
	e := startHTTP(t, apiConfig(t)+fmt.Sprintf("store: {driver: postgres, dsn: %q}\n", dsn), dnstest.Zone(t, policyRecords...))
	if addr, text := ask(t, e, "127.0.0.4", "www.example.org"); addr != "192.0.2.54" {
		t.Fatalf("DNS without the database: %q %q", addr, text)
	}
	var st Status
	if code := getJSON(t, e, "GET", "/api/v1/status", &st); code != 200 || st.StoreOK || !st.Degraded || len(st.Problems) == 0 {
		t.Errorf("status %d %+v, want the store reported missing", code, st)
	}
	if strings.Contains(fmt.Sprint(st.Problems), "hunter2secret") {
		t.Errorf("the status shows the password: %v", st.Problems)
	}
}
