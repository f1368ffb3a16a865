package api

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// authRoutes are the routes package auth registers (auth.Routes).
var authRoutes = []string{
	"GET /api/v1/setup", "POST /api/v1/setup", "POST /api/v1/login", "POST /api/v1/logout",
	"GET /api/v1/session", "GET /api/v1/tokens", "POST /api/v1/tokens", "DELETE /api/v1/tokens/{id}",
	"POST /api/v1/password", "GET /api/v1/users", "POST /api/v1/users", "DELETE /api/v1/users/{name}",
}

// TestOpenAPIMatchesRoutes: the document describes exactly the routes the
// API serves, no more and no fewer.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q, want 3.x", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	served := map[string]bool{}
	for _, r := range (&API{}).routes() {
		// A rest-of-path wildcard ({key...}) is one parameter to OpenAPI.
		served[strings.ReplaceAll(r.pattern, "...}", "}")] = true
	}
	for _, r := range authRoutes {
		served[r] = true
	}
	var missing, extra []string
	for r := range served {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !served[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("served but not in openapi.json: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("in openapi.json but not served: %v", extra)
	}
}

func TestSlug(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Emma's iPad", "emmas-ipad"},
		{"  Living room TV ", "living-room-tv"},
		{"Léa", "la"},
		{"---", ""},
		{"a_b.c", "a-b-c"},
	}
	for _, tc := range tests {
		if got := slug(tc.in); got != tc.want {
			t.Errorf("slug(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestHouseholdRoutesExist: every route householdRoutes opens to
// households is served: a renamed route would otherwise silently become
// operators only while its old name stayed listed.
func TestHouseholdRoutesExist(t *testing.T) {
	served := map[string]bool{}
	for _, r := range (&API{}).routes() {
		served[r.pattern] = true
	}
	for _, p := range householdRoutes() {
		if !served[p] {
			t.Errorf("householdRoutes lists %q, which is not served", p)
		}
	}
	// The role model keeps these for operators (issue #13).
	for _, p := range []string{
		"GET /api/v1/households", "POST /api/v1/households", "DELETE /api/v1/households/{id}",
		"GET /api/v1/sources", "GET /api/v1/set-aside", "GET /api/v1/unknown-client-ids",
	} {
		if householdRoute(p) {
			t.Errorf("%s is open to households; it is for operators", p)
		}
	}
}
