package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/hearth-dns/hearth/internal/dnssetup"
	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/store"
)

// dnsIDSetup answers POST /api/v1/devices/{id}/dns-id: the device, and
// its new id with everything needed to set a device up. It is the only
// time the id is shown: Hearth keeps its hash alone.
type dnsIDSetup struct {
	Device deviceView `json:"device"`
	dnssetup.Setup
}

// keepIDs carries the encrypted-DNS identifiers of the stored device cur
// into the update d, which cannot set them: the DNS id is made only by
// newDNSID, and chosen client ids may be kept or dropped but no new one
// added, since a child can type a name someone chose.
func keepIDs(d *store.Device, cur store.Device) error {
	d.DNSID = cur.DNSID
	for i, c := range d.ClientIDs {
		if cur.DNSID != nil || !slices.ContainsFunc(cur.ClientIDs, func(s string) bool { return strings.EqualFold(s, c) }) {
			return fmt.Errorf("client_ids[%d]: %q: chosen client ids are weak and can no longer be added; POST /api/v1/devices/%s/dns-id makes a secret one", i, c, d.ID)
		}
	}
	return nil
}

// newDNSID makes a new DNS id for a device, replacing its previous one
// and its chosen client ids. It answers once the running policy has it,
// so the old id no longer identifies the device by then.
func (a *API) newDNSID(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, provisioned, err := a.scopedDevice(r, id)
	if err != nil {
		a.storeError(w, r, "device "+id, err)
		return
	}
	if provisioned {
		fail(w, http.StatusForbidden, "device %s comes from the config file: its client_id is set there", id)
		return
	}
	nid, err := identity.NewDNSID(d.Name)
	if err != nil {
		a.log.Error("making a DNS id", "device", id, "err", err)
		fail(w, http.StatusInternalServerError, "could not make a DNS id")
		return
	}
	e := a.c.Backend.EncryptedDNS()
	setup, err := dnssetup.Make(dnssetup.Config{ID: nid.ID, DeviceName: d.Name, Domain: e.Domain, DoTPort: e.DoTPort, DoHPort: e.DoHPort})
	if err != nil {
		a.log.Error("DNS id setup", "device", id, "err", err)
		fail(w, http.StatusInternalServerError, "could not make the setup of the DNS id: %v", err)
		return
	}
	d.DNSID = &store.DNSID{Hash: nid.Hash, Label: nid.Label, Hint: nid.Hint, Created: a.c.Now().UTC()}
	d.ClientIDs = nil
	// d.Version is the one read: a change in between answers 409.
	d, err = a.c.Store.PutDevice(r.Context(), d)
	if err != nil {
		a.storeError(w, r, "device "+id, err)
		return
	}
	if err := a.c.Backend.Sync(r.Context()); err != nil {
		// The id is stored and is the only copy the parent will see:
		// show it, and say that the old one may work a moment longer.
		a.log.Error("DNS id stored but not yet applied", "device", id, "err", err)
		setup.Notes = append(setup.Notes, fmt.Sprintf("The new id is saved but not yet in effect (%v): the old one may work until Hearth catches up.", err))
	}
	a.log.Info("device DNS id made", "device", id, "hint", nid.Hint, "by", user(r))
	grants, _ := a.c.Store.Grants(r.Context(), d.ID)
	writeJSON(w, http.StatusCreated, dnsIDSetup{Device: a.view(d, false, grants, a.homeLocation(r.Context())), Setup: setup})
}

// unknownClientIDs lists the sources that recently tried client ids no
// device holds, for the dashboard's warning.
func (a *API) unknownClientIDs(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"sources": nonNil(a.c.Backend.UnknownClientIDs())})
}
