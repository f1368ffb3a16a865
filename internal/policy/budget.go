package policy

import (
	"fmt"
	"time"
)

// MaxBudgets is how many time budgets one profile may have: a Decision
// names the budgets a query counts towards in a bitmask of this size.
const MaxBudgets = 16

// NoBudget in Budget.Minutes marks a day without a budget: the tag is
// neither counted nor limited that day.
const NoBudget = -1

// BudgetTTL is the longest TTL, in seconds, of an answer that counts
// towards a time budget: devices ask again at least every minute while
// they use the service, which is what active minutes are counted from,
// and a used-up budget blocks within a minute (docs/budgets.md).
const BudgetTTL = 60

// Budget is a daily time allowance of a profile for a category or a
// service: the minutes of a day in which the device may query its
// foreground names. It resets at midnight in the profile's time zone.
type Budget struct {
	// ID is the category or service id the budget is for ("games"); it
	// keys the usage records.
	ID string
	// Tags are the tag and, for a category, its services.
	Tags TagSet
	// Minutes is the allowance per weekday (index time.Weekday), 0 to
	// 1440, or NoBudget.
	Minutes [7]int
}

func (b *Budget) validate() error {
	if b.ID == "" || b.Tags.Empty() {
		return fmt.Errorf("budget %q: no tag", b.ID)
	}
	for d, m := range b.Minutes {
		if m != NoBudget && (m < 0 || m > 24*60) {
			return fmt.Errorf("budget %q: %d minutes on %s: want 0 to 1440", b.ID, m, time.Weekday(d))
		}
	}
	return nil
}

// BackgroundRule is a name (with its subdomains) that a service's apps
// query by themselves (telemetry, push, keep-alives): it is decided like
// any name of the service, but a query for it is not an active minute.
type BackgroundRule struct {
	// Name is lower-case, without trailing dot.
	Name string
	// Tags are the service's tag and its category's: the budgets it does
	// not count towards.
	Tags TagSet
}

// BudgetState is one budget of a profile on the day of an instant.
type BudgetState struct {
	Budget
	// Index is the budget's position in the profile (Decision.Count's bit).
	Index int
	// Limit is the day's allowance in minutes, extra-time grants included;
	// Extra is the part the grants add.
	Limit, Extra int
	// DayStart and DayEnd are the day's local midnights: usage counts
	// from DayStart and the budget resets at DayEnd.
	DayStart, DayEnd time.Time
}

// Budgets returns the budgets of profile that apply on the day of now (in
// the profile's time zone), with their limits. It is for the usage
// tracker and the dashboard, not the query path.
func (s *Snapshot) Budgets(profileIdx int, now time.Time) []BudgetState {
	p := s.profiles.at(profileIdx)
	if len(p.Budgets) == 0 {
		return nil
	}
	start, end := Day(now, p.loc)
	wd := start.Weekday()
	var out []BudgetState
	for i := range p.Budgets {
		b := &p.Budgets[i]
		if b.Minutes[wd] == NoBudget {
			continue
		}
		st := BudgetState{Budget: *b, Index: i, Limit: b.Minutes[wd], DayStart: start, DayEnd: end}
		for j := range p.Grants {
			g := &p.Grants[j]
			if g.Kind == GrantExtraTime && g.Budget == b.ID && now.Before(g.Until) {
				st.Extra += g.Minutes
			}
		}
		st.Limit += st.Extra
		out = append(out, st)
	}
	return out
}

// Day returns the local midnights that begin and end the day of now in
// loc. A day is 23 or 25 hours long across a daylight-saving change.
func Day(now time.Time, loc *time.Location) (start, end time.Time) {
	local := now.In(loc)
	y, m, d := local.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc), time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// HasBudgets reports whether profile has time budgets, so that callers
// skip the usage tracker for the others.
func (s *Snapshot) HasBudgets(profileIdx int) bool { return len(s.profiles.at(profileIdx).Budgets) > 0 }

// budgetFor returns 1 + the index of the first budget of p holding tag.
func (p *profile) budgetFor(tag Tag, spent TagSet) int {
	for i := range p.Budgets {
		if p.Budgets[i].Tags.Has(tag) && !p.Budgets[i].Tags.And(spent).Empty() {
			return i + 1
		}
	}
	return 0
}

// countFor returns the bitmask of p's budgets that an allowed query for
// name counts towards: those holding one of the name's tags, leaving out
// the tags whose background names it is under. No allocation.
func (s *Snapshot) countFor(p *profile, name []byte) uint32 {
	tags := s.nameTags(name)
	if tags.And(p.budgetTags).Empty() {
		return 0
	}
	if len(s.background) > 0 {
		for off := 0; off < len(name); {
			if bg, ok := s.background[string(name[off:])]; ok {
				tags = tags.AndNot(bg)
			}
			dot := indexByte(name[off:], '.')
			if dot < 0 {
				break
			}
			off += dot + 1
		}
	}
	var mask uint32
	for i := range p.Budgets {
		if !p.Budgets[i].Tags.And(tags).Empty() {
			mask |= 1 << i
		}
	}
	return mask
}

// BudgetID returns the id of budget i of profile (Decision.Count's bit i).
func (s *Snapshot) BudgetID(profileIdx, i int) string { return s.profiles.at(profileIdx).Budgets[i].ID }

// Location returns the time zone of profile: its schedules' and budgets'.
func (s *Snapshot) Location(profileIdx int) *time.Location { return s.profiles.at(profileIdx).loc }
