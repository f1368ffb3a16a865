// Package api is Hearth's REST API under /api/v1: households, profiles,
// devices, grants, settings, the query log, stats, explanations and list
// status, described by the OpenAPI document it serves at
// /api/v1/openapi.json. Every route needs authentication (package auth)
// except first-run setup and login. A write is answered only once the
// running policy reflects it, so the next DNS answer already does.
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/hearth-dns/hearth/internal/auth"
	"github.com/hearth-dns/hearth/internal/policy/compile"
	"github.com/hearth-dns/hearth/internal/querylog"
	"github.com/hearth-dns/hearth/internal/store"
	"github.com/hearth-dns/hearth/internal/usage"
)

//go:embed openapi.json
var openAPI []byte

// maxBody bounds request bodies.
const maxBody = 1 << 20

// Backend is what the API needs from the running resolver.
type Backend interface {
	// Catalog returns the categories, services and presets.
	Catalog() Catalog
	// CheckProfile checks a profile against the catalog; the error names
	// the field.
	CheckProfile(p store.Profile) error
	// Provisioned returns the profiles (config file and presets) and
	// devices (config file) the API shows read-only.
	Provisioned() ([]store.Profile, []store.Device)
	// EffectiveProfile returns the profile label a device gets now.
	EffectiveProfile(device string) string
	// Sync returns once the running policy reflects every store write
	// committed before the call.
	Sync(ctx context.Context) error
	// Explain answers "why is this name answered so for this device".
	Explain(ctx context.Context, q ExplainRequest) (Explanation, error)
	// Sources returns the lists, what they hold and how their downloads
	// are going.
	Sources() SourcesReport
	// LogDropped returns how many query-log entries were dropped.
	LogDropped() uint64
	// SetAside describes the store items left out of the running policy
	// because they fail validation (an older version wrote them, or the
	// database was edited); the rest serves. Empty when all is well.
	SetAside() []string
	// EncryptedDNS says how devices reach Hearth's DoT and DoH, for the
	// setup of a device's DNS id.
	EncryptedDNS() EncryptedDNS
	// UnknownClientIDs returns the sources that recently presented
	// client ids no device holds.
	UnknownClientIDs() []UnknownClientIDSource
	// DeviceStates returns the grants and schedule windows in force for
	// device at now, with their ends (Text left empty).
	DeviceStates(device string, now time.Time) []DeviceState
	// DeviceBudgets returns device's time budgets of the day of now,
	// with the minutes used and left (Text left empty).
	DeviceBudgets(device string, now time.Time) []DeviceBudget
	// ConfigDefaultProfile returns the config file's default_profile and
	// where it is written ("hearth.yaml:12"), or "" when the file does
	// not set it. When set, it wins over the household's.
	ConfigDefaultProfile() (profile, at string)
}

// UnknownClientIDSource is a source that presented unknown client ids.
type UnknownClientIDSource struct {
	// Source is the address (an IPv6 source's /64 as its first address).
	Source string `json:"source"`
	// Tries counts its unknown ids, Refused its queries refused for them.
	Tries   uint64    `json:"tries"`
	Refused uint64    `json:"refused"`
	Last    time.Time `json:"last"`
}

// EncryptedDNS is where Hearth serves encrypted DNS.
type EncryptedDNS struct {
	// Domain is the client id domain devices use ("dns.example.net"),
	// "" when none is configured.
	Domain string
	// DoTPort and DoHPort are the listeners' ports; 0 when off.
	DoTPort, DoHPort int
}

// Catalog is the taxonomy parents choose from.
type Catalog struct {
	Categories    []Category `json:"categories"`
	Presets       []Preset   `json:"presets"`
	SearchEngines []string   `json:"search_engines"`
}

// Category is a category with its services.
type Category struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Services    []Service `json:"services"`
}

// Service is one app or site.
type Service struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Preset is a ready-made profile.
type Preset struct {
	ID          string   `json:"id"`
	Description string   `json:"description"`
	Block       []string `json:"block"`
	SafeSearch  bool     `json:"safe_search"`
	YouTube     string   `json:"youtube"`
}

// ExplainRequest asks why a name is answered as it is
// (compile.ExplainQuery, the one question type, shared with the CLI and
// the block page).
type ExplainRequest = compile.ExplainQuery

// Explanation is the answer to an ExplainRequest: the one explanation
// type, shared with the CLI and the block page.
type Explanation = compile.Explanation

// Source is one list's status.
type Source struct {
	ID       string `json:"id"`
	Tag      string `json:"tag"`
	URL      string `json:"url,omitempty"`
	File     string `json:"file,omitempty"`
	Loaded   bool   `json:"loaded"`
	Names    int    `json:"names"`
	BadLines int    `json:"bad_lines"`
	Error    string `json:"error,omitempty"`
	// State is local (file or embedded), pending (first download not
	// finished), fresh, stale (the last good copy kept after failed
	// downloads, or old) or failed (never downloaded: no data).
	State string `json:"state"`
	// FetchedAt is when the copy in use was last confirmed current;
	// StaleSince when it stopped being fresh.
	FetchedAt  *time.Time `json:"fetched_at,omitempty"`
	StaleSince *time.Time `json:"stale_since,omitempty"`
	// Failures counts failed downloads in a row; NextAttempt is when the
	// list is downloaded next.
	Failures    int        `json:"failures,omitempty"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	Downloading bool       `json:"downloading,omitempty"`
}

// SourcesReport is every list's status, the progress of the downloads,
// and the categories that are blocked but have no data.
type SourcesReport struct {
	Sources  []Source         `json:"sources"`
	Progress DownloadProgress `json:"progress"`
	// EmptyCategories are categories some profile in use blocks that
	// have no list data at all: nothing of them is blocked.
	EmptyCategories []EmptyCategory `json:"empty_categories"`
}

// DownloadProgress is how far the current or last round of list
// downloads got.
type DownloadProgress struct {
	Total   int  `json:"total"`
	Done    int  `json:"done"`
	Failed  int  `json:"failed"`
	Running bool `json:"running"`
}

// EmptyCategory is a blocked category without data, and why.
type EmptyCategory struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Profiles []string `json:"profiles"`
	// Reason says why there is no data: no list configured, or the
	// lists' downloads failed (naming the first error).
	Reason string `json:"reason"`
}

// Config configures the API.
type Config struct {
	Store   store.Store
	Auth    *auth.Auth
	Backend Backend
	// Log is the query log; nil when it is off.
	Log *querylog.Writer
	// Usage is the per-household counter table; nil keeps none.
	Usage  *usage.Table
	Now    func() time.Time
	Logger *slog.Logger
}

// API serves /api/v1.
type API struct {
	c   Config
	log *slog.Logger
	mux *http.ServeMux
}

// New checks c and builds the routes.
func New(c Config) (*API, error) {
	if c.Store == nil || c.Auth == nil || c.Backend == nil {
		return nil, errors.New("api: store, auth and backend are required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	a := &API{c: c, log: c.Logger, mux: http.NewServeMux()}
	c.Auth.Routes(a.mux)
	for _, r := range a.routes() {
		// The one place a route's access is decided (see scope.go).
		if householdRoute(r.pattern) {
			a.mux.Handle(r.pattern, c.Auth.RequireHousehold(r.handler))
			continue
		}
		a.mux.Handle(r.pattern, c.Auth.Require(r.handler))
	}
	return a, nil
}

// ServeHTTP serves the API routes.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	a.mux.ServeHTTP(w, r)
}

type route struct {
	pattern string
	handler http.HandlerFunc
}

// routes are the authenticated routes of this package (auth adds its own).
// They are for operators unless householdRoute (scope.go) lists them.
func (a *API) routes() []route {
	return []route{
		{"GET /api/v1/openapi.json", a.openAPI},
		{"GET /api/v1/catalog", a.catalog},
		{"GET /api/v1/settings", a.getSettings},
		{"PUT /api/v1/settings", a.putSettings},
		{"GET /api/v1/households", a.listHouseholds},
		{"POST /api/v1/households", a.createHousehold},
		{"GET /api/v1/households/{id}", a.getHousehold},
		{"PUT /api/v1/households/{id}", a.putHousehold},
		{"DELETE /api/v1/households/{id}", a.deleteHousehold},
		{"GET /api/v1/households/{id}/counters", a.householdCounters},
		{"GET /api/v1/profiles", a.listProfiles},
		{"POST /api/v1/profiles", a.createProfile},
		{"GET /api/v1/profiles/{id}", a.getProfile},
		{"PUT /api/v1/profiles/{id}", a.putProfile},
		{"DELETE /api/v1/profiles/{id}", a.deleteProfile},
		{"GET /api/v1/devices", a.listDevices},
		{"POST /api/v1/devices", a.createDevice},
		{"GET /api/v1/devices/{id}", a.getDevice},
		{"PUT /api/v1/devices/{id}", a.putDevice},
		{"DELETE /api/v1/devices/{id}", a.deleteDevice},
		{"POST /api/v1/devices/{id}/dns-id", a.newDNSID},
		{"GET /api/v1/unknown-client-ids", a.unknownClientIDs},
		{"GET /api/v1/grants", a.listGrants},
		{"POST /api/v1/grants", a.createGrant},
		{"DELETE /api/v1/grants/{id}", a.deleteGrant},
		{"POST /api/v1/pause", a.pauseAll},
		{"DELETE /api/v1/pause", a.resumeAll},
		{"GET /api/v1/querylog", a.queryLog},
		{"GET /api/v1/stats", a.stats},
		{"GET /api/v1/explain", a.explain},
		{"GET /api/v1/sources", a.sources},
		{"GET /api/v1/set-aside", a.setAside},
		{"GET /api/v1/export", a.export},
		{"POST /api/v1/import", a.importState},
		{"GET /api/v1/bindings", a.listBindings},
		{"GET /api/v1/bindings/{kind}/{key...}", a.getBinding},
		{"PUT /api/v1/bindings/{kind}/{key...}", a.putBinding},
		{"DELETE /api/v1/bindings/{kind}/{key...}", a.deleteBinding},
		{"POST " + ImportBindingsPath, a.importBindings},
	}
}

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}

func (a *API) catalog(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.c.Backend.Catalog())
}

func (a *API) sources(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.c.Backend.Sources())
}

// SetAside is what the web UI's banner shows after login: the store items
// the running policy leaves out because they fail validation. It needs a
// session, as it names devices and their identifiers.
type SetAside struct {
	// SetAside are the store items the running policy leaves out.
	SetAside []string `json:"set_aside"`
}

func (a *API) setAside(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, SetAside{SetAside: a.c.Backend.SetAside()})
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// fail answers an error as {"error": msg}.
func fail(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// storeError answers a store error with its status: 404, 409, 400,
// 503 (the store cannot be reached) or 500.
func (a *API) storeError(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		fail(w, http.StatusNotFound, "%s: not found", what)
	case errors.Is(err, store.ErrConflict):
		fail(w, http.StatusConflict, "%s: %v", what, err)
	case errors.Is(err, store.ErrInvalid):
		fail(w, http.StatusBadRequest, "%v", err)
	case errors.Is(err, store.ErrUnavailable):
		a.log.Warn("api: the store is unavailable", "what", what, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		fail(w, http.StatusServiceUnavailable, "policy store unavailable: %s was not saved; DNS keeps answering with the last policy. Retry later.", what)
	default:
		a.log.Error("api", "what", what, "path", r.URL.Path, "err", err)
		fail(w, http.StatusInternalServerError, "%s: internal error", what)
	}
}

// decode reads a JSON body into v, rejecting unknown fields; on failure
// it answers 400 (or 415) and returns false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		fail(w, http.StatusUnsupportedMediaType, "request body must be application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			fail(w, http.StatusBadRequest, "%s: want %s", typeErr.Field, typeErr.Type)
		default:
			fail(w, http.StatusBadRequest, "body: %v", err)
		}
		return false
	}
	return true
}

// synced waits until the write is in effect, then answers v.
func (a *API) synced(w http.ResponseWriter, r *http.Request, code int, v any) {
	if err := a.c.Backend.Sync(r.Context()); err != nil {
		a.log.Error("api: the change is stored but not yet in effect", "err", err)
		fail(w, http.StatusInternalServerError, "the change is saved but could not be applied yet: %v", err)
		return
	}
	if v == nil {
		w.WriteHeader(code)
		return
	}
	writeJSON(w, code, v)
}

// user is the caller's name, for the record.
func user(r *http.Request) string {
	if p, ok := auth.FromContext(r.Context()); ok {
		return p.User
	}
	return ""
}
