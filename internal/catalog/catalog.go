// Package catalog owns Hearth's taxonomy: the categories and their default
// sources, the services with their curated domain lists, the presets a new
// profile starts from, the safe-search rewrite table and the names bypass
// protection handles. It reads them from a file system laid out like the
// embedded blocklists folder (see blocklists/README.md), validates everything
// up front, and returns an immutable [Catalog]: after [Load] returns, nothing
// in it changes, so it can be shared by every goroutine without locks.
//
// Category and service ids share one namespace, the tag. Profiles block tags;
// the index builder (internal/domainindex) indexes each category's sources
// and each service's domains under their tags.
package catalog

import (
	"net/netip"

	"github.com/hearth-dns/hearth/blocklists"
	"github.com/hearth-dns/hearth/internal/lists"
)

// Tag kinds returned by [Catalog.Tag].
const (
	KindCategory = "category"
	KindService  = "service"
)

// YouTube restriction levels of a [Preset] and of YouTube [SafeSearchRule]s.
const (
	YouTubeStrict   = "strict"
	YouTubeModerate = "moderate"
	YouTubeOff      = "off"
)

// Match modes of a [Source]: what a plain entry (a name without "*.",
// "||" or another scope of its own) matches.
const (
	// MatchExact: the name only (hosts files as Pi-hole reads them).
	MatchExact = "exact"
	// MatchWWW: the name and "www." + name.
	MatchWWW = "www"
	// MatchSubtree: the name and all its subdomains (UT1, squidGuard).
	MatchSubtree = "subtree"
)

// Precedence classes of a [Category]: which reason is shown when a name
// matches several blocked tags. Services come before every category.
const (
	// PrecedenceNarrow: a specific kind of site (dating, gambling, social),
	// shown before broad categories.
	PrecedenceNarrow = "narrow"
	// PrecedenceBroad: a wide category (adult) that many narrow sites are
	// also listed in; shown only when no narrow category matches.
	PrecedenceBroad = "broad"
	// PrecedenceSecurity: a threat (malware, phishing), shown beside the
	// site's kind rather than instead of it, and alone only when nothing
	// else matches.
	PrecedenceSecurity = "security"
)

// Category is one class of sites from the fixed taxonomy (adult, gambling,
// social, ...), with the public lists that feed it by default.
type Category struct {
	// ID is the stable tag, e.g. "adult".
	ID string
	// Name is the short display name, e.g. "Adult content".
	Name string
	// Description is one plain-language line for parents.
	Description string
	// Precedence is PrecedenceNarrow, PrecedenceBroad or PrecedenceSecurity.
	Precedence string
	// Exclude are names (with their subdomains) the category's sources
	// must not block: a list's known mistakes, such as a developer site
	// in an AI-chat list.
	Exclude []string
	// Sources are the default public lists for the category, downloaded at
	// run time. Empty for an optional category such as newly-registered.
	Sources []Source
	// CuratedFile is our own list of the category's sites that belong to
	// no service (curated/<id>.txt), or "" for none. It is embedded and
	// compiled with the category's default sources, so a fresh install
	// blocks these names before its first download.
	CuratedFile string
	// Curated are the names of CuratedFile, in file order; each covers
	// the name and all its subdomains.
	Curated []string
}

// Source is one default public list of a category.
type Source struct {
	// ID names the source in the list cache, logs and decisions; unique
	// across the catalog.
	ID string
	// URL is the https address of the list.
	URL string
	// Format is a [lists.Format] name in canonical (lower-case) form.
	Format string
	// Licence is the list's licence, e.g. "GPL-3.0" or "CC BY-SA 4.0".
	Licence string
	// Match is MatchExact, MatchWWW or MatchSubtree: what a plain entry
	// of the list matches.
	Match string
	// Embed says the licence lets the list ship inside Hearth's
	// Apache-2.0 binary (MIT, Unlicense, CC0...), so scripts/build-seed
	// may put its most popular names in the embedded offline seed.
	// GPL and share-alike lists are download-only.
	Embed bool
}

// List returns the source as a [lists.Source] ready for the fetcher, with
// the default size and time limits.
func (s Source) List() lists.Source {
	return lists.Source{ID: s.ID, URL: s.URL, Format: lists.Format(s.Format), PlainSubtree: s.Match == MatchSubtree, PlainWWW: s.Match == MatchWWW}
}

// Service is one named app or site, blockable on its own.
type Service struct {
	// ID is the stable tag, e.g. "youtube".
	ID string
	// Name is the display name, e.g. "YouTube".
	Name string
	// Category is the id of the category the service belongs to.
	Category string
	// Domains are the service's names from its file, in file order; each
	// covers the name and all its subdomains.
	Domains []string
	// Background are names (with their subdomains) the service's apps
	// query by themselves, in use or not: telemetry, push, presence and
	// keep-alives. They are blocked with the service, but a query for
	// one is not an active minute of a time budget (docs/budgets.md).
	Background []string
}

// Preset is a ready-made profile to start from (kid, tween, teen, adult).
type Preset struct {
	// ID is the preset's id; presets have their own namespace, not tags.
	ID string
	// Description says who the preset is for, for parents.
	Description string
	// Block lists the blocked tags (category and service ids).
	Block []string
	// SafeSearch turns on every safe-search rule except YouTube's, which
	// follow YouTube.
	SafeSearch bool
	// YouTube is YouTubeStrict, YouTubeModerate or YouTubeOff.
	YouTube string
	// BypassProtection answers the canary and Private Relay names NXDOMAIN,
	// DDR names NODATA, and blocks the bypass tag.
	BypassProtection bool
}

// SafeSearchRule rewrites exact query names of one engine at one level.
// Either CNAME is set, and A and AAAA are fallback addresses for it (to use
// only when the target cannot be resolved), or CNAME is empty and A and AAAA
// are the answer itself.
type SafeSearchRule struct {
	// Engine is the search or video engine, e.g. "google" or "youtube".
	Engine string
	// Level is the restriction the rule implements: "strict" for every
	// engine, and also "moderate" for youtube.
	Level string
	// Names are the exact query names rewritten (not their subdomains).
	Names []string
	// CNAME is the restricted host to answer with, e.g.
	// "forcesafesearch.google.com".
	CNAME string
	// A holds IPv4 addresses: fallbacks for CNAME, or the answer without one.
	A []netip.Addr
	// AAAA holds IPv6 addresses: fallbacks for CNAME, or the answer without one.
	AAAA []netip.Addr
}

// UnsupportedEngine is a search engine with no DNS-enforced safe mode:
// blocked while safe search is on (safesearch.yaml, unsupported).
type UnsupportedEngine struct {
	Engine string
	// Names are the exact query names of the engine's search pages.
	Names []string
}

// Bypass holds the names bypass protection handles.
type Bypass struct {
	// Domains are our curated bypass names (public DoH/DoT resolvers, Tor,
	// VPNs), indexed under the bypass tag; each covers its subdomains.
	Domains []string
	// Canary are names answered NXDOMAIN so that browsers turn off their own
	// DNS over HTTPS (Firefox's use-application-dns.net).
	Canary []string
	// PrivateRelay are names answered NXDOMAIN so that Apple devices turn off
	// iCloud Private Relay.
	PrivateRelay []string
	// DDR are Discovery of Designated Resolvers names (RFC 9462), answered
	// NODATA so clients do not switch to an encrypted resolver on their own.
	DDR []string
}

// Catalog is the validated taxonomy. Its slices keep file order. Treat a
// Catalog as read-only: it is shared. The lookup methods scan the slices
// (the catalog has about a hundred entries); they are for building snapshots
// and answering the API, not for the per-query path, which uses the compiled
// index and a tag bitmask instead.
type Catalog struct {
	// Categories is the taxonomy, from catalog.yaml.
	Categories []Category
	// Services are the named apps and sites, each with its domains.
	Services []Service
	// Presets are the ready-made profiles.
	Presets []Preset
	// SafeSearch is the rewrite table from safesearch.yaml.
	SafeSearch []SafeSearchRule
	// NoSafeSearch are the engines safe search cannot force, blocked while
	// it is on (safesearch.yaml, unsupported).
	NoSafeSearch []UnsupportedEngine
	// Bypass holds the names bypass protection handles.
	Bypass Bypass
}

// Default loads the catalog embedded in the binary ([blocklists.FS]). An
// error means the embedded data is broken, which the package tests rule out.
func Default() (*Catalog, error) { return Load(blocklists.FS) }

// Tag reports whether id is a tag and whether it names a category
// ([KindCategory]) or a service ([KindService]).
func (c *Catalog) Tag(id string) (kind string, ok bool) {
	if _, ok := c.Category(id); ok {
		return KindCategory, true
	}
	if _, ok := c.Service(id); ok {
		return KindService, true
	}
	return "", false
}

// Tags returns every tag: the category ids, then the service ids, each in
// catalog order. The slice is new on every call.
func (c *Catalog) Tags() []string {
	tags := make([]string, 0, len(c.Categories)+len(c.Services))
	for _, cat := range c.Categories {
		tags = append(tags, cat.ID)
	}
	for _, s := range c.Services {
		tags = append(tags, s.ID)
	}
	return tags
}

// Category returns the category with the given id.
func (c *Catalog) Category(id string) (Category, bool) {
	for _, cat := range c.Categories {
		if cat.ID == id {
			return cat, true
		}
	}
	return Category{}, false
}

// Service returns the service with the given id.
func (c *Catalog) Service(id string) (Service, bool) {
	for _, s := range c.Services {
		if s.ID == id {
			return s, true
		}
	}
	return Service{}, false
}

// Preset returns the preset with the given id.
func (c *Catalog) Preset(id string) (Preset, bool) {
	for _, p := range c.Presets {
		if p.ID == id {
			return p, true
		}
	}
	return Preset{}, false
}
