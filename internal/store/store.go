// Package store owns what parents and ISP systems change while Hearth
// runs: households, profiles, devices, grants, admin users, sessions, API
// tokens and settings. One interface, Store, has one test suite
// (storetest.Run) that every implementation passes: SQLite in the data
// directory (package sqlite) is the default, PostgreSQL (for many
// resolver nodes) comes later.
//
// Every policy write (households, profiles, devices, grants) appends to a
// change feed in the same transaction, so a node that missed a wake-up can
// still catch up with Changes(after).
package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-dns/hearth/internal/profile"
)

// Errors every implementation returns, matched with errors.Is.
var (
	// ErrNotFound: no item has that id.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the item changed since it was read (its Version is not
	// the stored one), or an item with that id or name already exists.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the caller sent something no state of the store could
	// accept: a malformed id, a missing required field, a reference to
	// an item that does not exist or belongs to another household.
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable: the store could not be reached (a database server
	// that is down or unreachable); nothing was written, and the same
	// call may succeed later.
	ErrUnavailable = errors.New("store unavailable")
)

// ValidateID checks the id of a household, profile, device, grant or
// token: 1 to 63 characters of a-z, 0-9 and '-', so that it fits a DNS
// label, a URL path segment and a log line without escaping. kind names
// the item in the error, which wraps ErrInvalid.
func ValidateID(kind, id string) error {
	ok := len(id) >= 1 && len(id) <= 63
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
	}
	if !ok {
		return fmt.Errorf("%s id %q: want 1-63 characters of a-z, 0-9 and '-': %w", kind, id, ErrInvalid)
	}
	return nil
}

// HomeHousehold is the household of a home installation: its default
// profile is the profile of devices no one has claimed yet, and new
// devices are recorded in it.
const HomeHousehold = "home"

// Change kinds: the item kinds a policy write can change.
const (
	KindHousehold = "household"
	KindProfile   = "profile"
	KindDevice    = "device"
	KindGrant     = "grant"
	KindBinding   = "binding"
)

// Household is a tenant: one home, or one ISP subscriber.
type Household struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// DefaultProfile is the profile id new devices of the household get.
	DefaultProfile string `json:"default_profile"`
	// TimeZone is an IANA zone name ("Europe/Paris"); "" means UTC.
	TimeZone string `json:"time_zone"`
	Version  int64  `json:"version"`
}

// Profile is a policy that devices are given: the one profile model
// (package profile), which the config file and the API use too. The
// store keeps it whole in a JSON column; rows older versions wrote are
// rewritten to today's form by a schema migration.
type Profile = profile.Profile

// Schedule is one weekly window of a profile (package profile).
type Schedule = profile.Schedule

// Device is a named thing a household owns, with the identifiers that
// recognise it and the profile it gets.
type Device struct {
	ID        string `json:"id"`
	Household string `json:"household"`
	Name      string `json:"name"`
	Profile   string `json:"profile"`
	// IPs, MACs ("aa:bb:cc:dd:ee:ff") and ClientIDs identify the device.
	IPs       []string `json:"ips,omitempty"`
	MACs      []string `json:"macs,omitempty"`
	ClientIDs []string `json:"client_ids,omitempty"`
	// DNSID is the encrypted-DNS id Hearth made for the device; nil
	// until a parent sets one up. While it is set, ClientIDs (chosen
	// names, which anyone can type) are empty.
	DNSID *DNSID `json:"dns_id,omitempty"`
	// Hostname is what DHCP or a PTR record called it when first seen.
	Hostname string `json:"hostname,omitempty"`
	// New is true for a device recorded from its first query and not yet
	// claimed by a parent.
	New       bool      `json:"new"`
	FirstSeen time.Time `json:"first_seen"`
	Version   int64     `json:"version"`
}

// DNSID is what is kept of a device's encrypted-DNS id: never the
// secret, which the parent sees once, only its hash and what tells it
// apart in the UI.
type DNSID struct {
	// Hash is the hex SHA-256 of the secret; unique across devices.
	// It travels with the store state (the policy snapshot file keeps
	// it) but the API never shows it.
	Hash string `json:"hash,omitempty"`
	// Label is the readable part of the id ("dads-phone"); it alone
	// identifies nothing.
	Label string `json:"label,omitempty"`
	// Hint is the secret's first four characters.
	Hint string `json:"hint"`
	// Created is when the id was made, in UTC.
	Created time.Time `json:"created"`
}

// Grant kinds.
const (
	// GrantPause blocks everything but the profile's allow list.
	GrantPause = "pause"
	// GrantAllow allows Target: a tag (category or service id) or a
	// domain (with its subdomains).
	GrantAllow = "allow"
	// GrantExtraTime adds minutes to today's time budget of a tag until
	// it resets at midnight; Target is ExtraTimeTarget(tag, minutes).
	GrantExtraTime = "extra-time"
)

// ExtraTimeTarget is the Target of an extra-time grant: "games+15". The
// minutes travel in the target so that both stores keep grants in the
// columns they have.
func ExtraTimeTarget(tag string, minutes int) string { return fmt.Sprintf("%s+%d", tag, minutes) }

// ParseExtraTimeTarget splits an extra-time grant's Target.
func ParseExtraTimeTarget(t string) (tag string, minutes int, err error) {
	i := strings.LastIndexByte(t, '+')
	if i <= 0 {
		return "", 0, fmt.Errorf("extra-time target %q: want tag+minutes: %w", t, ErrInvalid)
	}
	m, err := strconv.Atoi(t[i+1:])
	if err != nil || m < 1 || m > 24*60 {
		return "", 0, fmt.Errorf("extra-time target %q: minutes must be 1 to 1440: %w", t, ErrInvalid)
	}
	return t[:i], m, nil
}

// Grant is a temporary, device-scoped change that ends by itself.
type Grant struct {
	ID     string    `json:"id"`
	Device string    `json:"device"`
	Kind   string    `json:"kind"`
	Target string    `json:"target,omitempty"`
	Until  time.Time `json:"until"`
	// By is the user who made it, for the record.
	By      string    `json:"by,omitempty"`
	Created time.Time `json:"created"`
}

// User is an account of the admin API and web UI.
type User struct {
	Name string `json:"name"`
	// PasswordHash is a PHC string ("$argon2id$v=19$...").
	PasswordHash string    `json:"-"`
	Created      time.Time `json:"created"`
	// Household is "" for an operator, who manages every household, or
	// the id of the one household the user sees and changes.
	Household string `json:"household,omitempty"`
}

// Session is a logged-in browser. Only the hash of its cookie is kept.
type Session struct {
	// Hash is the hex SHA-256 of the cookie value.
	Hash string
	User string
	// CSRF is the token the UI sends back in a header with every change.
	CSRF    string
	Expires time.Time
}

// Token scopes: what a bearer token may do.
const (
	// ScopeAdmin may do everything its user may.
	ScopeAdmin = "admin"
	// ScopeRead may read the API (GET, HEAD) and /metrics.
	ScopeRead = "read"
	// ScopeMetrics may only read /metrics.
	ScopeMetrics = "metrics"
)

// Token is a bearer token for automation. Only its hash is kept.
type Token struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	User string `json:"user"`
	// Hash is the hex SHA-256 of the token.
	Hash    string    `json:"-"`
	Created time.Time `json:"created"`
	// Scope is ScopeAdmin, ScopeRead or ScopeMetrics; "" reads as
	// ScopeAdmin (tokens made before scopes existed could do everything).
	Scope string `json:"scope"`
	// Expires is when the token stops working; zero means never.
	Expires time.Time `json:"expires"`
	// LastUsed is when the token last authenticated a request (to the
	// precision TouchToken was called with); zero means never.
	LastUsed time.Time `json:"last_used"`
	// Household is "" for an operator's token, or the id of the one
	// household the token sees and changes.
	Household string `json:"household,omitempty"`
}

// Binding kinds: what an ISP subscriber's queries are recognised by.
const (
	// BindIPv4 is an assigned IPv4 address ("192.0.2.7").
	BindIPv4 = "ipv4"
	// BindIPv6 is a delegated IPv6 prefix, /48 to /64
	// ("2001:db8:7::/56", masked).
	BindIPv6 = "ipv6"
	// BindCPE is a CPE id, sent in EDNS option 65074.
	BindCPE = "cpe"
	// BindClientID is a DoH or DoT client id.
	BindClientID = "client_id"
)

// Binding ties one subscriber identifier to a household: every query that
// carries it is the household's, with its default profile unless a device
// of the household is recognised more precisely. Kind and Key, together,
// are unique; Key is in canonical form (package netid). Its change-feed
// ID is BindingID(Kind, Key).
type Binding struct {
	Kind      string `json:"kind"`
	Key       string `json:"key"`
	Household string `json:"household"`
	// Origin is who wrote it: "api", "import" or "radius".
	Origin string `json:"origin,omitempty"`
	// Session is the RADIUS Acct-Session-Id that made it, if any, so
	// that a Stop removes only the binding its own session made.
	Session string    `json:"session,omitempty"`
	Updated time.Time `json:"updated"`
}

// BindingID is the change-feed ID of the binding of that kind and key.
func BindingID(kind, key string) string { return kind + ":" + key }

// Change is one entry of the change feed: the kind of item ("household",
// "profile", "device", "grant", "binding") and its id, after the write numbered Seq.
type Change struct {
	Seq  int64  `json:"seq"`
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// Deleted is true when the write removed the item.
	Deleted bool `json:"deleted"`
}

// FeedPage is a page of the change feed with the grants it names, read
// in one statement by a store that can (policysync.FeedReader): grants
// are the busiest writes, and a node following the feed then needs one
// round trip per page instead of two.
type FeedPage struct {
	Changes []Change
	// Grants are the stored grants that the page's entries of KindGrant
	// name (those not Deleted), each once, as stored when read; a grant
	// named but missing was deleted since.
	Grants []Grant
	// At is when the page's last change was written, by the clock of
	// the node that wrote it; zero for an empty page.
	At time.Time
}

// State is everything policy is built from, read in one transaction.
type State struct {
	// Seq is the change feed position the state includes.
	Seq        int64
	Households []Household
	Profiles   []Profile
	Devices    []Device
	Grants     []Grant
	// Bindings are the ISP subscriber bindings, sorted by Kind then Key.
	Bindings []Binding
}

// Store is the interface every backend implements. Writes are durable when
// they return (a crash right after loses nothing acknowledged). Put
// creates an item whose Version is 0 and otherwise updates it only if
// Version is the stored one (ErrConflict if not); it returns the item as
// stored, with its new Version. List methods with a household filter take
// "" for all; lists are sorted by ID (users by Name). Get and Delete of a
// missing item return ErrNotFound.
//
// References are kept whole. A profile and a device need an existing
// Household. A device's Profile is "" (its household's DefaultProfile), a
// profile of the same household, or a name the store does not hold (a
// preset, or a profile of the config file: the caller checks those); so
// is a household's DefaultProfile. A grant needs an
// existing Device, a session and a token an existing User. A user's and a
// token's Household is "" or an existing household. A reference
// that does not hold is ErrInvalid; a delete or a move (a profile changing
// household) that would break one is ErrConflict.
//
// Time values come back in UTC and compare Equal to what was stored.
// Empty lists come back nil.
type Store interface {
	// Load reads the whole policy state in one consistent view.
	Load(ctx context.Context) (State, error)
	// Changes returns the changes after seq, oldest first, at most limit
	// (which must be positive). One write that changes several items
	// lists them in a fixed order: DeleteDevice its grants (by ID) then
	// the device, DeleteExpiredGrants the grants by ID.
	Changes(ctx context.Context, after int64, limit int) ([]Change, error)
	// Version summarises the policy state in one consistent view, cheaply
	// (no item is read whole), for nodes to check that their copy agrees
	// with the store: it equals Summarize(Load()).
	Version(ctx context.Context) (Version, error)
	// Notify returns a channel that receives (without blocking the
	// writer: it holds at most one pending value) after every committed
	// policy write, from this process or, for shared backends, others.
	Notify() <-chan struct{}

	Households(ctx context.Context) ([]Household, error)
	Household(ctx context.Context, id string) (Household, error)
	PutHousehold(ctx context.Context, h Household) (Household, error)
	// DeleteHousehold deletes a household that owns no profile, no
	// device, no user and no token (ErrConflict); its bindings go with
	// it, in the feed before the household (by Kind then Key).
	DeleteHousehold(ctx context.Context, id string) error

	Profiles(ctx context.Context, household string) ([]Profile, error)
	Profile(ctx context.Context, id string) (Profile, error)
	PutProfile(ctx context.Context, p Profile) (Profile, error)
	// DeleteProfile fails with ErrConflict while a device uses it.
	DeleteProfile(ctx context.Context, id string) error

	Devices(ctx context.Context, household string) ([]Device, error)
	Device(ctx context.Context, id string) (Device, error)
	PutDevice(ctx context.Context, d Device) (Device, error)
	// DeleteDevice deletes the device and its grants.
	DeleteDevice(ctx context.Context, id string) error

	// Grants returns the grants of a device, or all with device "".
	Grants(ctx context.Context, device string) ([]Grant, error)
	// Grant returns the grant of that id.
	Grant(ctx context.Context, id string) (Grant, error)
	// AddGrant stores g with a new ID when g.ID is "".
	AddGrant(ctx context.Context, g Grant) (Grant, error)
	DeleteGrant(ctx context.Context, id string) error
	// DeleteExpiredGrants removes the grants whose Until is not after now
	// and returns how many it removed.
	DeleteExpiredGrants(ctx context.Context, now time.Time) (int, error)

	// Bindings returns the bindings of household, or all with "",
	// sorted by Kind then Key.
	Bindings(ctx context.Context, household string) ([]Binding, error)
	// Binding returns the binding of kind and key (any spelling netid
	// accepts).
	Binding(ctx context.Context, kind, key string) (Binding, error)
	// PutBindings creates or replaces bindings by Kind and Key, all in
	// one transaction: each must pass Binding.Canonical and name an
	// existing household (ErrInvalid), or none is stored. A binding
	// moving to another household is one change. A zero Updated is the
	// time of the write. A binding equal to the stored one (SameBinding)
	// is not written again and appends no change. Within bs, the last of
	// one Kind and Key wins. It returns how many bindings changed; the
	// feed lists them by Kind then Key.
	PutBindings(ctx context.Context, bs []Binding) (int, error)
	// DeleteBindings deletes the bindings named (see BindingKey), in one
	// transaction, skipping those that do not exist (or, for a key with
	// a Session, that another session made), and returns how many it
	// deleted.
	DeleteBindings(ctx context.Context, keys []BindingKey) (int, error)

	Users(ctx context.Context) ([]User, error)
	User(ctx context.Context, name string) (User, error)
	// PutUser creates or replaces a user.
	PutUser(ctx context.Context, u User) error
	// DeleteUser deletes a user with its sessions and tokens.
	DeleteUser(ctx context.Context, name string) error
	// ChangePassword sets the password hash of an existing user and, in
	// the same transaction, deletes the user's sessions except the one
	// whose hash is keepSession ("" keeps none) and all the user's
	// tokens: whoever held them may be why the password changed.
	ChangePassword(ctx context.Context, name, hash, keepSession string) error

	CreateSession(ctx context.Context, s Session) error
	Session(ctx context.Context, hash string) (Session, error)
	DeleteSession(ctx context.Context, hash string) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)

	// CreateToken stores t with a new ID when t.ID is "".
	CreateToken(ctx context.Context, t Token) (Token, error)
	Tokens(ctx context.Context) ([]Token, error)
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// TokenWithUser returns the token that hashes to hash and its user,
	// read in one query (a bearer token is checked on every API request).
	// A token whose user is missing is ErrNotFound.
	TokenWithUser(ctx context.Context, hash string) (Token, User, error)
	DeleteToken(ctx context.Context, id string) error
	// TouchToken records that token id was used at the time at.
	TouchToken(ctx context.Context, id string, at time.Time) error

	// Setting returns a setting's value, and false when it is not set.
	Setting(ctx context.Context, key string) (string, bool, error)
	PutSetting(ctx context.Context, key, value string) error

	Close() error
}

// DeviceIdentifiers is a store that finds the devices holding given
// identifiers through an index. The API checks that a device's addresses,
// MACs and client ids are no other device's before it writes one; without
// this, that check reads every device, which at thousands of devices is
// most of a device write's cost.
type DeviceIdentifiers interface {
	// DevicesWithIdentifiers returns, in any order, every device whose
	// IPs hold one of ips, whose MACs one of macs or whose ClientIDs one
	// of clientIDs (values as stored: the API stores canonical forms,
	// netid.KeyOf).
	DevicesWithIdentifiers(ctx context.Context, ips, macs, clientIDs []string) ([]Device, error)
}

// Version is a cheap summary of a policy state: its change-feed position
// and, per item kind, how many items there are and the sum of their
// versions. Two states with equal Versions almost surely hold the same
// items; a node that missed or misapplied a change differs in a count or
// a sum, or in Seq.
type Version struct {
	Seq int64 `json:"seq"`
	// Kinds maps a change kind (KindHousehold...) to its summary. A store
	// lists every kind it holds, even when it has no items of it.
	Kinds map[string]KindSum `json:"kinds"`
}

// KindSum summarises the items of one kind.
type KindSum struct {
	Count int64 `json:"count"`
	// Versions is the sum of the items' Version fields; 0 for kinds
	// without one (grants, bindings).
	Versions int64 `json:"versions"`
}

// Summarize returns the Version of st, as Store.Version would answer for
// it.
func Summarize(st State) Version {
	v := Version{Seq: st.Seq, Kinds: make(map[string]KindSum, 5)}
	var h, p, d KindSum
	for _, x := range st.Households {
		h.Count, h.Versions = h.Count+1, h.Versions+x.Version
	}
	for _, x := range st.Profiles {
		p.Count, p.Versions = p.Count+1, p.Versions+x.Version
	}
	for _, x := range st.Devices {
		d.Count, d.Versions = d.Count+1, d.Versions+x.Version
	}
	v.Kinds[KindHousehold], v.Kinds[KindProfile], v.Kinds[KindDevice] = h, p, d
	v.Kinds[KindGrant] = KindSum{Count: int64(len(st.Grants))}
	v.Kinds[KindBinding] = KindSum{Count: int64(len(st.Bindings))}
	return v
}

// Disagrees compares the Version a node computed from its own state
// (Summarize) with the store's, and describes the first difference, or
// returns "" when they agree. Only the kinds the store lists are
// compared, so that a node can run beside a store that does not hold a
// kind yet.
func (v Version) Disagrees(store Version) string {
	if v.Seq != store.Seq {
		return fmt.Sprintf("change feed at %d, store at %d", v.Seq, store.Seq)
	}
	for _, k := range slices.Sorted(maps.Keys(store.Kinds)) {
		want := store.Kinds[k]
		if got := v.Kinds[k]; got != want {
			return fmt.Sprintf("%ss: %d (versions %d), store has %d (versions %d)", k, got.Count, got.Versions, want.Count, want.Versions)
		}
	}
	return ""
}
