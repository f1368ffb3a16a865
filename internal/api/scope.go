package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/hearth-dns/hearth/internal/auth"
	"github.com/hearth-dns/hearth/internal/store"
)

// Roles. An operator manages every household; a household's user or
// token sees and changes only that household. The check lives in two
// places that every request passes:
//
//   - householdRoutes: a route is for operators unless it is listed
//     there, and api.New puts operator routes behind auth.Require, which
//     answers 403 to a household principal. A route added without a
//     thought about households is closed to them.
//   - scope: a household route's handler reads and writes items only
//     through the helpers below (scopedDevice, scopedProfile,
//     scopedDevices...), which answer an item of another household as
//     store.ErrNotFound: 404, worded as for an id that does not exist,
//     so that guessing ids learns nothing.
//
// TestHouseholdIsolation (package app) walks every route as a household
// user.

// householdRoutes are the routes a household principal may use, each
// confined to its household by its handler. Every other route of routes()
// is for operators: a route added later is closed to households until it
// is listed here.
func householdRoutes() []string {
	return []string{
		"GET /api/v1/openapi.json",
		"GET /api/v1/catalog",
		"GET /api/v1/settings",
		"PUT /api/v1/settings",
		"GET /api/v1/households/{id}",
		"PUT /api/v1/households/{id}",
		"GET /api/v1/households/{id}/counters",
		"GET /api/v1/profiles",
		"POST /api/v1/profiles",
		"GET /api/v1/profiles/{id}",
		"PUT /api/v1/profiles/{id}",
		"DELETE /api/v1/profiles/{id}",
		"GET /api/v1/devices",
		"POST /api/v1/devices",
		"GET /api/v1/devices/{id}",
		"PUT /api/v1/devices/{id}",
		"DELETE /api/v1/devices/{id}",
		"POST /api/v1/devices/{id}/dns-id",
		"GET /api/v1/grants",
		"POST /api/v1/grants",
		"DELETE /api/v1/grants/{id}",
		"POST /api/v1/pause",
		"DELETE /api/v1/pause",
		"GET /api/v1/querylog",
		"GET /api/v1/stats",
		"GET /api/v1/explain",
	}
}

// householdRoute reports whether householdRoutes lists pattern.
func householdRoute(pattern string) bool {
	return slices.Contains(householdRoutes(), pattern)
}

// scope is what a request may see: every household, or one.
type scope struct {
	// household is "" for an operator.
	household string
}

// noHousehold is the scope of a request without a principal, which
// auth.Require never lets through: it matches no household id, so such a
// request would see nothing.
const noHousehold = "\x00"

// scopeOf returns r's scope, from the principal auth stored.
func scopeOf(r *http.Request) scope {
	return scopeOfContext(r.Context())
}

func scopeOfContext(ctx context.Context) scope {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return scope{household: noHousehold}
	}
	return scope{household: p.Household}
}

// all reports whether the scope is an operator's.
func (s scope) all() bool { return s.household == "" }

// sees reports whether items of household are in the scope.
func (s scope) sees(household string) bool { return s.household == "" || s.household == household }

// filter is the household filter of a store list: "" for every
// household (operators, who may pass want), else the scope's own. A
// household principal asking for another household gets ErrNotFound.
func (s scope) filter(want string) (string, error) {
	if s.all() {
		return want, nil
	}
	if want != "" && want != s.household {
		return "", fmt.Errorf("household %q: %w", want, store.ErrNotFound)
	}
	return s.household, nil
}

// newItemHousehold is the household of a new profile or device: the one
// asked for, else the scope's own, else the home's. A household principal
// asking for another household gets an error that says nothing of it.
func (s scope) newItemHousehold(want string) (string, error) {
	switch {
	case s.all() && want == "":
		return HomeHousehold, nil
	case s.all() || want == s.household:
		return want, nil
	case want == "":
		return s.household, nil
	}
	return "", fmt.Errorf("household: you may only manage household %q", s.household)
}

// isPreset reports whether id names a catalog preset, which every
// household may use.
func (a *API) isPreset(id string) bool {
	return slices.ContainsFunc(a.c.Backend.Catalog().Presets, func(p Preset) bool { return p.ID == id })
}

// visibleProvisioned reports whether a profile of the config file or
// catalog is in s: all of them for an operator, the presets for a
// household (the config file's own profiles are the home's).
func (a *API) visibleProvisioned(s scope, p store.Profile) bool {
	return s.all() || a.isPreset(p.ID)
}

// scopedProfile returns profile id if r's scope sees it, and whether it
// is provisioned (read-only); otherwise an error matching
// store.ErrNotFound.
func (a *API) scopedProfile(r *http.Request, id string) (store.Profile, bool, error) {
	s := scopeOf(r)
	provisioned, _ := a.c.Backend.Provisioned()
	for _, p := range provisioned {
		if p.ID == id {
			if a.visibleProvisioned(s, p) {
				return p, true, nil
			}
			return store.Profile{}, false, fmt.Errorf("profile %q: %w", id, store.ErrNotFound)
		}
	}
	p, err := a.c.Store.Profile(r.Context(), id)
	if err != nil {
		return store.Profile{}, false, err
	}
	if !s.sees(p.Household) {
		return store.Profile{}, false, fmt.Errorf("profile %q: %w", id, store.ErrNotFound)
	}
	return p, false, nil
}

// scopedDevice returns device id if r's scope sees it, and whether it
// comes from the config file (the home's, so operators only); otherwise
// an error matching store.ErrNotFound.
func (a *API) scopedDevice(r *http.Request, id string) (store.Device, bool, error) {
	s := scopeOf(r)
	if d, ok := a.provisionedDevice(id); ok {
		if s.all() {
			return d, true, nil
		}
		return store.Device{}, false, fmt.Errorf("device %q: %w", id, store.ErrNotFound)
	}
	d, err := a.c.Store.Device(r.Context(), id)
	if err != nil {
		return store.Device{}, false, err
	}
	if !s.sees(d.Household) {
		return store.Device{}, false, fmt.Errorf("device %q: %w", id, store.ErrNotFound)
	}
	return d, false, nil
}

// scopedDevices returns the devices r's scope sees: the config file's and
// the store's for an operator, the household's store devices otherwise.
func (a *API) scopedDevices(r *http.Request) ([]store.Device, error) {
	s := scopeOf(r)
	ds, err := a.c.Store.Devices(r.Context(), s.household)
	if err != nil {
		return nil, err
	}
	if !s.all() {
		return ds, nil
	}
	_, provisioned := a.c.Backend.Provisioned()
	return append(provisioned, ds...), nil
}

// scopedDeviceIDs returns nil for an operator (no filter), else the ids
// of the household's devices, never nil: the query log and counters
// filter.
func (a *API) scopedDeviceIDs(r *http.Request) ([]string, error) {
	s := scopeOf(r)
	if s.all() {
		return nil, nil
	}
	ds, err := a.c.Store.Devices(r.Context(), s.household)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(ds))
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids, nil
}
