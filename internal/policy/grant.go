package policy

import (
	"fmt"
	"time"
)

// GrantKind is what a grant does while it lasts.
type GrantKind uint8

// The kinds of grants.
const (
	// GrantPause blocks everything but the allow list and allow grants
	// ("pause the internet for 1 h").
	GrantPause GrantKind = iota
	// GrantAllowTags unblocks Tags, schedules and pauses included
	// ("allow youtube for 30 min").
	GrantAllowTags
	// GrantAllowName allows Name and its subdomains like an allow rule
	// ("allow this site for 30 min").
	GrantAllowName
	// GrantExtraTime adds Minutes to today's time budget Budget ("15 more
	// minutes of games"); it lasts until the budget resets.
	GrantExtraTime
)

// Grant is a temporary, device-scoped change: the builder gives a device
// with grants a profile of its own (its profile's spec plus the grants).
// A grant applies while now is before Until and ends by itself.
type Grant struct {
	Kind GrantKind
	// Tags are the tags GrantAllowTags unblocks.
	Tags TagSet
	// Name is the domain GrantAllowName allows, lower-case, no final dot.
	Name  string
	Until time.Time
	// Label names the grant in explanations ("allow-youtube").
	Label string
	// Budget is the id of the time budget GrantExtraTime extends, and
	// Minutes the minutes it adds.
	Budget  string
	Minutes int
}

func (g *Grant) validate() error {
	if g.Until.IsZero() {
		return fmt.Errorf("grant %q: no end", g.Label)
	}
	if g.Kind == GrantAllowName && g.Name == "" {
		return fmt.Errorf("grant %q: no name to allow", g.Label)
	}
	if g.Kind == GrantExtraTime && (g.Budget == "" || g.Minutes < 1 || g.Minutes > 24*60) {
		return fmt.Errorf("grant %q: extra time needs a budget and 1 to 1440 minutes", g.Label)
	}
	return nil
}

// grantState is what a profile's grants mean at one instant.
type grantState struct {
	allowTags TagSet
	pause     int // 1 + index of an active pause grant; 0 if none
	any       bool
}

// grants evaluates p's grants at now.
func (p *profile) grants(now time.Time) grantState {
	var st grantState
	for i := range p.Grants {
		g := &p.Grants[i]
		if !now.Before(g.Until) || g.Kind == GrantExtraTime {
			continue
		}
		st.any = true
		switch g.Kind {
		case GrantPause:
			if st.pause == 0 {
				st.pause = i + 1
			}
		case GrantAllowTags:
			st.allowTags = st.allowTags.Or(g.Tags)
		}
	}
	return st
}

// grantFor returns 1 + the index of an active GrantAllowName grant that
// covers name, or 0.
func (p *profile) grantFor(name []byte, now time.Time) int {
	for i := range p.Grants {
		g := &p.Grants[i]
		if g.Kind != GrantAllowName || !now.Before(g.Until) {
			continue
		}
		n := len(g.Name)
		if len(name) == n && string(name) == g.Name ||
			len(name) > n && name[len(name)-n-1] == '.' && string(name[len(name)-n:]) == g.Name {
			return i + 1
		}
	}
	return 0
}

// allowTagGrant returns 1 + the index of an active GrantAllowTags grant
// holding one of tags, or 0.
func (p *profile) allowTagGrant(tags TagSet, now time.Time) int {
	for i := range p.Grants {
		g := &p.Grants[i]
		if g.Kind == GrantAllowTags && now.Before(g.Until) && !g.Tags.And(tags).Empty() {
			return i + 1
		}
	}
	return 0
}

// nextGrantEnd returns the earliest Until after now, or the zero time.
func (p *profile) nextGrantEnd(now time.Time) time.Time {
	var next time.Time
	for i := range p.Grants {
		u := p.Grants[i].Until
		if u.After(now) && (next.IsZero() || u.Before(next)) {
			next = u
		}
	}
	return next
}

// decideGrants applies p's grants before its schedules and lists: an
// allow grant of the name or of one of its tags allows it (unless it is
// listed as malware or phishing), and an active pause grant blocks the
// rest. ok is false when no grant decided.
func (s *Snapshot) decideGrants(p *profile, now time.Time, name []byte, d Decision) (Decision, bool) {
	gs := p.grants(now)
	if !gs.any {
		return d, false
	}
	g := p.grantFor(name, now)
	if g == 0 && !gs.allowTags.Empty() {
		g = p.allowTagGrant(s.nameTags(name), now)
	}
	if g > 0 {
		if protected := p.Block.And(s.protected); !protected.Empty() {
			if pd, blocked := s.decideTags(p, name, protected, d); blocked {
				pd.Reason = ReasonProtected
				return pd, true
			}
		}
		d.Reason, d.Grant = ReasonGrant, g
		return d, true
	}
	if gs.pause > 0 {
		d.Action, d.Reason, d.Grant = Block, ReasonPaused, gs.pause
		return d, true
	}
	return d, false
}

// NameTags returns the tags (categories and services) whose lists list
// name or a parent, exceptions applied; name is lower-case, with or
// without the final dot. It does not allocate: the Observe step uses it
// to count what an allowed query was for.
func (s *Snapshot) NameTags(name []byte) TagSet { return s.nameTags(name) }

// nameTags returns the tags of the lists that list name or a parent
// (exceptions applied).
func (s *Snapshot) nameTags(name []byte) TagSet {
	if s.index == nil {
		return TagSet{}
	}
	r := s.index.LookupLower(name)
	if r.Hits() == 0 {
		return TagSet{}
	}
	tags, except := s.hitTags(&r)
	if except {
		return s.tagsAfterExceptions(&r)
	}
	return tags
}
