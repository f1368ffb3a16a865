package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/hearth-dns/hearth/internal/auth"
	"github.com/hearth-dns/hearth/internal/backup"
	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/netid"
	"github.com/hearth-dns/hearth/internal/store"
)

// checker is the API's checks for items written another way than through
// its routes: an import (package backup).
type checker struct{ b Backend }

var _ backup.Checker = checker{}

// NewChecker returns the checks the API applies to its writes, with b's
// catalog and config-file items, for `hearth admin import` and the import
// route. Only b's Catalog, CheckProfile and Provisioned are used.
func NewChecker(b Backend) backup.Checker { return checker{b} }

// CheckHousehold checks h as PUT /households does.
func (c checker) CheckHousehold(h store.Household, profileExists func(string) bool) error {
	return checkHousehold(h, profileExists)
}

// CheckProfile checks p as PUT /profiles does.
func (c checker) CheckProfile(p store.Profile) error { return checkProfile(c.b, p) }

// Provisioned returns the config file's (and the presets') items.
func (c checker) Provisioned() ([]store.Profile, []store.Device) { return c.b.Provisioned() }

// CheckDevices checks each device as PUT /devices does, its DNS id, and
// that no identifier is held twice among ds and the config file's devices.
func (c checker) CheckDevices(ds []store.Device, profileExists func(string) bool) ([]store.Device, error) {
	_, provisioned := c.b.Provisioned()
	owners := netid.NewOwners()
	claimDevices(owners, provisioned, "")
	hashes := map[string]string{}
	for i, d := range ds {
		d, keys, err := checkDeviceFields(d, profileExists)
		if err == nil && d.DNSID != nil {
			err = checkDNSID(d, hashes)
		}
		if err == nil && !d.New {
			for _, k := range keys {
				if cerr := owners.Claim(d.ID, k.key); cerr != nil {
					err = fmt.Errorf("%s: %v", k.field, cerr)
					break
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("devices[%d] %q: %w", i, ds[i].ID, err)
		}
		ds[i] = d
	}
	return ds, nil
}

// checkDNSID checks a device's stored DNS id: a well-formed hash that no
// other device (in hashes, which it adds to) has, and no chosen client id
// beside it.
func checkDNSID(d store.Device, hashes map[string]string) error {
	if _, err := identity.ParseDNSIDHash(d.DNSID.Hash); err != nil {
		return fmt.Errorf("dns_id: %v", err)
	}
	if other, ok := hashes[d.DNSID.Hash]; ok {
		return fmt.Errorf("dns_id: device %q has the same DNS id", other)
	}
	if len(d.ClientIDs) > 0 {
		return errors.New("client_ids: a device with a DNS id has no chosen client ids")
	}
	hashes[d.DNSID.Hash] = d.ID
	return nil
}

// operator refuses a request whose credential may not see or replace the
// whole install: anything less than admin scope (a read token may read the
// API, but an export holds every device's identifiers).
func operator(w http.ResponseWriter, r *http.Request) bool {
	if p, ok := auth.FromContext(r.Context()); ok && p.Scope == store.ScopeAdmin {
		return true
	}
	fail(w, http.StatusForbidden, "export and import need an admin login or an admin-scope token")
	return false
}

// export answers GET /api/v1/export: the store as a download.
func (a *API) export(w http.ResponseWriter, r *http.Request) {
	if !operator(w, r) {
		return
	}
	now := a.c.Now()
	d, err := backup.Export(r.Context(), a.c.Store, now)
	if err != nil {
		a.storeError(w, r, "export", err)
		return
	}
	a.log.Info("export", "by", user(r), "households", len(d.Households), "profiles", len(d.Profiles), "devices", len(d.Devices))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="hearth-export-%s.json"`, now.UTC().Format("2006-01-02")))
	d.Write(w)
}

// importState answers POST /api/v1/import[?replace=true]: the body is an
// export; 409 when the store is not empty and replace is not asked for,
// 400 naming the first bad item, 200 with counts once the running policy
// has it.
func (a *API) importState(w http.ResponseWriter, r *http.Request) {
	if !operator(w, r) {
		return
	}
	replace := r.URL.Query().Get("replace")
	if replace != "" && replace != "true" && replace != "false" {
		fail(w, http.StatusBadRequest, "replace: want true or false, not %q", replace)
		return
	}
	// Decode reads at most backup.MaxSize bytes.
	d, err := backup.Decode(r.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		// The server's cap on bodies (limits.http_max_body_bytes) came
		// first.
		fail(w, http.StatusRequestEntityTooLarge, "the export is larger than %d bytes, the server's limit: raise limits.http_max_body_bytes, or use `hearth admin import`", tooLarge.Limit)
		return
	}
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	res, err := backup.Import(r.Context(), a.c.Store, d, backup.Options{Checker: NewChecker(a.c.Backend), Replace: replace == "true"})
	switch {
	case errors.Is(err, backup.ErrNotEmpty):
		fail(w, http.StatusConflict, "%v", err)
		return
	case errors.Is(err, backup.ErrInvalid):
		a.log.Warn("import refused", "by", user(r), "err", err)
		fail(w, http.StatusBadRequest, "%v", err)
		return
	case err != nil:
		a.log.Error("import failed", "by", user(r), "err", err)
		fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	a.log.Info("import", "by", user(r), "households", res.Households, "profiles", res.Profiles, "devices", res.Devices, "replaced", res.Replaced)
	a.synced(w, r, http.StatusOK, res)
}
