package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/hearth-dns/hearth/internal/netid"
	"github.com/hearth-dns/hearth/internal/profile"
	"github.com/hearth-dns/hearth/internal/store"
)

// HomeHousehold is the household of a home installation; its settings are
// the home's settings.
const HomeHousehold = "home"

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// slug makes an id from a name: "Emma's iPad" gives "emmas-ipad".
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			b.WriteRune(c)
			dash = false
		case c == ' ' || c == '-' || c == '_' || c == '.':
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
		if b.Len() >= 48 {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

// checkID checks an item id.
func checkID(id string) error {
	if !idRE.MatchString(id) {
		return fmt.Errorf("id: %q must be 1 to 63 lower-case letters, digits or hyphens, starting with a letter or digit", id)
	}
	return nil
}

// checkName checks a display name.
func checkName(name string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("name: required")
	}
	if len(name) > 64 {
		return fmt.Errorf("name: at most 64 bytes")
	}
	return nil
}

// newID picks an id for a new item from its name, unused by taken.
func newID(name, prefix string, taken func(string) bool) string {
	base := slug(name)
	if base == "" {
		base = prefix
	}
	id := base
	for i := 2; taken(id); i++ {
		id = fmt.Sprintf("%s-%d", base, i)
	}
	return id
}

// newScopedID is newID for r's scope. Ids are unique across households,
// so a household principal's new items get a random suffix: "emma-2"
// would tell that another household has an "emma".
func newScopedID(r *http.Request, name, prefix string, taken func(string) bool) string {
	if scopeOf(r).all() {
		return newID(name, prefix, taken)
	}
	base := slug(name)
	if base == "" {
		base = prefix
	}
	base = strings.TrimRight(base[:min(len(base), 40)], "-")
	for {
		if id := base + "-" + store.NewID()[:8]; !taken(id) {
			return id
		}
	}
}

// ---- households

func (a *API) listHouseholds(w http.ResponseWriter, r *http.Request) {
	hs, err := a.c.Store.Households(r.Context())
	if err != nil {
		a.storeError(w, r, "households", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"households": nonNil(hs)})
}

func (a *API) getHousehold(w http.ResponseWriter, r *http.Request) {
	if !scopeOf(r).sees(r.PathValue("id")) {
		a.storeError(w, r, "household "+r.PathValue("id"), store.ErrNotFound)
		return
	}
	h, err := a.c.Store.Household(r.Context(), r.PathValue("id"))
	if err != nil {
		a.storeError(w, r, "household "+r.PathValue("id"), err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func (a *API) checkHousehold(r *http.Request, h store.Household) error {
	return checkHousehold(h, func(id string) bool { return a.profileExists(r, id) })
}

// checkHousehold checks h; profileExists says whether a profile id is
// known.
func checkHousehold(h store.Household, profileExists func(string) bool) error {
	if err := checkID(h.ID); err != nil {
		return err
	}
	if h.TimeZone != "" {
		if _, err := time.LoadLocation(h.TimeZone); err != nil {
			return fmt.Errorf("time_zone: %q is not an IANA time zone", h.TimeZone)
		}
	}
	if h.DefaultProfile != "" && !profileExists(h.DefaultProfile) {
		return fmt.Errorf("default_profile: no profile %q", h.DefaultProfile)
	}
	return nil
}

func (a *API) createHousehold(w http.ResponseWriter, r *http.Request) {
	var h store.Household
	if !decode(w, r, &h) {
		return
	}
	if h.ID == "" {
		h.ID = newID(h.Name, "household", func(id string) bool {
			_, err := a.c.Store.Household(r.Context(), id)
			return err == nil
		})
	}
	h.Version = 0
	if err := a.checkHousehold(r, h); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	h, err := a.c.Store.PutHousehold(r.Context(), h)
	if err != nil {
		a.storeError(w, r, "household "+h.ID, err)
		return
	}
	a.synced(w, r, http.StatusCreated, h)
}

func (a *API) putHousehold(w http.ResponseWriter, r *http.Request) {
	if !scopeOf(r).sees(r.PathValue("id")) {
		a.storeError(w, r, "household "+r.PathValue("id"), store.ErrNotFound)
		return
	}
	var h store.Household
	if !decode(w, r, &h) {
		return
	}
	if h.ID != r.PathValue("id") {
		fail(w, http.StatusBadRequest, "id: %q differs from the path's %q", h.ID, r.PathValue("id"))
		return
	}
	if err := a.checkHousehold(r, h); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if h.Version == 0 {
		fail(w, http.StatusBadRequest, "version: required (send the version you read)")
		return
	}
	h, err := a.c.Store.PutHousehold(r.Context(), h)
	if err != nil {
		a.storeError(w, r, "household "+h.ID, err)
		return
	}
	a.synced(w, r, http.StatusOK, h)
}

func (a *API) deleteHousehold(w http.ResponseWriter, r *http.Request) {
	if err := a.c.Store.DeleteHousehold(r.Context(), r.PathValue("id")); err != nil {
		a.storeError(w, r, "household "+r.PathValue("id"), err)
		return
	}
	a.synced(w, r, http.StatusNoContent, nil)
}

// ensureHome creates the home household when it is missing.
func (a *API) ensureHome(r *http.Request) error {
	if _, err := a.c.Store.Household(r.Context(), HomeHousehold); err == nil {
		return nil
	}
	_, err := a.c.Store.PutHousehold(r.Context(), store.Household{ID: HomeHousehold, Name: "Home"})
	if err != nil && !isConflict(err) {
		return err
	}
	return nil
}

// ---- profiles

// profileView is a profile as the API shows it.
type profileView struct {
	store.Profile
	Provisioned bool `json:"provisioned"`
}

// decodeProfile reads a profile body with profile.ParseJSON: the older
// spellings are read (safe_search_engines, days as one string), a field
// no version knew is refused. "provisioned", which the API's answers
// carry, may be sent back and is ignored. On failure it answers 400 and
// returns false.
func decodeProfile(w http.ResponseWriter, r *http.Request) (store.Profile, bool) {
	var fields map[string]json.RawMessage
	if !decode(w, r, &fields) {
		return store.Profile{}, false
	}
	delete(fields, "provisioned")
	b, err := json.Marshal(fields)
	if err == nil {
		var p store.Profile
		if p, err = profile.ParseJSON(b); err == nil {
			return p, true
		}
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		fail(w, http.StatusBadRequest, "%s: want %s", typeErr.Field, typeErr.Type)
	} else {
		fail(w, http.StatusBadRequest, "body: %v", err)
	}
	return store.Profile{}, false
}

// profileExists reports whether id names a profile r's scope may give a
// device or a household: one of its own, or a preset.
func (a *API) profileExists(r *http.Request, id string) bool {
	_, _, err := a.scopedProfile(r, id)
	return err == nil
}

// profileTaken reports whether any household's profile, or a provisioned
// one, has id: ids are unique across households.
func (a *API) profileTaken(r *http.Request, id string) bool {
	if a.provisionedProfile(id) {
		return true
	}
	_, err := a.c.Store.Profile(r.Context(), id)
	return err == nil
}

func (a *API) provisionedProfile(id string) bool {
	provisioned, _ := a.c.Backend.Provisioned()
	for _, p := range provisioned {
		if p.ID == id {
			return true
		}
	}
	return false
}

func (a *API) listProfiles(w http.ResponseWriter, r *http.Request) {
	s := scopeOf(r)
	household, err := s.filter(r.URL.Query().Get("household"))
	if err != nil {
		a.storeError(w, r, "household "+r.URL.Query().Get("household"), err)
		return
	}
	provisioned, _ := a.c.Backend.Provisioned()
	out := []profileView{}
	for _, p := range provisioned {
		if a.visibleProvisioned(s, p) {
			out = append(out, profileView{p, true})
		}
	}
	ps, err := a.c.Store.Profiles(r.Context(), household)
	if err != nil {
		a.storeError(w, r, "profiles", err)
		return
	}
	for _, p := range ps {
		out = append(out, profileView{p, false})
	}
	writeJSON(w, http.StatusOK, map[string]any{"profiles": out})
}

func (a *API) getProfile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p, provisioned, err := a.scopedProfile(r, id)
	if err != nil {
		a.storeError(w, r, "profile "+id, err)
		return
	}
	writeJSON(w, http.StatusOK, profileView{p, provisioned})
}

func (a *API) checkProfile(p store.Profile) error { return checkProfile(a.c.Backend, p) }

// checkProfile checks p's fields, the catalog's part with b.
func checkProfile(b Backend, p store.Profile) error {
	if err := checkID(p.ID); err != nil {
		return err
	}
	if err := checkName(p.Name); err != nil {
		return err
	}
	if p.TimeZone != "" {
		if _, err := time.LoadLocation(p.TimeZone); err != nil {
			return fmt.Errorf("time_zone: %q is not an IANA time zone", p.TimeZone)
		}
	}
	return b.CheckProfile(p)
}

func (a *API) createProfile(w http.ResponseWriter, r *http.Request) {
	p, ok := decodeProfile(w, r)
	if !ok {
		return
	}
	if p.ID == "" {
		p.ID = newScopedID(r, p.Name, "profile", func(id string) bool { return a.profileTaken(r, id) })
	} else if a.provisionedProfile(p.ID) {
		fail(w, http.StatusConflict, "id: %q is a preset or a profile of the config file", p.ID)
		return
	}
	household, err := scopeOf(r).newItemHousehold(p.Household)
	if err != nil {
		fail(w, http.StatusForbidden, "%v", err)
		return
	}
	p.Household = household
	p.Version = 0
	if err := a.checkProfile(p); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if err := a.ensureHome(r); err != nil {
		a.storeError(w, r, "household", err)
		return
	}
	p, err = a.c.Store.PutProfile(r.Context(), p)
	if err != nil {
		a.storeError(w, r, "profile "+p.ID, err)
		return
	}
	a.synced(w, r, http.StatusCreated, profileView{p, false})
}

// writableProfile answers the request and returns false unless profile
// id is in the request's scope and is the store's, not a preset's or the
// config file's; more ends the message of that refusal.
func (a *API) writableProfile(w http.ResponseWriter, r *http.Request, id, more string) bool {
	if _, _, err := a.scopedProfile(r, id); err != nil {
		a.storeError(w, r, "profile "+id, err)
		return false
	}
	if a.provisionedProfile(id) {
		fail(w, http.StatusForbidden, "profile %s is a preset or comes from the config file: it is read-only%s", id, more)
		return false
	}
	return true
}

func (a *API) putProfile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !a.writableProfile(w, r, id, "; copy it to a new profile to change it") {
		return
	}
	p, ok := decodeProfile(w, r)
	if !ok {
		return
	}
	if p.ID != id {
		fail(w, http.StatusBadRequest, "id: %q differs from the path's %q", p.ID, id)
		return
	}
	household, err := scopeOf(r).newItemHousehold(p.Household)
	if err != nil {
		fail(w, http.StatusForbidden, "%v", err)
		return
	}
	p.Household = household
	if p.Version == 0 {
		fail(w, http.StatusBadRequest, "version: required (send the version you read)")
		return
	}
	if err := a.checkProfile(p); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	p, err = a.c.Store.PutProfile(r.Context(), p)
	if err != nil {
		a.storeError(w, r, "profile "+id, err)
		return
	}
	a.synced(w, r, http.StatusOK, profileView{p, false})
}

func (a *API) deleteProfile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !a.writableProfile(w, r, id, "") {
		return
	}
	if err := a.c.Store.DeleteProfile(r.Context(), id); err != nil {
		a.storeError(w, r, "profile "+id, err)
		return
	}
	a.synced(w, r, http.StatusNoContent, nil)
}

// ---- devices

// deviceView is a device as the API shows it.
type deviceView struct {
	store.Device
	Provisioned      bool          `json:"provisioned"`
	EffectiveProfile string        `json:"effective_profile"`
	Grants           []store.Grant `json:"grants"`
	// WeakClientIDs is true while the device is recognised over
	// encrypted DNS by client ids people chose, which a child can type:
	// the parent should give it a DNS id.
	WeakClientIDs bool `json:"weak_client_ids"`
	// DNSID shadows the store's to leave its hash out.
	DNSID *dnsIDView `json:"dns_id,omitempty"`
	// Now is what is in force for the device now (grants, schedule
	// windows), worded in the household's time zone.
	Now []DeviceState `json:"now"`
	// Budgets are the device's time budgets today: used and left.
	Budgets []DeviceBudget `json:"budgets"`
}

// dnsIDView is a device's DNS id as the API shows it: never the secret
// nor its hash.
type dnsIDView struct {
	Label   string    `json:"label,omitempty"`
	Hint    string    `json:"hint"`
	Created time.Time `json:"created"`
}

func (a *API) view(d store.Device, provisioned bool, grants []store.Grant, loc *time.Location) deviceView {
	v := deviceView{Device: d, Provisioned: provisioned, EffectiveProfile: a.c.Backend.EffectiveProfile(d.ID), Grants: []store.Grant{},
		WeakClientIDs: len(d.ClientIDs) > 0 && d.DNSID == nil, Now: a.deviceStates(d.ID, loc), Budgets: a.deviceBudgets(d.ID, loc)}
	if d.DNSID != nil {
		v.DNSID = &dnsIDView{Label: d.DNSID.Label, Hint: d.DNSID.Hint, Created: d.DNSID.Created}
	}
	now := a.c.Now()
	for _, g := range grants {
		if g.Device == d.ID && g.Until.After(now) {
			v.Grants = append(v.Grants, g)
		}
	}
	return v
}

func (a *API) provisionedDevice(id string) (store.Device, bool) {
	_, devices := a.c.Backend.Provisioned()
	for _, d := range devices {
		if d.ID == id {
			return d, true
		}
	}
	return store.Device{}, false
}

func (a *API) listDevices(w http.ResponseWriter, r *http.Request) {
	grants, err := a.c.Store.Grants(r.Context(), "")
	if err != nil {
		a.storeError(w, r, "grants", err)
		return
	}
	s := scopeOf(r)
	household, err := s.filter(r.URL.Query().Get("household"))
	if err != nil {
		a.storeError(w, r, "household "+r.URL.Query().Get("household"), err)
		return
	}
	loc := a.homeLocation(r.Context())
	out := []deviceView{}
	if s.all() {
		_, provisioned := a.c.Backend.Provisioned()
		for _, d := range provisioned {
			out = append(out, a.view(d, true, grants, loc))
		}
	}
	ds, err := a.c.Store.Devices(r.Context(), household)
	if err != nil {
		a.storeError(w, r, "devices", err)
		return
	}
	for _, d := range ds {
		out = append(out, a.view(d, false, grants, loc))
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": out})
}

func (a *API) getDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, provisioned, err := a.scopedDevice(r, id)
	if err != nil {
		a.storeError(w, r, "device "+id, err)
		return
	}
	grants, err := a.c.Store.Grants(r.Context(), id)
	if err != nil {
		a.storeError(w, r, "grants", err)
		return
	}
	writeJSON(w, http.StatusOK, a.view(d, provisioned, grants, a.homeLocation(r.Context())))
}

// checkDevice checks d as the API receives it and returns it with every
// identifier in its canonical form (package netid), so that the store
// holds one spelling of each. A bad field answers 400 naming it; an
// identifier another device owns answers 409 naming that device.
func (a *API) checkDevice(r *http.Request, d store.Device) (store.Device, int, error) {
	d, keys, err := checkDeviceFields(d, func(id string) bool { return a.profileExists(r, id) })
	if err != nil {
		return d, http.StatusBadRequest, err
	}
	owners, err := a.otherOwners(r, d.ID, keys)
	if err != nil {
		return d, http.StatusInternalServerError, err
	}
	for _, k := range keys {
		if err := owners.Claim(d.ID, k.key); err != nil {
			if !scopeOf(r).all() {
				// The owner may be another household's device: its id
				// is none of this household's business.
				return d, http.StatusConflict, fmt.Errorf("%s: %q is in use by another device", k.field, k.key.Value)
			}
			return d, http.StatusConflict, fmt.Errorf("%s: %v", k.field, err)
		}
	}
	return d, 0, nil
}

// checkDeviceFields checks d's own fields and returns it with every
// identifier in canonical form, and those identifiers.
func checkDeviceFields(d store.Device, profileExists func(string) bool) (store.Device, []fieldKey, error) {
	if err := checkID(d.ID); err != nil {
		return d, nil, err
	}
	if err := checkName(d.Name); err != nil {
		return d, nil, err
	}
	if d.Profile != "" && !profileExists(d.Profile) {
		return d, nil, fmt.Errorf("profile: no profile %q", d.Profile)
	}
	if d.Hostname != "" {
		h, err := netid.ParseHostname(d.Hostname)
		if err != nil {
			return d, nil, fmt.Errorf("hostname: %v", err)
		}
		d.Hostname = h
	}
	keys, err := deviceKeys(&d)
	return d, keys, err
}

// fieldKey is an identifier and the field that holds it.
type fieldKey struct {
	field string
	key   netid.Key
}

// deviceKeys canonicalises d's identifiers in place and returns them.
func deviceKeys(d *store.Device) ([]fieldKey, error) {
	var keys []fieldKey
	for _, l := range []struct {
		field string
		kind  netid.Kind
		vals  []string
	}{{"ips", netid.KindIP, d.IPs}, {"macs", netid.KindMAC, d.MACs}, {"client_ids", netid.KindClientID, d.ClientIDs}} {
		for i, s := range l.vals {
			field := fmt.Sprintf("%s[%d]", l.field, i)
			k, err := netid.KeyOf(l.kind, s)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", field, err)
			}
			l.vals[i] = k.Value
			keys = append(keys, fieldKey{field, k})
		}
	}
	return keys, nil
}

// otherOwners returns the identifiers of every named device but id that
// could clash with keys: the config file's devices and the store's. A
// store with an identifier index (store.DeviceIdentifiers) returns only
// the devices holding one of keys; otherwise every device is read.
func (a *API) otherOwners(r *http.Request, id string, keys []fieldKey) (*netid.Owners, error) {
	owners := netid.NewOwners()
	_, provisioned := a.c.Backend.Provisioned()
	var (
		stored []store.Device
		err    error
	)
	if ix, ok := a.c.Store.(store.DeviceIdentifiers); ok {
		var ips, macs, clientIDs []string
		for _, k := range keys {
			switch k.key.Kind {
			case netid.KindIP:
				ips = append(ips, k.key.Value)
			case netid.KindMAC:
				macs = append(macs, k.key.Value)
			case netid.KindClientID:
				clientIDs = append(clientIDs, k.key.Value)
			}
		}
		stored, err = ix.DevicesWithIdentifiers(r.Context(), ips, macs, clientIDs)
	} else {
		stored, err = a.c.Store.Devices(r.Context(), "")
	}
	if err != nil {
		return nil, fmt.Errorf("reading devices: %w", err)
	}
	claimDevices(owners, append(provisioned, stored...), id)
	return owners, nil
}

// claimDevices records in owners the identifiers of every named device
// of ds but skip.
func claimDevices(owners *netid.Owners, ds []store.Device, skip string) {
	for _, d := range ds {
		// An unclaimed new device owns nothing a parent can be refused
		// for: the device the parent names takes its address (the
		// policy compiler gives named devices precedence).
		if d.ID == skip || d.New {
			continue
		}
		for _, l := range []struct {
			kind netid.Kind
			vals []string
		}{{netid.KindIP, d.IPs}, {netid.KindMAC, d.MACs}, {netid.KindClientID, d.ClientIDs}} {
			for _, s := range l.vals {
				kind := l.kind
				if kind == netid.KindIP && strings.Contains(s, "/") {
					kind = netid.KindCIDR // a config device's cidr
				}
				// A stored value that no longer parses is set aside at
				// load; it owns nothing.
				if k, err := netid.KeyOf(kind, s); err == nil {
					owners.Claim(d.ID, k)
				}
			}
		}
	}
}

func (a *API) createDevice(w http.ResponseWriter, r *http.Request) {
	var v deviceView
	if !decode(w, r, &v) {
		return
	}
	d := v.Device
	if d.ID == "" {
		d.ID = newScopedID(r, d.Name, "device", func(id string) bool {
			if _, ok := a.provisionedDevice(id); ok {
				return true
			}
			_, err := a.c.Store.Device(r.Context(), id)
			return err == nil
		})
	} else if _, ok := a.provisionedDevice(d.ID); ok {
		fail(w, http.StatusConflict, "id: %q is a device of the config file", d.ID)
		return
	}
	household, err := scopeOf(r).newItemHousehold(d.Household)
	if err != nil {
		fail(w, http.StatusForbidden, "%v", err)
		return
	}
	d.Household = household
	if d.FirstSeen.IsZero() {
		d.FirstSeen = a.c.Now().UTC()
	}
	d.Version = 0
	d, code, err := a.checkDevice(r, d)
	if err != nil {
		fail(w, code, "%v", err)
		return
	}
	if len(d.ClientIDs) > 0 {
		fail(w, http.StatusBadRequest, "client_ids: chosen client ids are weak (a child can type them); create the device, then POST /api/v1/devices/%s/dns-id to have Hearth make a secret one", d.ID)
		return
	}
	// Only POST .../dns-id makes a DNS id: it alone knows the secret.
	d.DNSID = nil
	if err := a.ensureHome(r); err != nil {
		a.storeError(w, r, "household", err)
		return
	}
	d, err = a.c.Store.PutDevice(r.Context(), d)
	if err != nil {
		a.storeError(w, r, "device "+v.ID, err)
		return
	}
	a.syncedDevice(w, r, http.StatusCreated, d)
}

// syncedDevice answers a written device once it is in effect.
func (a *API) syncedDevice(w http.ResponseWriter, r *http.Request, code int, d store.Device) {
	if err := a.c.Backend.Sync(r.Context()); err != nil {
		a.synced(w, r, code, nil)
		return
	}
	grants, _ := a.c.Store.Grants(r.Context(), d.ID)
	writeJSON(w, code, a.view(d, false, grants, a.homeLocation(r.Context())))
}

func (a *API) putDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, _, err := a.scopedDevice(r, id); err != nil {
		a.storeError(w, r, "device "+id, err)
		return
	}
	if _, ok := a.provisionedDevice(id); ok {
		fail(w, http.StatusForbidden, "device %s comes from the config file: it is read-only", id)
		return
	}
	var v deviceView
	if !decode(w, r, &v) {
		return
	}
	d := v.Device
	if d.ID != id {
		fail(w, http.StatusBadRequest, "id: %q differs from the path's %q", d.ID, id)
		return
	}
	household, err := scopeOf(r).newItemHousehold(d.Household)
	if err != nil {
		fail(w, http.StatusForbidden, "%v", err)
		return
	}
	d.Household = household
	if d.Version == 0 {
		fail(w, http.StatusBadRequest, "version: required (send the version you read)")
		return
	}
	d, code, err := a.checkDevice(r, d)
	if err != nil {
		fail(w, code, "%v", err)
		return
	}
	cur, err := a.c.Store.Device(r.Context(), id)
	if err != nil {
		a.storeError(w, r, "device "+id, err)
		return
	}
	if err := keepIDs(&d, cur); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	d, err = a.c.Store.PutDevice(r.Context(), d)
	if err != nil {
		a.storeError(w, r, "device "+id, err)
		return
	}
	a.syncedDevice(w, r, http.StatusOK, d)
}

func (a *API) deleteDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, _, err := a.scopedDevice(r, id); err != nil {
		a.storeError(w, r, "device "+id, err)
		return
	}
	if _, ok := a.provisionedDevice(id); ok {
		fail(w, http.StatusForbidden, "device %s comes from the config file: it is read-only", id)
		return
	}
	if err := a.c.Store.DeleteDevice(r.Context(), id); err != nil {
		a.storeError(w, r, "device "+id, err)
		return
	}
	a.synced(w, r, http.StatusNoContent, nil)
}

// ---- settings

// settings are the household's settings, kept in its household: the
// home's for an operator, a household principal's own otherwise.
type settings struct {
	TimeZone       string `json:"time_zone"`
	DefaultProfile string `json:"default_profile"`
	Configured     bool   `json:"configured"`
	// ConfigDefaultProfile is the config file's default_profile when the
	// file writes one, and ConfigDefaultProfileAt where: then it wins,
	// and DefaultProfile may only be "" or the same.
	ConfigDefaultProfile   string `json:"config_default_profile,omitempty"`
	ConfigDefaultProfileAt string `json:"config_default_profile_at,omitempty"`
}

const configuredKey = "configured"

// settingsHousehold is the household whose settings r reads and writes.
func settingsHousehold(r *http.Request) string {
	if s := scopeOf(r); !s.all() {
		return s.household
	}
	return HomeHousehold
}

func (a *API) getSettings(w http.ResponseWriter, r *http.Request) {
	var s settings
	h, err := a.c.Store.Household(r.Context(), settingsHousehold(r))
	if err != nil && !isNotFound(err) {
		a.storeError(w, r, "settings", err)
		return
	}
	s.TimeZone, s.DefaultProfile = h.TimeZone, h.DefaultProfile
	v, _, err := a.c.Store.Setting(r.Context(), configuredKey)
	if err != nil {
		a.storeError(w, r, "settings", err)
		return
	}
	// The first-run wizard is the operator's: a household's parents
	// start from a server that is set up.
	s.Configured = v == "true" || !scopeOf(r).all()
	s.ConfigDefaultProfile, s.ConfigDefaultProfileAt = a.c.Backend.ConfigDefaultProfile()
	writeJSON(w, http.StatusOK, s)
}

func (a *API) putSettings(w http.ResponseWriter, r *http.Request) {
	var s settings
	if !decode(w, r, &s) {
		return
	}
	if scopeOf(r).all() {
		if err := a.ensureHome(r); err != nil {
			a.storeError(w, r, "household", err)
			return
		}
	}
	h, err := a.c.Store.Household(r.Context(), settingsHousehold(r))
	if err != nil {
		a.storeError(w, r, "household", err)
		return
	}
	// The config file's default_profile wins: a different one here
	// would be ignored, so it is refused rather than silently kept.
	cfgDef, cfgAt := a.c.Backend.ConfigDefaultProfile()
	if cfgDef != "" && s.DefaultProfile != "" && s.DefaultProfile != cfgDef {
		fail(w, http.StatusBadRequest, "default_profile: the config file sets it to %q (%s), and the config file wins: change it there, or send \"\"", cfgDef, cfgAt)
		return
	}
	h.TimeZone, h.DefaultProfile = s.TimeZone, s.DefaultProfile
	if err := a.checkHousehold(r, h); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if _, err := a.c.Store.PutHousehold(r.Context(), h); err != nil {
		a.storeError(w, r, "settings", err)
		return
	}
	if scopeOf(r).all() {
		if err := a.c.Store.PutSetting(r.Context(), configuredKey, "true"); err != nil {
			a.storeError(w, r, "settings", err)
			return
		}
	}
	s.Configured = true
	s.ConfigDefaultProfile, s.ConfigDefaultProfileAt = cfgDef, cfgAt
	a.synced(w, r, http.StatusOK, s)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
