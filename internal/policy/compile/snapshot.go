// Package compile is the policy compiler: it turns the config file's and
// the store's profiles, devices and grants, checked against the catalog,
// and a compiled list index into one immutable Snapshot, the generation of
// policy every query is decided against, and holds the one in effect.
//
// A Snapshot is built whole off the query path and swapped in with one
// pointer store (Live), so a query identified with one generation is
// always decided with the same one. Apply builds the next Snapshot from
// the previous one and a Delta, the shape a store's change feed and a
// list refresh arrive in.
package compile

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/lists"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/store"
)

// Snapshot is one immutable generation of everything a query is decided
// against: the device tables, the policy over the compiled lists, and the
// store state both came from. Nothing in it changes after Compile; the
// caller must not modify what it points to.
type Snapshot struct {
	// Identity recognises devices.
	Identity *identity.Identifier
	// Policy decides queries; it holds the list index.
	Policy *policy.Snapshot
	// Lists is the list generation Policy was compiled over.
	Lists *lists.Compiled
	// State is the store state the snapshot was compiled from; its Seq
	// is the change feed position it includes.
	State store.State
	// Problems are the store items left out because they are wrong (the
	// rest serves), for the log and the parents' UI.
	Problems []error

	plan   *Plan
	base   identity.Config
	merged *merged
}

// Compile builds the snapshot of p and st over the compiled lists, at now
// (for grant expiry). base is the identifier's config without devices.
// Store items that are wrong are left out and listed in Problems; an error
// means nothing could be built (the previous snapshot keeps serving).
func (p *Plan) Compile(base identity.Config, c *lists.Compiled, st store.State, now time.Time) (*Snapshot, error) {
	m := p.merge(st, now)
	pol, err := p.snapshot(c, m.profiles, m.def)
	if err != nil {
		return nil, err
	}
	ic := base
	ic.Devices, ic.DefaultProfile = m.devices, m.def
	var bindProblems []error
	ic.Bindings, bindProblems = bindingTable(st, &m)
	m.problems = append(m.problems, bindProblems...)
	ident, err := identity.New(ic)
	if err != nil && len(p.devices) < len(m.devices) {
		// merge sets aside whatever identity refuses (package netid);
		// should a store device still slip through, the config's devices
		// serve and every store device gets the default profile, rather
		// than no policy at all.
		m.problems = append(m.problems, fmt.Errorf("every store device set aside: %w", err))
		ic.Devices, m.devices = p.devices, p.devices
		ident, err = identity.New(ic)
	}
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	return &Snapshot{Identity: ident, Policy: pol, Lists: c, State: st, Problems: m.problems, plan: p, base: base, merged: &m}, nil
}

// Delta is a change to a Snapshot: items the store wrote after the
// snapshot's State.Seq, items it deleted, and a new list generation. Any
// part may be empty.
type Delta struct {
	// Seq is the change feed position the delta brings the state to; 0
	// keeps the snapshot's.
	Seq int64
	// Households, Profiles, Devices and Grants were created or replaced
	// (matched by ID).
	Households []store.Household
	Profiles   []store.Profile
	Devices    []store.Device
	Grants     []store.Grant
	Bindings   []store.Binding
	// Deleted are the items removed, by kind and ID (store.Change).
	Deleted []store.Change
	// Lists, when set, replaces the list generation.
	Lists *lists.Compiled
}

// Apply returns the snapshot after d, leaving s as it is. The items d
// changes are patched into a copy of s's state, and the tables are
// compiled again from it: at home they hold tens of items, so the whole
// build costs well under a millisecond of work beside the lists, which are
// reused unless d brings new ones. A backend with millions of households
// can rebuild only the households d touches behind this same signature.
func (s *Snapshot) Apply(d Delta, now time.Time) (*Snapshot, error) {
	st := s.State
	st.Households = patch(st.Households, d.Households, d.Deleted, store.KindHousehold, func(h store.Household) string { return h.ID })
	st.Profiles = patch(st.Profiles, d.Profiles, d.Deleted, store.KindProfile, func(p store.Profile) string { return p.ID })
	st.Devices = patch(st.Devices, d.Devices, d.Deleted, store.KindDevice, func(d store.Device) string { return d.ID })
	st.Grants = patch(st.Grants, d.Grants, d.Deleted, store.KindGrant, func(g store.Grant) string { return g.ID })
	st.Bindings = patch(st.Bindings, d.Bindings, d.Deleted, store.KindBinding, func(b store.Binding) string { return store.BindingID(b.Kind, b.Key) })
	// Deleting a device deletes its grants (store.Store.DeleteDevice).
	for _, c := range d.Deleted {
		if c.Kind == store.KindDevice {
			// A copy: DeleteFunc works in place, and s.State is immutable.
			st.Grants = slices.DeleteFunc(slices.Clone(st.Grants), func(g store.Grant) bool { return g.Device == c.ID })
		}
	}
	if d.Seq != 0 {
		st.Seq = d.Seq
	}
	c := s.Lists
	if d.Lists != nil {
		c = d.Lists
	}
	return s.plan.Compile(s.base, c, st, now)
}

// patch returns items with put replacing or adding items by ID and the
// deleted ones of kind removed, sorted by ID as the store lists them. The
// input slices are not modified.
func patch[T any](items, put []T, deleted []store.Change, kind string, id func(T) string) []T {
	if len(put) == 0 && !slices.ContainsFunc(deleted, func(c store.Change) bool { return c.Kind == kind }) {
		return items
	}
	byID := make(map[string]T, len(items)+len(put))
	for _, it := range items {
		byID[id(it)] = it
	}
	for _, it := range put {
		byID[id(it)] = it
	}
	for _, c := range deleted {
		if c.Kind == kind {
			delete(byID, c.ID)
		}
	}
	out := make([]T, 0, len(byID))
	for _, it := range byID {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b T) int {
		switch x, y := id(a), id(b); {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	return out
}

// ProfileOf returns the profile a device gets (before grants), and the
// default profile for a device the snapshot does not know.
func (s *Snapshot) ProfileOf(device string) string {
	if p, ok := s.merged.profileOf[device]; ok {
		return p
	}
	return s.merged.def
}

// Device returns the device of that name, from the config file or the
// store, with the profile it gets (its own grant profile when it has
// grants).
func (s *Snapshot) Device(name string) (identity.Device, bool) {
	for _, d := range s.merged.devices {
		if d.Name == name {
			return d, true
		}
	}
	return identity.Device{}, false
}

// Plan returns the plan the snapshot was compiled with.
func (s *Snapshot) Plan() *Plan { return s.plan }

// Live holds the Snapshot in effect. Queries load it once, in the Identify
// step; a builder stores the next one. Readers never wait.
type Live struct {
	cur atomic.Pointer[Snapshot]
}

// Load returns the snapshot in effect, or nil before the first Store.
func (l *Live) Load() *Snapshot { return l.cur.Load() }

// Store swaps in s for the queries that follow.
func (l *Live) Store(s *Snapshot) { l.cur.Store(s) }

// Identify returns the Identify step: it loads the snapshot in effect once
// for the query, identifies the device with its tables (see
// identity.Identifier.Apply) and hands the same snapshot's policy on in
// r.Policy, so the Policy step decides with the generation the device was
// identified with.
func (l *Live) Identify() pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(ctx context.Context, w pipeline.ResponseWriter, r *pipeline.Request) error {
			s := l.cur.Load()
			if !s.Identity.Apply(r) {
				return identity.Refuse(w, r)
			}
			r.Policy = s.Policy
			return next.ServeDNS(ctx, w, r)
		})
	}
}
