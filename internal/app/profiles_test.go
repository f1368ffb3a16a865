package app

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/testutil/dnstest"
)

// profileRecords are the upstream's names for the profile tests.
var profileRecords = []string{
	"bet365.com. 300 IN A 192.0.2.50",
	"example-game.com. 300 IN A 192.0.2.53",
	"www.example.org. 300 IN A 192.0.2.54",
	"khanacademy.org. 300 IN A 192.0.2.52",
	"cn.bing.com. 300 IN A 192.0.2.221",
	"strict.bing.com. 300 IN A 192.0.2.220",
	"html.duckduckgo.com. 300 IN A 192.0.2.60",
}

// sameProfileConfig writes the profile "cfg-kid" in the config file, for
// device cfg-dev (127.0.0.20), with the form only the config file could
// write before (days as one string with a range is today's too).
func sameProfileConfig(t *testing.T) string {
	list := filepath.Join(t.TempDir(), "gambling.txt")
	if err := os.WriteFile(list, []byte("bet365.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`profiles:
  cfg-kid:
    name: Kid
    preset: adult
    block: [gambling]
    allow: [khanacademy.org]
    deny: [example-game.com]
    safe_search: [bing]
    timezone: Asia/Tokyo
    schedules:
      - {name: bedtime, days: mon-fri, from: "21:00", to: "07:00", pause: true}
devices:
  - {name: cfg-dev, ip: 127.0.0.20, profile: cfg-kid}
sources:
  - {tag: gambling, file: %q, format: domains}
`, list)
}

// TestConfigAndAPIProfilesDecideAlike writes one profile twice, in the
// config file and through the API (with the API's older spellings too),
// gives each to a device, and asks both devices the same questions over
// real DNS at the same (fake) times: the answers are the same. Before
// the one profile model the API refused the schedule's day range (its
// days were one string, and "mon-fri" was not a day) and knew no list
// of safe-search engines in safe_search.
func TestConfigAndAPIProfilesDecideAlike(t *testing.T) {
	e := startHTTP(t, sameProfileConfig(t), dnstest.Zone(t, profileRecords...))
	c := newAPIClient(t, e)
	for _, body := range []map[string]any{
		{"id": "api-kid", "name": "Kid", "preset": "adult", "block": []string{"gambling"}, "allow": []string{"khanacademy.org"},
			"deny": []string{"example-game.com"}, "safe_search": []string{"bing"}, "time_zone": "Asia/Tokyo",
			"schedules": []map[string]any{{"name": "bedtime", "days": []string{"mon-fri"}, "from": "21:00", "to": "07:00", "pause": true}}},
		// The API's older form: safe_search_engines, days as one string.
		{"id": "api-old", "name": "Kid", "preset": "adult", "block": []string{"gambling"}, "allow": []string{"khanacademy.org"},
			"deny": []string{"example-game.com"}, "safe_search": true, "safe_search_engines": []string{"bing"}, "time_zone": "Asia/Tokyo",
			"schedules": []map[string]any{{"name": "bedtime", "days": "mon,tue,wed,thu,fri", "from": "21:00", "to": "07:00", "pause": true}}},
	} {
		if code := c.do("POST", "/api/v1/profiles", body, nil); code != 201 {
			t.Fatalf("POST profile %s: %d", body["id"], code)
		}
	}
	devices := map[string]string{"cfg-kid": "127.0.0.20", "api-kid": "127.0.0.21", "api-old": "127.0.0.22"}
	for _, d := range []struct{ name, profile, ip string }{{"api-dev", "api-kid", "127.0.0.21"}, {"old-dev", "api-old", "127.0.0.22"}} {
		if code := c.do("POST", "/api/v1/devices", map[string]any{"id": d.name, "name": d.name, "profile": d.profile, "ips": []string{d.ip}}, nil); code != 201 {
			t.Fatalf("POST device %s: %d", d.name, code)
		}
	}

	// The clock starts on Friday 2026-11-27 at 12:00 UTC, 21:00 in Tokyo:
	// bedtime. Each step advances it, then asks every name.
	steps := []struct {
		name    string
		advance time.Duration
		want    map[string]string // qname: the answer's first address
	}{
		{"friday bedtime", 0, map[string]string{
			"www.example.org": "0.0.0.0", "khanacademy.org": "192.0.2.52", "bet365.com": "0.0.0.0", "example-game.com": "0.0.0.0",
		}},
		{"saturday morning", 11 * time.Hour, map[string]string{
			"www.example.org": "192.0.2.54", "khanacademy.org": "192.0.2.52", "bet365.com": "0.0.0.0", "example-game.com": "0.0.0.0",
			"cn.bing.com": "192.0.2.220", "html.duckduckgo.com": "192.0.2.60",
		}},
		// Saturday is not in mon-fri: no bedtime at 21:30.
		{"saturday night", 13*time.Hour + 30*time.Minute, map[string]string{"www.example.org": "192.0.2.54"}},
		{"monday night", 48 * time.Hour, map[string]string{"www.example.org": "0.0.0.0", "khanacademy.org": "192.0.2.52"}},
	}
	for _, st := range steps {
		e.clock.Advance(st.advance)
		if err := e.app.sync.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		for qname, want := range st.want {
			answers := map[string]string{}
			for prof, ip := range devices {
				r := askMsg(t, e, ip, qname, dns.TypeA)
				addr := ""
				for _, rr := range r.Answer {
					if a, ok := rr.(*dns.A); ok {
						addr = a.A.String()
					}
				}
				if addr != want {
					t.Errorf("%s: %s from %s (profile %s) = %q, want %q", st.name, qname, ip, prof, addr, want)
				}
				// The EDE text names the profile; the rest must match.
				answers[prof] = strings.ReplaceAll(answerText(r)+" | "+edeText(r), prof, "PROFILE")
			}
			if answers["cfg-kid"] != answers["api-kid"] || answers["cfg-kid"] != answers["api-old"] {
				t.Errorf("%s: %s answered differently:\n config: %s\n    api: %s\napi old: %s", st.name, qname, answers["cfg-kid"], answers["api-kid"], answers["api-old"])
			}
		}
	}
}

// TestProfileAPIRoundTrip: the API shows a profile in today's form
// whichever form it was sent in, takes back what it showed (the
// "provisioned" flag too), and refuses what no version knew. A config
// file's profile is shown in the same form.
func TestProfileAPIRoundTrip(t *testing.T) {
	e := startHTTP(t, sameProfileConfig(t), dnstest.Zone(t, profileRecords...))
	c := newAPIClient(t, e)
	today := map[string]any{
		"name": "Emma", "preset": "kid", "block": []any{"gambling"}, "allow": []any{"=school.example"},
		"safe_search": []any{"google", "bing"}, "youtube": "strict", "bypass_protection": false, "query_log": false, "time_zone": "Europe/Paris",
		"schedules": []any{
			map[string]any{"name": "bed", "days": []any{"mon-fri", "sun"}, "from": "21:00", "to": "07:00", "pause": true},
			map[string]any{"name": "homework", "days": []any{"weekdays"}, "from": "16:00", "to": "18:00", "block": []any{"gambling"}},
		},
	}
	with := func(m map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(out, kv[i].(string))
			} else {
				out[kv[i].(string)] = kv[i+1]
			}
		}
		return out
	}
	tests := []struct {
		name     string
		body     map[string]any
		wantCode int
		want     map[string]any // the fields GET shows, when 201
		wantErr  string
	}{
		{"today's form", with(today, "id", "emma"), 201, today, ""},
		{"old engines and days", with(today, "id", "emma-old", "safe_search", true, "safe_search_engines", []any{"google", "bing"},
			"schedules", []any{
				map[string]any{"name": "bed", "days": "mon-fri,sun", "from": "21:00", "to": "07:00", "pause": true},
				map[string]any{"name": "homework", "days": "weekdays", "from": "16:00", "to": "18:00", "block": []any{"gambling"}},
			}), 201, today, ""},
		{"safe search off with old engines", with(today, "id", "emma-off", "safe_search", false, "safe_search_engines", []any{"bing"}), 201,
			with(today, "safe_search", false), ""},
		{"unknown field", with(today, "id", "emma-x", "colour", "blue"), 400, nil, "colour"},
		{"unknown schedule field", with(today, "id", "emma-y", "schedules", []any{map[string]any{"days": []any{"mon"}, "from": "08:00", "to": "09:00", "paws": true}}), 400, nil, "paws"},
		{"both engine lists", with(today, "id", "emma-z", "safe_search_engines", []any{"bing"}), 400, nil, "safe_search_engines"},
		{"bad day", with(today, "id", "emma-d", "schedules", []any{map[string]any{"days": []any{"funday"}, "from": "08:00", "to": "09:00", "pause": true}}), 400, nil, "schedules[0].days"},
		{"unknown engine", with(today, "id", "emma-e", "safe_search", []any{"altavista"}), 400, nil, "safe_search[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var errBody struct{ Error string }
			code := c.do("POST", "/api/v1/profiles", tc.body, &errBody)
			if code != tc.wantCode {
				t.Fatalf("POST = %d %q, want %d", code, errBody.Error, tc.wantCode)
			}
			if tc.wantErr != "" && !strings.Contains(errBody.Error, tc.wantErr) {
				t.Errorf("error %q, want one naming %q", errBody.Error, tc.wantErr)
			}
			if code != 201 {
				// A refused profile leaves nothing behind.
				if code := c.do("GET", "/api/v1/profiles/"+tc.body["id"].(string), nil, nil); code != 404 {
					t.Errorf("GET after the refusal = %d, want 404", code)
				}
				return
			}
			var got map[string]any
			if code := c.do("GET", "/api/v1/profiles/"+tc.body["id"].(string), nil, &got); code != 200 {
				t.Fatalf("GET = %d", code)
			}
			for k, want := range tc.want {
				if !reflect.DeepEqual(got[k], want) {
					t.Errorf("%s = %#v, want %#v", k, got[k], want)
				}
			}
			for _, old := range []string{"safe_search_engines", "timezone"} {
				if _, ok := got[old]; ok {
					t.Errorf("GET shows the old field %s", old)
				}
			}
			// What GET showed goes back as is.
			if code := c.do("PUT", "/api/v1/profiles/"+tc.body["id"].(string), got, nil); code != 200 {
				t.Errorf("PUT of what GET showed = %d", code)
			}
		})
	}

	// The config file's profile, in the same form.
	var cfg map[string]any
	if code := c.do("GET", "/api/v1/profiles/cfg-kid", nil, &cfg); code != 200 {
		t.Fatalf("GET cfg-kid = %d", code)
	}
	want := map[string]any{"id": "cfg-kid", "name": "Kid", "provisioned": true, "safe_search": []any{"bing"}, "time_zone": "Asia/Tokyo",
		"schedules": []any{map[string]any{"name": "bedtime", "days": []any{"mon-fri"}, "from": "21:00", "to": "07:00", "pause": true}}}
	for k, w := range want {
		if !reflect.DeepEqual(cfg[k], w) {
			t.Errorf("config profile %s = %#v, want %#v", k, cfg[k], w)
		}
	}
	b, _ := json.Marshal(cfg)
	if strings.Contains(string(b), `"timezone"`) {
		t.Errorf("config profile shown with the old spelling: %s", b)
	}
}
