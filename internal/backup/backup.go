// Package backup owns Hearth's export format: one versioned JSON document
// ({"format": "hearth-export", "version": 1, ...}) with the households,
// profiles, devices and settings of a store, and the import that puts such
// a document into a store.
//
// An export never holds password hashes, sessions or API tokens: accounts
// stay with the install. It holds no grants either: every grant ends by
// itself within days (an "always" allow is a profile's allow list, which
// the profile carries). A device's DNS id travels as its hash, so a
// restored device keeps working without being set up again.
//
// Import is all or nothing: every item is checked first, with the
// checks the API applies to its writes (a Checker), and only a document
// that passes is written; should a write still fail, what was written is
// removed and, after --replace, the previous content put back.
package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/hearth-dns/hearth/internal/store"
)

// Format is the "format" value of every export.
const Format = "hearth-export"

// Version is the export version this build writes and the newest it reads.
const Version = 1

// MaxSize bounds a document Decode reads: a home's export is a few
// kilobytes; this leaves room for thousands of devices.
const MaxSize = 32 << 20

// Document is one export.
type Document struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Exported is when the export was made, in UTC.
	Exported   time.Time         `json:"exported"`
	Households []store.Household `json:"households"`
	Profiles   []store.Profile   `json:"profiles"`
	Devices    []store.Device    `json:"devices"`
	// Bindings are the ISP subscriber bindings, when the store has any.
	Bindings []store.Binding `json:"bindings,omitempty"`
	// Settings are the store's settings that describe the install
	// (SettingKeys); never a secret such as the first-run setup code.
	Settings map[string]string `json:"settings"`
}

// SettingKeys are the settings an export carries. The first-run setup
// code is not one of them: it is a secret, and it belongs to the install.
var SettingKeys = []string{"configured"}

// Export reads st in one consistent view (store.Store.Load) and returns it
// as a Document made at now. Versions are left out (an import starts
// every item afresh), so exporting an imported store gives the same
// document.
func Export(ctx context.Context, st store.Store, now time.Time) (*Document, error) {
	s, err := st.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: reading the store: %w", err)
	}
	d := &Document{
		Format: Format, Version: Version, Exported: now.UTC().Truncate(time.Second),
		Households: nonNil(s.Households), Profiles: nonNil(s.Profiles), Devices: nonNil(s.Devices),
		Bindings: s.Bindings, Settings: map[string]string{},
	}
	for i := range d.Households {
		d.Households[i].Version = 0
	}
	for i := range d.Profiles {
		d.Profiles[i].Version = 0
	}
	for i := range d.Devices {
		d.Devices[i].Version = 0
	}
	for _, k := range SettingKeys {
		v, ok, err := st.Setting(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("export: reading setting %q: %w", k, err)
		}
		if ok {
			d.Settings[k] = v
		}
	}
	return d, nil
}

// Write writes d as indented JSON.
func (d *Document) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

// ErrFutureVersion is what Decode returns (wrapped) for a document a newer
// Hearth wrote.
var ErrFutureVersion = errors.New("made by a newer Hearth")

// Decode reads one export from r: at most MaxSize bytes, the format and
// version checked before anything else, then the rest strictly (an
// unknown field is an error, not silently dropped data).
func Decode(r io.Reader) (*Document, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the export: %w", err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("the export is larger than %d MiB", MaxSize>>20)
	}
	var head struct {
		Format  *string `json:"format"`
		Version *int    `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("not a Hearth export: %v", err)
	}
	switch {
	case head.Format == nil || *head.Format != Format:
		return nil, fmt.Errorf(`not a Hearth export: want "format": %q`, Format)
	case head.Version == nil || *head.Version < 1:
		return nil, errors.New(`version: want a positive "version"`)
	case *head.Version > Version:
		return nil, fmt.Errorf("version %d: %w; this Hearth reads exports up to version %d: upgrade Hearth to import it", *head.Version, ErrFutureVersion, Version)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d Document
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("reading the export: %v", err)
	}
	if dec.More() {
		return nil, errors.New("reading the export: data after the document")
	}
	return &d, nil
}

// Checker checks items as the API checks its writes (package api
// implements it), so that an import accepts exactly what parents could
// have entered.
type Checker interface {
	// CheckHousehold checks a household; profileExists says whether a
	// profile id is known.
	CheckHousehold(h store.Household, profileExists func(string) bool) error
	// CheckProfile checks a profile's fields against the catalog.
	CheckProfile(p store.Profile) error
	// CheckDevices checks devices and returns them with their identifiers
	// in canonical form; an identifier two devices (or a device and one of
	// the config file) share is an error naming both.
	CheckDevices(ds []store.Device, profileExists func(string) bool) ([]store.Device, error)
	// Provisioned returns the profiles and devices of the config file
	// and the presets, which an import may refer to but not redefine.
	Provisioned() ([]store.Profile, []store.Device)
}

// Options says how Import writes.
type Options struct {
	// Checker checks every item; required.
	Checker Checker
	// Replace allows importing into a store that holds households,
	// profiles or devices: they are deleted first. Accounts (users,
	// sessions, tokens) are kept either way.
	Replace bool
}

// ErrNotEmpty is what Import returns (wrapped) when the store holds policy
// items and Options.Replace is false.
var ErrNotEmpty = errors.New("the store is not empty")

// ErrInvalid is what Import's error matches (errors.Is) when the document
// fails a check: the caller's fault, not the store's.
var ErrInvalid = errors.New("invalid export")

// invalidError marks a check failure as ErrInvalid and keeps its text.
type invalidError struct{ error }

func (e invalidError) Is(target error) bool { return target == ErrInvalid }
func (e invalidError) Unwrap() error        { return e.error }

// Result counts what Import wrote.
type Result struct {
	Households int `json:"households"`
	Profiles   int `json:"profiles"`
	Devices    int `json:"devices"`
	// Replaced is true when existing items were deleted first.
	Replaced bool `json:"replaced"`
}

// itemError names the item a problem is with.
func itemError(kind string, i int, id string, err error) error {
	return fmt.Errorf("%s[%d] %q: %w", kind, i, id, err)
}

// Check checks every item of d with c, and d's references among its own
// items and the provisioned ones, without writing anything. It returns d
// with identifiers in canonical form. Errors name the item
// ("devices[3] \"tablet\": ips[0]: ...").
func Check(d *Document, c Checker) (*Document, error) {
	if len(d.Bindings) > 0 {
		return nil, fmt.Errorf("bindings: this Hearth cannot import ISP subscriber bindings yet (%d in the export)", len(d.Bindings))
	}
	for k := range d.Settings {
		if !slices.Contains(SettingKeys, k) {
			return nil, fmt.Errorf("settings: unknown key %q (known: %s)", k, strings.Join(SettingKeys, ", "))
		}
	}
	provProfiles, provDevices := c.Provisioned()
	provisioned := map[string]bool{}
	for _, p := range provProfiles {
		provisioned[p.ID] = true
	}
	households := map[string]bool{}
	for i, h := range d.Households {
		if households[h.ID] {
			return nil, itemError("households", i, h.ID, errors.New("id: a second household with this id"))
		}
		households[h.ID] = true
	}
	profileHousehold := map[string]string{}
	for i, p := range d.Profiles {
		if err := c.CheckProfile(p); err != nil {
			return nil, itemError("profiles", i, p.ID, err)
		}
		switch {
		case provisioned[p.ID]:
			return nil, itemError("profiles", i, p.ID, errors.New("id: a profile of the config file or a preset has this id"))
		case profileHousehold[p.ID] != "":
			return nil, itemError("profiles", i, p.ID, errors.New("id: a second profile with this id"))
		case !households[p.Household]:
			return nil, itemError("profiles", i, p.ID, fmt.Errorf("household: no household %q in the export", p.Household))
		}
		profileHousehold[p.ID] = p.Household
	}
	exists := func(id string) bool { return provisioned[id] || profileHousehold[id] != "" }
	for i, h := range d.Households {
		if err := c.CheckHousehold(h, exists); err != nil {
			return nil, itemError("households", i, h.ID, err)
		}
		if ph := profileHousehold[h.DefaultProfile]; ph != "" && ph != h.ID {
			return nil, itemError("households", i, h.ID, fmt.Errorf("default_profile: profile %q belongs to household %q", h.DefaultProfile, ph))
		}
	}
	provDevice := map[string]bool{}
	for _, dv := range provDevices {
		provDevice[dv.ID] = true
	}
	seen := map[string]bool{}
	for i, dv := range d.Devices {
		switch {
		case provDevice[dv.ID]:
			return nil, itemError("devices", i, dv.ID, errors.New("id: a device of the config file has this id"))
		case seen[dv.ID]:
			return nil, itemError("devices", i, dv.ID, errors.New("id: a second device with this id"))
		case !households[dv.Household]:
			return nil, itemError("devices", i, dv.ID, fmt.Errorf("household: no household %q in the export", dv.Household))
		}
		if ph := profileHousehold[dv.Profile]; ph != "" && ph != dv.Household {
			return nil, itemError("devices", i, dv.ID, fmt.Errorf("profile: profile %q belongs to household %q", dv.Profile, ph))
		}
		seen[dv.ID] = true
	}
	devices, err := c.CheckDevices(slices.Clone(d.Devices), exists)
	if err != nil {
		return nil, err
	}
	out := *d
	out.Devices = devices
	return &out, nil
}

// Import checks d (Check) and writes it into st: all of it, or, when a
// check or a write fails, nothing. A store that already holds policy
// items is refused with ErrNotEmpty unless o.Replace.
func Import(ctx context.Context, st store.Store, d *Document, o Options) (Result, error) {
	if o.Checker == nil {
		return Result{}, errors.New("import: no checker")
	}
	if d.Format != Format || d.Version < 1 || d.Version > Version {
		return Result{}, fmt.Errorf("import: format %q version %d: want %q up to version %d", d.Format, d.Version, Format, Version)
	}
	d, err := Check(d, o.Checker)
	if err != nil {
		return Result{}, fmt.Errorf("import: %w", invalidError{err})
	}
	prev, err := st.Load(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("import: reading the store: %w", err)
	}
	res := Result{Households: len(d.Households), Profiles: len(d.Profiles), Devices: len(d.Devices)}
	if !stateEmpty(prev) && !o.Replace {
		return Result{}, fmt.Errorf("import: %w (%d households, %d profiles, %d devices): import into a fresh install, or replace its content (--replace, or \"replace\" in the UI)",
			ErrNotEmpty, len(prev.Households), len(prev.Profiles), len(prev.Devices))
	}
	if len(prev.Households) > 0 {
		// A fresh install holds the home household (made when the store
		// is opened, and set by the first-run wizard) and may have
		// recorded new devices: the export's items replace them (the
		// home household is updated in place).
		if err := clearState(ctx, st, prev); err != nil {
			// Deletes stopped part way: put back what is gone.
			return Result{}, restoreAfter(ctx, st, prev, fmt.Errorf("import: removing the current content: %w", err))
		}
		res.Replaced = !stateEmpty(prev)
	}
	if err := write(ctx, st, d); err != nil {
		return Result{}, restoreAfter(ctx, st, prev, fmt.Errorf("import: %w", err))
	}
	return res, nil
}

// restoreAfter undoes a failed import: it clears the store and writes
// prev back. It returns cause, with what went wrong while undoing.
func restoreAfter(ctx context.Context, st store.Store, prev store.State, cause error) error {
	// The undo runs even when ctx was cancelled (a client that went away
	// must not leave half an import behind).
	ctx = context.WithoutCancel(ctx)
	cur, err := st.Load(ctx)
	if err == nil {
		err = clearState(ctx, st, cur)
	}
	if err == nil {
		err = write(ctx, st, &Document{Households: prev.Households, Profiles: prev.Profiles, Devices: prev.Devices, Settings: map[string]string{}}, prev.Grants...)
	}
	if err != nil {
		return fmt.Errorf("%w; undoing it also failed, the store may hold part of the import: %v", cause, err)
	}
	return fmt.Errorf("%w; nothing was changed", cause)
}

// stateEmpty reports whether s is a fresh install's: nothing a parent
// made, only the home household and the unclaimed devices recorded from
// their first queries (and the grants of those, such as a pause of all).
func stateEmpty(s store.State) bool {
	for _, h := range s.Households {
		if h.ID != store.HomeHousehold {
			return false
		}
	}
	for _, d := range s.Devices {
		if !d.New {
			return false
		}
	}
	return len(s.Profiles) == 0 && len(s.Bindings) == 0
}

// clearState deletes every policy item of s from st but the home
// household, in the order references allow: devices (with their grants),
// households' default profiles, profiles, households.
func clearState(ctx context.Context, st store.Store, s store.State) error {
	if len(s.Bindings) > 0 {
		return fmt.Errorf("the store holds %d ISP subscriber bindings, which this Hearth cannot replace yet", len(s.Bindings))
	}
	for _, d := range s.Devices {
		if err := st.DeleteDevice(ctx, d.ID); err != nil {
			return fmt.Errorf("deleting device %q: %w", d.ID, err)
		}
	}
	for _, h := range s.Households {
		if h.DefaultProfile == "" {
			continue
		}
		cur, err := st.Household(ctx, h.ID)
		if err != nil {
			return fmt.Errorf("reading household %q: %w", h.ID, err)
		}
		cur.DefaultProfile = ""
		if _, err := st.PutHousehold(ctx, cur); err != nil {
			return fmt.Errorf("clearing the default profile of household %q: %w", h.ID, err)
		}
	}
	for _, p := range s.Profiles {
		if err := st.DeleteProfile(ctx, p.ID); err != nil {
			return fmt.Errorf("deleting profile %q: %w", p.ID, err)
		}
	}
	for _, h := range s.Households {
		// The home household stays (write updates it): the resolver
		// records new devices into it at any moment, and it is what
		// every install has.
		if h.ID == store.HomeHousehold {
			continue
		}
		if err := st.DeleteHousehold(ctx, h.ID); err != nil {
			return fmt.Errorf("deleting household %q: %w", h.ID, err)
		}
	}
	return nil
}

// write puts d's items (and grants, when undoing) into st, which holds
// none of them but the home household: households without their default
// profile first, then profiles, then the default profiles, then devices.
func write(ctx context.Context, st store.Store, d *Document, grants ...store.Grant) error {
	for i, h := range d.Households {
		h.Version, h.DefaultProfile = 0, ""
		cur, err := st.Household(ctx, h.ID)
		switch {
		case err == nil:
			h.Version = cur.Version // the home household: updated
		case !errors.Is(err, store.ErrNotFound):
			return itemError("households", i, h.ID, err)
		}
		if _, err := st.PutHousehold(ctx, h); err != nil {
			return itemError("households", i, h.ID, err)
		}
	}
	for i, p := range d.Profiles {
		p.Version = 0
		if _, err := st.PutProfile(ctx, p); err != nil {
			return itemError("profiles", i, p.ID, err)
		}
	}
	for i, h := range d.Households {
		if h.DefaultProfile == "" {
			continue
		}
		cur, err := st.Household(ctx, h.ID)
		if err != nil {
			return itemError("households", i, h.ID, err)
		}
		cur.DefaultProfile = h.DefaultProfile
		if _, err := st.PutHousehold(ctx, cur); err != nil {
			return itemError("households", i, h.ID, err)
		}
	}
	for i, dv := range d.Devices {
		dv.Version = 0
		if _, err := st.PutDevice(ctx, dv); err != nil {
			return itemError("devices", i, dv.ID, err)
		}
	}
	for _, g := range grants {
		if _, err := st.AddGrant(ctx, g); err != nil {
			return fmt.Errorf("grant %q: %w", g.ID, err)
		}
	}
	for _, k := range SettingKeys {
		if v, ok := d.Settings[k]; ok {
			if err := st.PutSetting(ctx, k, v); err != nil {
				return fmt.Errorf("setting %q: %w", k, err)
			}
		}
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
