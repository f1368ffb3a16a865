// Package policy decides what Hearth does with one query for one device:
// allow it, block it, rewrite it to a safe-search host, or answer it
// NXDOMAIN or NODATA to stop DNS bypass. It is pure: no I/O, no clock of
// its own, no DNS library; Decide reads an immutable Snapshot and does not
// allocate.
package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hearth-dns/hearth/internal/domainindex"
)

// Action is what to do with a query.
type Action uint8

// The actions a Decision can carry.
const (
	// Allow resolves the query normally.
	Allow Action = iota
	// Block answers with the blocking mode's answer (0.0.0.0, NXDOMAIN or
	// the block page address).
	Block
	// Rewrite answers with a CNAME to a safe-search host.
	Rewrite
	// NXDomain answers NXDOMAIN: the Firefox canary and iCloud Private
	// Relay names, whose absence turns those bypasses off.
	NXDomain
	// NoData answers NOERROR with no records: DDR (resolver.arpa), so
	// clients do not upgrade to an encrypted resolver Hearth cannot see.
	NoData
	// NumActions is the number of actions, for tables indexed by Action.
	NumActions
)

var actionNames = [...]string{"allow", "block", "rewrite", "nxdomain", "nodata"}

// String returns the action's name, or "" for an unknown value.
func (a Action) String() string {
	if a < NumActions {
		return actionNames[a]
	}
	return ""
}

// Blocks reports whether the action keeps the name from the device: a
// block, and the NXDOMAIN and NODATA answers that stop bypasses (which
// Explain calls blocks too: "blocked: bypass=...").
func (a Action) Blocks() bool { return a == Block || a == NXDomain || a == NoData }

// Reason says why a Decision was taken.
type Reason uint8

// The reasons a Decision can carry.
const (
	// ReasonNone: nothing matched; the query is allowed.
	ReasonNone Reason = iota
	// ReasonAllowRule: the profile's allow list matched.
	ReasonAllowRule
	// ReasonDenyRule: the profile's deny list matched.
	ReasonDenyRule
	// ReasonTag: a list of a blocked category or service matched.
	ReasonTag
	// ReasonProtected: an allow rule matched, but the name is listed as
	// malware or phishing, which only a "!" allow rule overrides.
	ReasonProtected
	// ReasonSafeSearch: the name is a search engine forced to safe search.
	ReasonSafeSearch
	// ReasonCanary: the Firefox DoH canary domain.
	ReasonCanary
	// ReasonPrivateRelay: an iCloud Private Relay name.
	ReasonPrivateRelay
	// ReasonDDR: a Discovery of Designated Resolvers query.
	ReasonDDR
	// ReasonPaused: a pause window (bedtime) is active.
	ReasonPaused
	// ReasonSchedule: the tag is blocked only by a schedule window
	// (homework time, or outside recreation time).
	ReasonSchedule
	// ReasonGrant: a grant of the device allowed the name.
	ReasonGrant
	// ReasonNoSafeSearch: safe search is on and the name is a search
	// engine that has no DNS-enforced safe mode, so it is blocked.
	ReasonNoSafeSearch
	// ReasonBudget: the tag is blocked only because the device used up
	// today's time budget for it ("time budget used").
	ReasonBudget
)

var reasonNames = [...]string{"none", "allow-rule", "deny-rule", "tag", "protected", "safe-search", "canary", "private-relay", "ddr", "paused", "schedule", "grant", "no-safe-search", "budget"}

// String returns a short, bounded label for logs and metrics.
func (r Reason) String() string { return reasonNames[r] }

// YouTubeMode is a profile's YouTube restriction.
type YouTubeMode uint8

// The YouTube restrictions.
const (
	YouTubeOff YouTubeMode = iota
	YouTubeModerate
	YouTubeStrict
)

// ParseYouTubeMode parses "off", "moderate" or "strict".
func ParseYouTubeMode(s string) (YouTubeMode, error) {
	switch s {
	case "off", "":
		return YouTubeOff, nil
	case "moderate":
		return YouTubeModerate, nil
	case "strict":
		return YouTubeStrict, nil
	}
	return 0, fmt.Errorf("youtube mode %q is not off, moderate or strict", s)
}

// Decision is what to do with one query and why. It names only indexes
// into its Snapshot and an offset into the query name, so making one does
// not allocate; Snapshot.Explain turns it into text.
type Decision struct {
	Action Action
	Reason Reason
	// Profile is the index of the profile applied.
	Profile int
	// Tag is the category or service that decided, when HasTag: of the
	// blocked tags the name matches, the first by the snapshot's
	// precedence (see Config.Precedence).
	Tag    Tag
	HasTag bool
	// Matched holds every tag the name matches (blocked by the profile
	// or not, Tag included), for explanations and the query log.
	Matched TagSet
	// List is the list whose rule matched, when HasList.
	List    domainindex.ListID
	HasList bool
	// RuleStart is where the matched rule starts in the query name (the
	// rule is name[RuleStart:]); -1 when no rule matched.
	RuleStart int
	// Rewrite is the index of the safe-search target, for Rewrite; for
	// ReasonNoSafeSearch, the index of the unsupported engine.
	Rewrite int
	// Window is 1 + the index of the profile's schedule window that
	// decided (ReasonPaused, ReasonSchedule); 0 when none did.
	Window int
	// Grant is 1 + the index of the profile's grant that decided
	// (ReasonGrant, or ReasonPaused by a pause grant); 0 when none did.
	Grant int
	// Budget is 1 + the index of the profile's used-up time budget that
	// blocked (ReasonBudget); 0 when none did.
	Budget int
	// Count holds a bit per time budget of the profile (by index) that
	// this allowed query counts towards: the caller records an active
	// minute for each. 0 for blocks and for names no budget covers.
	Count uint32
}

// TagInfo describes one tag of a snapshot.
type TagInfo struct {
	// ID is the stable category or service id ("gambling", "youtube").
	ID string
	// Service is true for services, false for categories.
	Service bool
}

// ListInfo describes one list of the index, by its domainindex.ListID.
type ListInfo struct {
	// ID names the source ("hagezi-gambling", "service:youtube").
	ID string
	// Tag is the category or service its names belong to.
	Tag Tag
}

// Override is one allow or deny entry of a profile.
type Override struct {
	// Name is lower-case, without trailing dot.
	Name string
	// Subtree makes the entry cover the name's subdomains too.
	Subtree bool
	// Strong lets an allow entry beat malware and phishing blocks.
	Strong bool
}

// ProfileSpec is a profile as the snapshot's builder gives it.
type ProfileSpec struct {
	Name  string
	Block TagSet
	Allow []Override
	Deny  []Override
	// SafeSearch forces safe search on the engines other than YouTube:
	// on all of them, or only on SafeSearchEngines when that is not empty.
	SafeSearch        bool
	SafeSearchEngines []string
	// YouTube restricts YouTube.
	YouTube YouTubeMode
	// BypassProtection blocks the bypass tags and answers the canary,
	// Private Relay and DDR names.
	BypassProtection bool
	// Location is the time zone of the schedule windows; nil means UTC.
	Location *time.Location
	// Windows are the weekly schedule windows.
	Windows []Window
	// Grants are the temporary changes of the one device this profile
	// was made for (see Grant).
	Grants []Grant
	// Label is the name explanations give the profile; "" means Name. A
	// device's own profile (with its grants) is labelled with the
	// profile it was made from.
	Label string
	// NoQueryLog keeps the profile's queries out of the query log (the
	// counters still count them).
	NoQueryLog bool
	// Budgets are the daily time budgets, at most MaxBudgets, one per
	// tag.
	Budgets []Budget
}

// UnsupportedEngine is a search engine safe search cannot force by DNS.
type UnsupportedEngine struct {
	Engine string
	// Names are its exact host names, lower-case without trailing dot.
	Names []string
}

// SafeSearchRule rewrites an engine's host names to its safe host.
type SafeSearchRule struct {
	Engine string
	// YouTube is YouTubeOff for the other engines; for YouTube, the mode
	// the rule serves (moderate or strict).
	YouTube YouTubeMode
	// Names are the engine's host names, lower-case without trailing dot.
	Names []string
	// Target is the safe host's name, answered as a CNAME.
	Target string
	// Addrs, for an engine without a safe host name (Yandex), are the
	// addresses answered directly; with a Target they are unused.
	Addrs []netip.Addr
}

// Config is everything a Snapshot is built from.
type Config struct {
	Tags     []TagInfo
	Lists    []ListInfo
	Index    *domainindex.Index
	Profiles []ProfileSpec
	// DefaultProfile is the profile of unknown devices and of requests
	// naming a profile the snapshot does not have.
	DefaultProfile string
	// SafeSearch are the rewrite rules.
	SafeSearch []SafeSearchRule
	// NoSafeSearch are the engines without a DNS safe mode, blocked while
	// safe search is on for them.
	NoSafeSearch []UnsupportedEngine
	// Canary, PrivateRelay and DDR are exact names for bypass protection.
	Canary, PrivateRelay, DDR []string
	// Protected are the tags (malware, phishing) only a strong allow beats.
	Protected TagSet
	// Bypass are the tags a profile with bypass protection blocks.
	Bypass TagSet
	// IPs are the addresses and ranges lists name: an answer holding one
	// is decided like a name of that list (response-IP rules).
	IPs []IPRule
	// Precedence ranks the tags for the reason shown when a name matches
	// several blocked ones: the first class holding a matching tag wins,
	// and within a class the lowest tag; tags in no class come last. The
	// catalog's order is services, narrow categories, broad categories,
	// then security categories (precedence in blocklists/catalog.yaml).
	Precedence []TagSet
	// NAT64 are the prefixes a DNS64 resolver embeds IPv4 addresses in
	// (RFC 6052; 32, 40, 48, 56, 64 or 96 bits), besides the well-known
	// 64:ff9b::/96 which is always checked: an AAAA answer inside one is
	// also decided by the IPv4 address it carries.
	NAT64 []netip.Prefix
	// Background are the services' background names: queries for them
	// do not count towards time budgets.
	Background []BackgroundRule
}

// WellKnownNAT64 is the DNS64 prefix of RFC 6052 section 2.1.
var WellKnownNAT64 = netip.MustParsePrefix("64:ff9b::/96")

// IPRule is one address, or range of addresses, of a list.
type IPRule struct {
	Addr netip.Addr
	// Prefix is set for a range; Addr is then unused.
	Prefix netip.Prefix
	List   domainindex.ListID
}

// Snapshot is one immutable policy: the index, the tags and lists it
// names, and the profiles. Build a new one for any change and swap it in.
type Snapshot struct {
	tags  []TagInfo
	lists []ListInfo
	index *domainindex.Index
	// profiles are the compiled profiles by index (Decision.Profile),
	// shared with the snapshots WithProfiles and WithLists make.
	profiles  profileTable
	fallback  int
	bypass    TagSet
	setTags   []setTags
	rewrites  []SafeSearchRule
	safe      map[string]safeEntry
	special   map[string]Reason
	protected TagSet
	ips       map[netip.Addr]ipEntry
	// precedence is Config.Precedence.
	precedence []TagSet
	// ranges are the listed address ranges by masked prefix, looked up
	// once per prefix length present (rangeBits, longest first).
	ranges    map[netip.Prefix]ipEntry
	rangeBits []int
	// nat64 are the DNS64 prefixes whose AAAA answers carry an IPv4
	// address that is checked too.
	nat64 []netip.Prefix
	// unsupported are the engines without a DNS safe mode.
	unsupported []UnsupportedEngine
	// background are the background names (Config.Background): name to
	// the tags it does not count towards.
	background map[string]TagSet
}

// ipEntry is the tags of one listed address, with one list per tag
// for explanations.
type ipEntry struct {
	tags  TagSet
	lists []domainindex.ListID
}

// with returns e with list's tag added.
func (e ipEntry) with(t Tag, list domainindex.ListID) ipEntry {
	if !e.tags.Has(t) {
		e.tags = e.tags.With(t)
		e.lists = append(e.lists, list)
	}
	return e
}

// rangeKey tells IPv4 and IPv6 prefix lengths apart: the length, plus 256
// for IPv6.
func rangeKey(p netip.Prefix) int {
	if p.Addr().Is6() {
		return 256 + p.Bits()
	}
	return p.Bits()
}

// profile is a ProfileSpec compiled for lookups.
type profile struct {
	ProfileSpec
	allow map[string]overrideKind
	deny  map[string]overrideKind
	// safeEngines limits safe search to some engines; nil means all.
	safeEngines map[string]bool
	// loc is Location, never nil.
	loc *time.Location
	// allowOnly is the union of the AllowOnly windows' tags: blocked
	// whenever none of those windows is active.
	allowOnly TagSet
	// nextChange caches NextChange (a pointer, so profiles stay copyable
	// while the snapshot is built).
	nextChange *atomic.Pointer[cachedChange]
	// budgetTags is the union of the budgets' tags.
	budgetTags TagSet
}

type overrideKind uint8

const (
	overrideExact   overrideKind = 1 << iota // matches the name itself
	overrideSubtree                          // matches the name and below
	overrideStrong                           // allow beats protected tags
)

// setTags is the tags of one list set of the index.
type setTags struct {
	exact, subtree TagSet
	except         bool
}

// safeEntry holds, for one engine host name, the rewrite for each mode:
// other engines use index [0]; YouTube uses [moderate] and [strict].
// unsupported is 1 + the index of an engine without a DNS safe mode.
type safeEntry struct {
	rule        [3]int16 // index into rewrites + 1; 0 = none
	youtube     bool
	unsupported int16
}

// NewSnapshot checks c and compiles it.
func NewSnapshot(c Config) (*Snapshot, error) {
	if len(c.Tags) > MaxTags {
		return nil, fmt.Errorf("policy: %d tags, at most %d", len(c.Tags), MaxTags)
	}
	if len(c.Profiles) == 0 {
		return nil, errors.New("policy: no profile")
	}
	s := &Snapshot{
		tags:       c.Tags,
		lists:      c.Lists,
		index:      c.Index,
		safe:       map[string]safeEntry{},
		special:    map[string]Reason{},
		protected:  c.Protected,
		rewrites:   c.SafeSearch,
		precedence: c.Precedence,
	}
	for i, l := range c.Lists {
		if int(l.Tag) >= len(c.Tags) {
			return nil, fmt.Errorf("policy: list %d %q: tag %d out of range", i, l.ID, l.Tag)
		}
	}
	s.bypass = c.Bypass
	pe := profileTable{}.edit()
	for _, p := range c.Profiles {
		if _, dup := pe.lookup(p.Name); dup {
			return nil, fmt.Errorf("policy: profile %q defined twice", p.Name)
		}
		cp, err := compileProfile(p, c.Bypass)
		if err != nil {
			return nil, err
		}
		pe.put(cp)
	}
	s.profiles = pe.done()
	def, ok := s.profiles.lookup(c.DefaultProfile)
	if !ok {
		return nil, fmt.Errorf("policy: default profile %q is not defined", c.DefaultProfile)
	}
	s.fallback = def
	for i, r := range c.SafeSearch {
		for _, n := range r.Names {
			e := s.safe[n]
			e.rule[r.YouTube] = int16(i + 1)
			e.youtube = e.youtube || r.YouTube != YouTubeOff
			s.safe[n] = e
		}
	}
	s.unsupported = c.NoSafeSearch
	for i, u := range c.NoSafeSearch {
		for _, n := range u.Names {
			e := s.safe[n]
			e.unsupported = int16(i + 1)
			s.safe[n] = e
		}
	}
	for reason, names := range map[Reason][]string{ReasonCanary: c.Canary, ReasonPrivateRelay: c.PrivateRelay, ReasonDDR: c.DDR} {
		for _, n := range names {
			s.special[strings.TrimSuffix(strings.ToLower(n), ".")] = reason
		}
	}
	if len(c.IPs) > 0 {
		s.ips = make(map[netip.Addr]ipEntry, len(c.IPs))
		bits := map[int]bool{}
		for _, r := range c.IPs {
			if r.Prefix.IsValid() && r.Prefix.Bits() < r.Prefix.Addr().BitLen() {
				if s.ranges == nil {
					s.ranges = map[netip.Prefix]ipEntry{}
				}
				// The family is part of the key: one map serves both.
				k := r.Prefix.Masked()
				s.ranges[k] = s.ranges[k].with(s.listTag(r.List), r.List)
				if !bits[rangeKey(k)] {
					bits[rangeKey(k)] = true
					s.rangeBits = append(s.rangeBits, rangeKey(k))
				}
				continue
			}
			a := r.Addr.Unmap()
			if r.Prefix.IsValid() {
				a = r.Prefix.Addr().Unmap()
			}
			s.ips[a] = s.ips[a].with(s.listTag(r.List), r.List)
		}
		// Longest first, so a block names the most specific range.
		sort.Sort(sort.Reverse(sort.IntSlice(s.rangeBits)))
	}
	if len(c.Background) > 0 {
		s.background = make(map[string]TagSet, len(c.Background))
		for _, r := range c.Background {
			n := strings.TrimSuffix(strings.ToLower(r.Name), ".")
			s.background[n] = s.background[n].Or(r.Tags)
		}
	}
	s.nat64 = []netip.Prefix{WellKnownNAT64}
	for _, p := range c.NAT64 {
		switch p.Bits() {
		case 32, 40, 48, 56, 64, 96:
		default:
			return nil, fmt.Errorf("policy: NAT64 prefix %s: want a /32, /40, /48, /56, /64 or /96 (RFC 6052)", p)
		}
		if !p.Addr().Is6() || p.Addr().Is4In6() {
			return nil, fmt.Errorf("policy: NAT64 prefix %s is not an IPv6 prefix", p)
		}
		if p = p.Masked(); p != WellKnownNAT64 {
			s.nat64 = append(s.nat64, p)
		}
	}
	if c.Index != nil {
		s.setTags = make([]setTags, c.Index.NumSets())
		for id := range s.setTags {
			ls := c.Index.Set(domainindex.SetID(id))
			st := &s.setTags[id]
			for _, l := range ls.Exact {
				st.exact = st.exact.With(s.listTag(l))
			}
			for _, l := range ls.Subtree {
				st.subtree = st.subtree.With(s.listTag(l))
			}
			st.except = len(ls.Except) > 0
		}
	}
	return s, nil
}

func (s *Snapshot) listTag(l domainindex.ListID) Tag {
	if int(l) < len(s.lists) {
		return s.lists[l].Tag
	}
	return 0
}

func overrides(list []Override) map[string]overrideKind {
	m := make(map[string]overrideKind, len(list))
	for _, o := range list {
		k := overrideExact
		if o.Subtree {
			k |= overrideSubtree
		}
		if o.Strong {
			k |= overrideStrong
		}
		m[o.Name] |= k
	}
	return m
}

// Profile returns the index of the named profile.
func (s *Snapshot) Profile(name string) (int, bool) {
	return s.profiles.lookup(name)
}

// ProfileOrDefault returns the index of the named profile, or of the
// default profile when there is none of that name.
func (s *Snapshot) ProfileOrDefault(name string) int {
	if i, ok := s.profiles.lookup(name); ok {
		return i
	}
	return s.fallback
}

// ProfileHinted is ProfileOrDefault(name) for a caller that kept the
// name's index from an earlier lookup: hint is 1 + that index, 0 for
// none (the identity tables keep one per profile name, see
// pipeline.Identity.ProfileHint). When profile hint-1 still has that name
// it is the answer, found without hashing the name or probing the table
// of names (for the name the hint was made with, the name's bytes are not
// read either: they are the same string). A stale hint (the profile
// removed, its index given to another) costs that lookup, never a wrong
// profile.
func (s *Snapshot) ProfileHinted(name string, hint int32) int {
	if i := int(hint) - 1; i >= 0 && i < s.profiles.used {
		if p := s.profiles.at(i); p != nil && p.Name == name {
			return i
		}
	}
	return s.ProfileOrDefault(name)
}

// ProfileName returns the name of profile i.
func (s *Snapshot) ProfileName(i int) string { return s.profiles.at(i).Name }

// ProfileLabel returns the name people see for profile i: for a device's
// own profile (made for its grants), the profile it was made from.
func (s *Snapshot) ProfileLabel(i int) string { return s.profiles.at(i).Label }

// ProfileLogged reports whether profile i's queries go to the query log.
func (s *Snapshot) ProfileLogged(i int) bool { return !s.profiles.at(i).NoQueryLog }

// Tag returns the description of tag t.
func (s *Snapshot) Tag(t Tag) TagInfo { return s.tags[t] }

// NumTags returns how many tags the snapshot's tag table holds.
func (s *Snapshot) NumTags() int { return len(s.tags) }

// List returns the description of list l.
func (s *Snapshot) List(l domainindex.ListID) ListInfo { return s.lists[l] }

// RewriteTarget returns the safe host of a Rewrite decision.
func (s *Snapshot) RewriteTarget(d Decision) SafeSearchRule { return s.rewrites[d.Rewrite] }

// Index returns the snapshot's domain index.
func (s *Snapshot) Index() *domainindex.Index { return s.index }

// Decide returns what profile does with a query for name (lower-case,
// with or without the trailing dot) of type qtype at now. The order is:
// allow rules, deny rules, bypass rules, safe search, then the tags of the
// name and its parents against the profile's blocked tags. now is the
// instant schedules are evaluated at. Decide does not allocate.
func (s *Snapshot) Decide(profileIdx int, now time.Time, name []byte, qtype uint16) Decision {
	return s.DecideSpent(profileIdx, now, name, qtype, TagSet{})
}

// DecideSpent is Decide for a device whose used-up time budgets cover the
// tags spent (see Budgets): they are blocked like a schedule's, with
// ReasonBudget, after allow rules and grants (the parent's word beats a
// budget). An allowed name that a budget of the profile covers carries
// the budgets it counts towards in Decision.Count. It does not allocate.
func (s *Snapshot) DecideSpent(profileIdx int, now time.Time, name []byte, qtype uint16, spent TagSet) Decision {
	if n := len(name); n > 0 && name[n-1] == '.' {
		name = name[:n-1]
	}
	p := s.profiles.at(profileIdx)
	d := Decision{Profile: profileIdx, RuleStart: -1}

	if start, kind, ok := matchOverride(p.allow, name); ok {
		d.RuleStart = start
		if kind&overrideStrong == 0 && !p.Block.And(s.protected).Empty() {
			// An allow rule does not undo a malware or phishing listing
			// unless the parent said so with "!".
			if pd, blocked := s.decideTags(p, name, p.Block.And(s.protected), d); blocked {
				pd.Reason = ReasonProtected
				return pd
			}
		}
		d.Reason = ReasonAllowRule
		return d
	}
	if len(p.Grants) > 0 {
		// Grants are the parent's latest word: they beat schedules and
		// the lists, like allow rules, but not malware or phishing.
		if gd, ok := s.decideGrants(p, now, name, d); ok {
			return gd
		}
	}
	block := p.Block
	var scheduled TagSet
	if len(p.Windows) > 0 {
		st := p.state(now)
		if st.paused {
			// Bedtime: everything but the allow list, checked above.
			d.Action, d.Reason, d.Window = Block, ReasonPaused, st.window+1
			return d
		}
		scheduled = st.block
		block = block.Or(st.block)
	}
	spent = spent.And(p.budgetTags)
	block = block.Or(spent)
	if start, _, ok := matchOverride(p.deny, name); ok {
		d.Action, d.Reason, d.RuleStart = Block, ReasonDenyRule, start
		return d
	}
	if p.BypassProtection && len(s.special) > 0 {
		if reason, ok := s.special[string(name)]; ok {
			d.Reason, d.RuleStart = reason, 0
			d.Action = NXDomain
			if reason == ReasonDDR {
				d.Action = NoData
			}
			return d
		}
	}
	if p.SafeSearch || p.YouTube != YouTubeOff {
		if e, ok := s.safe[string(name)]; ok {
			var rule int16
			if e.youtube {
				rule = e.rule[p.YouTube]
			} else if p.SafeSearch {
				rule = e.rule[0]
				if rule > 0 && p.safeEngines != nil && !p.safeEngines[s.rewrites[rule-1].Engine] {
					rule = 0
				}
			}
			if rule > 0 {
				d.Action, d.Reason, d.RuleStart, d.Rewrite = Rewrite, ReasonSafeSearch, 0, int(rule-1)
				return d
			}
			if u := e.unsupported; u > 0 && p.SafeSearch && (p.safeEngines == nil || p.safeEngines[s.unsupported[u-1].Engine]) {
				// Nothing can force this engine's safe mode: blocking
				// it is the only way to keep the promise.
				d.Action, d.Reason, d.RuleStart, d.Rewrite = Block, ReasonNoSafeSearch, 0, int(u-1)
				return d
			}
		}
	}
	if td, blocked := s.decideTags(p, name, block, d); blocked {
		if td.HasTag && !p.Block.Has(td.Tag) {
			if scheduled.Has(td.Tag) || !spent.Has(td.Tag) {
				td.Reason, td.Window = ReasonSchedule, p.windowFor(td.Tag, now)
			} else {
				td.Reason, td.Budget = ReasonBudget, p.budgetFor(td.Tag, spent)
			}
		}
		return td
	}
	if len(p.Budgets) > 0 {
		d.Count = s.countFor(p, name)
	}
	return d
}

// windowFor returns 1 + the index of the window that blocks tag at now:
// an active BlockExtra window with it, or an AllowOnly window with it
// (inactive, or it would not be blocked); 0 if none.
func (p *profile) windowFor(tag Tag, now time.Time) int {
	local := now.In(p.loc)
	for i := range p.Windows {
		w := &p.Windows[i]
		if w.Tags.Has(tag) && (w.Kind == AllowOnly || w.activeAt(local)) && w.Kind != Pause {
			return i + 1
		}
	}
	return 0
}

// HasIPRules reports whether any list names addresses, so callers can
// skip looking at answer addresses when none does.
func (s *Snapshot) HasIPRules() bool { return len(s.ips) > 0 || len(s.ranges) > 0 }

// DecideIP decides an address found in an answer for profile: Block when
// a list of a blocked tag names it, or a range holding it, else Allow. An
// IPv6 address in a DNS64 prefix is also decided by the IPv4 address it
// embeds, so DNS64 cannot launder a listed IPv4 address. The rule of a
// Block is the whole address (pass its text as the name to Explain).
// DecideIP does not allocate.
func (s *Snapshot) DecideIP(profileIdx int, now time.Time, ip netip.Addr) Decision {
	d := Decision{Profile: profileIdx, RuleStart: -1}
	ip = ip.Unmap()
	if e, ok := s.lookupIP(ip); ok {
		if bd, blocked := s.blockIP(d, e); blocked {
			return bd
		}
	}
	if ip.Is6() {
		for _, p := range s.nat64 {
			if !p.Contains(ip) {
				continue
			}
			if e, ok := s.lookupIP(embeddedIPv4(ip, p.Bits())); ok {
				if bd, blocked := s.blockIP(d, e); blocked {
					return bd
				}
			}
		}
	}
	return d
}

// lookupIP finds the entry of ip: the address itself, else the most
// specific listed range holding it.
func (s *Snapshot) lookupIP(ip netip.Addr) (ipEntry, bool) {
	if e, ok := s.ips[ip]; ok {
		return e, true
	}
	if len(s.ranges) == 0 {
		return ipEntry{}, false
	}
	off := 0
	if ip.Is6() {
		off = 256
	}
	for _, k := range s.rangeBits {
		if k < off || k > off+128 {
			continue
		}
		p, err := ip.Prefix(k - off)
		if err != nil {
			continue
		}
		if e, ok := s.ranges[p]; ok {
			return e, true
		}
	}
	return ipEntry{}, false
}

// blockIP blocks d by e's tags that profile d.Profile blocks.
func (s *Snapshot) blockIP(d Decision, e ipEntry) (Decision, bool) {
	hit := e.tags.And(s.profiles.at(d.Profile).Block)
	if hit.Empty() {
		return d, false
	}
	tag := s.pick(hit)
	d.Action, d.Reason, d.Tag, d.HasTag, d.RuleStart, d.Matched = Block, ReasonTag, tag, true, 0, e.tags
	for _, l := range e.lists {
		if s.listTag(l) == tag {
			d.List, d.HasList = l, true
		}
	}
	return d, true
}

// embeddedIPv4 extracts the IPv4 address an RFC 6052 address of prefix
// length bits carries: its 32 bits follow the prefix, skipping bits 64 to
// 71 (the "u" octet) for prefixes shorter than /96.
func embeddedIPv4(ip netip.Addr, bits int) netip.Addr {
	b := ip.As16()
	var v4 [4]byte
	j := bits / 8
	for i := range v4 {
		if j == 8 {
			j++ // the u octet
		}
		v4[i] = b[j]
		j++
	}
	return netip.AddrFrom4(v4)
}

// decideTags looks name up in the index and blocks it when one of its
// tags is in block.
func (s *Snapshot) decideTags(p *profile, name []byte, block TagSet, d Decision) (Decision, bool) {
	if s.index == nil || block.Empty() {
		return d, false
	}
	r := s.index.LookupLower(name)
	if r.Hits() == 0 {
		return d, false
	}
	tags, except := s.hitTags(&r)
	hit := tags.And(block)
	if hit.Empty() {
		return d, false
	}
	if except {
		// Exceptions remove single lists, so recount tag by list.
		tags = s.tagsAfterExceptions(&r)
		hit = tags.And(block)
		if hit.Empty() {
			return d, false
		}
	}
	tag := s.pick(hit)
	d.Action, d.Reason, d.Tag, d.HasTag, d.Matched = Block, ReasonTag, tag, true, tags
	// Name the most specific rule of a list of that tag.
	for i := range r.Hits() {
		h := r.Hit(i)
		ls := s.index.Set(h.Set)
		for _, group := range [2][]domainindex.ListID{ls.Exact, ls.Subtree} {
			for _, l := range group {
				if s.listTag(l) != tag {
					continue
				}
				if m, ok := r.Match(l); ok {
					d.List, d.HasList, d.RuleStart = l, true, m.Offset
					return d, true
				}
			}
		}
	}
	return d, true
}

// pick returns the tag of hit (not empty) to show: the first by the
// snapshot's precedence classes.
func (s *Snapshot) pick(hit TagSet) Tag {
	for _, class := range s.precedence {
		if x := hit.And(class); !x.Empty() {
			return x.First()
		}
	}
	return hit.First()
}

// hitTags returns the tags of r's list sets, and whether any of them has
// exceptions (then tagsAfterExceptions gives the exact tags).
func (s *Snapshot) hitTags(r *domainindex.Result) (tags TagSet, except bool) {
	for i := range r.Hits() {
		h := r.Hit(i)
		st := &s.setTags[h.Set]
		tags = tags.Or(st.subtree)
		if h.Full {
			tags = tags.Or(st.exact)
		}
		except = except || st.except
	}
	return tags, except
}

func (s *Snapshot) tagsAfterExceptions(r *domainindex.Result) TagSet {
	var tags TagSet
	for i := range r.Hits() {
		h := r.Hit(i)
		ls := s.index.Set(h.Set)
		for _, group := range [2][]domainindex.ListID{ls.Exact, ls.Subtree} {
			for _, l := range group {
				if _, ok := r.Match(l); ok {
					tags = tags.With(s.listTag(l))
				}
			}
		}
	}
	return tags
}

// matchOverride finds the most specific entry of m matching name: the name
// itself, or a parent with a subtree entry.
func matchOverride(m map[string]overrideKind, name []byte) (start int, kind overrideKind, ok bool) {
	if len(m) == 0 {
		return 0, 0, false
	}
	for off := 0; off < len(name); {
		if k, found := m[string(name[off:])]; found && (off == 0 || k&overrideSubtree != 0) {
			return off, k, true
		}
		dot := indexByte(name[off:], '.')
		if dot < 0 {
			break
		}
		off += dot + 1
	}
	return 0, 0, false
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// appendAlso appends " also=a,b" naming the tags d.Matched holds besides
// d.Tag (a dating site also listed as adult, a casino also listed as
// malware), in tag order.
func (s *Snapshot) appendAlso(dst []byte, d Decision) []byte {
	also := d.Matched.Without(d.Tag)
	sep := " also="
	for !also.Empty() {
		t := also.First()
		also = also.Without(t)
		if int(t) >= len(s.tags) {
			continue
		}
		dst = append(dst, sep...)
		dst = append(dst, s.tags[t].ID...)
		sep = ","
	}
	return dst
}

// Explain returns the decision as one line of text for people, the EDE
// extra text and the query log: "blocked: category=gambling
// source=hagezi-gambling rule=bet365.com profile=kid".
func (s *Snapshot) Explain(d Decision, name string) string {
	return string(s.AppendExplain(nil, d, name))
}

// AppendExplain appends Explain's text to dst; with room in dst it does
// not allocate, so blocked answers can carry it cheaply.
func (s *Snapshot) AppendExplain(dst []byte, d Decision, name string) []byte {
	if n := len(name); n > 0 && name[n-1] == '.' {
		name = name[:n-1]
	}
	rule := ""
	if d.RuleStart >= 0 && d.RuleStart <= len(name) {
		rule = name[d.RuleStart:]
	}
	switch d.Action {
	case Allow:
		dst = append(dst, "allowed:"...)
	case Block, NXDomain, NoData:
		dst = append(dst, "blocked:"...)
	case Rewrite:
		dst = append(dst, "rewritten:"...)
	}
	switch d.Reason {
	case ReasonTag, ReasonProtected, ReasonSchedule:
		if s.tags[d.Tag].Service {
			dst = append(dst, " service="...)
		} else {
			dst = append(dst, " category="...)
		}
		dst = append(dst, s.tags[d.Tag].ID...)
		dst = s.appendAlso(dst, d)
		if d.HasList {
			dst = append(dst, " source="...)
			dst = append(dst, s.lists[d.List].ID...)
		}
		if d.Reason == ReasonProtected {
			dst = append(dst, " (an allow rule does not override it; use !"...)
			dst = append(dst, rule...)
			dst = append(dst, ')')
		}
	case ReasonAllowRule:
		dst = append(dst, " allow-rule"...)
	case ReasonDenyRule:
		dst = append(dst, " deny-rule"...)
	case ReasonSafeSearch:
		r := s.rewrites[d.Rewrite]
		dst = append(dst, " safe-search="...)
		dst = append(dst, r.Engine...)
		if r.Target != "" {
			dst = append(dst, " target="...)
			dst = append(dst, r.Target...)
		}
	case ReasonNoSafeSearch:
		dst = append(dst, " no-safe-search="...)
		dst = append(dst, s.unsupported[d.Rewrite].Engine...)
		dst = append(dst, " (this engine cannot be forced into safe search, so it is blocked while safe search is on)"...)
	case ReasonCanary:
		dst = append(dst, " bypass=firefox-canary"...)
	case ReasonPrivateRelay:
		dst = append(dst, " bypass=icloud-private-relay"...)
	case ReasonDDR:
		dst = append(dst, " bypass=ddr"...)
	case ReasonPaused:
		dst = append(dst, " paused"...)
	case ReasonBudget:
		dst = append(dst, " time budget used"...)
		if d.Budget > 0 {
			dst = append(dst, " budget="...)
			dst = append(dst, s.profiles.at(d.Profile).Budgets[d.Budget-1].ID...)
		}
		if s.tags[d.Tag].Service {
			dst = append(dst, " service="...)
		} else {
			dst = append(dst, " category="...)
		}
		dst = append(dst, s.tags[d.Tag].ID...)
		if d.HasList {
			dst = append(dst, " source="...)
			dst = append(dst, s.lists[d.List].ID...)
		}
	case ReasonGrant:
		// " grant=<label>" below says it all.
	case ReasonNone:
		dst = append(dst, " no-rule"...)
	}
	if d.Window > 0 {
		dst = append(dst, " schedule="...)
		dst = append(dst, s.profiles.at(d.Profile).Windows[d.Window-1].Name...)
	}
	if d.Grant > 0 {
		dst = append(dst, " grant="...)
		dst = append(dst, s.profiles.at(d.Profile).Grants[d.Grant-1].Label...)
	}
	if rule != "" && d.Reason != ReasonPaused {
		dst = append(dst, " rule="...)
		dst = append(dst, rule...)
	}
	dst = append(dst, " profile="...)
	return append(dst, s.profiles.at(d.Profile).Label...)
}
