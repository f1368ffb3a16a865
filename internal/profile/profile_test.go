package profile

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func ptr[T any](v T) *T { return &v }

// TestForms reads each form a profile field may take, today's and the
// older ones, from YAML and from JSON, and checks they mean the same.
func TestForms(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		json string
		want Profile
	}{
		{"safe search on", `safe_search: true`, `{"safe_search": true}`,
			Profile{SafeSearch: &SafeSearch{On: true}}},
		{"safe search off", `safe_search: false`, `{"safe_search": false}`,
			Profile{SafeSearch: &SafeSearch{}}},
		{"safe search engines", `safe_search: [google, bing]`, `{"safe_search": ["google", "bing"]}`,
			Profile{SafeSearch: &SafeSearch{On: true, Engines: []string{"google", "bing"}}}},
		{"old engines with true", "safe_search: true\nsafe_search_engines: [google]", `{"safe_search": true, "safe_search_engines": ["google"]}`,
			Profile{SafeSearch: &SafeSearch{On: true, Engines: []string{"google"}}}},
		// Off was off on every engine; the list meant nothing.
		{"old engines with false", "safe_search: false\nsafe_search_engines: [bing]", `{"safe_search": false, "safe_search_engines": ["bing"]}`,
			Profile{SafeSearch: &SafeSearch{}}},
		// Without safe_search the preset chose; the list meant nothing.
		{"old engines alone", "safe_search_engines: [google]", `{"safe_search_engines": ["google"]}`,
			Profile{}},
		{"time zone", `time_zone: Europe/Paris`, `{"time_zone": "Europe/Paris"}`,
			Profile{TimeZone: "Europe/Paris"}},
		{"old time zone", `timezone: Europe/Paris`, `{"timezone": "Europe/Paris"}`,
			Profile{TimeZone: "Europe/Paris"}},
		{"days list", "schedules: [{days: [mon, wed], from: '08:00', to: '09:00', pause: true}]",
			`{"schedules": [{"days": ["mon", "wed"], "from": "08:00", "to": "09:00", "pause": true}]}`,
			Profile{Schedules: []Schedule{{Days: Days{"mon", "wed"}, From: "08:00", To: "09:00", Pause: true}}}},
		{"old days string", "schedules: [{days: 'mon,wed', from: '08:00', to: '09:00', pause: true}]",
			`{"schedules": [{"days": "mon,wed", "from": "08:00", "to": "09:00", "pause": true}]}`,
			Profile{Schedules: []Schedule{{Days: Days{"mon", "wed"}, From: "08:00", To: "09:00", Pause: true}}}},
		{"old days with spaces", "schedules: [{days: 'sat sun', from: '08:00', to: '09:00', block: [games]}]",
			`{"schedules": [{"days": "sat sun", "from": "08:00", "to": "09:00", "block": ["games"]}]}`,
			Profile{Schedules: []Schedule{{Days: Days{"sat", "sun"}, From: "08:00", To: "09:00", Block: []string{"games"}}}}},
		{"everything else", "name: Emma\npreset: kid\nblock: [games]\nunblock: [video]\nallow: [a.example]\ndeny: [b.example]\nyoutube: strict\nbypass_protection: false\nquery_log: false",
			`{"name": "Emma", "preset": "kid", "block": ["games"], "unblock": ["video"], "allow": ["a.example"], "deny": ["b.example"], "youtube": "strict", "bypass_protection": false, "query_log": false}`,
			Profile{Name: "Emma", Preset: "kid", Block: []string{"games"}, Unblock: []string{"video"}, Allow: []string{"a.example"}, Deny: []string{"b.example"},
				YouTube: "strict", BypassProtection: ptr(false), QueryLog: ptr(false)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var y Profile
			if err := yaml.Unmarshal([]byte(tc.yaml), &y); err != nil {
				t.Fatalf("yaml: %v", err)
			}
			if !reflect.DeepEqual(y, tc.want) {
				t.Errorf("yaml = %+v, want %+v", y, tc.want)
			}
			j, err := ParseJSON([]byte(tc.json))
			if err != nil {
				t.Fatalf("json: %v", err)
			}
			if !reflect.DeepEqual(j, tc.want) {
				t.Errorf("json = %+v, want %+v", j, tc.want)
			}
			var lenient Profile
			if err := json.Unmarshal([]byte(tc.json), &lenient); err != nil || !reflect.DeepEqual(lenient, tc.want) {
				t.Errorf("json.Unmarshal = %+v, %v, want %+v", lenient, err, tc.want)
			}
			// Today's form is what is written, and reads back the same.
			out, err := json.Marshal(j)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), "safe_search_engines") || strings.Contains(string(out), `"timezone"`) || strings.Contains(string(out), `"days":"`) {
				t.Errorf("written in an old form: %s", out)
			}
			back, err := ParseJSON(out)
			if err != nil || !reflect.DeepEqual(back, tc.want) {
				t.Errorf("round trip of %s = %+v, %v", out, back, err)
			}
			yout, err := yaml.Marshal(y)
			if err != nil {
				t.Fatal(err)
			}
			var yback Profile
			if err := yaml.Unmarshal(yout, &yback); err != nil || !reflect.DeepEqual(yback, tc.want) {
				t.Errorf("yaml round trip of %s = %+v, %v", yout, yback, err)
			}
		})
	}
}

// TestRefused: what is not a profile is an error, in both encodings; the
// API's reader and the config file refuse unknown fields.
func TestRefused(t *testing.T) {
	tests := []struct {
		name, yaml, json, want string
		// yamlWant is what the YAML error names; the config file adds
		// the field from the line.
		yamlWant string
	}{
		{"unknown field", "colour: blue", `{"colour": "blue"}`, "colour", "line 1: field colour not found"},
		{"unknown schedule field", "schedules: [{days: [mon], from: '08:00', to: '09:00', paws: true}]",
			`{"schedules": [{"days": ["mon"], "from": "08:00", "to": "09:00", "paws": true}]}`, "paws", "line 1: field paws not found"},
		{"unknown budget field", "budgets: [{tag: games, minutes: 60, day: [mon]}]",
			`{"budgets": [{"tag": "games", "minutes": 60, "day": ["mon"]}]}`, "day", "line 1: field day not found"},
		{"safe search word", "safe_search: maybe", `{"safe_search": "maybe"}`, "safe_search", "line 1: cannot unmarshal"},
		{"both engine lists", "safe_search: [google]\nsafe_search_engines: [bing]", `{"safe_search": ["google"], "safe_search_engines": ["bing"]}`, "safe_search_engines", "safe_search_engines"},
		{"two time zones", "time_zone: UTC\ntimezone: Europe/Paris", `{"time_zone": "UTC", "timezone": "Europe/Paris"}`, "differ", "line 1: time_zone"},
		{"days map", "schedules: [{days: {mon: 1}}]", `{"schedules": [{"days": 5}]}`, "days", "line 1: cannot unmarshal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var y Profile
			if err := yaml.Unmarshal([]byte(tc.yaml), &y); err == nil || !strings.Contains(err.Error(), tc.yamlWant) {
				t.Errorf("yaml: error %v, want one with %q", err, tc.yamlWant)
			}
			if _, err := ParseJSON([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("json: error %v, want one naming %q", err, tc.want)
			}
		})
	}
	// What is stored never stops a start: a row a newer version wrote,
	// with a field this one does not know, still loads, and where an
	// old spelling contradicts today's, today's wins.
	lenient := []struct {
		in   string
		want Profile
	}{
		{`{"id": "kid", "future": 1}`, Profile{ID: "kid"}},
		{`{"time_zone": "UTC", "timezone": "Europe/Paris"}`, Profile{TimeZone: "UTC"}},
		{`{"safe_search": ["google"], "safe_search_engines": ["bing"]}`, Profile{SafeSearch: &SafeSearch{On: true, Engines: []string{"google"}}}},
	}
	for _, tc := range lenient {
		var p Profile
		if err := json.Unmarshal([]byte(tc.in), &p); err != nil || !reflect.DeepEqual(p, tc.want) {
			t.Errorf("lenient read of %s = %+v, %v, want %+v", tc.in, p, err, tc.want)
		}
	}
}

func TestParseDays(t *testing.T) {
	tests := []struct {
		in   Days
		want string // sun..sat, x for a day in the set
		bad  bool
	}{
		{Days{"mon"}, ".x.....", false},
		{Days{"daily"}, "xxxxxxx", false},
		{Days{"weekdays"}, ".xxxxx.", false},
		{Days{"weekends"}, "x.....x", false},
		{Days{"mon-fri"}, ".xxxxx.", false},
		{Days{"fri-mon"}, "xx...xx", false},
		{Days{"Sat", "sun"}, "x.....x", false},
		{Days{"tue-tue"}, "..x....", false},
		{nil, "", true},
		{Days{"funday"}, "", true},
		{Days{"mon-funday"}, "", true},
		{Days{"mon-"}, "", true},
	}
	for _, tc := range tests {
		set, err := ParseDays(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("ParseDays(%q) error %v", tc.in, err)
			continue
		}
		if tc.bad {
			continue
		}
		var got strings.Builder
		for _, in := range set {
			got.WriteString(map[bool]string{true: "x", false: "."}[in])
		}
		if got.String() != tc.want {
			t.Errorf("ParseDays(%q) = %s, want %s", tc.in, got.String(), tc.want)
		}
	}
}

func TestParseOverride(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		subtree bool
		bad     bool
	}{
		{"Example.COM.", "example.com", true, false},
		{"*.example.com", "example.com", true, false},
		{"=www.example.com", "www.example.com", false, false},
		{"!evil.example", "evil.example", true, false},
		{"", "", false, true},
		{"a..b", "", false, true},
		{"http://x.com/", "", false, true},
	}
	for _, tc := range tests {
		name, sub, err := ParseOverride(tc.in)
		if (err != nil) != tc.bad || name != tc.name || sub != tc.subtree {
			t.Errorf("ParseOverride(%q) = %q, %v, %v", tc.in, name, sub, err)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Profile
		want []string
	}{
		{"good", Profile{YouTube: "strict", TimeZone: "Europe/Paris", Allow: []string{"a.example"},
			Schedules: []Schedule{{Days: Days{"mon-fri"}, From: "21:00", To: "07:00", Pause: true}}}, nil},
		{"youtube", Profile{YouTube: "loud"}, []string{"p.youtube"}},
		{"zone", Profile{TimeZone: "Mars/Olympus"}, []string{"p.time_zone"}},
		{"schedule", Profile{Schedules: []Schedule{{Days: Days{"x"}, From: "9pm", To: "25:00"}}},
			[]string{"p.schedules[0].days", "p.schedules[0].from", "p.schedules[0].to", "p.schedules[0]"}},
		{"overrides", Profile{Allow: []string{"bad domain"}, Deny: []string{""}}, []string{"p.allow[0]", "p.deny[0]"}},
	}
	for _, tc := range tests {
		var got []string
		Validate("p", tc.p, func(path, format string, args ...any) { got = append(got, path) })
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: bad fields %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestBudgetMinutes(t *testing.T) {
	sixty, twoHours, half := 60, 120, 30
	bs := []Budget{
		{Tag: "games", Minutes: &sixty, Days: Days{"weekdays"}},
		{Tag: "games", Minutes: &twoHours, Days: Days{"sat-sun"}},
		{Tag: "social", Minutes: &half},
	}
	var errs []string
	Validate("profile", Profile{Budgets: bs}, func(path, format string, args ...any) { errs = append(errs, path) })
	if len(errs) > 0 {
		t.Fatalf("valid budgets refused: %v", errs)
	}
	for _, tc := range []struct {
		tag  string
		want [7]int
	}{
		{"games", [7]int{120, 60, 60, 60, 60, 60, 120}},
		{"social", [7]int{30, 30, 30, 30, 30, 30, 30}},
		{"video", [7]int{-1, -1, -1, -1, -1, -1, -1}},
	} {
		if got := BudgetMinutes(bs, tc.tag); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.tag, got, tc.want)
		}
	}
}
