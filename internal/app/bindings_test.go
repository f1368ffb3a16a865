package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// bindingsConfig is apiConfig with a trusted forwarder (127.0.0.9), whose
// CPE id option and client subnet Hearth believes.
func bindingsConfig(t testing.TB) string {
	return apiConfig(t) + "access: {trusted_forwarders: [\"127.0.0.9\"]}\n"
}

// askWith is ask with EDNS options in the query.
func askWith(t testing.TB, e *env, from, name string, opts ...dns.EDNS0) string {
	t.Helper()
	q := query(name, dns.TypeA)
	q.SetEdns0(1232, false)
	q.IsEdns0().Option = append(q.IsEdns0().Option, opts...)
	r, _, err := clientFrom(from).Exchange(q, e.udp)
	if err != nil {
		t.Fatalf("query %s from %s: %v", name, from, err)
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String()
		}
	}
	return ""
}

func cpeOpt(id string) dns.EDNS0 { return &dns.EDNS0_LOCAL{Code: 65074, Data: []byte(id)} }

func ecsOpt(ip string) dns.EDNS0 {
	return &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 32, Address: net.ParseIP(ip).To4()}
}

// importNDJSON posts body to the bindings import as the client's session.
func (c *apiClient) importNDJSON(body io.Reader, contentType string) (int, importResult) {
	c.t.Helper()
	req, err := http.NewRequest("POST", c.base+"/api/v1/bindings:import", body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("import: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var res importResult
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		if err := json.Unmarshal(data, &res); err != nil {
			c.t.Fatalf("import: %d %s: %v", resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode, res
}

type importResult struct {
	Lines, Changed, Unchanged, Bad int
	Errors                         []struct {
		Line  int
		Error string
	}
	Error string
}

// TestBindingsChangeDNSAnswers: an operator binds a subscriber's address,
// CPE id and client id to a household through the API, and the next DNS
// answer from that subscriber follows the household's default profile;
// unbinding undoes it, and bad input changes nothing.
func TestBindingsChangeDNSAnswers(t *testing.T) {
	e := startHTTP(t, bindingsConfig(t), dnstest.Zone(t, policyRecords...))
	c := newAPIClient(t, e)
	const subscriber = "127.0.0.5"
	if code := c.do("POST", "/api/v1/households", map[string]string{"id": "smiths", "name": "The Smiths", "default_profile": "kid"}, nil); code != 201 {
		t.Fatalf("create household: %d", code)
	}
	if addr, _ := ask(t, e, subscriber, "bet365.com"); addr != "192.0.2.50" {
		t.Fatalf("before binding: bet365.com answered %q, want the real address", addr)
	}

	var b struct{ Kind, Key, Household, Origin string }
	if code := c.do("PUT", "/api/v1/bindings/ipv4/"+subscriber, map[string]string{"household": "smiths"}, &b); code != 200 {
		t.Fatalf("bind: %d", code)
	}
	if b.Household != "smiths" || b.Origin != "api" || b.Key != subscriber {
		t.Errorf("binding %+v, want %s bound to smiths by the API", b, subscriber)
	}
	addr, text := ask(t, e, subscriber, "bet365.com")
	if addr != "0.0.0.0" || !strings.Contains(text, "profile=kid") {
		t.Fatalf("bound: bet365.com answered %q %q, want the kid profile's block", addr, text)
	}
	if addr, _ := ask(t, e, "127.0.0.6", "bet365.com"); addr != "192.0.2.50" {
		t.Errorf("a neighbour address is not bound: answered %q", addr)
	}

	// A trusted forwarder's CPE id and host subnet bind too.
	if addr := askWith(t, e, "127.0.0.9", "bet365.com", cpeOpt("CPE-77")); addr != "192.0.2.50" {
		t.Fatalf("unbound CPE id: answered %q", addr)
	}
	if code := c.do("PUT", "/api/v1/bindings/cpe/CPE-77", map[string]string{"household": "smiths"}, nil); code != 200 {
		t.Fatalf("bind CPE: %d", code)
	}
	if addr := askWith(t, e, "127.0.0.9", "bet365.com", cpeOpt("cpe-77")); addr != "0.0.0.0" {
		t.Errorf("bound CPE id: answered %q, want blocked", addr)
	}
	if addr := askWith(t, e, "127.0.0.9", "bet365.com", ecsOpt(subscriber)); addr != "0.0.0.0" {
		t.Errorf("bound address in a forwarder's client subnet: answered %q, want blocked", addr)
	}
	if addr := askWith(t, e, "127.0.0.8", "bet365.com", cpeOpt("cpe-77")); addr != "192.0.2.50" {
		t.Errorf("CPE id from an untrusted source: answered %q, want it ignored", addr)
	}

	var list struct{ Bindings []struct{ Kind, Key string } }
	if code := c.do("GET", "/api/v1/bindings?household=smiths", nil, &list); code != 200 || len(list.Bindings) != 2 {
		t.Errorf("list: %d %+v, want the CPE and the address", code, list)
	}

	// Bad input: 400 and nothing changes.
	var errResp struct{ Error string }
	for _, tc := range []struct {
		method, path string
		body         any
		want         int
		wantIn       string
	}{
		{"PUT", "/api/v1/bindings/ipv6/2001:db8::/32", map[string]string{"household": "smiths"}, 400, "/48 to /64"},
		{"PUT", "/api/v1/bindings/ipv4/::1", map[string]string{"household": "smiths"}, 400, "not an IPv4"},
		{"PUT", "/api/v1/bindings/mac/aa:bb:cc:dd:ee:ff", map[string]string{"household": "smiths"}, 400, "kind"},
		{"PUT", "/api/v1/bindings/ipv4/127.0.0.6", map[string]string{"household": "nobody"}, 400, "nobody"},
		{"PUT", "/api/v1/bindings/ipv4/127.0.0.6", map[string]any{"household": "smiths", "extra": 1}, 400, "extra"},
		{"GET", "/api/v1/bindings", nil, 400, "household"},
		{"GET", "/api/v1/bindings/ipv4/127.0.0.6", nil, 404, "not found"},
		{"DELETE", "/api/v1/bindings/ipv4/127.0.0.6", nil, 404, "not found"},
	} {
		errResp.Error = ""
		if code := c.do(tc.method, tc.path, tc.body, &errResp); code != tc.want || !strings.Contains(errResp.Error, tc.wantIn) {
			t.Errorf("%s %s: %d %q, want %d naming %q", tc.method, tc.path, code, errResp.Error, tc.want, tc.wantIn)
		}
	}
	if addr, _ := ask(t, e, "127.0.0.6", "bet365.com"); addr != "192.0.2.50" {
		t.Errorf("a refused binding took effect: answered %q", addr)
	}

	// Bindings are the operator's: a read token reads them, changes none.
	// (Household-scoped logins come with the roles work of #13; until
	// then only administrators exist.)
	for _, tc := range []struct {
		scope, method string
		want          int
	}{
		{"read", "GET", 200}, {"read", "PUT", 403}, {"read", "DELETE", 403}, {"metrics", "GET", 403},
	} {
		var tok struct{ Token string }
		if code := c.do("POST", "/api/v1/tokens", map[string]string{"name": tc.scope + "-" + tc.method, "scope": tc.scope}, &tok); code != 201 {
			t.Fatalf("token: %d", code)
		}
		req, _ := http.NewRequest(tc.method, c.base+"/api/v1/bindings/ipv4/"+subscriber, strings.NewReader(`{"household":"smiths"}`))
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s token, %s: %d, want %d", tc.scope, tc.method, resp.StatusCode, tc.want)
		}
	}

	if code := c.do("DELETE", "/api/v1/bindings/ipv4/"+subscriber, nil, nil); code != 204 {
		t.Fatalf("unbind: %d", code)
	}
	if addr, _ := ask(t, e, subscriber, "bet365.com"); addr != "192.0.2.50" {
		t.Errorf("unbound: answered %q, want the real address", addr)
	}

	// Deleting the household takes its bindings with it.
	if code := c.do("DELETE", "/api/v1/households/smiths", nil, nil); code != 204 {
		t.Fatalf("delete household: %d", code)
	}
	if addr := askWith(t, e, "127.0.0.9", "bet365.com", cpeOpt("cpe-77")); addr != "192.0.2.50" {
		t.Errorf("after deleting the household its CPE binding still applies: %q", addr)
	}
}

// TestBindingsImport: the NDJSON import applies good lines in order and
// reports bad ones by line number, and DNS follows.
func TestBindingsImport(t *testing.T) {
	e := startHTTP(t, bindingsConfig(t), dnstest.Zone(t, policyRecords...))
	c := newAPIClient(t, e)
	for _, h := range []string{"smiths", "joneses"} {
		if code := c.do("POST", "/api/v1/households", map[string]string{"id": h, "name": h, "default_profile": "kid"}, nil); code != 201 {
			t.Fatalf("create household %s: %d", h, code)
		}
	}
	body := strings.Join([]string{
		`{"kind":"ipv4","key":"127.0.0.5","household":"smiths"}`,  // 1
		`{"kind":"ipv4","key":"127.0.0.6","household":"joneses"}`, // 2
		``, // 3: blank, skipped
		`{"kind":"ipv4","key":"127.0.0.7","household":"nobody"}`,     // 4: no such household
		`{"kind":"ipv6","key":"2001:db8::/32","household":"smiths"}`, // 5: too short
		`not json`, // 6
		`{"kind":"ipv4","key":"127.0.0.8","household":"smiths","x":1}`,                  // 7: unknown field
		`{"kind":"cpe","key":"` + strings.Repeat("a", 5000) + `","household":"smiths"}`, // 8: too long
		`{"kind":"ipv4","key":"127.0.0.6","delete":true}`,                               // 9: unbinds line 2
		`{"kind":"ipv4","key":"127.0.0.5","household":"smiths"}`,                        // 10: unchanged
		`{"kind":"client_id","key":"Smith-Home","household":"smiths"}`,                  // 11, no newline at the end
	}, "\n")
	code, res := c.importNDJSON(strings.NewReader(body), "application/x-ndjson")
	if code != 200 {
		t.Fatalf("import: %d %+v", code, res)
	}
	if res.Lines != 10 || res.Changed != 4 || res.Unchanged != 1 || res.Bad != 5 {
		t.Errorf("import %+v: want 10 lines, 4 changed, 1 unchanged, 5 bad", res)
	}
	var lines []int
	for _, le := range res.Errors {
		lines = append(lines, le.Line)
	}
	if fmt.Sprint(lines) != "[4 5 6 7 8]" {
		t.Errorf("bad lines %v (%+v), want [4 5 6 7 8]", lines, res.Errors)
	}
	if len(res.Errors) > 0 && !strings.Contains(res.Errors[0].Error, `"nobody"`) {
		t.Errorf("line 4's error %q does not name the household", res.Errors[0].Error)
	}
	for _, tc := range []struct{ from, want string }{
		{"127.0.0.5", "0.0.0.0"},    // bound by line 1
		{"127.0.0.6", "192.0.2.50"}, // bound by line 2, unbound by line 9
		{"127.0.0.7", "192.0.2.50"}, // refused
	} {
		if addr, _ := ask(t, e, tc.from, "bet365.com"); addr != tc.want {
			t.Errorf("after the import, %s: answered %q, want %q", tc.from, addr, tc.want)
		}
	}
	var b struct{ Origin string }
	if code := c.do("GET", "/api/v1/bindings/client_id/smith-home", nil, &b); code != 200 || b.Origin != "import" {
		t.Errorf("imported client id: %d %+v", code, b)
	}

	if code, _ := c.importNDJSON(strings.NewReader(`{"kind":"ipv4","key":"127.0.0.7","household":"smiths"}`), "application/json"); code != http.StatusUnsupportedMediaType {
		t.Errorf("import as application/json: %d, want 415", code)
	}
	// A body over the admin server's ordinary cap (1 MiB) is read whole.
	// Its lines are padded (blanks are allowed around the JSON) to stay
	// few: the cap is on bytes.
	var big bytes.Buffer
	pad := strings.Repeat(" ", 4000)
	for i := 0; big.Len() <= 2<<20; i++ {
		fmt.Fprintf(&big, "{\"kind\":\"cpe\",\"key\":\"cpe-%d\",\"household\":\"joneses\"}%s\n", i, pad)
	}
	n := bytes.Count(big.Bytes(), []byte("\n"))
	code, res = c.importNDJSON(&big, "application/x-ndjson")
	if code != 200 || res.Changed != n || res.Bad != 0 {
		t.Errorf("import of %d lines (2 MiB): %d %+v", n, code, res)
	}
	if addr := askWith(t, e, "127.0.0.9", "bet365.com", cpeOpt(fmt.Sprintf("cpe-%d", n-1))); addr != "0.0.0.0" {
		t.Errorf("the last imported CPE id: answered %q, want blocked", addr)
	}
}
