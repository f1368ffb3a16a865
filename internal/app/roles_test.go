package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// roleClient is an API client with a session (login) or a bearer token.
type roleClient struct {
	t      testing.TB
	base   string
	http   *http.Client
	csrf   string
	bearer string
}

// send makes one request; body nil sends none. It returns the status and
// the raw answer.
func (c *roleClient) send(method, path string, body any) (int, string) {
	c.t.Helper()
	req := jsonRequest(c.t, method, c.base+path, body, c.csrf)
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// must sends a request that has to answer want, and decodes the answer
// into out when not nil.
func (c *roleClient) must(method, path string, body any, want int, out any) {
	c.t.Helper()
	code, data := c.send(method, path, body)
	if code != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, code, data, want)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(data), out); err != nil {
			c.t.Fatalf("%s %s: %s: %v", method, path, data, err)
		}
	}
}

// loginAs logs user in with a new cookie jar.
func loginAs(t testing.TB, e *env, user, pw string) *roleClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &roleClient{t: t, base: "http://" + e.app.HTTPAddr(), http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	var s struct{ CSRF, Household, Role string }
	c.must("POST", "/api/v1/login", map[string]string{"user": user, "password": pw}, 200, &s)
	c.csrf = s.CSRF
	return c
}

// withToken returns a client that makes a token of scope through c and
// uses it alone.
func (c *roleClient) withToken(scope string) *roleClient {
	c.t.Helper()
	var tok struct{ Token, ID, Household string }
	c.must("POST", "/api/v1/tokens", map[string]string{"name": "test " + scope, "scope": scope}, 201, &tok)
	return &roleClient{t: c.t, base: c.base, http: &http.Client{Timeout: 10 * time.Second}, bearer: tok.Token}
}

// tenant is what one household holds in the isolation tests.
type tenant struct {
	household string
	user      *roleClient
	device    string // a device id
	deviceIP  string
	profile   string // a profile id
	grant     string // a grant id
	token     string // a token id of the household's user
	// secrets are strings only this household's data holds: its device
	// and profile names, the name its device queried, its grant target.
	secrets []string
}

const rolesPassword = "correct horse battery"

// setUpTenants starts a server with two households, alpha and bravo, each
// with a user who made a profile, a device, a grant and a token through
// the API, and whose device queried a name of its own. It returns the
// operator's client too.
func setUpTenants(t *testing.T) (*env, *roleClient, *tenant, *tenant) {
	t.Helper()
	e := startHTTP(t, apiConfig(t), dnstest.Zone(t, policyRecords...))
	setup := newAPIClient(t, e)
	op := &roleClient{t: t, base: setup.base, http: setup.http, csrf: setup.csrf}
	mk := func(household, ip string) *tenant {
		op.must("POST", "/api/v1/households", map[string]string{"id": household, "name": household + " secret home"}, 201, nil)
		op.must("POST", "/api/v1/users", map[string]string{"name": household + "-parent", "password": rolesPassword, "household": household}, 201, nil)
		c := loginAs(t, e, household+"-parent", rolesPassword)
		tn := &tenant{household: household, user: c, deviceIP: ip}
		var p struct{ ID, Household string }
		c.must("POST", "/api/v1/profiles", map[string]any{"name": household + " secret profile", "preset": "kid"}, 201, &p)
		if p.Household != household {
			t.Fatalf("%s's profile went to household %q", household, p.Household)
		}
		var d struct{ ID, Household string }
		c.must("POST", "/api/v1/devices", map[string]any{"name": household + " secret tablet", "profile": p.ID, "ips": []string{ip}}, 201, &d)
		if d.Household != household {
			t.Fatalf("%s's device went to household %q", household, d.Household)
		}
		var g struct{ ID string }
		c.must("POST", "/api/v1/grants", map[string]any{"device": d.ID, "kind": "allow", "target": household + "-secret-grant.example", "minutes": 60}, 201, &g)
		var tok struct{ ID string }
		c.must("POST", "/api/v1/tokens", map[string]string{"name": household + " token", "scope": "read"}, 201, &tok)
		tn.device, tn.profile, tn.grant, tn.token = d.ID, p.ID, g.ID, tok.ID
		ask(t, e, ip, household+"-secret-query.example")
		tn.secrets = []string{household + " secret", household + "-secret", ip}
		return tn
	}
	a, b := mk("alpha", "127.0.0.11"), mk("bravo", "127.0.0.12")
	if err := e.app.qlog.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The operator sees both households' activity: the rows are there.
	for _, tn := range []*tenant{a, b} {
		var log struct{ Rows []struct{ Name string } }
		op.must("GET", "/api/v1/querylog?device="+tn.device, nil, 200, &log)
		if len(log.Rows) == 0 || log.Rows[0].Name != tn.household+"-secret-query.example" {
			t.Fatalf("operator's query log of %s: %+v, want its query", tn.device, log.Rows)
		}
	}
	return e, op, a, b
}

// leaks returns the secrets of b that body holds, leaving out what the
// request itself said.
func leaks(b *tenant, request, body string) []string {
	var out []string
	for _, s := range append([]string{b.device, b.profile, b.grant, b.token, "bravo-parent"}, b.secrets...) {
		if !strings.Contains(request, s) && strings.Contains(body, s) {
			out = append(out, s)
		}
	}
	return out
}

// snapshot is what the operator reads of household b, to check that
// nothing a household did changed it.
func snapshot(op *roleClient, b *tenant) string {
	var parts []string
	for _, p := range []string{
		"/api/v1/households/" + b.household, "/api/v1/devices/" + b.device, "/api/v1/profiles/" + b.profile,
		"/api/v1/grants?device=" + b.device, "/api/v1/users",
	} {
		_, body := op.send("GET", p, nil)
		parts = append(parts, body)
	}
	var toks struct {
		Tokens []struct{ ID, User string }
	}
	op.must("GET", "/api/v1/tokens", nil, 200, &toks)
	for _, t := range toks.Tokens {
		if t.User == "bravo-parent" {
			parts = append(parts, t.ID)
		}
	}
	return strings.Join(parts, "\n")
}

// TestHouseholdIsolation runs the isolation checks on one server with two
// households (the setup hashes passwords: once is enough).
func TestHouseholdIsolation(t *testing.T) {
	_, op, a, b := setUpTenants(t)
	t.Run("ByName", func(t *testing.T) { isolationByName(t, op, a, b) })
	t.Run("EveryRoute", func(t *testing.T) { everyRouteIsScoped(t, op, a, b) })
	// The operator reads and changes either household.
	for _, tn := range []*tenant{a, b} {
		op.must("GET", "/api/v1/devices/"+tn.device, nil, 200, nil)
		op.must("GET", "/api/v1/profiles/"+tn.profile, nil, 200, nil)
		op.must("GET", "/api/v1/grants?device="+tn.device, nil, 200, nil)
		op.must("DELETE", "/api/v1/grants/"+tn.grant, nil, 204, nil)
	}
	var households struct{ Households []struct{ ID string } }
	op.must("GET", "/api/v1/households", nil, 200, &households)
	if len(households.Households) < 2 {
		t.Errorf("operator's household list %+v, want alpha and bravo", households)
	}
}

// isolationByName: household alpha's login and token cannot read, list,
// change or delete bravo's devices, profiles, grants or activity, by
// listing or by guessing ids; the answers are 404 (or 403 for what only
// operators do) and never name bravo's data.
func isolationByName(t *testing.T, op *roleClient, a, b *tenant) {
	before := snapshot(op, b)
	dev := map[string]any{"id": b.device, "name": "x", "profile": b.profile, "version": 1}
	prof := map[string]any{"id": b.profile, "name": "x", "version": 1}

	cases := []struct {
		name       string
		method     string
		path       string
		body       any
		wantStatus int
	}{
		{"read device", "GET", "/api/v1/devices/" + b.device, nil, 404},
		{"change device", "PUT", "/api/v1/devices/" + b.device, dev, 404},
		{"delete device", "DELETE", "/api/v1/devices/" + b.device, nil, 404},
		{"make device dns id", "POST", "/api/v1/devices/" + b.device + "/dns-id", nil, 404},
		{"list devices of bravo", "GET", "/api/v1/devices?household=bravo", nil, 404},
		{"read profile", "GET", "/api/v1/profiles/" + b.profile, nil, 404},
		{"change profile", "PUT", "/api/v1/profiles/" + b.profile, prof, 404},
		{"delete profile", "DELETE", "/api/v1/profiles/" + b.profile, nil, 404},
		{"list profiles of bravo", "GET", "/api/v1/profiles?household=bravo", nil, 404},
		{"read household", "GET", "/api/v1/households/bravo", nil, 404},
		{"change household", "PUT", "/api/v1/households/bravo", map[string]any{"id": "bravo", "name": "x", "version": 1}, 404},
		{"list grants of device", "GET", "/api/v1/grants?device=" + b.device, nil, 404},
		{"delete grant", "DELETE", "/api/v1/grants/" + b.grant, nil, 404},
		{"grant to device", "POST", "/api/v1/grants", map[string]any{"device": b.device, "kind": "pause", "minutes": 30}, 400},
		{"query log of device", "GET", "/api/v1/querylog?device=" + b.device, nil, 404},
		{"stats of device", "GET", "/api/v1/stats?device=" + b.device, nil, 404},
		{"explain device", "GET", "/api/v1/explain?name=example.com&device=" + b.device, nil, 404},
		{"explain address", "GET", "/api/v1/explain?name=example.com&client=" + b.deviceIP, nil, 403},
		{"profile into bravo", "POST", "/api/v1/profiles", map[string]any{"name": "x", "household": "bravo"}, 403},
		{"device into bravo", "POST", "/api/v1/devices", map[string]any{"name": "x", "household": "bravo"}, 403},
		{"own device given bravo's profile", "PUT", "/api/v1/devices/" + a.device, nil, 400},
		{"own device moved to bravo", "PUT", "/api/v1/devices/" + a.device, nil, 403},
		{"delete bravo", "DELETE", "/api/v1/households/bravo", nil, 403},
		{"list households", "GET", "/api/v1/households", nil, 403},
		{"list users", "GET", "/api/v1/users", nil, 403},
		{"delete bravo's user", "DELETE", "/api/v1/users/bravo-parent", nil, 403},
		{"revoke bravo's token", "DELETE", "/api/v1/tokens/" + b.token, nil, 404},
		{"settings are alpha's", "GET", "/api/v1/settings", nil, 200},
		{"sources", "GET", "/api/v1/sources", nil, 403},
		{"set aside", "GET", "/api/v1/set-aside", nil, 403},
		{"unknown client ids", "GET", "/api/v1/unknown-client-ids", nil, 403},
		{"metrics", "GET", "/metrics", nil, 403},
		// Subscriber bindings, backup and the parents' channels and
		// digest are the operator's.
		{"list bindings", "GET", "/api/v1/bindings", nil, 403},
		{"list bravo's bindings", "GET", "/api/v1/bindings?household=bravo", nil, 403},
		{"read binding", "GET", "/api/v1/bindings/ipv4/" + b.deviceIP, nil, 403},
		{"bind address to alpha", "PUT", "/api/v1/bindings/ipv4/" + b.deviceIP, map[string]string{"household": "alpha"}, 403},
		{"unbind address", "DELETE", "/api/v1/bindings/ipv4/" + b.deviceIP, nil, 403},
		{"import bindings", "POST", "/api/v1/bindings:import", map[string]string{"kind": "ipv4", "key": b.deviceIP, "household": "alpha"}, 403},
		{"export", "GET", "/api/v1/export", nil, 403},
		{"import", "POST", "/api/v1/import", map[string]any{}, 403},
		{"notifications", "GET", "/api/v1/notifications", nil, 403},
		{"digest", "GET", "/api/v1/digest", nil, 403},
		{"send digest", "POST", "/api/v1/digest", nil, 403},
		// Lists answer, with alpha's things only.
		{"list devices", "GET", "/api/v1/devices", nil, 200},
		{"list profiles", "GET", "/api/v1/profiles", nil, 200},
		{"list grants", "GET", "/api/v1/grants", nil, 200},
		{"query log", "GET", "/api/v1/querylog", nil, 200},
		{"stats", "GET", "/api/v1/stats", nil, 200},
		{"tokens", "GET", "/api/v1/tokens", nil, 200},
	}
	// The two PUTs of alpha's own device carry bodies made from its
	// current version.
	var own map[string]any
	a.user.must("GET", "/api/v1/devices/"+a.device, nil, 200, &own)
	withProfile, moved := map[string]any{}, map[string]any{}
	for k, v := range own {
		if k == "id" || k == "name" || k == "profile" || k == "version" || k == "household" || k == "ips" {
			withProfile[k], moved[k] = v, v
		}
	}
	withProfile["profile"], moved["household"] = b.profile, "bravo"

	for _, cl := range []struct {
		name string
		c    *roleClient
	}{{"session", a.user}, {"token", a.user.withToken("admin")}} {
		for _, tc := range cases {
			t.Run(cl.name+"/"+tc.name, func(t *testing.T) {
				body := tc.body
				switch tc.name {
				case "own device given bravo's profile":
					body = withProfile
				case "own device moved to bravo":
					body = moved
				}
				reqText, _ := json.Marshal(body)
				code, got := cl.c.send(tc.method, tc.path, body)
				if code != tc.wantStatus {
					t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, code, got, tc.wantStatus)
				}
				if l := leaks(b, tc.path+string(reqText), got); len(l) > 0 {
					t.Errorf("%s %s: answer %s names bravo's %q", tc.method, tc.path, got, l)
				}
				if tc.wantStatus == 200 && tc.path != "/api/v1/tokens" && tc.path != "/api/v1/settings" && !strings.Contains(got, a.device) && !strings.Contains(got, a.profile) &&
					!strings.Contains(got, "alpha-secret") && !strings.Contains(got, `"queries"`) {
					t.Errorf("%s %s: %s holds none of alpha's own things", tc.method, tc.path, got)
				}
			})
		}
	}
	if after := snapshot(op, b); after != before {
		t.Errorf("bravo changed:\nbefore %s\nafter  %s", before, after)
	}

}

// everyRouteIsScoped walks every route of the OpenAPI document as
// household alpha's token, aimed at bravo's ids, with bodies naming
// bravo: each answer is 403 (operators only) or scoped: it never names
// bravo's data, and bravo's data is the same afterwards. A route added
// later is walked too.
func everyRouteIsScoped(t *testing.T, op *roleClient, a, b *tenant) {
	before := snapshot(op, b)
	tok := a.user.withToken("admin")

	var doc struct {
		Paths map[string]map[string]json.RawMessage
	}
	code, raw := tok.send("GET", "/api/v1/openapi.json", nil)
	if code != 200 {
		t.Fatalf("openapi.json as a household: %d", code)
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	// idFor is bravo's id for a path parameter, by the segment before it.
	idFor := map[string]string{
		"households": "bravo", "profiles": b.profile, "devices": b.device,
		"grants": b.grant, "tokens": b.token, "users": "bravo-parent",
	}
	bodyFor := func(path string) any {
		switch {
		case strings.HasPrefix(path, "/api/v1/devices"):
			return map[string]any{"id": b.device, "name": "x", "household": "bravo", "profile": b.profile, "version": 1}
		case strings.HasPrefix(path, "/api/v1/profiles"):
			return map[string]any{"id": b.profile, "name": "x", "household": "bravo", "version": 1}
		case strings.HasPrefix(path, "/api/v1/households"):
			return map[string]any{"id": "bravo", "name": "x", "version": 1}
		case strings.HasPrefix(path, "/api/v1/grants"):
			return map[string]any{"device": b.device, "kind": "pause", "minutes": 5}
		case strings.HasPrefix(path, "/api/v1/tokens"):
			return map[string]any{"name": "x", "scope": "admin", "household": "bravo"}
		case strings.HasPrefix(path, "/api/v1/users"):
			return map[string]any{"name": "mallory", "password": rolesPassword, "household": "bravo"}
		case strings.HasPrefix(path, "/api/v1/password"):
			return map[string]any{"current": "not the password", "new": rolesPassword + " 2"}
		case strings.HasPrefix(path, "/api/v1/login"):
			return map[string]any{"user": "bravo-parent", "password": "not the password"}
		}
		return map[string]any{"minutes": 5, "household": "bravo", "device": b.device}
	}
	var paths []string
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	walked := 0
	for _, p := range paths {
		segs := strings.Split(p, "/")
		for i, seg := range segs {
			if strings.HasPrefix(seg, "{") {
				id, ok := idFor[segs[i-1]]
				if !ok {
					id = b.device
				}
				segs[i] = id
			}
		}
		target := strings.Join(segs, "/")
		for method := range doc.Paths[p] {
			if method == "parameters" {
				continue
			}
			m := strings.ToUpper(method)
			var requests []string
			if m == "GET" {
				requests = []string{target, target + "?household=bravo&device=" + b.device + "&name=example.com"}
			} else {
				requests = []string{target}
			}
			for _, req := range requests {
				var body any
				if m == "POST" || m == "PUT" {
					body = bodyFor(p)
				}
				reqText, _ := json.Marshal(body)
				code, got := tok.send(m, req, body)
				walked++
				if code >= 200 && code < 300 && strings.Contains(req, "bravo") && m != "GET" {
					t.Errorf("%s %s: %d %s: a change aimed at bravo succeeded", m, req, code, got)
				}
				if l := leaks(b, req+string(reqText), got); len(l) > 0 {
					t.Errorf("%s %s: %d %s names bravo's %q", m, req, code, got, l)
				}
				if code == http.StatusInternalServerError {
					t.Errorf("%s %s: 500 %s", m, req, got)
				}
			}
		}
	}
	if walked < 40 {
		t.Errorf("walked %d requests; the document has fewer routes than expected", walked)
	}
	if after := snapshot(op, b); after != before {
		t.Errorf("bravo changed:\nbefore %s\nafter  %s", before, after)
	}
}

// TestHouseholdAskParentScoped: a household's parents see and answer the
// access requests of their own devices in the API; another household's
// request answers 404 as one that does not exist and stays pending, and
// the home's requests are the operator's.
func TestHouseholdAskParentScoped(t *testing.T) {
	p := startParents(t, "", "")
	op := &roleClient{t: t, base: p.parent.base, http: p.parent.http, csrf: p.parent.csrf}
	users, devices := map[string]*roleClient{}, map[string]string{}
	for _, h := range []struct{ id, ip, host string }{{"alpha", "127.0.0.11", "bet365.com"}, {"bravo", "127.0.0.12", "casino.example"}} {
		op.must("POST", "/api/v1/households", map[string]string{"id": h.id, "name": h.id}, 201, nil)
		op.must("POST", "/api/v1/users", map[string]string{"name": h.id + "-parent", "password": rolesPassword, "household": h.id}, 201, nil)
		c := loginAs(t, p.env, h.id+"-parent", rolesPassword)
		var prof struct{ ID string }
		c.must("POST", "/api/v1/profiles", map[string]any{"name": h.id + " kid", "preset": "kid"}, 201, &prof)
		var dev struct{ ID string }
		c.must("POST", "/api/v1/devices", map[string]any{"name": h.id + " tablet", "profile": prof.ID, "ips": []string{h.ip}}, 201, &dev)
		devices[h.id] = dev.ID
		if code, page := newChild(t, p.env, h.ip).post("/ask", url.Values{"host": {h.host}}); code != 200 {
			t.Fatalf("%s asks: %d\n%s", h.id, code, page)
		}
		users[h.id] = c
	}
	// Leo's tablet is the home's (the operator's).
	if code, page := newChild(t, p.env, "127.0.0.5").post("/ask", url.Values{"host": {"casino.example"}}); code != 200 {
		t.Fatalf("home asks: %d\n%s", code, page)
	}
	type list struct {
		Requests []struct{ ID, Device, Status string }
		Pending  int
	}
	idOf := func(l list, device string) string {
		for _, r := range l.Requests {
			if r.Device == device {
				return r.ID
			}
		}
		t.Fatalf("no request of %s in %+v", device, l)
		return ""
	}
	var all list
	op.must("GET", "/api/v1/requests", nil, 200, &all)
	if len(all.Requests) != 3 || all.Pending != 3 {
		t.Fatalf("operator's requests %+v, want all three pending", all)
	}
	bravoID, homeID := idOf(all, devices["bravo"]), idOf(all, "leos-tablet")

	for _, cl := range []struct {
		name string
		c    *roleClient
	}{{"session", users["alpha"]}, {"token", users["alpha"].withToken("admin")}} {
		t.Run(cl.name, func(t *testing.T) {
			var own list
			cl.c.must("GET", "/api/v1/requests", nil, 200, &own)
			if len(own.Requests) != 1 || own.Requests[0].Device != devices["alpha"] || own.Pending != 1 {
				t.Errorf("alpha's requests %+v, want its own one, pending", own)
			}
			for _, id := range []string{bravoID, homeID} {
				if code, body := cl.c.send("POST", "/api/v1/requests/"+id, map[string]string{"choice": "always"}); code != 404 || strings.Contains(body, devices["bravo"]) || strings.Contains(body, "casino") {
					t.Errorf("answer request %s: %d %s, want 404 naming nothing", id, code, body)
				}
			}
		})
	}
	var own list
	users["alpha"].must("GET", "/api/v1/requests", nil, 200, &own)
	users["alpha"].must("POST", "/api/v1/requests/"+own.Requests[0].ID, map[string]string{"choice": "1h"}, 200, nil)
	op.must("GET", "/api/v1/requests", nil, 200, &all)
	for _, r := range all.Requests {
		want := "pending"
		if r.Device == devices["alpha"] {
			want = "approved"
		}
		if r.Status != want {
			t.Errorf("request of %s is %q, want %q", r.Device, r.Status, want)
		}
	}
}
