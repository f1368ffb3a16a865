// Package compile is the policy compiler: it turns the config file's and
// the store's profiles, devices, grants and subscriber bindings, checked
// against the catalog, and a compiled list index into one immutable
// Snapshot, the generation of policy every query is decided against, and
// holds the one in effect.
//
// A Snapshot is built off the query path and swapped in with one pointer
// store (Live), so a query identified with one generation is always
// decided with the same one. Apply builds the next Snapshot from the
// previous one and a Delta, the shape a store's change feed and a list
// refresh arrive in, and rebuilds only what the delta touches: the tables
// are persistent (package shardmap, policy.Snapshot.WithProfiles,
// identity.Identifier.Update), so at a million households one change
// costs about what it costs at ten.
package compile

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hearth-dns/hearth/internal/identity"
	"github.com/hearth-dns/hearth/internal/lists"
	"github.com/hearth-dns/hearth/internal/netid"
	"github.com/hearth-dns/hearth/internal/pipeline"
	"github.com/hearth-dns/hearth/internal/policy"
	"github.com/hearth-dns/hearth/internal/store"
)

// Snapshot is one immutable generation of everything a query is decided
// against: the device tables, the policy over the compiled lists, and the
// store items both came from. Nothing in it changes after Compile or
// Apply; the caller must not modify what it points to.
type Snapshot struct {
	// Identity recognises devices.
	Identity *identity.Identifier
	// Policy decides queries; it holds the list index.
	Policy *policy.Snapshot
	// Lists is the list generation Policy was compiled over.
	Lists *lists.Compiled
	// Problems are the store items this build left out, or partly out,
	// because they are wrong (the rest serves): every one for Compile,
	// those of the items a delta touched for Apply. AllProblems has them
	// all.
	Problems []error

	plan *Plan
	base identity.Config
	seq  int64
	// def is the default profile in effect: the config file's, or the
	// home household's when the config file does not write one.
	def   string
	items items
}

// Compile builds the snapshot of p and st over the compiled lists, at now
// (for grant expiry). base is the identifier's config without devices.
// Store items that are wrong are left out and listed in Problems; an error
// means nothing could be built (the previous snapshot keeps serving).
//
// Compile is Apply of the whole state to the snapshot of the config file
// alone, so a snapshot built by deltas and one compiled whole agree; it
// takes Apply's bulk path, which sizes every table once and compiles each
// device in one pass (see compileDevicesBulk).
func (p *Plan) Compile(base identity.Config, c *lists.Compiled, st store.State, now time.Time) (*Snapshot, error) {
	empty, err := p.empty(base, c, expect(st))
	if err != nil {
		return nil, err
	}
	d := Delta{Seq: st.Seq, Households: st.Households, Profiles: st.Profiles, Devices: st.Devices, Grants: st.Grants, Bindings: st.Bindings}
	s, err := empty.apply(d, now, true)
	if err != nil && len(st.Devices) > 0 {
		// Apply checks what identity refuses (package netid); should a
		// store device still slip through, the config's devices serve
		// and every store device gets the default profile, rather than
		// no policy at all.
		d.Devices, d.Grants = nil, nil
		var err2 error
		if s, err2 = empty.apply(d, now, true); err2 == nil {
			s.Problems = append(s.Problems, fmt.Errorf("every store device set aside: %w", err))
			err = nil
		}
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// expect counts what st adds to the identity tables, so that they are
// made at their final size. It may count more (a device set aside, an
// identifier two devices claim), never much more.
func expect(st store.State) identity.Expect {
	x := identity.Expect{Households: len(st.Households)}
	for i := range st.Devices {
		d := &st.Devices[i]
		x.IPs += len(d.IPs)
		x.MACs += len(d.MACs)
		if d.DNSID != nil {
			x.DNSIDs++
		} else {
			x.ClientIDs += len(d.ClientIDs)
		}
	}
	for _, b := range st.Bindings {
		switch b.Kind {
		case store.BindIPv4:
			x.IPv4Bindings++
		case store.BindIPv6:
			x.IPv6Bindings++
		}
	}
	return x
}

// empty is the snapshot of the config file alone, its identity tables
// made for x more from the store.
func (p *Plan) empty(base identity.Config, c *lists.Compiled, x identity.Expect) (*Snapshot, error) {
	pc, err := p.policyConfig(c)
	if err != nil {
		return nil, err
	}
	pc.Profiles, pc.DefaultProfile = p.profiles, p.def
	pol, err := policy.NewSnapshot(pc)
	if err != nil {
		return nil, err
	}
	ic := base
	ic.Devices, ic.DefaultProfile, ic.Expect, ic.ProfileIndex = p.devices, p.def, x, pol
	ident, err := identity.New(ic)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	return &Snapshot{Identity: ident, Policy: pol, Lists: c, plan: p, base: base, def: p.def, items: newItems()}, nil
}

// Delta is a change to a Snapshot: items the store wrote after the
// snapshot's Seq, items it deleted, and a new list generation. Any part
// may be empty.
type Delta struct {
	// Seq is the change feed position the delta brings the state to; 0
	// keeps the snapshot's.
	Seq int64
	// Households, Profiles, Devices, Grants and Bindings were created or
	// replaced (matched by ID; a binding by store.BindingID).
	Households []store.Household
	Profiles   []store.Profile
	Devices    []store.Device
	Grants     []store.Grant
	Bindings   []store.Binding
	// Deleted are the items removed, by kind and ID (store.Change).
	// Deleting a device deletes its grants, as the store does.
	Deleted []store.Change
	// Lists, when set, replaces the list generation.
	Lists *lists.Compiled
}

// Seq returns the change feed position the snapshot includes.
func (s *Snapshot) Seq() int64 { return s.seq }

// State returns the store items the snapshot was built from, sorted as
// the store lists them. It copies every item: it is for saving and
// explaining, not for the query path.
func (s *Snapshot) State() store.State {
	st := store.State{Seq: s.seq}
	st.Households = sortedValues(s.items.households, func(h store.Household) string { return h.ID })
	st.Profiles = sortedValues(s.items.profiles, func(p store.Profile) string { return p.ID })
	st.Devices = sortedValues(s.items.devices, func(d store.Device) string { return d.ID })
	st.Grants = sortedValues(s.items.grants, func(g store.Grant) string { return g.ID })
	st.Bindings = sortedValues(s.items.bindings, func(b store.Binding) string { return b.Kind + "\x00" + b.Key })
	return st
}

// sortedValues returns m's values sorted by key, nil for none.
func sortedValues[V any](m interface {
	Len() int
	All() iter.Seq2[string, V]
}, key func(V) string) []V {
	if m.Len() == 0 {
		return nil
	}
	out := make([]V, 0, m.Len())
	for _, v := range m.All() {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b V) int { return strings.Compare(key(a), key(b)) })
	return out
}

// AllProblems returns the problems of every item the snapshot holds,
// sorted by item.
func (s *Snapshot) AllProblems() []error {
	keys := make([]string, 0, s.items.problems.Len())
	for k := range s.items.problems.All() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []error
	for _, k := range keys {
		errs, _ := s.items.problems.Get(k)
		out = append(out, errs...)
	}
	return out
}

// ProfileOf returns the profile a device gets (before grants), and the
// default profile for a device the snapshot does not know.
func (s *Snapshot) ProfileOf(device string) string {
	for _, d := range s.plan.devices {
		if d.Name == device {
			return d.Profile
		}
	}
	if d, ok := s.items.devices.Get(device); ok && checkStoreDevice(d) == nil {
		return s.baseProfile(s.Policy, d)
	}
	return s.def
}

// Device returns the device of that name, from the config file or the
// store, with the profile it gets (its own grant profile when it has
// grants).
func (s *Snapshot) Device(name string) (identity.Device, bool) {
	for _, d := range s.plan.devices {
		if d.Name == name {
			if gp, ok := s.items.grantProf.Get(name); ok {
				d.Profile = gp
			}
			return d, true
		}
	}
	sd, ok := s.items.devices.Get(name)
	if !ok || checkStoreDevice(sd) != nil {
		return identity.Device{}, false
	}
	d := s.identityDevice(sd, func(netid.Key) bool { return true })
	d.Profile = s.baseProfile(s.Policy, sd)
	if gp, ok := s.items.grantProf.Get(name); ok {
		d.Profile = gp
	}
	return d, true
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
