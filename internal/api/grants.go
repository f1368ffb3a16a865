package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/hearth-dns/hearth/internal/store"
)

// maxGrant is the longest a grant may last.
const maxGrant = 7 * 24 * time.Hour

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
func isConflict(err error) bool { return errors.Is(err, store.ErrConflict) }

// grantRequest asks for a grant; exactly one of Minutes and Until.
type grantRequest struct {
	Device  string    `json:"device"`
	Kind    string    `json:"kind"`
	Target  string    `json:"target"`
	Minutes int       `json:"minutes"`
	Until   time.Time `json:"until"`
}

// until checks the duration fields and returns the grant's end.
func (a *API) until(minutes int, until time.Time) (time.Time, error) {
	now := a.c.Now()
	switch {
	case minutes != 0 && !until.IsZero():
		return time.Time{}, errors.New("minutes: give minutes or until, not both")
	case minutes != 0:
		if minutes < 1 || time.Duration(minutes)*time.Minute > maxGrant {
			return time.Time{}, fmt.Errorf("minutes: %d is not 1 to %d", minutes, int(maxGrant/time.Minute))
		}
		return now.Add(time.Duration(minutes) * time.Minute).UTC(), nil
	case !until.IsZero():
		if !until.After(now) || until.Sub(now) > maxGrant {
			return time.Time{}, errors.New("until: must be in the next 7 days")
		}
		return until.UTC(), nil
	}
	return time.Time{}, errors.New("minutes: give minutes or until")
}

// checkTarget checks an allow grant's target: a category or service id
// of the catalog, or a domain name.
func (a *API) checkTarget(target string) (string, error) {
	t := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(target)), ".")
	if t == "" {
		return "", errors.New("target: required for an allow grant (a category, a service or a domain)")
	}
	cat := a.c.Backend.Catalog()
	for _, c := range cat.Categories {
		if c.ID == t {
			return t, nil
		}
		for _, s := range c.Services {
			if s.ID == t {
				return t, nil
			}
		}
	}
	if _, ok := dns.IsDomainName(t); !ok || !strings.Contains(t, ".") || strings.ContainsAny(t, " *=!/:") {
		return "", fmt.Errorf("target: %q is not a category, a service or a domain name", target)
	}
	return t, nil
}

func (a *API) listGrants(w http.ResponseWriter, r *http.Request) {
	device := r.URL.Query().Get("device")
	if device != "" {
		if _, _, err := a.scopedDevice(r, device); err != nil {
			a.storeError(w, r, "device "+device, err)
			return
		}
	}
	visible, err := a.visibleDevice(r)
	if err != nil {
		a.storeError(w, r, "devices", err)
		return
	}
	gs, err := a.c.Store.Grants(r.Context(), device)
	if err != nil {
		a.storeError(w, r, "grants", err)
		return
	}
	now := a.c.Now()
	out := []store.Grant{}
	for _, g := range gs {
		if g.Until.After(now) && visible(g.Device) {
			out = append(out, g)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"grants": out})
}

func (a *API) createGrant(w http.ResponseWriter, r *http.Request) {
	var req grantRequest
	if !decode(w, r, &req) {
		return
	}
	g := store.Grant{Device: req.Device, Kind: req.Kind, By: user(r), Created: a.c.Now().UTC()}
	if req.Device == "" {
		fail(w, http.StatusBadRequest, "device: required")
		return
	}
	switch req.Kind {
	case store.GrantPause:
		if req.Target != "" {
			fail(w, http.StatusBadRequest, "target: a pause has no target")
			return
		}
	case store.GrantAllow:
		t, err := a.checkTarget(req.Target)
		if err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
		g.Target = t
	case store.GrantExtraTime:
		// Extra time lasts until the budget resets at midnight.
		b, err := a.extraTime(req)
		if err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
		g.Target, g.Until = store.ExtraTimeTarget(b.Budget, req.Minutes), b.ResetsAt
	default:
		fail(w, http.StatusBadRequest, "kind: %q is not pause, allow or extra-time", req.Kind)
		return
	}
	if g.Until.IsZero() {
		until, err := a.until(req.Minutes, req.Until)
		if err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
		g.Until = until
	}
	// Grants are state, not config: a device of the config file takes
	// them as a store device does. The store does not know the config
	// file's devices, so the device is checked here, in r's scope.
	if _, _, err := a.scopedDevice(r, req.Device); err != nil {
		if isNotFound(err) {
			fail(w, http.StatusBadRequest, "device: no device %q", req.Device)
			return
		}
		a.storeError(w, r, "device", err)
		return
	}
	g, err := a.c.Store.AddGrant(r.Context(), g)
	if err != nil {
		a.storeError(w, r, "grant", err)
		return
	}
	a.synced(w, r, http.StatusCreated, g)
}

func (a *API) deleteGrant(w http.ResponseWriter, r *http.Request) {
	if !scopeOf(r).all() {
		// A grant of another household's device is as missing as one
		// that never existed.
		gs, ok := a.grantsInScope(w, r)
		if !ok {
			return
		}
		id := r.PathValue("id")
		if !slices.ContainsFunc(gs, func(g store.Grant) bool { return g.ID == id }) {
			a.storeError(w, r, "grant "+id, store.ErrNotFound)
			return
		}
	}
	if err := a.c.Store.DeleteGrant(r.Context(), r.PathValue("id")); err != nil {
		a.storeError(w, r, "grant "+r.PathValue("id"), err)
		return
	}
	a.synced(w, r, http.StatusNoContent, nil)
}

// pauseAll pauses every device: the config file's and the store's.
func (a *API) pauseAll(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Minutes int       `json:"minutes"`
		Until   time.Time `json:"until"`
	}
	if !decode(w, r, &req) {
		return
	}
	until, err := a.until(req.Minutes, req.Until)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	devices, err := a.scopedDevices(r)
	if err != nil {
		a.storeError(w, r, "devices", err)
		return
	}
	out := []store.Grant{}
	for _, d := range devices {
		g, err := a.c.Store.AddGrant(r.Context(), store.Grant{Device: d.ID, Kind: store.GrantPause, Until: until, By: user(r), Created: a.c.Now().UTC()})
		if err != nil {
			a.storeError(w, r, "grant", err)
			return
		}
		out = append(out, g)
	}
	a.synced(w, r, http.StatusCreated, map[string]any{"grants": out})
}

// resumeAll ends every pause grant of the devices in r's scope.
func (a *API) resumeAll(w http.ResponseWriter, r *http.Request) {
	gs, ok := a.grantsInScope(w, r)
	if !ok {
		return
	}
	for _, g := range gs {
		if g.Kind != store.GrantPause {
			continue
		}
		if err := a.c.Store.DeleteGrant(r.Context(), g.ID); err != nil && !isNotFound(err) {
			a.storeError(w, r, "grant", err)
			return
		}
	}
	a.synced(w, r, http.StatusNoContent, nil)
}

// grantsInScope returns the grants of the devices in r's scope, or
// answers the request with the error and returns false.
func (a *API) grantsInScope(w http.ResponseWriter, r *http.Request) ([]store.Grant, bool) {
	gs, err := a.c.Store.Grants(r.Context(), "")
	if err != nil {
		a.storeError(w, r, "grants", err)
		return nil, false
	}
	visible, err := a.visibleDevice(r)
	if err != nil {
		a.storeError(w, r, "devices", err)
		return nil, false
	}
	return slices.DeleteFunc(gs, func(g store.Grant) bool { return !visible(g.Device) }), true
}

// visibleDevice returns whether a device id is in r's scope: every id
// for an operator (grants may outlive their device), the household's
// devices otherwise.
func (a *API) visibleDevice(r *http.Request) (func(string) bool, error) {
	ids, err := a.scopedDeviceIDs(r)
	if err != nil {
		return nil, err
	}
	if ids == nil {
		return func(string) bool { return true }, nil
	}
	return func(id string) bool { return slices.Contains(ids, id) }, nil
}

// queryTime parses an optional RFC 3339 query parameter.
func queryTime(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 time (2026-11-27T20:00:00Z)", name, v)
	}
	return t, nil
}

// queryInt parses an optional integer query parameter.
func queryInt(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: %q is not a non-negative integer", name, v)
	}
	return n, nil
}
