package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hearth-dns/hearth/internal/auth"
	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// raw sends body as is with the client's session (and CSRF token unless
// noCSRF) or, when token is set, as that bearer token alone; it returns
// the status, the answer and its headers.
func (c *apiClient) raw(method, path string, body []byte, token string, noCSRF bool) (int, []byte, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := c.http
	switch {
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
		client = &http.Client{Timeout: c.http.Timeout}
	case !noCSRF:
		req.Header.Set(auth.CSRFHeader, c.csrf)
	}
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data, resp.Header
}

// TestExportImportOverHTTP moves a family to a fresh install through the
// API (what the UI's Backup buttons do): the export downloads as an
// attachment without secrets, and once the import is answered, the next
// DNS answer for Emma's tablet follows her profile. Everything that must
// not import is refused with a clear error and changes nothing: no
// credentials, a read-only token, a session without its CSRF token, a
// document from a newer Hearth, a bad item, an oversized body, and a
// second import without replace.
func TestExportImportOverHTTP(t *testing.T) {
	ctx := context.Background()
	const tablet = "127.0.0.4"
	old := startHTTP(t, apiConfig(t), dnstest.Zone(t, policyRecords...))
	oc := newAPIClient(t, old)
	if code := oc.do("PUT", "/api/v1/settings", map[string]string{"time_zone": "Europe/Paris"}, nil); code != 200 {
		t.Fatalf("settings: %d", code)
	}
	if code := oc.do("POST", "/api/v1/profiles", map[string]any{"name": "Emma", "preset": "kid", "block": []string{"gambling"}}, nil); code != 201 {
		t.Fatalf("profile: %d", code)
	}
	if code := oc.do("POST", "/api/v1/devices", map[string]any{"name": "Emma's tablet", "profile": "emma", "ips": []string{tablet}}, nil); code != 201 {
		t.Fatalf("device: %d", code)
	}
	code, export, h := oc.raw("GET", "/api/v1/export", nil, "", false)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Disposition"), `attachment; filename="hearth-export-`) {
		t.Fatalf("export: %d %v\n%s", code, h, export)
	}
	for _, secret := range []string{"argon2", "csrf", oc.csrf} {
		if bytes.Contains(export, []byte(secret)) {
			t.Errorf("export holds %q", secret)
		}
	}

	e := startHTTP(t, apiConfig(t), dnstest.Zone(t, policyRecords...))
	c := newAPIClient(t, e)
	if addr, _ := ask(t, e, tablet, "bet365.com"); addr != "192.0.2.50" {
		t.Fatalf("before the import: bet365.com answered %q, want the real address", addr)
	}
	readTok, _, err := e.app.auth.CreateToken(ctx, "admin", "reader", auth.TokenOptions{Scope: store.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	future := bytes.Replace(export, []byte(`"version": 1`), []byte(`"version": 2`), 1)
	badIP := bytes.Replace(export, []byte(`"`+tablet+`"`), []byte(`"127.0.0.400"`), 1)
	huge := append(bytes.TrimSuffix(bytes.TrimSpace(export), []byte("}")), []byte(`, "x": "`+strings.Repeat("a", 1<<20)+`"}`)...)
	refused := []struct {
		name, method, path string
		body               []byte
		token              string
		noCSRF             bool
		want               int
		wantIn             string
	}{
		{"read token exports", "GET", "/api/v1/export", nil, readTok, false, 403, "admin"},
		{"read token imports", "POST", "/api/v1/import", export, readTok, false, 403, "read"},
		{"no CSRF token", "POST", "/api/v1/import", export, "", true, 403, "csrf"},
		{"future version", "POST", "/api/v1/import", future, "", false, 400, "version 2: made by a newer Hearth"},
		{"bad item", "POST", "/api/v1/import", badIP, "", false, 400, `devices[0] \"emmas-tablet\": ips[0]:`},
		{"not an export", "POST", "/api/v1/import", []byte(`{"households": []}`), "", false, 400, "not a Hearth export"},
		{"too large", "POST", "/api/v1/import", huge, "", false, 413, "larger than 1048576 bytes, the server's limit: raise limits.http_max_body_bytes"},
		{"bad replace", "POST", "/api/v1/import?replace=yes", export, "", false, 400, "replace"},
	}
	for _, tc := range refused {
		code, body, _ := c.raw(tc.method, tc.path, tc.body, tc.token, tc.noCSRF)
		if code != tc.want || !strings.Contains(string(body), tc.wantIn) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, code, body, tc.want, tc.wantIn)
		}
	}
	// No credentials at all.
	resp, err := http.Post(c.base+"/api/v1/import", "application/json", bytes.NewReader(export))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("import without credentials: %d, want 401", resp.StatusCode)
	}
	if addr, _ := ask(t, e, tablet, "bet365.com"); addr != "192.0.2.50" {
		t.Fatalf("after refused imports: bet365.com answered %q, want the real address (nothing imported)", addr)
	}

	var res struct{ Households, Profiles, Devices int }
	code, body, _ := c.raw("POST", "/api/v1/import", export, "", false)
	if code != 200 || json.Unmarshal(body, &res) != nil || res.Profiles != 1 || res.Devices != 1 {
		t.Fatalf("import: %d %s", code, body)
	}
	// The answer came once the policy had it: the next query follows it.
	addr, text := ask(t, e, tablet, "bet365.com")
	if addr != "0.0.0.0" || !strings.Contains(text, "profile=emma") {
		t.Errorf("after the import: %q %q, want a block for emma", addr, text)
	}
	if code, body, _ := c.raw("POST", "/api/v1/import", export, "", false); code != 409 || !strings.Contains(string(body), "not empty") {
		t.Errorf("second import: %d %s, want 409", code, body)
	}
	if code, body, _ := c.raw("POST", "/api/v1/import?replace=true", export, "", false); code != 200 || !strings.Contains(string(body), `"replaced":true`) {
		t.Errorf("import with replace: %d %s", code, body)
	}
	_, again, _ := c.raw("GET", "/api/v1/export", nil, "", false)
	if withoutExported(t, again) != withoutExported(t, export) {
		t.Errorf("export → import → export differs:\n%s\nwant\n%s", again, export)
	}
}

// withoutExported drops an export's time.
func withoutExported(t *testing.T, b []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	delete(m, "exported")
	out, _ := json.Marshal(m)
	return string(out)
}
